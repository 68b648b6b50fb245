"""Bad option values are refused with one line, exit 1, before any spec is read or call made."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, flags, main
from reconciler.cli.args import UsageError
from reconciler.runner.context import OptionError, RunOptions


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_active": 0}, "--max-active must be at least 1"),
        ({"max_starts": -1}, "--max-starts must be 0 or more"),
        ({"start_limit": -1}, "--start-limit must be 0 or more"),
        ({"list_lag_horizon": float("nan")}, "--list-lag-horizon must be a number of seconds"),
        ({"list_lag_horizon": -5.0}, "--list-lag-horizon must be a number of seconds"),
        ({"wait": True, "poll_interval": float("nan")}, "--poll-interval must be"),
        ({"wait": True, "poll_interval": -1.0}, "--poll-interval must be"),
        ({"wait": True, "timeout": -5.0}, "--timeout must be"),
        ({"wait": True, "timeout": float("inf")}, "--timeout must be"),
        ({"timeout": 60.0}, "--timeout applies only with --wait"),
    ],
)
def test_run_options_refuse_values_that_make_no_sense(
    options: dict[str, object], message: str
) -> None:
    """Each nonsensical value is refused: the run's options name the field (they know no
    flag), and the command line says it with the flag's name."""
    with pytest.raises(OptionError) as refused:
        RunOptions(**options)  # type: ignore[arg-type]
    flag = message.split(maxsplit=1)[0]
    assert refused.value.field == flag.removeprefix("--").replace("-", "_")
    assert "--" not in str(refused.value)
    with pytest.raises(UsageError, match=message):
        flags.run_options(**options)


def test_sensible_values_are_accepted() -> None:
    """Zeros are meaningful (trust List at once, poll at once, start nothing)."""
    options = RunOptions(list_lag_horizon=0, poll_interval=0, max_starts=0, wait=True, timeout=0)
    assert options.timeout == 0


@pytest.mark.parametrize(
    "argv",
    [
        ["--wait", "--poll-interval", "-1"],
        ["--wait", "--poll-interval", "nan"],
        ["--wait", "--timeout", "-5"],
        ["--timeout", "60"],
        ["--list-lag-horizon", "nan"],
        ["--start-limit", "-1"],
    ],
)
def test_apply_refuses_bad_values_before_reading_specs(
    argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The specs path does not even exist: the option is refused first, in one line."""
    code = main(["apply", str(tmp_path / "missing"), "--state", str(tmp_path / "s.json"), *argv])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err.startswith("voiceid-reconciler: ")
    assert next(a for a in argv if a.startswith("--") and a != "--wait") in err
    assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "s.json").exists()


def test_a_bad_list_lag_horizon_in_the_environment_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """VOICEID_RECONCILER_LIST_LAG_HORIZON=5min names the variable, not a traceback."""
    monkeypatch.setenv("VOICEID_RECONCILER_LIST_LAG_HORIZON", "5min")
    code = main(["plan", "--offline", str(tmp_path), "--state", str(tmp_path / "s.json")])
    err = capsys.readouterr().err
    assert code == EXIT_ERROR
    assert err == (
        "voiceid-reconciler: $VOICEID_RECONCILER_LIST_LAG_HORIZON='5min': expected a number of "
        "seconds of 0 or more (e.g. 30, 1.5, 90s, 5m, 1h), not '5min'\n"
    )
    assert main(["validate", str(tmp_path)]) == EXIT_OK  # validate never reads it
    assert "OK: 0 specs in 0 files are valid" in capsys.readouterr().out
