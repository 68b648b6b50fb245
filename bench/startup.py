"""Start-up: ``voiceid-reconciler --version`` and ``validate`` against ``python -c pass`` (all
whole processes).

``--version`` is the figure a health check, a shell prompt and every script that asks for the
version pays; ``validate`` of the example specs (specs/), what an editor's save hook and every pull
request's first step pay (the lazy command registry, cli/registry.py, keeps the other commands,
the runner and botocore out of it). Medians of ``repeat`` runs, side by side in one process, so
the machine's load hits all alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

TARGET_SECONDS = 0.15
"""``--version`` in at most this (issue 19)."""
VALIDATE_TARGET_SECONDS = 0.6
"""``validate`` of specs/ in at most this (issue 32: 0.34 s measured before the session
and the registry, on a quiet two-core machine)."""
EXAMPLES = Path(__file__).resolve().parent.parent / "specs"


@dataclass(frozen=True)
class Startup:
    version_s: float
    python_s: float
    validate_s: float

    @property
    def ratio(self) -> float:
        return self.version_s / self.python_s if self.python_s else float("inf")

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("startup --version wall s (median)", f"{self.version_s:.3f}"),
            ("startup python -c pass wall s (median)", f"{self.python_s:.3f}"),
            ("startup --version / python -c pass", f"{self.ratio:.1f}x"),
            ("startup validate (specs/) wall s (median)", f"{self.validate_s:.3f}"),
            (
                "startup validate / python -c pass",
                f"{self.validate_s / self.python_s if self.python_s else float('inf'):.1f}x",
            ),
        ]


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(repeat: int = 7) -> Startup:
    version, bare, validate = [], [], []
    for _ in range(repeat):
        version.append(_wall([sys.executable, "-m", "reconciler", "--version"]))
        bare.append(_wall([sys.executable, "-c", "pass"]))
        validate.append(_wall([sys.executable, "-m", "reconciler", "validate", str(EXAMPLES)]))
    return Startup(statistics.median(version), statistics.median(bare), statistics.median(validate))
