"""Plans as text for people and JSON for tools. Rendering never computes anything.

JSON plan schema (``formatVersion`` 1; fields are only ever added within a version)::

    formatVersion   1
    offline         bool       computed from the state file alone
    observedAt      str|null   when Voice ID was last observed (the state's observedAt)
    checksum        str        pin for ``apply --plan-checksum``
    summary         {start, retry, queued, blocked, in-sync, superseded, orphaned: int}
    actions         [{action, kind, name, domainId, hash, attempt, jobName, jobId, status,
                      percentComplete, reason, priority}]

No speaker id, audio location or manifest URI appears in any rendering.
"""

from __future__ import annotations

import json
import os
from typing import Any, TextIO

from reconciler.plan import Action, ActionKind, Plan

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
            if action.percent_complete is not None and action.status == "IN_PROGRESS"
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


def plan_json(plan: Plan, *, offline: bool, observed_at: str | None) -> str:
    """The plan in the documented, versioned JSON schema."""
    document = {
        "formatVersion": FORMAT_VERSION,
        "offline": offline,
        "observedAt": observed_at,
        "checksum": plan.checksum(),
        "summary": plan.counts(),
        "actions": [action_dict(a) for a in plan.actions],
    }
    return json.dumps(document, indent=2, sort_keys=False) + "\n"
