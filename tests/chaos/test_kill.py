"""Scenario 1: SIGKILL at random points of ``apply --wait`` (also with a Start in flight and
during the state write), then re-run until converged: never a second job for a spec hash."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from .conftest import Chaos, backend_of, seeded

pytestmark = pytest.mark.chaos

LOCK = ("--lock-ttl", "2", "--lock-timeout", "30")
"""A killed run's S3 lock expires after 2 s, so the next run is not kept waiting for long."""


@seeded("sigkill-random")
def test_sigkill_at_random_moments_then_rerun_converges(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """SIGKILL at random moments of apply --wait, then re-runs: no duplicate, invariants hold."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(
        specs=c.rng.randint(4, 8),
        backend=backend,
        rosters=0.3,
        job_duration=c.rng.uniform(0.1, 0.6),
    )
    c.horizon = c.rng.choice([0.0, 0.0, 1.0])  # now and then the list-lag guard holds starts
    kills = c.rng.randint(1, 2)
    for _ in range(kills):
        c.sandbox.configure(
            latency=c.rng.choice([0.0, 0.01, 0.05]),
            s3_latency=c.rng.choice([0.0, 0.02]) if backend == "s3" else 0.0,
        )
        before = sum(c.sandbox.calls().values())
        process = c.spawn(*c.apply(*LOCK))
        # from the run's first Voice ID call (the interpreter's start-up is not interesting)
        c.wait_until(
            process,
            lambda before=before: sum(c.sandbox.calls().values()) > before,
            deadline=30,
        )
        starts = c.starts()
        time.sleep(c.rng.uniform(0.0, 3.0))
        run = c.kill(process)
        c.record("kill", backend=backend, landed=run.returncode == -9, starts=c.starts() - starts)
        c.check(final=False)
    c.converge()


@seeded("sigkill-start-in-flight")
def test_sigkill_while_a_start_is_in_flight(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """SIGKILL with a Start in flight (or answered, state not yet written): the job is adopted."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(specs=c.rng.randint(4, 8), backend=backend, rosters=0.3, job_duration=0.3)
    latency = c.rng.uniform(0.1, 0.25)
    c.sandbox.configure(latency=latency)
    k = c.rng.randint(1, 3)
    process = c.spawn(*c.apply(*LOCK))
    in_flight = c.wait_until(process, lambda: c.starts() >= k, deadline=60)
    if in_flight:
        time.sleep(c.rng.uniform(0.0, latency + 0.05))
    run = c.kill(process)
    c.record("kill-start-in-flight", backend=backend, in_flight=in_flight, k=k)
    # the trial counts only when its fault fired: k Starts made, and the kill landed mid-run
    assert in_flight, f"{c.tag}: the run never made {k} Start(s)"
    assert run.returncode == -9, f"{c.tag}: the run ended before the kill: {run.describe()}"
    c.wait_for_jobs(k, timeout=2 * latency + 1)  # the Start the kill interrupted lands anyway
    c.check(final=False)
    c.sandbox.configure(latency=latency)  # the next run still sees a slow Voice ID
    c.converge()


@seeded("sigkill-state-write")
def test_sigkill_during_the_state_write(chaos_factory: Callable[[int], Chaos], seed: int) -> None:
    """SIGKILL during the state write after a Start: the state stays whole, the job is adopted."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(specs=c.rng.randint(4, 8), backend=backend, rosters=0.3, job_duration=0.3)
    k = c.rng.randint(1, 3)
    if backend == "s3":
        c.sandbox.configure(s3_latency=0.15)
    process = c.spawn(*c.apply(*LOCK))
    started = c.wait_until(process, lambda: c.starts() >= k, deadline=60)
    during_write = False
    if started and backend == "local":
        temporary = Path(c.state).parent / f".{Path(c.state).name}.{process.pid}.tmp"
        during_write = c.wait_until(process, temporary.exists, deadline=5, spin=True)
    elif started:
        time.sleep(c.rng.uniform(0.0, 0.15))  # the Start is instant; the state PUT is held
        during_write = True
    run = c.kill(process)
    c.record("kill-state-write", backend=backend, started=started, during_write=during_write)
    # the trial counts only when its fault fired: a Start made, and the kill landed mid-run
    assert started, f"{c.tag}: the run never made {k} Start(s)"
    assert run.returncode == -9, f"{c.tag}: the run ended before the kill: {run.describe()}"
    c.check(final=False)
    c.converge()


@seeded("sigkill-journal")
def test_sigkill_with_starts_recorded_only_in_the_journal(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """SIGKILL after k Starts that only the journal holds (the state is rewritten once, at the
    end of the run): the next run replays them and adopts the jobs; never a second one."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(specs=c.rng.randint(4, 8), backend=backend, rosters=0.3, job_duration=0.3)
    latency = c.rng.uniform(0.1, 0.25)
    c.sandbox.configure(latency=latency)  # a slow Voice ID: the run is among its starts a while
    k = c.rng.randint(1, 3)
    process = c.spawn(*c.apply(*LOCK))
    journaled = c.wait_until(
        process,
        lambda: c.starts() >= k and (c.stored(".journal") or b"").count(b"\n") > k,
        deadline=60,
    )
    run = c.kill(process)
    journal = c.stored(".journal")
    c.record("kill-journal", backend=backend, journaled=journaled, k=k)
    # the trial counts only when its fault fired: the kill left Starts held by the journal alone
    assert journaled, f"{c.tag}: the journal never held {k} Start(s)"
    assert run.returncode == -9, f"{c.tag}: the run ended before the kill: {run.describe()}"
    assert journal is not None, f"{c.tag}: no journal left by the killed run"
    c.check(final=False)
    c.calm()
    first = c.cli(*c.apply(*LOCK, timeout=60))
    assert "state.journal_replayed" in first.stderr, first.describe()
    c.converge()
