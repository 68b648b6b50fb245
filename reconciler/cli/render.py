"""Plans as text for people and JSON for tools. Rendering never computes anything.

JSON plan schema (``formatVersion`` 1; fields are only ever added within a version)::

    formatVersion   1
    offline         bool       computed from the state file alone
    observedAt      str|null   when Voice ID was last observed (the state's observedAt)
    checksum        str        pin for ``apply --plan-checksum``: a digest of ``intent``
    summary         {start, retry, queued, blocked, in-sync, superseded, orphaned: int}
    actions         [{action, kind, name, domainId, hash, attempt, jobName, jobId, status,
                      percentComplete, reason, priority}]
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
from dataclasses import dataclass
from typing import Any, TextIO

from reconciler.core.kinds import JobStatus
from reconciler.core.plan import Action, ActionKind, Plan
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
    """``N to start, M queued, ...``: the one-line summary every rendering starts with."""
    c = plan.counts()
    return (
        f"{c['start'] + c['retry']} to start, {c['queued']} queued, {c['in-sync']} in sync, "
        f"{c['superseded']} superseded, {c['orphaned']} orphaned, {c['blocked']} blocked"
    )


def plan_text(plan: Plan, *, offline: bool, observed_at: str | None, colour: bool = False) -> str:
    """The plan as aligned text lines, one per action, then the summary and the checksum."""
    lines = []
    if offline:
        when = f"state observed at {observed_at}" if observed_at else "state never observed"
        lines.append(f"Offline plan (no Voice ID calls; {when})")
    if plan.actions:
        width = max(len(a.key) for a in plan.actions)
        for action in plan.actions:
            lines.append(_action_line(action, width, colour))
    else:
        lines.append("No specs.")
    lines.append("")
    lines.append(f"Plan: {summary_line(plan)}.")
    lines.append(f"Plan checksum: {plan.checksum()}")
    return "\n".join(lines) + "\n"


def _action_line(action: Action, width: int, colour: bool) -> str:
    symbol, code = _SYMBOLS[action.kind]
    label = f"{symbol} {action.kind.value:<10}"
    if colour:
        label = f"\x1b[{code}m{label}\x1b[0m"
    details = []
    if action.domain_id:
        details.append(f"domain {action.domain_id}")
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
    return f"  {label} {action.key:<{width}}  {'; '.join(details)}".rstrip()


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
        "actions": [action_dict(a) for a in plan.actions],
        "intent": [list(i) for i in plan.intent()],
    }
    if inputs is not None:
        document["inputs"] = inputs
    return json.dumps(document, indent=2, sort_keys=False) + "\n"


def apply_text(report: ApplyReport, *, dry_run: bool, colour: bool = False) -> str:
    """What an apply run did: the final plan, then what started, what waits and why."""
    lines = [plan_text(report.plan, offline=False, observed_at=report.observed_at, colour=colour)]
    if dry_run:
        lines.append("Dry run: nothing was started.")
    for action in report.started:
        lines.append(f"Started {action.key} (attempt {action.attempt}).")
    for key, reason in sorted(report.deferred.items()):
        lines.append(f"Queued {key}: {reason}.")
    for key, reason in sorted(report.blocked.items()):
        lines.append(f"Blocked {key}: {reason}.")
    for key in report.failed:
        lines.append(f"FAILED {key}: no attempts left (bump spec.revision to run it again).")
    for key in report.with_errors:
        lines.append(f"COMPLETED_WITH_ERRORS {key}: some requests failed (status --details).")
    if report.timed_out:
        lines.append("Timed out waiting for jobs to end; run again to continue.")
    return "\n".join(lines).rstrip("\n") + "\n"


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
        "orphans": [o.model_dump(mode="json", by_alias=True) for o in state.orphans],
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


def plan_markdown(
    plan: Plan,
    *,
    offline: bool,
    observed_at: str | None,
    limit: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """A GitHub-flavoured Markdown comment: summary, table of jobs to start, full plan folded.

    Deterministic (an updated comment diffs cleanly) and never longer than ``limit``
    characters: when the plan is too long, rows are left out from the end and the comment
    says how many.
    """
    head = [
        "### voiceid-reconciler plan",
        "",
        f"**{summary_line(plan)}** · checksum `{plan.checksum()}`",
    ]
    if offline:
        when = f"the state observed at {observed_at}" if observed_at else "an empty state"
        head += ["", f"> Offline plan: computed from the specs and {when}; no Voice ID calls."]
    starting = [a for a in plan.actions if a.pending]
    table_head = [
        "",
        "| | spec | kind | domain | speakers | attempt | note |",
        "|---|---|---|---|---|---|---|",
    ]
    table_rows = [
        f"| {_MARKDOWN_LABELS[a.kind]} | `{a.name}` | {a.spec_kind} | `{a.domain_id or '-'}` "
        f"| {'—' if a.speakers is None else a.speakers} | {a.attempt or ''} | {_cell(a.reason)} |"
        for a in starting
    ]
    detail_rows = [
        _action_line(a, max(len(x.key) for x in plan.actions), colour=False) for a in plan.actions
    ]
    detail_open = [
        "",
        f"<details><summary>Full plan ({len(plan.actions)} actions)</summary>",
        "",
        "```text",
    ]
    detail_close = ["```", "", "</details>", ""]

    def build(table_n: int, detail_n: int) -> str:
        lines = list(head)
        if starting:
            lines += table_head + table_rows[:table_n]
            if table_n < len(table_rows):
                lines.append(f"| … | {len(table_rows) - table_n} more not shown | | | | | |")
        else:
            lines += ["", "Nothing to start."]
        if plan.actions:
            lines += detail_open + detail_rows[:detail_n]
            if detail_n < len(detail_rows):
                left_out = len(detail_rows) - detail_n
                lines.append(f"… {left_out} more actions not shown (see plan --format json)")
            lines += detail_close
        lines.append(f"<!-- voiceid-reconciler checksum={plan.checksum()} -->")
        return "\n".join(lines) + "\n"

    table_n, detail_n = len(table_rows), len(detail_rows)
    text = build(table_n, detail_n)
    if len(text) <= limit:
        return text
    # Too long: shrink the folded full plan first, then the table (binary search on each).
    detail_n = _fit(lambda n: len(build(table_n, n)) <= limit, detail_n)
    if len(build(table_n, detail_n)) > limit:
        table_n = _fit(lambda n: len(build(n, 0)) <= limit, table_n)
    return build(table_n, detail_n)


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
