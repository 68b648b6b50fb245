"""Scenario 5: the world refuses some specs mid-run -- the domain is SUSPENDED, a watchlist
named by specs disappears, the data access role is refused. The affected specs are blocked with
a reason, the others proceed, and ``apply --wait`` still ends (it has nothing left to wait for).
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from .conftest import ENROLLMENT, Chaos, Run, assert_clean_exit, backend_of, seeded

pytestmark = pytest.mark.chaos

WAIT = 15.0
"""apply --wait's --timeout here: the world is small and jobs take 0.3 s, so a run that is
still waiting after this long waits for something that cannot happen (exit 3)."""
REFUSED_ROLE = "arn:aws:iam::123456789012:role/VoiceIdRefused"


def _finish_blocked_run(
    c: Chaos, process_args: tuple[str, ...], trigger: Callable[[], None]
) -> None:
    """Run apply --wait, pull the trigger after a random number of Starts, and expect the run
    to end on its own: exit 0, no traceback."""
    process = c.spawn(*process_args)
    after = c.rng.randint(0, 2)
    c.wait_until(process, lambda: c.starts() >= after, deadline=30)
    trigger()
    run = c.finish(process, timeout=WAIT + 60)
    c.apply_blocked = run.blocked()
    c.record("blocked", after_starts=after, exit=run.returncode, blocked=sorted(c.apply_blocked))
    assert_clean_exit(run, f"{c.tag} triggered after {after} start(s)", allowed=(0,))
    _summary_counts_each_blocked_spec_once(c, run)


def _summary_counts_each_blocked_spec_once(c: Chaos, run: Run) -> None:
    """run.summary's ``blocked`` (and the metric made of it) counts each blocked spec once:
    refused by Voice ID in this run (``Blocked ...`` lines) or blocked in the final plan."""
    in_plan = {
        line.split()[2] for line in run.stdout.splitlines() if line.lstrip().startswith("! blocked")
    }
    distinct = set(c.apply_blocked) | in_plan
    summaries = [
        json.loads(line)
        for line in run.stderr.splitlines()
        if line.startswith("{") and '"run.summary"' in line
    ]
    assert summaries, f"{c.tag}: no run.summary event\n{run.describe()}"
    assert summaries[-1]["blocked"] == len(distinct), (
        f"{c.tag}: run.summary says {summaries[-1]['blocked']} blocked, the run blocked "
        f"{len(distinct)}: {sorted(distinct)}"
    )


def _others_have_jobs(c: Chaos, affected: set[str]) -> None:
    state = c.check(final=False)
    assert state is not None
    without = [
        key
        for key in c.keys
        if key not in affected
        and not (state.specs.get(key) and any(r.job_id for r in state.specs[key].jobs))
    ]
    assert not without, f"{c.tag}: specs outside the refused part got no job: {without}"


@seeded("domain-suspended", ci=1)
def test_domain_suspended_mid_run_blocks_its_specs_and_the_others_proceed(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Domain SUSPENDED mid-run: its specs end blocked, the others get their jobs, exit 0."""
    c = chaos_factory(seed)
    c.build(specs=c.rng.randint(6, 10), backend=backend_of(seed), rosters=0.3, job_duration=0.3)
    target = c.rng.choice(sorted(c.world.domains))
    affected = {s.key for s in c.specs if s.domain == target}
    _finish_blocked_run(
        c,
        c.apply(timeout=WAIT),
        lambda: c.sandbox.set_domain_status(c.domain_id(target), "SUSPENDED"),
    )
    _others_have_jobs(c, affected)
    c.check(final=True, blocked_ok=sorted(affected))  # plan: "domain ... is SUSPENDED"
    c.sandbox.set_domain_status(c.domain_id(target), "ACTIVE")
    c.converge()


@seeded("watchlist-deleted", ci=1)
def test_watchlist_deleted_mid_run_blocks_the_specs_naming_it(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Watchlist named by specs deleted mid-run: those specs blocked, the others proceed."""
    c = chaos_factory(seed)
    c.build(specs=c.rng.randint(6, 10), backend=backend_of(seed), rosters=0.3, job_duration=0.3)
    target = c.rng.choice(sorted(c.world.domains))
    client = c.sandbox.client("voice-id", retries={"total_max_attempts": 1})
    try:
        watchlist_id = client.create_watchlist(DomainId=c.domain_id(target), Name="vip")[
            "Watchlist"
        ]["WatchlistId"]
        candidates = [s for s in c.specs if s.domain == target and s.kind == ENROLLMENT]
        named = c.rng.sample(candidates, c.rng.randint(1, len(candidates)))
        for spec in named:
            spec.watchlist = "vip"
        c.write_specs()
        affected = {s.key for s in named}
        _finish_blocked_run(
            c,
            c.apply(timeout=WAIT),
            lambda: client.delete_watchlist(DomainId=c.domain_id(target), WatchlistId=watchlist_id),
        )
        _others_have_jobs(c, affected)
        c.check(final=True, blocked_ok=sorted(affected))  # plan: "watchlist 'vip' not found"
        client.create_watchlist(DomainId=c.domain_id(target), Name="vip")
    finally:
        client.close()
    c.converge()


@seeded("role-refused", ci=1)
def test_refused_data_access_role_blocks_its_specs_and_the_others_proceed(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Data access role refused: its specs reported blocked (AccessDenied), the others proceed."""
    c = chaos_factory(seed)
    c.build(specs=c.rng.randint(4, 8), backend=backend_of(seed), rosters=0.3, job_duration=0.3)
    refused = c.rng.sample(c.specs, c.rng.randint(1, len(c.specs) // 2))
    for spec in refused:
        spec.role = REFUSED_ROLE
    c.write_specs()
    affected = {s.key for s in refused}
    if c.rng.random() < 0.5:
        c.sandbox.configure(refused_role_arns=[REFUSED_ROLE])
    _finish_blocked_run(
        c,
        c.apply(timeout=WAIT),
        lambda: c.sandbox.configure(refused_role_arns=[REFUSED_ROLE]),
    )
    _others_have_jobs(c, affected)
    state = c.check(final=False)
    assert state is not None
    refused_without_job = {
        key
        for key in affected
        if not (state.specs.get(key) and any(r.job_id for r in state.specs[key].jobs))
    }
    unreported = [
        k for k in refused_without_job if "AccessDenied" not in c.apply_blocked.get(k, "")
    ]
    assert not unreported, f"{c.tag}: refused specs not reported blocked: {unreported}"
    c.check(final=True, blocked_ok=sorted(refused_without_job))
    c.sandbox.configure(refused_role_arns=[])
    c.converge()
