"""Every numeric flag and environment value, fed 0, -1, nan, inf, a unit suffix and nothing:
accepted by its documented rule, or one line and exit 1 with no Voice ID or S3 call made."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

VALUES = ("0", "-1", "nan", "inf", "5m", "")
ACCEPTS = {
    "duration": {"0", "5m"},  # seconds, 0 or more, finite; a unit (ms, s, m, h) may follow
    "positive-duration": {"5m"},  # seconds above 0
    "rate": {"0"},  # calls per second, 0 or more (0: no limit); no unit
    "count>=0": {"0"},
    "count>=1": set(),
    "shard-count": {""},  # empty: not sharded; else a whole number above the index (0)
    "state": {"0", "-1", "nan", "inf", "5m"},  # any file name (or s3://bucket/key); not empty
}
APPLY_FLAGS = [  # (flag, rule, flags it needs)
    ("--lock-timeout", "duration", ()),
    ("--lock-ttl", "positive-duration", ()),
    ("--list-lag-horizon", "duration", ()),
    ("--tps", "rate", ()),
    ("--timeout", "duration", ("--wait",)),
    ("--poll-interval", "duration", ("--wait",)),
    ("--max-active", "count>=1", ()),
    ("--max-starts", "count>=0", ()),
    ("--start-limit", "count>=0", ()),
]
ENVIRONMENT = [  # (variable, rule)
    ("VOICEID_RECONCILER_LIST_LAG_HORIZON", "duration"),
    ("VOICEID_RECONCILER_SHARD_COUNT", "shard-count"),
    ("VOICEID_RECONCILER_STATE", "state"),
]
REFUSED_ONLY = [  # commands that would serve or run for long when a value is accepted
    (["demo", "--job-duration"], "positive-duration"),
    (["sandbox", "serve", "--job-duration"], "positive-duration"),
    (["sandbox", "serve", "--port"], "count>=0"),
    (["plan", "--offline", "--max-active"], "count>=1"),
]


@pytest.fixture
def workspace(voiceid_env: Sandbox, tmp_path: Path) -> tuple[Sandbox, list[str]]:
    """One spec in the sandbox's world, a fresh local state, and the counters at zero."""
    world = build_world(voiceid_env)
    write_specs(world, tmp_path / "specs", 1)
    voiceid_env.reset_calls()
    return voiceid_env, [str(tmp_path / "specs"), "--state", str(tmp_path / "state.json")]


def _check(sandbox: Sandbox, code: int, accepted: bool, err: str, what: str, value: str) -> None:
    if accepted:
        assert code == EXIT_OK, f"{what} {value!r} should be accepted: {err}"
        return
    lines = [line for line in err.splitlines() if not line.startswith("{")]
    assert code == EXIT_ERROR, f"{what} {value!r} should be refused"
    assert len(lines) == 1, lines
    assert lines[0].startswith("voiceid-reconciler: "), lines
    assert what in lines[0], lines
    assert sandbox.calls() == {}, f"{what} {value!r}: Voice ID was called"
    assert sandbox.s3_requests() == [], f"{what} {value!r}: S3 was called"


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize(("flag", "rule", "needs"), APPLY_FLAGS)
def test_apply_flags(
    workspace: tuple[Sandbox, list[str]],
    capsys: pytest.CaptureFixture[str],
    flag: str,
    rule: str,
    needs: tuple[str, ...],
    value: str,
) -> None:
    """apply --dry-run with the flag at ``value``: accepted by its rule, or refused first."""
    sandbox, base = workspace
    code = main(["apply", *base, "--dry-run", "--log-format", "json", *needs, flag, value])
    _check(sandbox, code, value in ACCEPTS[rule], capsys.readouterr().err, flag, value)


@pytest.mark.parametrize("value", VALUES)
@pytest.mark.parametrize(("variable", "rule"), ENVIRONMENT)
def test_environment_values(
    workspace: tuple[Sandbox, list[str]],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    rule: str,
    value: str,
) -> None:
    """The same, for the environment variables a CronJob sets."""
    sandbox, base = workspace
    specs = base[0]
    monkeypatch.setenv(variable, value)
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "0")
    argv = ["apply", specs, "--dry-run", "--log-format", "json"]
    if variable != "VOICEID_RECONCILER_STATE":
        argv += base[1:]
    monkeypatch.chdir(Path(specs).parent)  # a default state file lands in the test's directory
    code = main(argv)
    _check(sandbox, code, value in ACCEPTS[rule], capsys.readouterr().err, variable, value)


@pytest.mark.parametrize(
    ("argv", "value"),
    [(argv, v) for argv, rule in REFUSED_ONLY for v in VALUES if v not in ACCEPTS[rule]],
)
def test_flags_of_commands_that_serve(
    workspace: tuple[Sandbox, list[str]],
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    value: str,
) -> None:
    """demo, sandbox serve and plan --offline refuse a bad value before doing anything (the
    values they accept would serve or run: their acceptance is tested elsewhere)."""
    sandbox, base = workspace
    extra = base if argv[0] == "plan" else []
    code = main([*argv, value, *extra])
    _check(sandbox, code, False, capsys.readouterr().err, argv[-1], value)
