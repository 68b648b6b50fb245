"""The cost of negative knowledge (issue 30): Voice ID calls of a queue-draining schedule.

A domain holds 100,000 ended jobs of other tools and 10 queued specs of ours; the schedule runs
every hour and each job runs 45 minutes, so each run starts one. Before issue 30 a run trusted
the state's listing for ever (one filtered List call per run); now a start needs a complete
listing younger than ``--token-lifetime`` less the list-lag horizon. The runner is the real
one, against the in-memory Voice ID of the runner's tests with List paged as Voice ID pages it
(100 jobs a page). Run: ``python -m bench.negative``.
"""

from __future__ import annotations

import math
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reconciler.core import hold
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind
from reconciler.core.loading import load
from reconciler.runner.apply import apply
from reconciler.runner.context import Run, RunOptions
from tests.runner.conftest import write_specs
from tests.runner.fakes import FakeClock, FakeObjects, FakeVoiceId, MemoryStore

OTHERS = 100_000
"""Ended jobs of other tools in the domain (each page of a full listing holds 100)."""
QUEUED = 10
PAGE = 100
RUNS = 24


class PagedVoiceId(FakeVoiceId):
    """Counts what a full listing costs at Voice ID: one call per page of 100 jobs."""

    pages = 0

    def list_jobs(
        self, kind: JobKind, domain_id: str, status: Any = None, **kw: Any
    ) -> Iterator[ObservedJob]:
        jobs = list(super().list_jobs(kind, domain_id, status, **kw))
        listed = OTHERS + len(self.jobs) if status is None else len(jobs)
        self.pages += max(1, math.ceil(listed / PAGE))
        yield from jobs


def schedule(token_lifetime: float, *, trust_forever: bool = False) -> list[int]:
    """List calls (pages) of each hourly run."""
    clock = FakeClock()
    voiceid = PagedVoiceId(clock, duration=45 * 60)
    with tempfile.TemporaryDirectory() as tmp:
        write_specs(Path(tmp), QUEUED)
        specs = load([Path(tmp)])
    store, objects = MemoryStore(), FakeObjects()
    options = RunOptions(
        token_lifetime=token_lifetime, list_lag_horizon=hold.DEFAULT_LIST_LAG_HORIZON
    )
    original = hold.ListLag.listing_max_age
    if trust_forever:  # the rule before issue 30: a listing is trusted for ever
        hold.ListLag.listing_max_age = property(lambda _self: math.inf)  # type: ignore[assignment,method-assign]
    try:
        calls = []
        for _ in range(RUNS):
            voiceid.pages = 0
            apply(specs, Run(store, voiceid, objects, options, clock))
            calls.append(voiceid.pages)
            clock.advance(3600)
    finally:
        hold.ListLag.listing_max_age = original  # type: ignore[method-assign]
    assert len(voiceid.jobs_per_name()) == QUEUED, "every queued spec started once"
    return calls


def main() -> int:
    rows = [
        ("before (a listing trusted for ever)", schedule(3600, trust_forever=True)),
        ("after, --token-lifetime 3600 (default)", schedule(3600)),
        ("after, --token-lifetime 86400", schedule(86400)),
        ("after, --token-lifetime 0", schedule(0)),
    ]
    print(f"A domain of {OTHERS:,} ended jobs, {QUEUED} queued specs, hourly runs ({RUNS}):")
    print(f"{'':42} {'List calls':>10} {'first 12 runs':>40}")
    for label, calls in rows:
        print(f"{label:42} {sum(calls):>10,} {' '.join(str(c) for c in calls[:12]):>40}")
    base = sum(rows[0][1])
    for label, calls in rows[1:]:
        print(f"ratio {label}: {sum(calls) / base:.1f}x the calls before")
    return 0


if __name__ == "__main__":
    sys.exit(main())
