"""The rules of job events and of one run's deliveries, as values: which FAILED attempt is the
last (``failed``) and which has a retry coming (``attempt-failed``), and a notifier that holds
within a run, sends everything at its end and keeps no state object between calls."""

from __future__ import annotations

import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from reconciler.adapters.notify import Delivery
from reconciler.core import events as ev
from reconciler.core.events import Event, EventKind, Retry
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.plan import Action, ActionKind, Plan
from reconciler.core.state import JobRecord, SpecEntry, State
from reconciler.core.statefile import parse_state
from reconciler.runner.notify import Notifier, commit_statuses

D = "D" * 22
H, H2 = "a" * 64, "b" * 64
KEY = "SpeakerEnrollmentJob/emea"
URL = "json://hooks.example/h"


def _record(attempt: int, status: JobStatus | None, *, hash_: str = H) -> JobRecord:
    return JobRecord(
        hash=hash_,
        attempt=attempt,
        job_name=f"emea-{hash_[:32]}-{attempt}",
        job_id=f"job-{hash_[0]}{attempt}" if status is not None else None,
        domain_id=D,
        kind=JobKind.ENROLLMENT,
        status=status,
        failure=Failure(status_code=400, message="bucket gone")
        if status is JobStatus.FAILED
        else None,
    )


def _state(*jobs: JobRecord, history: Sequence[JobRecord] = ()) -> State:
    state = State()
    state.domains["prod"] = D
    state.specs[KEY] = SpecEntry(
        kind=JobKind.ENROLLMENT,
        name="emea",
        hash=H,
        domain_id=D,
        jobs=list(jobs),
        history=list(history),
    )
    return state


def _action(
    kind: ActionKind,
    *,
    attempt: int = 2,
    hash_: str = H,
    reason: str = "",
    status: JobStatus | None = None,
) -> Action:
    return Action(
        kind,
        JobKind.ENROLLMENT,
        "emea",
        domain_id=D,
        hash=hash_,
        attempt=attempt,
        reason=reason,
        status=status,
    )


def _running(attempt: int) -> Plan:
    return Plan((_action(ActionKind.IN_SYNC, attempt=attempt, status=JobStatus.IN_PROGRESS),))


def _ended(events: Sequence[Event]) -> list[Event]:
    return [e for e in events if e.id.startswith("ended/")]


@pytest.mark.parametrize(
    ("kind", "retry", "said"),
    [
        (ActionKind.RETRY, Retry.WILL_START, "attempt 2 will start"),
        (ActionKind.QUEUED, Retry.QUEUED, "attempt 2 is queued (domain busy)"),
        (
            ActionKind.AWAITING_REVIEW,
            Retry.AWAITING_REVIEW,
            "attempt 2 awaits review (no review approved it)",
        ),
    ],
)
def test_a_failed_attempt_whose_spec_retries_queues_or_awaits_review_is_attempt_failed(
    kind: ActionKind, retry: Retry, said: str
) -> None:
    """The final plan shows the spec's next attempt of the same hash: attempt-failed, saying
    what became of the next attempt (and why it waits)."""
    reason = {  # a retry's reason repeats the plan's, so it is not told
        ActionKind.RETRY: "attempt 1 FAILED; attempt 2 of 2",
        ActionKind.QUEUED: "domain busy",
        ActionKind.AWAITING_REVIEW: "awaiting review: no review approved it",  # said once
    }[kind]
    plan = Plan((_action(kind, reason=reason),))
    [event] = _ended(ev.derive(_state(_record(1, JobStatus.FAILED)), plan, max_attempts={KEY: 2}))
    assert (event.kind, event.next_attempt, event.retry) == (EventKind.ATTEMPT_FAILED, 2, retry)
    assert event.id == "ended/job-a1/FAILED"  # the job's ending, whatever follows it
    assert event.line() == (
        f"{KEY} attempt 1 of 2 FAILED in prod: failure 400: bucket gone; {said}"
    )
    assert event.as_dict()["event"] == "attempt-failed"
    assert event.as_dict()["retry"] == retry.value


def test_the_last_attempt_failed_is_failed_and_says_no_attempts_are_left() -> None:
    """Attempt 2 of 2 FAILED (the plan shows it in sync): failed; attempt 1 of the same hash
    is attempt-failed (attempt 2 started)."""
    state = _state(_record(1, JobStatus.FAILED), _record(2, JobStatus.FAILED))
    plan = Plan((_action(ActionKind.IN_SYNC),))
    first, last = _ended(ev.derive(state, plan, max_attempts={KEY: 2}))
    assert (first.kind, first.retry) == (EventKind.ATTEMPT_FAILED, Retry.STARTED)
    assert first.line().endswith("; attempt 2 started")
    assert (last.kind, last.next_attempt, last.retry) == (EventKind.FAILED, None, None)
    assert last.line() == (
        f"{KEY} attempt 2 of 2 FAILED in prod: failure 400: bucket gone; no attempts left"
    )
    without_limit = _ended(ev.derive(state, plan))[1]
    assert without_limit.line() == f"{KEY} (attempt 2) FAILED in prod: failure 400: bucket gone"


def test_a_next_attempt_whose_start_is_not_confirmed_is_starting() -> None:
    """Attempt 2's intent recorded, its Start not confirmed: attempt 1 is attempt-failed,
    attempt 2 starting."""
    state = _state(_record(1, JobStatus.FAILED), _record(2, None))
    [event] = _ended(ev.derive(state, Plan((_action(ActionKind.RETRY),))))
    assert (event.kind, event.next_attempt, event.retry) == (
        EventKind.ATTEMPT_FAILED,
        2,
        Retry.STARTING,
    )
    assert (
        event.line()
        == f"{KEY} attempt 1 FAILED in prod: failure 400: bucket gone; attempt 2 is starting"
    )


@pytest.mark.parametrize(
    "plan",
    [
        Plan((_action(ActionKind.START, attempt=1, hash_=H2),)),  # the spec changed since
        Plan((_action(ActionKind.QUEUED, attempt=2, hash_=H2),)),  # another hash's retry
        Plan((_action(ActionKind.RETRY, attempt=1),)),  # not a later attempt
        Plan((_action(ActionKind.BLOCKED),)),
        Plan((_action(ActionKind.IN_SYNC, attempt=1),)),
    ],
)
def test_a_plan_that_starts_no_later_attempt_of_the_hash_makes_the_failure_final(
    plan: Plan,
) -> None:
    """Only a retry, queue place or review hold of the failed job's hash and a later attempt
    is a retry to come; even when maxAttempts would allow one, the plan decides."""
    [event] = _ended(ev.derive(_state(_record(1, JobStatus.FAILED)), plan, max_attempts={KEY: 3}))
    assert event.kind is EventKind.FAILED
    assert "no attempts left" not in event.line()  # attempt 1 of 3: attempts were left


def test_without_a_plan_the_specs_max_attempts_decides() -> None:
    """status --refresh (no plan): maxAttempts allows another attempt: attempt-failed
    (allowed); no attempt left, or maxAttempts unknown: failed; a superseded hash's failure is
    final whatever maxAttempts says; a roster's part takes its roster's maxAttempts."""
    state = _state(_record(1, JobStatus.FAILED))
    [allowed] = _ended(ev.derive(state, None, max_attempts={KEY: 2}))
    assert (allowed.kind, allowed.next_attempt, allowed.retry) == (
        EventKind.ATTEMPT_FAILED,
        2,
        Retry.ALLOWED,
    )
    assert allowed.line().endswith("attempt 2 is allowed (the next apply plans it)")
    assert _ended(ev.derive(state, None, max_attempts={KEY: 1}))[0].kind is EventKind.FAILED
    assert _ended(ev.derive(state, None))[0].kind is EventKind.FAILED
    superseded = _state(history=[_record(1, JobStatus.FAILED, hash_=H2)])
    [old] = _ended(ev.derive(superseded, None, max_attempts={KEY: 2}))
    assert (old.kind, old.max_attempts) == (EventKind.FAILED, None)
    part = _state(_record(1, JobStatus.FAILED))
    part.specs[f"{KEY}-part-002"] = part.specs.pop(KEY)
    [of_part] = _ended(ev.derive(part, None, max_attempts={KEY: 2}))
    assert of_part.retry is Retry.ALLOWED
    assert _ended(ev.derive(state, Plan(()), max_attempts={KEY: 2}))[0].retry is Retry.ALLOWED


def test_failures_include_a_failed_attempt_and_messages_put_failures_first() -> None:
    """--notify-on failures (the default) sends attempt-failed; a message lists the final
    failures, then the failed attempts, then the rest."""
    assert EventKind.ATTEMPT_FAILED in ev.FAILURES
    state = _state(_record(1, JobStatus.FAILED), _record(2, JobStatus.COMPLETED))
    state.specs["SpeakerEnrollmentJob/apac"] = SpecEntry(
        kind=JobKind.ENROLLMENT,
        name="apac",
        hash=H2,
        domain_id=D,
        jobs=[_record(1, JobStatus.FAILED, hash_=H2)],
    )
    title, text = ev.message(ev.derive(state, None))
    assert title == "voiceid-reconciler: 1 failed, 1 attempt-failed, 1 completed, 3 started"
    assert [line.split(" ")[1] for line in text.splitlines()[:3]] == [
        "SpeakerEnrollmentJob/apac",
        "SpeakerEnrollmentJob/emea",
        "SpeakerEnrollmentJob/emea",
    ]
    assert "FAILED" in text.splitlines()[1]
    assert "COMPLETED" in text.splitlines()[2]


@dataclass
class _Sink:
    """A sink that records what it was sent."""

    name: str = "test://sink"
    sent: list[list[str]] = field(default_factory=list)

    def send(self, delivery: Delivery) -> None:
        self.sent.append([e.id for e in delivery.events])


def _notifier(sink: _Sink, interval: float = 60.0) -> Notifier:
    return Notifier({URL: sink}, kinds=frozenset(EventKind), interval=interval)


def _reread(state: State) -> State:
    """The state as the next poll reads it: a new object, parsed from the written text."""
    return parse_state(state.to_json(), "state.json")


def test_the_interval_holds_within_a_run_and_its_last_delivery_sends_everything() -> None:
    """Within one run, a second delivery inside the interval waits; finish sends it whatever
    the interval; a delivery after which nothing is left to happen (no job in flight) is final
    too (status --watch's last refresh)."""
    sink = _Sink()
    notifier = _notifier(sink)
    state = _state()
    notifier.begin(state)
    state.specs[KEY].jobs.append(_record(1, JobStatus.IN_PROGRESS))
    notifier.deliver(state, _running(1), 1000.0)
    assert sink.sent == [["started/job-a1"]]
    state.specs[KEY].jobs[0] = _record(1, JobStatus.FAILED)
    state.specs[KEY].jobs.append(_record(2, JobStatus.IN_PROGRESS))
    running = _running(2)
    notifier.deliver(state, running, 1010.0)
    assert len(sink.sent) == 1  # held: 10 s after the last message of this run
    notifier.deliver(state, running, 1011.0, final=True)
    assert sink.sent[1] == ["ended/job-a1/FAILED", "started/job-a2"]
    state.specs[KEY].jobs[1] = _record(2, JobStatus.COMPLETED)
    notifier.deliver(state, None, 1012.0)  # nothing in flight any more: nothing is held
    assert sink.sent[2] == ["ended/job-a2/COMPLETED"]
    notifier.deliver(state, None, 1013.0, final=True)
    assert len(sink.sent) == 3  # each event once


def test_a_new_run_is_not_held_by_the_interval_of_an_earlier_one() -> None:
    """The interval is per run: a run's first delivery goes at once, whatever the ledger
    says of the last message (an earlier run's, a second ago)."""
    sink = _Sink()
    state = _state()
    first = _notifier(sink)
    first.begin(state)
    state.specs[KEY].jobs.append(_record(1, JobStatus.IN_PROGRESS))
    first.deliver(state, None, 1000.0, final=True)
    state = _reread(state)
    assert state.notified[ev.sink_key(URL)].last_sent
    second = _notifier(sink)
    second.begin(state)
    state.specs[KEY].jobs[0] = _record(1, JobStatus.COMPLETED)
    second.deliver(state, Plan((_action(ActionKind.IN_SYNC, attempt=1),)), 1001.0)
    assert sink.sent == [["started/job-a1"], ["ended/job-a1/COMPLETED"]]


def test_a_state_read_afresh_at_every_poll_neither_replays_history_nor_repeats() -> None:
    """begin() on the state the run read first, then each delivery on a state read again
    (begin's never written: the new sink's ledger is not in it): the baseline still holds, each
    event goes once, and the notifier keeps no reference to any state it was given."""
    sink = _Sink()
    notifier = _notifier(sink, interval=0)
    first = _state(_record(1, JobStatus.COMPLETED))  # history: never sent to a new sink
    notifier.begin(first)
    poll = _state(_record(1, JobStatus.COMPLETED))
    assert not poll.notified
    poll.specs[KEY].jobs.append(_record(2, JobStatus.IN_PROGRESS, hash_=H))
    notifier.deliver(poll, Plan((_action(ActionKind.IN_SYNC),)), 1000.0)
    assert sink.sent == [["started/job-a2"]]
    again = _reread(poll)
    notifier.deliver(again, Plan((_action(ActionKind.IN_SYNC),)), 1001.0, final=True)
    assert sink.sent == [["started/job-a2"]]
    gone = [weakref.ref(s) for s in (first, poll, again)]
    del first, poll, again
    assert [ref() for ref in gone] == [None, None, None]


def test_a_commit_status_is_pending_while_a_failed_attempt_has_a_retry_to_come() -> None:
    """GitHub statuses: a spec whose latest attempt FAILED with a retry queued is pending
    (retrying), not failure; with no attempt left it is failure."""
    state = _state(_record(1, JobStatus.FAILED))
    queued = Plan((_action(ActionKind.QUEUED, reason="domain busy"),))
    events = ev.derive(state, queued)
    retrying = {e.job_id for e in events if e.kind is EventKind.ATTEMPT_FAILED}
    [status] = commit_statuses(state, events, lambda _key: "c0ffee", retrying)
    assert (status.context, status.state, status.description) == (
        "voiceid/prod/SpeakerEnrollmentJob",
        "pending",
        "1 retrying",
    )
    [final] = commit_statuses(state, ev.derive(state, Plan(())), lambda _key: "c0ffee")
    assert (final.state, final.description) == ("failure", "1 failed")
