"""Snapshots of every command's --help: option groups, defaults and exit codes as users see
them (``UPDATE_SNAPSHOTS=1`` to accept a deliberate change)."""

from __future__ import annotations

import os
import subprocess
import sys
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
    ["import"],
    ["demo"],
    ["sandbox"],
    ["sandbox", "serve"],
    ["sandbox", "seed"],
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


_WITHOUT_MOTO = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name == "moto" or name.startswith("moto."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Block())
from reconciler.cli import main
sys.exit(main(sys.argv[1:]))
"""


@pytest.mark.parametrize("command", [["demo"], ["sandbox", "serve"]])
def test_the_sandbox_commands_without_the_sandbox_extra_say_what_to_install(
    command: list[str],
) -> None:
    """In the production image (no moto), demo and sandbox serve are one line naming the extra,
    not a ModuleNotFoundError traceback."""
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_MOTO, *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.splitlines() == [
        f"voiceid-reconciler: {' '.join(command)} needs the local sandbox, which is not "
        "installed here (no module 'moto'): pip install 'voiceid-reconciler[sandbox]'"
    ]
