"""Folding what Voice ID showed into the state: jobs found by the hash in their JobName.

:func:`absorb` is the one function that merges observations into the state: a lost state file
or a forgotten ClientToken loses nothing, because our jobs are recognised by the hash their
JobName carries. It returns the changes as a :class:`~reconciler.core.statepatch.StatePatch`
and leaves the state it is given as it was.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence

from reconciler.core.desired import DesiredJob
from reconciler.core.identity import HASH_IN_NAME, client_token, parse_job_name
from reconciler.core.jobs import ObservedJob
from reconciler.core.state import JobRecord, SpecEntry, State
from reconciler.core.statepatch import Draft, Pool, StatePatch, copied_record

Place = tuple[str | None, str]
"""Where a record is: ``(spec key, "jobs" | "history")``, or ``(None, "orphans" | "removed")``."""


def absorb(
    state: State, desired: Sequence[DesiredJob], observed: Iterable[ObservedJob]
) -> StatePatch:
    """The changes that fold observed jobs into the state and align its entries with the
    desired specs.

    Jobs are ours when their JobName carries our naming; they are matched to a spec by the
    hash in the name, so a lost state file or a forgotten ClientToken loses nothing. Jobs of
    other hashes of a spec's name are its history (superseded); anything else with our naming
    is an orphan. Records of jobs Voice ID did not show are kept as they are.
    """
    draft = Draft(state)
    places = _Places(state)
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
        if known is not None:
            updated = _updated(known, seen)
            if updated is not known:
                _swap(draft, places, known, updated)
                records[seen.job_id] = updated
            continue
        parts = parse_job_name(seen.job_name)
        if parts is None:
            continue
        full = full_hashes.get(parts.hash_prefix, parts.hash_prefix)
        intent = intents.pop((full, parts.attempt), None)
        if intent is not None:  # the intent written before the Start call: the same job
            found = copied_record(intent)
            found.job_id = seen.job_id
            found.job_name = seen.job_name or ""
            updated = _updated(found, seen, fresh=True)
            _swap(draft, places, intent, updated)
        else:
            found = JobRecord(
                hash=full,
                attempt=parts.attempt,
                client_token=client_token(full, parts.attempt) if len(full) == 64 else None,
                job_name=seen.job_name or "",
                domain_id=seen.domain_id,
                kind=seen.kind,
                job_id=seen.job_id,
            )
            updated = _updated(found, seen, fresh=True)
            places.found(updated, _place(draft, updated, parts.name, by_hash))
        records[seen.job_id] = updated
    _follow_renames(draft, desired)
    strays = _strays(draft)
    for job in desired:
        if job.hash is not None:
            _align(draft, job, strays)
    return draft.patch()


class _Places:
    """Where each record is, so that a changed one is put where it was: worked out for the
    whole state at the first change only (a steady run changes nothing, and pays nothing)."""

    def __init__(self, state: State) -> None:
        self.state = state
        self._places: dict[int, Place] | None = None
        self._found: dict[int, Place] = {}

    def __getitem__(self, record: JobRecord) -> Place:
        found = self._found.get(id(record))
        if found is not None:
            return found
        if self._places is None:
            # The entry a record's JobName names holds it nearly always: looking there first
            # spares a run with a few jobs in flight a map of every record (at 10,000 specs,
            # 6 ms of the 40 its absorb took).
            named = self._named(record)
            if named is not None:
                return named
            self._places = {id(r): place for place, pool in self._pools() for r in pool}
        return self._places[id(record)]

    def found(self, record: JobRecord, place: Place) -> None:
        """``record``, new in this absorb (the state does not hold it), is at ``place``."""
        self._found[id(record)] = place

    def _named(self, record: JobRecord) -> Place | None:
        parts = parse_job_name(record.job_name)
        key = f"{record.kind}/{parts.name}" if parts is not None else ""
        entry = self.state.specs.get(key)
        if entry is not None:
            if any(r is record for r in entry.jobs):
                return (key, "jobs")
            if any(r is record for r in entry.history):
                return (key, "history")
        return None

    def _pools(self) -> Iterator[tuple[Place, list[JobRecord]]]:
        for key, entry in self.state.specs.items():
            yield (key, "jobs"), entry.jobs
            yield (key, "history"), entry.history
        yield (None, "orphans"), self.state.orphans
        yield (None, "removed"), self.state.removed


def _records_at(draft: Draft, place: Place) -> list[JobRecord]:
    """The list at ``place``, to change."""
    key, field = place
    if key is None:
        pool: Pool = "orphans" if field == "orphans" else "removed"
        return draft.pool(pool)
    entry = draft.entry(key)
    return entry.jobs if field == "jobs" else entry.history


def _swap(draft: Draft, places: _Places, old: JobRecord, new: JobRecord) -> None:
    """Put ``new`` where the record ``old`` (that very object) is."""
    place = places[old]
    records = _records_at(draft, place)
    records[next(i for i, r in enumerate(records) if r is old)] = new
    places.found(new, place)


Strays = dict[str, list[tuple[Pool, JobRecord]]]
"""The orphans and tombstones by the hash prefix of their JobName, each with its pool."""


def _strays(draft: Draft) -> Strays:
    strays: Strays = {}
    pools: tuple[Pool, ...] = ("orphans", "removed")
    for pool in pools:
        for record in draft.records(pool):
            strays.setdefault(record.hash[:HASH_IN_NAME], []).append((pool, record))
    return strays


def _follow_renames(draft: Draft, desired: Sequence[DesiredJob]) -> None:
    """A spec whose ``metadata.name`` changed and nothing else keeps its hash: its entry moves
    to the new name (jobs, history and all), instead of showing the same job twice, in sync
    under the new name and orphaned under the old one."""
    wanted = {job.key for job in desired}
    unclaimed = {
        (entry.kind, entry.hash): key for key, entry in draft.specs.items() if key not in wanted
    }
    for job in desired:
        if job.hash is None or job.key in draft.specs:
            continue
        old = unclaimed.pop((job.kind, job.hash), None)
        if old is not None:
            draft.rename(old, job.key, job.name)


def _place(draft: Draft, record: JobRecord, name: str, by_hash: Mapping[str, DesiredJob]) -> Place:
    """Put a newly discovered job where it belongs: a spec's jobs or history, or the orphans."""
    desired = by_hash.get(record.hash[:HASH_IN_NAME])
    key = desired.key if desired else f"{record.kind}/{name}"
    if key in draft.specs:
        entry = draft.entry(key)
    elif desired is not None:
        entry = draft.put(
            key,
            SpecEntry(
                kind=record.kind, name=desired.name, hash=record.hash, domain_id=record.domain_id
            ),
        )
    else:
        draft.pool("orphans").append(record)
        return (None, "orphans")
    if entry.hash == record.hash:
        _insert(entry.jobs, record, undescribed=record)
        return (key, "jobs")
    _insert(entry.history, record, undescribed=record)
    return (key, "history")


def _insert(
    records: list[JobRecord], record: JobRecord, *, undescribed: JobRecord | None = None
) -> None:
    # A job found by listing takes its place by the times it had before its description was
    # read (none: first among equals), as it always has: the order of a spec's attempts on
    # disk is part of what a run writes, and a change to it would be a diff of every state.
    records.append(record)
    records.sort(
        key=lambda r: (
            ("", r.attempt) if r is undescribed else (r.created_at or r.intent_at or "", r.attempt)
        )
    )


def _updated(record: JobRecord, seen: ObservedJob, *, fresh: bool = False) -> JobRecord:
    """``record`` as ``seen`` describes it: the same object when that changes nothing, else a
    copy (``fresh``: a record no state holds yet, changed in place)."""
    created_at = seen.created_at or record.created_at
    ended_at = seen.ended_at or record.ended_at
    failure = seen.failure or record.failure
    if not fresh:
        if (
            record.status == seen.status
            and record.percent_complete == seen.percent_complete
            and record.created_at == created_at
            and record.ended_at == ended_at
            and record.failure == failure
        ):
            return record  # a steady run changes nothing: no copy, no entry copied
        record = copied_record(record)
    record.status = seen.status
    record.percent_complete = seen.percent_complete
    record.created_at = created_at
    record.ended_at = ended_at
    record.failure = failure
    return record


def _align(draft: Draft, job: DesiredJob, strays: Strays) -> None:
    """Make the spec's entry describe the desired hash, moving other jobs to its history."""
    assert job.request is not None
    key = job.key
    current = draft.specs.get(key)
    if current is None:
        current = draft.put(
            key,
            SpecEntry(
                kind=job.spec.kind,
                name=job.name,
                hash=job.request.hash,
                domain_id=job.request.domain_id,
            ),
        )
    switched = current.hash != job.request.hash
    # Orphans and tombstones that turn out to be this spec's (a spec restored, a name reused,
    # a spec re-added after 'state rm') come home: its job is in sync, never started again.
    homing = strays.pop(job.request.hash[:HASH_IN_NAME], ())
    if not (switched or homing or (current.jobs and current.request is None)):
        return  # as it was: not copied
    entry = draft.entry(key)
    if switched:
        pool = entry.history + entry.jobs  # oldest first: the history stays in its order
        entry.hash = job.request.hash
        entry.domain_id = job.request.domain_id
        entry.jobs = [r for r in pool if r.hash == entry.hash]
        entry.history = [r for r in pool if r.hash != entry.hash]
    for pool_name, record in homing:
        draft.pool(pool_name).remove(record)
        home = copied_record(record)
        home.hash = entry.hash
        _insert(entry.jobs, home)
    if entry.jobs and (entry.request is None or switched):  # its jobs' request is this one
        entry.request = job.request.canonical
