"""AWS configuration problems are one-line errors, and AWS_REGION alone selects the region."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.cli import EXIT_ERROR, main

SPECS = Path(__file__).parent.parent / "specs"


def test_missing_region_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without any region the run stops with one line naming the problem."""
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    assert main(["plan", str(SPECS), "--state", str(tmp_path / "s.json")]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.strip() == "voiceid-reconciler: AWS configuration: You must specify a region."


def test_unknown_profile_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unknown --profile is reported in one line, not a traceback."""
    assert (
        main(["plan", str(SPECS), "--state", str(tmp_path / "s.json"), "--profile", "nope"])
        == EXIT_ERROR
    )
    assert "could not be found" in capsys.readouterr().err


def test_missing_credentials_is_a_one_line_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No credentials anywhere: a one-line error, and AWS_REGION alone was enough for the region."""
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    assert (
        main(["plan", str(SPECS), "--state", str(tmp_path / "s.json"), "--log-format", "json"])
        == EXIT_ERROR
    )
    lines = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
    assert lines == ["voiceid-reconciler: ListDomains: Unable to locate credentials"]
