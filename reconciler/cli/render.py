"""Plans as text for people and JSON for tools. Rendering never computes anything.

JSON plan schema (``formatVersion`` 1). Within a version, fields and values are only ever
added, never renamed, removed or given another meaning: a reader shows an ``action``, ``code``
or ``problem`` value it does not know (as its ``reason`` says) instead of failing on it. Added
within version 1: the actions ``awaiting-review`` and ``retired`` (and their ``summary``
keys), ``orphaned`` narrowed to jobs still running (an ended job of a removed spec is
``retired``), the ``problem`` ``awaiting-review``, the codes ``domain-not-found`` offline and
those of the two new actions::

    formatVersion   1
    offline         bool       computed from the state file alone
    observedAt      str|null   when Voice ID was last observed (the state's observedAt)
    checksum        str        pin for ``apply --plan-checksum``: a digest of ``intent``
    summary         {start, retry, queued, awaiting-review, blocked, in-sync, superseded,
                    orphaned, retired: int}  (every action kind, zeros included)
    problems        {blocked, failed, completed-with-errors, orphaned, queued,
                    awaiting-review: int}  (those present; what ``--fail-on`` counts)
    notes           [str]      for the reviewer: pending starts near or over the default
                    ``--start-limit``
    actions         [{action, kind, name, domainId, hash, attempt, jobName, jobId, status,
                      percentComplete, reason, priority, code, domainName, speakers, changes,
                      risks, problem}]
                    action: start | retry | queued | awaiting-review (a start no review
                    approved, in a run that requires approval; not a failure) | blocked |
                    in-sync | superseded | orphaned (a job no spec asks for that still runs,
                    or an unclaimed one under --owner) | retired (the ended job of a removed
                    spec: apply forgets its record).
                    code: why, for tools — start: new | changed | unconfirmed-start |
                    new-offline; retry: retry-after-failure; queued: domain-busy |
                    waiting-behind | list-lag; awaiting-review: not-reviewed |
                    changed-since-review | attempts-beyond-review; blocked: domain-not-found
                    (offline too: a name not among the state's known domains) |
                    domain-ambiguous | domain-not-active | watchlist-not-found |
                    watchlist-ambiguous | manifest-not-found | offline | refused; in-sync:
                    starting | running | completed | completed-with-errors | failed;
                    superseded: spec-changed; orphaned: spec-removed | unclaimed; retired:
                    spec-retired.
                    changes: for a changed spec, one phrase per changed field ("revision 0 ->
                    1", "manifest object replaced (ETag ...)"); risks: settings worth a second
                    look (OVERWRITE, fraud detection IGNORE, REGISTER_AS_NEW); problem: the
                    ``--fail-on`` class of the action, or null
    intent          [[key, hash, attempts, domainId]]  what the checksum covers: the plan's
                    review set, one row per start (now, queued or awaiting review) no earlier
                    review approved — its spec, the hash of the request it sends
                    ("unknown-offline" for a new spec an offline plan cannot hash) and the
                    attempts its maxAttempts allows
    inputs          {paths, selectors, state, shard, owner, maxActive}  (``plan --out`` only:
                    what ``apply PLAN.json`` plans again from)

No speaker id or audio location appears in any rendering; the Markdown comment
(:mod:`reconciler.cli.plancomment`) shows each start's request with its manifest's URI, or a
roster's speaker count. Status renderings are in :mod:`reconciler.cli.render_status`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any, TextIO

from reconciler.core import jobkinds
from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Action, ActionKind, Plan
from reconciler.core.review import limit_note
from reconciler.runner.context import ApplyReport

FORMAT_VERSION = 1

_SYMBOLS = {
    ActionKind.START: ("+", "32"),
    ActionKind.RETRY: ("+", "32"),
    ActionKind.QUEUED: ("…", "33"),
    ActionKind.AWAITING_REVIEW: ("*", "36"),
    ActionKind.BLOCKED: ("!", "31"),
    ActionKind.IN_SYNC: ("=", "2"),
    ActionKind.SUPERSEDED: ("~", "35"),
    ActionKind.ORPHANED: ("?", "35"),
    ActionKind.RETIRED: ("-", "2"),
}


def use_colour(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


CLASSES = (
    "to start",
    "queued",
    "awaiting review",
    "in sync",
    "superseded",
    "retired",
    "orphaned",
    "blocked",
    "failed",
    "with errors",
)
"""What every summary of a plan counts (:func:`tally`), in its order: each action is of
exactly one class (:func:`row_class`), so the counts add up to the plan's actions."""
ATTENTION = ("failed", "with errors", "blocked", "orphaned")
"""The classes a reviewer must look at: the Markdown verdict's ❌ and its "Needs attention"."""
WILL = ("to start", "queued", "awaiting review", "retired")
"""The classes of what apply will do (start now or later, once reviewed; forget a record)."""
# The classes every summary names, zeros included, so a reader (and a script's grep) finds them
# in one place; the others (awaiting review, retired, failed, with errors) only when present.
_ALWAYS_COUNTED = frozenset({"to start", "queued", "in sync", "superseded", "orphaned", "blocked"})
_CLASS_OF_KIND = {
    ActionKind.START: "to start",
    ActionKind.RETRY: "to start",
    ActionKind.QUEUED: "queued",
    ActionKind.AWAITING_REVIEW: "awaiting review",
    ActionKind.BLOCKED: "blocked",
    ActionKind.IN_SYNC: "in sync",
    ActionKind.SUPERSEDED: "superseded",
    ActionKind.ORPHANED: "orphaned",
    ActionKind.RETIRED: "retired",
}


def row_class(action: Action) -> str:
    """The one :data:`CLASSES` class of an action: its kind's, except that a spec whose job
    ended FAILED (no attempts left) or COMPLETED_WITH_ERRORS is that, not in sync."""
    if action.kind is ActionKind.IN_SYNC:
        if action.problem == "failed":
            return "failed"
        if action.problem == "completed-with-errors":
            return "with errors"
    return _CLASS_OF_KIND[action.kind]


def tally(plan: Plan) -> dict[str, int]:
    """How many actions of each :data:`CLASSES` class (zeros included): the one source of the
    summary line's and the verdict's counts."""
    counts = dict.fromkeys(CLASSES, 0)
    for action in plan.actions:
        counts[row_class(action)] += 1
    return counts


def summary_line(plan: Plan, counts: dict[str, int] | None = None) -> str:
    """``N to start, M queued, ...``: the one-line summary every rendering ends with, from
    :func:`tally` (``counts``, when the caller has it): each action counted once — a failed
    job is counted failed, not in sync; awaited reviews, retired records, failed jobs and
    those with errors only when there are any."""
    counts = counts if counts is not None else tally(plan)
    return ", ".join(f"{n} {c}" for c, n in counts.items() if n or c in _ALWAYS_COUNTED)


def _problem_counts(plan: Plan) -> dict[str, int]:
    counts: dict[str, int] = {}
    for action in plan.actions:
        if action.problem:
            counts[action.problem] = counts.get(action.problem, 0) + 1
    return counts


def _label(action: Action) -> tuple[str, str, str]:
    """(symbol, word, ANSI colour) of an action: a FAILED job and one with errors are shown
    as the failures they are, not as in sync."""
    if action.problem == "failed":
        return "✗", "failed", "31"
    if action.problem == "completed-with-errors":
        return "!", "errors", "33"
    symbol, colour = _SYMBOLS[action.kind]
    return symbol, action.kind.value, colour


def domain_text(action: Action) -> str:
    """``name (DomainId)`` when the state knows the name, else the id."""
    if action.domain_name and action.domain_name != action.domain_id:
        return f"{action.domain_name} ({action.domain_id})"
    return action.domain_id or "-"


def plan_text(
    plan: Plan,
    *,
    offline: bool,
    observed_at: str | None,
    colour: bool = False,
    unchanged: bool = True,
) -> str:
    """The plan as aligned text lines, one per action, then the summary and the checksum."""
    return "".join(
        plan_lines(
            plan, offline=offline, observed_at=observed_at, colour=colour, unchanged=unchanged
        )
    )


def quiet(action: Action) -> bool:
    """An action with nothing to tell but that its spec is in sync: its job ended well (or
    none is recorded in flight), no rename, no problem, nothing to review."""
    return (
        action.kind is ActionKind.IN_SYNC
        and not action.running
        and not action.problem
        and not action.reason
        and not action.risks
        and not action.changes
    )


def plan_lines(
    plan: Plan,
    *,
    offline: bool,
    observed_at: str | None,
    colour: bool = False,
    unchanged: bool = True,
) -> Iterator[str]:
    """:func:`plan_text` line by line (each with its end), to be written as they come: the
    plan of 50,000 specs is several megabytes of text, never needed whole. ``unchanged``:
    the :func:`quiet` in-sync specs are listed too (else counted in one line)."""
    if offline:
        when = f"state observed at {observed_at}" if observed_at else "state never observed"
        yield f"Offline plan (no Voice ID calls; {when})\n"
    # The quiet specs counted, not listed: a steady run of 10,000 specs printed 10,000 lines of
    # log every few minutes to say nothing had changed.
    shown = plan.actions if unchanged else [a for a in plan.actions if not quiet(a)]
    if shown:
        width = max(len(a.key) for a in shown)
        # the words column as wide as its longest word (awaiting-review), at least 10 wide
        words = max(10, *(len(kind.value) for kind in {a.kind for a in shown}))
        for action in shown:
            yield f"{_action_line(action, width, colour, words)}\n"
    if len(shown) < len(plan.actions):
        left = len(plan.actions) - len(shown)
        noun = "spec" if left == 1 else "specs"
        yield f"  = {left:,} {noun} in sync, not listed (--show-unchanged lists them)\n"
    elif not plan.actions:
        yield "No specs.\n"
    yield "\n"
    note = limit_note(plan)
    if note:
        yield f"⚠ {note}\n"
    yield f"Plan: {summary_line(plan)}.\n"
    # Last, on a line of its own: the value a reviewer copies to pin the apply
    # (--plan-checksum).
    yield f"Plan checksum: {plan.checksum()}\n"


def _action_line(action: Action, width: int, colour: bool, words: int = 10) -> str:
    symbol, word, code = _label(action)
    label = f"{symbol} {word:<{words}}"
    if colour:
        # Coloured after the padding: escape codes take no room on screen but would count in the
        # width.
        label = f"\x1b[{code}m{label}\x1b[0m"
    details = []
    if action.domain_id:
        details.append(f"domain {domain_text(action)}")
    # A count, never the ids: how many callers a start touches is what a reviewer weighs.
    if action.speakers is not None and action.kind is not ActionKind.IN_SYNC:
        details.append(roster_count(action))
    if action.attempt and action.attempt > 1:
        details.append(f"attempt {action.attempt}")
    if action.job_id:
        details.append(f"job {action.job_id}")
    if action.status:
        status = action_status(action)
        if status not in action.reason:  # a retired job's reason names its end already
            details.append(status)
    # An orphan's hash is of no spec there is now: it would read as the hash the start would
    # send.
    elif action.hash and action.kind is not ActionKind.ORPHANED:
        details.append(f"hash {action.hash[:12]}")
    if action.reason:
        details.append(action.reason)
    if action.changes:
        details.append(f"changed: {', '.join(action.changes)}")
    line = f"  {label} {action.key:<{width}}  {'; '.join(details)}".rstrip()
    notes = [f"\n      ⚠ {risk}" for risk in action.risks]
    return line + "".join(notes)


def roster_count(action: Action) -> str:
    """A start's roster as its kind counts it (``120 speakers``, ``3 fraudsters``): how many
    callers it touches, never who."""
    return f"{action.speakers} {jobkinds.of(action.spec_kind).entries}"


def action_dict(action: Action) -> dict[str, Any]:
    """One action as the JSON plan and the logs show it."""
    return {
        "action": action.kind.value,
        "kind": action.spec_kind,
        "name": action.name,
        "domainId": action.domain_id,
        "hash": action.hash,
        "attempt": action.attempt,
        "jobName": action.job_name,
        "jobId": action.job_id,
        "status": action.status,
        "percentComplete": action.percent_complete,
        "reason": action.reason,
        "priority": action.priority,
        "code": action.code,
        "domainName": action.domain_name,
        "speakers": action.speakers,
        "changes": list(action.changes),
        "risks": list(action.risks),
        "problem": action.problem,
    }


def plan_json(
    plan: Plan, *, offline: bool, observed_at: str | None, inputs: dict[str, Any] | None = None
) -> str:
    """The plan in the documented, versioned JSON schema (with ``inputs``: a saved plan that
    ``apply PLAN.json`` can act on)."""
    document: dict[str, Any] = {
        "formatVersion": FORMAT_VERSION,
        "offline": offline,
        "observedAt": observed_at,
        "checksum": plan.checksum(),
        "summary": plan.counts(),
        "problems": _problem_counts(plan),
        "notes": [note] if (note := limit_note(plan)) else [],
        "actions": [action_dict(a) for a in plan.actions],
        "intent": [list(i) for i in plan.intent()],
    }
    if inputs is not None:
        document["inputs"] = inputs
    # In the schema's documented order, not sorted: a reader of the file meets the checksum and
    # the summary before the thousands of actions.
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def apply_text(report: ApplyReport, *, dry_run: bool) -> str:
    """What an apply run did, after its plan (:func:`plan_text` of ``report.reviewed``, shown
    before anything started): what started, what waits and why, how the jobs ended, and one
    closing line, ``Apply complete: 3 started, 1 queued, 0 blocked.``"""
    lines = []
    if dry_run:
        lines.append("Dry run: nothing was started.")
    for action in report.started:
        lines.append(f"Started {action.key} (attempt {action.attempt}).")
    # Sorted by spec: the order the run met them in is the quota's, which says nothing to a
    # reader.
    for key, reason in sorted(report.deferred.items()):
        lines.append(f"Queued {key}: {reason}.")
    for key, reason in sorted(report.blocked.items()):
        lines.append(f"Blocked {key}: {reason}.")
    if report.held_back:
        lines.append(f"Held back: {report.held_back} start(s) over --max-starts, for a later run.")
    for key in report.failed:
        lines.append(f"FAILED {key}: no attempts left (bump spec.revision to run it again).")
    for key in report.with_errors:
        lines.append(f"COMPLETED_WITH_ERRORS {key}: some requests failed (status --details).")
    ended = report.plan.jobs_by_status()
    if report.started or report.failed or report.with_errors:
        lines.append("Jobs: " + ", ".join(f"{n} {status}" for status, n in ended.items()) + ".")
    if report.timed_out:
        lines.append("Timed out waiting for jobs to end; run again to continue.")
    queued = len(report.queued_specs())
    blocked = sum(1 for a in report.plan.actions if a.kind is ActionKind.BLOCKED)
    verb = "Dry run complete" if dry_run else "Apply complete"
    if report.timed_out:
        verb = "Apply stopped (timeout)"
    lines.append(f"{verb}: {len(report.started)} started, {queued} queued, {blocked} blocked.")
    return "\n".join(lines) + "\n"


def action_status(action: Action) -> str:
    status = str(action.status)
    if action.status == JobStatus.IN_PROGRESS and action.percent_complete is not None:
        status += f" {action.percent_complete}%"
    return status
