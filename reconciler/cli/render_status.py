"""The state as people and tools read it: ``status``, ``status --watch``, ``state show``.

``status`` as text and JSON (``formatVersion`` 1), ``status --watch``'s lines, ``state show``'s
summary; :class:`Scope` says which specs a repository still has and which a selector chose.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from reconciler.core.kinds import JobStatus
from reconciler.core.spec import belongs
from reconciler.core.state import State

FORMAT_VERSION = 1
"""The status JSON's own ``formatVersion`` (fields only ever added within it, as the plan's).

Not imported from :mod:`reconciler.cli.render`: ``status`` imports this module at start-up
(every command's parser does), and the plan renderer would bring the plan and the runner in."""


@dataclass(frozen=True)
class Scope:
    """Which spec keys exist in the repository, and which a selector chose."""

    present: frozenset[str]
    selected: frozenset[str]

    def removed(self, key: str) -> bool:
        return not belongs(key, self.present)

    def shows(self, key: str) -> bool:
        """Selected specs, and (when no selector narrowed them) removed ones."""
        # A removed spec's job is shown only when no selector narrowed the view: a selector
        # chooses by labels, and a removed spec has none left to match.
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
                # An intent with no JobId is a Start not confirmed yet: 'STARTING', not a job
                # without a status.
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
    # Names take at most half the width: a long spec name must not push the bar off a narrow
    # terminal.
    name_width = min(max((len(r["spec"]) for r in rows), default=10), max(width // 2, 10))
    status_width = max((len(w) for w in words), default=6)
    # What is left of the width after the name, the status and ' 100%' (7 with the brackets),
    # one column short of the edge, between 5 and 20 wide.
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
        # Cut one column short of the width: a line that wraps cannot be redrawn in place.
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
