"""The state's line reader: a state as ``State.to_json`` writes it is read one line at a time
(no tree of a large state's JSON values held at once), and it must find exactly what reading the
whole document finds — for every text, including texts it does not recognise or that are broken.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.adapters import statestore
from reconciler.adapters.localstore import LocalStateStore
from reconciler.core import journal, statefile
from reconciler.core import state as state_module
from reconciler.core.errors import StateError
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobStatus
from reconciler.core.state import (
    ENTRY,
    BlockedSince,
    JobRecord,
    SinkLedger,
    SpecEntry,
    State,
    Unblocked,
)
from reconciler.core.statefile import parse_state

D = "D" * 22
REQUEST = {
    "identity": 1,
    "kind": "SpeakerEnrollmentJob",
    "domainId": D,
    "input": {"s3Uri": "s3://b/m.json", "manifestDigest": "etag:x"},
    "config": {"note": 'a "quoted" ,"request": value'},
    "revision": 0,
}


def _record(h: str, **extra: object) -> JobRecord:
    return JobRecord(
        hash=h,
        attempt=1,
        client_token=f"{h[:56]}-1",
        job_name=f"n-{h[:32]}",
        domain_id=D,
        kind="SpeakerEnrollmentJob",
        **extra,  # type: ignore[arg-type]
    )


def _rich() -> State:
    """A state with every member filled, keys that need escapes, and requests that mention
    the word the reader cuts at."""
    state = State(observed_at="2026-12-01T00:00:00Z", serial=7)
    state.domains = {"main": D, 'quo"te': "E" * 22, "back\\slash": "F" * 22}
    state.watchlists = {D: {"default": "W" * 22}}
    state.listings = {f"{D}/SpeakerEnrollmentJob": "2026-12-01T00:00:00Z"}
    state.manifests = {"s3://b/m.json": "x", "s3://b/ünï.json": "y"}
    for i, name in enumerate(["plain", "with space", 'q"uote', "ünïcode", "back\\slash"]):
        h = f"{i:064x}"
        state.specs[f"SpeakerEnrollmentJob/{name}"] = SpecEntry(
            kind="SpeakerEnrollmentJob",
            name=name,
            hash=h,
            domain_id=D,
            jobs=[
                _record(
                    h,
                    job_id=f"J{i:021d}",
                    status="FAILED",
                    failure=Failure(status_code=400, message='bad "request": ,}'),
                    results={"b": 1, "a": 2},
                )
            ],
            history=[_record(f"{i + 100:064x}")] if i % 2 else [],
            request=json.dumps(REQUEST, sort_keys=True, separators=(",", ":")) if i % 3 else None,
        )
    state.orphans = [_record("e" * 64, job_id="O" * 22)]
    state.removed = [_record("f" * 64, job_id="R" * 22)]
    state.notified = {"sink": SinkLedger(delivered=["e1", "e2"], failures=1)}
    state.blocked = {"SpeakerEnrollmentJob/plain": BlockedSince(since="t", reason="r")}
    state.unblocked = [Unblocked(key="k", since="t")]
    return state


def _whole(text: str) -> State | str:
    """What reading the whole document finds: the state, or the error's message."""
    try:
        return _without_lines(parse_state, text)
    except StateError as err:
        return f"error: {err}"


def _without_lines(parse: Callable[[str, str], State], text: str) -> State:
    real = statefile._parse_layout
    statefile._parse_layout = lambda _text: None
    try:
        return parse(text, "s.json")
    finally:
        statefile._parse_layout = real


def _read(text: str) -> State | str:
    try:
        return parse_state(text, "s.json")
    except StateError as err:
        return f"error: {err}"


def _same(a: State | str, b: State | str) -> bool:
    """The same state (by value: a request spelled otherwise is the same request), or the
    same error."""
    if isinstance(a, State) and isinstance(b, State):
        return bool(json.loads(a.to_json()) == json.loads(b.to_json()))
    return a == b


@pytest.mark.parametrize("state", [State(), _rich()], ids=["empty", "every member, awkward keys"])
def test_what_the_writer_writes_is_read_line_by_line_and_found_the_same(state: State) -> None:
    text = state.to_json()
    by_lines = statefile._parse_layout(text)
    assert by_lines is not None  # the fast reader took it
    assert _same(by_lines, _whole(text))
    assert by_lines.to_json() == text  # and writes it back byte for byte


def test_a_state_formatted_otherwise_is_read_whole_to_the_same_state() -> None:
    state = _rich()
    text = json.dumps(json.loads(state.to_json()), indent=4) + "\n"
    assert statefile._parse_layout(text) is None
    assert _same(_read(text), _whole(text))
    assert _read(text) == state


def _mutations(text: str) -> Iterator[tuple[str, str]]:
    """Every text one line-level edit away: a line dropped, doubled, or with its comma
    toggled; CRLF line ends; a spec entry's request spelled with spaces."""
    lines = text.split("\n")
    for i, line in enumerate(lines):
        yield f"drop {i}", "\n".join(lines[:i] + lines[i + 1 :])
        yield f"double {i}", "\n".join(lines[: i + 1] + lines[i:])
        toggled = line[:-1] if line.endswith(",") else f"{line},"
        yield f"comma {i}", "\n".join([*lines[:i], toggled, *lines[i + 1 :]])
    yield "crlf", text.replace("\n", "\r\n")
    entry = next(line for line in lines if '"name":"plain"' in line)  # the spec entry's line
    for name, old, new in [
        ("a key twice in an entry", '"name":"plain"', '"name":"plain","name":"x"'),
        ("a key twice in a record", '"attempt":1,', '"attempt":1,"attempt":2,'),
        ("a request in the entry and after it", '"name":"plain"', '"name":"plain","request":{}'),
    ]:
        yield name, text.replace(entry, entry.replace(old, new, 1))
    # a map's value as a string taken as written, or not: raw controls, escapes, odd text
    for name, value in [
        ("raw tab", '"x\ty"'),
        ("raw newline escape", '"x\\ny"'),
        ("escaped quote", '"x\\"y"'),
        ("unicode escape", '"\\u00e9t\\u00e9"'),
        ("nbsp", '"x\u00a0y"'),
        ("lone surrogate escape", '"\\ud800"'),
        ("empty", '""'),
        ("not closed", '"x'),
        ("number", "7"),
    ]:
        yield (
            f"manifest value {name}",
            text.replace('"s3://b/m.json": "x"', f'"s3://b/m.json": {value}'),
        )
    yield "spaced request", text.replace('"revision":0}', '"revision": 0 }')
    yield (
        "request not last",
        text.replace(',"request":null}', "}").replace(
            '"domainId":"DDDD', '"request":null,"domainId":"DDDD', 1
        ),
    )


@pytest.mark.parametrize("edit", [name for name, _ in _mutations(_rich().to_json())])
def test_every_edit_of_a_line_is_read_as_reading_the_whole_text_reads_it(edit: str) -> None:
    """Duplicated spec lines, lost or extra commas, other line ends: the line reader either
    finds exactly the state the whole document holds, or leaves it to the whole reading (which
    refuses it with the same message)."""
    text = dict(_mutations(_rich().to_json()))[edit]
    read, whole = _read(text), _whole(text)
    if isinstance(read, State) and isinstance(whole, State) and '"lineage"' not in text:
        read.lineage = whole.lineage = "x"  # a state without one is given a new one each time
    assert _same(read, whole)


def test_a_spec_line_given_twice_is_refused() -> None:
    text = _rich().to_json()
    line = next(x for x in text.split("\n") if x.startswith('    "SpeakerEnrollmentJob/plain"'))
    doubled = text.replace(line, f"{line.rstrip(',')},\n{line}", 1)
    result = _read(doubled)
    assert isinstance(result, str)
    assert "twice" in result


def test_a_request_that_is_not_an_object_is_refused() -> None:
    text = _rich().to_json()
    line = next(x for x in text.split("\n") if '"request":{' in x)
    broken = text.replace(
        line, line.replace('"request":{', '"request":[{', 1).replace("}},", "}]},", 1)
    )
    assert isinstance(_read(broken), str)
    assert _same(_read(broken), _whole(broken))


def test_the_request_is_kept_as_text_and_read_as_a_value() -> None:
    entry = _read(_rich().to_json())
    assert isinstance(entry, State)
    recorded = entry.specs["SpeakerEnrollmentJob/with space"]
    assert isinstance(recorded.request, str)
    assert recorded.request_data() == REQUEST


def _mark(path: Path, state: State) -> None:
    """The high-water mark a store writes beside ``path`` for ``state``."""
    mark = journal.mark_text(state, 0, digest=state.fingerprint())
    path.with_name(path.name + ".mark").write_text(mark, encoding="utf-8")


@pytest.mark.parametrize("layout", ["as written", "reformatted"])
def test_the_local_store_reads_a_file_line_by_line_or_whole_to_the_same_state(
    tmp_path: Path, layout: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = _rich()
    text = state.to_json()
    if layout == "reformatted":
        text = json.dumps(json.loads(text), indent=1) + "\n"
    path = tmp_path / "s.json"
    path.write_text(text, encoding="utf-8")
    _mark(path, state)  # the state as last written: trusted (a state without one is not)
    whole: list[str] = []
    real = statefile.parse_state
    monkeypatch.setattr(
        statestore, "parse_state", lambda t, s, **k: whole.append(s) or real(t, s, **k)
    )
    store = LocalStateStore(path)
    with store.locked():
        read = store.read()
    assert json.loads(read.to_json()) == json.loads(state.to_json())
    assert whole == ([] if layout == "as written" else [str(path)])


def test_a_state_that_is_not_utf8_is_refused_by_the_local_store(tmp_path: Path) -> None:
    path = tmp_path / "s.json"
    path.write_bytes(_rich().to_json().encode().replace(b"plain", b"pl\xe9in", 1))
    store = LocalStateStore(path)
    with store.locked(), pytest.raises(StateError, match="the state is not UTF-8"):
        store.read()


# --- the writer's encoder and the fingerprint ----------------------------------------------

_TEXT = st.text(st.characters(codec="utf-8"), max_size=12)  # quotes, escapes, controls
_TIME = st.none() | st.sampled_from(["2026-12-01T09:42:10Z", "1999-01-01T00:00:00Z"])
"""Times as the state holds them (they are validated as ISO 8601 UTC when read)."""


@st.composite
def _entries(draw: st.DrawFn) -> SpecEntry:
    def record() -> JobRecord:
        return JobRecord(
            hash=draw(st.sampled_from(["a" * 64, "b" * 32])),
            attempt=draw(st.integers(1, 999)),
            client_token=draw(st.none() | _TEXT),
            job_name=draw(_TEXT),
            domain_id=draw(_TEXT),
            kind=draw(st.sampled_from(["SpeakerEnrollmentJob", "FraudsterRegistrationJob"])),
            job_id=draw(st.none() | _TEXT),
            status=draw(st.none() | st.sampled_from(["IN_PROGRESS", "COMPLETED", "FAILED"])),
            percent_complete=draw(st.none() | st.integers(0, 100)),
            created_at=draw(_TIME),
            ended_at=draw(_TIME),
            intent_at=draw(_TIME),
            failure=draw(
                st.none()
                | st.builds(Failure, status_code=st.none() | st.integers(-1, 999), message=_TEXT)
            ),
            results=draw(st.none() | st.dictionaries(_TEXT, st.integers(0, 10**6), max_size=3)),
        )

    return SpecEntry(
        kind=draw(st.sampled_from(["SpeakerEnrollmentJob", "FraudsterRegistrationJob"])),
        name=draw(_TEXT),
        hash="c" * 64,
        domain_id=draw(_TEXT),
        jobs=[record() for _ in range(draw(st.integers(0, 2)))],
        history=[record() for _ in range(draw(st.integers(0, 1)))],
        request=draw(
            st.none() | st.just(json.dumps(REQUEST, sort_keys=True, separators=(",", ":")))
        ),
    )


@settings(max_examples=300, deadline=None)
@given(_entries())
def test_an_entry_is_written_as_json_dumps_with_sorted_keys_writes_it(entry: SpecEntry) -> None:
    """The writer encodes an entry with pydantic (its fields declared in sorted order), which
    must be the text json.dumps(sort_keys=True) gives: the line format does not change."""
    data = ENTRY.dump_python(entry, mode="json", by_alias=True)
    request = data.pop("request")
    dumped = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    expected = f'{dumped[:-1]},"request":{"null" if request is None else request}}}'
    assert state_module._entry_json(entry) == expected


def test_a_state_read_as_written_has_the_fingerprint_of_its_lines() -> None:
    state = _rich()
    text = state.to_json()
    read = statefile._parse_layout(text)
    assert read is not None
    assert read.read_fingerprint == state.fingerprint() == read.fingerprint()
    # when it was written is not what it says: another serial and time, the same fingerprint
    later = text.replace('"serial": 7,', '"serial": 8,').replace(
        '2026-12-01T00:00:00Z",\n  "orphans', '2027-01-01T00:00:00Z",\n  "orphans'
    )
    assert later != text
    again = statefile._parse_layout(later)
    assert again is not None
    assert again.read_fingerprint == read.read_fingerprint
    # anything else it says is another fingerprint
    changed = statefile._parse_layout(text.replace('"failures":1', '"failures":2'))
    assert changed is not None
    assert changed.read_fingerprint != read.read_fingerprint
    assert changed.read_fingerprint == changed.fingerprint()


def test_a_state_read_whole_is_fingerprinted_by_its_values() -> None:
    state = _rich()
    text = json.dumps(json.loads(state.to_json()), indent=4) + "\n"
    read = parse_state(text, "s.json")
    assert read.read_fingerprint is None
    assert read.fingerprint() == state.fingerprint()


def test_a_store_writes_nothing_for_a_state_read_and_left_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    rich = _rich()
    text = rich.to_json()
    path.write_text(text, encoding="utf-8")
    _mark(path, rich)
    store = LocalStateStore(path)
    with store.locked():
        state = store.read()
        store.write(state)  # unchanged: the file stays
        assert path.read_text(encoding="utf-8") == text
        state.specs["SpeakerEnrollmentJob/plain"].jobs[0].status = JobStatus.COMPLETED
        store.write(state)
    written = json.loads(path.read_text(encoding="utf-8"))
    assert written["serial"] == 8
    assert written["specs"]["SpeakerEnrollmentJob/plain"]["jobs"][0]["status"] == "COMPLETED"
