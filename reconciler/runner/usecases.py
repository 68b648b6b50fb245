"""The use-cases besides apply: plan (offline and online), refresh, rebuild, failed requests.

Each one that writes the state (``refresh``, ``rebuild``) takes the store's lock itself;
``plan`` only reads it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import structlog

from reconciler.adapters.clock import HostClock
from reconciler.core import desired as desired_jobs
from reconciler.core import jobkinds, statepatch
from reconciler.core.absorb import absorb
from reconciler.core.desired import OfflineResolver, desire, in_shard
from reconciler.core.errors import StateError
from reconciler.core.hold import DEFAULT_LIST_LAG_HORIZON, ListLag, slot_key
from reconciler.core.identity import parse_job_name
from reconciler.core.jobs import FailedRequest, ObservedJob, failed_requests, result_counts
from reconciler.core.kinds import WITH_OUTPUT, JobKind
from reconciler.core.plan import Plan
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import JobRecord, State
from reconciler.core.statepatch import copied_record, records_patch
from reconciler.core.times import iso
from reconciler.runner.context import Run, RunOptions, plan_for
from reconciler.runner.notify import Notifier
from reconciler.runner.observe import describe_active, observe
from reconciler.runner.ports import (
    Clock,
    ObjectStore,
    ServiceClock,
    StateStore,
    VoiceIdApi,
)
from reconciler.runner.resolve import OnlineResolver

log = structlog.get_logger("reconciler.runner")


@dataclass(frozen=True)
class PlanResult:
    """A plan and what it was computed from."""

    plan: Plan
    state: State
    offline: bool
    observed_at: str | None


def plan_offline(
    specs: Sequence[LoadedSpec], state: State, options: RunOptions | None = None
) -> PlanResult:
    """The plan from the specs and the state alone, without credentials or network."""
    options = options or RunOptions()
    desired = desired_jobs.offline(in_shard(desire(specs, OfflineResolver(state)), options.shard))
    state = absorb(state, desired, ()).applied_to(state)
    plan = plan_for(options, desired, state)
    return PlanResult(plan, state, True, state.observed_at)


def plan_online(specs: Sequence[LoadedSpec], run: Run) -> PlanResult:
    """The plan against what Voice ID shows now (read-only: the state is read, not written)."""
    state = run.state = run.store.read()
    options = run.options
    desired = in_shard(
        desire(specs, OnlineResolver(run.voiceid, state, run.objects)), options.shard
    )
    state, seen = observe(
        run.voiceid,
        state,
        desired,
        horizon=options.list_lag_horizon,
        token_lifetime=options.token_lifetime,
        clock=run.clock,
    )
    run.state = state
    plan = plan_for(options, desired, state, foreign_active=seen.foreign_active, hold=seen.hold)
    return PlanResult(plan, state, False, state.observed_at)


def refresh(
    store: StateStore,
    voiceid: VoiceIdApi,
    objects: ObjectStore,
    *,
    clock: Clock | None = None,
    notifier: Notifier | None = None,
) -> State:
    """Describe the jobs the state holds as in flight, record what they show, read the results
    of those found ended (Describe names their input and output), deliver the events
    (``notifier``), save (locked)."""
    with store.locked():
        state = store.read()
        if notifier:
            notifier.begin(state)
        seen: dict[str, ObservedJob] = {}
        now = ServiceClock(voiceid, clock or HostClock()).time()
        lag = ListLag(now, DEFAULT_LIST_LAG_HORIZON)
        state = describe_active(voiceid, state, seen, lag, event="status").applied_to(state)
        state = absorb(state, (), seen.values()).applied_to(state)
        results: list[tuple[JobRecord, JobRecord | None]] = []
        for record in state.all_jobs():
            job = seen.get(record.job_id or "")
            if (
                job is not None
                and record.results is None
                and job.status in WITH_OUTPUT
                and job.input_s3_uri
                and job.output_s3_uri
            ):
                output = objects.read_output(job.output_s3_uri, job.job_id, job.input_s3_uri)
                if output is not None:  # unreadable now: a later refresh or apply tries again
                    read = copied_record(record)
                    read.results = result_counts(output)
                    results.append((record, read))
        state = records_patch(state, results).applied_to(state)
        state.observed_at = iso(now)
        if notifier:
            notifier.deliver(state, None, now)
        store.write(state)
    return state


def rebuild(specs: Sequence[LoadedSpec], run: Run) -> State:
    """Replace the state with one derived from Voice ID alone, under the lock: every domain
    (of this shard) and kind listed in full, jobs matched to ``specs`` by the hash in their
    JobName, jobs with our naming that no spec claims kept as orphans. The lineage and the
    unconfirmed intents of the old state are kept (an unreadable old state is replaced), and
    every group is left provisional: List may lag, so the next apply lists it again once the
    horizon has passed before it starts anything there."""
    store, options = run.store, run.options
    with store.locked():
        try:
            previous = store.read()
        except StateError as err:
            log.warning("state.rebuild_replaces_unreadable_state", error=str(err))
            previous = State()
        fresh = State(lineage=previous.lineage, serial=previous.serial)
        for key, entry in previous.specs.items():  # a start that was never confirmed
            intents = [r for r in entry.jobs if r.job_id is None]
            if intents:
                fresh.specs[key] = replace(entry, jobs=intents, history=[])
        resolver = OnlineResolver(run.voiceid, fresh, run.objects)
        desired = in_shard(desire(specs, resolver), options.shard)
        seen: list[ObservedJob] = []
        for domain in run.voiceid.domains():
            if options.shard is not None and not options.shard.owns(domain.domain_id):
                continue
            for kind in map(JobKind, jobkinds.KINDS):  # JobKind: the records' type
                seen.extend(run.voiceid.list_jobs(kind, domain.domain_id, keep=_ours))
                # A fact, not a policy: this listing may have been cut short by List's lag.
                # The apply's --list-lag-horizon decides how long that holds its starts.
                listed = iso(run.clock.time())
                fresh.listings[slot_key((domain.domain_id, kind))] = listed
                fresh.provisional[slot_key((domain.domain_id, kind))] = listed
        fresh = absorb(fresh, desired, seen).applied_to(fresh)
        fresh.observed_at = iso(run.clock.time())
        store.write(fresh)
    return fresh


def failed_requests_of(
    state: State, voiceid: VoiceIdApi, objects: ObjectStore
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
        output = objects.read_output(job.output_s3_uri, record.job_id, job.input_s3_uri)
        if output is not None:
            out.append((key, failed_requests(output)))
    return out


def _ours(name: str | None, status: str) -> bool:
    """A job of our naming (what a rebuild takes from a listing), whatever its status."""
    del status
    return parse_job_name(name) is not None


@dataclass(frozen=True)
class Forgotten:
    """One entry ``state rm`` forgets: its key (``orphan/<JobName>`` for an unclaimed job),
    and, when it was a spec's, how many jobs it recorded and its latest job's status."""

    key: str
    jobs: int | None = None
    status: str | None = None


def forget(store: StateStore, names: Sequence[str], *, dry_run: bool = False) -> list[Forgotten]:
    """``state rm``: forget each name's records, kept as tombstones (under the lock, then
    written). ``dry_run`` reads the state as ``state show`` does — no lock — and writes
    nothing; it says what each entry recorded."""
    if dry_run:
        return _forget(store.read(), names)[1]
    with store.locked():
        state, forgotten = _forget(store.read(), names)
        store.write(state)
    return forgotten


def _forget(state: State, names: Sequence[str]) -> tuple[State, list[Forgotten]]:
    """``state`` without ``names`` (each applied in turn), and each key forgotten with what
    its entry recorded."""
    said = []
    for name in names:
        entries = {key: state.specs[key] for key in state.entry_keys(name)}
        patch, keys = statepatch.forget(state, name)
        state = patch.applied_to(state)
        for key in keys:
            entry = entries.get(key)
            if entry is None:  # orphan/<JobName>
                said.append(Forgotten(key))
                continue
            latest = entry.latest()
            status = "-"
            if latest is not None:
                status = latest.status or ("STARTING" if latest.job_id is None else "UNKNOWN")
            said.append(Forgotten(key, len(entry.jobs) + len(entry.history), status))
    return state, said


def move(
    store: StateStore, source: str, destination: str, *, dry_run: bool = False
) -> tuple[str, str]:
    """``state mv``: the records of ``source`` become ``destination``'s (under the lock, then
    written; ``dry_run``: read without the lock, nothing written)."""
    if dry_run:
        return statepatch.move(store.read(), source, destination)[1]
    with store.locked():
        state = store.read()
        patch, moved = statepatch.move(state, source, destination)
        store.write(patch.applied_to(state))
    return moved
