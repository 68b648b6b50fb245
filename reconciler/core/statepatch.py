"""What a step of a run changes in the state, as a value: a :class:`StatePatch`, applied in one
place (the runner: ``state = patch.applied_to(state)``) instead of stages changing a shared
state in place.

The core computes patches (:func:`reconciler.core.absorb.absorb`,
:func:`reconciler.core.review.approve`, :func:`forget`, :func:`move`, :func:`records_patch`)
and never changes the state it is given. A patch is copy-on-write: the state it gives is a
new object; the entries and records it changes are new objects; everything else (the other
entries, records and maps) is shared with the state it was applied to — which is therefore
never to be changed in place either.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Iterator, Mapping
from types import MappingProxyType
from typing import Literal

from reconciler.core.errors import ReconcilerError
from reconciler.core.state import Approval, JobRecord, SpecEntry, State

Pool = Literal["orphans", "removed"]
"""The state's lists of records outside any spec entry: unclaimed jobs and tombstones."""

_POOLS: tuple[Pool, ...] = ("orphans", "removed")

_JOB_OF_NAME = re.compile(r"^[0-9a-f]{32}(-[1-9][0-9]{0,2})?$")
"""What follows ``<name>-`` in the JobName of that spec's jobs (:mod:`reconciler.core.identity`)."""


@dataclasses.dataclass(frozen=True, slots=True)
class StatePatch:
    """The changes one step makes to a state (an empty patch changes nothing)."""

    specs: Mapping[str, SpecEntry | None] = dataclasses.field(default_factory=dict)
    """Spec entries by key as they now are; None: the entry is gone."""
    orphans: tuple[JobRecord, ...] | None = None
    """The unclaimed jobs now, when they changed."""
    removed: tuple[JobRecord, ...] | None = None
    """The tombstones now, when they changed."""
    approvals: Mapping[str, Approval | None] = dataclasses.field(default_factory=dict)
    """Approvals by spec key as they now are; None: withdrawn (a spec added back is reviewed
    again)."""
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Pure renames followed, ``{new key: old key}`` (for the plan to say; not on disk)."""
    distrust: str | None = None
    """Why the state may not know every job it started: its listings are forgotten, so every
    (domain, kind) is listed in full again and waits the list-lag horizon before a start."""

    def __post_init__(self) -> None:
        # Frozen all the way down to its maps: a patch held by a test, or applied twice, says
        # the same thing each time.
        for name in ("specs", "approvals", "renamed"):
            value = getattr(self, name)
            if not isinstance(value, MappingProxyType):
                object.__setattr__(self, name, MappingProxyType(dict(value)))

    def applied_to(self, state: State) -> State:
        """A new state: ``state`` with these changes. ``state`` itself, its maps, lists,
        entries and records are left as they were (those not changed are shared)."""
        # A shallow copy: the maps this patch changes are replaced below by new ones, never
        # changed in place, so the state given keeps what it said.
        new = state.model_copy()
        if self.specs:
            specs = dict(state.specs)
            for key, entry in self.specs.items():
                if entry is None:
                    specs.pop(key, None)
                else:
                    specs[key] = entry
            new.specs = specs
        if self.orphans is not None:
            new.orphans = list(self.orphans)
        if self.removed is not None:
            new.removed = list(self.removed)
        if self.approvals:
            approvals = dict(state.approvals)
            for key, approval in self.approvals.items():
                if approval is None:
                    approvals.pop(key, None)
                else:
                    approvals[key] = approval
            new.approvals = approvals
        private = new.__pydantic_private__
        assert private is not None
        if self.renamed:
            private["_renamed"] = {**state.renamed, **self.renamed}
        if self.distrust is not None:
            private["_untrusted"] = self.distrust
            new.listings, new.provisional = {}, {}
        return new


class Draft:
    """A state's changes being worked out, copy-on-write: what a core step reads through it is
    the state as changed so far; :meth:`patch` is the :class:`StatePatch` of those changes.
    The state it drafts on is never changed."""

    def __init__(self, state: State) -> None:
        self.state = state
        self.specs: dict[str, SpecEntry] = state.specs  # copied at the first change
        self._changed: dict[str, None] = {}  # the keys changed, in the order they were
        self._pools: dict[Pool, list[JobRecord]] = {}
        self._approvals: dict[str, Approval | None] = {}
        self._renamed: dict[str, str] = {}

    def entry(self, key: str) -> SpecEntry:
        """The entry ``key``, to change: a copy of the state's, made once (KeyError if none)."""
        entry = self.specs[key]
        if key not in self._changed:
            entry = self.put(key, copied_entry(entry))
        return entry

    def put(self, key: str, entry: SpecEntry) -> SpecEntry:
        """Make ``entry`` (a new one, no other state's) the entry ``key``."""
        if self.specs is self.state.specs:
            self._own_specs()
        self.specs[key] = entry
        self._changed[key] = None
        return entry

    def drop(self, key: str) -> SpecEntry:
        """Remove the entry ``key``; the entry it was (KeyError if none)."""
        self._own_specs()
        entry = self.specs.pop(key)
        self._changed[key] = None
        return entry

    def move(self, old: str, new: str, name: str) -> None:
        """The entry ``old`` becomes the entry ``new`` of the spec named ``name``."""
        entry = copied_entry(self.drop(old))
        entry.name = name
        self.put(new, entry)

    def rename(self, old: str, new: str, name: str) -> None:
        """:meth:`move`, remembered for the plan to say (the spec's name changed, nothing else)."""
        self.move(old, new, name)
        self._renamed[new] = old

    def pool(self, name: Pool) -> list[JobRecord]:
        """The state's ``orphans`` or ``removed``, to change: a copy, made once."""
        pool = self._pools.get(name)
        if pool is None:
            pool = self._pools[name] = list(getattr(self.state, name))
        return pool

    def records(self, name: Pool) -> list[JobRecord]:
        """The state's ``orphans`` or ``removed`` as changed so far (only to read)."""
        pool = self._pools.get(name)
        if pool is None:
            state_pool: list[JobRecord] = getattr(self.state, name)
            return state_pool
        return pool

    def approve(self, key: str, approval: Approval | None) -> None:
        """Record (or withdraw, None) the approval of ``key``."""
        self._approvals[key] = approval

    def patch(self) -> StatePatch:
        orphans, removed = self._pools.get("orphans"), self._pools.get("removed")
        return StatePatch(
            specs={key: self.specs.get(key) for key in self._changed},
            orphans=None if orphans is None else tuple(orphans),
            removed=None if removed is None else tuple(removed),
            approvals=self._approvals,
            renamed=self._renamed,
        )

    def _own_specs(self) -> None:
        if self.specs is self.state.specs:
            self.specs = dict(self.state.specs)


# Copies written out field by field rather than copy.copy or dataclasses.replace: a run may
# change thousands of records, and these take a twentieth of the time (no validation, which
# the values had when they were made; tests/core/test_state_patch.py checks every field is
# copied).
def copied_record(record: JobRecord) -> JobRecord:
    """A copy of ``record``, to change."""
    copy = object.__new__(JobRecord)
    copy.attempt = record.attempt
    copy.client_token = record.client_token
    copy.created_at = record.created_at
    copy.domain_id = record.domain_id
    copy.ended_at = record.ended_at
    copy.failure = record.failure
    copy.hash = record.hash
    copy.intent_at = record.intent_at
    copy.job_id = record.job_id
    copy.job_name = record.job_name
    copy.kind = record.kind
    copy.percent_complete = record.percent_complete
    copy.results = record.results
    copy.status = record.status
    return copy


def copied_entry(entry: SpecEntry) -> SpecEntry:
    """A copy of ``entry`` with lists of its own (the records in them are shared), to change."""
    copy = object.__new__(SpecEntry)
    copy.domain_id = entry.domain_id
    copy.hash = entry.hash
    copy.history = list(entry.history)
    copy.jobs = list(entry.jobs)
    copy.kind = entry.kind
    copy.name = entry.name
    copy.request = entry.request
    return copy


def forget(state: State, name: str) -> tuple[StatePatch, list[str]]:
    """``state rm``: forget the entries ``name`` means, and the orphans of that spec name.
    Their records become tombstones (``removed``): no longer reported or retried, but
    recognised when Voice ID shows them and taken back by a spec with their hash.
    Returns the patch and the keys forgotten (the orphans as ``orphan/<JobName>``)."""
    draft = Draft(state)
    forgotten: list[str] = []
    for key in state.entry_keys(name):
        entry = draft.drop(key)
        draft.pool("removed").extend(entry.jobs + entry.history)
        if key in state.approvals:
            draft.approve(key, None)  # a spec added back is reviewed again
        forgotten.append(key)
    spec_name = name.partition("/")[2] or name
    for record in state.orphans:
        if _JOB_OF_NAME.match(record.job_name.removeprefix(f"{spec_name}-")):
            draft.pool("orphans").remove(record)
            draft.pool("removed").append(record)
            forgotten.append(f"orphan/{record.job_name}")
    if not forgotten:
        raise ReconcilerError(f"state rm: no spec {name!r} in the state (see 'state show')")
    return draft.patch(), forgotten


def move(state: State, old: str, new: str) -> tuple[StatePatch, tuple[str, str]]:
    """``state mv``: the entry ``old`` is now the spec named ``new`` (a rename that also
    changed the spec, recorded by hand: its jobs become the new name's, superseded if the
    hash changed, instead of orphaned). Returns the patch and the keys (from, to)."""
    keys = [k for k in state.entry_keys(old) if "-part-" not in k.partition("/")[2]] or (
        state.entry_keys(old)
    )
    if len(keys) != 1:
        found = ", ".join(keys) if keys else "none"
        raise ReconcilerError(
            f"state mv: {old!r} must name exactly one spec entry (found: {found}); "
            "name it as KIND/NAME"
        )
    (key,) = keys
    kind = key.partition("/")[0]
    new_name = new.partition("/")[2] if "/" in new else new
    if "/" in new and new.partition("/")[0] != kind:
        raise ReconcilerError(f"state mv: {key} is a {kind}; it cannot become {new}")
    target = f"{kind}/{new_name}"
    if target in state.specs:
        raise ReconcilerError(f"state mv: {target} is already in the state")
    draft = Draft(state)
    draft.move(key, target, new_name)
    return draft.patch(), (key, target)


def records_patch(
    state: State,
    changes: Iterable[tuple[JobRecord, JobRecord | None]],
    *,
    keys: Iterable[str] | None = None,
) -> StatePatch:
    """The patch that puts each new record in the place of the old one (the very object), or
    removes it (None), wherever it is: a spec's jobs or history, the orphans or tombstones —
    or only the entries ``keys`` when the caller knows (a start: no search of a large state).
    For the runner's own bookkeeping of records (an intent, its JobId, a job's results)."""
    by_old = {id(old): new for old, new in changes}
    if not by_old:
        return StatePatch()
    draft = Draft(state)
    wanted = state.specs if keys is None else dict.fromkeys(keys)
    for key in wanted:
        entry = state.specs[key]
        if any(id(r) in by_old for r in _both(entry)):
            changed = draft.entry(key)
            changed.jobs = _replaced(changed.jobs, by_old)
            changed.history = _replaced(changed.history, by_old)
    if keys is not None:
        return draft.patch()
    for pool in _POOLS:
        records = draft.records(pool)
        if any(id(r) in by_old for r in records):
            draft.pool(pool)[:] = _replaced(records, by_old)
    return draft.patch()


def _both(entry: SpecEntry) -> Iterator[JobRecord]:
    yield from entry.jobs
    yield from entry.history


def _replaced(records: list[JobRecord], by_old: Mapping[int, JobRecord | None]) -> list[JobRecord]:
    out = []
    for record in records:
        new = by_old.get(id(record), record)
        if new is not None:
            out.append(new)
    return out
