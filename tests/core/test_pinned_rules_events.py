"""Rules of job events: their ids, lines and payload, the ledger that sends each once per sink,
blocked specs, and one message of many (reconciler.core.events)."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest

from reconciler.core import events as ev
from reconciler.core.events import Event, EventKind, Outbox, Retry
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.plan import Action, ActionKind, Plan
from reconciler.core.state import BlockedSince, JobRecord, SinkLedger, SpecEntry, State, Unblocked

D = "D" * 22
H = "a" * 64
KEY = "SpeakerEnrollmentJob/emea"
URL = "json://hooks.example/h"


def _record(attempt: int = 1, status: JobStatus | None = None, **kw: Any) -> JobRecord:
    values: dict[str, Any] = {
        "hash": H,
        "attempt": attempt,
        "job_name": f"emea-{H[:32]}-{attempt}",
        "job_id": f"job-{attempt}",
        "domain_id": D,
        "kind": JobKind.ENROLLMENT,
        "status": status,
    }
    values.update(kw)
    return JobRecord(**values)


def _state(*jobs: JobRecord, named: bool = True) -> State:
    state = State()
    if named:
        state.domains["prod"] = D
    state.specs[KEY] = SpecEntry(
        kind=JobKind.ENROLLMENT, name="emea", hash=H, domain_id=D, jobs=list(jobs)
    )
    return state


def _event(kind: EventKind, **kw: object) -> Event:
    values: dict[str, object] = {"id": f"{kind}/x", "kind": kind, "spec": KEY, "domain_id": D}
    values.update(kw)
    return Event(**values)  # type: ignore[arg-type]


# --- the constants --------------------------------------------------------------------------


def test_the_documented_limits_and_failures() -> None:
    """Five runs before giving up, twenty lines a message, a minute between messages;
    failures are what fails."""
    assert (ev.MAX_ATTEMPTS, ev.MESSAGE_CAP, ev.DEFAULT_INTERVAL) == (5, 20, 60.0)
    assert {
        EventKind.FAILED,
        EventKind.ATTEMPT_FAILED,
        EventKind.COMPLETED_WITH_ERRORS,
        EventKind.BLOCKED,
    } == ev.FAILURES
    assert {ActionKind.RETRY, ActionKind.QUEUED, ActionKind.AWAITING_REVIEW} == ev.RETRY_COMING


# --- one event ------------------------------------------------------------------------------


def test_the_payload_of_an_event() -> None:
    """Every field under its camelCase name; the kind's and the retry's string values."""
    event = Event(
        "ended/j/FAILED",
        EventKind.ATTEMPT_FAILED,
        KEY,
        D,
        domain_name="prod",
        job_id="j",
        job_name="n",
        attempt=1,
        results={"a": 1},
        failure="f",
        reason="r",
        at="t",
        max_attempts=2,
        next_attempt=2,
        retry=Retry.QUEUED,
    )
    assert event.as_dict() == {
        "id": "ended/j/FAILED",
        "event": "attempt-failed",
        "spec": KEY,
        "domainId": D,
        "domainName": "prod",
        "jobId": "j",
        "jobName": "n",
        "attempt": 1,
        "results": {"a": 1},
        "failure": "f",
        "reason": "r",
        "at": "t",
        "maxAttempts": 2,
        "nextAttempt": 2,
        "retry": "queued",
    }
    assert _event(EventKind.STARTED).as_dict()["retry"] is None
    assert event.job_kind == "SpeakerEnrollmentJob"


@pytest.mark.parametrize(
    ("kind", "word"),
    [
        (EventKind.STARTED, "started"),
        (EventKind.COMPLETED, "COMPLETED"),
        (EventKind.COMPLETED_WITH_ERRORS, "COMPLETED_WITH_ERRORS"),
        (EventKind.FAILED, "FAILED"),
        (EventKind.BLOCKED, "blocked"),
        (EventKind.UNBLOCKED, "unblocked"),
        (EventKind.ORPHANED, "orphaned"),
    ],
)
def test_each_kind_in_its_word(kind: EventKind, word: str) -> None:
    """A line names the spec, what happened and the domain (its name, else its id, else ?)."""
    assert _event(kind, domain_name="prod").line() == f"{KEY} {word} in prod"
    assert _event(kind).line() == f"{KEY} {word} in {D}"
    assert _event(kind, domain_id=None).line() == f"{KEY} {word} in ?"


def test_a_line_tells_results_failure_and_reason() -> None:
    """Results sorted by name, then the failure, then the reason, joined by '; '."""
    event = _event(
        EventKind.COMPLETED_WITH_ERRORS,
        results={"skipped": 2, "failed": 1},
        failure="failure 400: x",
        reason="why",
    )
    assert (
        event.line()
        == f"{KEY} COMPLETED_WITH_ERRORS in {D}: failed 1, skipped 2; failure 400: x; why"
    )
    assert _event(EventKind.COMPLETED, results={}).line() == f"{KEY} COMPLETED in {D}"


def test_a_line_tells_the_attempt() -> None:
    """A later attempt is named; a first one is not; a failure with a limit says 'of N' and
    whether attempts are left."""
    assert _event(EventKind.STARTED, attempt=1).line() == f"{KEY} started in {D}"
    assert _event(EventKind.STARTED, attempt=2).line() == f"{KEY} (attempt 2) started in {D}"
    assert _event(EventKind.FAILED, attempt=2, max_attempts=3).line() == (
        f"{KEY} attempt 2 of 3 FAILED in {D}"
    )
    assert _event(EventKind.FAILED, attempt=3, max_attempts=3).line() == (
        f"{KEY} attempt 3 of 3 FAILED in {D}: no attempts left"
    )
    assert _event(EventKind.FAILED, max_attempts=1).line() == (
        f"{KEY} attempt None of 1 FAILED in {D}: no attempts left"
    )
    assert _event(EventKind.FAILED, attempt=4, max_attempts=3).line().endswith(": no attempts left")
    assert _event(EventKind.COMPLETED, attempt=2, max_attempts=3).line() == (
        f"{KEY} (attempt 2) COMPLETED in {D}"
    )


def test_a_failed_attempt_says_what_became_of_the_next() -> None:
    """attempt-failed names its attempt (of N), then the next attempt's fate and, when it
    waits, why; without a fate, its reason as any event's."""
    queued = _event(
        EventKind.ATTEMPT_FAILED,
        attempt=1,
        max_attempts=2,
        next_attempt=2,
        retry=Retry.QUEUED,
        reason="domain busy",
    )
    assert queued.line() == f"{KEY} attempt 1 of 2 FAILED in {D}: attempt 2 is queued (domain busy)"
    started = _event(EventKind.ATTEMPT_FAILED, attempt=1, next_attempt=2, retry=Retry.STARTED)
    assert started.line() == f"{KEY} attempt 1 FAILED in {D}: attempt 2 started"
    will = _event(EventKind.ATTEMPT_FAILED, attempt=1, next_attempt=2, retry=Retry.WILL_START)
    assert will.line().endswith(": attempt 2 will start")
    plain = _event(EventKind.ATTEMPT_FAILED, attempt=1, reason="r")
    assert plain.line() == f"{KEY} attempt 1 FAILED in {D}: r"


def test_a_sink_is_known_by_a_digest_of_its_url() -> None:
    """The ledger's name is the first 16 hex digits of the URL's SHA-256, never the URL."""
    assert ev.sink_key(URL) == hashlib.sha256(URL.encode()).hexdigest()[:16]
    assert ev.sink_key(URL) != ev.sink_key(URL + "x")


# --- derive ---------------------------------------------------------------------------------


def test_a_job_is_started_then_ended_with_its_facts() -> None:
    """started/<JobId> and ended/<JobId>/<STATUS>, each with the job's facts; an intent
    without a JobId and a job still running end nothing."""
    record = _record(
        2,
        JobStatus.COMPLETED_WITH_ERRORS,
        created_at="2026-12-01T09:00:00Z",
        ended_at="2026-12-01T10:00:00Z",
        results={"failed": 1, "succeeded": 9},
        failure=Failure(status_code=400, message="half"),
    )
    started, ended = ev.derive(_state(record), None)
    assert started == Event(
        "started/job-2",
        EventKind.STARTED,
        KEY,
        D,
        "prod",
        job_id="job-2",
        job_name=record.job_name,
        attempt=2,
        at="2026-12-01T09:00:00Z",
    )
    assert ended == Event(
        "ended/job-2/COMPLETED_WITH_ERRORS",
        EventKind.COMPLETED_WITH_ERRORS,
        KEY,
        D,
        "prod",
        job_id="job-2",
        job_name=record.job_name,
        attempt=2,
        results={"failed": 1, "succeeded": 9},
        failure="failure 400: half",
        at="2026-12-01T10:00:00Z",
    )
    assert ev.derive(_state(_record(1, None, job_id=None)), None) == []
    running = ev.derive(_state(_record(1, JobStatus.IN_PROGRESS)), None, max_attempts={KEY: 2})
    assert [e.id for e in running] == ["started/job-1"]
    described = ev.derive(_state(_record(1, None)), None)
    assert [e.id for e in described] == ["started/job-1"]


def test_a_domain_without_a_name_is_its_id() -> None:
    """The domain's name comes from the state's domains; unknown, the event has none."""
    (started,) = ev.derive(_state(_record(1), named=False), None)
    assert (started.domain_id, started.domain_name) == (D, None)


def test_a_completed_job_is_completed() -> None:
    """COMPLETED is told as completed, with no limit and no retry."""
    (_, ended) = ev.derive(_state(_record(1, JobStatus.COMPLETED)), None, max_attempts={KEY: 3})
    assert (ended.kind, ended.max_attempts, ended.retry) == (EventKind.COMPLETED, None, None)


def test_a_failure_with_a_later_attempt_recorded() -> None:
    """The nearest later attempt of the same hash is the next; another hash's is not."""
    jobs = [
        _record(1, JobStatus.FAILED),
        _record(3, JobStatus.IN_PROGRESS),
        _record(2, JobStatus.FAILED),
    ]
    events = [e for e in ev.derive(_state(*jobs), None, max_attempts={KEY: 3}) if "ended" in e.id]
    assert [(e.attempt, e.kind, e.next_attempt, e.retry) for e in events] == [
        (1, EventKind.ATTEMPT_FAILED, 2, Retry.STARTED),
        (2, EventKind.ATTEMPT_FAILED, 3, Retry.STARTED),
    ]
    assert [e.max_attempts for e in events] == [3, 3]


def test_a_retry_of_the_failed_hash_in_the_plan() -> None:
    """The plan's retry of the same hash and a later attempt: will start; an attempt without a
    number (0) or not later is no retry of it."""
    state = _state(_record(1, JobStatus.FAILED))

    def retry(attempt: int | None) -> Plan:
        return Plan(
            (Action(ActionKind.RETRY, JobKind.ENROLLMENT, "emea", hash=H, attempt=attempt),)
        )

    (ended,) = [e for e in ev.derive(state, retry(2)) if "ended" in e.id]
    assert (ended.kind, ended.next_attempt, ended.retry, ended.reason) == (
        EventKind.ATTEMPT_FAILED,
        2,
        Retry.WILL_START,
        None,
    )
    for attempt in (None, 1):
        (ended,) = [e for e in ev.derive(state, retry(attempt)) if "ended" in e.id]
        assert ended.kind is EventKind.FAILED


def test_a_superseded_jobs_end_is_still_told() -> None:
    """A job of an earlier hash (the spec's history) ends: told, without the current limit."""
    state = _state()
    old = _record(1, JobStatus.FAILED, hash="b" * 64, job_id="old-1")
    state.specs[KEY].history.append(old)
    events = ev.derive(state, None, max_attempts={KEY: 3})
    assert [(e.id, e.kind, e.max_attempts) for e in events] == [
        ("started/old-1", EventKind.STARTED, None),
        ("ended/old-1/FAILED", EventKind.FAILED, None),
    ]


def test_orphaned_blocked_and_unblocked_specs() -> None:
    """A removed spec's job, a spec blocked since a time, one no longer blocked: each a fact
    with its own id; an orphan without a job name is none."""
    state = State()
    state.domains["prod"] = D
    state.blocked["SpeakerEnrollmentJob/b"] = BlockedSince(
        since="2026-12-01T09:00:00Z", domain_id=D, reason="no domain"
    )
    state.unblocked.append(
        Unblocked(key="SpeakerEnrollmentJob/u", since="2026-12-01T08:00:00Z", domain_id=None)
    )
    plan = Plan(
        (
            Action(
                ActionKind.ORPHANED,
                JobKind.ENROLLMENT,
                "gone",
                domain_id=D,
                job_name="gone-x-1",
                job_id="j9",
                reason="spec removed",
            ),
            Action(ActionKind.ORPHANED, JobKind.ENROLLMENT, "nameless", domain_id=D),
        )
    )
    assert ev.derive(state, plan) == [
        Event(
            "orphaned/gone-x-1",
            EventKind.ORPHANED,
            "SpeakerEnrollmentJob/gone",
            D,
            "prod",
            job_id="j9",
            job_name="gone-x-1",
            reason="spec removed",
        ),
        Event(
            "blocked/SpeakerEnrollmentJob/b/2026-12-01T09:00:00Z",
            EventKind.BLOCKED,
            "SpeakerEnrollmentJob/b",
            D,
            "prod",
            reason="no domain",
            at="2026-12-01T09:00:00Z",
        ),
        Event(
            "unblocked/SpeakerEnrollmentJob/u/2026-12-01T08:00:00Z",
            EventKind.UNBLOCKED,
            "SpeakerEnrollmentJob/u",
            None,
            None,
            at="2026-12-01T08:00:00Z",
        ),
    ]


def test_events_in_a_stable_order() -> None:
    """Specs by key, each spec's jobs then its history; blocked specs by key."""
    state = State()
    for name in ("b", "a"):
        state.specs[f"SpeakerEnrollmentJob/{name}"] = SpecEntry(
            kind=JobKind.ENROLLMENT,
            name=name,
            hash=H,
            domain_id=D,
            jobs=[_record(1, job_id=f"{name}-new")],
            history=[_record(1, job_id=f"{name}-old")],
        )
        state.blocked[f"SpeakerEnrollmentJob/{name}"] = BlockedSince(since="t")
    assert [e.id for e in ev.derive(state, None)] == [
        "started/a-new",
        "started/a-old",
        "started/b-new",
        "started/b-old",
        "blocked/SpeakerEnrollmentJob/a/t",
        "blocked/SpeakerEnrollmentJob/b/t",
    ]


# --- blocked specs --------------------------------------------------------------------------


def test_note_blocked_keeps_since_and_moves_the_unblocked() -> None:
    """A spec newly blocked is noted with now; one still blocked keeps its first time; one no
    longer blocked moves to unblocked, with its since."""
    state = State()

    def blocked(*names: str) -> Plan:
        held = [
            Action(ActionKind.BLOCKED, JobKind.ENROLLMENT, n, domain_id=D, reason=f"r-{n}")
            for n in names
        ]
        return Plan((*held, Action(ActionKind.START, JobKind.ENROLLMENT, "s")))

    ev.note_blocked(state, blocked("a", "b"), "t1")
    ev.note_blocked(state, blocked("b"), "t2")
    assert state.blocked == {
        "SpeakerEnrollmentJob/b": BlockedSince(since="t1", domain_id=D, reason="r-b")
    }
    assert state.unblocked == [Unblocked(key="SpeakerEnrollmentJob/a", since="t1", domain_id=D)]


# --- the ledger -----------------------------------------------------------------------------


def _events(*ids: str, kind: EventKind = EventKind.STARTED) -> list[Event]:
    return [_event(kind, id=i) for i in ids]


def test_a_new_sink_starts_from_the_baseline() -> None:
    """A sink without a ledger gets one holding the baseline (sorted, once); a known one keeps
    its own."""
    state = State()
    state.notified[ev.sink_key("old://")] = SinkLedger(delivered=["x"])
    ev.open_ledgers(state, [URL, "old://"], ["b", "a", "b"])
    assert state.notified[ev.sink_key(URL)].delivered == ["a", "b"]
    assert state.notified[ev.sink_key("old://")].delivered == ["x"]


def test_pending_is_what_a_sink_was_not_sent() -> None:
    """Per sink, the events of the wanted kinds it was not sent, in their order; unwanted kinds
    are marked delivered; ids no longer derivable leave the ledger."""
    state = State()
    state.notified[ev.sink_key(URL)] = SinkLedger(delivered=["gone", "s1"])
    events = _events("s2", "s1") + _events("c1", kind=EventKind.COMPLETED)
    (outbox,) = ev.pending(state, events, [URL], kinds={EventKind.STARTED})
    assert outbox == Outbox(URL, [events[0]])
    assert state.notified[ev.sink_key(URL)].delivered == ["c1", "s1"]
    (fresh,) = ev.pending(state, events, ["new://"], kinds=set(EventKind))
    assert [e.id for e in fresh.events] == ["s2", "s1", "c1"]


def test_delivered_records_the_outbox() -> None:
    """A delivery that reached its sink: its ids delivered, failures reset, when it was sent."""
    state = State()
    state.notified[ev.sink_key(URL)] = SinkLedger(delivered=["z"], failures=3)
    ev.delivered(state, Outbox(URL, _events("b", "a")), "2026-12-01T09:42:10Z")
    assert state.notified[ev.sink_key(URL)] == SinkLedger(
        delivered=["a", "b", "z"], failures=0, last_sent="2026-12-01T09:42:10Z"
    )


def test_failed_deliveries_are_given_up_after_five_runs() -> None:
    """Four failed runs keep the events pending; the fifth gives them up (delivered) and starts
    the count again."""
    state = State()
    state.notified[ev.sink_key(URL)] = SinkLedger(delivered=["z"])
    outbox = Outbox(URL, _events("a"))
    assert [ev.failed(state, outbox) for _ in range(4)] == [False] * 4
    assert state.notified[ev.sink_key(URL)].failures == 4
    assert state.notified[ev.sink_key(URL)].delivered == ["z"]
    assert ev.failed(state, outbox) is True
    assert state.notified[ev.sink_key(URL)] == SinkLedger(delivered=["a", "z"], failures=0)


def test_an_unblocked_fact_is_kept_until_every_sink_has_it() -> None:
    """pending forgets an unblocked fact once every sink was sent it, or when there is none."""
    state = State()
    state.unblocked.append(Unblocked(key="K", since="t"))
    event = _event(EventKind.UNBLOCKED, id="unblocked/K/t")
    state.notified["s1"] = SinkLedger(delivered=["unblocked/K/t"])
    state.notified[ev.sink_key(URL)] = SinkLedger()
    ev.pending(state, [event], [URL], kinds=set(EventKind))
    assert len(state.unblocked) == 1
    ev.delivered(state, Outbox(URL, [event]), "2026-12-01T09:42:10Z")
    ev.pending(state, [event], [URL], kinds=set(EventKind))
    assert state.unblocked == []
    alone = State()
    alone.unblocked.append(Unblocked(key="K", since="t"))
    assert ev.pending(alone, [event], [], kinds=set(EventKind)) == []
    assert alone.unblocked == []


# --- one message ----------------------------------------------------------------------------


def test_a_message_counts_by_kind_and_puts_failures_first() -> None:
    """The title counts each kind in the order of the lines; lines by kind (failures first),
    then spec, then id."""
    events = [
        _event(EventKind.STARTED, id="s2", spec="S/b"),
        _event(EventKind.STARTED, id="s1", spec="S/b"),
        _event(EventKind.COMPLETED, id="c", spec="S/a"),
        _event(EventKind.UNBLOCKED, id="u", spec="S/a"),
        _event(EventKind.ORPHANED, id="o", spec="S/a"),
        _event(EventKind.BLOCKED, id="b", spec="S/z"),
        _event(EventKind.COMPLETED_WITH_ERRORS, id="w", spec="S/a"),
        _event(EventKind.ATTEMPT_FAILED, id="af", spec="S/a"),
        _event(EventKind.FAILED, id="f2", spec="S/b"),
        _event(EventKind.FAILED, id="f1", spec="S/a"),
    ]
    title, body = ev.message(events)
    assert title == (
        "voiceid-reconciler: 2 failed, 1 attempt-failed, 1 completed-with-errors, 1 blocked, "
        "1 orphaned, 1 unblocked, 1 completed, 2 started"
    )
    assert [line.split(" ")[1] for line in body.splitlines()] == [
        "S/a",
        "S/b",
        "S/a",
        "S/a",
        "S/z",
        "S/a",
        "S/a",
        "S/a",
        "S/b",
        "S/b",
    ]
    assert body.splitlines()[0] == f"• S/a FAILED in {D}"


def test_a_message_is_capped() -> None:
    """At most ``cap`` lines, then '… and N more'; exactly ``cap`` events have no such line."""
    events = _events(*[f"s{i:02d}" for i in range(5)])
    _, body = ev.message(events, cap=3)
    assert body.splitlines()[3:] == ["… and 2 more"]
    assert len(body.splitlines()) == 4
    _, whole = ev.message(events, cap=5)
    assert len(whole.splitlines()) == 5
    _, default = ev.message(_events(*[f"s{i:02d}" for i in range(21)]))
    assert default.splitlines()[-1] == "… and 1 more"
    assert len(default.splitlines()) == 21


def test_an_event_is_an_immutable_value() -> None:
    """An event cannot be changed once derived, and equal events hash alike (ids in sets)."""
    event = _event(EventKind.STARTED)
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.reason = "x"  # type: ignore[misc]
    assert len({event, _event(EventKind.STARTED)}) == 1


def _ended_of(state: State, plan: Plan | None, **kw: Any) -> Event:
    (ended,) = [e for e in ev.derive(state, plan, **kw) if e.id.startswith("ended/")]
    return ended


def _coming(kind: ActionKind, reason: str = "", attempt: int = 2) -> Plan:
    return Plan((Action(kind, JobKind.ENROLLMENT, "emea", hash=H, attempt=attempt, reason=reason),))


def test_a_retry_queued_or_held_for_review_says_why_it_waits() -> None:
    """The plan's queued or review-held next attempt of the hash: its fate and the plan's
    reason (without its 'awaiting review: ' prefix); a retry that will start gives none."""
    state = _state(_record(1, JobStatus.FAILED))
    queued = _ended_of(state, _coming(ActionKind.QUEUED, "domain busy"))
    assert (queued.kind, queued.next_attempt, queued.retry, queued.reason) == (
        EventKind.ATTEMPT_FAILED,
        2,
        Retry.QUEUED,
        "domain busy",
    )
    held = _ended_of(state, _coming(ActionKind.AWAITING_REVIEW, "awaiting review: not approved"))
    assert (held.next_attempt, held.retry, held.reason) == (
        2,
        Retry.AWAITING_REVIEW,
        "not approved",
    )
    will = _ended_of(state, _coming(ActionKind.RETRY, "attempt 1 FAILED"))
    assert (will.retry, will.reason) == (Retry.WILL_START, None)


def test_a_later_recorded_attempt_says_no_reason_even_with_a_plan() -> None:
    """A next attempt already recorded is told started, whatever the plan's reason."""
    state = _state(_record(1, JobStatus.FAILED), _record(2, JobStatus.IN_PROGRESS))
    ended = _ended_of(state, _coming(ActionKind.QUEUED, "domain busy", attempt=3))
    assert (ended.next_attempt, ended.retry, ended.reason) == (2, Retry.STARTED, None)


def test_without_the_plans_word_max_attempts_decides() -> None:
    """No plan, or a plan without the spec: another attempt is allowed below maxAttempts
    (the next one named), none at it; a plan that holds the spec and shows no retry has
    decided."""
    first = _state(_record(1, JobStatus.FAILED))
    allowed = _ended_of(first, None, max_attempts={KEY: 3})
    assert (allowed.kind, allowed.next_attempt, allowed.retry) == (
        EventKind.ATTEMPT_FAILED,
        2,
        Retry.ALLOWED,
    )
    other = Plan((Action(ActionKind.IN_SYNC, JobKind.ENROLLMENT, "other", hash=H),))
    assert _ended_of(first, other, max_attempts={KEY: 3}).retry is Retry.ALLOWED
    held = Plan((Action(ActionKind.IN_SYNC, JobKind.ENROLLMENT, "emea", hash=H),))
    assert _ended_of(first, held, max_attempts={KEY: 3}).kind is EventKind.FAILED
    last = _state(_record(3, JobStatus.FAILED))
    assert _ended_of(last, None, max_attempts={KEY: 3}).kind is EventKind.FAILED
    second = _state(_record(2, JobStatus.FAILED))
    assert _ended_of(second, None, max_attempts={KEY: 3}).next_attempt == 3
    beyond = _state(_record(4, JobStatus.FAILED))
    assert _ended_of(beyond, None, max_attempts={KEY: 3}).kind is EventKind.FAILED


def test_a_rosters_part_takes_the_rosters_max_attempts() -> None:
    """A part's entry (``<key>-part-NNN``) has no limit of its own: its roster's applies;
    its own, when given, first."""
    state = _state(_record(1, JobStatus.FAILED))
    state.specs[f"{KEY}-part-002"] = state.specs.pop(KEY)
    part = _ended_of(state, None, max_attempts={KEY: 2})
    assert (part.retry, part.max_attempts) == (Retry.ALLOWED, 2)
    own = _ended_of(state, None, max_attempts={KEY: 1, f"{KEY}-part-002": 2})
    assert own.max_attempts == 2
    assert _ended_of(state, None, max_attempts={"other": 2}).kind is EventKind.FAILED
