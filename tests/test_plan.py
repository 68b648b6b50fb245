"""The pure plan: one action per spec, queueing per domain and kind, never a second job."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import Location, PlanError
from reconciler.core.identity import Resolution, client_token, job_name, start_request
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.plan import ActionKind, Plan, retirable
from reconciler.core.planner import build_plan
from reconciler.core.spec import FraudsterRegistrationJob, LoadedSpec, SpeakerEnrollmentJob
from reconciler.core.state import State

D1, D2 = "D" * 22, "E" * 22


def _spec(name: str, *, kind: str = "SpeakerEnrollmentJob", **spec: Any) -> LoadedSpec:
    body: dict[str, Any] = {
        "domain": spec.pop("domain", "prod"),
        "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
        "input": {"manifest": f"s3://bucket/{spec.pop('manifest', name)}.json"},
        "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
        **spec,
    }
    model = SpeakerEnrollmentJob if kind == "SpeakerEnrollmentJob" else FraudsterRegistrationJob
    document = model.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": body,
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), 1, 1)
    return LoadedSpec.of(document, where, where)


def _desired(spec: LoadedSpec, domain_id: str = D1) -> DesiredJob:
    return DesiredJob(
        spec, start_request(spec.document, Resolution(domain_id)), domain_id=domain_id
    )


def _observed(
    job: DesiredJob, status: str, *, attempt: int = 1, job_id: str | None = None, **kw: Any
) -> ObservedJob:
    assert job.request is not None
    return ObservedJob(
        kind=job.spec.kind,
        domain_id=job.request.domain_id,
        job_id=job_id or (job.spec.name[:10].ljust(20, "x") + f"{attempt:02d}"),
        job_name=job_name(job.spec.name, job.request.hash, attempt),
        status=status,
        **kw,
    )


def _kinds(plan: Plan) -> dict[str, str]:
    return {a.key: a.kind.value for a in plan.actions}


def test_new_specs_start_one_per_domain_and_kind_in_priority_order() -> None:
    """With no jobs, each (domain, kind) starts its highest-priority spec; the rest queue."""
    desired = [
        _desired(_spec("low", priority=1)),
        _desired(_spec("high", priority=5)),
        _desired(_spec("also-low", priority=1)),
        _desired(_spec("other-domain"), D2),
        _desired(_spec("fraud", kind="FraudsterRegistrationJob")),
    ]
    plan = build_plan(desired, State())
    assert _kinds(plan) == {
        "SpeakerEnrollmentJob/high": "start",
        "SpeakerEnrollmentJob/other-domain": "start",
        "FraudsterRegistrationJob/fraud": "start",
        "SpeakerEnrollmentJob/also-low": "queued",
        "SpeakerEnrollmentJob/low": "queued",
    }
    queued = {a.name: a.reason for a in plan.actions if a.kind is ActionKind.QUEUED}
    assert queued == {"also-low": "waiting behind high", "low": "waiting behind also-low"}


def test_start_carries_token_and_job_name_of_attempt_one() -> None:
    """A start action carries the ClientToken and JobName derived from the hash."""
    job = _desired(_spec("a"))
    (action,) = build_plan([job], State()).actions
    assert job.hash is not None
    assert action.client_token == client_token(job.hash, 1)
    assert action.job_name == job_name("a", job.hash, 1)
    assert action.attempt == 1


def test_max_active_allows_more_starts() -> None:
    """A larger quota (max_active) starts more jobs per domain and kind."""
    desired = [_desired(_spec(n)) for n in ("a", "b", "c")]
    plan = build_plan(desired, State(), max_active=2)
    assert plan.counts()["start"] == 2
    assert plan.counts()["queued"] == 1


def test_existing_job_is_in_sync_and_never_started_again() -> None:
    """A spec whose hash has a job, in any status, is in-sync: nothing starts."""
    jobs = [_desired(_spec(n)) for n in ("a", "b")]
    state = State()
    state = absorb(
        state,
        jobs,
        [_observed(jobs[0], "COMPLETED"), _observed(jobs[1], "IN_PROGRESS", percent_complete=40)],
    ).applied_to(state)
    plan = build_plan(jobs, state)
    assert _kinds(plan) == {
        "SpeakerEnrollmentJob/a": "in-sync",
        "SpeakerEnrollmentJob/b": "in-sync",
    }
    assert not plan.pending
    progress = {a.name: (a.status, a.percent_complete) for a in plan.actions}
    assert progress == {"a": ("COMPLETED", None), "b": ("IN_PROGRESS", 40)}


def test_active_job_of_ours_occupies_the_slot() -> None:
    """An in-flight job in the domain queues every new spec of that kind."""
    running, new = _desired(_spec("running")), _desired(_spec("new"))
    state = State()
    state = absorb(state, [running, new], [_observed(running, "IN_PROGRESS")]).applied_to(state)
    plan = build_plan([running, new], state)
    (queued,) = [a for a in plan.actions if a.kind is ActionKind.QUEUED]
    assert queued.name == "new"
    assert queued.reason == "domain busy: 1 active job(s) of this kind"


def test_foreign_active_job_occupies_the_slot() -> None:
    """Somebody else's active job in the domain queues our start."""
    job = _desired(_spec("a"))
    plan = build_plan([job], State(), foreign_active={(D1, "SpeakerEnrollmentJob"): 1})
    assert _kinds(plan) == {"SpeakerEnrollmentJob/a": "queued"}
    other_kind = build_plan([job], State(), foreign_active={(D1, "FraudsterRegistrationJob"): 1})
    assert _kinds(other_kind) == {"SpeakerEnrollmentJob/a": "start"}


def test_failed_job_is_retried_as_a_new_attempt_when_allowed() -> None:
    """A FAILED job is retried with attempt 2 (new token and name) while maxAttempts allows."""
    job = _desired(_spec("a", maxAttempts=2))
    state = State()
    state = absorb(
        state, [job], [_observed(job, "FAILED", failure=Failure(status_code=500, message="x"))]
    ).applied_to(state)
    (action,) = build_plan([job], state).actions
    assert job.hash is not None
    assert (action.kind, action.attempt) == (ActionKind.RETRY, 2)
    assert action.client_token == client_token(job.hash, 2)
    assert action.job_name == job_name("a", job.hash, 2)
    state = absorb(state, [job], [_observed(job, "FAILED", attempt=2)]).applied_to(state)
    (final,) = build_plan([job], state).actions
    assert (final.kind, final.attempt, final.status) == (ActionKind.IN_SYNC, 2, "FAILED")
    assert "no attempts left" in final.reason


def test_failed_job_without_attempts_left_is_reported_not_retried() -> None:
    """With the default maxAttempts of 1, a FAILED job stays in-sync and says so."""
    job = _desired(_spec("a"))
    state = State()
    state = absorb(state, [job], [_observed(job, "FAILED")]).applied_to(state)
    (action,) = build_plan([job], state).actions
    assert action.kind is ActionKind.IN_SYNC
    assert "bump spec.revision" in action.reason


def test_recorded_intent_resumes_with_the_same_token() -> None:
    """An intent recorded before a crash is resumed with the same attempt and ClientToken."""
    from reconciler.core.state import JobRecord, SpecEntry

    job = _desired(_spec("a"))
    assert job.hash is not None
    state = State()
    state.specs[job.spec.key] = SpecEntry(
        kind=job.spec.kind,
        name="a",
        hash=job.hash,
        domain_id=D1,
        jobs=[
            JobRecord(
                hash=job.hash,
                attempt=1,
                client_token=client_token(job.hash),
                job_name=job_name("a", job.hash),
                domain_id=D1,
                kind=job.spec.kind,
            )
        ],
    )
    (action,) = build_plan([job], state).actions
    assert action.kind is ActionKind.START
    assert action.client_token == client_token(job.hash, 1)
    assert "resumed" in action.reason


def test_cold_start_rediscovers_jobs_by_job_name() -> None:
    """With an empty state, jobs listed from Voice ID are matched to specs by their JobName."""
    jobs = [_desired(_spec(n)) for n in ("a", "b", "c")]
    state = State()
    state = absorb(
        state, jobs, [_observed(jobs[0], "COMPLETED"), _observed(jobs[1], "COMPLETED")]
    ).applied_to(state)
    plan = build_plan(jobs, state)
    assert _kinds(plan) == {
        "SpeakerEnrollmentJob/a": "in-sync",
        "SpeakerEnrollmentJob/b": "in-sync",
        "SpeakerEnrollmentJob/c": "start",
    }
    entry = state.specs["SpeakerEnrollmentJob/a"]
    assert entry.jobs[0].client_token == client_token(entry.hash)


def test_rename_keeps_the_job() -> None:
    """A pure rename of metadata.name finds the job started under the old name."""
    old = _desired(_spec("old-name", manifest="m"))
    new = _desired(_spec("new-name", manifest="m"))
    assert old.hash == new.hash
    state = State()
    state = absorb(state, [new], [_observed(old, "COMPLETED")]).applied_to(state)
    assert _kinds(build_plan([new], state)) == {"SpeakerEnrollmentJob/new-name": "in-sync"}


def test_changed_spec_supersedes_the_old_job() -> None:
    """A changed spec starts a new job and reports the old one as superseded, untouched."""
    v1 = _desired(_spec("a", revision=0))
    v2 = _desired(_spec("a", revision=1))
    state = State()
    state = absorb(state, [v1], [_observed(v1, "COMPLETED")]).applied_to(state)
    state = absorb(state, [v2], []).applied_to(state)
    plan = build_plan([v2], state)
    kinds = sorted(a.kind.value for a in plan.actions)
    assert kinds == ["start", "superseded"]
    (superseded,) = [a for a in plan.actions if a.kind is ActionKind.SUPERSEDED]
    assert superseded.hash == v1.hash


def test_after_two_changes_the_superseded_row_names_the_job_being_replaced() -> None:
    """v1 ran, then v2 ran, now v3: the row shows v2's job (the one replaced), not v1's; the
    history stays oldest first."""
    v1, v2, v3 = (_desired(_spec("a", revision=r)) for r in (0, 1, 2))
    state = State()
    state = absorb(
        state,
        [v1],
        [_observed(v1, "COMPLETED", job_id="J1".ljust(22, "x"), created_at="2026-01-01T00:00:00Z")],
    ).applied_to(state)
    state = absorb(
        state,
        [v2],
        [_observed(v2, "COMPLETED", job_id="J2".ljust(22, "x"), created_at="2026-02-01T00:00:00Z")],
    ).applied_to(state)
    state = absorb(state, [v3], []).applied_to(state)
    assert [r.hash for r in state.specs[v3.key].history] == [v1.hash, v2.hash]
    (superseded,) = [a for a in build_plan([v3], state).actions if a.kind is ActionKind.SUPERSEDED]
    assert superseded.hash == v2.hash


def test_offline_plan_keeps_the_risk_notes_of_a_start_it_cannot_hash() -> None:
    """Risks come from the spec alone: an offline start without a hash still shows them."""
    from reconciler.runner.usecases import plan_offline

    risky = _spec(
        "risky",
        domain="prod",
        enrollment={
            "existingEnrollmentAction": "OVERWRITE",
            "fraudDetection": {"action": "IGNORE"},
        },
    )
    plan = plan_offline([risky], State(domains={"prod": D1})).plan
    (action,) = plan.actions
    assert (action.kind, action.hash) == (ActionKind.START, None)
    assert [r.split(":")[0] for r in action.risks] == [
        "existingEnrollmentAction OVERWRITE",
        "fraud detection IGNORE",
    ]


def test_a_removed_specs_ended_job_is_retired_and_a_running_one_orphaned() -> None:
    """A removed spec whose job ended is retired (apply forgets it, nothing needs a look); one
    whose job still runs is orphaned (a problem for --fail-on); others' jobs are ignored."""
    gone, running = _desired(_spec("gone")), _desired(_spec("running"))
    state = State()
    state = absorb(
        state, [gone, running], [_observed(gone, "COMPLETED"), _observed(running, "IN_PROGRESS")]
    ).applied_to(state)
    stranger = ObservedJob(
        kind="SpeakerEnrollmentJob",
        domain_id=D1,
        job_id="Z" * 22,
        job_name="manual-run",
        status="COMPLETED",
    )
    state = absorb(state, [], [stranger]).applied_to(state)
    plan = build_plan([], state)
    assert [(a.kind.value, a.name, a.code) for a in plan.actions] == [
        ("orphaned", "running", "spec-removed"),
        ("retired", "gone", "spec-retired"),
    ]
    assert [a.name for a in plan.problems(["orphaned"])] == ["running"]
    assert retirable(state, plan) == [f"{gone.key}"]


def test_discovered_job_of_unknown_hash_is_an_orphan_with_its_prefix() -> None:
    """A job with our naming for a hash nobody knows is kept as an orphan by its prefix."""
    ghost = _desired(_spec("ghost"))
    state = State()
    state = absorb(state, [], [_observed(ghost, "COMPLETED")]).applied_to(state)
    (orphan,) = state.orphans
    assert ghost.hash is not None
    assert orphan.hash == ghost.hash[:32]
    assert orphan.client_token is None
    state = absorb(state, [ghost], []).applied_to(state)
    assert not state.orphans
    assert state.specs["SpeakerEnrollmentJob/ghost"].jobs[0].hash == ghost.hash


def test_blocked_spec_is_reported_and_others_proceed() -> None:
    """A blocked spec does not stop the others."""
    blocked = DesiredJob(_spec("x"), None, blocked="domain 'prod' not found")
    plan = build_plan([blocked, _desired(_spec("ok"))], State())
    assert _kinds(plan) == {"SpeakerEnrollmentJob/x": "blocked", "SpeakerEnrollmentJob/ok": "start"}
    (action,) = [a for a in plan.actions if a.kind is ActionKind.BLOCKED]
    assert action.reason == "domain 'prod' not found"


def test_blocked_new_version_still_shows_the_running_old_job() -> None:
    """A changed spec whose new version is blocked (refused, its domain suspended): the old
    version's job, still running, is shown as superseded; an ended one is not."""
    v1 = _desired(_spec("a", revision=0))
    v2 = _desired(_spec("a", revision=1))
    state = State()
    state = absorb(state, [v1], [_observed(v1, "IN_PROGRESS")]).applied_to(state)
    state = absorb(state, [v2], []).applied_to(state)
    blocked = DesiredJob(v2.spec, None, blocked="AccessDenied", domain_id=D1)
    plan = build_plan([blocked], state)
    assert sorted(a.kind.value for a in plan.actions) == ["blocked", "superseded"]
    (running,) = [a for a in plan.actions if a.kind is ActionKind.SUPERSEDED]
    assert running.hash == v1.hash
    state.specs[v2.key].history[-1].status = "COMPLETED"
    assert [a.kind.value for a in build_plan([blocked], state).actions] == ["blocked"]


def test_two_specs_resolving_to_one_job_are_refused() -> None:
    """Two specs with the same hash would share one job: the plan refuses, naming both."""
    with pytest.raises(PlanError, match="same job as"):
        build_plan(
            [_desired(_spec("a", manifest="m")), _desired(_spec("b", manifest="m"))], State()
        )


def test_order_is_stable_and_checksum_ignores_progress() -> None:
    """Actions come in a stable order; the checksum ignores statuses but not new starts."""
    jobs = [_desired(_spec(n)) for n in ("c", "a", "b")]
    state = State()
    state = absorb(
        state, jobs, [_observed(jobs[0], "IN_PROGRESS", percent_complete=10)]
    ).applied_to(state)
    first = build_plan(jobs, state)
    assert first == build_plan(list(reversed(jobs)), state)
    state = absorb(
        state, jobs, [_observed(jobs[0], "IN_PROGRESS", percent_complete=90)]
    ).applied_to(state)
    assert build_plan(jobs, state).checksum() == first.checksum()
    more = [*jobs, _desired(_spec("d"))]
    assert build_plan(more, state).checksum() != first.checksum()


def test_desired_job_needs_request_or_reason() -> None:
    """A desired job is either resolvable or blocked, never both or neither."""
    with pytest.raises(ValueError, match="either"):
        DesiredJob(_spec("a"), None)


def test_offline_plan_shows_never_seen_specs_as_new_starts() -> None:
    """Offline, a spec whose manifest the state never saw is a start without a hash, not blocked;
    a known spec resolves from the state's recorded names and ETags."""
    from reconciler.runner.usecases import plan_offline

    new = _spec("brand-new", domain="prod")  # its manifest never read: no ETag in the state
    known = _spec("known", domain="prod")
    state = State(domains={"prod": D1}, manifests={"s3://bucket/known.json": "etag1"})
    plan = plan_offline([new, known], state).plan
    by_name = {a.name: a for a in plan.actions}
    assert by_name["brand-new"].kind is ActionKind.START
    assert by_name["brand-new"].hash is None
    assert "not in the state yet" in by_name["brand-new"].reason
    assert by_name["known"].kind is ActionKind.START
    assert by_name["known"].hash is not None


def test_discovered_job_completes_the_recorded_intent() -> None:
    """A job found by listing that matches an unconfirmed intent fills that record in (id and
    status), instead of adding a second record for the same job."""
    from reconciler.core.state import JobRecord, SpecEntry

    job = _desired(_spec("a"))
    assert job.hash is not None
    state = State()
    intent = JobRecord(
        hash=job.hash,
        attempt=1,
        client_token=client_token(job.hash),
        job_name=job_name("a", job.hash),
        domain_id=D1,
        kind=job.spec.kind,
        intent_at="2026-11-24T00:00:00Z",
    )
    state.specs[job.spec.key] = SpecEntry(
        kind=job.spec.kind, name="a", hash=job.hash, domain_id=D1, jobs=[intent]
    )
    state = absorb(
        state, [job], [_observed(job, "IN_PROGRESS", job_id="J" * 22, percent_complete=30)]
    ).applied_to(state)
    (confirmed,) = state.all_jobs()  # the intent's record, not a second one
    assert confirmed == dataclasses.replace(
        intent, job_id="J" * 22, status="IN_PROGRESS", percent_complete=30
    )
    assert (confirmed.job_id, confirmed.status, confirmed.percent_complete) == (
        "J" * 22,
        "IN_PROGRESS",
        30,
    )
    (action,) = build_plan([job], state).actions
    assert (action.kind, action.status) == (ActionKind.IN_SYNC, "IN_PROGRESS")
