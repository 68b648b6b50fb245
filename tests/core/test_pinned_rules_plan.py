"""Rules of the plan that the mutation run (python -m tools.mutate) showed unpinned, and the
unit tests of check_plan (the checksum and start-limit gate)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.core import jobkinds
from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import Location, PlanChecksumMismatch, PlanError, UnsafePlanError
from reconciler.core.identity import Resolution, job_name, start_request
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.plan import (
    DEFAULT_MAX_ACTIVE,
    DEFAULT_START_LIMIT,
    UNKNOWN_HASH,
    Action,
    ActionKind,
    Intent,
    Plan,
    collisions,
    next_start,
    retirable,
    settled,
    would_start,
)
from reconciler.core.planner import build_plan
from reconciler.core.review import (
    Review,
    approve,
    check_plan,
    intent_differences,
    limit_note,
    review,
)
from reconciler.core.spec import FraudsterRegistrationJob, LoadedSpec, SpeakerEnrollmentJob
from reconciler.core.state import Approval, JobRecord, State

D1 = "D" * 22
E = JobKind.ENROLLMENT


def _desired(name: str, *, kind: str = "SpeakerEnrollmentJob", **spec: Any) -> DesiredJob:
    model = SpeakerEnrollmentJob if kind == "SpeakerEnrollmentJob" else FraudsterRegistrationJob
    document = model.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": kind,
            "metadata": {"name": name},
            "spec": {
                "domain": "prod",
                "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
                "input": {"manifest": f"s3://bucket/{name}.json"},
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
                **spec,
            },
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), 1, 1)
    loaded = LoadedSpec.of(document, where, where)
    return DesiredJob(loaded, start_request(document, Resolution(D1)), domain_id=D1)


def _seen(
    job: DesiredJob, status: JobStatus, job_id: str, attempt: int = 1, **kw: Any
) -> ObservedJob:
    assert job.hash is not None
    return ObservedJob(
        kind=job.kind,
        domain_id=D1,
        job_id=job_id,
        job_name=job_name(job.name, job.hash, attempt),
        status=status,
        **kw,
    )


def _record(attempt: int, status: JobStatus | None, job_id: str | None = "j") -> JobRecord:
    return JobRecord(
        hash="a" * 64,
        attempt=attempt,
        job_name="x",
        domain_id=D1,
        kind=E,
        job_id=job_id,
        status=status,
    )


def _plan(pending: int) -> Plan:
    return Plan(tuple(Action(ActionKind.START, E, f"s{i}") for i in range(pending)))


# The start rule


def test_a_failed_job_is_retried_only_within_max_attempts() -> None:
    """Attempt 1 of 2 FAILED: attempt 2 starts; attempt 2 of 2 FAILED: nothing starts."""
    assert next_start([_record(1, JobStatus.FAILED)], 2) == (2, "retry-after-failure")
    assert next_start([_record(1, JobStatus.FAILED), _record(2, JobStatus.FAILED)], 2) is None
    assert next_start([_record(3, JobStatus.FAILED)], 2) is None


def test_the_start_rule_reads_the_latest_attempt() -> None:
    """A later attempt in flight decides, whatever attempt 1 did; nothing recorded: a start;
    an intent never confirmed: resumed as it is; a job that did not fail: nothing."""
    jobs = [_record(2, JobStatus.IN_PROGRESS), _record(1, JobStatus.FAILED)]
    assert next_start(jobs, 3) is None
    assert next_start([], 3) == (1, "new")
    assert next_start([_record(1, JobStatus.FAILED), _record(2, None, None)], 3) == (
        2,
        "unconfirmed-start",
    )
    assert next_start([_record(1, JobStatus.COMPLETED_WITH_ERRORS)], 3) is None


def test_would_start_names_the_slots_of_starts_and_retries_only() -> None:
    """The observation's question uses the plan's rule: a job that ended in sync does not
    make its slot one that would start; a failure with attempts left does."""
    done, retried = _desired("done"), _desired("retried", maxAttempts=2)
    state = State()
    state = absorb(
        state,
        [done, retried],
        [_seen(done, JobStatus.COMPLETED, "j1"), _seen(retried, JobStatus.FAILED, "j2")],
    ).applied_to(state)
    assert would_start([done], state) == set()
    assert would_start([retried], state) == {(D1, E)}
    assert would_start([_desired("new")], State()) == {(D1, E)}


def test_a_retry_action_says_which_attempt_failed() -> None:
    job = _desired("a", maxAttempts=3)
    state = State()
    state = absorb(state, [job], [_seen(job, JobStatus.FAILED, "j1")]).applied_to(state)
    (action,) = build_plan([job], state).actions
    assert action.kind is ActionKind.RETRY
    assert action.attempt == 2
    assert action.reason == "attempt 1 FAILED; attempt 2 of 3"
    assert action.job_name == job_name("a", job.hash or "", 2)


def test_a_failure_out_of_attempts_is_in_sync_with_its_message() -> None:
    job = _desired("a")
    state = State()
    failure = Failure(status_code=403, message="access denied")
    state = absorb(state, [job], [_seen(job, JobStatus.FAILED, "j1", failure=failure)]).applied_to(
        state
    )
    (action,) = build_plan([job], state).actions
    assert action.kind is ActionKind.IN_SYNC
    assert action.code == "failed"
    assert action.reason.startswith("failure 403: access denied; no attempts left")


# check_plan: the checksum and start-limit gate


def test_check_plan_refuses_a_plan_that_is_not_the_reviewed_one() -> None:
    """A refusal from review() is raised as the checksum mismatch, even with nothing pending."""
    with pytest.raises(PlanChecksumMismatch, match="not the reviewed"):
        check_plan(_plan(0), start_limit=None, refusal="not the reviewed plan")
    with pytest.raises(PlanChecksumMismatch):
        check_plan(_plan(0), start_limit=10, dry_run=True, refusal="not the reviewed plan")


def test_check_plan_allows_up_to_the_start_limit_and_refuses_one_more() -> None:
    check_plan(_plan(3), start_limit=3)
    check_plan(_plan(3), start_limit=3, refusal="")
    with pytest.raises(UnsafePlanError, match=r"start 4 jobs, over the safety limit of 3"):
        check_plan(_plan(4), start_limit=3)


def test_check_plan_without_a_limit_or_in_a_dry_run_only_shows() -> None:
    check_plan(_plan(500), start_limit=None)
    check_plan(_plan(4), start_limit=3, dry_run=True)


def test_check_plan_counts_queued_starts_but_not_in_sync_jobs() -> None:
    actions = (
        Action(ActionKind.START, E, "a"),
        Action(ActionKind.QUEUED, E, "b"),
        Action(ActionKind.IN_SYNC, E, "c"),
        Action(ActionKind.AWAITING_REVIEW, E, "d"),
    )
    check_plan(Plan(actions), start_limit=2)
    with pytest.raises(UnsafePlanError, match="start 2 jobs"):
        check_plan(Plan(actions), start_limit=1)


def test_the_default_limits() -> None:
    assert DEFAULT_START_LIMIT == 100
    assert DEFAULT_MAX_ACTIVE == 1


def test_limit_note_from_80_percent_of_the_limit() -> None:
    assert limit_note(_plan(7), 10) is None
    assert limit_note(_plan(8), 10) == "8 starts pending: near apply's --start-limit of 10"
    assert limit_note(_plan(10), 10) == "10 starts pending: near apply's --start-limit of 10"
    over = limit_note(_plan(11), 10)
    assert over is not None
    assert over.startswith("11 starts pending: over apply's --start-limit of 10")
    assert limit_note(_plan(0), 0) is None
    assert limit_note(_plan(50), None) is None
    assert limit_note(_plan(80)) is not None
    assert limit_note(_plan(79)) is None


def test_settled_waits_for_jobs_in_flight_and_pending_starts() -> None:
    running = Action(ActionKind.IN_SYNC, E, "a", status=JobStatus.IN_PROGRESS)
    ended = Action(ActionKind.IN_SYNC, E, "b", status=JobStatus.COMPLETED)
    assert settled(Plan((ended,)), may_start=True)
    assert not settled(Plan((running,)), may_start=False)
    assert not settled(_plan(1), may_start=True)
    assert settled(_plan(1), may_start=False)


# Risk notes


def test_every_risky_setting_has_its_note() -> None:
    enrollment, registration = (jobkinds.of(k).risk_notes for k in JobKind)
    assert enrollment({}) == registration({}) == ()
    assert registration({"duplicateRegistrationAction": "REGISTER_AS_NEW"}) == (
        "duplicateRegistrationAction REGISTER_AS_NEW: duplicates become new fraudsters",
    )
    assert registration({"duplicateRegistrationAction": "SKIP"}) == ()
    assert enrollment({"duplicateRegistrationAction": "REGISTER_AS_NEW"}) == ()
    both = enrollment(
        {"existingEnrollmentAction": "OVERWRITE", "fraudDetection": {"action": "IGNORE"}}
    )
    assert both == (
        "existingEnrollmentAction OVERWRITE: re-enrolls speakers already enrolled",
        "fraud detection IGNORE: enrolls callers even when they match a fraudster",
    )
    fraud = _desired(
        "f",
        kind="FraudsterRegistrationJob",
        registration={"duplicateRegistrationAction": "REGISTER_AS_NEW"},
    )
    (action,) = build_plan([fraud], State()).actions
    assert action.risks == (
        "duplicateRegistrationAction REGISTER_AS_NEW: duplicates become new fraudsters",
    )


# Superseded jobs


def test_a_changed_spec_shows_the_newest_job_it_replaces() -> None:
    """Of two ended jobs of earlier versions, the one created last is shown as superseded."""
    v0, v1, v2 = (_desired("a", revision=r) for r in (0, 1, 2))
    state = State()
    state = absorb(
        state, [v0], [_seen(v0, JobStatus.COMPLETED, "old", created_at="2026-01-01T00:00:00Z")]
    ).applied_to(state)
    state = absorb(
        state, [v1], [_seen(v1, JobStatus.COMPLETED, "new", created_at="2026-01-02T00:00:00Z")]
    ).applied_to(state)
    state = absorb(state, [v2], []).applied_to(state)
    plan = build_plan([v2], state)
    superseded = [a.job_id for a in plan.actions if a.kind is ActionKind.SUPERSEDED]
    assert superseded == ["new"]
    state = absorb(state, [v2], [_seen(v2, JobStatus.IN_PROGRESS, "now")]).applied_to(state)
    plan = build_plan([v2], state)
    assert [a.job_id for a in plan.actions if a.kind is ActionKind.SUPERSEDED] == []


def test_a_running_job_of_an_earlier_version_is_always_shown() -> None:
    v0, v1 = _desired("a"), _desired("a", revision=1)
    state = State()
    state = absorb(state, [v0], [_seen(v0, JobStatus.IN_PROGRESS, "old")]).applied_to(state)
    state = absorb(state, [v1], [_seen(v1, JobStatus.SUBMITTED, "now")]).applied_to(state)
    plan = build_plan([v1], state)
    assert [a.job_id for a in plan.actions if a.kind is ActionKind.SUPERSEDED] == ["old"]
    v2 = _desired("a", revision=2)
    state = absorb(state, [v2], []).applied_to(state)
    changed = build_plan([v2], state, max_active=3)
    start = next(a for a in changed.actions if a.kind is ActionKind.START)
    assert start.code == "changed"
    assert start.changes == ("revision 1 -> 2",)


# The domain's slots


def test_a_busy_domain_queues_the_first_start_with_the_reason() -> None:
    running, waiting, behind = _desired("running"), _desired("waiting"), _desired("x-behind")
    state = State()
    state = absorb(state, [running], [_seen(running, JobStatus.IN_PROGRESS, "j1")]).applied_to(
        state
    )
    plan = build_plan([running, waiting, behind], state)
    reasons = {a.name: (a.kind, a.code, a.reason) for a in plan.actions}
    assert reasons["x-behind"] == (ActionKind.QUEUED, "waiting-behind", "waiting behind waiting")
    assert reasons["waiting"] == (
        ActionKind.QUEUED,
        "domain-busy",
        "domain busy: 1 active job(s) of this kind",
    )
    two = build_plan([running, waiting, behind], state, max_active=2)
    assert {a.name: a.kind for a in two.actions}["waiting"] is ActionKind.START
    foreign = build_plan([_desired("waiting")], State(), foreign_active={(D1, E): 1})
    assert [a.code for a in foreign.actions] == ["domain-busy"]


def test_a_hold_queues_the_slots_starts_with_its_reason() -> None:
    plan = build_plan([_desired("a")], State(), hold={(D1, E): "list lag"})
    (action,) = plan.actions
    assert (action.kind, action.code, action.reason) == (ActionKind.QUEUED, "list-lag", "list lag")
    other = build_plan([_desired("a")], State(), hold={("E" * 22, E): "list lag"})
    assert [a.kind for a in other.actions] == [ActionKind.START]


# The review set and its checksum


def _wanted(count: int) -> Plan:
    return Plan(
        tuple(
            Action(ActionKind.START, E, f"s{i:05d}", hash=f"{i:064x}", domain_id=D1)
            for i in range(count)
        )
    )


@pytest.mark.parametrize("count", [0, 1, 1000, 1001, 2500])
def test_the_checksum_is_of_the_json_list_of_the_intents(count: int) -> None:
    """Written a thousand intents at a time, the digest is still that of one JSON list."""
    plan = _wanted(count)
    text = json.dumps([list(i) for i in plan.intent()], separators=(",", ":"))
    assert plan.checksum() == hashlib.sha256(text.encode()).hexdigest()[:16]


def test_an_intent_describes_its_hash_and_attempts() -> None:
    one = Intent("k", "a" * 64, 1, D1)
    assert one.describe() == "to start, hash aaaaaaaaaaaa"
    assert one._replace(attempts=3).describe() == "to start, hash aaaaaaaaaaaa, up to 3 attempts"
    assert one._replace(hash=UNKNOWN_HASH).describe() == "to start, hash unknown (offline plan)"


def test_intent_differences_name_each_spec_then_how_many_more() -> None:
    reviewed = [Intent(f"k{i}", "a" * 64, 1, D1) for i in range(3)]
    now = [
        Intent("k0", "b" * 64, 1, D1),
        Intent("k1", "a" * 64, 2, D1),
        *(Intent(f"n{i}", "c" * 64, 1, D1) for i in range(5)),
    ]
    out = intent_differences(reviewed, now)
    assert out == [
        "k0: changed since review (hash aaaaaaaaaaaa -> bbbbbbbbbbbb)",
        "k1: reviewed to start, hash aaaaaaaaaaaa; now to start, hash aaaaaaaaaaaa, up to 2 "
        "attempts",
        "k2: no longer awaits review (approved since, started, or removed)",
        "n0: not in the reviewed plan (to start, hash cccccccccccc)",
        "n1: not in the reviewed plan (to start, hash cccccccccccc)",
        "and 3 more",
    ]
    assert len(intent_differences(reviewed, now, limit=8)) == 8
    assert intent_differences(reviewed, reviewed) == []
    offline = [Intent("k0", UNKNOWN_HASH, 1, D1)]
    assert intent_differences(reviewed[:1], offline) == [
        "k0: reviewed to start, hash aaaaaaaaaaaa; now to start, hash unknown (offline plan)"
    ]


def test_approve_records_every_intent_but_an_offline_one() -> None:
    state = State()
    intents = [Intent("a", "a" * 64, 2, D1), Intent("b", UNKNOWN_HASH, 1, D1)]
    approval = approve(intents, "abc", "2026-01-01T00:00:00Z")
    assert list(approval.approvals) == ["a"]
    state = approval.applied_to(state)
    assert list(state.approvals) == ["a"]
    approval = state.approvals["a"]
    assert (approval.hash, approval.max_attempts, approval.review) == ("a" * 64, 2, "abc")


def test_two_specs_of_one_job_are_refused() -> None:
    first, twin = _desired("a"), _desired("b")
    twin = DesiredJob(twin.spec, first.request, domain_id=D1)
    (error,) = collisions([first, twin, _desired("c")])
    assert "SpeakerEnrollmentJob/b resolves to the same job as SpeakerEnrollmentJob/a" in str(error)
    with pytest.raises(PlanError, match="resolves to the same job"):
        build_plan([first, twin], State())
    assert collisions([first, _desired("c")]) == []


# Reviews


def test_review_by_checksum_approves_all_or_nothing() -> None:
    plan = _wanted(2)
    assert review(plan, checksum=None) == Review((), None)
    assert review(plan, checksum=plan.checksum()) == Review(plan.intent(), None)
    refused = review(plan, checksum="0123456789abcdef")
    assert refused.approve == ()
    assert refused.refusal is not None
    assert "the reviewed plan (0123456789abcdef) does not cover" in refused.refusal
    assert f"checksum {plan.checksum()}: awaiting review now: SpeakerEnrollmentJob/s00000" in (
        refused.refusal
    )
    assert review(_wanted(0), checksum="0123456789abcdef") == Review((), None)


def test_review_by_saved_intents_approves_those_it_holds() -> None:
    plan = _wanted(3)
    now = plan.intent()
    assert review(plan, checksum=None, reviewed=now) == Review(now, None)
    partial = review(plan, checksum="abc", reviewed=now[:2])
    assert partial.approve == now[:2]
    assert partial.refusal is not None
    assert "not in the reviewed plan" in partial.refusal
    assert "the reviewed plan (abc)" in partial.refusal
    unnamed = review(plan, checksum=None, reviewed=now[:2])
    assert unnamed.refusal is not None
    assert unnamed.refusal.startswith("the reviewed plan does not cover")


# What a plan reports


def test_jobs_by_status_counts_the_in_sync_jobs() -> None:
    actions = (
        Action(ActionKind.IN_SYNC, E, "a", status=JobStatus.COMPLETED),
        Action(ActionKind.IN_SYNC, E, "b", status=JobStatus.COMPLETED),
        Action(ActionKind.IN_SYNC, E, "c", status=JobStatus.IN_PROGRESS),
        Action(ActionKind.ORPHANED, E, "e", status=JobStatus.IN_PROGRESS),
        Action(ActionKind.IN_SYNC, E, "starting"),  # started, no status read yet
    )
    assert Plan(actions).jobs_by_status() == {"COMPLETED": 2, "IN_PROGRESS": 1}


def test_problems_are_the_classes_asked_for() -> None:
    actions = (
        Action(ActionKind.IN_SYNC, E, "failed", status=JobStatus.FAILED),
        Action(ActionKind.IN_SYNC, E, "errors", status=JobStatus.COMPLETED_WITH_ERRORS),
        Action(ActionKind.IN_SYNC, E, "done", status=JobStatus.COMPLETED),
        Action(ActionKind.IN_SYNC, E, "starting"),
        Action(ActionKind.BLOCKED, E, "blocked"),
        Action(ActionKind.QUEUED, E, "queued"),
        Action(ActionKind.START, E, "start"),
    )
    plan = Plan(actions)
    assert [a.problem for a in actions] == [
        "failed",
        "completed-with-errors",
        None,
        None,
        "blocked",
        "queued",
        None,
    ]
    assert [a.name for a in plan.problems({"failed", "queued"})] == ["failed", "queued"]
    assert plan.counts()["retired"] == 0
    assert plan.counts()["in-sync"] == 4


def test_a_removed_specs_ended_job_is_retired_and_a_running_one_orphaned() -> None:
    ended, running = _desired("ended"), _desired("running")
    state = State()
    state = absorb(
        state,
        [ended, running],
        [_seen(ended, JobStatus.COMPLETED, "j1"), _seen(running, JobStatus.IN_PROGRESS, "j2")],
    ).applied_to(state)
    plan = build_plan([], state)
    kinds = {a.name: (a.kind, a.code) for a in plan.actions}
    assert kinds == {
        "ended": (ActionKind.RETIRED, "spec-retired"),
        "running": (ActionKind.ORPHANED, "spec-removed"),
    }
    assert retirable(state, plan) == ["SpeakerEnrollmentJob/ended"]
    (retired,) = (a for a in plan.actions if a.kind is ActionKind.RETIRED)
    assert retired.reason == "its spec was removed; its job ended COMPLETED: apply forgets it"
    unselected = build_plan([], state, unselected={"SpeakerEnrollmentJob/ended"})
    assert [a.name for a in unselected.actions] == ["running"]


def test_unclaimed_jobs_are_reported_under_a_matching_owner_only() -> None:
    job = _desired("theirs-a")
    state = State()
    state = absorb(state, [], [_seen(job, JobStatus.IN_PROGRESS, "j1")]).applied_to(state)
    assert build_plan([], state).actions == ()
    assert build_plan([], state, owner=("mine-*",)).actions == ()
    (action,) = build_plan([], state, owner=("mine-*", "theirs-*")).actions
    assert (action.kind, action.code, action.name) == (
        ActionKind.ORPHANED,
        "unclaimed",
        "theirs-a",
    )


def test_a_renamed_spec_says_so() -> None:
    old, new = _desired("a"), _desired("b")
    new = DesiredJob(new.spec, old.request, domain_id=D1)
    state = State()
    state = absorb(state, [old], [_seen(old, JobStatus.COMPLETED, "j1")]).applied_to(state)
    state = absorb(state, [new], []).applied_to(state)
    (action,) = build_plan([new], state).actions
    assert action.kind is ActionKind.IN_SYNC
    assert action.reason == "renamed from a (its job follows the new name)"


def test_an_action_defaults_to_the_specs_defaults() -> None:
    """Priority 0 and one attempt, as a spec that sets neither: a reported job (orphaned,
    retired) has those, and a review of a bare start approves attempt 1 only."""
    action = Action(ActionKind.START, E, "a", hash="a" * 64)
    assert (action.priority, action.max_attempts) == (0, 1)
    assert Intent.of(action).attempts == 1
    spec = _desired("a").spec.facts
    assert (spec.priority, spec.max_attempts) == (0, 1)


def test_a_removed_spec_with_any_job_running_is_orphaned_and_one_never_started_is_gone() -> None:
    v0, v1 = _desired("a"), _desired("a", revision=1)
    state = State()
    state = absorb(state, [v0], [_seen(v0, JobStatus.COMPLETED, "old")]).applied_to(state)
    state = absorb(state, [v1], [_seen(v1, JobStatus.IN_PROGRESS, "new")]).applied_to(state)
    state = absorb(state, [_desired("never")], []).applied_to(state)
    plan = build_plan([], state)
    assert [(a.kind, a.job_id) for a in plan.actions] == [
        (ActionKind.ORPHANED, "new"),
        (ActionKind.ORPHANED, "old"),
    ]


def test_a_refusal_names_five_specs_then_how_many_more() -> None:
    refused = review(_wanted(7), checksum="0123456789abcdef").refusal
    assert refused is not None
    assert "s00003, SpeakerEnrollmentJob/s00004 and 2 more" in refused


def test_a_plan_and_its_actions_are_immutable_values() -> None:
    """The plan is a value (issue 32: the core returns values); an action is slotted (one per
    spec) and hashable."""
    action = Action(ActionKind.START, E, "a")
    plan = Plan((action,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        action.reason = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.max_active = 2  # type: ignore[misc]
    assert not hasattr(action, "__dict__")
    assert len({action, Action(ActionKind.START, E, "a"), plan, Plan((action,))}) == 2


def test_actions_sort_by_kind_spec_attempt_then_job() -> None:
    """The plan's stable order: within one spec's reported jobs, by attempt, then JobId."""
    second = Action(ActionKind.SUPERSEDED, E, "a", attempt=2, job_id="a-job")
    first = Action(ActionKind.SUPERSEDED, E, "a", attempt=1, job_id="b-job")
    later = Action(ActionKind.SUPERSEDED, E, "a", attempt=1, job_id="c-job")
    unknown = Action(ActionKind.SUPERSEDED, E, "a", attempt=1)
    ordered = sorted([second, later, first, unknown], key=Action.sort_key)
    assert ordered == [unknown, first, later, second]
    no_attempt = Action(ActionKind.SUPERSEDED, E, "a", job_id="z-job")
    assert sorted([first, no_attempt], key=Action.sort_key) == [no_attempt, first]


def test_an_actions_request_is_neither_compared_nor_shown() -> None:
    """Two actions of equal fields are equal whichever request object they carry, and an
    action's repr (logs, test failures) does not spell the request out."""
    job, again = _desired("a"), _desired("a")
    assert job.request is not again.request
    one = Action(ActionKind.START, E, "a", request=job.request)
    two = Action(ActionKind.START, E, "a", request=again.request)
    assert one == two
    assert "request=" not in repr(one)
    assert "s3://bucket" not in repr(one)


def test_exactly_five_specs_are_named_without_more() -> None:
    refused = review(_wanted(5), checksum="0123456789abcdef").refusal
    assert refused is not None
    assert "more" not in refused.split("awaiting review now: ")[1].split(")")[0]


def test_a_changed_spec_is_changed_even_when_its_old_request_was_not_recorded() -> None:
    """Jobs of an earlier hash (history) are enough to call the start a change; with no
    recorded request it cannot say which fields."""
    v0, v1 = _desired("a"), _desired("a", revision=1)
    state = State()
    state = absorb(state, [v0], [_seen(v0, JobStatus.COMPLETED, "j1")]).applied_to(state)
    state = absorb(state, [v1], []).applied_to(state)
    state.specs[v1.key].request = None  # a state written before requests were recorded
    (start, _superseded) = build_plan([v1], state).actions
    assert (start.kind, start.code, start.changes) == (ActionKind.START, "changed", ())
    assert start.reason == "the spec changed since its last job"


def test_an_approval_of_another_hash_does_not_put_a_start_ahead() -> None:
    """Queue order among equal priorities: approved intents by approval time; a spec whose
    approval is of an earlier hash waits behind them, however old that approval."""
    changed, approved = _desired("a-changed"), _desired("b-approved")
    assert approved.hash is not None
    state = State()
    state.approvals[changed.key] = Approval(
        hash="f" * 64, max_attempts=1, review="old", at="2026-01-01T00:00:00Z"
    )
    state.approvals[approved.key] = Approval(
        hash=approved.hash, max_attempts=1, review="new", at="2026-02-01T00:00:00Z"
    )
    plan = build_plan([changed, approved], state)
    assert {a.name: a.kind for a in plan.actions} == {
        "b-approved": ActionKind.START,
        "a-changed": ActionKind.QUEUED,
    }


def test_a_start_whose_dependency_completed_still_takes_a_slot() -> None:
    """dependsOn satisfied: the start is an ordinary candidate, queued while the domain is
    busy, never started past the quota."""
    base, running = _desired("a-base"), _desired("r-running")
    dependent = _desired("b-dependent", dependsOn=["SpeakerEnrollmentJob/a-base"])
    state = State()
    state = absorb(
        state,
        [base, running, dependent],
        [_seen(base, JobStatus.COMPLETED, "j1"), _seen(running, JobStatus.IN_PROGRESS, "j2")],
    ).applied_to(state)
    plan = build_plan([base, running, dependent], state)
    action = next(a for a in plan.actions if a.name == "b-dependent")
    assert (action.kind, action.code) == (ActionKind.QUEUED, "domain-busy")


def test_a_start_changed_since_its_review_names_both_hashes() -> None:
    job = _desired("a")
    assert job.hash is not None
    state = State()
    state.approvals[job.key] = Approval(
        hash="f" * 64, max_attempts=1, review="r", at="2026-01-01T00:00:00Z"
    )
    (action,) = build_plan([job], state, require_approval=True).actions
    assert (action.kind, action.code) == (ActionKind.AWAITING_REVIEW, "changed-since-review")
    assert action.reason == (
        f"awaiting review: changed since its review (reviewed hash ffffffffffff, now "
        f"{job.hash[:12]})"
    )
