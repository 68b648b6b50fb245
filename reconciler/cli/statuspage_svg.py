"""The status page's timelines in SVG.

One per section under the shared axis: a labelled row per job or (beyond :data:`LABELLED`
jobs) the bars packed into lanes; the axis' ticks; the fill patterns that tell the statuses
apart without colour.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Sequence

from reconciler.cli.statuspage_model import KIND_TITLES, LOOKS, Axis, Bar, Section
from reconciler.cli.statuspage_text import (
    clock_time,
    duration,
    jobs_phrase,
    results_short,
    role_words,
    status_words,
)

_e = html.escape

ROW = 30
"""Pixels per job on a timeline: a line of text, then the bar."""
LANE = 14
"""Pixels per lane of a packed timeline (more jobs than :data:`LABELLED`)."""
# Beyond 40 labelled rows a section is taller than a screen; packed lanes keep a domain of a
# thousand jobs one glance high (its table still lists every job).
LABELLED = 40
"""The most jobs a timeline gives a labelled row each; beyond, it packs them into lanes."""
AXIS = 24
"""Pixels above the first row: the time axis' labels."""
STEPS = (
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


def _lanes(bars: Sequence[Bar]) -> list[int]:
    """The lane of each bar when a timeline is packed: the first lane free at its start (the
    jobs of one domain and kind run one at a time, so most share one lane)."""
    ends: list[float] = []
    lanes = []
    for bar in bars:
        start = bar.start if bar.start is not None else -math.inf
        # First fit, bars taken in order of their start: one pass, and jobs that ran one after
        # another share a lane.
        lane = next((i for i, end in enumerate(ends) if end <= start), len(ends))
        if lane == len(ends):
            ends.append(start)
        ends[lane] = max(start, bar.end or start)
        lanes.append(lane)
    return lanes


def timeline(section: Section, axis: Axis, ticks: Sequence[tuple[float, str]]) -> str:
    """The section's SVG, under the shared axis: a row per job (its text, then its bar), or,
    beyond :data:`LABELLED` jobs, the bars packed into lanes (each job's text in its tooltip
    and in the table)."""
    bars = section.bars
    labelled = len(bars) <= LABELLED
    lanes = list(range(len(bars))) if labelled else _lanes(bars)
    pitch = ROW if labelled else LANE
    height = AXIS + pitch * (max(lanes, default=-1) + 1) + 6
    kind = KIND_TITLES[section.kind].lower()
    title = f"Timeline of {jobs_phrase(len(bars))} of {kind} in {section.domain}"
    packed = (
        ""
        if labelled
        else (f"; packed in {max(lanes) + 1} lane(s), a job's name and status in its tooltip")
    )
    ident = section.anchor
    out = [
        # role="img" with a title and a description: a screen reader reads the timeline as one
        # image with a caption (the table beneath holds the same jobs as text), not as a
        # thousand shapes.
        f'<svg class="tl" width="100%" height="{height}" role="img" '
        f'aria-labelledby="{ident}-t {ident}-d">'
        f'<title id="{ident}-t">{_e(title)}</title>'
        f'<desc id="{ident}-d">From {clock_time(axis.start)} to {clock_time(axis.end)} UTC'
        f"{packed}; "
        "the table below the timeline lists the same jobs.</desc>"
        # An inner SVG of 98%: every x is a percentage of it, so the page needs no width known
        # in advance (it reflows on a phone), and a label at either edge is not clipped.
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
    roles = role_words(bar)
    more = [part for part in (duration(bar), results_short(bar.record.results)) if part]
    tip = " · ".join(
        part
        for part in (
            bar.label,
            roles,
            status_words(bar),
            f"{clock_time(bar.start)} to {clock_time(bar.end) if bar.record.ended_at else 'now'}",
            *more,
        )
        if part
    )
    below = 16 if labelled else 2
    y, h = (top + below + 2, 6) if bar.role == "superseded" else (top + below, 10)
    # A <title> per job is the browser's own tooltip: no script, and packed bars are still told.
    parts = [f'<g class="job s-{_e(bar.status)} r-{bar.role}"><title>{_e(tip)}</title>']
    if labelled:
        parts.append(f'<text x="0" y="{top + 12}"><tspan class="name">{_e(bar.label)}</tspan>')
        if roles:
            parts.append(f'<tspan class="role"> ({_e(roles)})</tspan>')
        parts.append(f' · <tspan class="word">{_e(status_words(bar))}</tspan>')
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


def ticks_of(axis: Axis) -> list[tuple[float, str]]:
    length = axis.end - axis.start
    # At most six ticks: more labels would overlap on a phone's width.
    step = next((s for s in STEPS if length / s <= 6), STEPS[-1])
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


# Colours: each bar colour has >= 4.5:1 against white (WCAG's 3:1 for graphics, with room),
# and each text colour >= 7:1 against its tint. The patterns tell the statuses apart without
# colour (and in print, in grey): solid, dotted, hatched, striped, lined, pale with a dashed
# outline (the CSS below draws the outlines).
PATTERNS = (
    # An SVG of no size holds the patterns for the whole page; focusable="false" keeps old Edge
    # and IE from putting it in the tab order.
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
