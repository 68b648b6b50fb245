"""The issue-19 figures: our own CPU against the floor of merely parsing the spec files, how
CPU grows with the number of specs, and what a Start costs in state writing.

* **floor** — ``python -m bench.floor DIR`` (PyYAML's C loader over the same files, its own
  process); each side measured as a whole process, in pairs taken one after the other, and
  the medians compared;
* **scaling** — a steady ``apply`` of worlds of N specs (one ended job each, no other
  history): CPU per spec, and the marginal CPU per spec between sizes (the fixed start-up cost
  taken out), which stays constant when every step is linear; peak RSS at the largest; and the
  same run's instructions counted by callgrind (when valgrind is installed): a count, the same
  for the same work however loaded the machine is, that tells an algorithm that is not linear
  from a working set that outgrew the processor's caches (CPU time sees both);
* **one Start** — the state writing a Start makes (its intent, then its JobId: two journal
  appends) on a copy of a 10,000-spec state, timed in this process; beside it, what one
  rewrite of that state costs (what a Start cost before the journal).
"""

from __future__ import annotations

import dataclasses
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.measure import ROOT, BenchError, Run, child_env, measure
from bench.world import build_world, seed_history
from reconciler.adapters.localstore import LocalStateStore
from reconciler.core.journal import JournalChange
from reconciler.core.state import JobRecord
from reconciler.sandbox import Sandbox

CPU_TARGET = 1.0
"""steady apply: client CPU <= this times the floor's."""
WALL_TARGET = 2.0
PLAN_OFFLINE_TARGET = 1.3
SCALING_TOLERANCE = 0.15
RSS_TARGET_MIB = 300.0
START_WRITE_TARGET_MS = 20.0
COLD_CPU_TARGET_S = 6.0
SCALING_RUNS = 3
"""Steady runs measured at each size (the median counts)."""


def floor_argv(specs_dir: Path) -> list[str]:
    return ["-m", "bench.floor", str(specs_dir)]


def plan_offline_argv(specs_dir: Path, state: Path) -> list[str]:
    return ["-m", "reconciler", "plan", str(specs_dir), "--offline", "--state", str(state), "-q"]


@dataclass(frozen=True)
class Paired:
    """Medians of ``pairs`` runs of ours and of the floor, taken alternately."""

    ours: list[Run]
    floor: list[Run]

    @staticmethod
    def _median(runs: list[Run], figure: Callable[[Run], float]) -> float:
        return statistics.median(figure(r) for r in runs)

    @property
    def ours_cpu(self) -> float:
        return self._median(self.ours, lambda r: r.cpu_s)

    @property
    def ours_wall(self) -> float:
        return self._median(self.ours, lambda r: r.wall_s)

    @property
    def floor_cpu(self) -> float:
        return self._median(self.floor, lambda r: r.cpu_s)

    @property
    def floor_wall(self) -> float:
        return self._median(self.floor, lambda r: r.wall_s)


def paired(sandbox: Sandbox, ours: list[str], specs_dir: Path, pairs: int, label: str) -> Paired:
    mine, floor = [], []
    for i in range(pairs):
        mine.append(measure(sandbox, ours, label=f"{label} #{i + 1}"))
        floor.append(measure(sandbox, floor_argv(specs_dir), label=f"floor #{i + 1}"))
    return Paired(mine, floor)


@dataclass(frozen=True)
class Scale:
    """A steady apply of ``specs`` specs."""

    specs: int
    run: Run
    instructions: int | None = None
    """The instructions of one such run (callgrind), None without valgrind."""

    @property
    def cpu_per_spec_ms(self) -> float:
        return 1000 * self.run.cpu_s / self.specs


def scaling(
    sandbox: Sandbox,
    root: Path,
    sizes: tuple[int, ...],
    domains: int,
    apply_argv: Callable[[Path, Path], list[str]],
    progress: Callable[[str], None],
) -> list[Scale]:
    """A steady apply per size: a world of N specs with one ended job each, its cold start
    (not measured), then :data:`SCALING_RUNS` measured runs, of which the one of median CPU
    counts (a marginal is a difference of two runs: one slow moment of a shared machine moved
    it by a fifth); its peak RSS is the largest of them all."""
    out = []
    for n in sizes:
        progress(f"scaling: {n} specs (world, cold start, steady apply x{SCALING_RUNS})")
        world = build_world(sandbox, root / f"scale-{n}", domains)
        world.add_specs(n)
        seed_history(world, world.desired(), 0)
        argv = apply_argv(world.specs_dir, world.state_path)
        measure(sandbox, argv, label=f"cold, {n}")
        runs = sorted(
            (measure(sandbox, argv, label=f"steady, {n}") for _ in range(SCALING_RUNS)),
            key=lambda run: run.cpu_s,
        )
        median = runs[len(runs) // 2]
        peak = max(run.peak_rss_kib for run in runs)
        progress(f"scaling: {n} specs, the instructions of a steady apply (callgrind)")
        counted = instructions(sandbox, argv)
        out.append(Scale(n, dataclasses.replace(median, peak_rss_kib=peak), counted))
    return out


def marginal_ms(small: Scale, large: Scale) -> float:
    """CPU per spec between two sizes (the fixed start-up cost cancels out)."""
    return 1000 * (large.run.cpu_s - small.run.cpu_s) / (large.specs - small.specs)


def marginal_instructions(small: Scale, large: Scale) -> float | None:
    """Instructions per spec between two sizes, None when they were not counted."""
    if small.instructions is None or large.instructions is None:
        return None
    return (large.instructions - small.instructions) / (large.specs - small.specs)


def instructions(sandbox: Sandbox, argv: list[str]) -> int | None:
    """The instructions a client run executes, threads included (``valgrind --tool=callgrind``:
    about fifty times slower than the run, and a count that does not depend on what else the
    machine does); None when valgrind is not installed."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    with tempfile.TemporaryDirectory(prefix="voiceid-bench-callgrind-") as tmp:
        out = Path(tmp) / "callgrind.out"
        done = subprocess.run(
            [valgrind, "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, *argv],
            env=child_env(sandbox),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            check=False,
        )
        if done.returncode != 0 or not out.exists():
            tail = "\n".join(done.stderr.splitlines()[-10:])
            raise BenchError(f"callgrind: exit status {done.returncode}:\n{tail}")
        for line in out.read_text().splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise BenchError("callgrind wrote no totals")


@dataclass(frozen=True)
class StartCost:
    specs: int
    journal_ms: float
    """The median state writing of one Start: its intent and its JobId, journaled."""
    rewrite_ms: float
    """The median time of one full rewrite of the state (what a Start cost before)."""


def start_cost(state_path: Path, repeat: int = 15) -> StartCost:
    """The state writing of one Start on a copy of the state at ``state_path``."""
    with tempfile.TemporaryDirectory(prefix="voiceid-bench-start-") as tmp:
        copy = Path(tmp) / "state.json"
        shutil.copy(state_path, copy)
        store = LocalStateStore(copy)
        with store.locked():
            state = store.read()
            key, entry = next(iter(state.specs.items()))
            journaled, rewrites = [], []
            for attempt in range(2, 2 + repeat):
                record = JobRecord(
                    hash=entry.hash,
                    attempt=attempt,
                    client_token=f"bench-{attempt}",
                    job_name=f"{entry.name}-{entry.hash[:32]}-{attempt}",
                    domain_id=entry.domain_id,
                    kind=entry.kind,
                    intent_at="2026-12-01T00:00:00Z",
                )
                started = time.perf_counter()
                entry.jobs.append(record)
                store.journal(state, [JournalChange(key, record)])  # the intent
                record.job_id = f"J{attempt:021d}"
                store.journal(state, [JournalChange(key, record)])  # its JobId
                journaled.append(time.perf_counter() - started)
                started = time.perf_counter()
                store.write(state)  # a full rewrite (it also takes the journal in)
                rewrites.append(time.perf_counter() - started)
        return StartCost(
            len(state.specs),
            1000 * statistics.median(journaled),
            1000 * statistics.median(rewrites),
        )
