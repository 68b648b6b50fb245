"""The benchmarks at their quick size: output shape and the cost model's call-count invariants.

These are not timing tests: every assertion is on counts of API calls and pages, which do not
depend on the machine. The times, CPU and memory figures are only checked to be reported.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Iterator

import pytest

from bench.scenarios import (
    DESCRIBES,
    HEADLINE,
    LIST_OPERATION,
    QUICK,
    STARTS,
    Report,
    run_all,
)
from bench.specs import KINDS
from reconciler.sandbox import Sandbox

pytestmark = pytest.mark.slow

_LINE = re.compile(r"^(?P<label>\S.*?\S) +: (?P<value>\S.*)$")


@pytest.fixture(scope="module")
def report(
    voiceid_sandbox_server: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Report]:
    """One run of every quick benchmark (the sandbox is reset before and after)."""
    sandbox = voiceid_sandbox_server
    try:
        yield run_all(sandbox, tmp_path_factory.mktemp("bench"), QUICK)
    finally:
        sandbox.reset(aws=True)


def _slots() -> int:
    return QUICK.domains * len(KINDS)


def test_output_is_one_label_value_line_per_figure_ending_with_the_headline(
    report: Report,
) -> None:
    """Every line is ``label : value``, labels are unique, the last line is the headline."""
    lines = report.lines()
    parsed = [_LINE.match(line) for line in lines]
    assert all(parsed), [line for line, m in zip(lines, parsed, strict=True) if not m]
    labels = [m["label"] for m in parsed if m]
    assert len(labels) == len(set(labels))
    last = parsed[-1]
    assert last is not None
    assert last["label"] == HEADLINE
    assert float(last["value"]) == pytest.approx(report.comparisons["steady-state"].call_ratio)
    for scenario in ("steady-state", "cold-start", "day-of-work"):
        for figure in ("API calls", "wall s (fast profile)", "CPU s", "peak RSS MiB"):
            assert f"{scenario} ours {figure}" in labels
            assert f"{scenario} naive {figure}" in labels
    assert "plan-only ratio ours/parse" in labels
    assert any(label.startswith("target history-memory ours peak RSS") for label in labels)


def test_steady_state_spends_at_most_one_call_per_domain_and_kind(report: Report) -> None:
    """Nothing to start: at most 1 + domains x kinds calls, >= 100x fewer than the baseline."""
    steady = report.comparisons["steady-state"]
    assert steady.ours.total <= 1 + _slots(), steady.ours.calls
    assert steady.ours.count(*STARTS, *DESCRIBES) == 0
    assert steady.naive.total >= 100 * steady.ours.total


def test_cold_start_reads_each_history_page_once(report: Report) -> None:
    """No state: ceil(H/100) List pages per domain and kind, none twice, no Describe."""
    cold = report.comparisons["cold-start"].ours
    expected = {
        (LIST_OPERATION[kind], domain_id, None): math.ceil(count / 100)
        for (domain_id, kind), count in report.history.items()
    }
    assert len(expected) == _slots()
    assert sum(report.history.values()) == QUICK.history
    assert dict(cold.pages()) == expected
    assert cold.repeated_pages() == 0
    assert cold.count(*DESCRIBES, *STARTS) == 0
    assert cold.total == 1 + sum(expected.values())


def test_day_of_work_starts_only_into_free_slots(report: Report) -> None:
    """One job per domain in flight, new specs: starts fill the free slots, calls stay bounded."""
    day = report.comparisons["day-of-work"].ours
    starts = day.count(*STARTS)
    assert starts == _slots() - QUICK.domains
    assert day.total <= 1 + _slots() + QUICK.domains + starts, day.calls


def test_naive_baseline_lists_everything_and_describes_every_spec_job(report: Report) -> None:
    """The baseline reads every page of every domain and kind, then one Describe a spec job."""
    naive = report.comparisons["steady-state"].naive
    pages = sum(math.ceil(count / 100) for count in report.history.values())
    assert naive.count(*LIST_OPERATION.values()) == pages
    assert naive.count(*DESCRIBES) == QUICK.specs
    assert naive.aws_total == 0


def test_history_memory_is_measured_for_both_sizes(report: Report) -> None:
    """The cold start ran against the small and the large history, and its peak RSS is known."""
    assert sorted(report.memory) == sorted(QUICK.rss_history)
    assert all(run.peak_rss_kib > 0 and run.cpu_s > 0 for run in report.memory.values())


def test_call_count_targets_pass(report: Report) -> None:
    """Every target on counts is met (the timing and memory ones are only reported)."""
    counted = [t for t in report.targets if not t.timed]
    assert len(counted) >= 6
    assert [t for t in counted if not t.passed] == []


def test_the_instructions_of_a_steady_apply_are_reported_per_size(report: Report) -> None:
    """Each CPU-per-spec world's steady apply is also counted in instructions (callgrind), when
    valgrind is installed: a larger world's run executes more of them, and the marginal per spec
    is reported."""
    rows = dict(report.rows)
    counts = [rows[f"cpu-per-spec N={n} instructions (callgrind)"] for n in QUICK.scale_specs]
    if shutil.which("valgrind") is None:
        assert set(counts) == {"not counted (no valgrind)"}
        return
    small, large = (int(c.replace(",", "")) for c in counts)
    assert 0 < small < large
    first, second = QUICK.scale_specs
    marginal = rows[f"cpu-per-spec marginal instructions per spec N={first}..{second}"]
    assert int(marginal.replace(",", "")) == round((large - small) / (second - first))
