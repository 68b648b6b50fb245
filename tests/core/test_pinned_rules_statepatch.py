"""Rules of a state's changes as a value, applied in one place (reconciler.core.statepatch)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from reconciler.core.errors import ReconcilerError
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import Approval, JobRecord, SpecEntry, State
from reconciler.core.statepatch import (
    Draft,
    StatePatch,
    copied_entry,
    copied_record,
    forget,
    move,
    records_patch,
)

D = "D" * 22
H, H2 = "a" * 64, "b" * 64
E = "SpeakerEnrollmentJob"
R = "FraudsterRegistrationJob"
AT = "2026-12-01T09:42:10Z"


def _record(name: str = "n", attempt: int = 1, hash_: str = H, **kw: Any) -> JobRecord:
    values: dict[str, Any] = {
        "attempt": attempt,
        "domain_id": D,
        "hash": hash_,
        "job_name": f"{name}-{hash_[:32]}-{attempt}",
        "kind": JobKind.ENROLLMENT,
    }
    values.update(kw)
    return JobRecord(**values)


def _entry(name: str = "n", **kw: Any) -> SpecEntry:
    values: dict[str, Any] = {"domain_id": D, "hash": H, "kind": JobKind.ENROLLMENT, "name": name}
    values.update(kw)
    return SpecEntry(**values)


def _approval(hash_: str = H) -> Approval:
    return Approval(hash=hash_, max_attempts=1, review="c", at=AT)


def _state() -> State:
    state = State(lineage="L")
    state.specs = {
        f"{E}/a": _entry("a", jobs=[_record("a")], history=[_record("a", hash_=H2)]),
        f"{E}/b": _entry("b", jobs=[_record("b")]),
    }
    state.orphans = [_record("a", 2), _record("other")]
    state.removed = [_record("gone")]
    state.approvals = {f"{E}/a": _approval()}
    state.listings = {f"{D}/{E}": AT}
    state.provisional = {f"{D}/{E}": AT}
    return state


# --- the patch ------------------------------------------------------------------------------


def test_an_empty_patch_changes_nothing() -> None:
    """Applied, an empty patch gives a new state that says the same."""
    state = _state()
    new = StatePatch().applied_to(state)
    assert new is not state
    assert new.to_json() == state.to_json()
    assert (new.untrusted, new.renamed) == (None, {})


def test_a_patch_is_frozen_to_its_maps() -> None:
    """Neither a patch nor the maps it holds can be changed."""
    patch = StatePatch(specs={"k": None}, approvals={"k": None}, renamed={"a": "b"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        patch.distrust = "x"  # type: ignore[misc]
    for mapping in (patch.specs, patch.approvals, patch.renamed):
        with pytest.raises(TypeError):
            mapping["z"] = None  # type: ignore[index]


def test_applied_puts_and_removes_and_leaves_the_input_alone() -> None:
    """Entries and approvals put or removed (None), pools replaced; the input unchanged and
    what the patch did not touch shared."""
    state = _state()
    before = state.to_json()
    c = _entry("c")
    patch = StatePatch(
        specs={f"{E}/b": None, f"{E}/c": c, f"{E}/none": None},
        orphans=(),
        removed=(_record("x"),),
        approvals={f"{E}/a": None, f"{E}/c": _approval(H2), f"{E}/none": None},
    )
    new = patch.applied_to(state)
    assert state.to_json() == before
    assert list(new.specs) == [f"{E}/a", f"{E}/c"]
    assert new.specs[f"{E}/a"] is state.specs[f"{E}/a"]
    assert new.specs[f"{E}/c"] is c
    assert new.orphans == []
    assert [r.job_name for r in new.removed] == [_record("x").job_name]
    assert new.approvals == {f"{E}/c": _approval(H2)}
    assert new.listings == state.listings


def test_renames_add_up_and_distrust_forgets_the_listings() -> None:
    """Renames merge with the state's; distrust says why and forgets the listings and the
    provisional ones, of the new state only."""
    state = StatePatch(renamed={"K/b": "K/a"}).applied_to(_state())
    state = StatePatch(renamed={"K/c": "K/x"}, distrust="gone backwards").applied_to(state)
    assert state.renamed == {"K/b": "K/a", "K/c": "K/x"}
    assert state.untrusted == "gone backwards"
    assert (state.listings, state.provisional) == ({}, {})
    original = _state()
    StatePatch(distrust="x").applied_to(original)
    assert original.listings
    assert original.provisional
    assert StatePatch(specs={"k": None}).applied_to(state).untrusted == "gone backwards"


# --- the draft ------------------------------------------------------------------------------


def test_a_draft_copies_once_what_it_changes() -> None:
    """An entry to change is a copy, made once; the state's maps and entries stay as they
    were; the patch lists the keys changed in order."""
    state = _state()
    draft = Draft(state)
    entry = draft.entry(f"{E}/a")
    assert entry is not state.specs[f"{E}/a"]
    assert draft.entry(f"{E}/a") is entry
    entry.jobs.append(_record("a", 3))
    assert len(state.specs[f"{E}/a"].jobs) == 1
    assert draft.specs is not state.specs
    with pytest.raises(KeyError):
        draft.entry(f"{E}/none")
    dropped = draft.drop(f"{E}/b")
    assert dropped is state.specs[f"{E}/b"]
    assert f"{E}/b" in state.specs
    patch = draft.patch()
    assert list(patch.specs) == [f"{E}/a", f"{E}/b"]
    assert patch.specs[f"{E}/b"] is None
    assert (patch.orphans, patch.removed) == (None, None)


def test_a_draft_that_changes_nothing_shares_the_state() -> None:
    """Reading through a draft copies nothing."""
    state = _state()
    draft = Draft(state)
    assert draft.specs is state.specs
    assert draft.records("orphans") is state.orphans
    assert draft.patch() == StatePatch()


def test_a_draft_moves_and_renames() -> None:
    """A move puts a copy under the new key with the new name; a rename is also remembered."""
    state = _state()
    draft = Draft(state)
    draft.rename(f"{E}/a", f"{E}/z", "z")
    draft.move(f"{E}/b", f"{E}/y", "y")
    patch = draft.patch()
    assert patch.specs[f"{E}/a"] is None
    z, y = patch.specs[f"{E}/z"], patch.specs[f"{E}/y"]
    assert z is not None
    assert y is not None
    assert (z.name, y.name) == ("z", "y")
    assert dict(patch.renamed) == {f"{E}/z": f"{E}/a"}
    assert state.specs[f"{E}/a"].name == "a"


def test_a_drafts_pools_and_approvals() -> None:
    """A pool to change is a copy of the state's, made once; records() reads it as changed;
    approvals recorded or withdrawn go into the patch."""
    state = _state()
    draft = Draft(state)
    pool = draft.pool("removed")
    assert pool is not state.removed
    assert draft.pool("removed") is pool
    pool.append(_record("x"))
    assert draft.records("removed") is pool
    assert len(state.removed) == 1
    draft.approve(f"{E}/a", None)
    draft.approve(f"{E}/b", _approval())
    patch = draft.patch()
    assert patch.removed == tuple(pool)
    assert patch.orphans is None
    assert dict(patch.approvals) == {f"{E}/a": None, f"{E}/b": _approval()}


def test_copies_hold_every_field() -> None:
    """A copied record and a copied entry say what the original says; the entry's lists are
    its own."""
    record = _record(
        client_token="t",
        created_at=AT,
        ended_at=AT,
        failure=Failure(status_code=400, message="m"),
        intent_at=AT,
        job_id="j",
        percent_complete=50,
        results={"a": 1},
        status=JobStatus.FAILED,
    )
    copy = copied_record(record)
    assert copy is not record
    assert copy.to_data() == record.to_data()
    entry = _entry(jobs=[record], history=[_record(hash_=H2)], request='{"a":1}')
    twin = copied_entry(entry)
    assert twin is not entry
    assert (twin.domain_id, twin.hash, twin.kind, twin.name, twin.request) == (
        entry.domain_id,
        entry.hash,
        entry.kind,
        entry.name,
        entry.request,
    )
    assert twin.jobs == entry.jobs
    assert twin.history == entry.history
    assert twin.jobs is not entry.jobs
    assert twin.history is not entry.history


# --- state rm, state mv ---------------------------------------------------------------------


def test_forget_makes_tombstones_of_a_specs_records_and_orphans() -> None:
    """The entries a name means and that spec name's orphans become tombstones; its approval
    is withdrawn; the keys forgotten are named."""
    state = _state()
    patch, forgotten = forget(state, "a")
    assert forgotten == [f"{E}/a", f"orphan/{_record('a', 2).job_name}"]
    new = patch.applied_to(state)
    assert f"{E}/a" not in new.specs
    assert [r.job_name for r in new.orphans] == [_record("other").job_name]
    assert [r.job_name for r in new.removed] == [
        _record("gone").job_name,
        _record("a").job_name,
        _record("a", hash_=H2).job_name,
        _record("a", 2).job_name,
    ]
    assert new.approvals == {}
    _, by_key = forget(state, f"{E}/b")
    assert by_key == [f"{E}/b"]


def test_forget_takes_orphans_by_their_job_names_only() -> None:
    """An orphan is the spec's when its JobName is ``<name>-<32 hex>[-attempt]``."""
    state = State()
    names = [
        "a-" + "c" * 32,
        "a-" + "c" * 32 + "-12",
        "a-" + "c" * 32 + "-0",
        "a-b-" + "c" * 32,
        "a-" + "c" * 31,
        "a-" + "C" * 32,
        "a-" + "c" * 32 + "-1000",
    ]
    state.orphans = [_record(job_name=n) for n in names]
    _, forgotten = forget(state, f"{E}/a")
    assert forgotten == [f"orphan/{n}" for n in names[:2]]


def test_forget_of_nothing_is_an_error() -> None:
    """A name the state does not hold is refused, naming it."""
    with pytest.raises(ReconcilerError) as caught:
        forget(_state(), "none")
    assert str(caught.value) == "state rm: no spec 'none' in the state (see 'state show')"


def test_move_renames_one_entry() -> None:
    """An entry named by name or KIND/NAME becomes the new name's, of the same kind."""
    state = _state()
    patch, keys = move(state, "a", "z")
    assert keys == (f"{E}/a", f"{E}/z")
    new = patch.applied_to(state)
    assert new.specs[f"{E}/z"].name == "z"
    assert new.specs[f"{E}/z"].jobs == state.specs[f"{E}/a"].jobs
    assert f"{E}/a" not in new.specs
    assert move(state, f"{E}/a", f"{E}/y")[1] == (f"{E}/a", f"{E}/y")
    assert patch.renamed == {}


def test_move_of_a_chunked_spec_moves_the_spec_not_its_parts() -> None:
    """A name with parts means the spec's own entry; parts alone are one entry each."""
    state = State(specs={f"{E}/big": _entry("big"), f"{E}/big-part-001": _entry("big-part-001")})
    assert move(state, "big", "huge")[1] == (f"{E}/big", f"{E}/huge")
    parts = State(specs={f"{E}/big-part-001": _entry("big-part-001")})
    assert move(parts, "big", "huge")[1] == (f"{E}/big-part-001", f"{E}/huge")


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        (
            "none",
            "z",
            "state mv: 'none' must name exactly one spec entry (found: none); name it as KIND/NAME",
        ),
        (
            "a",
            "z",
            f"state mv: 'a' must name exactly one spec entry (found: {R}/a, {E}/a); name it as KIND/NAME",
        ),
        (f"{E}/a", f"{R}/z", f"state mv: {E}/a is a {E}; it cannot become {R}/z"),
        (f"{E}/a", "b", f"state mv: {E}/b is already in the state"),
    ],
)
def test_move_refuses_ambiguity_other_kinds_and_clashes(old: str, new: str, message: str) -> None:
    """None or several entries, another kind, or a name taken: refused, saying which."""
    state = _state()
    state.specs[f"{R}/a"] = _entry("a", kind=JobKind.REGISTRATION)
    with pytest.raises(ReconcilerError) as caught:
        move(state, old, new)
    assert str(caught.value) == message


# --- records_patch --------------------------------------------------------------------------


def test_records_are_replaced_or_removed_wherever_they_are() -> None:
    """Each old record (the very object) is replaced by its new one, or removed, in a spec's
    jobs or history, the orphans or the tombstones; the rest is left."""
    state = _state()
    a = state.specs[f"{E}/a"]
    job, old, orphan, gone = a.jobs[0], a.history[0], state.orphans[0], state.removed[0]
    started = _record("a", job_id="j")
    new = records_patch(
        state, [(job, started), (old, None), (orphan, None), (gone, _record("back"))]
    ).applied_to(state)
    assert new.specs[f"{E}/a"].jobs == [started]
    assert new.specs[f"{E}/a"].history == []
    assert new.specs[f"{E}/b"] is state.specs[f"{E}/b"]
    assert [r.job_name for r in new.orphans] == [_record("other").job_name]
    assert [r.job_name for r in new.removed] == [_record("back").job_name]
    assert state.specs[f"{E}/a"].jobs == [job]


def test_a_record_equal_but_not_the_same_object_is_left() -> None:
    """Records are found by identity: an equal copy is not the one to replace."""
    state = _state()
    twin = copied_record(state.specs[f"{E}/a"].jobs[0])
    assert records_patch(state, [(twin, None)]).applied_to(state).to_json() == state.to_json()


def test_records_of_known_entries_only() -> None:
    """Given the keys, only those entries are searched (never the pools)."""
    state = _state()
    b_job, orphan = state.specs[f"{E}/b"].jobs[0], state.orphans[0]
    patch = records_patch(state, [(b_job, None), (orphan, None)], keys=[f"{E}/a"])
    assert patch == StatePatch()
    patch = records_patch(state, [(b_job, None), (orphan, None)], keys=[f"{E}/b"])
    new = patch.applied_to(state)
    assert new.specs[f"{E}/b"].jobs == []
    assert new.orphans == state.orphans
    assert records_patch(state, []) == StatePatch()


def test_one_record_of_an_entry_is_replaced_the_rest_kept() -> None:
    """An entry with one record to replace among others has that one replaced; an entry with
    none to replace is not in the patch."""
    state = _state()
    entry = state.specs[f"{E}/a"]
    job = entry.jobs[0]
    started = _record("a", job_id="j")
    patch = records_patch(state, [(job, started)], keys=[f"{E}/a", f"{E}/b"])
    assert list(patch.specs) == [f"{E}/a"]
    new = patch.applied_to(state)
    assert new.specs[f"{E}/a"].jobs == [started]
    assert new.specs[f"{E}/a"].history == entry.history
