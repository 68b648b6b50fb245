"""The apply loop and its never-start-twice policy, with in-memory fakes and a fake clock."""

from __future__ import annotations

from reconciler.core.kinds import JobKind
from reconciler.core.plan import ActionKind
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import JobRecord
from reconciler.core.times import iso
from reconciler.runner.apply import apply
from reconciler.runner.context import ApplyReport, Run, RunOptions
from reconciler.runner.starts import QUOTA_TAKEN
from tests.runner.fakes import FakeClock, FakeObjects, FakeVoiceId, MemoryStore

HORIZON = 300.0


def _apply(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
    **options: object,
) -> ApplyReport:
    opts = RunOptions(**{"list_lag_horizon": HORIZON, **options})  # type: ignore[arg-type]
    return apply(specs, Run(store, voiceid, objects, opts, clock))


def _kinds(report: ApplyReport) -> dict[str, ActionKind]:
    return {a.key: a.kind for a in report.plan.actions}


def test_fresh_state_holds_its_first_listing_then_starts_after_the_horizon(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """A fresh state lists in full and starts nothing; a horizon later it lists again, then
    starts one job (the quota) and queues the rest."""
    report = _apply(specs, store, voiceid, objects, clock)
    assert voiceid.starts() == 0
    assert set(_kinds(report).values()) == {ActionKind.QUEUED}
    assert all("first listing" in a.reason for a in report.plan.actions)
    assert store.read().provisional
    clock.advance(HORIZON - 1)
    _apply(specs, store, voiceid, objects, clock)
    assert voiceid.starts() == 0  # still inside the horizon: not even listed again
    clock.advance(2)
    listings = voiceid.calls[f"List/{JobKind.ENROLLMENT}/all"]
    report = _apply(specs, store, voiceid, objects, clock)
    assert voiceid.calls[f"List/{JobKind.ENROLLMENT}/all"] == listings + 1  # once more, in full
    assert voiceid.starts() == 1
    assert [a.name for a in report.started] == ["spec-0"]
    assert not store.read().provisional


def _intent(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
    *,
    started: bool,
) -> JobRecord:
    """Leave spec-0's start as an unconfirmed intent written 10 s ago (as a crash after the
    intent was saved leaves it); with ``started``, Voice ID did create the job."""
    report = _apply(specs, store, voiceid, objects, clock, dry_run=True, list_lag_horizon=0.0)
    action = next(a for a in report.plan.starts if a.name == "spec-0")
    assert action.request
    assert action.client_token
    assert action.job_name
    assert action.hash
    if started:
        voiceid.start_job(
            action.spec_kind,
            action.request.api_params(client_token=action.client_token, job_name=action.job_name),
        )
    state = store.read()
    record = JobRecord(
        hash=action.hash,
        attempt=1,
        client_token=action.client_token,
        job_name=action.job_name,
        domain_id=action.request.domain_id,
        kind=action.spec_kind,
        intent_at=iso(clock.time() - 10),
    )
    state.specs[action.key].jobs.append(record)
    store.write(state)
    voiceid.calls.clear()
    return record


def test_unconfirmed_intent_younger_than_the_horizon_holds_its_slot(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """A start 10 s ago that no listing shows (List lags) holds the slot; once older than the
    horizon, the job is found by listing and never started a second time."""
    voiceid.list_lag = 200.0
    voiceid.duration = 10_000.0  # the job holds the slot: nothing else may start meanwhile
    _intent(specs, store, voiceid, objects, clock, started=True)
    report = _apply(specs, store, voiceid, objects, clock)
    assert voiceid.starts() == 0
    assert all(a.kind is ActionKind.QUEUED for a in report.plan.actions)
    assert "unconfirmed" in report.plan.actions[0].reason
    assert voiceid.calls[f"List/{JobKind.ENROLLMENT}/all"] == 1  # listed in full to find it
    clock.advance(HORIZON)
    report = _apply(specs, store, voiceid, objects, clock)
    assert voiceid.starts() == 0
    assert len(voiceid.jobs) == 1
    (record,) = store.read().specs[f"{JobKind.ENROLLMENT}/spec-0"].jobs
    assert record.job_id == voiceid.jobs[0].job_id
    assert _kinds(report)[f"{JobKind.ENROLLMENT}/spec-0"] is ActionKind.IN_SYNC


def test_unconfirmed_intent_older_than_the_horizon_is_resumed_with_its_token(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """An intent the horizon has passed, with no job listed, is started again with the same
    ClientToken (so Voice ID would return the job if it had made one)."""
    intent = _intent(specs, store, voiceid, objects, clock, started=False)
    clock.advance(HORIZON)
    report = _apply(specs, store, voiceid, objects, clock)
    assert voiceid.starts() == 1
    assert voiceid.jobs[0].token == intent.client_token
    assert [a.reason for a in report.started] == [
        "start not confirmed; resumed with the same ClientToken"
    ]


def test_a_quota_refusal_mid_run_queues_the_spec_and_drops_its_intent(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """ServiceQuotaExceeded on Start (a job we cannot see holds the slot): the spec is queued
    for the quota's reason, the slot is shown busy, and no intent is left behind."""
    voiceid.refuse_quota = 1
    report = _apply(specs, store, voiceid, objects, clock, list_lag_horizon=0.0)
    key = f"{JobKind.ENROLLMENT}/spec-0"
    assert report.deferred == {key: QUOTA_TAKEN}
    assert not report.started
    queued = {a.key: a.reason for a in report.plan.actions if a.kind is ActionKind.QUEUED}
    assert queued[key] == QUOTA_TAKEN
    assert not [r for r in store.read().all_jobs() if r.job_id is None]


def test_wait_gives_up_at_the_timeout_through_the_clock(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """--wait --timeout 60 --poll-interval 15 with a job that runs for hours: four polls of
    the fake clock, then timed out, one job started."""
    voiceid.duration = 10_000.0
    report = _apply(
        specs,
        store,
        voiceid,
        objects,
        clock,
        list_lag_horizon=0.0,
        wait=True,
        timeout=60.0,
        poll_interval=15.0,
    )
    assert report.timed_out
    assert clock.sleeps == [15.0, 15.0, 15.0, 15.0]
    assert voiceid.starts() == 1


def test_wait_starts_queued_jobs_as_slots_free_and_reads_their_results(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """Jobs of 30 s, one slot: --wait starts all three in turn, then stops by itself, with each
    job's result counts recorded; a run after that makes no Voice ID call at all."""
    voiceid.duration = 30.0
    report = _apply(
        specs, store, voiceid, objects, clock, list_lag_horizon=0.0, wait=True, poll_interval=15.0
    )
    assert not report.timed_out
    assert voiceid.starts() == 3
    assert len(voiceid.jobs) == 3
    state = store.read()
    assert all(r.results == {"NEW_ENROLLMENT": 1} for r in state.all_jobs())
    assert set(_kinds(report).values()) == {ActionKind.IN_SYNC}
    voiceid.calls.clear()
    _apply(specs, store, voiceid, objects, clock, list_lag_horizon=0.0)
    assert sum(v for k, v in voiceid.calls.items() if k != "ListDomains") == 0, voiceid.calls


def test_a_rerun_after_a_lost_state_starts_nothing_again(
    specs: list[LoadedSpec],
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> None:
    """Every job exists; the state is lost (and tokens with it, as the fake keeps none once
    the state is new): the jobs are found by the hash in their JobName."""
    voiceid.duration = 1.0
    first = MemoryStore()
    _apply(specs, first, voiceid, objects, clock, list_lag_horizon=0.0, wait=True)
    assert voiceid.starts() == 3
    lost = MemoryStore()
    clock.advance(HORIZON)
    report = _apply(specs, lost, voiceid, objects, clock)
    assert voiceid.starts() == 3
    assert set(_kinds(report).values()) == {ActionKind.IN_SYNC}
