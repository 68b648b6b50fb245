"""Observation, the I/O half: list and describe what the hold policy asks for, then fold it in.

Per (domain, kind) that a spec targets (see :func:`reconciler.core.hold.decide`):

* never listed in full by this state (a cold start, or a lost state file), or holding a
  start that was never confirmed: list the whole history once, page by page, and find our
  jobs by the hash in their JobName;
* otherwise, only when something there may start: one list filtered to IN_PROGRESS (the
  other jobs occupying the domain's slot);
* then Describe only our jobs that were still in flight and were not in that list.

Whether a slot's starts wait for List to catch up is decided by :mod:`reconciler.core.hold`
from the state and the run's clock.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import structlog

from reconciler.core import adoption, hold
from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import NotFoundError
from reconciler.core.hold import Listing, ListLag, Observation
from reconciler.core.identity import parse_job_name
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import TERMINAL, JobKind, JobStatus
from reconciler.core.plan import Slot, would_start
from reconciler.core.state import JobRecord, State
from reconciler.core.statepatch import StatePatch, copied_record, records_patch
from reconciler.core.times import iso
from reconciler.runner.ports import Clock, VoiceIdApi

log = structlog.get_logger("reconciler.runner")


class ListingNeeded(Exception):
    """Full listings must be taken before this observation can go on (``defer_full``): the
    caller takes them without the state's lock (:func:`list_full`) and observes again."""

    def __init__(self, slots: Sequence[Slot]) -> None:
        super().__init__(f"{len(slots)} full listing(s) needed")
        self.slots = list(slots)


@dataclass(frozen=True)
class Prelisted:
    """Full listings taken before the observation that uses them (outside the lock)."""

    listed: dict[Slot, dict[str, ObservedJob]]
    at: float
    """When they began: what they prove is as of then (every job made before, less the lag)."""


def list_full(
    voiceid: VoiceIdApi, slots: Sequence[Slot], clock: Clock, *, adding: Prelisted | None = None
) -> Prelisted:
    """List these slots in full now (the two kinds at once), holding no lock; ``adding`` the
    listings taken before (all of them then count as of the earliest)."""
    at = clock.time()
    listed = _list_full_by_kind(voiceid, slots)
    if adding is not None:
        return Prelisted({**adding.listed, **listed}, min(at, adding.at))
    return Prelisted(listed, at)


def observe(  # noqa: PLR0913 - the hold policy's settings and the listings taken before, by keyword
    voiceid: VoiceIdApi,
    state: State,
    desired: Sequence[DesiredJob],
    *,
    horizon: float = hold.DEFAULT_LIST_LAG_HORIZON,
    token_lifetime: float = hold.DEFAULT_TOKEN_LIFETIME,
    clock: Clock,
    prelisted: Prelisted | None = None,
    defer_full: bool = False,
) -> tuple[State, Observation]:
    """Bring the state up to date with Voice ID, spending calls only on what can change:
    the state as it now is (a new one: what Voice ID showed applied to ``state``), and what
    the plan needs of the observation.

    A full listing of a large domain takes minutes (a thousand pages at two calls a second).
    With ``defer_full`` (the apply loop, which holds the state's lock), a slot that needs one
    and is not in ``prelisted`` stops the observation before it changes anything
    (:class:`ListingNeeded`): the caller lists without the lock and observes again with the
    listings, so another run never waits minutes for the lock."""
    state = _find_imported(voiceid, state, desired)
    starting = would_start(desired, state)
    unconfirmed = hold.unconfirmed_slots(state)
    seen: dict[str, ObservedJob] = {}
    holds: dict[Slot, str] = {}
    known = {r.job_id for r in state.all_jobs() if r.job_id}
    decisions = [
        (
            slot,
            hold.decide(
                state,
                slot,
                ListLag(clock.time(), horizon, token_lifetime),
                may_start=slot in starting,
                unconfirmed=slot in unconfirmed,
            ),
        )
        for slot in hold.slots_to_observe(desired, state)
    ]
    full = [slot for slot, d in decisions if d.listing is Listing.FULL]
    ready = prelisted.listed if prelisted is not None else {}
    missing = [slot for slot in full if slot not in ready]
    if defer_full and missing:
        raise ListingNeeded(missing)
    listed = {**_list_full_by_kind(voiceid, missing), **{s: ready[s] for s in full if s in ready}}
    for slot, decision in decisions:
        may_start = slot in starting
        reason = decision.hold
        if decision.listing is Listing.FULL:
            kept = listed[slot]
            seen.update(kept)
            unknown = any(
                parse_job_name(j.job_name) is not None and j.job_id not in known
                for j in kept.values()
            )
            at = prelisted.at if prelisted is not None and slot in ready else clock.time()
            reason = hold.record_full_listing(
                state,
                slot,
                ListLag(at, horizon),
                may_start=may_start,
                unknown_ours=unknown,
            )
        elif decision.listing is Listing.ACTIVE:
            domain_id, kind = slot
            for found in voiceid.list_jobs(kind, domain_id, status=JobStatus.IN_PROGRESS):
                seen[found.job_id] = found
        if reason:
            holds[slot] = reason
    lag = ListLag(clock.time(), horizon)
    state = describe_active(voiceid, state, seen, lag, event="observe").applied_to(state)
    state = absorb(state, desired, seen.values()).applied_to(state)
    holds.update(hold.intent_holds(state, ListLag(clock.time(), horizon)))
    state.observed_at = iso(clock.time())
    return state, Observation(hold.foreign_active(seen.values(), state), holds)


def _find_imported(voiceid: VoiceIdApi, state: State, desired: Sequence[DesiredJob]) -> State:
    """Describe, by the id its spec names, every imported job the state does not record (a
    lost or rebuilt state): no listing can find it (its JobName has no hash), and its spec
    must never start a second job. One call per such spec, none in the steady state. The
    state with what was found recorded (a new one when anything was)."""
    for job, job_id in adoption.lost_imports(desired, state):
        assert job.request is not None
        try:
            seen = voiceid.describe_job(job.kind, job.request.domain_id, job_id)
        except NotFoundError:  # gone from Voice ID: the spec is a new job, as any other
            log.warning("observe.imported_job_missing", spec=job.key, job_id=job_id)
            continue
        state = adoption.record_again(state, job, seen).applied_to(state)
        log.info("observe.imported_job_found", spec=job.key, job_id=job_id)
    return state


Listed = dict[Slot, dict[str, ObservedJob]]
"""Per slot listed in full: the jobs kept (in flight, or ours)."""


def _list_full_by_kind(voiceid: VoiceIdApi, slots: Sequence[Slot]) -> Listed:
    """List these slots' histories, the two kinds at once: each List API has its own quota
    (and rate limiter), so a cold start takes the time of the larger kind, not of both.
    Within a kind, one domain after another (one quota for all of them). What is listed is
    returned per slot, for the caller to take in the slots' order (a state written the same
    way whichever listing ended first)."""
    by_kind: dict[JobKind, list[Slot]] = {}
    for slot in slots:
        by_kind.setdefault(slot[1], []).append(slot)
    listed: Listed = {}
    stop = threading.Event()

    def list_kind(group: list[Slot]) -> None:
        try:
            for slot in group:
                listed[slot] = _list_full(voiceid, slot, stop)
        except BaseException:
            stop.set()  # the other kind's listing stops at its next page
            raise

    first, *others = list(by_kind.values()) or [[]]
    if not others:
        list_kind(first)
        return listed
    with ThreadPoolExecutor(max_workers=len(others), thread_name_prefix="list") as pool:
        futures = [pool.submit(list_kind, group) for group in others]
        try:
            with contextlib.suppress(_Stopped):  # the other kind's failed: raised below
                list_kind(first)
            for future in futures:
                future.result()
        except BaseException:  # an interrupt while waiting: the others stop at their next page
            stop.set()
            raise
    return listed


class _Stopped(Exception):
    """A listing stopped because the other kind's failed (or the run is interrupted)."""


def _list_full(voiceid: VoiceIdApi, slot: Slot, stop: threading.Event) -> dict[str, ObservedJob]:
    """List a slot's whole history (streamed: keep only jobs in flight and jobs of ours)."""
    domain_id, kind = slot
    seen: dict[str, ObservedJob] = {}
    listed = 0

    def wanted(name: str | None, status: str) -> bool:  # in flight, or ours
        nonlocal listed
        listed += 1
        if listed % PAGE_CHECK == 0 and stop.is_set():
            raise _Stopped
        return status not in TERMINAL or parse_job_name(name) is not None

    for found in voiceid.list_jobs(kind, domain_id, keep=wanted):
        seen[found.job_id] = found
    if stop.is_set():
        raise _Stopped
    log.info("observe.listed", domain_id=domain_id, kind=kind, jobs=listed)
    return seen


PAGE_CHECK = 100
"""Jobs listed between two looks at whether the listing of the other kind failed (a page)."""


def describe_active(
    voiceid: VoiceIdApi,
    state: State,
    seen: dict[str, ObservedJob],
    lag: ListLag,
    *,
    event: str,
) -> StatePatch:
    """Describe every job of ours the state holds as in flight and ``seen`` does not have.

    A job Voice ID no longer knows, older than the list-lag horizon (a younger one may not be
    visible everywhere yet), has vanished: it is recorded as ended FAILED with that reason,
    once, instead of being described on every run forever (the patch returned)."""
    vanished: list[tuple[JobRecord, JobRecord | None]] = []
    for record in state.all_jobs():
        if record.active and record.job_id and record.job_id not in seen:
            try:
                seen[record.job_id] = voiceid.describe_job(
                    record.kind, record.domain_id, record.job_id
                )
            except NotFoundError:
                since = record.created_at or record.intent_at
                if since is None or lag.age(since) < lag.horizon:
                    log.warning(f"{event}.job_missing", job_id=record.job_id, spec=record.job_name)
                    continue
                gone = copied_record(record)
                gone.status = JobStatus.FAILED
                gone.ended_at = iso(lag.now)
                gone.failure = Failure(
                    message="the job vanished from Voice ID (Describe: not found)"
                )
                vanished.append((record, gone))
                log.warning(f"{event}.job_vanished", job_id=record.job_id, spec=record.job_name)
    return records_patch(state, vanished)
