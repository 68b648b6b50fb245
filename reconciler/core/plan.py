"""The plan: a pure function from desired jobs and the observed world to a list of actions.

Batch jobs are one-shot and immutable, so a plan never updates anything. Each desired job
(one per spec) gets exactly one action, and jobs that no spec asks for any more are reported:

==============  ================================================================================
``start``       no job exists for this spec hash; Voice ID has a free slot in the domain
``retry``       the last attempt ended FAILED and ``maxAttempts`` allows another one
``queued``      would start or retry, but the domain's active-job quota is taken (a later run
                continues, in priority order)
``awaiting-review``  would start or retry, but no review approved this intent (spec, hash,
                attempts) and the run requires approval (``--require-approval``)
``blocked``     cannot start: domain missing or not ACTIVE, watchlist missing, access denied...
``in-sync``     a job exists for this hash; its status is reported
``superseded``  a job of an earlier hash of a spec that changed (never touched, only shown)
``orphaned``    a job with our naming that no spec asks for any more and that is still running
                (or unclaimed, under ``--owner``): never touched, needs a look
``retired``     the ended job of a spec that was removed: apply forgets its record (kept as a
                tombstone, so a spec added back with its content takes it back)
==============  ================================================================================

:func:`build_plan` computes the plan from desired jobs and a state that
:func:`reconciler.core.absorb.absorb` brought up to date with what Voice ID showed. The plan is a
value: it carries its own checksum, over its review set (:meth:`Plan.intent`; how a review
approves or refuses it is :mod:`reconciler.core.review`), and :func:`next_start` is the one
rule for whether a desired job would start (observation asks it, through :func:`would_start`,
to decide what to list). Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fnmatch import fnmatchcase as fnmatch
from typing import NamedTuple

from reconciler.core import jobkinds, order
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import PlanError, SpecError
from reconciler.core.identity import (
    HASH_IN_NAME,
    StartRequest,
    client_token,
    job_name,
    parse_job_name,
    request_changes,
)
from reconciler.core.kinds import ACTIVE, PENDING, STARTING, WANTED, ActionKind, JobKind, JobStatus
from reconciler.core.spec import belongs
from reconciler.core.state import Approval, JobRecord, SpecEntry, State

__all__ = ["PENDING", "STARTING", "WANTED", "ActionKind"]  # the vocabulary lives in core.kinds
"""Re-exported (core.order uses the actions' kinds and cannot import the plan); the module's
own names are imported from it as they are."""

DEFAULT_MAX_ACTIVE = 1
"""Active jobs Voice ID allows per domain and kind (``--max-active``)."""
DEFAULT_START_LIMIT = 100
"""Pending starts (start, retry, queued) above which apply refuses without ``--force``."""

Slot = tuple[str, JobKind]
"""A (DomainId, kind): the unit of Voice ID's active-job quota, of listing and of holds."""


_ORDER = {kind: i for i, kind in enumerate(ActionKind)}


PROBLEMS = ("blocked", "failed", "completed-with-errors", "orphaned", "queued", "awaiting-review")
"""What ``--fail-on`` can name: a blocked spec, a job FAILED with no attempts left, one that
COMPLETED_WITH_ERRORS, an orphaned job (its spec removed, the job still running), a start
still queued, a start no review approved."""
_PROBLEM_KIND = {
    ActionKind.BLOCKED: "blocked",
    ActionKind.ORPHANED: "orphaned",
    ActionKind.QUEUED: "queued",
    ActionKind.AWAITING_REVIEW: "awaiting-review",
}
_IN_SYNC_CODES = {
    JobStatus.COMPLETED: "completed",
    JobStatus.COMPLETED_WITH_ERRORS: "completed-with-errors",
    JobStatus.FAILED: "failed",
}
_PROBLEM_STATUS = {status: code for status, code in _IN_SYNC_CODES.items() if code in PROBLEMS}


@dataclass(frozen=True, slots=True)
class Action:
    """One line of a plan (slotted: a plan holds one per spec, 50,000 of them in a large
    repository)."""

    kind: ActionKind
    spec_kind: JobKind
    name: str
    domain_id: str | None = None
    hash: str | None = None
    attempt: int | None = None
    client_token: str | None = None
    job_name: str | None = None
    job_id: str | None = None
    status: JobStatus | None = None
    percent_complete: int | None = None
    reason: str = ""
    code: str = ""
    """The reason for tools (the JSON plan's ``code``; ``docs/plan-codes`` in the README)."""
    priority: int = 0
    speakers: int | None = None
    """Requests in the job's manifest, when known without reading S3 (inline rosters)."""
    changes: tuple[str, ...] = ()
    """For a start of a changed spec: the fields whose change made the new hash."""
    risks: tuple[str, ...] = ()
    """For a start: settings a reviewer should look at twice (OVERWRITE, IGNORE, ...)."""
    domain_name: str | None = None
    """The domain's name, when the state knows it (beside ``domain_id``)."""
    max_attempts: int = 1
    """The spec's ``maxAttempts``: a review approves attempts 1 to this (:class:`Intent`)."""
    approved_by: str | None = None
    """For a start: the review that approved its intent (the reviewed plan's checksum, or
    ``apply``), None when no review did (:attr:`needs_review`)."""
    request: StartRequest | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.spec_kind}/{self.name}"

    @property
    def pending(self) -> bool:
        """A start or retry, now or (queued) later."""
        return self.kind in PENDING

    @property
    def needs_review(self) -> bool:
        """A start, now, later or held, whose intent no review approved: what a plan's
        checksum covers. A start resumed after a crash never does (its intent was written by
        the run that was allowed to start it, and the job may exist)."""
        return self.kind in WANTED and self.approved_by is None and self.code != "unconfirmed-start"

    @property
    def running(self) -> bool:
        """One of ours, still in flight."""
        return self.kind is ActionKind.IN_SYNC and self.status in ACTIVE

    @property
    def problem(self) -> str | None:
        """The class of trouble this action is (one of :data:`PROBLEMS`), or None."""
        if self.kind is ActionKind.IN_SYNC:
            return _PROBLEM_STATUS.get(self.status) if self.status else None
        return _PROBLEM_KIND.get(self.kind)

    def sort_key(self) -> tuple[int, str, str, int, str]:
        return (_ORDER[self.kind], self.spec_kind, self.name, self.attempt or 0, self.job_id or "")


@dataclass(frozen=True)
class Plan:
    """The actions of one reconcile, in a stable order."""

    actions: tuple[Action, ...]
    max_active: int = DEFAULT_MAX_ACTIVE

    def counts(self) -> dict[str, int]:
        """How many actions of each kind (every kind present, zeros included)."""
        counts = Counter(a.kind for a in self.actions)
        return {kind.value: counts.get(kind, 0) for kind in ActionKind}

    @property
    def starts(self) -> tuple[Action, ...]:
        return tuple(a for a in self.actions if a.kind in STARTING)

    @property
    def pending(self) -> bool:
        """Whether applying this plan would start anything (now or, queued, later)."""
        return any(a.pending for a in self.actions)

    def pending_count(self) -> int:
        """How many starts the plan holds, now or queued."""
        return sum(1 for a in self.actions if a.pending)

    def problems(self, classes: Collection[str]) -> list[Action]:
        """The actions whose :attr:`Action.problem` is one of ``classes`` (``--fail-on``)."""
        return [a for a in self.actions if a.problem is not None and a.problem in classes]

    def jobs_by_status(self) -> dict[str, int]:
        """Specs whose current job has each Voice ID status (in-sync actions)."""
        counts = Counter(
            a.status for a in self.actions if a.kind is ActionKind.IN_SYNC and a.status
        )  # a start recorded without a status yet is no status: dropped before sorting
        return {str(status): n for status, n in sorted(counts.items())}

    def intent(self) -> tuple[Intent, ...]:
        """What a reviewer approves: the plan's review set — every start (now, queued, or
        held) whose intent no earlier review approved: its spec, hash and the attempts its
        ``maxAttempts`` allows."""
        return tuple(sorted(Intent.of(a) for a in self.actions if a.needs_review))

    def checksum(self) -> str:
        """A digest of the plan's :meth:`intent` (its review set): which specs, which hashes
        (the request each start sends: the hash is of that request), which attempts. What
        progresses in the world is left out — queue positions, holds, statuses, progress, a
        reviewed job that started since, another review's intents approved since — so a
        reviewed plan still applies however the world moved; a new or changed spec, a
        replaced manifest, a raised ``maxAttempts`` or a spec that became startable (a hash
        nobody reviewed) changes it."""
        intent = self.intent()
        digest = hashlib.sha256(b"[")  # the JSON list of the intents, made a thousand at a time
        for at in range(0, len(intent), 1000):
            chunk = json.dumps([list(i) for i in intent[at : at + 1000]], separators=(",", ":"))
            digest.update(f"{',' if at else ''}{chunk[1:-1]}".encode())
        digest.update(b"]")
        return digest.hexdigest()[:16]


UNKNOWN_HASH = "unknown-offline"
"""The hash of a new spec in an offline plan, which only Voice ID and S3 can tell."""


class Intent(NamedTuple):
    """One start a review approves: the spec, the hash of the request it sends, the attempts
    its ``maxAttempts`` allows (retries within them are approved with it), and its domain."""

    key: str
    hash: str
    attempts: int
    domain_id: str | None

    @classmethod
    def of(cls, action: Action) -> Intent:
        return cls(action.key, action.hash or UNKNOWN_HASH, action.max_attempts, action.domain_id)

    def describe(self) -> str:
        if self.hash == UNKNOWN_HASH:
            return "to start, hash unknown (offline plan)"
        attempts = f", up to {self.attempts} attempts" if self.attempts > 1 else ""
        return f"to start, hash {self.hash[:12]}{attempts}"


def collisions(desired: Sequence[DesiredJob]) -> list[SpecError]:
    """Specs that resolve to the same job as an earlier one (they would share one job)."""
    seen: dict[str, DesiredJob] = {}
    found = []
    for job in desired:
        if job.hash is None:
            continue
        first = seen.setdefault(job.hash, job)
        if first is not job:
            found.append(
                SpecError(
                    job.spec.location,
                    f"{job.key} resolves to the same job as {first.key} "
                    f"({first.spec.location}); change one of them or give it a different "
                    "revision",
                )
            )
    return found


def check_unique(desired: Sequence[DesiredJob]) -> None:
    """Two specs that resolve to the same job would share one job: refuse the whole plan."""
    found = collisions(desired)
    if found:
        raise PlanError(str(found[0]))


def settled(plan: Plan, *, may_start: bool) -> bool:
    """Nothing left to wait for: no job in flight and (``may_start``) nothing still to start."""
    in_flight = any(a.running for a in plan.actions)
    return not in_flight and not (may_start and plan.pending)


def _by_prefix(state: State) -> dict[str, list[JobRecord]]:
    by_prefix: dict[str, list[JobRecord]] = defaultdict(list)
    for record in state.all_jobs():
        by_prefix[record.hash[:HASH_IN_NAME]].append(record)
    return by_prefix


def would_start(desired: Sequence[DesiredJob], state: State) -> set[Slot]:
    """The slots in which some desired job would start or retry, by the plan's own rule."""
    by_prefix = _by_prefix(state)
    return {
        (job.request.domain_id, job.kind)
        for job in desired
        if job.request is not None
        and next_start(
            by_prefix.get(job.request.hash[:HASH_IN_NAME], []), job.spec.facts.max_attempts
        )
        is not None
    }


def _latest(jobs: Sequence[JobRecord]) -> JobRecord | None:
    return max(jobs, key=lambda r: r.attempt) if jobs else None


def next_start(jobs: Sequence[JobRecord], max_attempts: int) -> tuple[int, str] | None:
    """The start rule, in one place: the attempt a desired job whose hash has these recorded
    jobs starts now, and why (``new``, ``unconfirmed-start``: an intent never confirmed is
    resumed with its own ClientToken, ``retry-after-failure``: within ``max_attempts``); None
    when it starts nothing (running, ended, or out of attempts)."""
    latest = _latest(jobs)
    if latest is None:
        return 1, "new"
    if latest.job_id is None:
        return latest.attempt, "unconfirmed-start"
    if latest.status == JobStatus.FAILED and latest.attempt < max_attempts:
        return latest.attempt + 1, "retry-after-failure"
    return None


def active_counts(state: State) -> Counter[Slot]:
    """Our active jobs per (DomainId, kind), as the state knows them."""
    counts: Counter[Slot] = Counter()
    for record in state.all_jobs():
        if record.active:
            counts[(record.domain_id, record.kind)] += 1
    return counts


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


def retirable(state: State, plan: Plan) -> list[str]:
    """The spec entries an apply forgets: those of removed specs that the plan shows retired
    (every job of theirs ended)."""
    retired = {a.key for a in plan.actions if a.kind is ActionKind.RETIRED}
    running = {a.key for a in plan.actions if a.kind is ActionKind.ORPHANED}
    return sorted(k for k in retired - running if k in state.specs)


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
    by_prefix = _by_prefix(state)
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
                    risks=_facts_risks(job) if new else (),
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
    free = max(0, max_active - taken)

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
    latest = _latest(jobs)
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
            code=_IN_SYNC_CODES.get(latest.status, "running") if latest.status else "starting",
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


def risks(request: StartRequest) -> tuple[str, ...]:
    """The settings of a start a reviewer should look at twice (its kind's risk notes)."""
    return jobkinds.of(request.kind).risk_notes(request.config)


def _facts_risks(job: DesiredJob) -> tuple[str, ...]:
    """The risk notes of a spec whose request is not known (an offline plan): they come from
    the spec alone."""
    facts = job.spec.facts
    return jobkinds.of(job.kind).risk_notes(
        {
            "existingEnrollmentAction": facts.existing_enrollment_action,
            "fraudDetection": {"action": facts.fraud_action},
            "duplicateRegistrationAction": facts.duplicate_registration_action,
        }
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
