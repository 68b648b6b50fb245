"""Delivering job events: once per sink, grouped per run, no floods.

:class:`Notifier` is given the sinks before a run starts (a bad URL fails the run before
anything starts), takes the baseline of events already true when the run read its state, and
after a plan (every ``--wait`` poll, and the end of the run) delivers what is pending: one
message per sink holding every new event (``MESSAGE_CAP`` lines, then ``and N more``), at
most one per ``interval`` per sink, of the kinds ``--notify-on`` names. What was delivered is
recorded in the state, which the run writes under its lock — so re-runs, polls, retried Jobs
and concurrent runs never repeat an event, and a sink that failed gets it next run.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from reconciler.adapters.notify import CommitStatus, GitHubSink, NotifyError, Sink
from reconciler.core import events as ev
from reconciler.core.events import Event, EventKind
from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Plan
from reconciler.core.state import State
from reconciler.core.times import epoch, iso

log = structlog.get_logger("reconciler.notify")

DEFAULT_INTERVAL = 60.0
"""Seconds between two messages to one sink (``--notify-interval``)."""


@dataclass
class Notifier:
    """The sinks of one run and how to reach them."""

    sinks: Mapping[str, Sink]
    """By URL (the ledger's key is a digest of it)."""
    kinds: Collection[EventKind] = ev.FAILURES
    interval: float = DEFAULT_INTERVAL
    commit_of: Callable[[str], str | None] = lambda _key: None
    """The commit that introduced a spec's current version (GitHub statuses), by spec key."""
    sent: int = 0
    """Messages delivered in this run (for the summary and the tests)."""
    failed_sinks: set[str] = field(default_factory=set)
    """Sinks whose delivery failed in this run: a run counts once towards giving up, however
    many polls it retried in."""

    def begin(self, state: State) -> None:
        """A sink new to the state gets its ledger now, holding what was already true when
        the run read the state (its baseline), so that the run's first write — before any
        Start — records it: a run killed later leaves the sink's new events pending, never
        swallowed by a later run's baseline."""
        baseline = {e.id for e in ev.derive(state, None)}
        ev.open_ledgers(state, list(self.sinks), baseline)

    def deliver(self, state: State, plan: Plan | None, now: float) -> None:
        """Send each sink what it has not been sent (subject to the interval). Without a
        plan (``status --refresh``), the blocked specs are left as the last plan saw them."""
        when = iso(now)
        if plan is not None:
            ev.note_blocked(state, plan, when)
        events = ev.derive(state, plan)
        boxes = ev.pending(state, events, list(self.sinks), kinds=self.kinds)
        for box in boxes:
            if not box.events:
                continue
            ledger = state.notified[ev.sink_key(box.sink)]
            if ledger.last_sent and now - epoch(ledger.last_sent) < self.interval:
                continue  # stays pending: the next delivery after the interval carries it
            sink = self.sinks[box.sink]
            title, text = ev.message(box.events)
            if isinstance(sink, GitHubSink):
                sink.statuses = commit_statuses(state, box.events, self.commit_of)
            try:
                sink.send(title, text, box.events)
            except NotifyError as err:
                first = box.sink not in self.failed_sinks
                self.failed_sinks.add(box.sink)
                given_up = ev.failed(state, box) if first else False
                log.warning(
                    "notify.failed",
                    sink=sink.name,
                    error=str(err),
                    events=len(box.events),
                    given_up=given_up,
                )
                continue
            ev.delivered(state, box, when)
            self.sent += 1
            log.info("notify.sent", sink=sink.name, events=len(box.events))


_RANK = {"failure": 3, "error": 2, "pending": 1, "success": 0}


def commit_statuses(
    state: State, events: Sequence[Event], commit_of: Callable[[str], str | None]
) -> list[CommitStatus]:
    """The commit statuses the events touch: per (commit, ``voiceid/<domain>/<kind>``), the
    worst of the specs of that commit and context — failure (a job FAILED or with errors),
    error (blocked), pending (running or not started), success (all COMPLETED)."""
    names = {domain_id: name for name, domain_id in state.domains.items()}
    touched = set()
    for event in events:
        sha = commit_of(event.spec)
        if sha and event.domain_id:
            touched.add((sha, _context(names, event.domain_id, event.job_kind)))
    if not touched:
        return []
    tally: dict[tuple[str, str], dict[str, int]] = {}
    for key, entry in state.specs.items():
        sha = commit_of(key)
        if not sha:
            continue
        slot = (sha, _context(names, entry.domain_id, entry.kind))
        if slot not in touched:
            continue
        latest = entry.latest()
        if key in state.blocked:
            word = "blocked"
        elif latest is None or latest.status is None or latest.active:
            word = "running"
        elif latest.status == JobStatus.COMPLETED:
            word = "completed"
        else:
            word = "failed"
        counts = tally.setdefault(slot, {})
        counts[word] = counts.get(word, 0) + 1
    out = []
    for (sha, context), counts in sorted(tally.items()):
        state_ = max(
            (
                {"failed": "failure", "blocked": "error", "running": "pending"}.get(w, "success")
                for w in counts
            ),
            key=_RANK.__getitem__,
        )
        description = ", ".join(f"{n} {w}" for w, n in sorted(counts.items()))
        out.append(CommitStatus(sha, context, state_, description))
    return out


def _context(names: Mapping[str, str], domain_id: str, kind: str) -> str:
    return f"voiceid/{names.get(domain_id, domain_id)}/{kind}"
