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
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING

from reconciler import __version__
from reconciler.cli.statuspage_model import (
    KIND_TITLES,
    LOOKS,
    WAITS,
    Axis,
    Section,
    sections,
    short_time,
)
from reconciler.cli.statuspage_svg import PATTERNS, ticks_of, timeline
from reconciler.cli.statuspage_text import (
    badge,
    clock_time,
    jobs_phrase,
    results_full,
    role_words,
    status_words,
    thousands,
    took_text,
)

if TYPE_CHECKING:
    from reconciler.cli.render_status import Scope
    from reconciler.core.spec import LoadedSpec
    from reconciler.core.state import State

_e = html.escape

LISTED = 12
"""The waits or failures of a section listed before the rest are folded."""


def _table(section: Section) -> str:
    rows = []
    for bar in reversed(section.bars):  # the newest first: what people look for
        record = bar.record
        roles = role_words(bar)
        spec = _e(bar.label) + (f'<br><span class="muted">{_e(roles)}</span>' if roles else "")
        rows.append(
            f"<tr><th scope=row>{spec}</th><td>{badge(bar)}</td>"
            f"<td>{short_time(record.created_at) if record.created_at else '—'}</td>"
            f"<td>{short_time(record.ended_at) if record.ended_at else '—'}</td>"
            f"<td>{took_text(bar)}</td><td>{results_full(record.results)}</td>"
            f"<td><code>{_e(record.job_id or '—')}</code></td></tr>"
        )
    return (
        f'<details class="table"><summary>The {jobs_phrase(len(section.bars))} as a table'
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
    # Newest first here too: a failure people are asked about is the latest one.
    for bar in reversed(section.bars):
        record = bar.record
        if bar.status == "FAILED":
            failure = record.failure
            reason = (
                f"{failure.status_code or ''} {failure.message}".strip()
                if failure
                else "no reason recorded"
            )
            roles = role_words(bar)
            items.append(
                f"<li>{badge(bar)} <strong>{_e(bar.label)}</strong>"
                f"{f' ({_e(roles)})' if roles else ''}, {short_time(record.ended_at)}: "
                f'<span class="reason">{_e(reason)}</span></li>'
            )
        elif bar.status == "COMPLETED_WITH_ERRORS":
            errors = {
                # An output file's counts are kept as 'error:<code>' beside the outcomes: the
                # codes are what a reader of a failure needs.
                k.removeprefix("error:"): n
                for k, n in (record.results or {}).items()
                if k.startswith("error:")
            }
            told = ", ".join(f"{thousands(n)} with error {k}" for k, n in sorted(errors.items()))
            items.append(
                f"<li>{badge(bar)} <strong>{_e(bar.label)}</strong>, "
                f"{short_time(record.ended_at)}: {_e(told or 'some requests failed')} "
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
        f'{shown}<details class="more"><summary>{thousands(len(items) - LISTED)} more</summary>'
        f'<ul class="{kind}">{"".join(items[LISTED:])}</ul></details>'
    )


def _summary(section: Section) -> str:
    counts = Counter(bar.status for bar in section.bars)
    parts = [f"{thousands(n)} {LOOKS.get(s, LOOKS['UNKNOWN']).word}" for s, n in _in_order(counts)]
    running = [b for b in section.bars if b.status in ("IN_PROGRESS", "SUBMITTED")]
    now = ""
    if running:
        names = ", ".join(
            f"{b.label} ({status_words(b).split(' ', 1)[1]}, since {clock_time(b.start)})"
            for b in running
        )
        now = f" Running now: {_e(names)}."
    if section.waits:
        now += f" Waiting: {len(section.waits)}."
    jobs = f"{jobs_phrase(len(section.bars))}: {', '.join(parts)}" if parts else "No job yet"
    return f'<p class="summary">{_e(jobs)}.{now}</p>'


def _in_order(counts: Counter[str]) -> list[tuple[str, int]]:
    order = list(LOOKS)
    # A status the page does not know (one Voice ID adds) sorts last rather than failing the
    # page.
    return sorted(counts.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else 99)


def _section(section: Section, axis: Axis | None, ticks: Sequence[tuple[float, str]]) -> str:
    domain_id = (
        f' <code class="muted">{_e(section.domain_id)}</code>'
        if section.domain_id and section.domain_id != section.domain
        else ""
    )
    parts = [
        # Labelled by its heading, so a screen reader names each section as it reaches it;
        # data-domain and data-kind let a reader of the file (and its tests) find a section
        # without parsing text.
        f'<section id="{section.anchor}" aria-labelledby="{section.anchor}-h" '
        f'data-domain="{_e(section.domain)}" data-kind="{_e(section.kind)}">'
        f'<h2 id="{section.anchor}-h">{_e(section.domain)} · '
        f"{KIND_TITLES[section.kind]}{domain_id}</h2>",
        _summary(section),
    ]
    if section.bars and axis is not None:
        parts.append(f'<div class="timeline">{timeline(section, axis, ticks)}</div>')
    if section.bars:
        parts.append(_table(section))
    parts.extend((_waiting(section), _failures(section), "</section>"))
    return "".join(parts)


def _legend() -> str:
    items = [
        # aria-hidden: the swatch is decoration; the word beside it says the status.
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
        f'<li class="b-{_e(status)}"><strong>{thousands(n)}</strong> '
        f"{_e(LOOKS.get(status, LOOKS['UNKNOWN']).word)}</li>"
        for status, n in _in_order(counts)
    ]
    tiles += [
        f'<li class="w-{what}"><strong>{thousands(waits[what])}</strong> {_e(word)}</li>'
        for what, word in WAITS.items()
        if waits[what]
    ]
    nav = "".join(
        f'<li><a href="#{s.anchor}">{_e(s.domain)} · {KIND_TITLES[s.kind]}</a> '
        f'<span class="muted">{jobs_phrase(len(s.bars))}'
        f"{f', {len(s.waits)} waiting' if s.waits else ''}</span></li>"
        for s in sections_
    )
    written = f" · page written {short_time(rendered_at)}" if rendered_at else ""
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
        f'<p class="observed">State observed <strong>{short_time(state.observed_at)}</strong> '
        f"(serial {state.serial}){written}</p>"
        f'<ul class="counts" aria-label="Jobs and waits by status">{"".join(tiles)}</ul>'
        f'<nav aria-label="Domains and kinds"><ul>{nav}</ul></nav>'
        f'<p class="note">{knows}</p></header>'
    )


def _title(state: State, sections_: Sequence[Section]) -> str:
    # The tab's title counts the jobs that are news: a superseded version's failure is history.
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
    return f"Voice ID jobs{told} · observed {short_time(state.observed_at)}"


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
    ticks = ticks_of(axis) if axis is not None else []
    body = "".join(_section(s, axis, ticks) for s in found)
    if not found:
        body = '<p class="empty">No jobs recorded in the state yet, and nothing waits.</p>'
    return (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        # Light only: the colours were checked for contrast on white (the tests measure them),
        # and a browser's dark mode must not restyle the page's defaults under them.
        '<meta name="color-scheme" content="light">'
        f'<meta name="generator" content="voiceid-reconciler {__version__}">'
        f"<title>{_e(_title(state, found))}</title><style>{_CSS}</style></head><body>"
        # The SVG patterns once, first in the body: every timeline and the legend fill by
        # url(#id).
        f"{PATTERNS}{_header(state, found, rendered_at, scoped=scope is not None)}"
        f"{_legend()}<main>{body}</main>"
        '<footer><p class="muted">Written by <code>voiceid-reconciler status --format html'
        "</code>. No speaker ids or audio locations: the state holds none. Times are UTC."
        f"</p></footer><script>{_SCRIPT}</script></body></html>\n"
    )


# Font stacks end in DejaVu: the page's screenshot test renders in Debian's headless Chromium,
# where that is the font installed (.ci/run). overflow-wrap: anywhere lets a 22-character id or
# a long domain name break instead of widening a phone's page. print-color-adjust: exact keeps
# the status colours in print, where browsers drop backgrounds by default.
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
