"""Scenario 4: throttling storms, 5xx bursts, connection resets, lost responses and latency
spikes (Voice ID, and S3 for the state and staged manifests) while ``apply --wait`` runs."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from .conftest import CALM, Chaos, assert_clean_exit, backend_of, seeded

pytestmark = pytest.mark.chaos

VOICEID_PHASES: list[tuple[str, dict[str, Any], tuple[float, float]]] = [
    ("throttle 50%", {"throttle_error_rate": 0.5}, (1.0, 3.0)),
    ("throttle 90%", {"throttle_error_rate": 0.9}, (0.5, 2.0)),
    ("5xx burst", {"internal_error_rate": 1.0}, (0.2, 0.8)),
    ("5xx 50%", {"internal_error_rate": 0.5}, (0.5, 1.5)),
    ("connection resets", {"connection_reset_rate": 0.4}, (0.5, 1.5)),
    ("lost responses", {"lost_response_rate": 0.3}, (0.5, 1.5)),
    ("latency spike", {"latency": 0.8}, (0.5, 1.5)),
]
S3_PHASES: list[tuple[str, dict[str, Any], tuple[float, float]]] = [
    ("S3 5xx burst", {"s3_internal_error_rate": 0.7}, (0.3, 1.0)),
    ("S3 connection resets", {"s3_connection_reset_rate": 0.4}, (0.5, 1.5)),
    ("S3 lost responses", {"s3_lost_response_rate": 0.3}, (0.3, 1.0)),
    ("S3 latency spike", {"s3_latency": 0.5}, (0.5, 1.5)),
]


@contextmanager
def storm(c: Chaos, phases: list[tuple[str, dict[str, Any], float]]) -> Iterator[None]:
    """Play ``phases`` (knobs, seconds) in a background thread, calm between and after them."""
    stop = threading.Event()

    def play() -> None:
        for _name, knobs, seconds in phases:
            c.sandbox.configure(**knobs)
            if stop.wait(seconds):
                break
            c.sandbox.configure(**CALM)
            if stop.wait(c.rng.uniform(0.0, 0.5)):
                break
        c.sandbox.configure(**CALM)

    thread = threading.Thread(target=play, name=f"storm-{c.seed}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=10)
        c.sandbox.configure(**CALM)


def _schedule(c: Chaos, backend: str) -> list[tuple[str, dict[str, Any], float]]:
    menu = VOICEID_PHASES + S3_PHASES  # staged rosters use S3 with a local state too
    picked = [c.rng.choice(menu) for _ in range(c.rng.randint(2, 4))]
    if backend == "s3" and not any(name.startswith("S3") for name, _, _ in picked):
        picked.append(c.rng.choice(S3_PHASES))
    return [(name, knobs, c.rng.uniform(*span)) for name, knobs, span in picked]


@seeded("fault-storms", ci=2)
def test_fault_storms_converge_or_stop_with_one_clear_line(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Fault storms during apply --wait: it converges, or exits 1 with one line, no traceback."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(
        specs=c.rng.randint(4, 8),
        backend=backend,
        rosters=0.4,
        job_duration=c.rng.uniform(0.2, 0.6),
    )
    c.sandbox.configure(seed=seed)
    phases = _schedule(c, backend)
    tps = c.rng.choice(["0", "0", "5"])
    with storm(c, phases):
        run = c.cli(*c.apply("--tps", tps, "--lock-ttl", "10", "--lock-timeout", "30"))
    c.record(
        "storm",
        backend=backend,
        phases=[name for name, _, _ in phases],
        exit=run.returncode,
        error=(run.problem_lines or [""])[-1] if run.returncode else "",
    )
    assert_clean_exit(run, c.tag + f" phases={[p[0] for p in phases]}")
    c.check(final=False)
    c.converge()


PERMANENT: list[tuple[str, dict[str, Any]]] = [
    ("Voice ID 5xx", {"internal_error_rate": 1.0}),
    ("Voice ID connection resets", {"connection_reset_rate": 1.0}),
    ("S3 5xx", {"s3_internal_error_rate": 1.0}),
    ("S3 connection resets", {"s3_connection_reset_rate": 1.0}),
    ("S3 lost responses", {"s3_lost_response_rate": 1.0}),
]


@seeded("storm-outlasts-retries", ci=1)
def test_storm_that_outlasts_the_retries_stops_with_one_clear_line(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """A fault that never stops: apply exits 1 with one line (or finishes), never a traceback."""
    c = chaos_factory(seed)
    backend = backend_of(seed)
    c.build(specs=c.rng.randint(4, 8), backend=backend, rosters=0.4, job_duration=0.5)
    name, knobs = c.rng.choice(PERMANENT)
    process = c.spawn(*c.apply("--lock-ttl", "5", "--lock-timeout", "30", timeout=45))
    first = c.rng.randint(0, 3)
    c.wait_until(process, lambda: c.starts() >= first, deadline=30)
    c.sandbox.configure(**knobs)
    run = c.finish(process, timeout=300)
    c.calm()
    c.record(
        "storm-permanent",
        backend=backend,
        fault=name,
        after_starts=first,
        exit=run.returncode,
        error=(run.problem_lines or [""])[-1],
    )
    # Exit 1 and one line once the retries are spent; exit 0 when the run needs no more of
    # what fails (S3 down, a local state, nothing left to stage); never exit 3: the run must
    # not wait out --timeout on a start it keeps failing to make.
    assert_clean_exit(run, f"{c.tag} fault={name} after {first} start(s)")
    c.check(final=False)
    c.converge()


# --- S3 faults aimed at one request of the state store ------------------------------------------

AIMED: dict[str, tuple[str, dict[str, Any], bool]] = {
    # case: (request pattern, knobs, a calm run first so that the state and its backup exist)
    "lost answer to the lock's creation": (
        r"^PUT {key}\.lock$",
        {"s3_lost_response_rate": 1.0, "s3_fault_limit": 1},
        False,
    ),
    "lost answer to the state write": (
        r"^PUT {key}$",
        {"s3_lost_response_rate": 1.0, "s3_fault_limit": 1},
        True,
    ),
    "lost answer to the first state write": (
        r"^PUT {key}$",
        {"s3_lost_response_rate": 1.0, "s3_fault_limit": 1},
        False,
    ),
    "5xx on the backup write": (r"^PUT {key}\.backup$", {"s3_internal_error_rate": 1.0}, True),
    "resets on the lock release": (
        r"^DELETE {key}\.lock$",
        {"s3_connection_reset_rate": 1.0},
        False,
    ),
    "5xx on the lock release": (r"^DELETE {key}\.lock$", {"s3_internal_error_rate": 1.0}, False),
}


@pytest.mark.parametrize("case", sorted(AIMED))
def test_aimed_s3_fault_on_the_state_store_is_survived(
    chaos_factory: Callable[[int], Chaos], case: str
) -> None:
    """One failed or unanswered S3 request of the state store: the run still succeeds, exit 0."""
    c = chaos_factory(0).build(specs=4, backend="s3", job_duration=0.2)
    pattern, knobs, calm_first = AIMED[case]
    # A lock left behind by a failed release expires soon; a run waiting for its own lock
    # (a lost answer to its creation) would wait out --lock-timeout and exit 4.
    ttl = "3" if "release" in case else "30"
    lock = ("--lock-ttl", ttl, "--lock-timeout", "8")
    if calm_first:
        first = c.cli(*c.apply(*lock, wait=False))
        assert first.returncode == 0, first.describe()
    key = re.escape(c.state.removeprefix("s3://").join(["/", ""]))
    c.sandbox.configure(s3_fault_filter=pattern.format(key=key), **knobs)
    run = c.cli(*c.apply(*lock, wait=False))
    faults = [r for r in c.sandbox.s3_requests() if r["outcome"] in ("reset", "lost", "500")]
    c.calm()
    c.record("aimed-s3", case=case, exit=run.returncode, faults=len(faults))
    assert faults, f"{c.tag}: the fault never fired ({pattern})"
    assert_clean_exit(run, f"{c.tag} {case}", allowed=(0,))
    holder = c.sandbox.client("s3")
    try:
        bucket, _, name = c.state.removeprefix("s3://").partition("/")
        left = holder.list_objects_v2(Bucket=bucket, Prefix=name + ".lock").get("KeyCount", 0)
    finally:
        holder.close()
    assert not left or "release" in case, f"{c.tag} {case}: the run left its lock behind"
    c.converge()


def test_heartbeat_failures_do_not_crash_the_run(chaos_factory: Callable[[int], Chaos]) -> None:
    """Every S3 lock heartbeat fails during a long run: it finishes, no thread traceback."""
    c = chaos_factory(0).build(specs=4, backend="s3", job_duration=1.5)
    process = c.spawn(*c.apply("--lock-ttl", "1.5", "--lock-timeout", "30"))
    bucket, _, name = c.state.removeprefix("s3://").partition("/")
    lock_put = re.escape(f"/{bucket}/{name}.lock")
    assert c.wait_until(process, lambda: c.starts() >= 1, deadline=30), c.tag
    c.sandbox.configure(
        s3_fault_filter=f"^PUT {lock_put}$", s3_connection_reset_rate=1.0, s3_fault_limit=0
    )
    run = c.finish(process, timeout=120)
    c.calm()
    resets = [r for r in c.sandbox.s3_requests() if r["outcome"] == "reset"]
    assert resets, f"{c.tag}: no heartbeat was reset"
    assert "Exception in thread" not in run.stderr, run.describe()
    assert_clean_exit(run, c.tag)
    c.converge()


def test_results_unreadable_in_a_5xx_burst_are_read_by_a_later_run(
    chaos_factory: Callable[[int], Chaos],
) -> None:
    """Output files unreadable (S3 5xx) as jobs end: a later run still records their results."""
    c = chaos_factory(0).build(specs=4, job_duration=0.3)
    output = re.escape(f"/{c.world.bucket}/output/")
    c.sandbox.configure(s3_fault_filter=f"^GET {output}", s3_internal_error_rate=1.0)
    run = c.cli(*c.apply())
    c.calm()
    assert_clean_exit(run, c.tag, allowed=(0,))
    again = c.cli(*c.apply())
    assert again.returncode == 0, again.describe()
    state = c.check(final=True)
    assert state is not None
    missing = {
        key: record.results
        for key, entry in state.specs.items()
        for record in entry.jobs
        if record.status == "COMPLETED" and not record.results
    }
    assert not missing, f"{c.tag}: jobs left without result counts: {missing}"
