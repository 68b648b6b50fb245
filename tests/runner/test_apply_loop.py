"""The apply loop and its never-start-twice policy, with in-memory fakes and a fake clock."""

from __future__ import annotations

from reconciler.core.kinds import JobKind
from reconciler.core.plan import ActionKind
from reconciler.core.state import JobRecord
from reconciler.core.times import iso
from reconciler.runner.context import ApplyReport
from reconciler.runner.starts import QUOTA_TAKEN
from tests.runner.conftest import HORIZON, World
from tests.runner.fakes import MemoryStore


def _kinds(report: ApplyReport) -> dict[str, ActionKind]:
    return {a.key: a.kind for a in report.plan.actions}


def test_a_first_ever_deployment_starts_in_its_first_run(world: World) -> None:
    """A fresh state that replaces nothing, in a domain with no job of ours: one full listing,
    then the first start at once (the quota), the rest queued behind it."""
    report = world.apply()
    assert world.voiceid.starts() == 1
    assert [a.name for a in report.started] == ["spec-0"]
    assert not world.store.read().provisional


def test_a_state_replacing_a_lost_one_holds_its_first_listing_then_starts(
    world: World,
) -> None:
    """A fresh state where one was lost lists in full and starts nothing; a horizon later it
    lists again, then starts one job (the quota) and queues the rest; the plan says how long
    is left."""
    world.store.lost = True
    report = world.apply()
    assert world.voiceid.starts() == 0
    assert set(_kinds(report).values()) == {ActionKind.QUEUED}
    assert all("first listing" in a.reason for a in report.plan.actions)
    assert world.store.read().provisional
    world.clock.advance(HORIZON - 1)
    report = world.apply()
    assert all("1s left" in a.reason for a in report.plan.actions)
    assert world.voiceid.starts() == 0  # still inside the horizon: not even listed again
    world.clock.advance(2)
    full = f"List/{JobKind.ENROLLMENT}/all"
    listings = world.voiceid.calls[full]
    report = world.apply()
    assert world.voiceid.calls[full] == listings + 1  # once more, in full
    assert world.voiceid.starts() == 1
    assert [a.name for a in report.started] == ["spec-0"]
    assert not world.store.read().provisional


def _intent(world: World, *, started: bool) -> JobRecord:
    """Leave spec-0's start as an unconfirmed intent written 10 s ago (as a crash after the
    intent was saved leaves it); with ``started``, Voice ID did create the job."""
    report = world.apply(dry_run=True, list_lag_horizon=0.0)
    action = next(a for a in report.plan.starts if a.name == "spec-0")
    assert action.request
    assert action.client_token
    assert action.job_name
    assert action.hash
    if started:
        world.voiceid.start_job(
            action.spec_kind,
            action.request.api_params(client_token=action.client_token, job_name=action.job_name),
        )
    state = world.store.read()
    record = JobRecord(
        hash=action.hash,
        attempt=1,
        client_token=action.client_token,
        job_name=action.job_name,
        domain_id=action.request.domain_id,
        kind=action.spec_kind,
        intent_at=iso(world.clock.time() - 10),
    )
    state.specs[action.key].jobs.append(record)
    world.store.write(state)
    world.voiceid.calls.clear()
    return record


def test_unconfirmed_intent_younger_than_the_horizon_holds_its_slot(world: World) -> None:
    """A start 10 s ago that no listing shows (List lags) holds the slot; once older than the
    horizon, the job is found by listing and never started a second time."""
    world.voiceid.list_lag = 200.0
    world.voiceid.duration = 10_000.0  # the job holds the slot: nothing else may start meanwhile
    _intent(world, started=True)
    report = world.apply()
    assert world.voiceid.starts() == 0
    assert all(a.kind is ActionKind.QUEUED for a in report.plan.actions)
    assert "unconfirmed" in report.plan.actions[0].reason
    assert world.voiceid.calls[f"List/{JobKind.ENROLLMENT}/all"] == 1  # listed in full to find it
    world.clock.advance(HORIZON)
    report = world.apply()
    assert world.voiceid.starts() == 0
    assert len(world.voiceid.jobs) == 1
    (record,) = world.store.read().specs[f"{JobKind.ENROLLMENT}/spec-0"].jobs
    assert record.job_id == world.voiceid.jobs[0].job_id
    assert _kinds(report)[f"{JobKind.ENROLLMENT}/spec-0"] is ActionKind.IN_SYNC


def test_unconfirmed_intent_older_than_the_horizon_is_resumed_with_its_token(world: World) -> None:
    """An intent the horizon has passed, with no job listed, is started again with the same
    ClientToken (so Voice ID would return the job if it had made one)."""
    intent = _intent(world, started=False)
    world.clock.advance(HORIZON)
    report = world.apply()
    assert world.voiceid.starts() == 1
    assert world.voiceid.jobs[0].token == intent.client_token
    assert [a.reason for a in report.started] == [
        "start not confirmed; resumed with the same ClientToken"
    ]


def test_a_quota_refusal_mid_run_queues_the_spec_and_drops_its_intent(world: World) -> None:
    """ServiceQuotaExceeded on Start (a job we cannot see holds the slot): the spec is queued
    for the quota's reason, the slot is shown busy, and no intent is left behind."""
    world.voiceid.refuse_quota = 1
    report = world.apply(list_lag_horizon=0.0)
    key = f"{JobKind.ENROLLMENT}/spec-0"
    assert report.deferred == {key: QUOTA_TAKEN}
    assert not report.started
    queued = {a.key: a.reason for a in report.plan.actions if a.kind is ActionKind.QUEUED}
    assert queued[key] == QUOTA_TAKEN
    assert not [r for r in world.store.read().all_jobs() if r.job_id is None]


def test_wait_gives_up_at_the_timeout_through_the_clock(world: World) -> None:
    """--wait --timeout 60 --poll-interval 15 with a job that runs for hours: four polls of
    the fake clock, then timed out, one job started."""
    world.voiceid.duration = 10_000.0
    report = world.apply(
        list_lag_horizon=0.0,
        wait=True,
        timeout=60.0,
        poll_interval=15.0,
    )
    assert report.timed_out
    assert world.clock.sleeps == [15.0, 15.0, 15.0, 15.0]
    assert world.voiceid.starts() == 1


def test_wait_starts_queued_jobs_as_slots_free_and_reads_their_results(world: World) -> None:
    """Jobs of 30 s, one slot: --wait starts all three in turn, then stops by itself, with each
    job's result counts recorded; a run after that makes no Voice ID call at all."""
    world.voiceid.duration = 30.0
    report = world.apply(list_lag_horizon=0.0, wait=True, poll_interval=15.0)
    assert not report.timed_out
    assert world.voiceid.starts() == 3
    assert len(world.voiceid.jobs) == 3
    state = world.store.read()
    assert all(r.results == {"NEW_ENROLLMENT": 1} for r in state.all_jobs())
    assert set(_kinds(report).values()) == {ActionKind.IN_SYNC}
    world.voiceid.calls.clear()
    world.apply(list_lag_horizon=0.0)
    assert sum(v for k, v in world.voiceid.calls.items() if k != "ListDomains") == 0, (
        world.voiceid.calls
    )


def test_a_rerun_after_a_lost_state_starts_nothing_again(world: World) -> None:
    """Every job exists and the state is lost: a horizon after the fresh state's first
    listing, the jobs are found by the hash in their JobName and no Start call is made."""
    world.voiceid.duration = 1.0
    first = MemoryStore()
    world.apply(store=first, list_lag_horizon=0.0, wait=True)
    assert world.voiceid.starts() == 3
    lost = MemoryStore(lost=True)
    world.clock.advance(HORIZON)
    report = world.apply(store=lost)
    assert world.voiceid.starts() == 3
    assert set(_kinds(report).values()) == {ActionKind.IN_SYNC}


def test_a_manifest_replaced_during_wait_never_starts_under_its_old_hash(world: World) -> None:
    """spec-1 waits behind spec-0; its manifest is replaced meanwhile. Its ETag is read again
    right before its Start: it is not started under the old hash, and the next run starts the
    new content once."""
    world.voiceid.duration = 30.0
    replaced = "s3://bucket/manifests/spec-1.json"
    objects = world.objects
    original = objects.identities

    def identities(uris: object) -> dict[str, str | None]:
        found = original(uris)
        if world.voiceid.starts() >= 1 and replaced in found:
            found[replaced] = "etag-2"  # replaced after the run resolved it
        return found

    objects.identities = identities  # type: ignore[method-assign]
    report = world.apply(list_lag_horizon=0.0, wait=True, poll_interval=15.0)
    key = f"{JobKind.ENROLLMENT}/spec-1"
    assert key in report.blocked
    assert "replaced" in report.blocked[key]
    started = [a.name for a in report.started]
    assert started == ["spec-0", "spec-2"]
    assert not [r for r in world.store.read().all_jobs() if r.job_id is None]
    report = world.apply(list_lag_horizon=0.0, wait=True, poll_interval=15.0)
    assert [a.name for a in report.started] == ["spec-1"]
    assert report.started[0].request is not None
    assert report.started[0].request.manifest_digest == "etag:etag-2"
    assert world.voiceid.starts() == 3


def test_a_job_that_vanished_is_marked_once_not_described_forever(world: World) -> None:
    """A job Voice ID no longer knows (an endpoint restarted) is recorded as FAILED with the
    reason once it is older than the horizon; later runs spend no Describe on it. One younger
    than the horizon may just not be visible yet: it is only warned about."""
    world.voiceid.duration = 10_000.0
    world.apply(list_lag_horizon=0.0)
    assert world.voiceid.starts() == 1
    world.voiceid.jobs.clear()  # vanished
    world.voiceid.calls.clear()
    world.clock.advance(10)
    world.apply()  # 10 s old, horizon 300 s: not yet believed gone
    (record,) = [r for r in world.store.read().all_jobs() if r.job_id]
    assert record.status != "FAILED"
    world.clock.advance(HORIZON)
    world.voiceid.calls.clear()
    report = world.apply()
    (record,) = world.store.read().specs[f"{JobKind.ENROLLMENT}/spec-0"].jobs
    assert record.status == "FAILED"
    assert record.failure is not None
    assert "vanished" in record.failure.message
    assert world.voiceid.calls["Describe"] == 1
    assert report.failed == [f"{JobKind.ENROLLMENT}/spec-0"]  # it ended (badly) in this run
    assert [a.name for a in report.started] == ["spec-1"]  # its slot is free again
    world.voiceid.jobs.clear()  # spec-1's job vanishes too, but is younger than the horizon
    world.voiceid.calls.clear()
    world.apply()
    assert world.voiceid.calls["Describe"] == 1  # spec-1's; none for spec-0's
