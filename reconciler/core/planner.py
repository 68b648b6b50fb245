"""How a plan is made: :func:`build_plan` and the rules that give each job its action.

Each desired job gets one action from the jobs recorded for its hash (:func:`_action_for`, by
:func:`reconciler.core.plan.next_start`), the starts of one (DomainId, kind) share its free
slots by priority and approval time (:func:`_fill`), dependencies and reviews hold starts back,
and the jobs no spec asks for any more are reported (superseded, orphaned, retired). What the
actions mean is :mod:`reconciler.core.plan`'s table. Nothing here does I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import replace
from fnmatch import fnmatchcase as fnmatch

from reconciler.core import order
from reconciler.core.desired import DesiredJob
from reconciler.core.identity import (
    HASH_IN_NAME,
    StartRequest,
    client_token,
    job_name,
    parse_job_name,
    request_changes,
)
from reconciler.core.kinds import STARTING, ActionKind, JobStatus
from reconciler.core.plan import (
    DEFAULT_MAX_ACTIVE,
    IN_SYNC_CODES,
    UNKNOWN_HASH,
    Action,
    Plan,
    Slot,
    active_counts,
    check_unique,
    facts_risks,
    jobs_by_prefix,
    latest_attempt,
    next_start,
    risks,
)
from reconciler.core.spec import belongs
from reconciler.core.state import Approval, JobRecord, SpecEntry, State


def build_plan(  # noqa: PLR0913 - keyword-only values that observation and the run add
    desired: Sequence[DesiredJob],
    state: State,
    *,
    foreign_active: Mapping[Slot, int] | None = None,
    hold: Mapping[Slot, str] | None = None,
    max_active: int = DEFAULT_MAX_ACTIVE,
    unselected: Collection[str] = (),
    owner: Sequence[str] = (),
    require_approval: bool = False,
) -> Plan:
    """The plan for ``desired`` given ``state`` (already absorbed with observations).

    ``foreign_active`` counts active jobs per (DomainId, kind) that are not ours; with ours
    (from the state) they decide how many of the domain's ``max_active`` slots are free.
    ``hold`` puts the starts of a (DomainId, kind) on hold (queued) with the given reason.
    ``unselected`` are the keys of specs that exist but a selector left out: their records
    are not reported (they are not orphans). Orphans are the jobs of specs this state managed
    and that were removed; jobs found by listing that no spec of this state ever claimed
    (another state's, in a shared domain) are reported only when their spec name matches an
    ``owner`` pattern (``fnmatch``; ``*`` for all). The ended jobs of a removed spec are
    ``retired`` (apply forgets them); a removed spec's job still running is ``orphaned``.

    Every start carries the review that approved its intent (``state.approvals``); with
    ``require_approval`` a start no review approved is ``awaiting-review`` instead, takes no
    slot, and the approved ones fill the slots. Equal priorities are served in the order
    their intents were approved (the first approved, the first started), then by name.
    """
    check_unique(desired)
    names = {domain_id: name for name, domain_id in state.domains.items()}
    actions, candidates = _desired_actions(desired, state, names)
    wanted_keys = {job.key for job in desired}
    for key, entry in sorted(state.specs.items()):
        if key not in wanted_keys and not belongs(key, unselected):
            actions.extend(_removed(entry, names))
    if owner:
        owned = [r for r in state.orphans if any(fnmatch(_spec_name(r), p) for p in owner)]
        actions.extend(_orphaned(owned, "no spec asks for it", "unclaimed", names))
    busy = active_counts(state)
    # Dependencies first: a start that waits for another spec's job must not take a slot
    # that a start free to go could use.
    candidates = _in_order(desired, candidates, actions, state)
    for slot, starts in candidates.items():
        waiting = starts
        if require_approval:  # an intent no review approved waits for one, taking no slot
            waiting = [a for a in starts if not a.needs_review]
            actions.extend(
                _awaiting(a, state.approvals.get(a.key)) for a in starts if a.needs_review
            )
        if hold and slot in hold:  # observation cannot rule out a job it does not see yet
            actions.extend(_queued(action, hold[slot], "list-lag") for action in waiting)
        else:
            taken = busy[slot] + (foreign_active or {}).get(slot, 0)
            actions.extend(_fill(waiting, taken, max_active, state.approvals))
    # One total order (kind, spec, attempt, job): the same world always prints the same plan,
    # whatever order the specs were loaded or the jobs listed in.
    return Plan(tuple(sorted(actions, key=Action.sort_key)), max_active=max_active)


def _in_order(
    desired: Sequence[DesiredJob],
    candidates: dict[Slot, list[Action]],
    actions: list[Action],
    state: State,
) -> dict[Slot, list[Action]]:
    """The starts whose dependencies (``dependsOn``) have not all completed leave the slots'
    candidates: waiting (queued, taking no slot) or blocked, added to ``actions``."""
    depends = {job.key: job.spec.facts.depends_on for job in desired if job.spec.facts.depends_on}
    if not depends:
        return candidates
    by_key = {a.key: a for a in actions}
    by_key.update((a.key, a) for starts in candidates.values() for a in starts)
    kept: dict[Slot, list[Action]] = {}
    for slot, starts in candidates.items():
        kept[slot] = []
        for action in starts:
            gated = order.gate(action, depends.get(action.key, ()), by_key, state)
            (kept[slot] if gated is action else actions).append(gated)
    return kept


def _removed(entry: SpecEntry, names: Mapping[str, str]) -> list[Action]:
    """The jobs of a spec that was removed: retired when every one of them ended (the state
    forgets them on apply, as tombstones), orphaned while one still runs or may (a start
    not confirmed)."""
    records = entry.jobs + entry.history
    if any(r.active or r.job_id is None for r in records):
        return _orphaned(
            records, "its spec was removed; its job is still running", "spec-removed", names
        )
    latest = _newest(records)
    if latest is None:
        return []
    status = latest.status or "ended"
    return [
        _report(
            ActionKind.RETIRED,
            latest,
            entry.name,
            f"its spec was removed; its job ended {status}: apply forgets it",
            "spec-retired",
            domain_name=names.get(latest.domain_id),
        )
    ]


def _awaiting(action: Action, approval: Approval | None) -> Action:
    """A start no review approved, held with the reason."""
    if approval is None:
        reason = "no reviewed plan approved this spec (changed on main without review?)"
        code = "not-reviewed"
    elif approval.hash != action.hash:
        reason = (
            f"changed since its review (reviewed hash {approval.hash[:12]}, now "
            f"{(action.hash or UNKNOWN_HASH)[:12]}"
            + (f": {', '.join(action.changes)}" if action.changes else "")
            + ")"
        )
        code = "changed-since-review"
    else:
        reason = (
            f"attempt {action.attempt} is beyond the {approval.max_attempts} attempt(s) "
            "its review approved"
        )
        code = "attempts-beyond-review"
    return replace(
        action, kind=ActionKind.AWAITING_REVIEW, reason=f"awaiting review: {reason}", code=code
    )


def _desired_actions(
    desired: Sequence[DesiredJob], state: State, names: Mapping[str, str]
) -> tuple[list[Action], dict[Slot, list[Action]]]:
    """The action of every desired job (and the superseded jobs it replaces); the starts are
    returned apart, per slot, for :func:`_fill` to give the free slots to. ``names``: the
    domain name of each DomainId the state knows (shown in plans)."""
    # By the JobName's hash prefix, not the whole hash: a job found only by listing knows no
    # more of its hash than its name carries (``JobRecord.hash``).
    by_prefix = jobs_by_prefix(state)
    renamed = state.renamed
    actions: list[Action] = []
    candidates: dict[Slot, list[Action]] = defaultdict(list)
    for job in desired:
        entry = state.specs.get(job.key)
        if job.request is None:
            new = job.unknown_offline and job.key not in state.specs
            actions.append(
                Action(
                    ActionKind.START if new else ActionKind.BLOCKED,
                    spec_kind=job.kind,
                    name=job.name,
                    domain_id=job.domain_id,
                    reason=f"new spec; its hash is known online only ({job.blocked})"
                    if new
                    else job.blocked or "",
                    code="new-offline" if new else job.blocked_code,
                    priority=job.spec.facts.priority,
                    max_attempts=job.spec.facts.max_attempts,
                    risks=facts_risks(job) if new else (),
                    domain_name=names.get(job.domain_id) if job.domain_id else None,
                )
            )
            if entry is not None:  # a blocked new version does not hide a running old one
                actions.extend(_superseded(entry, None, names))
            continue
        action = _action_for(
            job,
            job.request,
            by_prefix.get(job.request.hash[:HASH_IN_NAME], []),
            names.get(job.request.domain_id),
        )
        if job.key in renamed:
            was = renamed[job.key].partition("/")[2]
            note = f"renamed from {was} (its job follows the new name)"
            action = replace(action, reason=f"{action.reason}; {note}" if action.reason else note)
        # The state keeps the last started request (canonical, no roster): a changed spec
        # names the fields that changed without the old spec file at hand.
        if action.code == "new" and entry is not None and (entry.history or entry.request):
            old = entry.request_data()
            changes = request_changes(old, job.request.essence()) if old else ()
            action = replace(
                action,
                code="changed",
                reason="the spec changed since its last job",
                changes=changes,
            )
        if action.kind in STARTING:
            approval = state.approvals.get(job.key)
            if approval is not None and approval.covers(action.hash, action.attempt):
                action = replace(action, approved_by=approval.review)
            candidates[(job.request.domain_id, job.kind)].append(action)
        else:
            actions.append(action)
        if entry is not None:
            actions.extend(_superseded(entry, job.request.hash, names))
    return actions, candidates


_NEVER = "~"
"""Sorts after every ISO time: a start not approved yet waits behind approved ones."""


def _fill(
    waiting: list[Action], taken: int, max_active: int, approvals: Mapping[str, Approval]
) -> list[Action]:
    """The starts of one slot: the free places go by priority, then by when their intent was
    approved (a spec that waited longer is not overtaken by a new one), then name; the rest
    queue."""
    free = max(0, max_active - taken)  # others' jobs or a lowered --max-active may overfill it

    def since(action: Action) -> str:
        if action.code == "unconfirmed-start":  # a start under way goes on first
            return ""
        approval = approvals.get(action.key)
        return approval.at if approval is not None and action.approved_by else _NEVER

    waiting = sorted(waiting, key=lambda a: (-a.priority, since(a), a.name))
    out: list[Action] = []
    for position, action in enumerate(waiting):
        if position < free:
            out.append(action)
        # The first start left out says why (the quota is taken); each after it names the
        # one ahead, so a queue reads as a line and no reason repeats down a long plan.
        elif position == free and taken:
            out.append(
                _queued(action, f"domain busy: {taken} active job(s) of this kind", "domain-busy")
            )
        else:
            out.append(
                _queued(action, f"waiting behind {waiting[position - 1].name}", "waiting-behind")
            )
    return out


_IN_SYNC_NOTES = {
    JobStatus.FAILED: "no attempts left (bump spec.revision to run it again)",
    JobStatus.COMPLETED_WITH_ERRORS: "some requests failed (voiceid-reconciler status --details)",
}


def _in_sync_note(record: JobRecord) -> str:
    note = _IN_SYNC_NOTES.get(record.status, "") if record.status else ""
    if record.status == JobStatus.FAILED and record.failure is not None:
        failure = record.failure
        return f"failure {failure.status_code}: {failure.message}; {note}"
    return note


def _action_for(
    job: DesiredJob,
    request: StartRequest,
    jobs: Sequence[JobRecord],
    domain_name: str | None = None,
) -> Action:
    """The action of one resolvable desired job, given the jobs recorded for its hash."""
    spec = job.spec
    latest = latest_attempt(jobs)
    max_attempts = spec.facts.max_attempts
    start = next_start(jobs, max_attempts)
    if start is None:
        assert latest is not None  # nothing recorded is a start
        return Action(
            ActionKind.IN_SYNC,
            spec_kind=spec.kind,
            name=job.name,
            domain_id=request.domain_id,
            hash=request.hash,
            attempt=latest.attempt,
            client_token=latest.client_token,
            job_name=latest.job_name,
            job_id=latest.job_id,
            status=latest.status,
            percent_complete=latest.percent_complete,
            reason=_in_sync_note(latest),
            code=IN_SYNC_CODES.get(latest.status, "running") if latest.status else "starting",
            priority=spec.facts.priority,
            speakers=job.speakers,
            request=request,
            domain_name=domain_name,
            max_attempts=max_attempts,
        )
    attempt, code = start
    if code == "new":
        reason = "no job for this spec hash"
    elif code == "unconfirmed-start":
        reason = "start not confirmed; resumed with the same ClientToken"
    else:
        reason = f"attempt {attempt - 1} FAILED; attempt {attempt} of {max_attempts}"
    return Action(
        ActionKind.START if attempt == 1 else ActionKind.RETRY,
        spec_kind=spec.kind,
        name=job.name,
        domain_id=request.domain_id,
        hash=request.hash,
        attempt=attempt,
        client_token=client_token(request.hash, attempt),
        job_name=job_name(job.name, request.hash, attempt),
        reason=reason,
        code=code,
        priority=spec.facts.priority,
        speakers=job.speakers,
        request=request,
        risks=risks(request),
        domain_name=domain_name,
        max_attempts=max_attempts,
    )


def _queued(action: Action, reason: str, code: str) -> Action:
    return replace(action, kind=ActionKind.QUEUED, reason=reason, code=code)


def _superseded(
    entry: SpecEntry, current_hash: str | None, names: Mapping[str, str]
) -> list[Action]:
    """Jobs of earlier hashes of a spec: those still running, and the one being replaced.

    The latest superseded job is shown until the new hash has a job of its own, so that a
    reviewer sees what a changed spec replaces; after that only running ones are shown. With
    no current hash (the spec is blocked), only the running ones.
    """
    replacing = current_hash is not None and not any(
        r.job_id for r in entry.jobs if r.hash == current_hash
    )
    latest = _newest([r for r in entry.history if r.hash != current_hash])
    return [
        _report(
            ActionKind.SUPERSEDED,
            r,
            entry.name,
            "the spec changed since this job",
            "spec-changed",
            domain_name=names.get(r.domain_id),
        )
        for r in entry.history
        if r.hash != current_hash and (r.active or (replacing and r is latest))
    ]


def _newest(records: Sequence[JobRecord]) -> JobRecord | None:
    """The job created last (the one a change replaces), by when it was created or intended."""
    if not records:
        return None
    return max(records, key=lambda r: (r.created_at or r.intent_at or "", r.attempt))


def _orphaned(
    records: Iterable[JobRecord], reason: str, code: str, names: Mapping[str, str]
) -> list[Action]:
    latest: dict[str, JobRecord] = {}
    for record in records:
        latest[record.hash] = record
    return [
        _report(
            ActionKind.ORPHANED, r, _spec_name(r), reason, code, domain_name=names.get(r.domain_id)
        )
        for r in latest.values()
    ]


def _spec_name(record: JobRecord) -> str:
    parts = parse_job_name(record.job_name)
    return parts.name if parts else record.job_name


def _report(  # noqa: PLR0913 - the fields of one reported job
    kind: ActionKind,
    record: JobRecord,
    name: str,
    reason: str,
    code: str,
    *,
    domain_name: str | None,
) -> Action:
    return Action(
        kind,
        spec_kind=record.kind,
        name=name,
        domain_id=record.domain_id,
        hash=record.hash,
        attempt=record.attempt,
        client_token=record.client_token,
        job_name=record.job_name,
        job_id=record.job_id,
        status=record.status,
        percent_complete=record.percent_complete,
        reason=reason,
        code=code,
        domain_name=domain_name,
    )
