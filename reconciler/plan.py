"""The plan: a pure function from desired jobs and the observed world to a list of actions.

Batch jobs are one-shot and immutable, so a plan never updates anything. Each desired job
(one per spec) gets exactly one action, and jobs that no spec asks for any more are reported:

==============  ================================================================================
``start``       no job exists for this spec hash; Voice ID has a free slot in the domain
``retry``       the last attempt ended FAILED and ``maxAttempts`` allows another one
``queued``      would start or retry, but the domain's active-job quota is taken (a later run
                continues, in priority order)
``blocked``     cannot start: domain missing or not ACTIVE, watchlist missing, access denied...
``in-sync``     a job exists for this hash; its status is reported
``superseded``  a job of an earlier hash of a spec that changed (never touched, only shown)
``orphaned``    a job with our naming that no spec asks for any more (never touched)
==============  ================================================================================

:func:`absorb` folds what Voice ID showed into the state (matching jobs by the hash in their
JobName), and :func:`build_plan` computes the plan from desired jobs and that state. Neither
does I/O.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from reconciler.errors import PlanError
from reconciler.identity import HASH_IN_NAME, StartRequest, client_token, job_name, parse_job_name
from reconciler.spec import LoadedSpec
from reconciler.state import JobRecord, ObservedJob, SpecEntry, State

DEFAULT_MAX_ACTIVE = 1
DEFAULT_START_LIMIT = 100
DEFAULT_LIST_LAG_HORIZON = 300.0
"""Seconds within which a job Voice ID has just created may still be missing from List."""
"""Pending starts (start, retry, queued) above which apply refuses without ``--force``."""


class ActionKind(StrEnum):
    START = "start"
    RETRY = "retry"
    QUEUED = "queued"
    BLOCKED = "blocked"
    IN_SYNC = "in-sync"
    SUPERSEDED = "superseded"
    ORPHANED = "orphaned"


_ORDER = {kind: i for i, kind in enumerate(ActionKind)}
STARTING = frozenset({ActionKind.START, ActionKind.RETRY})


@dataclass(frozen=True)
class DesiredJob:
    """A spec (or one part of a chunked roster) resolved into the request it stands for, or
    the reason it cannot be."""

    spec: LoadedSpec
    request: StartRequest | None
    blocked: str | None = None
    domain_id: str | None = None
    part_name: str | None = None
    """``<name>-part-NNN`` for one part of a roster too large for one job."""
    manifest: bytes | None = field(default=None, repr=False, compare=False)
    """The rendered manifest of a roster, staged before the job starts."""
    speakers: int | None = None
    unknown_offline: bool = False
    """An offline plan could not resolve a new spec (its domain or manifest was never seen):
    shown as a start without a hash, not as blocked."""

    @property
    def name(self) -> str:
        return self.part_name or self.spec.name

    @property
    def key(self) -> str:
        return f"{self.spec.kind}/{self.name}"

    def __post_init__(self) -> None:
        if (self.request is None) == (self.blocked is None):
            raise ValueError("a desired job has either a request or a reason it is blocked")

    @property
    def hash(self) -> str | None:
        return self.request.hash if self.request else None


@dataclass(frozen=True)
class Action:
    """One line of a plan."""

    kind: ActionKind
    spec_kind: str
    name: str
    domain_id: str | None = None
    hash: str | None = None
    attempt: int | None = None
    client_token: str | None = None
    job_name: str | None = None
    job_id: str | None = None
    status: str | None = None
    percent_complete: int | None = None
    reason: str = ""
    priority: int = 0
    speakers: int | None = None
    """Requests in the job's manifest, when known without reading S3 (inline rosters)."""
    request: StartRequest | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        return f"{self.spec_kind}/{self.name}"

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
        return any(a.kind in STARTING or a.kind is ActionKind.QUEUED for a in self.actions)

    def checksum(self) -> str:
        """A digest of what the plan would do: its start, retry and queued actions.

        Statuses and progress are left out, so a job moving on between review and apply does
        not change the checksum; a new spec, a changed hash or a job that appeared does.
        """
        essence = [
            [a.kind.value, a.key, a.hash, a.attempt, a.domain_id]
            for a in self.actions
            if a.kind in STARTING or a.kind is ActionKind.QUEUED
        ]
        return hashlib.sha256(json.dumps(essence, separators=(",", ":")).encode()).hexdigest()[:16]


def check_unique(desired: Sequence[DesiredJob]) -> None:
    """Two specs that resolve to the same job would share one job: refuse the whole plan."""
    seen: dict[str, DesiredJob] = {}
    for job in desired:
        if job.hash is None:
            continue
        first = seen.setdefault(job.hash, job)
        if first is not job:
            raise PlanError(
                f"{job.spec.location}: {job.key} resolves to the same job as "
                f"{first.key} ({first.spec.location}); change one of them or give it "
                "a different revision"
            )


def absorb(state: State, desired: Sequence[DesiredJob], observed: Iterable[ObservedJob]) -> None:
    """Fold observed jobs into the state and align its entries with the desired specs.

    Jobs are ours when their JobName carries our naming; they are matched to a spec by the
    hash in the name, so a lost state file or a forgotten ClientToken loses nothing. Jobs of
    other hashes of a spec's name are its history (superseded); anything else with our naming
    is an orphan. Records of jobs Voice ID did not show are kept as they are.
    """
    by_hash = {job.hash[:HASH_IN_NAME]: job for job in desired if job.hash is not None}
    records: dict[str, JobRecord] = {}
    intents: dict[tuple[str, int], JobRecord] = {}
    full_hashes: dict[str, str] = {e.hash[:HASH_IN_NAME]: e.hash for e in state.specs.values()}
    for record in state.all_jobs():
        if record.job_id:
            records[record.job_id] = record
        else:
            intents[(record.hash, record.attempt)] = record
        if len(record.hash) == 64:
            full_hashes[record.hash[:HASH_IN_NAME]] = record.hash
    for job in by_hash.values():
        assert job.hash is not None
        full_hashes[job.hash[:HASH_IN_NAME]] = job.hash
    for seen in observed:
        parts = parse_job_name(seen.job_name)
        if parts is None:
            continue
        known = records.get(seen.job_id)
        if known is None:
            full = full_hashes.get(parts.hash_prefix, parts.hash_prefix)
            known = JobRecord(
                hash=full,
                attempt=parts.attempt,
                client_token=client_token(full, parts.attempt) if len(full) == 64 else None,
                job_name=seen.job_name or "",
                domain_id=seen.domain_id,
                kind=seen.kind,
                job_id=seen.job_id,
            )
            intent = intents.pop((full, parts.attempt), None)
            if intent is not None:  # the intent written before the Start call: the same job
                intent.job_id = known.job_id
                intent.job_name = known.job_name
                known = intent
            else:
                _place(state, known, parts.name, by_hash)
            records[seen.job_id] = known
        _update(known, seen)
    for job in desired:
        if job.hash is not None:
            _align(state, job)


def _place(state: State, record: JobRecord, name: str, by_hash: Mapping[str, DesiredJob]) -> None:
    """Put a newly discovered job where it belongs: a spec's jobs or history, or the orphans."""
    desired = by_hash.get(record.hash[:HASH_IN_NAME])
    key = desired.key if desired else f"{record.kind}/{name}"
    entry = state.specs.get(key)
    if entry is None and desired is not None:
        entry = state.specs[key] = SpecEntry(
            kind=record.kind, name=desired.name, hash=record.hash, domain_id=record.domain_id
        )
    if entry is None:
        state.orphans.append(record)
    elif entry.hash == record.hash:
        _insert(entry.jobs, record)
    else:
        _insert(entry.history, record)


def _insert(records: list[JobRecord], record: JobRecord) -> None:
    records.append(record)
    records.sort(key=lambda r: (r.created_at or r.intent_at or "", r.attempt))


def _update(record: JobRecord, seen: ObservedJob) -> None:
    record.status = seen.status
    record.percent_complete = seen.percent_complete
    record.created_at = seen.created_at or record.created_at
    record.ended_at = seen.ended_at or record.ended_at
    record.failure = seen.failure or record.failure


def _align(state: State, job: DesiredJob) -> None:
    """Make the spec's entry describe the desired hash, moving other jobs to its history."""
    assert job.request is not None
    key = job.key
    entry = state.specs.get(key)
    if entry is None:
        state.specs[key] = SpecEntry(
            kind=job.spec.kind,
            name=job.name,
            hash=job.request.hash,
            domain_id=job.request.domain_id,
        )
        entry = state.specs[key]
    if entry.hash != job.request.hash:
        pool = entry.jobs + entry.history
        entry.hash = job.request.hash
        entry.domain_id = job.request.domain_id
        entry.jobs = [r for r in pool if r.hash == entry.hash]
        entry.history = [r for r in pool if r.hash != entry.hash]
    # Orphans that turn out to be this spec's (a spec restored, a name reused) come home.
    mine = [r for r in state.orphans if r.hash[:HASH_IN_NAME] == entry.hash[:HASH_IN_NAME]]
    for record in mine:
        state.orphans.remove(record)
        record.hash = entry.hash
        _insert(entry.jobs, record)


def active_counts(state: State) -> Counter[tuple[str, str]]:
    """Our active jobs per (DomainId, kind), as the state knows them."""
    counts: Counter[tuple[str, str]] = Counter()
    for record in state.all_jobs():
        if record.active:
            counts[(record.domain_id, record.kind)] += 1
    return counts


def build_plan(
    desired: Sequence[DesiredJob],
    state: State,
    *,
    foreign_active: Mapping[tuple[str, str], int] | None = None,
    hold: Mapping[tuple[str, str], str] | None = None,
    max_active: int = DEFAULT_MAX_ACTIVE,
) -> Plan:
    """The plan for ``desired`` given ``state`` (already :func:`absorb`-ed with observations).

    ``foreign_active`` counts active jobs per (DomainId, kind) that are not ours; with ours
    (from the state) they decide how many of the domain's ``max_active`` slots are free.
    ``hold`` puts the starts of a (DomainId, kind) on hold (queued) with the given reason.
    """
    check_unique(desired)
    by_prefix: dict[str, list[JobRecord]] = defaultdict(list)
    for record in state.all_jobs():
        by_prefix[record.hash[:HASH_IN_NAME]].append(record)

    actions: list[Action] = []
    candidates: dict[tuple[str, str], list[Action]] = defaultdict(list)
    for job in desired:
        if job.request is None:
            new = job.unknown_offline and job.key not in state.specs
            actions.append(
                Action(
                    ActionKind.START if new else ActionKind.BLOCKED,
                    spec_kind=job.spec.kind,
                    name=job.name,
                    domain_id=job.domain_id,
                    reason=f"new spec; its hash is known online only ({job.blocked})"
                    if new
                    else job.blocked or "",
                    priority=job.spec.document.spec.priority,
                )
            )
            entry = state.specs.get(job.key)
            if entry is not None:  # a blocked new version does not hide a running old one
                actions.extend(_superseded(entry, None))
            continue
        action = _action_for(job, job.request, by_prefix.get(job.request.hash[:HASH_IN_NAME], []))
        if action.kind in STARTING:
            candidates[(job.request.domain_id, job.spec.kind)].append(action)
        else:
            actions.append(action)
        entry = state.specs.get(job.key)
        if entry is not None:
            actions.extend(_superseded(entry, job.request.hash))

    wanted_keys = {job.key for job in desired}
    for key, entry in sorted(state.specs.items()):
        if key not in wanted_keys:
            actions.extend(_orphaned(entry.jobs + entry.history, "its spec was removed"))
    actions.extend(_orphaned(state.orphans, "no spec asks for it"))

    busy = active_counts(state)
    for slot, waiting in candidates.items():
        if hold and slot in hold:  # observation cannot rule out a job it does not see yet
            actions.extend(_queued(action, hold[slot]) for action in waiting)
            continue
        taken = busy[slot] + (foreign_active or {}).get(slot, 0)
        free = max(0, max_active - taken)
        waiting.sort(key=lambda a: (-a.priority, a.name))
        for position, action in enumerate(waiting):
            if position < free:
                actions.append(action)
            elif position == free and taken:
                actions.append(_queued(action, f"domain busy: {taken} active job(s) of this kind"))
            else:
                actions.append(_queued(action, f"waiting behind {waiting[position - 1].name}"))
    return Plan(tuple(sorted(actions, key=Action.sort_key)), max_active=max_active)


_IN_SYNC_NOTES = {
    "FAILED": "FAILED; no attempts left (bump spec.revision to run it again)",
    "COMPLETED_WITH_ERRORS": "some requests failed (voiceid-reconciler status --details)",
}


def _action_for(job: DesiredJob, request: StartRequest, jobs: Sequence[JobRecord]) -> Action:
    """The action of one resolvable desired job, given the jobs recorded for its hash."""
    spec = job.spec
    latest = max(jobs, key=lambda r: r.attempt) if jobs else None
    max_attempts = spec.document.spec.max_attempts
    attempt = 1
    if latest is None:
        kind, reason = ActionKind.START, "no job for this spec hash"
    elif latest.job_id is None:
        attempt = latest.attempt
        kind = ActionKind.START if attempt == 1 else ActionKind.RETRY
        reason = "start not confirmed; resumed with the same ClientToken"
    elif latest.status == "FAILED" and latest.attempt < max_attempts:
        attempt = latest.attempt + 1
        kind = ActionKind.RETRY
        reason = f"attempt {latest.attempt} FAILED; attempt {attempt} of {max_attempts}"
    else:
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
            reason=_IN_SYNC_NOTES.get(latest.status or "", ""),
            priority=spec.document.spec.priority,
            speakers=job.speakers,
            request=request,
        )
    return Action(
        kind,
        spec_kind=spec.kind,
        name=job.name,
        domain_id=request.domain_id,
        hash=request.hash,
        attempt=attempt,
        client_token=client_token(request.hash, attempt),
        job_name=job_name(job.name, request.hash, attempt),
        reason=reason,
        priority=spec.document.spec.priority,
        speakers=job.speakers,
        request=request,
    )


def _queued(action: Action, reason: str) -> Action:
    return replace(action, kind=ActionKind.QUEUED, reason=reason)


def _superseded(entry: SpecEntry, current_hash: str | None) -> list[Action]:
    """Jobs of earlier hashes of a spec: those still running, and the one being replaced.

    The latest superseded job is shown until the new hash has a job of its own, so that a
    reviewer sees what a changed spec replaces; after that only running ones are shown. With
    no current hash (the spec is blocked), only the running ones.
    """
    replacing = current_hash is not None and not any(
        r.job_id for r in entry.jobs if r.hash == current_hash
    )
    latest = entry.history[-1] if entry.history else None
    return [
        _report(ActionKind.SUPERSEDED, r, entry.name, "the spec changed since this job")
        for r in entry.history
        if r.hash != current_hash and (r.active or (replacing and r is latest))
    ]


def _orphaned(records: Iterable[JobRecord], reason: str) -> list[Action]:
    latest: dict[str, JobRecord] = {}
    for record in records:
        latest[record.hash] = record
    return [_report(ActionKind.ORPHANED, r, _spec_name(r), reason) for r in latest.values()]


def _spec_name(record: JobRecord) -> str:
    parts = parse_job_name(record.job_name)
    return parts.name if parts else record.job_name


def _report(kind: ActionKind, record: JobRecord, name: str, reason: str) -> Action:
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
    )
