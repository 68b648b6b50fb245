"""The plan as a value: its actions, what each kind means, its checksum, and the start rule.

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

:func:`reconciler.core.planner.build_plan` computes the plan from desired jobs and a state that
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
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from reconciler.core import jobkinds
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import PlanError, SpecError
from reconciler.core.identity import HASH_IN_NAME, StartRequest, configuration
from reconciler.core.kinds import ACTIVE, PENDING, STARTING, WANTED, ActionKind, JobKind, JobStatus
from reconciler.core.state import JobRecord, State

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
"""A plan lists its actions in the order ActionKind declares them (starts first)."""


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
IN_SYNC_CODES = {
    JobStatus.COMPLETED: "completed",
    JobStatus.COMPLETED_WITH_ERRORS: "completed-with-errors",
    JobStatus.FAILED: "failed",
}
"""The ``code`` of an in-sync action whose job ended (a running one is ``running``)."""
_PROBLEM_STATUS = {status: code for status, code in IN_SYNC_CODES.items() if code in PROBLEMS}


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
        # The digest of one compact JSON list of the intents, fed a thousand at a time so that
        # 50,000 of them never sit in memory as one string; the bytes (and so the checksum
        # pinned by reviewed plans) are those of json.dumps of the whole list.
        digest = hashlib.sha256(b"[")
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


def jobs_by_prefix(state: State) -> dict[str, list[JobRecord]]:
    """Every job record by the hash prefix its JobName carries: a job found only by listing
    knows no more of its hash than that (``JobRecord.hash``), so a desired job finds its
    records by its own hash's prefix."""
    by_prefix: dict[str, list[JobRecord]] = defaultdict(list)
    for record in state.all_jobs():
        by_prefix[record.hash[:HASH_IN_NAME]].append(record)
    return by_prefix


def would_start(desired: Sequence[DesiredJob], state: State) -> set[Slot]:
    """The slots in which some desired job would start or retry, by the plan's own rule."""
    # Observation lists only these slots before a start, so this must be next_start itself:
    # a rule of its own could leave unlisted a slot in which the plan then starts a job.
    by_prefix = jobs_by_prefix(state)
    return {
        (job.request.domain_id, job.kind)
        for job in desired
        if job.request is not None
        and next_start(
            by_prefix.get(job.request.hash[:HASH_IN_NAME], []), job.spec.facts.max_attempts
        )
        is not None
    }


def latest_attempt(jobs: Sequence[JobRecord]) -> JobRecord | None:
    """The record of the highest attempt: the one :func:`next_start` judges by."""
    return max(jobs, key=lambda r: r.attempt) if jobs else None


def next_start(jobs: Sequence[JobRecord], max_attempts: int) -> tuple[int, str] | None:
    """The start rule, in one place: the attempt a desired job whose hash has these recorded
    jobs starts now, and why (``new``, ``unconfirmed-start``: an intent never confirmed is
    resumed with its own ClientToken, ``retry-after-failure``: within ``max_attempts``); None
    when it starts nothing (running, ended, or out of attempts)."""
    latest = latest_attempt(jobs)
    if latest is None:
        return 1, "new"
    if latest.job_id is None:  # the same attempt, so the same ClientToken: Voice ID answers
        return latest.attempt, "unconfirmed-start"  # with the job it made, never a second one
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


def risks(request: StartRequest) -> tuple[str, ...]:
    """The settings of a start a reviewer should look at twice (its kind's risk notes)."""
    return jobkinds.of(request.kind).risk_notes(request.config)


def facts_risks(job: DesiredJob) -> tuple[str, ...]:
    """The risk notes of a spec whose request is not known (an offline plan): they come from
    the spec alone."""
    return jobkinds.of(job.kind).risk_notes(configuration(job.spec.facts))


def retirable(state: State, plan: Plan) -> list[str]:
    """The spec entries an apply forgets: those of removed specs that the plan shows retired
    (every job of theirs ended)."""
    retired = {a.key for a in plan.actions if a.kind is ActionKind.RETIRED}
    running = {a.key for a in plan.actions if a.kind is ActionKind.ORPHANED}
    return sorted(k for k in retired - running if k in state.specs)
