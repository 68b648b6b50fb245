"""Plans as text for people and JSON for tools. Rendering never computes anything.

JSON plan schema (``formatVersion`` 1; fields are only ever added within a version)::

    formatVersion   1
    offline         bool       computed from the state file alone
    observedAt      str|null   when Voice ID was last observed (the state's observedAt)
    checksum        str        pin for ``apply --plan-checksum``: a digest of ``intent``
    summary         {start, retry, queued, blocked, in-sync, superseded, orphaned: int}
    problems        {blocked, failed, completed-with-errors, orphaned, queued: int}  (those
                    present; what ``--fail-on`` counts)
    notes           [str]      for the reviewer: pending starts near or over the default
                    ``--start-limit``
    actions         [{action, kind, name, domainId, hash, attempt, jobName, jobId, status,
                      percentComplete, reason, priority, code, domainName, speakers, changes,
                      risks, problem}]
                    code: why, for tools — start: new | changed | unconfirmed-start |
                    new-offline; retry: retry-after-failure; queued: domain-busy |
                    waiting-behind | list-lag; blocked: domain-not-found | domain-ambiguous |
                    domain-not-active | watchlist-not-found | watchlist-ambiguous |
                    manifest-not-found | offline | refused; in-sync: starting | running |
                    completed | completed-with-errors | failed; superseded: spec-changed;
                    orphaned: spec-removed | unclaimed.
                    changes: for a changed spec, one phrase per changed field ("revision 0 ->
                    1", "manifest object replaced (ETag ...)"); risks: settings worth a second
                    look (OVERWRITE, fraud detection IGNORE, REGISTER_AS_NEW); problem: the
                    ``--fail-on`` class of the action, or null
    intent          [[key, class, hash, attempt, domainId]]  what the checksum covers, per spec
                    (class: start | in-sync | blocked; hash "unknown-offline" for a new spec
                    an offline plan cannot hash; attempt for starts only)
    inputs          {paths, selectors, state, shard, owner, maxActive}  (``plan --out`` only:
                    what ``apply PLAN.json`` plans again from)

No speaker id, audio location or manifest URI appears in any rendering.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TextIO

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
    ActionKind.BLOCKED: ("!", "31"),
    ActionKind.IN_SYNC: ("=", "2"),
    ActionKind.SUPERSEDED: ("~", "35"),
    ActionKind.ORPHANED: ("?", "35"),
}


def use_colour(stream: TextIO) -> bool:
    """Colour on a terminal, unless NO_COLOR is set (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def summary_line(plan: Plan) -> str:
    """``N to start, M queued, ...``: the one-line summary every rendering starts with (the
    failed jobs and those with errors counted apart, when there are any)."""
    c = plan.counts()
    line = (
        f"{c['start'] + c['retry']} to start, {c['queued']} queued, {c['in-sync']} in sync, "
        f"{c['superseded']} superseded, {c['orphaned']} orphaned, {c['blocked']} blocked"
    )
    problems = _problem_counts(plan)
    if problems.get("failed"):
        line += f", {problems['failed']} failed"
    if problems.get("completed-with-errors"):
        line += f", {problems['completed-with-errors']} with errors"
    return line


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
        for action in shown:
            yield f"{_action_line(action, width, colour)}\n"
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


def _action_line(action: Action, width: int, colour: bool) -> str:
    symbol, word, code = _label(action)
    label = f"{symbol} {word:<10}"
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
        progress = (
            f" {action.percent_complete}%"
            if action.percent_complete is not None and action.status == JobStatus.IN_PROGRESS
            else ""
        )
        details.append(f"{action.status}{progress}")
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
    ActionKind.BLOCKED: "⛔ blocked",
    ActionKind.IN_SYNC: "✅ in sync",
    ActionKind.SUPERSEDED: "♻️ superseded",
    ActionKind.ORPHANED: "❔ orphaned",
}
_MARKDOWN_PROBLEMS = {"failed": "❌ failed", "completed-with-errors": "⚠️ with errors"}
_ATTENTION = frozenset({"failed", "completed-with-errors", "blocked", "orphaned"})
MARKER = "<!-- voiceid-reconciler plan -->"
"""The first line of every plan comment: what a workflow looks for to update its comment."""


def verdict_line(plan: Plan) -> str:
    """One line a reviewer reads first: what needs attention, else what will happen."""
    problems = _problem_counts(plan)
    attention = [
        f"{problems[p]} {p.replace('-', ' ')}"
        for p in ("failed", "completed-with-errors", "blocked", "orphaned")
        if problems.get(p)
    ]
    starting = sum(1 for a in plan.actions if a.pending)
    will = f"{starting} job{'s' if starting != 1 else ''} to start" if starting else ""
    if attention:
        return f"❌ Needs attention: {', '.join(attention)}" + (f" · {will}" if will else "")
    if starting:
        return f"🟢 {will}" + (
            f" ({sum(1 for a in plan.actions if a.risks)} with settings to check)"
            if any(a.risks for a in plan.actions)
            else ""
        )
    return "✅ No changes: every spec is in sync"


def _markdown_label(action: Action) -> str:
    return _MARKDOWN_PROBLEMS.get(action.problem or "", _MARKDOWN_LABELS[action.kind])


def _markdown_note(action: Action) -> str:
    parts = []
    if action.status and action.kind is not ActionKind.IN_SYNC:
        parts.append(str(action.status))
    if action.reason:
        parts.append(action.reason)
    if action.changes:
        parts.append(f"changed: {', '.join(action.changes)}")
    parts.extend(f"⚠️ {risk}" for risk in action.risks)
    return _cell("; ".join(parts))


def _markdown_row(action: Action) -> str:
    speakers = "—" if action.speakers is None else str(action.speakers)
    attempt = str(action.attempt) if action.attempt and action.attempt > 1 else ""
    return (
        f"| {_markdown_label(action)} | `{domain_text(action)}` | `{action.name}` "
        f"| {action.spec_kind} | {speakers} | {attempt} | {_markdown_note(action)} |"
    )


_TABLE_HEAD = [
    "| | domain | spec | kind | speakers | attempt | note |",
    "|---|---|---|---|---|---|---|",
]


def _by_domain(actions: list[Action]) -> list[Action]:
    return sorted(actions, key=lambda a: (domain_text(a), Action.sort_key(a)))


def plan_markdown(
    plan: Plan,
    *,
    offline: bool,
    observed_at: str | None,
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """A GitHub-flavoured Markdown comment, tfcmt-style: a marker line (a workflow updates the
    one comment that carries it), a one-line verdict, then in the open every action a
    reviewer must see — failures, blocked, orphaned and superseded jobs, then the starts —
    grouped by domain; the in-sync jobs folded.

    Deterministic (an updated comment diffs cleanly) and never longer than ``limit``
    characters: when the plan is too long, a count of every class per domain comes first and
    rows are left out from the end, saying how many.
    """
    head = [
        MARKER,
        "### voiceid-reconciler plan",
        "",
        f"**{verdict_line(plan)}**",
        "",
        f"Plan: {summary_line(plan)} · checksum `{plan.checksum()}`",
    ]
    if note := limit_note(plan):
        head += ["", f"> ⚠️ {note}"]
    if offline:
        when = f"the state observed at {observed_at}" if observed_at else "an empty state"
        head += ["", f"> Offline plan: computed from the specs and {when}; no Voice ID calls."]
    attention = _by_domain(
        [a for a in plan.actions if (a.problem in _ATTENTION or a.kind is ActionKind.SUPERSEDED)]
    )
    starting = _by_domain([a for a in plan.actions if a.pending])
    seen = {id(a) for a in attention}
    rest = _by_domain([a for a in plan.actions if id(a) not in seen and not a.pending])
    sections = [
        ("Needs attention", [_markdown_row(a) for a in attention]),
        ("To start", [_markdown_row(a) for a in starting]),
    ]
    folded = [_markdown_row(a) for a in rest]

    def table(title: str, rows: list[str], shown: int) -> list[str]:
        if not rows:
            return []
        lines = ["", f"#### {title} ({len(rows)})", "", *_TABLE_HEAD, *rows[:shown]]
        if shown < len(rows):
            lines.append(f"| … | {len(rows) - shown} more not shown | | | | | |")
        return lines

    def build(shown: list[int], folded_n: int, grouped: bool) -> str:
        lines = list(head)
        if grouped:
            lines += _grouped_summary(plan)
        for (title, rows), n in zip(sections, shown, strict=True):
            lines += table(title, rows, n)
        if not plan.actions:
            lines += ["", "No specs."]
        elif folded:
            lines += [
                "",
                f"<details><summary>In sync and unchanged ({len(folded)})</summary>",
                "",
                *_TABLE_HEAD,
                *folded[:folded_n],
            ]
            if folded_n < len(folded):
                lines.append(f"| … | {len(folded) - folded_n} more not shown | | | | | |")
            lines += ["", "</details>"]
        lines.append(f"<!-- voiceid-reconciler checksum={plan.checksum()} -->")
        return "\n".join(lines) + "\n"

    shown = [len(rows) for _, rows in sections]
    text = build(shown, len(folded), grouped=False)
    if len(text) <= limit:
        return text
    # Too long: a per-domain count first; then fewer folded rows, then fewer starts, then fewer
    # rows needing attention (binary search on each, in that order).
    folded_n = _fit(lambda n: len(build(shown, n, True)) <= limit, len(folded))
    for index in (1, 0):
        if len(build(shown, folded_n, True)) <= limit:
            break
        fixed = list(shown)

        def fits(n: int, index: int = index, fixed: list[int] = fixed) -> bool:
            trial = list(fixed)
            trial[index] = n
            return len(build(trial, folded_n, True)) <= limit

        shown[index] = _fit(fits, shown[index])
    return build(shown, folded_n, True)


def _grouped_summary(plan: Plan) -> list[str]:
    """Per domain, how many actions of each class (for plans too long to list in full)."""
    columns = ["to start", "queued", "in sync", "failed", "blocked", "orphaned", "superseded"]
    counts: dict[str, dict[str, int]] = {}
    for action in plan.actions:
        column = {
            ActionKind.START: "to start",
            ActionKind.RETRY: "to start",
            ActionKind.QUEUED: "queued",
            ActionKind.IN_SYNC: "in sync",
            ActionKind.BLOCKED: "blocked",
            ActionKind.ORPHANED: "orphaned",
            ActionKind.SUPERSEDED: "superseded",
        }[action.kind]
        if action.problem in ("failed", "completed-with-errors"):
            column = "failed"
        row = counts.setdefault(domain_text(action), dict.fromkeys(columns, 0))
        row[column] += 1
    lines = [
        "",
        "#### By domain",
        "",
        "| domain | " + " | ".join(columns) + " |",
        "|---|" + "---|" * len(columns),
    ]
    lines += [
        f"| `{domain}` | " + " | ".join(str(row[c]) for c in columns) + " |"
        for domain, row in sorted(counts.items())
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


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
