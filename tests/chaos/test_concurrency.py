"""Scenario 2: two to four CLI runs at once on one state (local file or S3 object)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from .conftest import FAST, Chaos, backend_of, seeded

pytestmark = pytest.mark.chaos


@seeded("concurrent-applies")
def test_concurrent_runs_on_one_state_never_duplicate(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """2-4 CLI runs at once on one local or S3 state: all exit 0, no duplicate, all recorded."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(
        specs=c.rng.randint(4, 10),
        backend=backend,
        rosters=0.3,
        job_duration=c.rng.uniform(0.1, 0.5),
    )
    c.sandbox.configure(latency=c.rng.choice([0.0, 0.01, 0.03]))
    c.horizon = c.rng.choice([0.0, 0.0, 1.0])  # now and then the list-lag guard holds starts
    lock = ("--lock-timeout", "90")
    variants = {
        "apply --wait": c.apply(*lock),
        "apply": c.apply(*lock, wait=False),
        "apply --max-starts 1": c.apply(*lock, "--max-starts", "1", wait=False),
    }
    chosen = ["apply --wait"] + [c.rng.choice(list(variants)) for _ in range(c.rng.randint(1, 3))]
    c.rng.shuffle(chosen)
    extras = []
    if c.rng.random() < 0.5:
        extras.append(c.args("status", "--refresh", *FAST[:2], *lock))
    if c.rng.random() < 0.5:
        extras.append(c.args("plan", "--format", "json", *FAST[:2]))
    processes = []
    for args in [variants[name] for name in chosen] + extras:
        processes.append(c.spawn(*args))
        time.sleep(c.rng.uniform(0.0, 0.3))
    runs = [c.finish(p, timeout=180) for p in processes]
    c.record("concurrent", backend=backend, runs=chosen, extras=len(extras))
    for run in runs:
        assert run.returncode == 0, f"{c.tag}: a concurrent run failed\n{run.describe()}"
        assert "Traceback" not in run.stderr, run.describe()
    c.check(final=True)


@seeded("concurrent-split-state", ci=1)
def test_concurrent_runs_with_separate_states_never_duplicate(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Racing runs with separate states (no lock between them): tokens keep one job per hash."""
    c = chaos_factory(seed)
    c.build(specs=c.rng.randint(4, 8), rosters=0.3, job_duration=c.rng.uniform(0.1, 0.4))
    c.sandbox.configure(latency=c.rng.choice([0.0, 0.01, 0.03]))
    first, second = c.state, c.state.replace("state.json", "other-state.json")
    processes = [c.spawn(*c.apply())]
    time.sleep(c.rng.uniform(0.0, 0.3))
    c.state = second
    processes.append(c.spawn(*c.apply()))
    runs = [c.finish(p) for p in processes]
    for run in runs:
        assert run.returncode == 0, f"{c.tag}: a racing run failed\n{run.describe()}"
    c.check(final=True)
    c.state = first
    c.check(final=True)
