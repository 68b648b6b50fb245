"""What a store keeps beside the state: the journal of the starts made since its last write,
and the high-water mark that tells a state read from the one last written.

Both are values and rules only (no file is touched here); where they live and how they are
written in order is :mod:`reconciler.adapters.statestore`.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from reconciler.core.canonjson import compact as _compact
from reconciler.core.errors import StateError
from reconciler.core.state import JobRecord, SpecEntry, State


def mark_text(state: State, journaled: int = 0, digest: str | None = None) -> str:
    """The high-water mark of a state just written: its lineage and serial, the digest of
    what it says (``digest``: its :meth:`State.fingerprint`), and how many records the journal
    beside it holds (:class:`Journal`), kept by the store beside the state but where a restore
    or a checkout of the state file does not reach."""
    mark: dict[str, Any] = {"lineage": state.lineage, "serial": state.serial}
    if journaled:
        mark["journal"] = journaled
    if digest:
        mark["digest"] = digest
    return json.dumps(mark, sort_keys=True) + "\n"


def distrust_reason(
    state: State, mark: str | None, journaled: int = 0, digest: str | None = None
) -> str | None:
    """Compare a state just read with the high-water mark of the last write: a state that went
    backwards (an older version restored, checked out or rolled back), of another lineage,
    whose journal lost records it had (``journaled``: the records replayed from it), whose
    content is not what that write wrote (``digest``: the fingerprint of the file read, before
    its journal; a hand edit that left serial and mark alone), or that has written versions
    behind it but no mark at all (a state from elsewhere: a fresh clone of a committed state, a
    copied file) cannot prove where it came from, so it is not trusted to say what Voice ID
    does *not* hold: the store distrusts it (``StatePatch(distrust=why)``, which forgets its
    listings, so that every (domain, kind) is listed in full again — and waits the list-lag
    horizon — before anything starts there). Returns why, or None when the state is the one
    last written (or newer)."""
    if mark is None:
        if state.serial == 0:  # a state never written: a first deployment (nothing to prove)
            return None
        return (
            f"it has no high-water mark beside it (serial {state.serial}: a state copied, "
            "cloned or restored without its mark)"
        )
    try:
        data = json.loads(mark)
        lineage, serial = str(data["lineage"]), int(data["serial"])
        recorded = int(data.get("journal", 0))
        written = data.get("digest")
        if written is not None and not isinstance(written, str):
            raise TypeError("digest")
    except (ValueError, KeyError, TypeError, AttributeError):
        reason = "its high-water mark is unreadable"
    else:
        if lineage != state.lineage:
            reason = f"its lineage {state.lineage} is not the last written one ({lineage})"
        elif state.serial < serial:
            reason = f"it went backwards: serial {state.serial}, but {serial} was written"
        elif state.serial == serial and journaled < recorded:
            reason = f"its journal lost records: {journaled} of the {recorded} written were there"
        elif state.serial == serial and written and digest and written != digest:
            reason = "it was edited since it was written (its content is not what was written)"
        else:
            return None
    return reason


JOURNAL_FORMAT = 1


class JournalChange(NamedTuple):
    """One job record of the spec entry ``key`` as it now is (``dropped``: removed)."""

    key: str
    record: JobRecord
    dropped: bool = False


class Journal:
    """The records of starts made since the state was last written, appended one by one.

    A Start must be on disk before it is made (its intent) and after (its JobId), but
    rewriting a state of 10,000 specs for each costs a third of a second. So a store appends
    each such record to a journal beside the state (``<state>.journal``: JSON lines, the first
    naming the lineage and serial of the state it follows) and the next full write of the state
    — at the end of the run, or the next poll — takes them in and removes it. A store reading
    the state replays the journal that follows it (after a crash, the records of the run that
    died) and ignores one that follows an older write (the state already holds it). Each line
    is a spec entry's key, what the entry is (kind, name, hash, DomainId, request) and one job
    record — or a record dropped (an intent whose Start was refused): never speaker data.
    """

    def __init__(self, state: State) -> None:
        self.header = json.dumps(
            {"journal": JOURNAL_FORMAT, "lineage": state.lineage, "serial": state.serial},
            sort_keys=True,
        )
        self.lines: list[str] = []

    @staticmethod
    def line(state: State, change: JournalChange) -> str:
        """The journal line of one change to the state."""
        key, record, dropped = change
        entry = state.specs[key]
        data = {
            "key": key,
            "kind": entry.kind.value,
            "name": entry.name,
            "hash": entry.hash,
            "domainId": entry.domain_id,
            "request": entry.request_data(),
            "record": record.to_data(),
            "dropped": dropped,
        }
        return _compact(data)


def replay_journal(state: State, text: str, source: str) -> int | None:
    """Apply a journal's records to the state it follows, in place; the number replayed, or
    None when the journal follows another write (it is stale: ignore it). A journal that
    cannot be read is a :class:`StateError` — except a last line cut short (the first line
    included), which was never acknowledged (the run died writing it; its Start was never
    made, or its job is found by its name)."""
    lines = text.split("\n")
    complete = lines[:-1]
    if not complete:  # not even its first line written whole: no record was ever acknowledged
        return 0
    try:
        header = json.loads(complete[0])
    except ValueError:
        header = None
    if not isinstance(header, dict) or header.get("journal") != JOURNAL_FORMAT:
        raise StateError(
            f"{source}: the state's journal cannot be read; the files are left untouched: "
            "remove it and run 'voiceid-reconciler state rebuild'"
        )
    # A journal belongs to the one write its header names: the next write takes its records
    # in before removing it, so one left behind a later write (the removal failed) holds
    # nothing that write lacks, and replaying it could put back an intent since dropped.
    if header.get("lineage") != state.lineage or header.get("serial") != state.serial:
        return None
    count = 0
    for number, line in enumerate(complete[1:], start=2):
        try:
            _replay(state, json.loads(line))
        except (ValueError, KeyError, TypeError) as err:
            raise StateError(
                f"{source}:{number}: the state's journal is damaged ({type(err).__name__}); "
                "the files are left untouched: remove it and run 'voiceid-reconciler state "
                "rebuild'"
            ) from err
        count += 1
    return count


def _replay(state: State, data: dict[str, Any]) -> None:
    # In place, unlike the core's other changes to a state: this is the store building the
    # state it is about to return (nothing else holds it yet), not a run changing one.
    key = str(data["key"])
    record = JobRecord.from_data(data["record"])
    entry = state.specs.get(key)
    if entry is None:
        entry = state.specs[key] = SpecEntry(
            kind=data["kind"], name=data["name"], hash=data["hash"], domain_id=data["domainId"]
        )
    if entry.hash != data["hash"]:  # the spec changed: its other jobs are its history
        pool = entry.jobs + entry.history
        entry.hash, entry.domain_id = data["hash"], data["domainId"]
        entry.jobs = [r for r in pool if r.hash == entry.hash]
        entry.history = [r for r in pool if r.hash != entry.hash]
    if data.get("request") is not None:
        entry.request = _compact(dict(data["request"]))
    same = [
        i for i, r in enumerate(entry.jobs) if r.hash == record.hash and r.attempt == record.attempt
    ]
    if data.get("dropped"):
        # Only the intent goes: a record of that attempt with a JobId is a job Voice ID made
        # (found by a listing meanwhile), which no replay may forget.
        entry.jobs = [r for i, r in enumerate(entry.jobs) if i not in same or r.job_id]
    elif same:
        entry.jobs[same[0]] = record
    else:
        entry.jobs.append(record)
