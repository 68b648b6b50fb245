"""The plan as a GitHub comment, tfcmt-style (docs/plan-comment.md).

The marker line, a one-line verdict, the summary line, the risky settings explained, then one
section per class of action, each start's request folded beneath; cut to fit GitHub's limit,
saying how much. Also the comment of a plan that failed.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.cli.markdown import Columns, code_span, escape, longest_run, request_details
from reconciler.cli.render import (
    ATTENTION,
    CLASSES,
    WILL,
    domain_text,
    row_class,
    summary_line,
    tally,
)
from reconciler.core.plan import Action, Plan
from reconciler.core.review import limit_note

# GitHub refuses a comment body longer than this (65,536 characters): a comment cut by us says
# how much it left out, one refused by GitHub says nothing at all.
GITHUB_COMMENT_LIMIT = 65_536
MARKER = "<!-- voiceid-reconciler plan -->"
"""The first line of every plan comment: what a workflow looks for to update its comment."""
_HEADING = "### voiceid-reconciler plan"


def verdict_line(plan: Plan, counts: dict[str, int] | None = None) -> str:
    """The line a reviewer reads first, made of the very counts of :func:`summary_line`
    (``counts``: the plan's :func:`tally`, when the caller has it) and agreeing with every
    section of the comment: ``❌`` exactly when there is a "Needs attention" section (failed,
    with errors, blocked, orphaned), then what apply will do (to start, queued, awaiting
    review, retired), then how many of those starts have settings to check twice (the
    "Settings to check" section); ``⚠️`` when risky settings are the worst news, ``🟢`` when
    something will happen, ``⏸️`` when only reviews are awaited, else ``✅``."""
    counts = counts if counts is not None else tally(plan)
    attention = _phrase(counts, ATTENTION)
    will = _phrase(counts, WILL)
    risky = sum(1 for a in plan.actions if a.risks)
    check = f"{risky} with settings to check" if risky else ""
    if attention:
        return "❌ Needs attention: " + " · ".join(p for p in (attention, will, check) if p)
    if risky:
        return "⚠️ " + " · ".join(p for p in (will, check) if p)
    if counts["to start"] or counts["queued"] or counts["retired"]:
        return f"🟢 {will}"
    if will:
        return f"⏸️ {will}"
    if not plan.actions:
        return "✅ No changes: no specs"
    quiet_only = counts["in sync"] == len(plan.actions)
    superseded = f" · {counts['superseded']} superseded" if counts["superseded"] else ""
    return "✅ No changes" + (": every spec is in sync" if quiet_only else superseded)


def _phrase(counts: dict[str, int], classes: tuple[str, ...]) -> str:
    return ", ".join(f"{counts[c]} {c}" for c in classes if counts[c])


def _risk_section(plan: Plan, names: int = 10) -> list[str]:
    """Each risky setting once, explained, with the specs whose starts carry it (the first
    ``names`` of them, then how many more): bounded whatever the plan's size."""
    by_risk: dict[str, list[str]] = {}
    for action in plan.actions:
        for risk in action.risks:
            by_risk.setdefault(risk, []).append(action.name)
    if not by_risk:
        return []
    risky = sum(1 for a in plan.actions if a.risks)
    lines = ["", f"#### ⚠️ Settings to check ({risky} {'start' if risky == 1 else 'starts'})", ""]
    for risk, specs in by_risk.items():
        head, _, why = risk.partition(": ")
        shown = ", ".join(code_span(s) for s in specs[:names])
        more = f" and {len(specs) - names} more" if len(specs) > names else ""
        lines.append(
            f"- **{escape(head)}**" + (f": {escape(why)}" if why else "") + f" — {shown}{more}"
        )
    return lines


@dataclass
class _Block:
    """One part of the comment that can be cut short: a table's rows or a run of start
    requests (``items`` rendered only as far as a comment could hold them)."""

    title: str
    """A table's heading (or fold), or what a run of start requests shows."""
    count: int
    items: list[str]
    columns: Columns | None
    """The table's columns (None: not a table)."""
    folded: bool = False

    def lines(self, shown: int) -> list[str]:
        if not self.count:
            return []
        rows = self.items[:shown]
        left = self.count - len(rows)
        if self.columns is not None:
            body = [*self.columns.head(), *rows] + ([self.columns.more(left)] if left else [])
        else:  # the start requests: blocks of HTML and Markdown, a blank line ends each
            body = [f"Start requests — {self.title}:", ""]
            body += [line for row in rows for line in (row, "")]
            if left:  # cut to keep the comment under GitHub's limit
                body += [f"… {left} {'more ' if rows else ''}start requests not shown", ""]
            # The blank line after the last request would double the one the next block opens
            # with.
            body = body[:-1]
        if self.folded:
            return ["", f"<details><summary>{self.title}</summary>", "", *body, "", "</details>"]
        return (["", f"#### {self.title}", ""] if self.columns else [""]) + body


def _block(  # noqa: PLR0913 - a block's title and items, and how it is shown
    title: str,
    actions: list[Action],
    render: Any,
    limit: int,
    *,
    columns: Columns | None = None,
    folded: bool = False,
) -> _Block:
    items: list[str] = []
    size = 0
    for action in actions:  # never more than the comment could hold (50,000 starts)
        # Rendering stops once the items alone pass the limit: the comment could hold no more,
        # and rendering 50,000 start requests to throw most away took 10.9 s (fb3ddd4).
        if size > limit:
            break
        items.append(render(action))
        size += len(items[-1]) + 1
    return _Block(title, len(actions), items, columns, folded)


def plan_markdown(
    plan: Plan,
    *,
    offline: bool,
    observed_at: str | None,
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """A GitHub-flavoured Markdown comment, tfcmt-style: a marker line (a workflow updates the
    one comment that carries it), a one-line verdict and the summary line — both from one
    :func:`tally` — then the risky settings, explained; what needs attention (failed, with
    errors, blocked, orphaned: exactly the verdict's ❌); what will start, each start's request
    folded beneath (``terraform plan``'s attributes of a create); what awaits a review;
    retired and superseded jobs; the in-sync jobs folded. Every action is in one section.

    Deterministic (an updated comment diffs cleanly) and never longer than ``limit``
    characters: when the plan is too long, a count of every class per domain comes first and
    the in-sync rows, then the start requests, then the other rows are cut from the end,
    saying how many.
    """
    counts = tally(plan)
    checksum = plan.checksum()  # made once: a digest of every start of the plan
    head = [
        MARKER,
        _HEADING,
        "",
        f"**{verdict_line(plan, counts)}**",
        "",
        f"Plan: {summary_line(plan, counts)} · checksum `{checksum}`",
    ]
    if note := limit_note(plan):
        head += ["", f"> ⚠️ {note}"]
    if offline:
        when = f"the state observed at {observed_at}" if observed_at else "an empty state"
        head += ["", f"> Offline plan: computed from the specs and {when}; no Voice ID calls."]
    columns = Columns.of(plan)
    if plan.actions and not columns.domain and plan.actions[0].domain_id:
        one = plan.actions[0]
        named = f" ({code_span(one.domain_id or '-')})" if one.domain_name else ""
        head += ["", f"Domain: {code_span(one.domain_name or one.domain_id or '-')}{named}"]
    head += _risk_section(plan)
    sections: dict[str, list[Action]] = {name: [] for name, _ in _SECTIONS}
    where = {cls: name for name, classes in _SECTIONS for cls in classes}
    for action in plan.actions:
        sections[where[row_class(action)]].append(action)
    blocks: list[_Block] = []
    for name, _ in _SECTIONS:
        actions = _by_domain(sections[name])
        title = f"{name} ({len(actions)})"
        folded = name == "In sync"
        blocks.append(_block(title, actions, columns.row, limit, columns=columns, folded=folded))
        if name in _REQUESTS:
            blocks.append(_block(_REQUESTS[name], actions, request_details, limit))
    # The checksum again, hidden in an HTML comment on a line of its own: where a workflow reads
    # the reviewed checksum from the pull request's comment.
    tail = [f"<!-- voiceid-reconciler checksum={checksum} -->"]

    def build(shown: list[int], grouped: bool) -> str:
        lines = list(head)
        if grouped and columns.domain:  # one domain's counts are the summary line's
            lines += _grouped_summary(plan)
        for block, n in zip(blocks, shown, strict=True):
            lines += block.lines(n)
        if not plan.actions:
            lines += ["", "No specs."]
        return "\n".join([*lines, *tail]) + "\n"

    shown = [len(b.items) for b in blocks]
    grouped = any(n < b.count for n, b in zip(shown, blocks, strict=True))
    if len(text := build(shown, grouped)) <= limit:
        return text
    # Too long: the per-domain counts first; then fewer in-sync rows, start requests, retired
    # and superseded rows, awaited reviews, starts, and last rows needing attention (a binary
    # search on each, in that order).
    for index in sorted(range(len(blocks)), key=lambda i: _CUT_ORDER.index(_cut_key(blocks[i]))):
        if len(build(shown, True)) <= limit:
            break

        # Bound as defaults: the closure keeps this block's index and the counts fitted so far,
        # not the loop's last values.
        def fits(n: int, index: int = index, fixed: tuple[int, ...] = tuple(shown)) -> bool:
            trial = list(fixed)
            trial[index] = n
            return len(build(trial, True)) <= limit

        shown[index] = _fit(fits, shown[index])
    return build(shown, True)


_SECTIONS = (
    ("❌ Needs attention", ATTENTION),
    ("To start", ("to start", "queued")),
    ("⏸️ Awaiting review", ("awaiting review",)),
    ("Retired", ("retired",)),
    ("Superseded", ("superseded",)),
    ("In sync", ("in sync",)),
)
"""The comment's sections, in order, and the :func:`row_class` classes each holds (every
class in exactly one)."""
_REQUESTS = {
    "To start": "what each will send to Voice ID",
    "⏸️ Awaiting review": "what each would send once a review approves it",
}
"""The sections whose actions would send a Start request (each shown beneath the table), and
what the requests' caption says."""
# What is cut first is what a reviewer needs least: rows that are in sync, then the folded
# requests, then history; the rows needing attention go last.
_CUT_ORDER = (
    "In sync",
    "requests",
    "Superseded",
    "Retired",
    "⏸️ Awaiting review",
    "To start",
    "❌ Needs attention",
)


def _cut_key(block: _Block) -> str:
    if block.columns is None:
        return "requests"
    return block.title.rpartition(" (")[0]


def plan_failed_markdown(errors: Sequence[str], *, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """The comment of a ``plan`` that failed (Atlantis comments the error): the marker line, a
    ``❌ Plan failed`` verdict and the CLI's one-line error messages (the same lines as on
    stderr: redacted as every error is), in a code block, at most ``limit`` characters."""
    lines = [line.replace("\n", " ") for line in errors] or ["(no message)"]
    fence = "`" * max(3, longest_run(lines, "`") + 1)
    head = [
        MARKER,
        _HEADING,
        "",
        "**❌ Plan failed: nothing was planned**",
        "",
        f"{fence}text",
    ]
    tail = [fence, "", "Fix and push again; the plan run's log has the same lines."]
    # 200 characters of room for the '… and N more' line and the newlines joined around it.
    budget = limit - len("\n".join(head + tail)) - 200
    shown: list[str] = []
    for line in lines:
        # One message cut at 1,000 characters: a long one (a dump of specs) must not take the
        # whole budget and hide the others.
        cut = line if len(line) <= 1000 else line[:999] + "…"
        if len(cut) + 1 > budget:
            shown.append(f"… and {len(lines) - len(shown)} more")
            break
        budget -= len(cut) + 1
        shown.append(cut)
    return "\n".join([*head, *shown, *tail]) + "\n"


def _by_domain(actions: list[Action]) -> list[Action]:
    """Grouped by domain; within one, in the plan's own order (a stable sort of actions taken
    in that order: the plan's sort key is not computed again for each of 50,000)."""
    # A stable sort by domain alone: each domain's actions stay in the plan's order, and the
    # plan's own sort key is not computed again for each of 50,000 (a 50,000-start comment in
    # 0.2 s, was 1.75 s: fb3ddd4).
    return sorted(actions, key=domain_text)


def _grouped_summary(plan: Plan) -> list[str]:
    """Per domain, how many actions of each class (for plans too long to list in full): the
    classes of :func:`tally`, those the plan holds."""
    per_domain: dict[str, Counter[str]] = {}
    for action in plan.actions:
        per_domain.setdefault(domain_text(action), Counter())[row_class(action)] += 1
    totals = tally(plan)
    columns = [c for c in CLASSES if totals[c]]
    lines = [
        "",
        "#### By domain",
        "",
        "| domain | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    lines += [
        f"| {code_span(domain)} | " + " | ".join(str(row[c]) for c in columns) + " |"
        for domain, row in sorted(per_domain.items())
    ]
    return lines


def _fit(fits: Any, high: int) -> int:
    """The largest n in [0, high] for which fits(n) holds (fits is monotone)."""
    low = 0
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low
