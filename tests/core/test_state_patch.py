"""The core returns patches and never changes the state it is given (issue 32, item 4).

States are generated the way runs make them — jobs found by listing in every status and
attempt, specs changed, renamed and removed, tombstones, orphans, unconfirmed intents,
approvals — then absorb, approve, forget, move, the runner's record patches and the plan run
on a read-only twin of their inputs (its maps and lists immutable, its entries, records and the
state itself refusing any assignment) and on a plain copy, which must come out unchanged. The
patch applied must give the state that the in-place code of commit 25b5506 gave: that code is
kept below as the reference (:func:`_absorb_in_place` and the rest), byte for byte what the
core did before it returned values.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import re
from collections.abc import Iterable, Iterator, Sequence
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core import adoption
from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import ReconcilerError
from reconciler.core.identity import HASH_IN_NAME, client_token, job_name, parse_job_name
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.plan import UNKNOWN_HASH, Intent
from reconciler.core.planner import build_plan
from reconciler.core.review import approve
from reconciler.core.state import Approval, JobRecord, SpecEntry, State
from reconciler.core.statepatch import (
    StatePatch,
    copied_entry,
    copied_record,
    forget,
    move,
    records_patch,
)
from tests.test_plan import D1, D2, _desired, _spec

_JOB_OF_NAME = re.compile(r"^[0-9a-f]{32}(-[1-9][0-9]{0,2})?$")
TIMES = (None, "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z")
KINDS = ("SpeakerEnrollmentJob", "FraudsterRegistrationJob")


# --- the reference: the core as it changed the state in place (commit 25b5506) --------------


def _absorb_in_place(
    state: State, desired: Sequence[DesiredJob], observed: Iterable[ObservedJob]
) -> None:
    by_hash = {job.hash[:HASH_IN_NAME]: job for job in desired if job.hash is not None}
    records: dict[str, JobRecord] = {}
    intents: dict[tuple[str, int], JobRecord] = {}
    full_hashes = {e.hash[:HASH_IN_NAME]: e.hash for e in state.specs.values()}
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
            if intent is not None:
                intent.job_id = known.job_id
                intent.job_name = known.job_name
                known = intent
            else:
                _place_in_place(state, known, parts.name, by_hash)
            records[seen.job_id] = known
        known.status = seen.status
        known.percent_complete = seen.percent_complete
        known.created_at = seen.created_at or known.created_at
        known.ended_at = seen.ended_at or known.ended_at
        known.failure = seen.failure or known.failure
    wanted = {job.key for job in desired}
    unclaimed = {(e.kind, e.hash): k for k, e in state.specs.items() if k not in wanted}
    for job in desired:
        if job.hash is None or job.key in state.specs:
            continue
        old = unclaimed.pop((job.kind, job.hash), None)
        if old is not None:
            state.specs[job.key] = dataclasses.replace(state.specs.pop(old), name=job.name)
            state.renamed[job.key] = old
    strays: dict[str, list[tuple[list[JobRecord], JobRecord]]] = {}
    for pool in (state.orphans, state.removed):
        for record in pool:
            strays.setdefault(record.hash[:HASH_IN_NAME], []).append((pool, record))
    for job in desired:
        if job.hash is None:
            continue
        assert job.request is not None
        entry = state.specs.get(job.key)
        if entry is None:
            entry = state.specs[job.key] = SpecEntry(
                kind=job.spec.kind,
                name=job.name,
                hash=job.request.hash,
                domain_id=job.request.domain_id,
            )
        switched = entry.hash != job.request.hash
        if switched:
            pool = entry.history + entry.jobs
            entry.hash = job.request.hash
            entry.domain_id = job.request.domain_id
            entry.jobs = [r for r in pool if r.hash == entry.hash]
            entry.history = [r for r in pool if r.hash != entry.hash]
        for stray_pool, record in strays.pop(entry.hash[:HASH_IN_NAME], ()):
            stray_pool.remove(record)
            record.hash = entry.hash
            _insert_in_place(entry.jobs, record)
        if entry.jobs and (entry.request is None or switched):
            entry.request = job.request.canonical


def _place_in_place(state: State, record: JobRecord, name: str, by_hash: Any) -> None:
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
        _insert_in_place(entry.jobs, record)
    else:
        _insert_in_place(entry.history, record)


def _insert_in_place(records: list[JobRecord], record: JobRecord) -> None:
    records.append(record)
    records.sort(key=lambda r: (r.created_at or r.intent_at or "", r.attempt))


def _forget_in_place(state: State, name: str) -> list[str]:
    forgotten = []
    for key in state.entry_keys(name):
        entry = state.specs.pop(key)
        state.removed.extend(entry.jobs + entry.history)
        state.approvals.pop(key, None)
        forgotten.append(key)
    spec_name = name.partition("/")[2] or name
    for record in list(state.orphans):
        if _JOB_OF_NAME.match(record.job_name.removeprefix(f"{spec_name}-")):
            state.orphans.remove(record)
            state.removed.append(record)
            forgotten.append(f"orphan/{record.job_name}")
    if not forgotten:
        raise ReconcilerError(f"state rm: no spec {name!r} in the state (see 'state show')")
    return forgotten


def _move_in_place(state: State, old: str, new: str) -> tuple[str, str]:
    keys = [k for k in state.entry_keys(old) if "-part-" not in k.partition("/")[2]] or (
        state.entry_keys(old)
    )
    if len(keys) != 1:
        raise ReconcilerError("state mv: must name exactly one spec entry")
    (key,) = keys
    kind = key.partition("/")[0]
    new_name = new.partition("/")[2] if "/" in new else new
    if "/" in new and new.partition("/")[0] != kind:
        raise ReconcilerError("state mv: cannot become")
    target = f"{kind}/{new_name}"
    if target in state.specs:
        raise ReconcilerError("state mv: already in the state")
    state.specs[target] = dataclasses.replace(state.specs.pop(key), name=new_name)
    return key, target


def _approve_in_place(state: State, intents: Iterable[Intent], review: str, at: str) -> list[str]:
    keys = []
    for intent in intents:
        if intent.hash == UNKNOWN_HASH:
            continue
        state.approvals[intent.key] = Approval(
            hash=intent.hash, max_attempts=intent.attempts, review=review, at=at
        )
        keys.append(intent.key)
    return keys


# --- read-only inputs ------------------------------------------------------------------------


class Mutated(AssertionError):
    """Something assigned to an input it was given."""


@contextlib.contextmanager
def read_only(state: State) -> Iterator[State]:
    """A twin of ``state`` that cannot be changed while the block runs: its maps are read-only
    views, its lists tuples, and it, its entries and its records refuse any assignment."""
    twin = copy.deepcopy(state)
    guarded: set[int] = {id(twin)}
    for entry in twin.specs.values():
        guarded.add(id(entry))
        guarded.update(id(r) for r in [*entry.jobs, *entry.history])
        object.__setattr__(entry, "jobs", tuple(entry.jobs))
        object.__setattr__(entry, "history", tuple(entry.history))
    guarded.update(id(r) for r in [*twin.orphans, *twin.removed])
    for name, value in list(twin.__dict__.items()):
        if isinstance(value, dict):
            twin.__dict__[name] = MappingProxyType(value)
        elif isinstance(value, list):
            twin.__dict__[name] = tuple(value)
    classes = (JobRecord, SpecEntry, State)
    saved = {cls: cls.__dict__.get("__setattr__") for cls in classes}
    for cls in classes:
        setattr(cls, "__setattr__", _guard(cls.__setattr__, guarded))  # noqa: B010
    try:
        yield twin
    finally:
        for cls, original in saved.items():
            if original is None:
                delattr(cls, "__setattr__")
            else:
                setattr(cls, "__setattr__", original)  # noqa: B010


def _guard(setter: Any, guarded: set[int]) -> Any:
    def guarded_setattr(self: object, name: str, value: object) -> None:
        if id(self) in guarded:
            raise Mutated(f"{type(self).__name__}.{name} assigned")
        setter(self, name, value)

    return guarded_setattr


def test_the_read_only_twin_refuses_every_change() -> None:
    """The harness bites: a change in place to the twin's maps, lists or objects is refused."""
    state = _world_state()
    key = next(iter(state.specs))
    changes = [
        lambda s: s.specs.pop(key),
        lambda s: s.specs[key].jobs.append(s.specs[key].jobs[0]),
        lambda s: setattr(s.specs[key], "hash", "0" * 64),
        lambda s: setattr(s.specs[key].jobs[0], "status", JobStatus.FAILED),
        lambda s: s.orphans.append(s.specs[key].jobs[0]),
        lambda s: s.approvals.clear(),
        lambda s: setattr(s, "observed_at", None),
    ]
    for change in changes:
        with read_only(state) as twin, pytest.raises((Mutated, AttributeError, TypeError)):
            change(twin)
    twin.specs[key].jobs[0].status = JobStatus.FAILED  # guarded only inside the block
    assert JobRecord.__setattr__ is object.__setattr__


# --- generated states ------------------------------------------------------------------------


def _job_id(job: DesiredJob, attempt: int) -> str:
    assert job.hash is not None
    return f"{job.name}-{job.hash[:8]}-{attempt}".ljust(22, "x")


def _seen(job: DesiredJob, draw: st.DrawFn, attempt: int) -> ObservedJob:
    assert job.request is not None
    status = draw(st.sampled_from(tuple(JobStatus)))
    failed = status is JobStatus.FAILED and draw(st.booleans())
    return ObservedJob(
        kind=job.spec.kind,
        domain_id=job.request.domain_id,
        job_id=_job_id(job, attempt),
        job_name=job_name(job.spec.name, job.request.hash, attempt),
        status=status,
        percent_complete=draw(st.sampled_from((None, 0, 40, 100))),
        created_at=draw(st.sampled_from(TIMES)),
        ended_at=draw(st.sampled_from(TIMES)),
        failure=Failure(status_code=500, message="x") if failed else None,
    )


@st.composite
def specs(draw: st.DrawFn) -> DesiredJob:
    """A spec of a few names, kinds, manifests and revisions: two names of one manifest are a
    rename (one hash), a name with another revision a changed spec."""
    return _desired(
        _spec(
            draw(st.sampled_from("abc")),
            kind=draw(st.sampled_from(KINDS)),
            manifest=draw(st.sampled_from(("m0", "m1"))),
            revision=draw(st.integers(0, 1)),
        ),
        draw(st.sampled_from((D1, D2))),
    )


@st.composite
def observations(draw: st.DrawFn, pool: Sequence[DesiredJob]) -> list[ObservedJob]:
    seen = [
        _seen(job, draw, draw(st.integers(1, 3)))
        for job in draw(st.lists(st.sampled_from(pool), max_size=6))
    ]
    if seen and draw(st.booleans()):  # a job of another tool's naming: never taken in
        seen.append(dataclasses.replace(seen[0], job_id="y" * 22, job_name="someone-else"))
    return seen


@st.composite
def worlds(draw: st.DrawFn) -> tuple[State, list[DesiredJob], list[ObservedJob]]:
    """A state made by a few runs of the reference, with intents, tombstones and approvals
    added as runs and people add them; then the desired jobs and observations of one more."""
    pool = draw(st.lists(specs(), min_size=1, max_size=6))
    state = State()
    for _ in range(draw(st.integers(0, 3))):
        desired = _unique(draw(st.lists(st.sampled_from(pool), max_size=4)))
        _absorb_in_place(state, desired, draw(observations(pool)))
        for key, entry in sorted(state.specs.items()):
            if draw(st.integers(0, 3)) == 0:  # a start recorded before its Start call
                attempt = len(entry.jobs) + 1
                entry.jobs.append(
                    JobRecord(
                        hash=entry.hash,
                        attempt=attempt,
                        client_token=client_token(entry.hash, attempt),
                        job_name=job_name(entry.name, entry.hash, attempt),
                        domain_id=entry.domain_id,
                        kind=entry.kind,
                        intent_at=draw(st.sampled_from(TIMES[1:])),
                    )
                )
            if draw(st.integers(0, 3)) == 0:
                _approve_in_place(
                    state, [Intent(key, entry.hash, 2, entry.domain_id)], "r", TIMES[1] or ""
                )
        if state.specs and draw(st.integers(0, 3)) == 0:  # state rm
            _forget_in_place(state, draw(st.sampled_from(sorted(state.specs))))
    desired = _unique(draw(st.lists(st.sampled_from(pool), max_size=5)))
    return state, desired, draw(observations(pool))


def _unique(jobs: list[DesiredJob]) -> list[DesiredJob]:
    """One desired job per spec key and per hash (loading and the plan refuse two)."""
    kept: dict[str, DesiredJob] = {}
    for job in jobs:
        if job.key not in kept and all(job.hash != other.hash for other in kept.values()):
            kept[job.key] = job
    return list(kept.values())


def _world_state() -> State:
    job = _desired(_spec("a"))
    state = State()
    _absorb_in_place(state, [job], [])
    state.specs[job.key].jobs.append(
        JobRecord(
            hash=job.hash or "",
            attempt=1,
            job_name=job_name("a", job.hash or "", 1),
            domain_id=D1,
            kind=job.spec.kind,
            job_id="j" * 22,
        )
    )
    state.approvals[job.key] = Approval(
        hash=job.hash or "", max_attempts=1, review="r", at=TIMES[1] or ""
    )
    return state


# --- the properties --------------------------------------------------------------------------


def _unchanged(state: State, before: State, text: str) -> None:
    assert state == before
    assert state.to_json() == text


@settings(max_examples=200, deadline=None)
@given(worlds())
def test_absorb_changes_none_of_its_inputs_and_its_patch_is_what_absorbing_in_place_gave(
    world: tuple[State, list[DesiredJob], list[ObservedJob]],
) -> None:
    state, desired, observed = world
    before, text, inputs = copy.deepcopy(state), state.to_json(), (list(desired), list(observed))
    with read_only(state) as twin:
        absorb(twin, desired, observed)
    patch = absorb(state, desired, observed)
    _unchanged(state, before, text)
    assert (list(desired), list(observed)) == inputs
    expected = copy.deepcopy(state)
    _absorb_in_place(expected, desired, observed)
    got = patch.applied_to(state)
    assert got == expected
    assert got.to_json() == expected.to_json()
    assert got.renamed == expected.renamed
    _unchanged(state, before, text)  # applying it changed nothing either


@settings(max_examples=100, deadline=None)
@given(worlds(), st.booleans())
def test_the_plan_and_approve_change_none_of_their_inputs(
    world: tuple[State, list[DesiredJob], list[ObservedJob]], require_approval: bool
) -> None:
    state, desired, _ = world
    before, text = copy.deepcopy(state), state.to_json()
    with read_only(state) as twin:
        plan = build_plan(desired, twin, require_approval=require_approval, owner=("*",))
    again = build_plan(desired, state, require_approval=require_approval, owner=("*",))
    assert plan == again
    intents = [*again.intent(), Intent("SpeakerEnrollmentJob/z", UNKNOWN_HASH, 1, D1)]
    patch = approve(intents, "r2", TIMES[3] or "")
    _unchanged(state, before, text)
    expected = copy.deepcopy(state)
    keys = _approve_in_place(expected, intents, "r2", TIMES[3] or "")
    assert list(patch.approvals) == keys
    assert patch.applied_to(state) == expected
    _unchanged(state, before, text)


@settings(max_examples=150, deadline=None)
@given(worlds(), st.data())
def test_forget_and_move_change_none_of_their_inputs_and_give_what_they_gave_in_place(
    world: tuple[State, list[DesiredJob], list[ObservedJob]], data: st.DataObject
) -> None:
    state, _, _ = world
    names = [*state.specs, *(k.partition("/")[2] for k in state.specs), "a", "zz", "b/c"]
    name, new = data.draw(st.sampled_from(names)), data.draw(st.sampled_from([*names, "d"]))
    before, text = copy.deepcopy(state), state.to_json()
    for change, in_place in ((forget, _forget_in_place), (move, _move_in_place)):
        args = (name,) if change is forget else (name, new)
        expected = copy.deepcopy(state)
        try:
            said = in_place(expected, *args)  # type: ignore[operator]
        except ReconcilerError:
            with pytest.raises(ReconcilerError):
                change(state, *args)  # type: ignore[operator]
            continue
        with read_only(state) as twin:
            change(twin, *args)  # type: ignore[operator]
        patch, keys = change(state, *args)  # type: ignore[operator]
        _unchanged(state, before, text)
        assert keys == said
        assert patch.applied_to(state) == expected
        _unchanged(state, before, text)


@settings(max_examples=100, deadline=None)
@given(worlds(), st.data())
def test_a_records_patch_replaces_or_drops_those_very_records_and_nothing_else(
    world: tuple[State, list[DesiredJob], list[ObservedJob]], data: st.DataObject
) -> None:
    state, _, _ = world
    records = list(state.all_jobs())
    chosen = data.draw(st.lists(st.sampled_from(records), unique_by=id)) if records else []
    changes: list[tuple[JobRecord, JobRecord | None]] = []
    for record in chosen:
        new = None
        if data.draw(st.booleans()):
            new = copied_record(record)
            new.results = {"SUCCESS": 1}
        changes.append((record, new))
    before, text = copy.deepcopy(state), state.to_json()
    with read_only(state) as twin:
        twin_records = list(twin.all_jobs())
        by_position = {id(r): i for i, r in enumerate(records)}
        records_patch(twin, [(twin_records[by_position[id(old)]], new) for old, new in changes])
    got = records_patch(state, changes).applied_to(state)
    _unchanged(state, before, text)
    replaced = {id(old): new for old, new in changes}
    expected = []
    for record in records:
        new = replaced.get(id(record), record)
        if new is not None:
            expected.append(new)
    assert list(got.all_jobs()) == expected


def test_a_distrusted_state_forgets_its_listings_and_the_state_read_keeps_them() -> None:
    state = _world_state()
    state.listings["D/SpeakerEnrollmentJob"] = TIMES[1] or ""
    state.provisional["D/SpeakerEnrollmentJob"] = TIMES[1] or ""
    before = copy.deepcopy(state)
    distrusted = StatePatch(distrust="it went backwards").applied_to(state)
    assert (distrusted.untrusted, distrusted.listings, distrusted.provisional) == (
        "it went backwards",
        {},
        {},
    )
    assert state == before
    assert state.untrusted is None


def test_a_patch_is_frozen_and_applying_it_twice_gives_the_same_state() -> None:
    state = _world_state()
    key = next(iter(state.specs))
    patch, _ = forget(state, key)
    with pytest.raises(dataclasses.FrozenInstanceError):
        patch.distrust = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        patch.specs[key] = None  # type: ignore[index]
    assert patch.applied_to(state) == patch.applied_to(state)
    assert patch.applied_to(state) is not state


def test_the_copies_the_core_changes_hold_every_field() -> None:
    """A field added to a record or an entry and left out of its copy fails here."""
    record = JobRecord(
        attempt=2,
        client_token="t",
        created_at=TIMES[1],
        domain_id=D1,
        ended_at=TIMES[2],
        failure=Failure(status_code=500, message="x"),
        hash="a" * 64,
        intent_at=TIMES[3],
        job_id="j" * 22,
        job_name="a-" + "a" * 32 + "-2",
        kind=JobKind.ENROLLMENT,
        percent_complete=40,
        results={"SUCCESS": 1},
        status=JobStatus.COMPLETED,
    )
    assert {f.name for f in dataclasses.fields(JobRecord)} == {
        name for name, value in vars_of(record).items() if value is not None
    }
    assert copied_record(record) == record
    assert copied_record(record) is not record
    entry = SpecEntry(
        domain_id=D1,
        hash="a" * 64,
        history=[record],
        jobs=[record],
        kind=JobKind.ENROLLMENT,
        name="a",
        request='{"a":1}',
    )
    copied = copied_entry(entry)
    assert copied == entry
    assert copied.jobs is not entry.jobs
    assert copied.history is not entry.history


def vars_of(record: JobRecord) -> dict[str, Any]:
    return {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}


@settings(max_examples=100, deadline=None)
@given(worlds(), st.data())
def test_recording_an_imported_job_again_changes_none_of_its_inputs(
    world: tuple[State, list[DesiredJob], list[ObservedJob]], data: st.DataObject
) -> None:
    """A lost imported job found again (observe's _find_imported) is recorded by a patch: the
    state given is never changed, and the patch adds the job to its spec's entry (made when
    the state has none), as attempt 1 of the spec's hash."""
    state, desired, _ = world
    if not desired:
        return
    job = data.draw(st.sampled_from(desired))
    seen = _seen(job, data.draw, 1)
    before, text = copy.deepcopy(state), state.to_json()
    with read_only(state) as twin:
        adoption.record_again(twin, job, seen)
    got = adoption.record_again(state, job, seen).applied_to(state)
    _unchanged(state, before, text)
    entry = got.specs[job.key]
    recorded = entry.jobs[-1]
    assert (recorded.job_id, recorded.attempt, recorded.hash) == (seen.job_id, 1, job.hash)
    earlier = state.specs.get(job.key)
    assert len(entry.jobs) == (len(earlier.jobs) + 1 if earlier else 1)
    assert {k: v for k, v in got.specs.items() if k != job.key} == {
        k: v for k, v in state.specs.items() if k != job.key
    }
