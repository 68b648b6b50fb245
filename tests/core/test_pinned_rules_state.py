"""Rules of the state's schema and its written form (reconciler.core.state)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.core import state as module
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import (
    ENTRY,
    SCHEMA_VERSION,
    UNFINGERPRINTED,
    Approval,
    BlockedSince,
    JobRecord,
    SinkLedger,
    SpecEntry,
    State,
    Unblocked,
    entry_head,
)
from reconciler.core.statefile import parse_state
from reconciler.core.statepatch import StatePatch

D = "D" * 22
H = "a" * 64
E = JobKind.ENROLLMENT


def _record(**kw: Any) -> JobRecord:
    values: dict[str, Any] = {
        "attempt": 1,
        "domain_id": D,
        "hash": H,
        "job_name": "n-1",
        "kind": E,
    }
    values.update(kw)
    return JobRecord(**values)


def _entry(**kw: Any) -> SpecEntry:
    values: dict[str, Any] = {"domain_id": D, "hash": H, "kind": E, "name": "n"}
    values.update(kw)
    return SpecEntry(**values)


def test_the_documented_constants() -> None:
    """Schema version 5, the default path, a minute's lock wait and two minutes' lock TTL."""
    assert SCHEMA_VERSION == 5
    assert module.DEFAULT_PATH == "voiceid-state.json"
    assert (module.DEFAULT_LOCK_TIMEOUT, module.DEFAULT_LOCK_TTL) == (60.0, 120.0)
    assert UNFINGERPRINTED == ('  "serial": ', '  "observedAt": ')


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T09:42:10Z",
        "2024-02-29T00:00:00Z",
        "2000-02-29T23:59:59Z",
        "0001-01-31T00:00:00Z",
        "2026-04-30T12:00:00Z",
        "2026-02-28T12:00:00Z",
        "2026-12-31T12:00:00Z",
    ],
)
def test_a_time_the_calendar_has(text: str) -> None:
    """ISO-8601 UTC to the second on a day the calendar has is a time the state records."""
    assert _record(created_at=text).created_at == text


@pytest.mark.parametrize(
    "text",
    [
        "2026-12-01T09:42:10",
        "2026-12-01 09:42:10Z",
        "2026-12-01T09:42:10.5Z",
        "2026-02-29T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z",
        "2026-01-01T00:00:60Z",
        "x2026-01-01T00:00:00Z",
        "2026-01-01T00:00:00Zx",
    ],
)
def test_a_time_that_is_not_one_is_refused(text: str) -> None:
    """Anything else (no Z, a fraction, a day the calendar lacks) is refused when read."""
    with pytest.raises(ValidationError, match="not an ISO-8601 UTC time"):
        _record(created_at=text)
    with pytest.raises(ValidationError, match="not an ISO-8601 UTC time"):
        State(observed_at=text)


def test_a_job_record_by_its_fields() -> None:
    """A hash of 32 or 64 hex digits, an attempt from 1; active while it has a JobId and has
    not ended."""
    assert _record(hash="b" * 32).hash == "b" * 32
    for bad in ("b" * 31, "b" * 48, "B" * 64, "g" * 64):
        with pytest.raises(ValidationError):
            _record(hash=bad)
    with pytest.raises(ValidationError):
        _record(attempt=0)
    assert not _record().active
    assert _record(job_id="j").active
    assert _record(job_id="j", status=JobStatus.IN_PROGRESS).active
    assert not _record(job_id="j", status=JobStatus.FAILED).active
    assert not _record(job_id="j", status=JobStatus.COMPLETED).active


def test_a_record_as_json_values_and_back() -> None:
    """A record's JSON values use the file's camelCase names; read back it is the same."""
    record = _record(
        job_id="j",
        status=JobStatus.FAILED,
        failure=Failure(status_code=400, message="m"),
        results={"b": 1, "a": 2},
    )
    data = record.to_data()
    assert data["jobId"] == "j"
    assert data["failure"] == {"message": "m", "statusCode": 400}
    assert list(data["results"]) == ["a", "b"]
    assert JobRecord.from_data(data) == record
    with pytest.raises(ValidationError):
        JobRecord.from_data({"attempt": 1})


def test_results_are_kept_in_the_order_of_their_names() -> None:
    """Counts given in any order are kept sorted by name; sorted ones and None as they are."""
    assert list(_record(results={"z": 1, "a": 2}).results or {}) == ["a", "z"]
    assert _record(results={"a": 1}).results == {"a": 1}
    assert _record().results is None


def test_a_spec_entry_keeps_its_request_as_canonical_text() -> None:
    """A request given as a JSON object is kept as its compact sorted text, read back as the
    value; a text that is not a JSON object is refused unless the reader checked it."""
    entry = _entry(request={"b": 1, "a": {"d": 2, "c": 3}})
    assert entry.request == '{"a":{"c":3,"d":2},"b":1}'
    assert entry.request_data() == {"a": {"c": 3, "d": 2}, "b": 1}
    assert _entry(request='{"x":1}').request == '{"x":1}'
    assert _entry().request_data() is None
    for bad in ("[1]", '"x"', "3"):
        with pytest.raises(ValidationError, match="a request must be a JSON object"):
            _entry(request=bad)
    checked = ENTRY.validate_python(
        {"domainId": D, "hash": H, "kind": E, "name": "n", "request": "[1]"},
        context={"checked": True},
    )
    assert checked.request == "[1]"


def test_the_latest_job_is_the_last() -> None:
    """An entry's latest job is the last recorded; none without jobs."""
    assert _entry().latest() is None
    first, second = _record(attempt=1), _record(attempt=2)
    assert _entry(jobs=[first, second]).latest() == second


def test_an_approval_covers_its_hash_and_attempts() -> None:
    """Attempts 1 to max_attempts of its hash (an attempt not given is the first)."""
    approval = Approval(hash=H, max_attempts=2, review="c", at="2026-12-01T09:42:10Z")
    assert approval.covers(H, 1)
    assert approval.covers(H, 2)
    assert approval.covers(H, None)
    assert not approval.covers(H, 3)
    assert not approval.covers("b" * 64, 1)
    assert not approval.covers(None, 1)
    with pytest.raises(ValidationError):
        Approval(hash=H, max_attempts=0, review="c", at="2026-12-01T09:42:10Z")


def test_a_new_state() -> None:
    """A new state: this schema, a fresh random lineage, serial 0, never observed, trusted,
    nothing renamed, no fingerprint read."""
    one, two = State(), State()
    assert (one.schema_version, one.serial, one.observed_at) == (SCHEMA_VERSION, 0, None)
    assert len(one.lineage) == 32
    assert one.lineage != two.lineage
    assert (one.untrusted, one.renamed, one.read_fingerprint) == (None, {}, None)
    with pytest.raises(ValidationError):
        State.model_validate({"unknown": 1})


def test_every_job_of_the_state() -> None:
    """Current attempts and history of each spec, then orphans, then tombstones."""
    a, b, c, d, e = (_record(job_name=f"n-{i}") for i in range(5))
    state = State(specs={"K/x": _entry(jobs=[a], history=[b]), "K/y": _entry(jobs=[c])})
    state.orphans.append(d)
    state.removed.append(e)
    assert [r.job_name for r in state.all_jobs()] == ["n-0", "n-1", "n-2", "n-3", "n-4"]


def test_the_entries_a_name_means() -> None:
    """<kind>/<name> or <name> of either kind, with a chunked roster's numbered parts."""
    keys = [
        f"{E}/big",
        f"{E}/big-part-001",
        f"{E}/big-part-002",
        f"{E}/big-part-x",
        f"{E}/bigger",
        f"{JobKind.REGISTRATION}/big",
        f"{E}/other",
    ]
    state = State(specs={k: _entry() for k in keys})
    assert state.entry_keys("big") == sorted(
        [f"{E}/big", f"{E}/big-part-001", f"{E}/big-part-002", f"{JobKind.REGISTRATION}/big"]
    )
    assert state.entry_keys(f"{E}/big") == [f"{E}/big", f"{E}/big-part-001", f"{E}/big-part-002"]
    assert state.entry_keys("big-part-001") == [f"{E}/big-part-001"]
    assert state.entry_keys("big-part-x") == [f"{E}/big-part-x"]
    assert state.entry_keys("nothing") == []


def test_the_written_form() -> None:
    """Sorted members, two-space indent, one map entry or list item a line, empty ones inline,
    each spec entry compact with its request last."""
    state = State(lineage="L", serial=3, observed_at="2026-12-01T09:42:10Z")
    state.domains.update({"b": "B" * 22, "a": "A" * 22})
    state.specs[f"{E}/n"] = _entry(request={"z": 1})
    state.orphans.extend([_record(job_name="o-1"), _record(job_name="o-2")])
    state.watchlists[D] = {"default": "W" * 22}
    lines = state.to_json().splitlines()
    assert lines[0] == "{"
    assert lines[-1] == "}"
    assert state.to_json().endswith("}\n")
    assert lines[1:4] == ['  "approvals": {},', '  "blocked": {},', '  "domains": {']
    assert lines[4:7] == [
        f'    "a": "{"A" * 22}",',
        f'    "b": "{"B" * 22}"',
        "  },",
    ]
    assert '  "lineage": "L",' in lines
    assert '  "observedAt": "2026-12-01T09:42:10Z",' in lines
    assert '  "serial": 3,' in lines
    orphans = lines.index('  "orphans": [')
    assert lines[orphans + 1].startswith('    {"attempt":1,')
    assert lines[orphans + 1].endswith("},")
    assert lines[orphans + 2].endswith("}")
    assert lines[orphans + 3] == "  ],"
    spec = next(line for line in lines if line.startswith(f'    "{E}/n": '))
    assert spec.endswith(',"request":{"z":1}}')
    assert json.loads(state.to_json())["specs"][f"{E}/n"]["request"] == {"z": 1}
    assert lines[-5:] == [
        '  "unblocked": [],',
        '  "watchlists": {',
        f'    "{D}": {{"default":"{"W" * 22}"}}',
        "  }",
        "}",
    ]


def test_an_entry_without_request_writes_null() -> None:
    """An entry with no recorded request is written with request null, after its head."""
    entry = _entry()
    state = State(specs={f"{E}/n": entry})
    (line,) = [x for x in state.to_json().splitlines() if x.startswith(f'    "{E}/n"')]
    head = entry_head(entry).decode()
    assert line == f'    "{E}/n": {head[:-1]},"request":null}}'
    assert "request" not in json.loads(head)


def test_the_fingerprint_is_of_what_the_state_says() -> None:
    """Serial and observedAt leave it alone; any other change moves it."""
    state = State(lineage="L")
    before = state.fingerprint()
    state.serial = 9
    state.observed_at = "2026-12-01T09:42:10Z"
    assert state.fingerprint() == before
    state.domains["a"] = D
    after = state.fingerprint()
    assert after != before
    state.specs[f"{E}/n"] = _entry()
    assert state.fingerprint() != after
    assert len(before) == 40


def test_the_ledgers_and_blocks_defaults() -> None:
    """A sink's ledger starts with nothing delivered, no failure, never sent; a block and an
    unblock without a domain or reason."""
    assert SinkLedger() == SinkLedger(delivered=[], failures=0, last_sent=None)
    assert BlockedSince(since="t") == BlockedSince(since="t", domain_id=None, reason="")
    assert Unblocked(key="k", since="t").domain_id is None


def test_what_a_run_knows_of_its_state_beside_the_file() -> None:
    """Why it is distrusted and what was renamed come from a patch applied; the fingerprint of
    the lines read from a state read as written; none of it is written."""
    state = StatePatch(distrust="it went backwards", renamed={"K/new": "K/old"}).applied_to(
        State(lineage="L")
    )
    assert state.untrusted == "it went backwards"
    assert state.renamed == {"K/new": "K/old"}
    read = parse_state(state.to_json(), "s.json")
    assert read.read_fingerprint == state.fingerprint()
    assert (read.untrusted, read.renamed) == (None, {})


def test_a_misspelt_field_cannot_be_set() -> None:
    """Records and entries hold their declared fields only: a misspelt one is an error, not a
    value silently kept beside the real one (and never written)."""
    with pytest.raises(AttributeError):
        _record().jobid = "j"  # type: ignore[attr-defined]
    with pytest.raises(AttributeError):
        _entry().hsah = H  # type: ignore[attr-defined]
