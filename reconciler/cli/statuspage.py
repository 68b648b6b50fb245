"""``status --format html``: the status page, one self-contained HTML file.

A pure function of what ``status`` already has — the state, the scope of the specs (which
exist, which a selector chose) and the specs themselves — and of the time the page is written
(passed in: no clock here). Nothing is fetched: no network, no CDN, no font; the CSS, the SVG
and a few lines of script (opening the tables before printing) are inline.

Per domain and kind, a section: the queue as a timeline drawn in SVG (one bar per job, from its
``createdAt`` to its ``endedAt``, or to when the state was observed for a job in flight, whose
progress shows as the percentage and a dashed estimate of its end at its pace so far), each
status told by its colour, a pattern *and* a word (never by colour alone); a table of the same
jobs under each timeline (in a ``<details>``: the timeline's text alternative); what waits and
why; the failures with their reasons; the results of each job (its counts per outcome).

What waits is what the state alone can tell, without a plan: a spec blocked (the state's
``blocked`` map, with its reason), a start a review approved that has no job yet (queued for
its slot, in the order the queue serves them: priority, then when it was approved), a retry
approved within the reviewed attempts, and — given the specs — a spec with no job and no
approval (awaiting a review). A spec changed since its job, and what exactly each start waits
behind, take a plan: the page says so.

The same redaction as every other output: the state holds no speaker id and no audio location,
and nothing of a spec but its kind, name, domain and priority is read here (an inline roster
is never looked at). Failure messages are shown as the state holds them. Every text is
escaped.
"""

from __future__ import annotations

import html
import math
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from reconciler import __version__
from reconciler.core.identity import parse_job_name
from reconciler.core.kinds import TERMINAL, JobKind
from reconciler.core.plan import APPLY_REVIEW, next_start
from reconciler.core.times import span

if TYPE_CHECKING:
    from reconciler.cli.render_status import Scope
    from reconciler.core.spec import LoadedSpec
    from reconciler.core.state import JobRecord, State

# -- what is drawn ------------------------------------------------------------------------------


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

KIND_TITLES = {
    JobKind.REGISTRATION: "Fraudster registration",
    JobKind.ENROLLMENT: "Speaker enrollment",
}
KIND_ORDER = (JobKind.REGISTRATION, JobKind.ENROLLMENT)
"""Fraudsters first: an enrollment with fraud detection reads the watchlist they fill."""

ROW = 30
"""Pixels per job on a timeline: a line of text, then the bar."""
LANE = 14
"""Pixels per lane of a packed timeline (more jobs than :data:`LABELLED`)."""
LABELLED = 40
"""The most jobs a timeline gives a labelled row each; beyond, it packs them into lanes."""
AXIS = 24
LISTED = 12
"""The waits or failures of a section listed before the rest are folded."""
"""Pixels above the first row: the time axis' labels."""
MIN_SPAN = 60.0
"""The shortest time axis, in seconds (jobs that all started and ended within a second)."""
_STEPS = (
    60,
    300,
    900,
    1800,
    3600,
    3 * 3600,
    6 * 3600,
    12 * 3600,
    86400,
    2 * 86400,
    7 * 86400,
    30 * 86400,
    91 * 86400,
    365 * 86400,
)
"""The time between two ticks of an axis, the first that gives at most six ticks."""


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


def _moment(text: str | None) -> float | None:
    """A time the state wrote (``2026-12-01T09:42:10Z``) as epoch seconds, None if absent or
    unreadable (the page shows what it can, it does not refuse a state)."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


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
        bar.start = _moment(record.created_at) or _moment(record.intent_at)
        bar.end = _moment(record.ended_at)
        if bar.start is None:
            continue
        if bar.end is None and observed is not None and bar.status not in _ENDED:
            # in flight: drawn up to the observation, the one moment the page knows it ran
            bar.end = max(observed, bar.start)
            percent = record.percent_complete or 0
            if 0 < percent < 100 and bar.end > bar.start:
                bar.estimate = bar.start + (bar.end - bar.start) * 100 / percent


def _domain_names(state: State) -> dict[str, str]:
    """DomainId -> the name it was resolved from (the first in order, when several were)."""
    names: dict[str, str] = {}
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
        why = f"{blocked.reason or 'blocked'} (since {_short(blocked.since)})"
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
                f"approved by {review} on {_short(approval.at)}; starts when its domain's "
                "slot for this kind frees"
            )
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
    observed = _moment(state.observed_at)
    bars = _bars(state, scope)
    _time(bars, observed)
    names = _domain_names(state)
    found: dict[tuple[str | None, str, JobKind], Section] = {}

    def section(domain_id: str | None, text: str, kind: JobKind) -> Section:
        if domain_id:
            domain = names.get(domain_id, domain_id)
        else:  # a name no run resolved yet, or (without the specs) not even a name
            domain = f"{text} (not resolved yet)" if text else "domain unknown (no spec given)"
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
        key=lambda s: (s.domain_id is None, s.domain, KIND_ORDER.index(s.kind)),
    )
    for each in ordered:
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
    if estimates:  # an estimate stretches the axis by half its span at most
        last = max(last, min(max(estimates), last + (last - first) / 2))
    if last - first < MIN_SPAN:
        last = first + MIN_SPAN
    pad = (last - first) * 0.01
    return Axis(first - pad, last + pad, observed)


# -- writing ------------------------------------------------------------------------------------

_e = html.escape


def _short(text: str | None) -> str:
    """A time the state wrote, for people: ``2026-12-01 09:42 UTC``."""
    if not text:
        return "never"
    moment = _moment(text)
    if moment is None:
        return text
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def _clock(moment: float | None) -> str:
    if moment is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(moment))


def _count(n: int) -> str:
    return f"{n:,}"


def _jobs(n: int) -> str:
    return f"{n:,} job" if n == 1 else f"{n:,} jobs"


_OUTCOMES = {
    "NEW_ENROLLMENT": "new",
    "NEW_REGISTRATION": "new",
    "NEW_FRAUDSTER": "new",
    "DUPLICATE_SKIPPED": "duplicates skipped",
    "OVERWRITTEN": "overwritten",
    "ENROLLMENT_OVERWRITE": "overwritten",
    "UNKNOWN": "an outcome not known",
}
_GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("new", lambda key: key.startswith("NEW_")),
    ("duplicates", lambda key: key.startswith("DUPLICATE")),
    ("overwritten", lambda key: "OVERWR" in key),
    ("errors", lambda key: key.startswith("error:")),
)
"""How the short form counts outcomes (new, duplicates, overwritten, errors; anything else
is ``other``): the table lists each outcome as the state holds it."""


def _results_short(results: dict[str, int] | None) -> str:
    """``1,204 new · 12 duplicates · 3 errors`` (the table lists every outcome)."""
    if not results:
        return ""
    totals: Counter[str] = Counter()
    for key, n in results.items():
        group = next((name for name, test in _GROUPS if test(key)), "other")
        totals[group] += n
    parts = [f"{_count(totals['new'])} new"]
    parts += [f"{_count(totals[g])} {g}" for g in ("duplicates", "overwritten") if totals[g]]
    if totals["errors"]:
        parts.append(f"{_count(totals['errors'])} error{'s' if totals['errors'] != 1 else ''}")
    if totals["other"]:
        parts.append(f"{_count(totals['other'])} other")
    return " · ".join(parts)


def _results_full(results: dict[str, int] | None) -> str:
    """Every outcome and its count: the new ones first, errors last."""
    if not results:
        return "—"

    def rank(key: str) -> tuple[int, str]:
        return (next((i for i, (_, test) in enumerate(_GROUPS) if test(key)), len(_GROUPS)), key)

    return "<br>".join(
        f"{_e(_OUTCOMES.get(k, k.replace('error:', 'error ')))}: {_count(n)}"
        for k, n in sorted(results.items(), key=lambda kv: rank(kv[0]))
    )


def _status_text(bar: Bar) -> str:
    look = LOOKS.get(bar.status, LOOKS["UNKNOWN"])
    text = f"{look.symbol} {look.word}"
    if bar.status == "IN_PROGRESS" and bar.record.percent_complete is not None:
        text += f" {bar.record.percent_complete}%"
    return text


def _badge(bar: Bar) -> str:
    return f'<span class="badge b-{_e(bar.status)}">{_e(_status_text(bar))}</span>'


def _roles(bar: Bar) -> str:
    """What a bar is beside its status: an earlier attempt, superseded, unclaimed, removed."""
    words = []
    if bar.record.attempt > 1 or bar.role == "attempt":
        words.append(f"attempt {bar.record.attempt}")
    if bar.role in ("superseded", "unclaimed"):
        words.append(bar.role)
    if bar.removed:
        words.append("spec removed")
    return ", ".join(words)


def _duration(bar: Bar) -> str:
    if bar.start is None or bar.end is None:
        return ""
    return span(bar.end - bar.start)


def _took(bar: Bar) -> str:
    took = _duration(bar)
    if not took:
        return "—"
    return took if bar.record.ended_at else f"{took} so far"


def _lanes(bars: Sequence[Bar]) -> list[int]:
    """The lane of each bar when a timeline is packed: the first lane free at its start (the
    jobs of one domain and kind run one at a time, so most share one lane)."""
    ends: list[float] = []
    lanes = []
    for bar in bars:
        start = bar.start if bar.start is not None else -math.inf
        lane = next((i for i, end in enumerate(ends) if end <= start), len(ends))
        if lane == len(ends):
            ends.append(start)
        ends[lane] = max(start, bar.end or start)
        lanes.append(lane)
    return lanes


def _timeline(section: Section, axis: Axis, ticks: Sequence[tuple[float, str]]) -> str:
    """The section's SVG, under the shared axis: a row per job (its text, then its bar), or,
    beyond :data:`LABELLED` jobs, the bars packed into lanes (each job's text in its tooltip
    and in the table)."""
    bars = section.bars
    labelled = len(bars) <= LABELLED
    lanes = list(range(len(bars))) if labelled else _lanes(bars)
    pitch = ROW if labelled else LANE
    height = AXIS + pitch * (max(lanes, default=-1) + 1) + 6
    title = (
        f"Timeline of {_jobs(len(bars))} of {KIND_TITLES[section.kind].lower()} in {section.domain}"
    )
    packed = (
        ""
        if labelled
        else (f"; packed in {max(lanes) + 1} lane(s), a job's name and status in its tooltip")
    )
    ident = section.anchor
    out = [
        f'<svg class="tl" width="100%" height="{height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{_e(title)}</title>'
        f'<desc id="{ident}-d">From {_clock(axis.start)} to {_clock(axis.end)} UTC{packed}; '
        "the table below the timeline lists the same jobs.</desc>"
        '<svg x="1%" width="98%" overflow="visible">'
    ]
    for moment, label in ticks:
        x = axis.x(moment)
        out.append(
            f'<line class="tick" x1="{x:.3f}%" x2="{x:.3f}%" y1="{AXIS - 6}" y2="{height}"/>'
            f'<text class="tick" x="{x:.3f}%" y="{AXIS - 10}">{_e(label)}</text>'
        )
    if axis.observed is not None:
        x = axis.x(axis.observed)
        out.append(f'<line class="now" x1="{x:.3f}%" x2="{x:.3f}%" y1="{AXIS - 6}" y2="{height}"/>')
    for bar, lane in zip(bars, lanes, strict=True):
        out.append(_bar(bar, axis, AXIS + lane * pitch, labelled=labelled))
    out.append("</svg></svg>")
    return "".join(out)


def _bar(bar: Bar, axis: Axis, top: int, *, labelled: bool) -> str:
    """One job: a group with its tooltip, its text (labelled rows) and its bar; a job in flight
    also has the dashed estimate of its end."""
    look = LOOKS.get(bar.status, LOOKS["UNKNOWN"])
    roles = _roles(bar)
    more = [part for part in (_duration(bar), _results_short(bar.record.results)) if part]
    tip = " · ".join(
        part
        for part in (
            bar.label,
            roles,
            _status_text(bar),
            f"{_clock(bar.start)} to {_clock(bar.end) if bar.record.ended_at else 'now'}",
            *more,
        )
        if part
    )
    below = 16 if labelled else 2
    y, h = (top + below + 2, 6) if bar.role == "superseded" else (top + below, 10)
    parts = [f'<g class="job s-{_e(bar.status)} r-{bar.role}"><title>{_e(tip)}</title>']
    if labelled:
        parts.append(f'<text x="0" y="{top + 12}"><tspan class="name">{_e(bar.label)}</tspan>')
        if roles:
            parts.append(f'<tspan class="role"> ({_e(roles)})</tspan>')
        parts.append(f' · <tspan class="word">{_e(_status_text(bar))}</tspan>')
        if more:
            parts.append(f'<tspan class="more"> · {_e(" · ".join(more))}</tspan>')
        parts.append("</text>")
    if bar.start is not None:
        x = axis.x(bar.start)
        width = max(axis.x(bar.end or bar.start) - x, 0.0)
        fill = f"url(#{look.pattern})"
        parts.append(
            f'<rect class="bar" x="{x:.3f}%" y="{y}" width="{width:.3f}%" height="{h}" '
            f'fill="{fill}"/>'
            # a cap of fixed width: a job of minutes is still seen on an axis of weeks
            f'<rect class="cap" x="{x:.3f}%" y="{y}" width="3" height="{h}" fill="{fill}"/>'
        )
        if bar.estimate is not None and bar.end is not None:
            end = min(bar.estimate, axis.end)
            parts.append(
                f'<rect class="eta" x="{axis.x(bar.end):.3f}%" y="{y + 0.5}" '
                f'width="{max(axis.x(end) - axis.x(bar.end), 0.0):.3f}%" height="{h - 1}"/>'
            )
    parts.append("</g>")
    return "".join(parts)


def _ticks(axis: Axis) -> list[tuple[float, str]]:
    length = axis.end - axis.start
    step = next((s for s in _STEPS if length / s <= 6), _STEPS[-1])
    if step >= 86400:
        form = "%d %b"
    elif length > 86400:
        form = "%d %b %H:%M"
    else:
        form = "%H:%M"
    first = math.ceil(axis.start / step) * step
    ticks = []
    moment = float(first)
    while moment <= axis.end:
        if 3 < axis.x(moment) < 97:  # a label at the very edge would be cut in half
            ticks.append((moment, time.strftime(form, time.gmtime(moment))))
        moment += step
    return ticks


def _table(section: Section) -> str:
    rows = []
    for bar in reversed(section.bars):  # the newest first: what people look for
        record = bar.record
        roles = _roles(bar)
        spec = _e(bar.label) + (f'<br><span class="muted">{_e(roles)}</span>' if roles else "")
        rows.append(
            f"<tr><th scope=row>{spec}</th><td>{_badge(bar)}</td>"
            f"<td>{_short(record.created_at) if record.created_at else '—'}</td>"
            f"<td>{_short(record.ended_at) if record.ended_at else '—'}</td>"
            f"<td>{_took(bar)}</td><td>{_results_full(record.results)}</td>"
            f"<td><code>{_e(record.job_id or '—')}</code></td></tr>"
        )
    return (
        f'<details class="table"><summary>The {_jobs(len(section.bars))} as a table'
        "</summary>"
        '<div class="scroll"><table><thead><tr><th scope=col>Spec</th><th scope=col>Status</th>'
        "<th scope=col>Started</th><th scope=col>Ended</th><th scope=col>Took</th>"
        "<th scope=col>Results</th><th scope=col>Job id</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div></details>"
    )


def _waiting(section: Section) -> str:
    if not section.waits:
        return ""
    items = []
    for wait in section.waits:
        word = WAITS[wait.what]
        items.append(
            f'<li><span class="badge w-{wait.what}">{_e(word)}</span> '
            f"<strong>{_e(wait.name)}</strong>: {_e(wait.why)}</li>"
        )
    return f'<h3>Waiting <span class="n">({len(items)})</span></h3>' + _list("waits", items)


def _failures(section: Section) -> str:
    items = []
    for bar in reversed(section.bars):
        record = bar.record
        if bar.status == "FAILED":
            failure = record.failure
            reason = (
                f"{failure.status_code or ''} {failure.message}".strip()
                if failure
                else "no reason recorded"
            )
            roles = _roles(bar)
            items.append(
                f"<li>{_badge(bar)} <strong>{_e(bar.label)}</strong>"
                f"{f' ({_e(roles)})' if roles else ''}, {_short(record.ended_at)}: "
                f'<span class="reason">{_e(reason)}</span></li>'
            )
        elif bar.status == "COMPLETED_WITH_ERRORS":
            errors = {
                k.removeprefix("error:"): n
                for k, n in (record.results or {}).items()
                if k.startswith("error:")
            }
            told = ", ".join(f"{_count(n)} with error {k}" for k, n in sorted(errors.items()))
            items.append(
                f"<li>{_badge(bar)} <strong>{_e(bar.label)}</strong>, "
                f"{_short(record.ended_at)}: {_e(told or 'some requests failed')} "
                "(<code>status --details</code> on a terminal lists them)</li>"
            )
    if not items:
        return ""
    return f'<h3>Failures <span class="n">({len(items)})</span></h3>' + _list("failures", items)


def _list(kind: str, items: Sequence[str]) -> str:
    """A list whose items beyond the first :data:`LISTED` are folded (in the page, one click
    away, and printed open)."""
    shown = f'<ul class="{kind}">{"".join(items[:LISTED])}</ul>'
    if len(items) <= LISTED:
        return shown
    return (
        f'{shown}<details class="more"><summary>{_count(len(items) - LISTED)} more</summary>'
        f'<ul class="{kind}">{"".join(items[LISTED:])}</ul></details>'
    )


def _summary(section: Section) -> str:
    counts = Counter(bar.status for bar in section.bars)
    parts = [f"{_count(n)} {LOOKS.get(s, LOOKS['UNKNOWN']).word}" for s, n in _in_order(counts)]
    running = [b for b in section.bars if b.status in ("IN_PROGRESS", "SUBMITTED")]
    now = ""
    if running:
        names = ", ".join(
            f"{b.label} ({_status_text(b).split(' ', 1)[1]}, since {_clock(b.start)})"
            for b in running
        )
        now = f" Running now: {_e(names)}."
    if section.waits:
        now += f" Waiting: {len(section.waits)}."
    jobs = f"{_jobs(len(section.bars))}: {', '.join(parts)}" if parts else "No job yet"
    return f'<p class="summary">{_e(jobs)}.{now}</p>'


def _in_order(counts: Counter[str]) -> list[tuple[str, int]]:
    order = list(LOOKS)
    return sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)


def _section(section: Section, axis: Axis | None, ticks: Sequence[tuple[float, str]]) -> str:
    domain_id = (
        f' <code class="muted">{_e(section.domain_id)}</code>'
        if section.domain_id and section.domain_id != section.domain
        else ""
    )
    parts = [
        f'<section id="{section.anchor}" aria-labelledby="{section.anchor}-h" '
        f'data-domain="{_e(section.domain)}" data-kind="{_e(section.kind)}">'
        f'<h2 id="{section.anchor}-h">{_e(section.domain)} · '
        f"{KIND_TITLES[section.kind]}{domain_id}</h2>",
        _summary(section),
    ]
    if section.bars and axis is not None:
        parts.append(f'<div class="timeline">{_timeline(section, axis, ticks)}</div>')
    if section.bars:
        parts.append(_table(section))
    parts.extend((_waiting(section), _failures(section), "</section>"))
    return "".join(parts)


def _legend() -> str:
    items = [
        f'<li><svg width="28" height="12" aria-hidden="true"><rect class="bar" x="0" y="1" '
        f'width="28" height="10" fill="url(#{look.pattern})"/></svg> '
        f'<span class="badge b-{status}">{look.symbol} {look.word}</span> {_e(look.meaning)}</li>'
        for status, look in LOOKS.items()
        if status != "UNKNOWN"
    ]
    items.append(
        '<li><svg width="28" height="12" aria-hidden="true"><rect class="bar" x="0" y="3" '
        'width="28" height="6" fill="url(#p-completed)"/></svg> a thin bar: a job of an '
        "earlier version of its spec (superseded)</li>"
        '<li><svg width="28" height="12" aria-hidden="true"><line class="now" x1="14" x2="14" '
        'y1="0" y2="12"/></svg> when the state was observed</li>'
    )
    return (
        '<section class="legend" aria-labelledby="legend-h"><h2 id="legend-h">Legend</h2>'
        f"<ul>{''.join(items)}</ul></section>"
    )


def _header(
    state: State, sections_: Sequence[Section], rendered_at: str | None, scoped: bool
) -> str:
    counts = Counter(bar.status for s in sections_ for bar in s.bars)
    waits = Counter(w.what for s in sections_ for w in s.waits)
    tiles = [
        f'<li class="b-{_e(status)}"><strong>{_count(n)}</strong> '
        f"{_e(LOOKS.get(status, LOOKS['UNKNOWN']).word)}</li>"
        for status, n in _in_order(counts)
    ]
    tiles += [
        f'<li class="w-{what}"><strong>{_count(waits[what])}</strong> {_e(word)}</li>'
        for what, word in WAITS.items()
        if waits[what]
    ]
    nav = "".join(
        f'<li><a href="#{s.anchor}">{_e(s.domain)} · {KIND_TITLES[s.kind]}</a> '
        f'<span class="muted">{_jobs(len(s.bars))}'
        f"{f', {len(s.waits)} waiting' if s.waits else ''}</span></li>"
        for s in sections_
    )
    written = f" · page written {_short(rendered_at)}" if rendered_at else ""
    knows = (
        "Without a plan this page knows what the state records: jobs, blocked specs, approved "
        "starts not started yet"
        + (", and specs with no job and no approval" if scoped else "")
        + ". A spec changed since its job, and what each start waits behind, are in "
        "<code>voiceid-reconciler plan</code>."
    )
    if not scoped:
        knows += (
            " No specs were given (no PATH and no <code>specs/</code>): specs that never "
            "started are not listed."
        )
    return (
        "<header><h1>Voice ID batch jobs</h1>"
        f'<p class="observed">State observed <strong>{_short(state.observed_at)}</strong> '
        f"(serial {state.serial}){written}</p>"
        f'<ul class="counts" aria-label="Jobs and waits by status">{"".join(tiles)}</ul>'
        f'<nav aria-label="Domains and kinds"><ul>{nav}</ul></nav>'
        f'<p class="note">{knows}</p></header>'
    )


def _title(state: State, sections_: Sequence[Section]) -> str:
    counts = Counter(
        bar.status for s in sections_ for bar in s.bars if bar.role in ("current", "unclaimed")
    )
    parts = []
    if counts["FAILED"]:
        parts.append(f"{counts['FAILED']} failed")
    running = counts["IN_PROGRESS"] + counts["SUBMITTED"]
    if running:
        parts.append(f"{running} running")
    blocked = sum(1 for s in sections_ for w in s.waits if w.what == "blocked")
    if blocked:
        parts.append(f"{blocked} blocked")
    told = f" ({', '.join(parts)})" if parts else ""
    return f"Voice ID jobs{told} · observed {_short(state.observed_at)}"


def status_page(
    state: State,
    *,
    scope: Scope | None = None,
    specs: Sequence[LoadedSpec] = (),
    rendered_at: str | None = None,
) -> str:
    """The status page of ``state``: one HTML document, self-contained. ``scope`` and
    ``specs`` are ``status``'s (None and none: every record, nothing known of the specs);
    ``rendered_at`` is when the page is written (an ISO time, or None to leave it out)."""
    found, axis = sections(state, scope=scope, specs=specs)
    ticks = _ticks(axis) if axis is not None else []
    body = "".join(_section(s, axis, ticks) for s in found)
    if not found:
        body = '<p class="empty">No jobs recorded in the state yet, and nothing waits.</p>'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<meta name="color-scheme" content="light">'
        f'<meta name="generator" content="voiceid-reconciler {__version__}">'
        f"<title>{_e(_title(state, found))}</title><style>{_CSS}</style></head><body>"
        f"{_PATTERNS}{_header(state, found, rendered_at, scoped=scope is not None)}"
        f"{_legend()}<main>{body}</main>"
        '<footer><p class="muted">Written by <code>voiceid-reconciler status --format html'
        "</code>. No speaker ids or audio locations: the state holds none. Times are UTC."
        f"</p></footer><script>{_SCRIPT}</script></body></html>\n"
    )


# Colours: each bar colour has >= 4.5:1 against white (WCAG's 3:1 for graphics, with room),
# and each text colour >= 7:1 against its tint. The patterns tell the statuses apart without
# colour (and in print, in grey): solid, dotted, hatched, striped, lined, pale with a dashed
# outline (the CSS below draws the outlines).
_PATTERNS = (
    '<svg class="defs" width="0" height="0" aria-hidden="true" focusable="false"><defs>'
    '<pattern id="p-completed" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#1a7f37"/></pattern>'
    '<pattern id="p-errors" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#9a6700"/><circle cx="3" cy="3" r="1.3" fill="#fff"/>'
    "</pattern>"
    '<pattern id="p-failed" width="6" height="6" patternUnits="userSpaceOnUse" '
    'patternTransform="rotate(45)"><rect width="6" height="6" fill="#cf222e"/>'
    '<rect width="2" height="6" fill="#fff"/></pattern>'
    '<pattern id="p-running" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#0969da"/><rect x="4" width="2" height="6" '
    'fill="#b6e3ff"/></pattern>'
    '<pattern id="p-submitted" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#ddf4ff"/><rect width="6" height="1.5" fill="#0969da"/>'
    "</pattern>"
    '<pattern id="p-starting" width="6" height="6" patternUnits="userSpaceOnUse">'
    '<rect width="6" height="6" fill="#eaeef2"/></pattern>'
    "</defs></svg>"
)

_CSS = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --tint: #f6f8fa; }
* { box-sizing: border-box; }
html { -webkit-text-size-adjust: 100%; }
body { margin: 0 auto; max-width: 1200px; padding: 16px; color: var(--fg); background: #fff;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", "DejaVu Sans", sans-serif; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.2rem; margin: 0 0 4px; overflow-wrap: anywhere; }
h3 { font-size: 1rem; margin: 12px 0 4px; }
code { font: 0.85em "DejaVu Sans Mono", ui-monospace, monospace; overflow-wrap: anywhere; }
.muted, .n { color: var(--muted); font-weight: normal; }
.observed { margin: 0 0 8px; }
.note { color: var(--muted); font-size: 0.9rem; max-width: 75ch; }
.counts, nav ul, .legend ul { list-style: none; padding: 0; margin: 8px 0;
  display: flex; flex-wrap: wrap; gap: 6px 12px; }
.counts li { border: 1px solid var(--line); border-radius: 6px; padding: 2px 10px;
  background: var(--tint); }
.counts strong { font-size: 1.15rem; margin-right: 2px; }
nav li { font-size: 0.95rem; }
.legend { border-top: 1px solid var(--line); border-bottom: 1px solid var(--line);
  margin: 8px 0 16px; padding: 4px 0; }
.legend h2 { font-size: 1rem; margin: 4px 0 0; }
.legend li { font-size: 0.85rem; display: flex; align-items: center; gap: 6px; }
main section { border: 1px solid var(--line); border-radius: 8px; padding: 12px;
  margin: 0 0 16px; }
.summary { margin: 0 0 8px; }
.timeline { width: 100%; }
svg.tl { display: block; font: 12px "DejaVu Sans", system-ui, sans-serif; fill: var(--fg); }
svg.tl .role, svg.tl .more { fill: var(--muted); }
svg.tl .name { font-weight: 600; }
text.tick { fill: var(--muted); font-size: 11px; text-anchor: middle; }
line.tick { stroke: var(--line); stroke-width: 1; }
line.now { stroke: #1f2328; stroke-width: 1.5; stroke-dasharray: 4 3; }
rect.bar, rect.cap { stroke-width: 1; }
.s-COMPLETED rect.bar, .s-COMPLETED rect.cap { stroke: #1a7f37; }
.s-COMPLETED_WITH_ERRORS rect.bar, .s-COMPLETED_WITH_ERRORS rect.cap { stroke: #9a6700; }
.s-FAILED rect.bar, .s-FAILED rect.cap { stroke: #cf222e; }
.s-IN_PROGRESS rect.bar, .s-IN_PROGRESS rect.cap,
.s-SUBMITTED rect.bar, .s-SUBMITTED rect.cap { stroke: #0969da; }
.s-STARTING rect.bar, .s-STARTING rect.cap,
.s-UNKNOWN rect.bar, .s-UNKNOWN rect.cap { stroke: #57606a; stroke-dasharray: 3 2; }
rect.eta { fill: none; stroke: #0969da; stroke-width: 1.5; stroke-dasharray: 4 3; }
.legend rect.bar { stroke: #57606a; }
.badge { display: inline-block; border-radius: 10px; padding: 0 8px; font-size: 0.85rem;
  white-space: nowrap; border: 1px solid currentColor; }
.b-COMPLETED { color: #116329; background: #dafbe1; }
.b-COMPLETED_WITH_ERRORS { color: #6c4400; background: #fff8c5; }
.b-FAILED { color: #a40e26; background: #ffebe9; }
.b-IN_PROGRESS, .b-SUBMITTED { color: #0550ae; background: #ddf4ff; }
.b-STARTING, .b-UNKNOWN { color: #32383f; background: #eaeef2; }
.w-queued, .w-retry { color: #0550ae; background: #ddf4ff; }
.w-awaiting-review { color: #6c4400; background: #fff8c5; }
.w-blocked { color: #a40e26; background: #ffebe9; }
.counts li[class^="b-"], .counts li[class^="w-"] { border-color: currentColor; }
.counts strong { color: inherit; }
details summary { cursor: pointer; color: #0550ae; margin: 4px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-size: 0.85rem; min-width: 100%; }
th, td { border: 1px solid var(--line); padding: 4px 8px; text-align: left; vertical-align: top; }
thead th { background: var(--tint); }
tbody th { font-weight: 600; }
.waits, .failures { margin: 0; padding-left: 1.4em; }
.waits li, .failures li { margin: 2px 0; overflow-wrap: anywhere; }
.reason { font-family: "DejaVu Sans Mono", ui-monospace, monospace; font-size: 0.85em; }
.empty { font-size: 1.1rem; }
a { color: #0550ae; }
@media (max-width: 640px) {
  body { padding: 10px; font-size: 14px; }
  svg.tl .more { display: none; }
  main section { padding: 8px; }
  .legend li { flex-basis: 100%; }
}
@media print {
  body { max-width: none; padding: 0; font-size: 11pt; }
  * { -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  main section { break-inside: avoid-page; }
  nav, details summary { display: none; }
  .scroll { overflow: visible; }
  a { color: inherit; text-decoration: none; }
}
"""

_SCRIPT = (
    # Printed, every table is open (a <details> prints folded); reopened as it was after.
    "var folded=[];"
    "addEventListener('beforeprint',function(){folded=[].slice.call("
    "document.querySelectorAll('details:not([open])'));"
    "folded.forEach(function(d){d.open=true;});});"
    "addEventListener('afterprint',function(){folded.forEach(function(d){d.open=false;});});"
)
