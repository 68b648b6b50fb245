"""Rules of absorb (observations folded into the state) that the mutation run showed unpinned."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import Location
from reconciler.core.identity import Resolution, client_token, job_name, start_request
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobStatus
from reconciler.core.spec import LoadedSpec, SpeakerEnrollmentJob
from reconciler.core.state import JobRecord, SpecEntry, State

D1 = "D" * 22


def _desired(name: str, revision: int = 0, **spec: Any) -> DesiredJob:
    document = SpeakerEnrollmentJob.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": "SpeakerEnrollmentJob",
            "metadata": {"name": name},
            "spec": {
                "domain": "prod",
                "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
                "input": {"manifest": f"s3://bucket/{spec.pop('manifest', name)}.json"},
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
                "revision": revision,
                **spec,
            },
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), 1, 1)
    loaded = LoadedSpec.of(document, where, where)
    return DesiredJob(loaded, start_request(document, Resolution(D1)), domain_id=D1)


def _seen(
    job: DesiredJob, status: JobStatus, job_id: str, *, attempt: int = 1, name: str = "", **kw: Any
) -> ObservedJob:
    assert job.hash is not None
    return ObservedJob(
        kind=job.kind,
        domain_id=D1,
        job_id=job_id,
        job_name=job_name(name or job.name, job.hash, attempt),
        status=status,
        **kw,
    )


def test_a_running_job_of_an_older_version_is_kept_in_the_history() -> None:
    """Found by listing (its record was lost) once the state knows the changed spec: it is the
    spec's history, and still holds the domain; never dropped."""
    old, new = _desired("a"), _desired("a", revision=1)
    state = State()
    state = absorb(state, [new], []).applied_to(state)
    state = absorb(state, [new], [_seen(old, JobStatus.IN_PROGRESS, "old-job")]).applied_to(state)
    entry = state.specs["SpeakerEnrollmentJob/a"]
    assert [r.job_id for r in entry.history] == ["old-job"]
    assert entry.jobs == []
    assert entry.history[0].active
    assert state.orphans == []


def test_the_times_and_progress_voice_id_shows_are_stored() -> None:
    """CreatedAt, EndedAt, the progress and a failure reach the record; a later listing that
    omits a time keeps the one known."""
    job = _desired("a")
    state = State()
    failure = Failure(status_code=400, message="bad manifest")
    seen = _seen(
        job,
        JobStatus.FAILED,
        "j1",
        percent_complete=100,
        created_at="2026-01-01T00:00:00Z",
        ended_at="2026-01-01T01:00:00Z",
        failure=failure,
    )
    state = absorb(state, [job], [seen]).applied_to(state)
    (record,) = state.specs["SpeakerEnrollmentJob/a"].jobs
    assert (record.created_at, record.ended_at) == ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z")
    assert record.percent_complete == 100
    assert record.failure == failure
    assert record.status is JobStatus.FAILED
    state = absorb(state, [job], [_seen(job, JobStatus.FAILED, "j1")]).applied_to(state)
    assert (record.created_at, record.ended_at) == ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z")
    assert record.failure == failure


def test_a_job_found_by_its_name_gets_the_full_hash_and_its_client_token() -> None:
    """The JobName carries 32 hex characters; the record gets the desired spec's full hash
    and the ClientToken of that hash and attempt."""
    job = _desired("a")
    assert job.hash is not None
    state = State()
    state = absorb(state, [job], [_seen(job, JobStatus.FAILED, "j2", attempt=2)]).applied_to(state)
    (record,) = state.specs["SpeakerEnrollmentJob/a"].jobs
    assert record.hash == job.hash
    assert record.attempt == 2
    assert record.client_token == client_token(job.hash, 2)


def test_an_orphan_found_by_name_takes_the_full_hash_the_state_knows() -> None:
    """A job of a spec no longer desired: its full hash comes from a record of the state (so
    its ClientToken is known); with only the JobName's prefix, it has no token."""
    job = _desired("gone")
    assert job.hash is not None
    state = State()
    state = absorb(state, [job], [_seen(job, JobStatus.COMPLETED, "j1")]).applied_to(state)
    state = absorb(state, [], [_seen(job, JobStatus.FAILED, "j2", attempt=2)]).applied_to(state)
    found = [r for r in state.all_jobs() if r.job_id == "j2"]
    assert [(r.hash, r.client_token) for r in found] == [(job.hash, client_token(job.hash, 2))]
    stranger = State()
    stranger = absorb(stranger, [], [_seen(job, JobStatus.COMPLETED, "j3")]).applied_to(stranger)
    (orphan,) = stranger.orphans
    assert orphan.hash == job.hash[:32]
    assert orphan.client_token is None


def test_an_intent_is_confirmed_by_the_job_listed_with_its_name() -> None:
    """The record written before the Start call becomes the job's (JobId, name): one record,
    the intent's (its time and token kept), not a second one made from the listing."""
    job = _desired("a")
    assert job.hash is not None
    state = State()
    state = absorb(state, [job], []).applied_to(state)
    intent = JobRecord(
        hash=job.hash,
        attempt=1,
        client_token=client_token(job.hash, 1),
        job_name="",
        domain_id=D1,
        kind=job.kind,
        intent_at="2026-01-01T00:00:00Z",
    )
    state.specs[job.key].jobs.append(intent)
    state = absorb(state, [job], [_seen(job, JobStatus.IN_PROGRESS, "j1")]).applied_to(state)
    (confirmed,) = state.specs[job.key].jobs
    name = job_name("a", job.hash, 1)
    assert confirmed == dataclasses.replace(
        intent, job_id="j1", job_name=name, status=JobStatus.IN_PROGRESS
    )
    assert confirmed.job_id == "j1"
    assert confirmed.job_name == name
    assert confirmed.status is JobStatus.IN_PROGRESS


def test_jobs_are_kept_oldest_first_by_creation_then_attempt() -> None:
    job = _desired("a")
    state = State()
    later = _seen(job, JobStatus.COMPLETED, "j2", attempt=2, created_at="2026-01-02T00:00:00Z")
    first = _seen(job, JobStatus.FAILED, "j1", attempt=1, created_at="2026-01-01T00:00:00Z")
    state = absorb(state, [job], [later, first]).applied_to(state)
    assert [r.job_id for r in state.specs[job.key].jobs] == ["j1", "j2"]


def test_a_changed_spec_moves_its_jobs_to_the_history_and_records_the_new_request() -> None:
    """The entry follows the desired hash: the old jobs become history, oldest first."""
    old, new = _desired("a"), _desired("a", revision=1)
    assert old.request is not None
    assert new.request is not None
    state = State()
    state = absorb(state, [old], [_seen(old, JobStatus.COMPLETED, "j1")]).applied_to(state)
    entry = state.specs[old.key]
    assert entry.request == old.request.canonical
    state = absorb(state, [new], [_seen(new, JobStatus.IN_PROGRESS, "j2")]).applied_to(state)
    entry = state.specs[old.key]
    assert entry.hash == new.hash
    assert [r.job_id for r in entry.jobs] == ["j2"]
    assert [r.job_id for r in entry.history] == ["j1"]
    assert entry.request == new.request.canonical


def test_an_orphan_of_the_desired_hash_comes_home() -> None:
    """A spec re-added after it was removed: its orphaned job is its job again, in sync."""
    job = _desired("a")
    assert job.hash is not None
    state = State()
    state = absorb(state, [], [_seen(job, JobStatus.COMPLETED, "j1", name="other")]).applied_to(
        state
    )
    assert [r.job_id for r in state.orphans] == ["j1"]
    state.orphans[0].hash = job.hash[:32]
    state = absorb(state, [job], []).applied_to(state)
    assert state.orphans == []
    (record,) = state.specs[job.key].jobs
    assert record.hash == job.hash


def test_a_pure_rename_moves_the_entry() -> None:
    """Only metadata.name changed: the same hash, so the entry and its job follow the name."""
    old, new = _desired("a", manifest="m"), _desired("b", manifest="m")
    assert old.hash == new.hash
    state = State()
    state = absorb(state, [old], [_seen(old, JobStatus.COMPLETED, "j1")]).applied_to(state)
    state = absorb(state, [new], []).applied_to(state)
    assert list(state.specs) == ["SpeakerEnrollmentJob/b"]
    assert state.renamed == {"SpeakerEnrollmentJob/b": "SpeakerEnrollmentJob/a"}
    assert [r.job_id for r in state.specs["SpeakerEnrollmentJob/b"].jobs] == ["j1"]


def test_a_spec_moved_to_another_domain_takes_the_new_domain() -> None:
    """A new DomainId is a new hash: the entry follows it (its old job is history)."""
    job = _desired("a")
    assert job.request is not None
    state = State()
    state = absorb(state, [job], [_seen(job, JobStatus.COMPLETED, "j1")]).applied_to(state)
    moved = DesiredJob(job.spec, start_request(job.spec.document, Resolution("E" * 22)))
    state = absorb(state, [moved], []).applied_to(state)
    entry = state.specs[job.key]
    assert entry.domain_id == "E" * 22
    assert entry.hash == moved.hash
    assert [r.job_id for r in entry.history] == ["j1"]


def test_a_job_listed_twice_in_one_observation_is_one_record() -> None:
    """Two listings of a slot (in flight, then in full) may show the same job: one record."""
    job = _desired("a")
    state = State()
    state = absorb(
        state,
        [job],
        [_seen(job, JobStatus.IN_PROGRESS, "j1"), _seen(job, JobStatus.COMPLETED, "j1")],
    ).applied_to(state)
    (record,) = state.specs[job.key].jobs
    assert record.status is JobStatus.COMPLETED
    assert len(list(state.all_jobs())) == 1


def test_the_full_hash_of_an_orphan_record_names_its_next_attempt() -> None:
    """Only an orphan's record knows the full hash (no spec entry has it): a later attempt
    found by its JobName gets it, and so its ClientToken."""
    job = _desired("gone")
    assert job.hash is not None
    state = State()
    state.orphans.append(
        JobRecord(
            hash=job.hash,
            attempt=1,
            job_name=job_name("gone", job.hash, 1),
            domain_id=D1,
            kind=job.kind,
            job_id="j1",
            status=JobStatus.FAILED,
        )
    )
    state = absorb(state, [], [_seen(job, JobStatus.IN_PROGRESS, "j2", attempt=2)]).applied_to(
        state
    )
    second = next(r for r in state.orphans if r.job_id == "j2")
    assert second.hash == job.hash
    assert second.client_token == client_token(job.hash, 2)


def test_the_history_is_in_creation_order_across_versions() -> None:
    """Attempt 2 of an old version was created before attempt 1 of a newer one: creation time
    orders them, not the attempt."""
    v0, v1, v2 = (_desired("a", revision=r) for r in (0, 1, 2))
    state = State()
    state = absorb(state, [v2], []).applied_to(state)
    state = absorb(
        state,
        [v2],
        [
            _seen(v1, JobStatus.COMPLETED, "newer", created_at="2026-01-02T00:00:00Z"),
            _seen(v0, JobStatus.FAILED, "older", attempt=2, created_at="2026-01-01T00:00:00Z"),
        ],
    ).applied_to(state)
    assert [r.job_id for r in state.specs[v2.key].history] == ["older", "newer"]


def test_an_entry_already_named_is_never_replaced_by_a_rename() -> None:
    """A stale entry of the same hash under another name stays where it is: the desired
    spec's own entry keeps its jobs."""
    job = _desired("a")
    assert job.hash is not None
    state = State()
    state = absorb(state, [job], [_seen(job, JobStatus.COMPLETED, "j1")]).applied_to(state)
    stale = SpecEntry(kind=job.kind, name="b", hash=job.hash, domain_id=D1)
    state.specs["SpeakerEnrollmentJob/b"] = stale
    state = absorb(state, [job], []).applied_to(state)
    assert state.renamed == {}
    assert [r.job_id for r in state.specs[job.key].jobs] == ["j1"]
    assert state.specs["SpeakerEnrollmentJob/b"] is stale
