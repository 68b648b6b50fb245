"""Folding what Voice ID showed into the state: jobs found by the hash in their JobName.

:func:`absorb` updates the state **in place** (it is the one function that merges
observations into it): a lost state file or a forgotten ClientToken loses nothing, because
our jobs are recognised by the hash their JobName carries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from reconciler.core.desired import DesiredJob
from reconciler.core.identity import HASH_IN_NAME, client_token, parse_job_name
from reconciler.core.jobs import ObservedJob
from reconciler.core.state import JobRecord, SpecEntry, State


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
        # A job the state records is followed by its JobId, whatever its name: an imported
        # job (``voiceid-reconciler import``) carries no hash in its JobName.
        known = records.get(seen.job_id)
        if known is None:
            parts = parse_job_name(seen.job_name)
            if parts is None:
                continue
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
    _follow_renames(state, desired)
    strays = _strays(state)
    for job in desired:
        if job.hash is not None:
            _align(state, job, strays)


Strays = dict[str, list[tuple[list[JobRecord], JobRecord]]]
"""The orphans and tombstones by the hash prefix of their JobName, each with its pool."""


def _strays(state: State) -> Strays:
    strays: Strays = {}
    for pool in (state.orphans, state.removed):
        for record in pool:
            strays.setdefault(record.hash[:HASH_IN_NAME], []).append((pool, record))
    return strays


def _follow_renames(state: State, desired: Sequence[DesiredJob]) -> None:
    """A spec whose ``metadata.name`` changed and nothing else keeps its hash: its entry moves
    to the new name (jobs, history and all), instead of showing the same job twice, in sync
    under the new name and orphaned under the old one."""
    wanted = {job.key for job in desired}
    unclaimed = {
        (entry.kind, entry.hash): key for key, entry in state.specs.items() if key not in wanted
    }
    for job in desired:
        if job.hash is None or job.key in state.specs:
            continue
        old = unclaimed.pop((job.kind, job.hash), None)
        if old is not None:
            state.follow_rename(old, job.key, job.name)


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


def _align(state: State, job: DesiredJob, strays: Strays) -> None:
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
    switched = entry.hash != job.request.hash
    if switched:
        pool = entry.history + entry.jobs  # oldest first: the history stays in its order
        entry.hash = job.request.hash
        entry.domain_id = job.request.domain_id
        entry.jobs = [r for r in pool if r.hash == entry.hash]
        entry.history = [r for r in pool if r.hash != entry.hash]
    # Orphans and tombstones that turn out to be this spec's (a spec restored, a name reused,
    # a spec re-added after 'state rm') come home: its job is in sync, never started again.
    for pool, record in strays.pop(entry.hash[:HASH_IN_NAME], ()):
        pool.remove(record)
        record.hash = entry.hash
        _insert(entry.jobs, record)
    if entry.jobs and (entry.request is None or switched):  # its jobs' request is this one
        entry.request = job.request.canonical
