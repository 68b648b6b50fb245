"""The operating model in the apply loop: review approves intents, the schedule starts only
approved ones, the lock is held per poll, retired specs are forgotten, a timeout is progress.

Each test runs the real apply loop against the in-memory fakes (a clock that moves only when
the run sleeps): the rules, not the wire.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from reconciler.cli.exits import EXIT_OK, EXIT_TIMEOUT, verdict
from reconciler.core.errors import PlanChecksumMismatch
from reconciler.core.loading import load
from reconciler.core.plan import ActionKind
from reconciler.runner.apply import apply
from reconciler.runner.context import ApplyReport, Run, RunOptions
from tests.runner.conftest import HORIZON, World, write_specs
from tests.runner.fakes import FakeClock, MemoryStore


def _apply(world: World, **options: Any) -> ApplyReport:
    return world.apply(list_lag_horizon=0.0, **options)


def _kinds(report: ApplyReport) -> dict[str, ActionKind]:
    return {a.name: a.kind for a in report.plan.actions}


def _review_checksum(world: World) -> str:
    """The checksum of the plan a pull request shows (a dry run: nothing approved)."""
    plan = _apply(world, dry_run=True).plan
    return plan.checksum()


def test_a_reviewed_plan_approves_every_intent_and_a_rerun_of_its_apply_succeeds(
    world: World,
) -> None:
    """Three specs, one slot: the merge's apply starts one and queues two (approved); the same
    apply run again succeeds (no exit 6) and starts the next when the slot frees; the
    schedule (--require-approval) starts the last. Every reviewed intent starts once."""
    checksum = _review_checksum(world)
    first = _apply(world, plan_checksum=checksum)
    assert [a.name for a in first.started] == ["spec-0"]
    assert sorted(first.approved) == [f"SpeakerEnrollmentJob/spec-{i}" for i in range(3)]
    again = _apply(world, plan_checksum=checksum)  # the re-run, while the slot is taken
    assert not again.started
    assert _kinds(again)["spec-1"] is ActionKind.QUEUED
    world.clock.advance(61)
    rerun = _apply(world, plan_checksum=checksum)
    assert [a.name for a in rerun.started] == ["spec-1"]
    world.clock.advance(61)
    schedule = _apply(world, require_approval=True)
    assert [a.name for a in schedule.started] == ["spec-2"]
    assert world.voiceid.starts() == 3


def test_the_schedule_holds_what_no_review_approved_and_does_not_fail(
    world: World, tmp_path: Path
) -> None:
    """A spec added on main without review, and a reviewed spec changed afterwards, wait as
    awaiting-review with their reasons; nothing of theirs starts; the run raises nothing."""
    world.voiceid.max_active = 3
    checksum = _review_checksum(world)
    _apply(world, plan_checksum=checksum, max_active=3)
    assert world.voiceid.starts() == 3
    world.clock.advance(61)
    specs = write_specs(tmp_path / "more", 4)
    changed = tmp_path / "more" / "spec-0.yaml"
    changed.write_text(changed.read_text() + "  revision: 1\n")
    world.specs = load([tmp_path / "more"])
    report = _apply(world, require_approval=True, max_active=3)
    assert len(specs) == 4
    assert not report.started
    held = {a.name: a for a in report.plan.actions if a.kind is ActionKind.AWAITING_REVIEW}
    assert sorted(held) == ["spec-0", "spec-3"]
    assert held["spec-0"].code == "changed-since-review"
    assert "revision 0 -> 1" in held["spec-0"].reason
    assert held["spec-3"].code == "not-reviewed"
    assert [a.name for a in report.plan.problems(["awaiting-review"])] == ["spec-0", "spec-3"]
    assert verdict(report) == EXIT_OK


def test_a_checksum_that_covers_something_else_starts_nothing_new(world: World) -> None:
    """A checksum that is neither the review set now nor a review applied before: exit 6
    (PlanChecksumMismatch), naming what awaits review, and no Start."""
    with pytest.raises(PlanChecksumMismatch, match="awaiting review now: SpeakerEnrollmentJob/"):
        _apply(world, plan_checksum="0" * 16)
    assert world.voiceid.starts() == 0


def test_retries_within_the_reviewed_max_attempts_are_approved(
    world: World, tmp_path: Path
) -> None:
    """The review of a spec with maxAttempts 2 approves attempts 1 and 2: the schedule retries
    its FAILED first attempt; once maxAttempts is raised on main without review, the third
    attempt awaits review (attempts beyond the review), and nothing starts it."""
    spec = tmp_path / "specs" / "spec-0.yaml"
    spec.write_text(spec.read_text() + "  maxAttempts: 2\n")
    for other in ("spec-1", "spec-2"):
        (tmp_path / "specs" / f"{other}.yaml").unlink()
    world.specs = load([tmp_path / "specs"])
    world.voiceid.failing.add("spec-0")
    plan = _apply(world, dry_run=True).plan
    assert [(i.key, i.attempts) for i in plan.intent()] == [("SpeakerEnrollmentJob/spec-0", 2)]
    _apply(world, plan_checksum=plan.checksum())
    world.clock.advance(61)
    retry = _apply(world, require_approval=True)
    assert [(a.name, a.attempt) for a in retry.started] == [("spec-0", 2)]
    world.clock.advance(61)
    spec.write_text(spec.read_text().replace("maxAttempts: 2", "maxAttempts: 3"))
    world.specs = load([tmp_path / "specs"])
    held = _apply(world, require_approval=True)
    assert not held.started
    (action,) = held.plan.actions
    assert (action.kind, action.code, action.attempt) == (
        ActionKind.AWAITING_REVIEW,
        "attempts-beyond-review",
        3,
    )
    assert world.voiceid.starts() == 2


def test_the_lock_is_not_held_while_wait_sleeps(world: World, clock: FakeClock) -> None:
    """apply --wait sleeps between polls without the state lock (another run may take it)."""
    held_while_sleeping: list[bool] = []
    sleep = clock.sleep

    def watching(seconds: float) -> None:
        held_while_sleeping.append(world.store.holding)
        sleep(seconds)

    clock.sleep = watching  # type: ignore[method-assign]
    report = _apply(world, wait=True, poll_interval=30.0)
    assert len(held_while_sleeping) >= 4  # three jobs of 60 s, one after another
    assert not any(held_while_sleeping)
    assert world.voiceid.starts() == 3
    assert all(a.kind is ActionKind.IN_SYNC for a in report.plan.actions)


def test_a_run_between_polls_is_seen_by_the_next_poll(world: World, clock: FakeClock) -> None:
    """What another run writes between two polls (here: it started spec-1 itself) is the
    waiting run's truth at its next poll: the job is in sync, never started a second time."""
    other = Run(world.store, world.voiceid, world.objects, RunOptions(list_lag_horizon=0.0), clock)
    sleep = clock.sleep
    interleaved: list[int] = []

    def other_run_meanwhile(seconds: float) -> None:
        sleep(seconds)
        if not interleaved:
            interleaved.append(len(apply(world.specs, other).started))

    clock.sleep = other_run_meanwhile  # type: ignore[method-assign]
    _apply(world, wait=True, poll_interval=61.0)
    assert interleaved == [1]  # the other run started the next spec
    assert world.voiceid.starts() == 3  # and nobody started it again


def test_a_timeout_with_jobs_progressing_is_a_success_unless_asked(world: World) -> None:
    """--wait --timeout that ends with jobs running: timed out, exit 0; exit 3 only with
    --fail-on-timeout."""
    world.voiceid.duration = 10_000.0
    report = _apply(world, wait=True, timeout=60.0, poll_interval=15.0)
    assert report.timed_out
    assert verdict(report) == EXIT_OK
    assert verdict(report, fail_on_timeout=True) == EXIT_TIMEOUT


def test_apply_forgets_a_removed_spec_whose_job_ended(world: World, tmp_path: Path) -> None:
    """Retiring is declarative: delete the spec of an ended job, and apply forgets its entry
    (a tombstone remains); a removed spec whose job still runs stays, orphaned."""
    world.voiceid.max_active = 3
    _apply(world, max_active=3)
    world.clock.advance(61)
    _apply(world, max_active=3)
    (tmp_path / "specs" / "spec-2.yaml").unlink()
    world.specs = load([tmp_path / "specs"])
    report = _apply(world, max_active=3)
    assert report.retired == ["SpeakerEnrollmentJob/spec-2"]
    state = world.store.read()
    assert "SpeakerEnrollmentJob/spec-2" not in state.specs
    assert [r.job_name.startswith("spec-2-") for r in state.removed] == [True]
    after = _apply(world, max_active=3)
    assert "spec-2" not in _kinds(after)  # forgotten: not shown again
    assert world.voiceid.starts() == 3


def test_a_removed_spec_whose_job_runs_is_orphaned_and_kept(world: World, tmp_path: Path) -> None:
    world.voiceid.duration = 10_000.0
    _apply(world)
    (tmp_path / "specs" / "spec-0.yaml").unlink()
    world.specs = load([tmp_path / "specs"])
    report = _apply(world)
    assert _kinds(report)["spec-0"] is ActionKind.ORPHANED
    assert not report.retired
    assert "SpeakerEnrollmentJob/spec-0" in world.store.read().specs


def test_equal_priorities_are_served_in_the_order_they_were_approved(
    world: World, tmp_path: Path
) -> None:
    """A spec approved later does not jump ahead of one already waiting, whatever its name."""
    world.voiceid.duration = 10_000.0
    late = tmp_path / "specs" / "spec-0.yaml"
    text = late.read_text()
    late.unlink()
    world.specs = load([tmp_path / "specs"])
    _apply(world)  # spec-1 starts; spec-2 waits (approved now)
    world.clock.advance(5)
    late.write_text(text)  # spec-0 arrives later, and sorts first by name
    world.specs = load([tmp_path / "specs"])
    report = _apply(world)
    queued = {a.name: a for a in report.plan.actions if a.kind is ActionKind.QUEUED}
    assert queued["spec-2"].code == "domain-busy"  # first in line
    assert queued["spec-0"].reason == "waiting behind spec-2"


def test_a_memory_store_lock_is_taken_once_per_poll(world: World) -> None:
    """The lock is taken for each poll and given back (the fake refuses re-entry)."""
    store = MemoryStore()
    report = world.apply(store, list_lag_horizon=HORIZON, dry_run=True)
    assert not store.holding
    assert report.plan.actions


def test_a_timeout_shorter_than_the_poll_interval_ends_the_wait_on_time(world: World) -> None:
    """--timeout 60 with --poll-interval 3600: the wait sleeps 60 s, not an hour."""
    world.voiceid.duration = 10_000.0
    report = _apply(world, wait=True, timeout=60.0, poll_interval=3600.0)
    assert report.timed_out
    assert world.clock.sleeps == [60.0]
