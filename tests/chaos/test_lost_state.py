"""Scenario 3: a lost state, forgotten ClientTokens and a List that lags behind Start.

The reconciler has three ways to recognise a job it started: the JobId in its state, the
ClientToken (while Voice ID remembers it) and the hash in the JobName (when List shows it).
These trials take them away in combinations, right after a Start, and re-run apply:

* intent on disk + token expired, List in time: the recorded intent forces a full listing,
  which finds the job;
* state lost + List lagging, token alive: the token returns the same job;
* intent on disk + token expired + List lagging: nothing can see the job;
* state lost + token expired + List lagging: nothing can see the job, and no intent says to look.

The answer to the last two is the list-lag horizon: an unconfirmed start younger than it, and a
fresh state's first listing, hold the domain's starts until List has caught up. The re-runs use
the product's default horizon against a List lagging 30 s (well within it).
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .conftest import Chaos, backend_of, seeded

pytestmark = pytest.mark.chaos

LAG = 30.0
"""List lag for the re-run: far longer than the re-run takes, so the job stays invisible."""
HORIZON = 300.0
"""The reconciler's default --list-lag-horizon (the suite runs with 0, a sandbox not lagging)."""


def _lose_the_state(c: Chaos) -> bool:
    """Kill a run right after a Start (or, half the time, let it finish), then delete the
    state; whether the run was killed."""
    killed = c.rng.random() < 0.5
    if killed:
        c.kill_right_after_a_start()
    else:
        _started_and_completed(c)
    c.delete_state()
    return killed


def _started_and_completed(c: Chaos) -> None:
    """A normal apply run whose jobs have all been started (and ended) moments ago."""
    run = c.cli(*c.apply(wait=False))
    assert run.returncode == 0, run.describe()
    time.sleep(0.4)


def _build(c: Chaos, seed: int) -> None:
    c.build(domains=1, specs=c.rng.randint(1, 4), backend=backend_of(seed), job_duration=0.2)


def _rerun_with_lagging_list(c: Chaos) -> None:
    c.sandbox.configure(list_lag=LAG)
    # The product's default guard: a start that may be missing from List waits this long.
    run = c.cli(*c.apply("--list-lag-horizon", str(HORIZON), wait=False))
    assert run.returncode == 0, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    c.record("rerun-with-lag", starts=c.starts(), held="waiting" in run.stdout)
    c.check(final=False)  # (a): no second job, whatever the re-run decided


@seeded("intent-expired-token", ci=1)
def test_unconfirmed_start_with_forgotten_token_is_found_by_listing(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Killed after a Start, tokens forgotten: the intent forces a listing that adopts the job."""
    c = chaos_factory(seed)
    _build(c, seed)
    intent = c.kill_right_after_a_start()
    how = c.forget_tokens()
    c.record("intent-expired-token", intent=intent, forgotten=how)
    run = c.cli(*c.apply(wait=False))
    assert run.returncode == 0, run.describe()
    c.check(final=False)
    c.converge()


@seeded("lost-state-live-token", ci=1)
def test_lost_state_and_lagging_list_with_live_token_starts_no_second_job(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """State lost, List lagging, tokens alive: the repeated Start returns the same job."""
    c = chaos_factory(seed)
    _build(c, seed)
    _lose_the_state(c)
    _rerun_with_lagging_list(c)
    c.converge()


@seeded("intent-expired-token-lag", ci=1)
def test_unconfirmed_start_with_forgotten_token_and_lagging_list_is_not_started_twice(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Intent on disk, token forgotten, job not yet listed: the re-run starts no second job."""
    c = chaos_factory(seed)
    _build(c, seed)
    intent = c.kill_right_after_a_start()
    how = c.forget_tokens()
    c.record("intent-expired-token-lag", intent=intent, forgotten=how)
    _rerun_with_lagging_list(c)
    c.converge()


@seeded("lost-state-expired-token-lag", ci=1)
def test_lost_state_with_forgotten_tokens_and_lagging_list_starts_no_second_job(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """State lost, tokens forgotten, List lagging: the re-run starts no second job for any hash."""
    c = chaos_factory(seed)
    _build(c, seed)
    killed = _lose_the_state(c)
    how = c.forget_tokens()
    c.record("lost-state-expired-token-lag", killed=killed, forgotten=how)
    _rerun_with_lagging_list(c)
    c.converge()
