"""Job events as values, and the ledger that makes each one reach each sink once.

An event is a fact the state (and the run's final plan) shows about a managed job, with an id
that names the fact, not the run that saw it:

==========================  =====================================================================
``started/<JobId>``         a job of ours exists (started by this or any run, or found by listing)
``ended/<JobId>/<STATUS>``  it ended COMPLETED, COMPLETED_WITH_ERRORS (with its result counts) or
                            FAILED (with Voice ID's failure)
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
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from reconciler.core.kinds import JobStatus
from reconciler.core.plan import ActionKind, Plan
from reconciler.core.state import BlockedSince, JobRecord, SinkLedger, State, Unblocked

MAX_ATTEMPTS = 5
"""Runs in a row a sink may fail before its pending events are given up."""
MESSAGE_CAP = 20
"""Events listed in one message; the rest are counted (``and N more``)."""


class EventKind(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    COMPLETED_WITH_ERRORS = "completed-with-errors"
    FAILED = "failed"
    BLOCKED = "blocked"
    UNBLOCKED = "unblocked"
    ORPHANED = "orphaned"


FAILURES = frozenset({EventKind.FAILED, EventKind.COMPLETED_WITH_ERRORS, EventKind.BLOCKED})
"""What ``--notify-on failures`` (the default) sends."""
_ENDED = {
    JobStatus.COMPLETED: EventKind.COMPLETED,
    JobStatus.COMPLETED_WITH_ERRORS: EventKind.COMPLETED_WITH_ERRORS,
    JobStatus.FAILED: EventKind.FAILED,
}


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
        }

    def line(self) -> str:
        """One line for people (Slack, Teams, e-mail, SNS)."""
        what = {
            EventKind.STARTED: "started",
            EventKind.COMPLETED: "COMPLETED",
            EventKind.COMPLETED_WITH_ERRORS: "COMPLETED_WITH_ERRORS",
            EventKind.FAILED: "FAILED",
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
        if self.reason:
            details.append(self.reason)
        tail = f": {'; '.join(details)}" if details else ""
        attempt = f" (attempt {self.attempt})" if self.attempt and self.attempt > 1 else ""
        return f"{self.spec}{attempt} {what} in {domain}{tail}"


def sink_key(url: str) -> str:
    """The ledger's name for a sink: a digest of its URL (a URL may hold a token)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


def derive(state: State, plan: Plan | None) -> list[Event]:
    """Every event true of the state and the run's final plan, in a stable order."""
    names = {domain_id: name for name, domain_id in state.domains.items()}

    def of_spec(event_id: str, kind: EventKind, key: str, domain: str | None, **more: Any) -> Event:
        return Event(event_id, kind, key, domain, names.get(domain or ""), **more)

    events: list[Event] = []
    for key, entry in sorted(state.specs.items()):
        for record in entry.jobs + entry.history:
            events.extend(_job_events(key, record, names))
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


def _job_events(key: str, record: JobRecord, names: dict[str, str]) -> list[Event]:
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
    ended = _ENDED.get(record.status) if record.status else None
    if ended is not None:
        failure = None
        if record.failure is not None:
            failure = f"failure {record.failure.status_code}: {record.failure.message}"
        out.append(
            Event(
                f"ended/{record.job_id}/{record.status}",
                ended,
                results=record.results,
                failure=failure,
                at=record.ended_at,
                **common,
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
        done = set(ledger.delivered) & derivable
        ledger.delivered = sorted(done | unwanted)
        todo = [e for e in events if e.id not in done and e.kind in kinds]
        out.append(Outbox(url, todo))
    _prune_unblocked(state)
    return out


def delivered(state: State, outbox: Outbox, now: str) -> None:
    """Record that ``outbox`` reached its sink."""
    ledger = state.notified[sink_key(outbox.sink)]
    ledger.delivered = sorted(set(ledger.delivered) | {e.id for e in outbox.events})
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
    ledger.delivered = sorted(set(ledger.delivered) | {e.id for e in outbox.events})
    ledger.failures = 0
    return True


def _prune_unblocked(state: State) -> None:
    """Forget an unblocked fact once every sink has it (or there is no sink)."""
    ids = {f"unblocked/{u.key}/{u.since}": u for u in state.unblocked}
    keep = [
        u
        for event_id, u in ids.items()
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
                EventKind.COMPLETED_WITH_ERRORS,
                EventKind.BLOCKED,
                EventKind.ORPHANED,
                EventKind.UNBLOCKED,
                EventKind.COMPLETED,
                EventKind.STARTED,
            ]
        )
    }
    ordered = sorted(events, key=lambda e: (order[e.kind], e.spec, e.id))
    counts: dict[str, int] = {}
    for event in ordered:
        counts[event.kind.value] = counts.get(event.kind.value, 0) + 1
    title = "voiceid-reconciler: " + ", ".join(f"{n} {kind}" for kind, n in counts.items())
    lines = [f"• {event.line()}" for event in ordered[:cap]]
    if len(ordered) > cap:
        lines.append(f"… and {len(ordered) - cap} more")
    return title, "\n".join(lines)
