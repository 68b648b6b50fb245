"""What the status page draws, gathered from the state alone (no clock, no HTML).

Per domain and kind a :class:`Section` of job :class:`Bar` s (each with its start, end and
estimated end) and of :class:`Wait` s (blocked, queued, awaiting review), and the one time
:class:`Axis` every timeline shares; how each status looks (:data:`LOOKS`: a word, a symbol, a
pattern); the state's times as moments (:func:`moment_of`) and for people (:func:`short_time`:
the waits' reasons say them).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler.core import jobkinds
from reconciler.core.identity import parse_job_name
from reconciler.core.kinds import TERMINAL, JobKind
from reconciler.core.plan import next_start
from reconciler.core.review import APPLY_REVIEW

if TYPE_CHECKING:
    from reconciler.cli.render_status import Scope
    from reconciler.core.spec import LoadedSpec
    from reconciler.core.state import JobRecord, State


@dataclass(frozen=True, slots=True)
class Look:
    """How one status is shown: a word, a symbol, a pattern (the SVG fill's id), the colour of
    the bar and of text about it (each with at least 4.5:1 against the page or its tint)."""

    word: str
    symbol: str
    pattern: str
    meaning: str


LOOKS: dict[str, Look] = {
    "COMPLETED": Look("completed", "✔", "p-completed", "ended, every request done"),
    "COMPLETED_WITH_ERRORS": Look(
        "completed with errors", "⚠", "p-errors", "ended, some requests failed"
    ),
    "FAILED": Look("failed", "✖", "p-failed", "ended without results"),
    "IN_PROGRESS": Look("in progress", "▶", "p-running", "running; dashes: its end at its pace"),
    "SUBMITTED": Look("submitted", "◷", "p-submitted", "accepted, not running yet"),
    "STARTING": Look("starting", "…", "p-starting", "start recorded, no job id seen yet"),
    "UNKNOWN": Look("unknown", "?", "p-starting", "a job whose status was never observed"),
}
"""Every status a job record can show, in the legend's order."""

_ENDED = frozenset(str(status) for status in TERMINAL)

WAITS = {
    "queued": "queued",
    "retry": "retry queued",
    "awaiting-review": "awaiting review",
    "blocked": "blocked",
}
"""What waits, by the word the page gives it."""

KIND_TITLES = {kind: definition.title for kind, definition in jobkinds.KINDS.items()}


def _kind_order(kind: str) -> tuple[bool, int]:
    """Where a kind's sections stand: a kind that fills watchlists first (fraudsters: an
    enrollment with fraud detection reads the watchlist they fill), else the registry's
    order."""
    return (not jobkinds.of(kind).fills_watchlists, list(jobkinds.KINDS).index(kind))


MIN_SPAN = 60.0
"""The shortest time axis, in seconds (jobs that all started and ended within a second)."""


@dataclass(slots=True)
class Bar:
    """One job on a timeline."""

    label: str
    """The spec's name (an unclaimed job: its JobName)."""
    record: JobRecord
    role: str
    """``current`` (the spec's latest attempt), ``attempt`` (an earlier one), ``superseded``
    (a job of an earlier version of the spec), ``unclaimed`` (no spec of the state claims it)."""
    removed: bool = False
    start: float | None = None
    end: float | None = None
    estimate: float | None = None
    """When a job in flight would end at its pace so far (None when that cannot be told)."""

    @property
    def status(self) -> str:
        record = self.record
        if record.status is not None:
            return str(record.status)
        return "STARTING" if record.job_id is None else "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Wait:
    """A spec that waits, and why."""

    name: str
    what: str
    """A key of :data:`WAITS`."""
    why: str
    order: tuple[int, int, str, str] = (0, 0, "", "")
    """Its place among a section's waits: blocked first (someone must act), then the queued
    starts in the order the queue serves them (priority, then when approved, then name), then
    what awaits a review."""


@dataclass(slots=True)
class Section:
    """One domain and kind."""

    domain_id: str | None
    domain: str
    kind: JobKind
    bars: list[Bar] = field(default_factory=list)
    waits: list[Wait] = field(default_factory=list)

    @property
    def anchor(self) -> str:
        """The section's id: unique, since a domain's name holds only letters, digits, ``-``
        and ``_`` (Voice ID's rule)."""
        text = f"{self.domain}-{self.kind}"
        # 's-' first: an id must not start with a digit for a CSS selector, and a domain name
        # may.
        return "s-" + "".join(c if c.isalnum() or c in "-_" else "-" for c in text)


@dataclass(frozen=True, slots=True)
class Axis:
    """The time axis every timeline of the page shares (so a moment is at one place in all)."""

    start: float
    end: float
    observed: float | None

    def x(self, moment: float) -> float:
        """``moment`` as a percentage of the axis' width."""
        return 100.0 * (moment - self.start) / (self.end - self.start)


# -- gathering ----------------------------------------------------------------------------------


def moment_of(text: str | None) -> float | None:
    """A time the state wrote (``2026-12-01T09:42:10Z``) as epoch seconds, None if absent or
    unreadable (the page shows what it can, it does not refuse a state)."""
    if not text:
        return None
    try:
        # fromisoformat reads the 'Z' as UTC (Python 3.11), so the moment does not depend on the
        # host's time zone.
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


def short_time(text: str | None) -> str:
    """A time the state wrote, for people: ``2026-12-01 09:42 UTC``."""
    if not text:
        return "never"
    moment = moment_of(text)
    if moment is None:
        return text
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _shown(scope: Scope | None, key: str) -> bool:
    return scope is None or scope.shows(key)


def _bars(state: State, scope: Scope | None) -> list[Bar]:
    """Every job of the state a status shows: each spec's attempts and superseded jobs (the
    tombstones of ``state rm`` are never shown), and the unclaimed ones."""
    bars: list[Bar] = []
    for key, entry in state.specs.items():
        if not _shown(scope, key):
            continue
        removed = scope is not None and scope.removed(key)
        for record in entry.history:
            bars.append(Bar(entry.name, record, "superseded", removed))
        for number, record in enumerate(entry.jobs, 1):
            role = "current" if number == len(entry.jobs) else "attempt"
            bars.append(Bar(entry.name, record, role, removed))
    for record in state.orphans:
        parts = parse_job_name(record.job_name)
        bars.append(Bar(parts.name if parts else record.job_name, record, "unclaimed"))
    return bars


def _time(bars: Iterable[Bar], observed: float | None) -> None:
    """Each bar's start, end and, in flight, the estimate of its end."""
    for bar in bars:
        record = bar.record
        # An intent not yet confirmed has no CreatedAt: it is drawn from when it was recorded.
        bar.start = moment_of(record.created_at) or moment_of(record.intent_at)
        bar.end = moment_of(record.ended_at)
        if bar.start is None:
            continue
        if bar.end is None and observed is not None and bar.status not in _ENDED:
            # in flight: drawn up to the observation, the one moment the page knows it ran
            bar.end = max(observed, bar.start)
            percent = record.percent_complete or 0
            if 0 < percent < 100 and bar.end > bar.start:
                # At its pace so far: 40% done in 20 minutes ends 30 minutes later. 0% and 100%
                # tell no pace.
                bar.estimate = bar.start + (bar.end - bar.start) * 100 / percent


def _domain_names(state: State) -> dict[str, str]:
    """DomainId -> the name it was resolved from (the first in order, when several were)."""
    names: dict[str, str] = {}
    # Sorted, so that of two names resolved to one id the same one is shown at every run.
    for name, domain_id in sorted(state.domains.items()):
        names.setdefault(domain_id, name)
    return names


def _kind_of(key: str) -> JobKind | None:
    try:
        return JobKind(key.partition("/")[0])
    except ValueError:
        return None


def _waits(
    state: State, scope: Scope | None, specs: Sequence[LoadedSpec]
) -> list[tuple[str | None, str, JobKind, Wait]]:
    """What waits, with its DomainId (or None), its domain's text and its kind."""
    by_key = {spec.key: spec for spec in specs}
    ids = set(state.domains.values())
    keys = set(state.blocked) | set(state.approvals) | set(by_key)
    out = []
    for key in sorted(keys):
        kind = _kind_of(key)
        spec = by_key.get(key)
        if kind is None or not _shown(scope, key) or (scope is not None and scope.removed(key)):
            continue  # a removed spec's approval or block is no longer anybody's concern
        wait = _wait(state, key, spec)
        if wait is None:
            continue
        entry = state.specs.get(key)
        blocked = state.blocked.get(key)
        domain_id = (blocked.domain_id if blocked else None) or (entry.domain_id if entry else None)
        text = spec.facts.domain if spec else ""
        if domain_id is None and spec is not None:
            domain_id = state.domains.get(text) or (text if text in ids else None)
        out.append((domain_id, text, kind, wait))
    return out


def _wait(state: State, key: str, spec: LoadedSpec | None) -> Wait | None:
    name = key.partition("/")[2]
    priority = spec.facts.priority if spec else 0
    blocked = state.blocked.get(key)
    if blocked is not None:
        why = f"{blocked.reason or 'blocked'} (since {short_time(blocked.since)})"
        return Wait(name, "blocked", why, (0, 0, "", name))
    approval = state.approvals.get(key)
    entry = state.specs.get(key)
    if approval is not None:
        jobs = [j for j in (entry.jobs if entry else []) if approval.hash.startswith(j.hash)]
        review = (
            "a start confirmed at a terminal"
            if approval.review == APPLY_REVIEW
            else f"review {approval.review[:12]}"
        )
        if not jobs:
            why = (
                f"approved by {review} on {short_time(approval.at)}; starts when its domain's "
                "slot for this kind frees"
            )
            # -priority: a higher priority is served first, as the plan's queue serves it; then
            # by when it was approved.
            return Wait(name, "queued", why, (1, -priority, approval.at, name))
        start = next_start(jobs, approval.max_attempts)  # the plan's own start rule
        if start is not None and start[1] == "retry-after-failure":
            why = (
                f"attempt {start[0]} of the {approval.max_attempts} approved by "
                f"{review}; starts when its domain's slot for this kind frees"
            )
            return Wait(name, "retry", why, (1, -priority, approval.at, name))
        return None
    if spec is not None and entry is None:
        why = "no job yet, and no review approved its start (plan shows it for review)"
        return Wait(name, "awaiting-review", why, (2, 0, "", name))
    return None


def sections(
    state: State, *, scope: Scope | None = None, specs: Sequence[LoadedSpec] = ()
) -> tuple[list[Section], Axis | None]:
    """The page's sections (by domain name, then kind: fraudsters first) and its time axis
    (None when no job has a time)."""
    observed = moment_of(state.observed_at)
    bars = _bars(state, scope)
    _time(bars, observed)
    names = _domain_names(state)
    found: dict[tuple[str | None, str, JobKind], Section] = {}

    def section(domain_id: str | None, text: str, kind: JobKind) -> Section:
        if domain_id:
            domain = names.get(domain_id, domain_id)
        else:  # a name no run resolved yet, or (without the specs) not even a name
            domain = f"{text} (not resolved yet)" if text else "domain unknown (no spec given)"
        # Unresolved domains are told apart by their text: two specs naming two unknown domains
        # must not share one section.
        key = (domain_id, domain if domain_id is None else "", kind)
        if key not in found:
            found[key] = Section(domain_id, domain, kind)
        return found[key]

    for bar in bars:
        section(bar.record.domain_id, "", bar.record.kind).bars.append(bar)
    for domain_id, text, kind, wait in _waits(state, scope, specs):
        section(domain_id, text, kind).waits.append(wait)
    ordered = sorted(
        found.values(),
        key=lambda s: (s.domain_id is None, s.domain, _kind_order(s.kind)),
    )
    for each in ordered:
        # By start, then name and attempt: the same state draws the same page; a bar with no
        # time goes last.
        each.bars.sort(key=lambda b: (b.start is None, b.start or 0.0, b.label, b.record.attempt))
        each.waits.sort(key=lambda w: w.order)
    return ordered, _axis(bars, observed)


def _axis(bars: Sequence[Bar], observed: float | None) -> Axis | None:
    starts = [b.start for b in bars if b.start is not None]
    if not starts:
        return None
    ends = [b.end for b in bars if b.end is not None]
    first = min(starts)
    last = max([*starts, *ends, *([observed] if observed is not None else [])])
    if observed is not None and observed < first:  # a clock that disagrees: show what is there
        observed = None
    estimates = [b.estimate for b in bars if b.estimate is not None]
    # A job at 1% after an hour would stretch the axis to four days and squeeze every real bar
    # into a sliver: its estimate is cut at the axis' edge instead.
    if estimates:  # an estimate stretches the axis by half its span at most
        last = max(last, min(max(estimates), last + (last - first) / 2))
    if last - first < MIN_SPAN:
        last = first + MIN_SPAN
    # A percent of room at each end: a bar at the very edge would be cut by its own stroke.
    pad = (last - first) * 0.01
    return Axis(first - pad, last + pad, observed)
