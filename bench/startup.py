"""Start-up: ``voiceid-reconciler --version`` against ``python -c pass`` (both whole processes).

The figure a health check, a shell prompt and every script that asks for the version pays.
Medians of ``repeat`` paired runs, side by side in one process, so the machine's load hits
both alike.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from dataclasses import dataclass

TARGET_SECONDS = 0.15
"""``--version`` in at most this (issue 19)."""


@dataclass(frozen=True)
class Startup:
    version_s: float
    python_s: float

    @property
    def ratio(self) -> float:
        return self.version_s / self.python_s if self.python_s else float("inf")

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("startup --version wall s (median)", f"{self.version_s:.3f}"),
            ("startup python -c pass wall s (median)", f"{self.python_s:.3f}"),
            ("startup --version / python -c pass", f"{self.ratio:.1f}x"),
        ]


def _wall(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def measure(repeat: int = 7) -> Startup:
    version, bare = [], []
    for _ in range(repeat):
        version.append(_wall([sys.executable, "-m", "reconciler", "--version"]))
        bare.append(_wall([sys.executable, "-c", "pass"]))
    return Startup(statistics.median(version), statistics.median(bare))
