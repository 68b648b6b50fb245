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

No speaker id or audio location appears in any rendering; the Markdown comment shows each
start's request (:func:`plan_markdown`) with its manifest's URI, or a roster's speaker count.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from reconciler.core.identity import StartRequest
from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Action, ActionKind, Plan, limit_note
from reconciler.core.spec import belongs
from reconciler.core.state import State
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
    yield f"Plan checksum: {plan.checksum()}\n"


def _action_line(action: Action, width: int, colour: bool, words: int = 10) -> str:
    symbol, word, code = _label(action)
    label = f"{symbol} {word:<{words}}"
    if colour:
        label = f"\x1b[{code}m{label}\x1b[0m"
    details = []
    if action.domain_id:
        details.append(f"domain {domain_text(action)}")
    if action.speakers is not None and action.kind is not ActionKind.IN_SYNC:
        noun = "speakers" if action.spec_kind == "SpeakerEnrollmentJob" else "fraudsters"
        details.append(f"{action.speakers} {noun}")
    if action.attempt and action.attempt > 1:
        details.append(f"attempt {action.attempt}")
    if action.job_id:
        details.append(f"job {action.job_id}")
    if action.status:
        status = _status_text(action)
        if status not in action.reason:  # a retired job's reason names its end already
            details.append(status)
    elif action.hash and action.kind is not ActionKind.ORPHANED:
        details.append(f"hash {action.hash[:12]}")
    if action.reason:
        details.append(action.reason)
    if action.changes:
        details.append(f"changed: {', '.join(action.changes)}")
    line = f"  {label} {action.key:<{width}}  {'; '.join(details)}".rstrip()
    notes = [f"\n      ⚠ {risk}" for risk in action.risks]
    return line + "".join(notes)


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


@dataclass(frozen=True)
class Scope:
    """Which spec keys exist in the repository, and which a selector chose."""

    present: frozenset[str]
    selected: frozenset[str]

    def removed(self, key: str) -> bool:
        return not belongs(key, self.present)

    def shows(self, key: str) -> bool:
        """Selected specs, and (when no selector narrowed them) removed ones."""
        return belongs(key, self.selected) or (self.selected == self.present and self.removed(key))


def _status_rows(state: State, scope: Scope | None = None) -> list[dict[str, Any]]:
    rows = []
    for key, entry in sorted(state.specs.items()):
        if scope is not None and not scope.shows(key):
            continue
        job = entry.latest()
        rows.append(
            {
                "spec": key,
                "domainId": entry.domain_id,
                "hash": entry.hash,
                "attempt": job.attempt if job else None,
                "jobId": job.job_id if job else None,
                "jobName": job.job_name if job else None,
                "status": (job.status or ("STARTING" if job.job_id is None else None))
                if job
                else None,
                "percentComplete": job.percent_complete if job else None,
                "createdAt": job.created_at if job else None,
                "endedAt": job.ended_at if job else None,
                "failure": job.failure.model_dump(by_alias=True) if job and job.failure else None,
                "results": job.results if job else None,
                "superseded": len(entry.history),
                "removed": bool(scope and scope.removed(key)),
            }
        )
    return rows


def status_json(state: State, *, scope: Scope | None = None) -> str:
    """Every spec's latest job as JSON (``formatVersion`` 1)."""
    document = {
        "formatVersion": FORMAT_VERSION,
        "observedAt": state.observed_at,
        "serial": state.serial,
        "specs": _status_rows(state, scope),
        "orphans": [o.to_data() for o in state.orphans],
    }
    return json.dumps(document, indent=2) + "\n"


def status_text(state: State, *, colour: bool = False, scope: Scope | None = None) -> str:
    """Every spec's latest job, one line each (aligned whatever the status), then the
    failures in full; specs no longer in the repository are marked removed."""
    rows = _status_rows(state, scope)
    if not rows:
        return "No jobs recorded in the state yet.\n"
    width = max(len(r["spec"]) for r in rows)
    shown = [_status_word(r) for r in rows]
    status_width = max(len(word) for word in shown)
    colours = {
        JobStatus.COMPLETED: "32",
        JobStatus.COMPLETED_WITH_ERRORS: "33",
        JobStatus.FAILED: "31",
    }
    lines = [f"State observed at {state.observed_at or 'never'} (serial {state.serial})"]
    for row, word in zip(rows, shown, strict=True):
        status = f"{word:<{status_width}}"  # padded before colouring: escapes take no room
        if colour and row["status"] in colours:
            status = f"\x1b[{colours[row['status']]}m{status}\x1b[0m"
        timing = ""
        if row["createdAt"]:
            timing = f"  created {row['createdAt']}"
        if row["endedAt"]:
            timing += f"  ended {row['endedAt']}"
        job = f"job {row['jobId']}" if row["jobId"] else ""
        attempt = f" (attempt {row['attempt']})" if row["attempt"] and row["attempt"] > 1 else ""
        removed = "  (spec removed)" if row["removed"] else ""
        lines.append(f"  {row['spec']:<{width}}  {status} {job}{attempt}{timing}{removed}".rstrip())
        if row["results"]:
            counts = ", ".join(f"{k} {v}" for k, v in sorted(row["results"].items()))
            lines.append(f"      results: {counts}")
        if row["failure"]:
            failure = row["failure"]
            lines.append(f"      failure {failure.get('statusCode')}: {failure.get('message')}")
    for orphan in state.orphans:
        lines.append(
            f"  unclaimed {orphan.job_name}  {orphan.status}  job {orphan.job_id}"
            "  (no spec of this state claims it)"
        )
    return "\n".join(lines) + "\n"


def watch_lines(state: State, *, width: int = 80, scope: Scope | None = None) -> list[str]:
    """``status --watch``: one line per job, a progress bar for those in flight (as wide as
    the terminal allows), then a count; no line wider than ``width``, so the view redraws in
    place."""
    rows = _status_rows(state, scope)
    active = ("SUBMITTED", "IN_PROGRESS", "STARTING")
    running = sum(1 for r in rows if r["status"] in active)
    lines = [f"voiceid-reconciler status --watch · observed {state.observed_at or 'never'}"]
    words = [str(r["status"] or "NO JOB") for r in rows]
    name_width = min(max((len(r["spec"]) for r in rows), default=10), max(width // 2, 10))
    status_width = max((len(w) for w in words), default=6)
    bar_width = max(5, min(20, width - 1 - (2 + name_width + 2 + status_width + 1) - 7))
    for row, status in zip(rows, words, strict=True):
        if status in ("SUBMITTED", "IN_PROGRESS"):
            percent = row["percentComplete"] or 0
            done = percent * bar_width // 100
            bar = f"[{'#' * done}{'.' * (bar_width - done)}] {percent:>3}%"
        elif status == "COMPLETED":
            bar = "done"
        else:
            bar = ""
        line = f"  {row['spec'][:name_width]:<{name_width}}  {status:<{status_width}} {bar}"
        lines.append(line.rstrip()[: max(width - 1, 20)])
    ended = len(rows) - running
    lines.append(f"{running} in flight, {ended} ended" + ("" if running else " — all ended"))
    return lines


def _status_word(row: dict[str, Any]) -> str:
    status = str(row["status"] or "NO JOB")
    if row["status"] == JobStatus.IN_PROGRESS and row["percentComplete"] is not None:
        status += f" {row['percentComplete']}%"
    return status


def state_text(state: State) -> str:
    """A summary of the state: identity, when it was observed, what it holds."""
    jobs = list(state.all_jobs())
    statuses: dict[str, int] = {}
    for record in jobs:
        key = record.status or ("STARTING" if record.job_id is None else "UNKNOWN")
        statuses[key] = statuses.get(key, 0) + 1
    lines = [
        f"schemaVersion {state.schema_version}, lineage {state.lineage}, serial {state.serial}",
        f"observed at {state.observed_at or 'never'}",
        f"{len(state.specs)} spec(s), {len(jobs)} job(s), {len(state.orphans)} unclaimed, "
        f"{len(state.removed)} removed (tombstones of 'state rm')",
    ]
    if statuses:
        lines.append(
            "jobs by status: " + ", ".join(f"{k} {v}" for k, v in sorted(statuses.items()))
        )
    for name, domain_id in sorted(state.domains.items()):
        lines.append(f"domain {name} = {domain_id}")
    for key, when in sorted(state.listings.items()):
        lines.append(f"history of {key} listed in full at {when}")
    return "\n".join(lines) + "\n"


GITHUB_COMMENT_LIMIT = 65_536
_MARKDOWN_LABELS = {
    ActionKind.START: "🟢 start",
    ActionKind.RETRY: "🔁 retry",
    ActionKind.QUEUED: "⏳ queued",
    ActionKind.AWAITING_REVIEW: "⏸️ awaiting review",
    ActionKind.BLOCKED: "⛔ blocked",
    ActionKind.IN_SYNC: "✅ in sync",
    ActionKind.SUPERSEDED: "♻️ superseded",
    ActionKind.ORPHANED: "❔ orphaned",
    ActionKind.RETIRED: "🗄️ retired",
}
_MARKDOWN_PROBLEMS = {"failed": "❌ failed", "with errors": "⚠️ with errors"}
MARKER = "<!-- voiceid-reconciler plan -->"
"""The first line of every plan comment: what a workflow looks for to update its comment."""
_HEADING = "### voiceid-reconciler plan"
_KIND_WORDS = {"SpeakerEnrollmentJob": "enrollment", "FraudsterRegistrationJob": "registration"}


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


def _markdown_label(action: Action) -> str:
    label = _MARKDOWN_PROBLEMS.get(row_class(action), _MARKDOWN_LABELS[action.kind])
    return f"{label} ⚠️" if action.risks else label


def _risk_head(risk: str) -> str:
    """``existingEnrollmentAction OVERWRITE`` of ``existingEnrollmentAction OVERWRITE: re-enrolls
    speakers already enrolled``: the setting, without the explanation."""
    return risk.partition(":")[0]


def _markdown_note(action: Action) -> str:
    """Risky settings first (named; the "Settings to check" section explains them), then the
    job's status, why, what changed, the attempt and the job."""
    parts = [f"⚠️ **{_escape(_risk_head(risk))}**" for risk in action.risks]
    if action.speakers is not None and action.kind is not ActionKind.IN_SYNC:
        parts.append(f"{action.speakers} {_speaker_noun(action)}")
    status = _status_text(action) if action.status else ""
    if (
        status
        and row_class(action) not in ("failed", "with errors")
        and status not in action.reason
    ):
        parts.append(_escape(status))
    if action.reason:  # the label says "awaiting review" already
        parts.append(_escape(action.reason.removeprefix("awaiting review: ")))
    if action.changes:
        parts.append(_escape(f"changed: {', '.join(action.changes)}"))
    if action.attempt and action.attempt > 1 and f"attempt {action.attempt}" not in action.reason:
        parts.append(f"attempt {action.attempt}")
    if action.job_id and action.kind is not ActionKind.IN_SYNC:
        parts.append(f"job {_code(action.job_id)}")
    return "; ".join(parts)


def _status_text(action: Action) -> str:
    status = str(action.status)
    if action.status == JobStatus.IN_PROGRESS and action.percent_complete is not None:
        status += f" {action.percent_complete}%"
    return status


def _speaker_noun(action: Action) -> str:
    return "speakers" if action.spec_kind == "SpeakerEnrollmentJob" else "fraudsters"


def _markdown_domain(action: Action) -> str:
    """The domain's name when the state knows it (its id is in the start request), else its
    id: the table stays narrow enough for a pull request's column."""
    return _code(action.domain_name or action.domain_id or "-")


@dataclass(frozen=True)
class _Columns:
    """The columns of a comment's tables: the kind only when the plan holds both kinds, the
    domain only when it spans several (else said once, above the tables): narrow tables read
    whole in a pull request's column, where a wide one hides its notes behind a scroll bar."""

    kind: bool
    domain: bool

    @classmethod
    def of(cls, plan: Plan) -> _Columns:
        return cls(
            kind=len({a.spec_kind for a in plan.actions}) > 1,
            domain=len({a.domain_id for a in plan.actions}) > 1,
        )

    def names(self) -> list[str]:
        return ["", "spec"] + ["kind"] * self.kind + ["domain"] * self.domain + ["note"]

    def head(self) -> list[str]:
        names = self.names()
        return [f"| {' | '.join(names)} |".replace("|  |", "| |"), "|---" * len(names) + "|"]

    def more(self, left: int) -> str:
        return f"| … | {left} more not shown |" + " |" * (len(self.names()) - 2)

    def row(self, action: Action) -> str:
        cells = [_markdown_label(action), _code(action.name)]
        if self.kind:
            cells.append(_KIND_WORDS.get(action.spec_kind, action.spec_kind))
        if self.domain:
            cells.append(_markdown_domain(action))
        cells.append(_markdown_note(action))
        return f"| {' | '.join(cells)} |"


def _request_details(action: Action) -> str:
    """One start as ``terraform plan`` shows a create: a folded block, its summary naming the
    spec, and the request it will send as attributes — in the spec's own field names, every
    default filled in, risky settings marked — in a ``diff`` block (GitHub colours it green).
    No speaker data: a roster is its speaker count and where apply stages its manifest."""
    what = f"{_markdown_label(action)} <code>{html.escape(action.name)}</code>"
    kind = _KIND_WORDS.get(action.spec_kind, action.spec_kind)
    where = action.domain_name or action.domain_id
    domain = f" · {html.escape(where)}" if where else ""
    attempt = f" · attempt {action.attempt}" if action.attempt else ""
    lines = [f'{action.spec_kind} "{action.name}" {{']
    risks = list(action.risks)
    request = action.request
    if request is None:
        lines.append("    # known online only (a plan with Voice ID and S3 shows the request)")
        lines += [f"    # ⚠ {risk}" for risk in risks]
    else:
        body = _request_attributes(action, request)
        marked = []
        for key, value in body:
            note = ""
            if value.startswith('"'):  # a risky setting carries its value in the risk's head
                hits = [r for r in risks if value.strip('"') in _risk_head(r).split()]
                if hits:
                    note = f"  # ⚠ {hits[0].partition(': ')[2] or hits[0]}"
                    risks.remove(hits[0])
            marked.append((key, value + note))
        lines += [f"    # ⚠ {risk}" for risk in risks]  # a risk no attribute carries
        lines += _aligned(marked, "    ")
    lines.append("}")
    fence = "`" * max(3, _longest_run(lines, "`") + 1)
    return "\n".join(
        [
            f"<details><summary>{what} · {kind}{domain}{attempt}</summary>",
            "",
            f"{fence}diff",
            *(f"+ {line}" for line in lines),
            fence,
            "",
            "</details>",
        ]
    )


def _request_attributes(action: Action, request: StartRequest) -> list[tuple[str, str]]:
    """``(key, value)`` lines of one request; nested blocks open with ``key {`` (value "{")
    and close with ``}`` (key "}")."""

    def quoted(value: object, unset: str = "(not set: Voice ID's default)") -> str:
        return unset if value is None else json.dumps(value, ensure_ascii=False)

    default_watchlist = "(not set: the domain's default watchlist)"

    config = request.config
    name = f"  # {action.domain_name}" if action.domain_name else ""
    body = [
        ("domain", quoted(request.domain_id) + name),
        ("dataAccessRoleArn", quoted(request.data_access_role_arn)),
        ("revision", str(request.revision)),
        ("input", "{"),
    ]
    digest = request.manifest_digest
    if digest is None or digest.startswith("etag:"):  # a manifest of the spec's own
        etag = f"  # ETag {digest.removeprefix('etag:').strip(chr(34))[:12]}" if digest else ""
        body.append(("  manifest", f"{quoted(request.input_s3_uri)}{etag}"))
    else:  # an inline roster: how many, never who (its manifest is staged by apply)
        count = "" if action.speakers is None else f"{action.speakers} {_speaker_noun(action)}, "
        staged = request.input_s3_uri.rpartition("/")[0] + "/"
        body.append(("  roster", f"({count}staged under {quoted(staged)})"))
    body += [
        ("}", ""),
        ("output", "{"),
        ("  s3Uri", quoted(request.output_s3_uri)),
        ("  kmsKeyId", quoted(request.kms_key_id)),
        ("}", ""),
    ]
    if "fraudDetection" in config:
        fraud = config["fraudDetection"] or {}
        body += [
            ("enrollment", "{"),
            ("  existingEnrollmentAction", quoted(config.get("existingEnrollmentAction"))),
            ("  fraudDetection", "{"),
            ("    action", quoted(fraud.get("action"))),
            ("    riskThreshold", quoted(fraud.get("riskThreshold"))),
            ("    watchlist", quoted(fraud.get("watchlistId"), default_watchlist)),
            ("  }", ""),
            ("}", ""),
        ]
    else:
        body += [
            ("registration", "{"),
            ("  duplicateRegistrationAction", quoted(config.get("duplicateRegistrationAction"))),
            ("  fraudsterSimilarityThreshold", quoted(config.get("fraudsterSimilarityThreshold"))),
            ("  watchlist", quoted(config.get("watchlistId"), default_watchlist)),
            ("}", ""),
        ]
    if action.attempt:
        body.append(("attempt", str(action.attempt)))
    if action.job_name:
        body.append(("JobName", quoted(action.job_name)))
    if action.client_token:
        token = action.client_token
        body.append(("ClientToken", quoted(f"{token[:16]}…{token[token.rfind('-') :]}")))
    return body


def _aligned(body: list[tuple[str, str]], indent: str) -> list[str]:
    """Attributes aligned on ``=`` within each block, as ``terraform plan`` writes them."""
    out: list[str] = []
    group: list[tuple[str, str]] = []

    def nested(key: str) -> str:  # two spaces of the key's nesting: four of the block's
        return indent + "  " * (len(key) - len(key.lstrip(" ")))

    def flush() -> None:
        width = max((len(k.strip()) for k, _ in group), default=0)
        for key, value in group:
            out.append(f"{nested(key)}{key.strip():<{width}} = {value}")
        group.clear()

    for key, value in body:
        if value == "{" or key.strip() == "}":
            flush()
            out.append(f"{nested(key)}{key.strip()}" + (" {" if value == "{" else ""))
        else:
            group.append((key, value))
    flush()
    return out


def _longest_run(lines: list[str], char: str) -> int:
    longest = 0
    for line in lines:
        run = 0
        for c in line:
            run = run + 1 if c == char else 0
            longest = max(longest, run)
    return longest


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
        shown = ", ".join(_code(s) for s in specs[:names])
        more = f" and {len(specs) - names} more" if len(specs) > names else ""
        lines.append(
            f"- **{_escape(head)}**" + (f": {_escape(why)}" if why else "") + f" — {shown}{more}"
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
    columns: _Columns | None
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
    columns: _Columns | None = None,
    folded: bool = False,
) -> _Block:
    items: list[str] = []
    size = 0
    for action in actions:  # never more than the comment could hold (50,000 starts)
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
    columns = _Columns.of(plan)
    if plan.actions and not columns.domain and plan.actions[0].domain_id:
        one = plan.actions[0]
        named = f" ({_code(one.domain_id or '-')})" if one.domain_name else ""
        head += ["", f"Domain: {_code(one.domain_name or one.domain_id or '-')}{named}"]
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
            blocks.append(_block(_REQUESTS[name], actions, _request_details, limit))
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
    fence = "`" * max(3, _longest_run(lines, "`") + 1)
    head = [
        MARKER,
        _HEADING,
        "",
        "**❌ Plan failed: nothing was planned**",
        "",
        f"{fence}text",
    ]
    tail = [fence, "", "Fix and push again; the plan run's log has the same lines."]
    budget = limit - len("\n".join(head + tail)) - 200
    shown: list[str] = []
    for line in lines:
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
        f"| {_code(domain)} | " + " | ".join(str(row[c]) for c in columns) + " |"
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


_MARKDOWN_SPECIAL = re.compile(r"([\\`*_<>\[\]|~&#])")


def _escape(text: str) -> str:
    """Text from the world (a reason, Voice ID's failure message) as literal Markdown in a
    table cell: punctuation that would format, link or open HTML is escaped, a line break
    becomes a space."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text.replace("\n", " "))


def _code(text: str) -> str:
    """``text`` as a code span in a table cell (a ``|`` escaped: GFM splits cells first)."""
    fence = "`" * (_longest_run([text], "`") + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text.replace('|', chr(92) + '|')}{pad}{fence}"
