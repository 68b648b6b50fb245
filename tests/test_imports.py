"""What a command imports: the paths that call no AWS import no AWS SDK, and nothing imports
what only some runs need (metrics, rich) before it is needed. Each case is a fresh
interpreter, as a run is."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("boto3", "botocore", "tenacity", "prometheus_client", "rich", "moto")

_PROBE = f"""
import json, sys
from reconciler.cli import entrypoint
what, sys.argv = sys.argv[1], ["voiceid-reconciler", *sys.argv[2:]]
code = entrypoint() if what == "cli" else __import__(sys.argv[1]) and 0
print(json.dumps([code, sorted(m for m in {HEAVY} if sys.modules.get(m) is not None)]))
"""


def _imported(*args: str, tmp_path: Path) -> tuple[int, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "NO_COLOR": "1"},
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    code, modules = json.loads(result.stdout.strip().splitlines()[-1])
    return code, modules


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
    code, modules = _imported("cli", *(a.format(tmp=tmp_path) for a in args), tmp_path=tmp_path)
    assert code == 0
    assert modules == []


def test_the_run_summary_does_not_import_prometheus(tmp_path: Path) -> None:
    """Every apply builds its summary; only a run asked for metrics writes them."""
    _, modules = _imported("module", "reconciler.runner.summary", tmp_path=tmp_path)
    assert "prometheus_client" not in modules
