"""Job events as values, and the ledger that makes each one reach each sink once.

An event is a fact the state (and the run's final plan) shows about a managed job, with an id
that names the fact, not the run that saw it:

==========================  =====================================================================
``started/<JobId>``         a job of ours exists (started by this or any run, or found by listing)
``ended/<JobId>/<STATUS>``  it ended COMPLETED, COMPLETED_WITH_ERRORS (with its result counts) or
                            FAILED (with Voice ID's failure): ``failed`` when no attempt is left,
                            ``attempt-failed`` when another attempt of its hash comes (started,
                            to start, queued or awaiting review: :func:`derive` says which)
``blocked/<spec>/<since>``  a spec became blocked (the plan's reason and code)
``unblocked/<spec>/<since>`` it is no longer blocked
``orphaned/<JobName>``      a job of a spec that was removed
==========================  =====================================================================

Because an id is derived from what is true, a CronJob re-run, a ``--wait`` poll, a retried
Job or a second concurrent run derives the same ids again; the state's ``notified`` ledger
records, per sink (a digest of its URL: no secret is ever stored), the ids delivered there,
so each is sent once. A sink seen for the first time is given a baseline — every event
already true when the run began counts as delivered — so adding ``--notify`` does not replay
history. A delivery that fails stays pending for the next run (at most ``MAX_ATTEMPTS`` runs,
then it is given up, with a log line). No event carries a speaker id or an audio location.

A FAILED job's id is the same whether a retry follows or not: what a retry changes is the
event's kind, read from the final plan (or, with none, from the spec's ``maxAttempts``), so a
job's failure is told once, as what it was when the run saw it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Action, ActionKind, Plan
from reconciler.core.state import BlockedSince, JobRecord, SinkLedger, State, Unblocked

# Counted in runs, not polls: a webhook down for a long --wait must not give up its events
# within one run. Yet not forever: a message the sink refuses as it is (too large, a payload it
# rejects) would be sent again, with every later event added, at every run after.
MAX_ATTEMPTS = 5
"""Runs in a row a sink may fail before its pending events are given up."""
# One apply may start or fail hundreds of jobs: a message of every line would be cut or refused
# by a chat service's size limit, and read by nobody; the counts in the title stay whole.
MESSAGE_CAP = 20
"""Events listed in one message; the rest are counted (``and N more``)."""


class EventKind(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed-with-errors"
    FAILED = "failed"
    ATTEMPT_FAILED = "attempt-failed"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    ORPHANED = "orphaned"


FAILURES = frozenset(
    {
        EventKind.FAILED,
        EventKind.ATTEMPT_FAILED,
        EventKind.COMPLETED_WITH_ERRORS,
        EventKind.BLOCKED,
    }
)
"""What ``--notify-on failures`` (the default) sends: a failed attempt is a failure even with a
retry coming (the retry may fail the same way, and Voice ID's reason is in this message)."""
_ENDED = {
    JobStatus.COMPLETED: EventKind.COMPLETED,
    JobStatus.COMPLETED_WITH_ERRORS: EventKind.COMPLETED_WITH_ERRORS,
    JobStatus.FAILED: EventKind.FAILED,
}
RETRY_COMING = frozenset({ActionKind.RETRY, ActionKind.QUEUED, ActionKind.AWAITING_REVIEW})
"""The final plan's actions of a spec that make its FAILED attempt not the last one (when the
action is of the failed job's hash and a later attempt)."""

# A minute groups the polls of an apply --wait (one every 15 s by default) four to a message,
# while a run's failures still reach people within the minute they happen.
DEFAULT_INTERVAL = 60.0
"""Seconds between two messages to one sink within one run (``--notify-interval``)."""


class Retry(StrEnum):
    """What became of the next attempt after a FAILED one (an ``attempt-failed`` event)."""

    STARTED = "started"
    STARTING = "starting"
    """Its intent is recorded, its Start not confirmed yet."""
    WILL_START = "will-start"
    QUEUED = "queued"
    AWAITING_REVIEW = "awaiting-review"
    ALLOWED = "allowed"
    """No plan to tell (``status --refresh``): the spec's ``maxAttempts`` allows another."""


_RETRY_WORDS = {
    Retry.STARTED: "started",
    Retry.STARTING: "is starting",
    Retry.WILL_START: "will start",
    Retry.QUEUED: "is queued",
    Retry.AWAITING_REVIEW: "awaits review",
    Retry.ALLOWED: "is allowed (the next apply plans it)",
}
# The two fates of a retry that say why it waits; a retry that will start, or did, needs no
# reason in the message.
_WAITING = frozenset({Retry.QUEUED, Retry.AWAITING_REVIEW})


@dataclass(frozen=True)
class Event:
    """One transition of a managed job (or spec), as every sink is told it."""

    id: str
    kind: EventKind
    spec: str
    domain_id: str | None
    domain_name: str | None = None
    job_id: str | None = None
    job_name: str | None = None
    attempt: int | None = None
    results: dict[str, int] | None = None
    failure: str | None = None
    reason: str | None = None
    at: str | None = None
    max_attempts: int | None = None
    """The spec's ``maxAttempts``, when the run knows it (failures only)."""
    next_attempt: int | None = None
    """``attempt-failed``: the attempt that follows, and (``retry``) what became of it."""
    retry: Retry | None = None

    @property
    def job_kind(self) -> str:
        return self.spec.partition("/")[0]

    def as_dict(self) -> dict[str, Any]:
        """The event in the webhook payload (``formatVersion`` 1 of the notification)."""
        return {
            "id": self.id,
            "event": self.kind.value,
            "spec": self.spec,
            "domainId": self.domain_id,
            "domainName": self.domain_name,
            "jobId": self.job_id,
            "jobName": self.job_name,
            "attempt": self.attempt,
            "results": self.results,
            "failure": self.failure,
            "reason": self.reason,
            "at": self.at,
            "maxAttempts": self.max_attempts,
            "nextAttempt": self.next_attempt,
            "retry": self.retry.value if self.retry else None,
        }

    def line(self) -> str:
        """One line for people (Slack, Teams, e-mail, SNS)."""
        what = {
            EventKind.STARTED: "started",
            EventKind.COMPLETED: "COMPLETED",
            EventKind.COMPLETED_WITH_ERRORS: "COMPLETED_WITH_ERRORS",
            EventKind.FAILED: "FAILED",
            EventKind.ATTEMPT_FAILED: "FAILED",
            EventKind.BLOCKED: "blocked",
            EventKind.UNBLOCKED: "unblocked",
            EventKind.ORPHANED: "orphaned",
        }[self.kind]
        domain = self.domain_name or self.domain_id or "?"
        details = []
        if self.results:
            details.append(", ".join(f"{k} {v}" for k, v in sorted(self.results.items())))
        if self.failure:
            details.append(self.failure)
        if self.kind is EventKind.ATTEMPT_FAILED and self.retry is not None:
            why = f" ({self.reason})" if self.reason else ""  # why it waits (queue, review)
            details.append(f"attempt {self.next_attempt} {_RETRY_WORDS[self.retry]}{why}")
        elif self.reason:
            details.append(self.reason)
        if (
            self.kind is EventKind.FAILED
            and self.max_attempts is not None
            and (self.attempt or 1) >= self.max_attempts
        ):
            details.append("no attempts left")
        tail = f": {'; '.join(details)}" if details else ""
        of = f" of {self.max_attempts}" if self.max_attempts else ""
        if self.kind is EventKind.ATTEMPT_FAILED or (self.kind is EventKind.FAILED and of):
            attempt = f" attempt {self.attempt}{of}"
        elif self.attempt and self.attempt > 1:
            attempt = f" (attempt {self.attempt})"
        else:
            attempt = ""
        return f"{self.spec}{attempt} {what} in {domain}{tail}"


def sink_key(url: str) -> str:
    """The ledger's name for a sink: a digest of its URL (a URL may hold a token)."""
    # The URL may hold a token (Slack's and Teams' webhooks are secret URLs) and the state is
    # committed to git: only a digest is kept. 64 bits tell a run's handful of sinks apart; the
    # length keeps the state's ledger lines short.
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def derive(
    state: State, plan: Plan | None, *, max_attempts: Mapping[str, int] | None = None
) -> list[Event]:
    """Every event true of the state and the run's final plan, in a stable order.

    A FAILED job is ``attempt-failed`` when a later attempt of its hash is recorded, or the
    plan shows its spec retrying, queued or awaiting review with a later attempt of that hash
    (:data:`RETRY_COMING`), or — without a plan, or when the plan does not hold the spec —
    when the spec's ``maxAttempts`` (``max_attempts``, by spec key: a roster's part takes its
    roster's) allows another; else ``failed``."""
    names = {domain_id: name for name, domain_id in state.domains.items()}
    coming = {
        a.key: a for a in (plan.actions if plan is not None else ()) if a.kind in RETRY_COMING
    }
    planned = None if plan is None else {a.key for a in plan.actions}
    limits = max_attempts or {}

    def of_spec(event_id: str, kind: EventKind, key: str, domain: str | None, **more: Any) -> Event:
        return Event(event_id, kind, key, domain, names.get(domain or ""), **more)

    events: list[Event] = []
    for key, entry in sorted(state.specs.items()):
        # The parts of a chunked roster are state entries of their own ('<name>-part-NNN') with
        # no spec of their own: the session gives maxAttempts by spec key, so a part takes its
        # roster's.
        limit = (limits.get(key) or limits.get(key.rsplit("-part-", 1)[0])) if limits else None
        unplanned = planned is None or key not in planned
        fate = _Fate(entry.jobs + entry.history, entry.hash, coming.get(key), limit, unplanned)
        # The history holds the jobs of earlier hashes: a superseded version's job that ends
        # after the spec changed is still told (its id is by JobId, so it is told once however
        # often it shows).
        for record in entry.jobs + entry.history:
            events.extend(_job_events(key, record, names, fate))
    for action in plan.actions if plan is not None else ():
        if action.kind is ActionKind.ORPHANED and action.job_name:
            events.append(
                of_spec(
                    f"orphaned/{action.job_name}",
                    EventKind.ORPHANED,
                    action.key,
                    action.domain_id,
                    job_id=action.job_id,
                    job_name=action.job_name,
                    reason=action.reason,
                )
            )
    for key, now in sorted(state.blocked.items()):
        events.append(
            of_spec(
                # 'since' is in the id: a spec blocked, unblocked and blocked again is a new
                # fact each time, told again; the same block seen by every poll is one id, told
                # once.
                f"blocked/{key}/{now.since}",
                EventKind.BLOCKED,
                key,
                now.domain_id,
                reason=now.reason,
                at=now.since,
            )
        )
    for past in state.unblocked:
        events.append(
            of_spec(
                f"unblocked/{past.key}/{past.since}",
                EventKind.UNBLOCKED,
                past.key,
                past.domain_id,
                at=past.since,
            )
        )
    return events


@dataclass(frozen=True)
class _Fate:
    """What decides whether a FAILED job of a spec is its last attempt."""

    jobs: Sequence[JobRecord]
    """Every job the state holds of the spec (its hashes' attempts)."""
    current: str
    """The spec's current hash (only its attempts can still be retried)."""
    coming: Action | None
    """The final plan's retry, queue place or review hold of the spec, if any."""
    max_attempts: int | None
    unplanned: bool
    """No plan holds the spec (``status --refresh``, a spec left out): ``max_attempts`` says."""

    def after(self, record: JobRecord) -> tuple[int, Retry] | None:
        """The next attempt after ``record`` (FAILED), and what became of it; None when
        ``record`` was the last attempt."""
        later = [r for r in self.jobs if r.hash == record.hash and r.attempt > record.attempt]
        if later:
            nearest = min(later, key=lambda r: r.attempt)
            # A recorded attempt without a JobId is an intent whose Start was not confirmed (a
            # run killed between intent and answer): it may or may not exist yet, so it is
            # 'starting', not 'started'.
            return nearest.attempt, Retry.STARTED if nearest.job_id else Retry.STARTING
        action = self.coming
        # Only a retry of the failed job's own hash follows it: a plan that starts a new version
        # after a FAILED job makes that failure the last attempt of its hash.
        if action is not None and action.hash == record.hash:
            attempt = action.attempt or 0
            if attempt > record.attempt:
                if action.kind is ActionKind.AWAITING_REVIEW:
                    return attempt, Retry.AWAITING_REVIEW
                if action.kind is ActionKind.QUEUED:
                    return attempt, Retry.QUEUED
                return attempt, Retry.WILL_START
        if (
            # Only without a plan's word: a plan that holds the spec and shows no retry has
            # decided (the limit was reached, the spec changed), and maxAttempts must not
            # contradict it.
            self.unplanned
            and record.hash == self.current
            and self.max_attempts
            and record.attempt < self.max_attempts
        ):
            return record.attempt + 1, Retry.ALLOWED
        return None


def _job_events(key: str, record: JobRecord, names: dict[str, str], fate: _Fate) -> list[Event]:
    # An intent with no JobId yet is no event: every id is by JobId, so a job is told once it
    # exists and the same fact is not told again under another name when its Start is confirmed.
    if not record.job_id:
        return []
    common: dict[str, Any] = {
        "spec": key,
        "domain_id": record.domain_id,
        "domain_name": names.get(record.domain_id),
        "job_id": record.job_id,
        "job_name": record.job_name,
        "attempt": record.attempt,
    }
    out = [Event(f"started/{record.job_id}", EventKind.STARTED, at=record.created_at, **common)]
    # A status of None is a job started but not described yet; IN_PROGRESS and the other live
    # statuses map to nothing: only ends are events beside 'started'.
    ended = _ENDED.get(record.status) if record.status else None
    if ended is not None:
        failure = None
        more: dict[str, Any] = {}
        if record.failure is not None:
            failure = f"failure {record.failure.status_code}: {record.failure.message}"
        if ended is EventKind.FAILED:
            if record.hash == fate.current:  # an earlier hash's limit may have been another
                more["max_attempts"] = fate.max_attempts
            after = fate.after(record)
            if after is not None:
                ended = EventKind.ATTEMPT_FAILED
                more["next_attempt"], more["retry"] = after
                if after[1] in _WAITING and fate.coming is not None:
                    # why it waits (domain busy, what no review approved), said once
                    more["reason"] = fate.coming.reason.removeprefix("awaiting review: ")
        out.append(
            Event(
                f"ended/{record.job_id}/{record.status}",
                ended,
                results=record.results,
                failure=failure,
                at=record.ended_at,
                **common,
                **more,
            )
        )
    return out


def note_blocked(state: State, plan: Plan, now: str) -> None:
    """Keep ``state.blocked`` (specs blocked now, since when) and ``state.unblocked`` (those
    no longer blocked, until every sink was told) in step with the final plan."""
    blocked = {a.key: a for a in plan.actions if a.kind is ActionKind.BLOCKED}
    for key, action in blocked.items():
        if key not in state.blocked:
            state.blocked[key] = BlockedSince(
                since=now, domain_id=action.domain_id, reason=action.reason
            )
    for key in [k for k in state.blocked if k not in blocked]:
        was = state.blocked.pop(key)
        state.unblocked.append(Unblocked(key=key, since=was.since, domain_id=was.domain_id))


@dataclass
class Outbox:
    """What one sink is to be sent now, and what to record once it was."""

    sink: str
    events: list[Event] = field(default_factory=list)


def open_ledgers(state: State, urls: Sequence[str], baseline: Iterable[str]) -> None:
    """Give every sink that has none a ledger whose delivered ids are ``baseline`` (the
    events already true when the run began: a new sink hears of what happens from now on)."""
    # Sorted: the ledger is a list in the state, which is committed to git; an order that moved
    # from run to run would make a diff of every ledger at every write.
    ids = sorted(set(baseline))
    for url in urls:
        state.notified.setdefault(sink_key(url), SinkLedger(delivered=list(ids)))


def pending(
    state: State, events: Sequence[Event], urls: Sequence[str], *, kinds: Collection[EventKind]
) -> list[Outbox]:
    """Per sink (its ledger opened by :func:`open_ledgers`), the events of ``kinds`` it was
    not sent yet. Events of other kinds are recorded as delivered at once (never sent, never
    pending)."""
    derivable = {e.id for e in events}
    unwanted = {e.id for e in events if e.kind not in kinds}
    out = []
    for url in urls:
        ledger = state.notified.setdefault(sink_key(url), SinkLedger())
        # A ledger keeps only the ids still derivable: a job retired, forgotten or moved out of
        # the state drops out of its ledger, which would otherwise grow by every event ever
        # sent.
        done = set(ledger.delivered) & derivable
        # Kinds --notify-on leaves out are marked delivered now, never pending: widening
        # --notify-on later tells what happens from then on instead of replaying the history of
        # the new kinds.
        ledger.delivered = sorted(done | unwanted)
        todo = [e for e in events if e.id not in done and e.kind in kinds]
        out.append(Outbox(url, todo))
    _prune_unblocked(state)
    return out


def delivered(state: State, outbox: Outbox, now: str) -> None:
    """Record that ``outbox`` reached its sink."""
    ledger = state.notified[sink_key(outbox.sink)]
    ledger.delivered = sorted(set(ledger.delivered) | {e.id for e in outbox.events})
    # 'Runs in a row': one delivery that reaches the sink starts the count again.
    ledger.failures = 0
    ledger.last_sent = now


def failed(state: State, outbox: Outbox) -> bool:
    """Record that a run's delivery failed (once per run: the caller counts runs, not polls);
    True when its events are now given up (recorded as delivered after :data:`MAX_ATTEMPTS`
    runs in a row)."""
    ledger = state.notified[sink_key(outbox.sink)]
    ledger.failures += 1
    if ledger.failures < MAX_ATTEMPTS:
        return False
    # Given up means recorded as delivered: the events stop being carried into every later
    # message, and the count starts again so the next new events get their own MAX_ATTEMPTS
    # runs.
    ledger.delivered = sorted(set(ledger.delivered) | {e.id for e in outbox.events})
    ledger.failures = 0
    return True


def _prune_unblocked(state: State) -> None:
    """Forget an unblocked fact once every sink has it (or there is no sink)."""
    ids = {f"unblocked/{u.key}/{u.since}": u for u in state.unblocked}
    keep = [
        u
        for event_id, u in ids.items()
        # With no sink at all, any() of nothing is False and the fact goes at once: an unblocked
        # fact exists only to be told, and the state must not keep one for each spec ever
        # unblocked.
        if any(event_id not in ledger.delivered for ledger in state.notified.values())
    ]
    state.unblocked[:] = keep


def message(events: Sequence[Event], *, cap: int = MESSAGE_CAP) -> tuple[str, str]:
    """One message (title, body) for many events: one line each, at most ``cap`` lines and
    ``and N more``; failures first."""
    order = {
        kind: i
        for i, kind in enumerate(
            [
                EventKind.FAILED,
                EventKind.ATTEMPT_FAILED,
                EventKind.COMPLETED_WITH_ERRORS,
                EventKind.BLOCKED,
                EventKind.ORPHANED,
                EventKind.UNBLOCKED,
                EventKind.COMPLETED,
                EventKind.STARTED,
            ]
        )
    }
    # Failures first, so the cap cuts the started and completed lines before any failure; spec
    # and id after make the message the same for the same events (a re-sent one reads the same).
    ordered = sorted(events, key=lambda e: (order[e.kind], e.spec, e.id))
    counts: dict[str, int] = {}
    for event in ordered:
        counts[event.kind.value] = counts.get(event.kind.value, 0) + 1
    title = "voiceid-reconciler: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
    lines = [f"• {event.line()}" for event in ordered[:cap]]
    if len(ordered) > cap:
        lines.append(f"… and {len(ordered) - cap} more")
    return title, "\n".join(lines)
