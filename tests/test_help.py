"""Snapshots of every command's --help: option groups, defaults and exit codes as users see
them (``UPDATE_SNAPSHOTS=1`` to accept a deliberate change)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reconciler.cli import main

SNAPSHOTS = Path(__file__).parent / "snapshots" / "help"
COMMANDS = [
    [],
    ["validate"],
    ["schema"],
    ["plan"],
    ["apply"],
    ["status"],
    ["state"],
    ["state", "show"],
    ["state", "rebuild"],
    ["state", "rm"],
    ["state", "mv"],
    ["state", "unlock"],
    ["demo"],
    ["sandbox"],
    ["sandbox", "serve"],
]


def _help(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    with pytest.raises(SystemExit) as exited:
        main([*command, "--help"])
    assert exited.value.code == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: "-".join(c) or "top")
def test_help_snapshot(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The help text is the reviewed one."""
    monkeypatch.setenv("COLUMNS", "100")
    monkeypatch.delenv("VOICEID_RECONCILER_STATE", raising=False)
    text = _help(command, capsys)
    path = SNAPSHOTS / f"{'-'.join(command) or 'top'}.txt"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{path.name} changed; UPDATE_SNAPSHOTS=1"


@pytest.mark.parametrize(
    "command", [c for c in COMMANDS if c[:1] not in ([], ["state"], ["sandbox"])]
)
def test_every_command_help_lists_the_exit_codes_and_the_defaults(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Exit codes close every command's help; no option says a bare None default."""
    monkeypatch.setenv("COLUMNS", "100")
    text = _help(command, capsys)
    assert "exit codes:" in text
    assert "130  interrupted" in text
    assert "default: None" not in text
