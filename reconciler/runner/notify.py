"""Delivering job events: once per sink, grouped per run, complete at the end of the run.

:class:`Notifier` is given the sinks before a run starts (a bad URL fails the run before
anything starts), takes the baseline of events already true when the run read its state, and
after a plan (every ``--wait`` poll) delivers what is pending: one message per sink holding
every new event (``MESSAGE_CAP`` lines, then ``and N more``), of the kinds ``--notify-on``
names, at most one per ``interval`` per sink *within the run*. The run's last delivery
(:meth:`Notifier.finish`; or any delivery after which nothing is left to happen: no job in
flight, nothing to start) sends everything pending whatever the interval, so no event a run
saw waits for the next run. What was delivered is recorded in the state, which the run writes
under its lock — so re-runs, polls, retried Jobs and concurrent runs never repeat an event,
and a sink that failed gets it next run.

The notifier keeps no state object between calls: each call is given the state it records
in (a run may read a fresh one at every poll, under the lock of that poll); what it keeps is
per run and plain — the baseline's event ids, when it last sent to each sink, the sinks that
failed in this run.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field

import structlog

from reconciler.adapters.notify import CommitStatus, Delivery, NotifyError, Sink
from reconciler.core import events as ev
from reconciler.core.events import DEFAULT_INTERVAL, Event, EventKind
from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Plan, settled
from reconciler.core.state import State
from reconciler.core.times import iso

log = structlog.get_logger("reconciler.notify")


@dataclass
class Notifier:
    """The sinks of one run and how to reach them."""

    sinks: Mapping[str, Sink]
    """By URL (the ledger's key is a digest of it)."""
    kinds: Collection[EventKind] = ev.FAILURES
    interval: float = DEFAULT_INTERVAL
    commit_of: Callable[[str], str | None] = lambda _key: None
    """The commit that introduced a spec's current version (GitHub statuses), by spec key."""
    max_attempts: Mapping[str, int] = field(default_factory=dict)
    """Each spec's ``maxAttempts`` by key: tells a FAILED attempt with a retry to come where
    no plan does (``status --refresh``), and gives messages their ``attempt 1 of 2``."""
    failed_sinks: set[str] = field(default_factory=set)
    """Sinks whose delivery failed in this run: a run counts once towards giving up, however
    many polls it retried in."""
    _baseline: frozenset[str] = field(default=frozenset(), init=False, repr=False)
    """The ids of the events true when the run began (a sink's ledger opens with them)."""
    _last_sent: dict[str, float] = field(default_factory=dict, init=False, repr=False)
    """When this run last sent to each sink (by URL): the interval is per run, never read
    from the state, so a run's first delivery is never held by an earlier run's."""

    def begin(self, state: State) -> None:
        """A sink new to the state gets its ledger now, holding what was already true when
        the run read the state (its baseline), so that the run's first write — before any
        Start — records it: a run killed later leaves the sink's new events pending, never
        swallowed by a later run's baseline."""
        self._baseline = frozenset(e.id for e in ev.derive(state, None))
        ev.open_ledgers(state, list(self.sinks), self._baseline)

    def deliver(self, state: State, plan: Plan | None, now: float, *, final: bool = False) -> None:
        """Send each sink what it has not been sent: at most one message per ``interval``
        within the run, unless this delivery is ``final`` or nothing is left to happen after
        it (then everything pending goes). Without a plan (``status --refresh``), the blocked
        specs are left as the last plan saw them."""
        when = iso(now)
        # a state read after begin() (a run that reads it at every poll) may not hold a new
        # sink's ledger yet (begin's state was never written): it opens with the same baseline
        ev.open_ledgers(state, list(self.sinks), self._baseline)
        if plan is not None:
            ev.note_blocked(state, plan, when)
        final = final or _nothing_left(state, plan)
        events = ev.derive(state, plan, max_attempts=self.max_attempts)
        # From every event, not only the pending ones: the commit statuses tally every spec of a
        # commit, and a job whose attempt-failed event went out in an earlier poll is still
        # pending, not failed.
        retrying = {e.job_id for e in events if e.kind is EventKind.ATTEMPT_FAILED}
        boxes = ev.pending(state, events, list(self.sinks), kinds=self.kinds)
        for box in boxes:
            if not box.events:
                continue
            last = self._last_sent.get(box.sink)
            if not final and last is not None and now - last < self.interval:
                continue  # stays pending: a later delivery of this run carries it
            sink = self.sinks[box.sink]
            title, text = ev.message(box.events)
            # Worked out only if a sink reads them (GitHub's does): the tally walks every spec
            # of the state, which Slack, SNS and webhook deliveries have no use for.
            statuses = functools.partial(
                commit_statuses, state, box.events, self.commit_of, retrying
            )
            try:
                sink.send(Delivery(title, text, box.events, statuses))
            except NotifyError as err:
                first = box.sink not in self.failed_sinks
                self.failed_sinks.add(box.sink)
                # A run counts once towards giving up, however many polls retried it:
                # MAX_ATTEMPTS is runs in a row, and a long --wait must not give a sink up
                # within the run.
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
            # Only on success: a sink that failed is tried again at the next poll, not held an
            # interval.
            self._last_sent[box.sink] = now
            log.info("notify.sent", sink=sink.name, events=len(box.events))


def _nothing_left(state: State, plan: Plan | None) -> bool:
    """Whether nothing more can happen in this run after a delivery: with a plan, no job in
    flight and nothing to start (``apply --wait`` settles); without one, no job the state
    holds in flight (``status --watch`` stops)."""
    if plan is not None:
        return settled(plan, may_start=True)
    return not any(record.active for record in state.all_jobs())


_RANK = {"failure": 3, "error": 2, "pending": 1, "success": 0}


def commit_statuses(
    state: State,
    events: Sequence[Event],
    commit_of: Callable[[str], str | None],
    retrying: Collection[str | None] = (),
) -> list[CommitStatus]:
    """The commit statuses the events touch: per (commit, ``voiceid/<domain>/<kind>``), the
    worst of the specs of that commit and context — failure (a job FAILED or with errors),
    error (blocked), pending (running, not started, or FAILED with a retry to come: a job id
    of ``retrying``), success (all COMPLETED)."""
    # The context names the domain by its name, as people know it (voiceid/prod-eu/enrollment);
    # an id the state has no name for is shown as it is rather than dropped.
    names = {domain_id: name for name, domain_id in state.domains.items()}
    # Only the (commit, context) pairs an event touched get a status: GitHub keeps the last
    # status of each context, so the others are already right, and posting them again would
    # spend the API's rate limit on every poll.
    touched = set()
    for event in events:
        sha = commit_of(event.spec)
        if sha and event.domain_id:
            touched.add((sha, _context(names, event.domain_id, event.job_kind)))
    if not touched:
        return []
    tally: dict[tuple[str, str], dict[str, int]] = {}
    # Every spec of a touched commit and context is tallied, not only those with an event: a
    # status made from the new events alone would turn a context green while another of its
    # specs failed.
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
        # No record or no status yet: an intent or a Start not described yet, still under way.
        elif latest is None or latest.status is None or latest.active:
            word = "running"
        elif latest.job_id in retrying:
            word = "retrying"
        elif latest.status == JobStatus.COMPLETED:
            word = "completed"
        else:
            word = "failed"
        counts = tally.setdefault(slot, {})
        counts[word] = counts.get(word, 0) + 1
    out = []
    for (sha, context), counts in sorted(tally.items()):
        # The worst word wins: one failed spec makes its commit's context red.
        state_ = max(
            (
                {
                    "failed": "failure",
                    "blocked": "error",
                    "running": "pending",
                    "retrying": "pending",
                }.get(w, "success")
                for w in counts
            ),
            key=_RANK.__getitem__,
        )
        description = ", ".join(f"{n} {w}" for w, n in sorted(counts.items()))
        out.append(CommitStatus(sha, context, state_, description))
    return out


def _context(names: Mapping[str, str], domain_id: str, kind: str) -> str:
    return f"voiceid/{names.get(domain_id, domain_id)}/{kind}"
