"""Rules of the journal of starts and the high-water mark beside the state
(reconciler.core.journal)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.core.errors import StateError
from reconciler.core.journal import (
    JOURNAL_FORMAT,
    Journal,
    JournalChange,
    distrust_reason,
    mark_text,
    replay_journal,
)
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import JobRecord, SpecEntry, State

D = "D" * 22
H, H2 = "a" * 64, "b" * 64
KEY = "SpeakerEnrollmentJob/n"


def _state(serial: int = 3) -> State:
    return State(lineage="L", serial=serial)


def _record(attempt: int = 1, hash_: str = H, **kw: Any) -> JobRecord:
    values: dict[str, Any] = {
        "attempt": attempt,
        "domain_id": D,
        "hash": hash_,
        "job_name": f"n-{hash_[:4]}-{attempt}",
        "kind": JobKind.ENROLLMENT,
    }
    values.update(kw)
    return JobRecord(**values)


def _line(record: JobRecord, *, hash_: str = H, dropped: bool = False, **kw: Any) -> str:
    data: dict[str, Any] = {
        "key": KEY,
        "kind": "SpeakerEnrollmentJob",
        "name": "n",
        "hash": hash_,
        "domainId": D,
        "request": None,
        "record": record.to_data(),
        "dropped": dropped,
    }
    data.update(kw)
    return json.dumps(data)


def _journal(state: State, *lines: str) -> str:
    header = json.dumps({"journal": 1, "lineage": state.lineage, "serial": state.serial})
    return "\n".join([header, *lines]) + "\n"


# --- the high-water mark --------------------------------------------------------------------


def test_the_mark_of_a_write() -> None:
    """Lineage and serial, and the journal's count and the digest only when there are some."""
    state = _state()
    assert mark_text(state) == '{"lineage": "L", "serial": 3}\n'
    assert (
        mark_text(state, 2, "d") == '{"digest": "d", "journal": 2, "lineage": "L", "serial": 3}\n'
    )


def test_a_state_that_is_the_one_last_written_is_trusted() -> None:
    """Same lineage, same or newer serial, every journaled record there, the same content."""
    state = _state()
    assert distrust_reason(state, mark_text(state)) is None
    assert distrust_reason(state, mark_text(_state(2))) is None
    assert distrust_reason(state, mark_text(state, 2, "d"), 2, "d") is None
    assert distrust_reason(state, mark_text(state, 2, "d"), 3) is None
    assert distrust_reason(state, mark_text(state, 0, "d"), 0, None) is None
    assert distrust_reason(state, mark_text(_state(2), 5, "x"), 0, "y") is None


def test_no_mark_is_trusted_only_for_a_state_never_written() -> None:
    """A new state (serial 0) needs no mark; a written one without any cannot prove itself."""
    assert distrust_reason(_state(0), None) is None
    assert distrust_reason(_state(4), None) == (
        "it has no high-water mark beside it (serial 4: a state copied, cloned or restored "
        "without its mark)"
    )


@pytest.mark.parametrize(
    ("mark", "journaled", "digest", "reason"),
    [
        ('{"lineage": "M", "serial": 3}', 0, None, "its lineage L is not the last written one (M)"),
        (
            '{"lineage": "L", "serial": 4}',
            0,
            None,
            "it went backwards: serial 3, but 4 was written",
        ),
        (
            '{"lineage": "L", "serial": 3, "journal": 2}',
            1,
            None,
            "its journal lost records: 1 of the 2 written were there",
        ),
        (
            '{"lineage": "L", "serial": 3, "digest": "x"}',
            0,
            "y",
            "it was edited since it was written (its content is not what was written)",
        ),
        ("not json", 0, None, "its high-water mark is unreadable"),
        ("[1]", 0, None, "its high-water mark is unreadable"),
        ('{"serial": 3}', 0, None, "its high-water mark is unreadable"),
        ('{"lineage": "L", "serial": "x"}', 0, None, "its high-water mark is unreadable"),
        (
            '{"lineage": "L", "serial": 3, "journal": "x"}',
            0,
            None,
            "its high-water mark is unreadable",
        ),
        (
            '{"lineage": "L", "serial": 3, "digest": 5}',
            0,
            None,
            "its high-water mark is unreadable",
        ),
    ],
)
def test_why_a_state_is_distrusted(
    mark: str, journaled: int, digest: str | None, reason: str
) -> None:
    """Another lineage, an older serial, lost journal records, edited content, an unreadable
    mark: each said."""
    assert distrust_reason(_state(), mark, journaled, digest) == reason


# --- the journal ----------------------------------------------------------------------------


def test_a_journal_follows_one_write() -> None:
    """Its first line names the format, lineage and serial of the state it follows."""
    journal = Journal(_state())
    assert json.loads(journal.header) == {"journal": JOURNAL_FORMAT, "lineage": "L", "serial": 3}
    assert JOURNAL_FORMAT == 1
    assert journal.lines == []


def test_a_journal_line_is_the_entry_and_one_record() -> None:
    """A line names the entry (key, kind, name, hash, DomainId, request) and one record."""
    state = _state()
    state.specs[KEY] = SpecEntry(
        kind=JobKind.ENROLLMENT, name="n", hash=H, domain_id=D, request=json.dumps({"x": 1})
    )
    record = _record(job_id="j")
    line = Journal.line(state, JournalChange(KEY, record, dropped=True))
    assert json.loads(line) == {
        "key": KEY,
        "kind": "SpeakerEnrollmentJob",
        "name": "n",
        "hash": H,
        "domainId": D,
        "request": {"x": 1},
        "record": record.to_data(),
        "dropped": True,
    }
    assert line == json.dumps(json.loads(line), sort_keys=True, separators=(",", ":"))
    assert JournalChange(KEY, record).dropped is False


def test_replay_adds_and_replaces_records() -> None:
    """A new entry is made; a record of a new attempt is added, one of the same attempt
    replaced (its JobId confirmed); the count replayed is returned."""
    state = _state()
    intent = _record(1)
    started = _record(1, job_id="j1", status=JobStatus.SUBMITTED)
    second = _record(2)
    text = _journal(state, _line(intent), _line(started), _line(second, request={"r": 1}))
    assert replay_journal(state, text, "s.journal") == 3
    entry = state.specs[KEY]
    assert (entry.kind, entry.name, entry.hash, entry.domain_id) == (JobKind.ENROLLMENT, "n", H, D)
    assert entry.jobs == [started, second]
    assert entry.request == '{"r":1}'


def test_replay_of_a_changed_spec_moves_its_jobs_to_history() -> None:
    """A record of another hash makes it the entry's hash: jobs of that hash current, the
    rest history."""
    state = _state()
    old, new_before = _record(1, H), _record(1, H2, job_id="x")
    state.specs[KEY] = SpecEntry(
        kind=JobKind.ENROLLMENT, name="n", hash=H, domain_id=D, jobs=[old], history=[new_before]
    )
    fresh = _record(2, H2, domain_id="E" * 22)
    replay_journal(state, _journal(state, _line(fresh, hash_=H2, domainId="E" * 22)), "j")
    entry = state.specs[KEY]
    assert (entry.hash, entry.domain_id) == (H2, "E" * 22)
    assert entry.jobs == [new_before, fresh]
    assert entry.history == [old]


def test_a_dropped_intent_goes_but_a_job_stays() -> None:
    """A dropped record removes the intent of that attempt, never a record with a JobId."""
    state = _state()
    intent, other = _record(1), _record(2)
    state.specs[KEY] = SpecEntry(
        kind=JobKind.ENROLLMENT, name="n", hash=H, domain_id=D, jobs=[intent, other]
    )
    replay_journal(state, _journal(state, _line(intent, dropped=True)), "j")
    assert state.specs[KEY].jobs == [other]
    found = _record(2, job_id="j2")
    state.specs[KEY].jobs = [found]
    replay_journal(state, _journal(state, _line(_record(2), dropped=True)), "j")
    assert state.specs[KEY].jobs == [found]


def test_a_journal_of_another_write_is_stale() -> None:
    """A journal whose header names another lineage or serial is ignored (None)."""
    state = _state()
    line = _line(_record())
    for other in (State(lineage="M", serial=3), State(lineage="L", serial=2)):
        assert replay_journal(state, _journal(other, line), "j") is None
    assert state.specs == {}


def test_a_last_line_cut_short_was_never_acknowledged() -> None:
    """Nothing whole (even the header cut) replays nothing; a cut last record is left out."""
    state = _state()
    assert replay_journal(state, "", "j") == 0
    assert replay_journal(state, '{"journal": 1, "lin', "j") == 0
    text = _journal(state, _line(_record(1))) + _line(_record(2))[:20]
    assert replay_journal(state, text, "j") == 1
    assert [r.attempt for r in state.specs[KEY].jobs] == [1]


@pytest.mark.parametrize("header", ["not json", "[1]", '{"journal": 2}', '{"lineage": "L"}'])
def test_a_journal_that_cannot_be_read_is_an_error(header: str) -> None:
    """A header that is not this format's: an error naming the file, nothing touched."""
    with pytest.raises(StateError) as caught:
        replay_journal(_state(), header + "\n", "s.journal")
    assert str(caught.value) == (
        "s.journal: the state's journal cannot be read; the files are left untouched: "
        "remove it and run 'voiceid-reconciler state rebuild'"
    )


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("not json", "JSONDecodeError"),
        ('{"key": "k"}', "KeyError"),
        ('{"key": "k", "record": 5, "kind": "x"}', "ValidationError"),
    ],
)
def test_a_damaged_record_is_an_error_at_its_line(line: str, error: str) -> None:
    """A record that cannot be read names the file, its line number and the error's type."""
    state = _state()
    text = _journal(state, _line(_record(1)), line)
    with pytest.raises(StateError) as caught:
        replay_journal(state, text, "s.journal")
    assert str(caught.value) == (
        f"s.journal:3: the state's journal is damaged ({error}); the files are left untouched: "
        "remove it and run 'voiceid-reconciler state rebuild'"
    )
    assert caught.value.__cause__ is not None


def test_without_a_count_no_record_was_replayed() -> None:
    """A read that gives no count replayed nothing: a mark that recorded journaled records
    is then missing them."""
    assert distrust_reason(_state(), mark_text(_state(), 1)) == (
        "its journal lost records: 0 of the 1 written were there"
    )
