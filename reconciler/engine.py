"""One run of the reconciler: load the specs, resolve them, observe, plan (and later apply).

The engine is the only module that ties the pure core (spec, identity, plan) to the edges
(the state store, and Voice ID through the adapter that the CLI builds and passes in).
"""

from __future__ import annotations

import hashlib
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import structlog

from reconciler.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PlanChecksumMismatch,
    PlanError,
    QuotaExceededError,
    ReconcilerError,
    SpecError,
    SpecErrors,
    UnsafePlanError,
)
from reconciler.identity import (
    HASH_IN_NAME,
    Resolution,
    parse_job_name,
    start_request,
    watchlist_ref,
)
from reconciler.manifests import FailedRequest, Manifests, failed_requests, result_counts
from reconciler.plan import (
    DEFAULT_LIST_LAG_HORIZON,
    DEFAULT_MAX_ACTIVE,
    DEFAULT_START_LIMIT,
    STARTING,
    Action,
    ActionKind,
    DesiredJob,
    Plan,
    absorb,
    build_plan,
)
from reconciler.roster import has_roster, load_roster, parts, roster_errors
from reconciler.spec import (
    ENROLLMENT,
    REGISTRATION,
    LoadedSpec,
    load_specs,
    select,
)
from reconciler.state import (
    ACTIVE,
    JobRecord,
    LocalStateStore,
    ObservedJob,
    State,
    StateStore,
    utcnow,
)
from reconciler.voiceid import VoiceId

log = structlog.get_logger("reconciler.engine")

_VOICEID_ID = re.compile(r"^[a-zA-Z0-9]{22}$")
QUOTA_TAKEN = "the domain's active-job quota is taken"
"""Why a start Voice ID refused with ServiceQuotaExceeded waits (a job we do not see holds it)."""


class Unresolved(Exception):
    """A name could not be resolved; ``reason`` says why, for a ``blocked`` action."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class Resolver(Protocol):
    """Turns the domain and watchlist names of specs into Voice ID ids."""

    def domain_id(self, ref: str) -> str: ...

    def watchlist_id(self, domain_id: str, ref: str) -> str: ...

    def prefetch_manifests(self, uris: Sequence[str]) -> None: ...

    def manifest_identity(self, uri: str) -> str: ...


class OfflineResolver:
    """Resolves names from what earlier runs recorded in the state; no network.

    A 22-character id is taken as it is written (Voice ID ids are exactly 22 letters and
    digits); a name is looked up in the state's caches.
    """

    def __init__(self, state: State) -> None:
        self.state = state

    def domain_id(self, ref: str) -> str:
        if _VOICEID_ID.match(ref):
            return ref
        try:
            return self.state.domains[ref]
        except KeyError:
            raise Unresolved(f"domain {ref!r} is not in the state yet") from None

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        if _VOICEID_ID.match(ref):
            return ref
        try:
            return self.state.watchlists[domain_id][ref]
        except KeyError:
            raise Unresolved(f"watchlist {ref!r} is not in the state yet") from None

    def prefetch_manifests(self, uris: Sequence[str]) -> None:
        del uris  # offline: the identities recorded by the last online run are all there is

    def manifest_identity(self, uri: str) -> str:
        try:
            return self.state.manifests[uri]
        except KeyError:
            raise Unresolved("the manifest's ETag is not in the state yet") from None


def desire(specs: Sequence[LoadedSpec], resolver: Resolver) -> list[DesiredJob]:
    """Resolve each spec into the job(s) it stands for, or the reason it is blocked.

    A roster becomes one desired job per part, each with its rendered manifest; an external
    manifest is identified by its ETag (part of the hash: replacing the file is a change).
    """
    resolver.prefetch_manifests(
        [s.document.spec.input.manifest for s in specs if s.document.spec.input.manifest]
    )
    desired: list[DesiredJob] = []
    for spec in specs:
        document = spec.document
        domain_id: str | None = None
        try:
            domain_id = resolver.domain_id(document.spec.domain)
            ref = watchlist_ref(document)
            resolution = Resolution(
                domain_id, resolver.watchlist_id(domain_id, ref) if ref else None
            )
            manifest = document.spec.input.manifest
            identity = resolver.manifest_identity(manifest) if manifest else None
        except Unresolved as err:
            desired.append(DesiredJob(spec, None, blocked=err.reason, domain_id=domain_id))
            continue
        if spec.roster is None:
            request = start_request(document, resolution, manifest_digest=f"etag:{identity}")
            desired.append(DesiredJob(spec, request, domain_id=domain_id))
            continue
        staging = (document.spec.input.staging_uri or "").rstrip("/")
        for part in parts(spec.kind, spec.roster):
            request = start_request(
                document,
                resolution,
                input_uri=f"{staging}/{part.digest}.json",
                manifest_digest=part.digest,
            )
            desired.append(
                DesiredJob(
                    spec,
                    request,
                    domain_id=domain_id,
                    part_name=part.name(spec.name) if part.index is not None else None,
                    manifest=part.body,
                    speakers=part.count,
                )
            )
    return desired


@dataclass(frozen=True)
class Shard:
    """One of ``count`` disjoint parts of the specs, partitioned by domain."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ReconcilerError(
                f"shard {self.index}/{self.count}: expected INDEX/COUNT with 0 <= INDEX < COUNT"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ReconcilerError(f"--shard {text!r}: expected INDEX/COUNT, e.g. 0/4")
        return cls(int(index), int(count))

    def owns(self, domain: str) -> bool:
        """Whether this shard owns ``domain`` (a DomainId, or the name when unresolved)."""
        digest = hashlib.sha256(domain.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def state_location(self, location: str) -> str:
        """Each shard keeps its own state: ``state.json`` becomes ``state.shard-1-of-4.json``."""
        if self.count == 1:
            return location
        stem, dot, suffix = location.rpartition(".")
        tag = f"shard-{self.index}-of-{self.count}"
        return f"{stem}.{tag}.{suffix}" if dot and "/" not in suffix else f"{location}.{tag}"


def in_shard(desired: list[DesiredJob], shard: Shard | None) -> list[DesiredJob]:
    """The desired jobs of one shard: every domain's queue lives in exactly one shard."""
    if shard is None:
        return desired
    return [d for d in desired if shard.owns(d.domain_id or d.spec.document.spec.domain)]


@dataclass(frozen=True)
class PlanResult:
    """A plan and what it was computed from."""

    plan: Plan
    state: State
    offline: bool
    observed_at: str | None
    spec_count: int


def load(paths: Sequence[Path], selectors: Sequence[str] = ()) -> list[LoadedSpec]:
    """Every spec under ``paths`` and its roster (all validated together), then narrowed by
    the selectors."""
    specs = load_specs(paths)
    errors: list[SpecError] = []
    loaded: list[LoadedSpec] = []
    for spec in specs:
        if has_roster(spec):
            try:
                spec = replace(spec, roster=tuple(load_roster(spec)))  # noqa: PLW2901
            except SpecError as err:
                errors.extend(roster_errors(err))
                continue
        loaded.append(spec)
    if errors:
        raise SpecErrors(errors)
    return select(loaded, selectors) if selectors else loaded


def plan_offline(
    specs: Sequence[LoadedSpec],
    state: State,
    *,
    max_active: int = DEFAULT_MAX_ACTIVE,
    shard: Shard | None = None,
) -> PlanResult:
    """The plan from the specs and the state alone, without credentials or network."""
    desired = [
        replace(job, unknown_offline=True) if job.request is None else job
        for job in in_shard(desire(specs, OfflineResolver(state)), shard)
    ]
    absorb(state, desired, ())
    plan = build_plan(desired, state, max_active=max_active)
    return PlanResult(plan, state, True, state.observed_at, len(specs))


# --- online: observe Voice ID, apply -----------------------------------------------------------


class OnlineResolver:
    """Resolves names with ListDomains / ListWatchlists (once per run) and records them.

    A spec whose domain does not exist, is ambiguous or is not ACTIVE is blocked with the
    reason; so is one whose watchlist does not exist.
    """

    def __init__(self, voiceid: VoiceId, state: State, manifests: Manifests) -> None:
        self.voiceid = voiceid
        self.state = state
        self.manifests = manifests
        self._identities: dict[str, str | None] = {}

    def prefetch_manifests(self, uris: Sequence[str]) -> None:
        """Look up every external manifest's ETag at once (HEAD or a listing per directory)."""
        missing = [u for u in uris if u not in self._identities]
        if missing:
            self._identities.update(self.manifests.identities(missing))

    def manifest_identity(self, uri: str) -> str:
        if uri not in self._identities:
            self.prefetch_manifests([uri])
        etag = self._identities.get(uri)
        if etag is None:
            raise Unresolved(f"manifest {uri} not found (or not readable)")
        self.state.manifests[uri] = etag
        return etag

    def domain_id(self, ref: str) -> str:
        domains = self.voiceid.domains()
        matches = [d for d in domains if d.domain_id == ref] or [
            d for d in domains if d.name == ref
        ]
        if not matches:
            raise Unresolved(f"domain {ref!r} not found")
        if len(matches) > 1:
            raise Unresolved(
                f"domain name {ref!r} is ambiguous ({len(matches)} domains); use its DomainId"
            )
        domain = matches[0]
        if domain.name:
            self.state.domains[domain.name] = domain.domain_id
        if domain.default_watchlist_id:
            self.state.watchlists.setdefault(domain.domain_id, {})["default"] = (
                domain.default_watchlist_id
            )
        if domain.status != "ACTIVE":
            raise Unresolved(f"domain {ref!r} is {domain.status or 'not ACTIVE'}")
        return domain.domain_id

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        watchlists = self.voiceid.watchlists(domain_id)
        matches = [w for w in watchlists if w.watchlist_id == ref] or [
            w for w in watchlists if w.name == ref
        ]
        if len(matches) != 1:
            raise Unresolved(
                f"watchlist {ref!r} not found in domain {domain_id}"
                if not matches
                else f"watchlist name {ref!r} is ambiguous; use its WatchlistId"
            )
        self.state.watchlists.setdefault(domain_id, {})[matches[0].name] = matches[0].watchlist_id
        return matches[0].watchlist_id


@dataclass
class Observation:
    """What :func:`observe` learnt besides the state: slots held by others, groups on hold."""

    foreign_active: Counter[tuple[str, str]]
    hold: dict[tuple[str, str], str]


def observe(
    voiceid: VoiceId,
    state: State,
    desired: Sequence[DesiredJob],
    *,
    horizon: float = DEFAULT_LIST_LAG_HORIZON,
    now: Callable[[], float] = time.time,
) -> Observation:
    """Bring the state up to date with Voice ID, spending calls only on what can change.

    Per (domain, kind) that a spec targets:

    * never listed in full by this state (a cold start, or a lost state file), or holding a
      start that was never confirmed: list the whole history once, page by page, and find our
      jobs by the hash in their JobName;
    * otherwise, only when something there may start: one list filtered to IN_PROGRESS (the
      other jobs occupying the domain's slot);
    * then Describe only our jobs that were still in flight and were not in that list.

    List may lag behind Start (``horizon`` seconds at most), and a ClientToken may be forgotten,
    so a job started moments ago can be invisible. Two guards keep that from starting a job
    twice, by putting the (domain, kind) **on hold** (its starts wait):

    * a start recorded as an intent but not found by listing, younger than ``horizon``;
    * a first full listing by a fresh state (a new deployment, or a lost state): the group waits
      until the listing is ``horizon`` old, then lists in full once more before starting.
    """
    groups: dict[tuple[str, str], list[DesiredJob]] = defaultdict(list)
    for job in desired:
        if job.request is not None:
            groups[(job.request.domain_id, job.spec.kind)].append(job)
    for record in state.all_jobs():
        if record.active:
            groups.setdefault((record.domain_id, record.kind), [])
    known = {r.hash[:HASH_IN_NAME] for r in state.all_jobs() if r.job_id}
    unconfirmed = {(r.domain_id, r.kind) for r in state.all_jobs() if r.job_id is None}
    hold: dict[tuple[str, str], str] = {}

    seen: dict[str, ObservedJob] = {}
    for (domain_id, kind), jobs in sorted(groups.items()):
        may_start = any(_may_start(j, known, state) for j in jobs)
        reason = _observe_group(
            voiceid,
            state,
            (domain_id, kind),
            seen,
            may_start=may_start,
            full=(domain_id, kind) in unconfirmed,
            horizon=horizon,
            now=now,
        )
        if reason:
            hold[(domain_id, kind)] = reason
    for record in list(state.all_jobs()):
        if record.active and record.job_id and record.job_id not in seen:
            try:
                seen[record.job_id] = voiceid.describe_job(
                    record.kind, record.domain_id, record.job_id
                )
            except NotFoundError:
                log.warning("observe.job_missing", job_id=record.job_id, spec=record.job_name)
    absorb(state, desired, seen.values())
    for record in state.all_jobs():
        if record.job_id is None and record.intent_at:
            age = now() - _epoch(record.intent_at)
            if age < horizon:
                hold[(record.domain_id, record.kind)] = (
                    f"a start of {record.job_name} {age:.0f}s ago is unconfirmed and not listed "
                    f"yet: waiting up to {horizon:.0f}s before starting it again"
                )
    ours = {r.job_id for r in state.all_jobs() if r.job_id}
    foreign: Counter[tuple[str, str]] = Counter()
    for found in seen.values():
        if found.active and found.job_id not in ours:
            foreign[(found.domain_id, found.kind)] += 1
    state.observed_at = utcnow()
    return Observation(foreign, hold)


def _observe_group(
    voiceid: VoiceId,
    state: State,
    group: tuple[str, str],
    seen: dict[str, ObservedJob],
    *,
    may_start: bool,
    full: bool,
    horizon: float,
    now: Callable[[], float],
) -> str | None:
    """Observe one (domain, kind) into ``seen``; the reason to hold its starts, if any."""
    domain_id, kind = group
    key = f"{domain_id}/{kind}"
    provisional = state.provisional.get(key)
    if provisional is not None and may_start:
        age = now() - _epoch(provisional)
        if age < horizon:
            return (
                f"first listing of this domain was {age:.0f}s ago: waiting {horizon:.0f}s for "
                "Voice ID's List to catch up (--list-lag-horizon)"
            )
    if not (key not in state.listings or full or (provisional is not None and may_start)):
        if may_start:
            for found in voiceid.list_jobs(kind, domain_id, status="IN_PROGRESS"):
                seen[found.job_id] = found
        return None
    listed = 0
    for found in voiceid.list_jobs(kind, domain_id):  # streamed: keep only what matters
        listed += 1
        if found.active or parse_job_name(found.job_name) is not None:
            seen[found.job_id] = found
    log.info("observe.listed", domain_id=domain_id, kind=kind, jobs=listed)
    first = key not in state.listings
    state.listings[key] = utcnow()
    if provisional is not None:
        del state.provisional[key]
    if first and horizon > 0 and may_start:
        state.provisional[key] = state.listings[key]
        return (
            f"first listing of this domain by this state: waiting {horizon:.0f}s for Voice ID's "
            "List to catch up before starting (--list-lag-horizon)"
        )
    return None


def _epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC).timestamp()


def _may_start(job: DesiredJob, known: set[str], state: State) -> bool:
    """Whether a desired job may start in this run: no job of its hash, or a retry is due."""
    if job.hash is not None and job.hash[:HASH_IN_NAME] not in known:
        return True
    entry = state.specs.get(job.spec.key)
    latest = entry.latest() if entry and job.request and entry.hash == job.request.hash else None
    return bool(
        latest
        and latest.status == "FAILED"
        and latest.attempt < job.spec.document.spec.max_attempts
    )


@dataclass
class ApplyOptions:
    """How an apply run behaves (the CLI's flags)."""

    max_active: int = DEFAULT_MAX_ACTIVE
    dry_run: bool = False
    max_starts: int | None = None
    wait: bool = False
    timeout: float | None = None
    poll_interval: float = 15.0
    shard: Shard | None = None
    """Only the specs whose domain falls in this shard (``--shard INDEX/COUNT``)."""
    list_lag_horizon: float = DEFAULT_LIST_LAG_HORIZON
    """How long a new job may be missing from List (see :func:`observe`)."""
    plan_checksum: str | None = None
    """Refuse to act unless the plan computed now has this checksum (the reviewed plan)."""
    start_limit: int | None = DEFAULT_START_LIMIT
    """Refuse a plan with more pending starts than this (None: no limit; ``--force``)."""


@dataclass
class ApplyReport:
    """What an apply run did and saw."""

    plan: Plan
    started: list[Action] = field(default_factory=list)
    deferred: dict[str, str] = field(default_factory=dict)
    blocked: dict[str, str] = field(default_factory=dict)
    """Specs Voice ID refused to start in this run (the final plan shows them blocked too)."""
    failed: list[str] = field(default_factory=list)
    """Specs whose job ended FAILED during this run (no attempts left)."""
    with_errors: list[str] = field(default_factory=list)
    """Specs whose job ended COMPLETED_WITH_ERRORS during this run."""
    timed_out: bool = False
    observed_at: str | None = None

    def queued_specs(self) -> set[str]:
        """Every spec left waiting for a free slot, once: refused by the quota during the run
        (``deferred``) or queued in the final plan."""
        return set(self.deferred) | {
            a.key for a in self.plan.actions if a.kind is ActionKind.QUEUED
        }


class Progress(Protocol):
    """Where ``apply --wait`` reports progress (a terminal line, or log events)."""

    def __call__(self, plan: Plan) -> None: ...


def apply(
    specs: Sequence[LoadedSpec],
    store: StateStore,
    voiceid: VoiceId,
    options: ApplyOptions,
    *,
    manifests: Manifests,
    progress: Progress | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ApplyReport:
    """Converge: observe, plan, start what is missing (state written after every start)."""
    started_at = clock()
    with store.locked():
        state = store.read()
        before = {r.job_id: r.status for r in state.all_jobs() if r.job_id}
        resolver = OnlineResolver(voiceid, state, manifests)
        report: ApplyReport | None = None
        first = True
        try:
            while True:
                desired = in_shard(desire(specs, resolver), options.shard)
                if report is not None and report.blocked:  # refused earlier in this run
                    desired = [_blocked_in_run(job, report.blocked) for job in desired]
                watched = {r.job_id for r in state.all_jobs() if r.job_id and r.active}
                seen = observe(voiceid, state, desired, horizon=options.list_lag_horizon)
                collect_results(desired, state, manifests, watched)
                plan = build_plan(
                    desired,
                    state,
                    foreign_active=seen.foreign_active,
                    hold=seen.hold,
                    max_active=options.max_active,
                )
                report = report or ApplyReport(plan)
                report.plan = plan
                store.write(state)
                if first:  # the reviewed plan is the one computed before anything starts
                    _check_plan(plan, options)
                    first = False
                if options.dry_run:
                    break
                budget = (
                    None if options.max_starts is None else options.max_starts - len(report.started)
                )
                starts = plan.starts[: budget if budget is not None else None]
                _start_all(
                    starts,
                    desired,
                    state=state,
                    store=store,
                    voiceid=voiceid,
                    manifests=manifests,
                    report=report,
                )
                report.plan = _plan_after(
                    starts, desired, state=state, seen=seen, report=report, options=options
                )
                if progress:
                    progress(report.plan)
                if not options.wait or _settled(report.plan, budget_left=budget != 0):
                    break
                if options.timeout is not None and clock() - started_at >= options.timeout:
                    report.timed_out = True
                    break
                sleep(options.poll_interval)
        except BaseException:
            if report is not None:
                _save_on_error(store, state)
            raise
        assert report is not None
        store.write(state)
    report.observed_at = state.observed_at
    pending = {
        a.key for a in report.plan.actions if a.kind in STARTING or a.kind is ActionKind.QUEUED
    }
    report.deferred = {k: why for k, why in report.deferred.items() if k in pending}
    ended = {
        a.key: a.status
        for a in report.plan.actions
        if a.kind is ActionKind.IN_SYNC and a.job_id and before.get(a.job_id) != a.status
    }
    report.failed = sorted(k for k, status in ended.items() if status == "FAILED")
    report.with_errors = sorted(
        k for k, status in ended.items() if status == "COMPLETED_WITH_ERRORS"
    )
    return report


def _plan_after(
    starts: Sequence[Action],
    desired: Sequence[DesiredJob],
    *,
    state: State,
    seen: Observation,
    report: ApplyReport,
    options: ApplyOptions,
) -> Plan:
    """The plan after ``starts``, showing what Voice ID just refused: the specs it refused as
    blocked, and the (domain, kind) slots whose quota turned out to be taken as queued."""
    if report.blocked:
        desired = [_blocked_in_run(job, report.blocked) for job in desired]
    hold = dict(seen.hold)
    for action in starts:
        if action.key in report.deferred and action.domain_id:
            hold.setdefault((action.domain_id, action.spec_kind), QUOTA_TAKEN)
    return build_plan(
        desired,
        state,
        foreign_active=seen.foreign_active,
        hold=hold,
        max_active=options.max_active,
    )


def _save_on_error(store: StateStore, state: State) -> None:
    """Save the state while an error stops the run; a failure to save is logged, not raised, so
    that the error under way (the cause) is the one reported."""
    try:
        store.write(state)
    except Exception as err:  # noqa: BLE001 - any failure here would hide the cause
        log.error("apply.state_not_saved", error=type(err).__name__, detail=str(err))


def _blocked_in_run(job: DesiredJob, blocked: dict[str, str]) -> DesiredJob:
    """A job Voice ID refused to start earlier in this run stays blocked for the rest of it."""
    if job.key not in blocked or job.request is None:
        return job
    return replace(job, request=None, blocked=blocked[job.key], manifest=None)


def _start_all(
    starts: Sequence[Action],
    desired: Sequence[DesiredJob],
    *,
    state: State,
    store: StateStore,
    voiceid: VoiceId,
    manifests: Manifests,
    report: ApplyReport,
) -> None:
    """Record every intent (one write), then stage each roster and start each job."""
    intents = [_record_intent(action, state) for action in starts]
    if intents:
        store.write(state)  # every intent on disk before the first Start call
    staged = {d.hash: d for d in desired if d.manifest is not None}
    for action, record in zip(starts, intents, strict=True):
        if action.hash in staged and not _stage(staged[action.hash], manifests, report):
            state.specs[action.key].jobs.remove(record)
            continue
        _start(action, record, state=state, store=store, voiceid=voiceid, report=report)


def _stage(job: DesiredJob, manifests: Manifests, report: ApplyReport) -> bool:
    """Upload a roster's rendered manifest before its job starts; False (blocked) on failure."""
    assert job.request is not None
    assert job.manifest is not None
    try:
        uploaded = manifests.stage(
            job.request.input_s3_uri, job.manifest, kms_key_id=job.request.kms_key_id
        )
    except botocore_errors() as err:
        report.blocked[job.key] = f"cannot stage the manifest: {err}"
        log.warning("apply.staging_failed", spec=job.key, error=type(err).__name__)
        return False
    log.info("apply.manifest_staged", spec=job.key, digest=(job.hash or "")[:12], uploaded=uploaded)
    return True


def botocore_errors() -> tuple[type[Exception], ...]:
    """The exceptions an S3 call can raise (botocore is imported by the S3 modules only)."""
    from botocore.exceptions import BotoCoreError, ClientError

    return (ClientError, BotoCoreError)


def collect_results(
    desired: Sequence[DesiredJob], state: State, manifests: Manifests, watched: set[str]
) -> None:
    """Read the output file of every job of ours that this state saw end: jobs we started, and
    jobs it knew as running (``watched``). Jobs found already ended by listing a domain's
    history (a cold start, a rebuild) are not read: that would be one S3 read per old job."""
    for job in desired:
        if job.request is None:
            continue
        entry = state.specs.get(job.key)
        if entry is None:
            continue
        for record in entry.jobs:
            if (
                record.results is None
                and record.job_id
                and record.status in ("COMPLETED", "COMPLETED_WITH_ERRORS")
                and (record.intent_at is not None or record.job_id in watched)
            ):
                output = manifests.read_output(
                    job.request.output_s3_uri, record.job_id, job.request.input_s3_uri
                )
                if output is None:  # unreadable now (a 5xx burst, a missing key): a later run
                    continue  # tries again
                record.results = result_counts(output)
                log.info("apply.results", spec=job.key, job_id=record.job_id, **record.results)


def _check_plan(plan: Plan, options: ApplyOptions) -> None:
    """Refuse a plan that is not the reviewed one, or that is surprisingly large."""
    if options.plan_checksum and plan.checksum() != options.plan_checksum:
        raise PlanChecksumMismatch(
            f"the plan changed since it was reviewed: its checksum is now {plan.checksum()}, "
            f"not {options.plan_checksum} (a spec or a job appeared); plan again and review"
        )
    pending = sum(1 for a in plan.actions if a.kind in STARTING or a.kind is ActionKind.QUEUED)
    if options.start_limit is not None and pending > options.start_limit and not options.dry_run:
        raise UnsafePlanError(
            f"the plan would start {pending} jobs, over the safety limit of "
            f"{options.start_limit}; check the paths and selectors, then use --start-limit N "
            "or --force"
        )


def _settled(plan: Plan, *, budget_left: bool) -> bool:
    """Nothing left to wait for: no job in flight and nothing that could still start."""
    in_flight = any(a.kind is ActionKind.IN_SYNC and a.status in ACTIVE for a in plan.actions)
    waiting = budget_left and any(
        a.kind in STARTING or a.kind is ActionKind.QUEUED for a in plan.actions
    )
    return not in_flight and not waiting


def _record_intent(action: Action, state: State) -> JobRecord:
    """The job record of a start about to be made (reused when a crash left one behind)."""
    assert action.request is not None
    assert action.hash
    assert action.attempt
    assert action.client_token
    assert action.job_name
    entry = state.specs[action.key]
    for record in entry.jobs:
        if record.hash == action.hash and record.attempt == action.attempt:
            return record
    record = JobRecord(
        hash=action.hash,
        attempt=action.attempt,
        client_token=action.client_token,
        job_name=action.job_name,
        domain_id=action.request.domain_id,
        kind=action.spec_kind,
        intent_at=utcnow(),
    )
    entry.jobs.append(record)
    return record


def _start(
    action: Action,
    record: JobRecord,
    *,
    state: State,
    store: StateStore,
    voiceid: VoiceId,
    report: ApplyReport,
) -> None:
    """Start one job with our token; record its JobId (or drop the intent); write the state.

    The intent is already on disk, so a crash during the call loses nothing: the next run finds
    the job by listing, or starts it again with the same ClientToken.
    """
    assert action.request is not None
    assert action.client_token
    assert action.job_name
    entry = state.specs[action.key]
    params = action.request.api_params(client_token=action.client_token, job_name=action.job_name)
    try:
        job = voiceid.start_job(action.spec_kind, params)
    except QuotaExceededError:
        entry.jobs.remove(record)
        report.deferred[action.key] = QUOTA_TAKEN
        log.info("apply.job_queued", spec=action.key, reason="ServiceQuotaExceeded")
    except ConflictError as err:
        if err.code != "DOMAIN_NOT_ACTIVE":
            store.write(state)
            raise PlanError(
                f"{action.key}: Voice ID refused ClientToken {action.client_token} as a "
                f"conflict ({err}); a job with this token but other parameters exists"
            ) from err
        entry.jobs.remove(record)
        report.blocked[action.key] = "domain is not ACTIVE"
    except (AccessDeniedError, NotFoundError, InvalidRequestError) as err:
        entry.jobs.remove(record)
        report.blocked[action.key] = str(err)
        log.warning(
            "apply.job_blocked", spec=action.key, error=err.code, resource=err.resource_type
        )
    else:
        record.job_id = job.job_id
        record.status = job.status
        record.created_at = job.created_at
        report.started.append(action)
        report.deferred.pop(action.key, None)  # queued earlier in this run, now started
        log.info(
            "apply.job_started",
            spec=action.key,
            hash=(action.hash or "")[:12],
            attempt=action.attempt,
            job_id=job.job_id,
        )
    store.write(state)


def open_store(
    location: str,
    *,
    lock_timeout: float = 60.0,
    lock_ttl: float | None = None,
    profile: str | None = None,
    region: str | None = None,
) -> StateStore:
    """The state store for ``--state``: ``s3://bucket/key`` or a local path."""
    if location.startswith("s3://"):
        from reconciler.manifests import make_s3_client
        from reconciler.s3state import DEFAULT_LOCK_TTL, S3StateStore

        return S3StateStore(
            location,
            make_s3_client(profile=profile, region=region),
            lock_timeout=lock_timeout,
            lock_ttl=lock_ttl or DEFAULT_LOCK_TTL,
        )
    return LocalStateStore(Path(location), lock_timeout=lock_timeout)


def rebuild(
    specs: Sequence[LoadedSpec], voiceid: VoiceId, state: State, manifests: Manifests
) -> State:
    """A new state derived from Voice ID alone: every domain and kind listed in full.

    Jobs are matched to ``specs`` by the hash in their JobName; jobs with our naming that no
    spec claims are kept as orphans. The lineage of ``state`` is kept.
    """
    fresh = State(lineage=state.lineage, serial=state.serial)
    desired = desire(specs, OnlineResolver(voiceid, fresh, manifests))
    seen: list[ObservedJob] = []
    for domain in voiceid.domains():
        for kind in (ENROLLMENT, REGISTRATION):
            seen.extend(
                job
                for job in voiceid.list_jobs(kind, domain.domain_id)
                if parse_job_name(job.job_name)
            )
            fresh.listings[f"{domain.domain_id}/{kind}"] = utcnow()
    absorb(fresh, desired, seen)
    fresh.observed_at = utcnow()
    return fresh


def plan_online(
    specs: Sequence[LoadedSpec],
    state: State,
    voiceid: VoiceId,
    manifests: Manifests,
    *,
    max_active: int = DEFAULT_MAX_ACTIVE,
    shard: Shard | None = None,
    horizon: float = DEFAULT_LIST_LAG_HORIZON,
) -> PlanResult:
    """The plan against what Voice ID shows now (read-only: the state is not written)."""
    desired = in_shard(desire(specs, OnlineResolver(voiceid, state, manifests)), shard)
    seen = observe(voiceid, state, desired, horizon=horizon)
    plan = build_plan(
        desired, state, foreign_active=seen.foreign_active, hold=seen.hold, max_active=max_active
    )
    return PlanResult(plan, state, False, state.observed_at, len(specs))


def refresh(state: State, voiceid: VoiceId) -> None:
    """Describe the jobs the state holds as in flight, and record what they show."""
    seen = []
    for record in list(state.all_jobs()):
        if record.active and record.job_id:
            try:
                seen.append(voiceid.describe_job(record.kind, record.domain_id, record.job_id))
            except NotFoundError:
                log.warning("status.job_missing", job_id=record.job_id, spec=record.job_name)
    absorb(state, (), seen)
    state.observed_at = utcnow()


def failed_requests_of(
    state: State, voiceid: VoiceId, manifests: Manifests
) -> list[tuple[str, list[FailedRequest]]]:
    """For every spec whose latest job ended with failed requests, those requests (one
    Describe per such job for its input and output locations, then its output file)."""
    out = []
    for key, entry in sorted(state.specs.items()):
        record = entry.latest()
        if not (
            record and record.job_id and any(k.startswith("error:") for k in record.results or {})
        ):
            continue
        job = voiceid.describe_job(record.kind, record.domain_id, record.job_id)
        if not (job.input_s3_uri and job.output_s3_uri):
            continue
        output = manifests.read_output(job.output_s3_uri, record.job_id, job.input_s3_uri)
        if output is not None:
            out.append((key, failed_requests(output)))
    return out
