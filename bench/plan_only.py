"""Plan only (no network): load + validate + resolve + plan N specs, against merely parsing
the same files with PyYAML's C loader. Target: at most 2x.
"""

from __future__ import annotations

import gc
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

from bench.specs import SpecTarget, write_specs
from reconciler.core.loading import load
from reconciler.core.state import State
from reconciler.runner.usecases import plan_offline

TARGET_RATIO = 2.0


@dataclass(frozen=True)
class PlanOnly:
    """The best-of-``repeat`` seconds of both sides."""

    specs: int
    parse_s: float
    ours_s: float

    @property
    def ratio(self) -> float:
        return self.ours_s / self.parse_s

    def rows(self) -> list[tuple[str, str]]:
        return [
            ("plan-only specs", f"{self.specs}"),
            ("plan-only pyyaml C-loader parse s", f"{self.parse_s:.3f}"),
            ("plan-only load+validate+plan s", f"{self.ours_s:.3f}"),
            ("plan-only ratio ours/parse", f"{self.ratio:.2f}"),
        ]


def _best_of(repeat: int, fn: Callable[[], object]) -> float:
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - started)
    return best


def measure(count: int, repeat: int = 3) -> PlanOnly:
    """Measure both sides on ``count`` generated specs (one document a file)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_specs(root, count)
        files = sorted(root.rglob("*.yaml"))
        domains = SpecTarget().domains
        state = State(domains={d: (d.replace("-", "")[:10] * 3)[:22] for d in domains})

        def parse_only() -> None:
            for path in files:
                list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader))

        def ours() -> None:
            specs = load([root])
            result = plan_offline(specs, state.model_copy(deep=True))
            assert len(result.plan.actions) == count

        baseline = _best_of(repeat, parse_only)
        measured = _best_of(repeat, ours)
    return PlanOnly(count, baseline, measured)


def run(count: int, repeat: int = 3) -> list[tuple[str, str]]:
    """Measure and return (label, value) rows; the last row is the ratio."""
    return measure(count, repeat).rows()
