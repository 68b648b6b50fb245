"""The scenarios: the reconciler and the naive baseline side by side in one seeded world.

In one world of D domains, H historical jobs and N specs whose jobs have all ended:

* **cold start** — no state file: the reconciler lists each domain's history once;
* **steady state** — the state file of the cold start exists, nothing to start;
* **a day of work** — one job per domain in flight (started by an earlier run), 50 new specs;

then a **history memory** pair (a cold start with H small and H large, the same specs) and
**plan only** (no network). Each client run is a separate process (see ``bench.measure``).
The targets are reported PASS or FAIL; they never make the benchmark fail.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench import costs, plan_only
from bench import startup as startup_bench
from bench.measure import BenchError, Run, apply_argv, measure, naive_argv, precompile
from bench.specs import ENROLLMENT, KINDS
from bench.world import JOB_DURATION, PAGE_SIZE, World, build_world, seed_history
from reconciler.sandbox import Sandbox

Row = tuple[str, str]
LIST_OPERATION = {
    "SpeakerEnrollmentJob": "ListSpeakerEnrollmentJobs",
    "FraudsterRegistrationJob": "ListFraudsterRegistrationJobs",
}
DESCRIBES = ("DescribeSpeakerEnrollmentJob", "DescribeFraudsterRegistrationJob")
STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")
STEADY_RATIO_TARGET = 100.0
RSS_RATIO_TARGET = 1.2
HEADLINE = "headline steady-state naive/ours API calls"


@dataclass(frozen=True)
class Size:
    """How big the worlds are."""

    specs: int
    domains: int
    history: int
    new_specs: int
    rss_specs: int
    rss_history: tuple[int, int]
    plan_specs: int
    plan_repeat: int
    pairs: int
    """Paired runs (ours, the parse floor) whose medians are compared."""
    scale_specs: tuple[int, ...]
    """The sizes of the CPU-per-spec worlds (steady apply, one ended job per spec)."""

    def __post_init__(self) -> None:
        if self.history < self.specs or min(self.rss_history) < self.rss_specs:
            raise ValueError("the history holds one job of each spec: history >= specs")


FULL = Size(
    specs=10_000,
    domains=3,
    history=100_000,
    new_specs=50,
    rss_specs=500,
    rss_history=(1_000, 100_000),
    plan_specs=10_000,
    plan_repeat=3,
    pairs=3,
    scale_specs=(1_000, 10_000, 50_000),
)
QUICK = Size(
    specs=200,
    domains=3,
    history=3_000,
    new_specs=50,
    rss_specs=50,
    rss_history=(100, 3_000),
    plan_specs=200,
    plan_repeat=3,
    pairs=1,
    scale_specs=(50, 200),
)


@dataclass(frozen=True)
class Target:
    """A target of the cost model, met or not."""

    label: str
    passed: bool
    detail: str
    timed: bool = False
    """A time or memory target (met or not, it depends on the machine), not one on counts."""

    def row(self) -> Row:
        return (f"target {self.label}", f"{'PASS' if self.passed else 'FAIL'} ({self.detail})")


@dataclass(frozen=True)
class Comparison:
    """The reconciler and the naive baseline in one scenario."""

    scenario: str
    ours: Run
    naive: Run

    @property
    def call_ratio(self) -> float:
        return _div(self.naive.total, self.ours.total)

    def rows(self) -> list[Row]:
        p, ours, naive = self.scenario, self.ours, self.naive
        return [
            (f"{p} ours API calls", f"{ours.total}"),
            (f"{p} ours API calls by operation", ours.by_operation()),
            (f"{p} naive API calls", f"{naive.total}"),
            (f"{p} naive API calls by operation", naive.by_operation()),
            (f"{p} ours S3/KMS calls", f"{ours.aws_total}"),
            (f"{p} ours S3/KMS calls by operation", ours.aws_by_operation()),
            (f"{p} naive S3/KMS calls", f"{naive.aws_total}"),
            (f"{p} ours s at 2 TPS (calls / 2)", f"{ours.at_quota_s:.1f}"),
            (f"{p} naive s at 2 TPS (calls / 2)", f"{naive.at_quota_s:.1f}"),
            (f"{p} ours wall s (fast profile)", f"{ours.wall_s:.2f}"),
            (f"{p} naive wall s (fast profile)", f"{naive.wall_s:.2f}"),
            (f"{p} ours CPU s", f"{ours.cpu_s:.2f}"),
            (f"{p} naive CPU s", f"{naive.cpu_s:.2f}"),
            (f"{p} ours peak RSS MiB", f"{ours.peak_rss_mib:.1f}"),
            (f"{p} naive peak RSS MiB", f"{naive.peak_rss_mib:.1f}"),
            (f"{p} naive/ours API calls (= s at 2 TPS)", _fmt(self.call_ratio)),
            (f"{p} naive/ours wall", _fmt(_div(naive.wall_s, ours.wall_s))),
            (f"{p} naive/ours CPU", _fmt(_div(naive.cpu_s, ours.cpu_s))),
            (f"{p} naive/ours peak RSS", _fmt(_div(naive.peak_rss_kib, ours.peak_rss_kib))),
        ]


@dataclass
class Report:
    """Every figure of one benchmark run, and the structured results behind them."""

    size: Size
    rows: list[Row] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    comparisons: dict[str, Comparison] = field(default_factory=dict)
    history: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Historical jobs per (DomainId, kind) of the main world."""
    expected_pages: dict[tuple[str, str | None, str | None], int] = field(default_factory=dict)
    """Cold start: the List* pages expected per (operation, DomainId, no status filter)."""
    memory: dict[int, Run] = field(default_factory=dict)
    """History memory: the reconciler's cold start per H."""

    def lines(self) -> list[str]:
        """``label : value`` lines, labels aligned; the last one is the headline ratio."""
        steady = self.comparisons.get("steady-state")
        rows = [*self.rows, *(t.row() for t in self.targets)]
        if steady is not None:
            rows.append((HEADLINE, _fmt(steady.call_ratio)))
        width = max(len(label) for label, _ in rows)
        return [f"{label:<{width}} : {value}" for label, value in rows]


Progress = Callable[[str], None]


def run_all(sandbox: Sandbox, root: Path, size: Size, progress: Progress | None = None) -> Report:
    """Every scenario, in the order that each one's preconditions need."""
    say = progress or (lambda _: None)
    precompile()
    report = Report(size)
    say(f"world: {size.domains} domains, {size.history} historical jobs, {size.specs} specs")
    world = main_world(sandbox, root / "main", size, report)
    say("cold start (naive, then ours)")
    cold_start(world, report)
    say("steady state (naive, then ours)")
    steady_state(world, report)
    say(f"steady apply and plan --offline against parsing the files ({size.pairs} pairs)")
    against_the_floor(world, size, report)
    say("one Start: its state writing")
    one_start(world, report)
    say(f"a day of work: {size.domains} in flight, {size.new_specs} new specs")
    day_of_work(world, size, report)
    history_memory(sandbox, root, size, report, say)
    cpu_per_spec(sandbox, root, size, report, say)
    say("start-up: --version, validate")
    startup = startup_bench.measure()
    report.rows.extend(startup.rows())
    report.targets.append(
        Target(
            f"--version <= {startup_bench.TARGET_SECONDS:g} s",
            startup.version_s <= startup_bench.TARGET_SECONDS,
            f"{startup.version_s:.3f} s",
            timed=True,
        )
    )
    report.targets.append(
        Target(
            f"validate <= {startup_bench.VALIDATE_TARGET_SECONDS:g} s",
            startup.validate_s <= startup_bench.VALIDATE_TARGET_SECONDS,
            f"{startup.validate_s:.3f} s",
            timed=True,
        )
    )
    say(f"plan only: {size.plan_specs} specs")
    plan = plan_only.measure(size.plan_specs, repeat=size.plan_repeat)
    report.rows.extend(plan.rows())
    report.targets.append(
        Target(
            f"plan-only ours/parse <= {plan_only.TARGET_RATIO:.1f}",
            plan.ratio <= plan_only.TARGET_RATIO,
            _fmt(plan.ratio),
            timed=True,
        )
    )
    return report


def main_world(sandbox: Sandbox, root: Path, size: Size, report: Report) -> World:
    """D domains, N specs, and H ended jobs: one of each spec, the rest started by others."""
    world = build_world(sandbox, root, size.domains)
    world.add_specs(size.specs)
    report.history = seed_history(world, world.desired(), size.history - size.specs)
    per_slot = report.history.values()
    report.rows.extend(
        [
            ("world domains", f"{size.domains}"),
            ("world specs", f"{size.specs}"),
            (
                "world historical jobs",
                f"{sum(per_slot)} ({size.specs} ours, {size.history - size.specs} of others)",
            ),
            ("world historical jobs per domain and kind", f"{min(per_slot)}..{max(per_slot)}"),
        ]
    )
    return world


def cold_start(world: World, report: Report) -> Comparison:
    """No state file: each (domain, kind) listed in full once, no Describe per job."""
    sandbox = world.sandbox
    world.delete_state()
    naive = measure(sandbox, naive_argv(world.specs_dir), label="naive, cold start")
    ours = measure(
        sandbox, apply_argv(world.specs_dir, world.state_path), label="reconciler, cold start"
    )
    report.expected_pages = {
        (LIST_OPERATION[kind], domain_id, None): max(1, math.ceil(count / PAGE_SIZE))
        for (domain_id, kind), count in sorted(report.history.items())
    }
    measured = ours.pages()
    wrong = {
        key: (measured.get(key, 0), want)
        for key, want in report.expected_pages.items()
        if measured.get(key, 0) != want
    }
    extra = set(measured) - set(report.expected_pages)
    report.targets.extend(
        [
            Target(
                "cold-start List pages == ceil(H/100) per domain and kind",
                not wrong and not extra,
                f"{len(report.expected_pages) - len(wrong)} of {len(report.expected_pages)} "
                f"(domain, kind) match, {sum(measured.values())} pages"
                + (f"; measured/expected differ: {_slots(wrong)}" if wrong else "")
                + (f"; unexpected lists: {len(extra)}" if extra else ""),
            ),
            Target(
                "cold-start each page read once",
                ours.repeated_pages() == 0,
                f"{ours.repeated_pages()} pages read again",
            ),
            Target(
                "cold-start no Describe per historical job",
                ours.count(*DESCRIBES) == 0,
                f"{ours.count(*DESCRIBES)} Describe calls, 0 jobs in flight",
            ),
        ]
    )
    comparison = Comparison("cold-start", ours, naive)
    report.comparisons[comparison.scenario] = comparison
    report.rows.extend(comparison.rows())
    report.rows.append(
        (
            "cold-start ours List pages (expected: sum of ceil(H/100))",
            f"{sum(measured.values())} (expected {sum(report.expected_pages.values())})",
        )
    )
    by_kind = Counter(
        kind
        for r in ours.requests
        for kind in ("SpeakerEnrollment", "FraudsterRegistration")
        if kind in r.operation
    )
    other_calls = ours.total - sum(by_kind.values())
    concurrent = (other_calls + max(by_kind.values(), default=0)) / 2
    report.rows.extend(
        [
            ("cold-start ours Voice ID calls per kind", _pairs_of(by_kind)),
            (
                "cold-start ours s at 2 TPS, kinds listed at once (other + slower kind) / 2",
                f"{concurrent:.1f} (one after the other: {ours.at_quota_s:.1f})",
            ),
        ]
    )
    report.targets.append(
        Target(
            f"cold-start ours CPU <= {costs.COLD_CPU_TARGET_S:g} s",
            ours.cpu_s <= costs.COLD_CPU_TARGET_S,
            f"{ours.cpu_s:.2f} s",
            timed=True,
        )
    )
    report.rows.append(
        (
            "cold-start ours S3 GetObject (job results) per ended job of ours",
            _fmt(_div(ours.aws_calls.get("S3 GetObject", 0), report.size.specs)),
        )
    )
    return comparison


def steady_state(world: World, report: Report) -> Comparison:
    """The state of a prior run exists, every job has ended, nothing to start."""
    sandbox = world.sandbox
    if not world.state_path.exists():  # the prior run
        measure(sandbox, apply_argv(world.specs_dir, world.state_path), label="prior run")
    naive = measure(sandbox, naive_argv(world.specs_dir), label="naive, steady state")
    ours = measure(
        sandbox, apply_argv(world.specs_dir, world.state_path), label="reconciler, steady state"
    )
    comparison = Comparison("steady-state", ours, naive)
    bound = 1 + len(world.domains) * len(KINDS)
    report.targets.extend(
        [
            Target(
                f"steady-state naive/ours API calls >= {STEADY_RATIO_TARGET:g}",
                comparison.call_ratio >= STEADY_RATIO_TARGET,
                _fmt(comparison.call_ratio),
            ),
            Target(
                "steady-state ours API calls <= 1 + domains x kinds + in-flight",
                ours.total <= bound,
                f"{ours.total} <= {bound}",
            ),
        ]
    )
    report.comparisons[comparison.scenario] = comparison
    report.rows.extend(comparison.rows())
    return comparison


def against_the_floor(world: World, size: Size, report: Report) -> None:
    """Steady apply and ``plan --offline`` against PyYAML's C loader merely parsing the same
    files, each a whole process, in pairs; medians."""
    sandbox = world.sandbox
    steady = costs.paired(
        sandbox,
        apply_argv(world.specs_dir, world.state_path),
        world.specs_dir,
        size.pairs,
        "steady",
    )
    offline = costs.paired(
        sandbox,
        costs.plan_offline_argv(world.specs_dir, world.state_path),
        world.specs_dir,
        size.pairs,
        "plan --offline",
    )
    calls = sorted({r.total for r in steady.ours})
    cpu, wall = _div(steady.ours_cpu, steady.floor_cpu), _div(steady.ours_wall, steady.floor_wall)
    plan_wall = _div(offline.ours_wall, offline.floor_wall)
    report.rows.extend(
        [
            ("floor: C-parse of the spec files CPU s (median)", f"{steady.floor_cpu:.2f}"),
            ("floor: C-parse of the spec files wall s (median)", f"{steady.floor_wall:.2f}"),
            ("steady-state ours CPU s (median of pairs)", f"{steady.ours_cpu:.2f}"),
            ("steady-state ours wall s (median of pairs)", f"{steady.ours_wall:.2f}"),
            ("steady-state ours/floor CPU", _fmt(cpu)),
            ("steady-state ours/floor wall", _fmt(wall)),
            ("plan --offline ours wall s (median)", f"{offline.ours_wall:.2f}"),
            ("plan --offline ours CPU s (median)", f"{offline.ours_cpu:.2f}"),
            ("plan --offline ours/floor wall", _fmt(plan_wall)),
        ]
    )
    report.targets.extend(
        [
            Target(
                f"steady-state ours/floor CPU <= {costs.CPU_TARGET:g}",
                cpu <= costs.CPU_TARGET,
                _fmt(cpu),
                timed=True,
            ),
            Target(
                f"steady-state ours/floor wall <= {costs.WALL_TARGET:g}",
                wall <= costs.WALL_TARGET,
                _fmt(wall),
                timed=True,
            ),
            Target("steady-state ours still 1 Voice ID call", calls == [1], f"{calls}"),
            Target(
                f"plan --offline ours/floor wall <= {costs.PLAN_OFFLINE_TARGET:g}",
                plan_wall <= costs.PLAN_OFFLINE_TARGET,
                _fmt(plan_wall),
                timed=True,
            ),
        ]
    )


def one_start(world: World, report: Report) -> None:
    """What one Start costs in state writing, on a copy of the main world's state."""
    cost = costs.start_cost(world.state_path)
    report.rows.extend(
        [
            ("one-start state specs", f"{cost.specs}"),
            ("one-start state writing ms (intent + JobId, journaled)", f"{cost.journal_ms:.2f}"),
            (
                "one-start a full rewrite of the state ms (before the journal)",
                f"{cost.rewrite_ms:.1f}",
            ),
        ]
    )
    report.targets.append(
        Target(
            f"one-start state writing <= {costs.START_WRITE_TARGET_MS:g} ms",
            cost.journal_ms <= costs.START_WRITE_TARGET_MS,
            f"{cost.journal_ms:.2f} ms",
            timed=True,
        )
    )


def cpu_per_spec(
    sandbox: Sandbox, root: Path, size: Size, report: Report, progress: Progress | None = None
) -> None:
    """Steady CPU per spec across sizes (constant when every step is linear); peak RSS at the
    largest."""
    scales = costs.scaling(
        sandbox, root, size.scale_specs, size.domains, apply_argv, progress or (lambda _: None)
    )
    for scale in scales:
        report.rows.extend(
            [
                (f"cpu-per-spec N={scale.specs} steady CPU s", f"{scale.run.cpu_s:.2f}"),
                (f"cpu-per-spec N={scale.specs} ms per spec", f"{scale.cpu_per_spec_ms:.3f}"),
                (f"cpu-per-spec N={scale.specs} peak RSS MiB", f"{scale.run.peak_rss_mib:.1f}"),
                (
                    f"cpu-per-spec N={scale.specs} instructions (callgrind)",
                    "not counted (no valgrind)"
                    if scale.instructions is None
                    else f"{scale.instructions:,}",
                ),
            ]
        )
    marginals = [costs.marginal_ms(a, b) for a, b in itertools.pairwise(scales)]
    _marginals(report, scales, "ms", [f"{m:.3f}" for m in marginals], marginals, timed=True)
    counted = [costs.marginal_instructions(a, b) for a, b in itertools.pairwise(scales)]
    per_spec = [c for c in counted if c is not None]
    if len(per_spec) == len(counted):
        shown = [f"{c:,.0f}" for c in per_spec]
        _marginals(report, scales, "instructions", shown, per_spec, timed=False)
    largest = scales[-1]
    report.targets.append(
        Target(
            f"cpu-per-spec peak RSS at N={largest.specs} <= {costs.RSS_TARGET_MIB:g} MiB",
            largest.run.peak_rss_mib <= costs.RSS_TARGET_MIB,
            f"{largest.run.peak_rss_mib:.1f} MiB",
            timed=True,
        )
    )


def _marginals(
    report: Report,
    scales: list[costs.Scale],
    unit: str,
    shown: list[str],
    marginals: list[float],
    *,
    timed: bool,
) -> None:
    """The marginals per spec between consecutive sizes, and whether they are constant."""
    for (a, b), text in zip(itertools.pairwise(scales), shown, strict=True):
        report.rows.append((f"cpu-per-spec marginal {unit} per spec N={a.specs}..{b.specs}", text))
    if len(marginals) >= 2:
        spread = _div(max(marginals), min(marginals)) - 1
        what = "CPU per spec" if timed else "instructions per spec (the work, not the caches)"
        report.targets.append(
            Target(
                f"cpu-per-spec marginal {what} constant (+-{costs.SCALING_TOLERANCE:.0%})",
                spread <= costs.SCALING_TOLERANCE,
                f"spread {spread:.1%}",
                timed=timed,
            )
        )


def day_of_work(world: World, size: Size, report: Report) -> Comparison:
    """One job per domain in flight (started by an earlier run), then new specs arrive."""
    sandbox = world.sandbox
    domains = len(world.domains)
    world.add_specs(domains, prefix="inflight", kind=ENROLLMENT)  # spec i in domain i
    earlier = measure(
        sandbox, apply_argv(world.specs_dir, world.state_path), label="run starting in-flight jobs"
    )
    if earlier.count(*STARTS) != domains:
        raise BenchError(f"the earlier run started {earlier.count(*STARTS)} jobs, not {domains}")
    sandbox.advance_clock(JOB_DURATION / 4)  # past SUBMITTED: the jobs are IN_PROGRESS
    world.add_specs(size.new_specs, prefix="day")

    naive = measure(sandbox, naive_argv(world.specs_dir), label="naive, a day of work")
    ours = measure(
        sandbox, apply_argv(world.specs_dir, world.state_path), label="reconciler, a day of work"
    )
    starts = ours.count(*STARTS)
    bound = 1 + domains * len(KINDS) + domains + starts
    free = domains * len(KINDS) - domains
    comparison = Comparison("day-of-work", ours, naive)
    report.rows.extend(comparison.rows())
    report.rows.append(
        ("day-of-work ours starts", f"{starts} ({free} free slots, {domains} busy with in-flight)")
    )
    report.targets.extend(
        [
            Target(
                "day-of-work ours API calls <= 1 + domains x kinds + in-flight + starts",
                ours.total <= bound,
                f"{ours.total} <= {bound}",
            ),
            Target(
                "day-of-work ours starts == free slots",
                starts == free,
                f"{starts} == {free}",
            ),
        ]
    )
    report.comparisons[comparison.scenario] = comparison
    return comparison


def history_memory(
    sandbox: Sandbox, root: Path, size: Size, report: Report, progress: Progress | None = None
) -> None:
    """A cold start of the same specs over a small and a large history: peak RSS stays flat."""
    naive: dict[int, Run] = {}
    for h in size.rss_history:
        if progress:
            progress(f"history memory: cold start with H = {h}")
        world = build_world(sandbox, root / f"history-{h}", size.domains)
        world.add_specs(size.rss_specs)
        seed_history(world, world.desired(), h - size.rss_specs)
        naive[h] = measure(sandbox, naive_argv(world.specs_dir), label=f"naive, H = {h}")
        report.memory[h] = measure(
            sandbox, apply_argv(world.specs_dir, world.state_path), label=f"reconciler, H = {h}"
        )
    small, large = size.rss_history
    ours_ratio = _div(report.memory[large].peak_rss_kib, report.memory[small].peak_rss_kib)
    naive_ratio = _div(naive[large].peak_rss_kib, naive[small].peak_rss_kib)
    for h in size.rss_history:
        report.rows.extend(
            [
                (f"history-memory H={h} ours peak RSS MiB", f"{report.memory[h].peak_rss_mib:.1f}"),
                (f"history-memory H={h} naive peak RSS MiB", f"{naive[h].peak_rss_mib:.1f}"),
            ]
        )
    report.rows.extend(
        [
            ("history-memory specs", f"{size.rss_specs}"),
            (f"history-memory ours peak RSS H={large}/H={small}", _fmt(ours_ratio)),
            (f"history-memory naive peak RSS H={large}/H={small}", _fmt(naive_ratio)),
        ]
    )
    report.targets.append(
        Target(
            f"history-memory ours peak RSS H={large}/H={small} <= {RSS_RATIO_TARGET:g}",
            ours_ratio <= RSS_RATIO_TARGET,
            _fmt(ours_ratio),
            timed=True,
        )
    )


def _div(a: float, b: float) -> float:
    return a / b if b else math.inf


def _fmt(ratio: float) -> str:
    return "inf" if math.isinf(ratio) else f"{ratio:.2f}"


def _pairs_of(counts: Counter[str]) -> str:
    return ", ".join(f"{k}={n}" for k, n in sorted(counts.items())) or "none"


def _slots(wrong: dict[tuple[str, str | None, str | None], tuple[int, int]]) -> str:
    return ", ".join(
        f"{op} {domain}: {got}/{want}" for (op, domain, _), (got, want) in wrong.items()
    )
