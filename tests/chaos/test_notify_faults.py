"""Scenario 9: notifications under fire — kills, concurrent runs and failing sinks.

Two webhook sinks, one healthy and one that answers 500 on a seeded schedule (never more than
``MAX_ATTEMPTS - 1`` deliveries in a row, so nothing is given up), see a few rounds of
``apply --wait`` runs, some SIGKILLed at a random moment, some two at a time on one state.
Then the faults stop and one run settles everything. Every event (each job's ``started`` and
``ended``) must have reached each sink at least once, and more than once only for a message
that was in flight when a run was killed: duplicates never exceed the kills (and with no kill,
there are none). Half the seeds keep the default ``--notify-interval`` (60 s, longer than any
run), so every poll after a run's first delivery is held: after each round no run of which was
killed, the healthy sink has been told every event the written state holds (a run's events
are complete at its end). Each trial asserts its faults fired: the flaky sink refused a
delivery and (when the trial kills) a run died mid-flight.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from reconciler.core import events as ev
from reconciler.core.events import MAX_ATTEMPTS
from reconciler.core.statefile import parse_state
from tests.support import Receiver

from .conftest import Chaos, Run, backend_of, seeded

pytestmark = pytest.mark.chaos


def _refusals(rng_bits: list[bool]) -> Callable[[int], bool]:
    """A failure schedule from seeded bits, with at most MAX_ATTEMPTS - 1 failures in a row."""

    def fails(index: int) -> bool:
        if index >= len(rng_bits):
            return False
        run = 0
        for i in range(index, -1, -1):
            if not rng_bits[i]:
                break
            run += 1
        return run < MAX_ATTEMPTS and rng_bits[index]

    return fails


@seeded("notify-under-fire")
def test_every_event_reaches_every_sink_and_only_kills_repeat_one(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    c = chaos_factory(seed)
    c.build(
        specs=c.rng.randint(3, 6), backend=backend_of(seed), job_duration=c.rng.uniform(0.1, 0.4)
    )
    healthy, flaky = Receiver(), Receiver()
    flaky.fails = _refusals([True] + [c.rng.random() < 0.6 for _ in range(6)])
    interval = "0" if seed % 4 < 2 else "60"  # not from c.rng: the seeds' trials stay as they were
    try:
        notify = ("--notify-on", "all", "--notify-interval", interval)
        notify += ("--lock-ttl", "2", "--lock-timeout", "60")  # a killed run's S3 lock expires
        notify += ("--notify", f"json://127.0.0.1:{healthy.port}/a")
        notify += ("--notify", f"json://127.0.0.1:{flaky.port}/b")
        kills = 0
        killing = c.rng.random() < 0.7
        rounds = c.rng.randint(3, 5)
        for round_ in range(rounds):
            shape = c.rng.choice(["kill", "pair", "one"] if killing else ["pair", "one"])
            if round_ == rounds - 1:
                shape = c.rng.choice(["pair", "one"])  # one delivery at least meets the faults
            killed = False
            runs = []
            if shape == "kill" or (killing and round_ == 0):
                process = c.spawn(*c.apply(*notify))
                time.sleep(c.rng.uniform(0.05, 1.2))
                if process.poll() is None:
                    c.kill(process)
                    kills += 1
                    killed = True
                else:
                    runs.append(c.finish(process))
            elif shape == "pair":
                pair = [c.spawn(*c.apply(*notify)) for _ in range(2)]
                runs += [c.finish(process) for process in pair]
            else:
                runs.append(c.finish(c.spawn(*c.apply(*notify))))
            c.check(final=False)
            if not killed and all(run.returncode == 0 for run in runs):
                # a run that stopped with an error (exit 1) may leave events for the next run
                _told_by_the_end(c, healthy, runs)
        flaky.fails = None  # the faults stop: the next runs settle everything
        for _ in range(2):
            run = c.cli(*c.apply(*notify))
            assert run.returncode == 0, run.describe()
        c.check()
        refused = sum(1 for r in flaky.requests if r["status"] >= 300)
        assert refused, "the flaky sink never refused a delivery: the test proves nothing"
        if killing:
            assert kills, "no run was killed mid-flight: the test proves nothing"
        c.record("notify.faults", refused=refused, kills=kills)
        expected = set()
        for job in c.jobs():
            expected.add(f"started/{job['JobId']}")
            expected.add(f"ended/{job['JobId']}/{job['JobStatus']}")
        for name, sink in (("healthy", healthy), ("flaky", flaky)):
            seen: set[str] = set()
            repeated = []  # messages that told the sink something it had been told
            for payload in sink.payloads(accepted_only=True):
                ids = [e["id"] for e in payload["events"]]
                if seen.intersection(ids):
                    repeated.append(sorted(seen.intersection(ids)))
                seen.update(ids)
            missing = expected - seen
            assert not missing, f"{c.tag}: {name} sink never got {sorted(missing)}"
            assert len(repeated) <= kills, (
                f"{c.tag}: {name} sink got {len(repeated)} repeating messages with {kills} "
                f"kills: {repeated}"
            )
    finally:
        healthy.close()
        flaky.close()


def _told_by_the_end(c: Chaos, sink: Receiver, runs: list[Run]) -> None:
    """Every event the state written by the round's runs holds reached the (healthy) sink by
    the end of those runs (each ended with exit 0): none was left held for a later run."""
    text = c.state_text()
    if text is None:
        return
    expected = {e.id for e in ev.derive(parse_state(text, c.state), None)}
    told = {e["id"] for p in sink.payloads(accepted_only=True) for e in p["events"]}
    assert expected <= told, (
        f"{c.tag}: held past the end of its run: {sorted(expected - told)}\n"
        + "\n".join(run.describe() for run in runs)
    )
