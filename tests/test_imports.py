"""What a command imports: the paths that call no AWS import no AWS SDK, and nothing imports
what only some runs need (metrics, rich) before it is needed. Each case is a fresh
interpreter, as a run is."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("boto3", "botocore", "tenacity", "prometheus_client", "rich", "colorama", "moto")


def _imported(*args: str, tmp_path: Path) -> tuple[int, list[str]]:
    """The exit status of ``python -m reconciler ARGS`` and which of :data:`HEAVY` it imported
    (from ``-X importtime``: the command as it runs, to its end)."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"},
        check=False,
        timeout=120,
    )
    imported = {
        line.rpartition("|")[2].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "reconciler" in imported, result.stderr
    # A package counts when its modules are loaded: ``import rich`` answered by the None
    # placeholder in sys.modules is listed too, and loads nothing.
    loaded = {name.partition(".")[0] for name in imported if "." in name}
    return result.returncode, sorted(set(HEAVY) & loaded)


@pytest.mark.parametrize(
    "args",
    [
        ["validate", "specs"],
        ["plan", "specs", "--offline", "--state", "{tmp}/state.json"],
        ["--version"],
    ],
    ids=["validate", "plan-offline", "version"],
)
def test_a_command_without_aws_calls_imports_no_aws_sdk(args: list[str], tmp_path: Path) -> None:
    command = ("-m", "reconciler", *(a.format(tmp=tmp_path) for a in args))
    code, modules = _imported(*command, tmp_path=tmp_path)
    assert code == 0
    assert modules == []


def test_the_run_summary_does_not_import_prometheus(tmp_path: Path) -> None:
    """Every apply builds its summary; only a run asked for metrics writes them."""
    _, modules = _imported("-c", "import reconciler.runner.summary", tmp_path=tmp_path)
    assert "prometheus_client" not in modules
