"""Rules of reading the state file: the writer's lines read one at a time, anything else read
whole with a precise error, older versions brought up to date (reconciler.core.statefile)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from reconciler.core.errors import StateError
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import SCHEMA_VERSION, JobRecord, SinkLedger, SpecEntry, State
from reconciler.core.statefile import parse_state, read_layout

D = "D" * 22
H = "a" * 64
RECOVER = (
    "the file is left untouched; restore s.json.backup or run 'voiceid-reconciler state rebuild'"
)


def _state() -> State:
    state = State(lineage="L", serial=4, observed_at="2026-12-01T09:42:10Z")
    state.domains = {"main": D, 'esc"aped': "E" * 22, "tab\there": "F" * 22}
    state.manifests = {"s3://b/m.json": "etag-1"}
    record = JobRecord(
        attempt=1,
        domain_id=D,
        hash=H,
        job_name="n-1",
        job_id="j1",
        kind=JobKind.ENROLLMENT,
        status=JobStatus.FAILED,
        failure=Failure(status_code=400, message="m"),
    )
    state.specs = {
        "SpeakerEnrollmentJob/n": SpecEntry(
            domain_id=D,
            hash=H,
            kind=JobKind.ENROLLMENT,
            name="n",
            jobs=[record],
            request='{"a":1}',
        ),
        "SpeakerEnrollmentJob/m": SpecEntry(domain_id=D, hash=H, kind=JobKind.ENROLLMENT, name="m"),
    }
    state.orphans = [record]
    state.notified = {"s": SinkLedger(delivered=["x"])}
    return state


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def _error(text: str) -> str:
    with pytest.raises(StateError) as caught:
        parse_state(text, "s.json")
    return str(caught.value)


# --- the writer's lines ---------------------------------------------------------------------


def test_the_writers_lines_are_read_line_by_line() -> None:
    """A state as written is read a line at a time, as text or bytes, to the same state, with
    the fingerprint of its lines."""
    state = _state()
    text = state.to_json()
    for lines in (_lines(text), io.BytesIO(text.encode())):
        read = read_layout(lines)
        assert read is not None
        assert read.to_json() == text
        assert read.read_fingerprint == state.fingerprint()
    empty = State()
    read = read_layout(_lines(empty.to_json()))
    assert read is not None
    assert read.to_json() == empty.to_json()
    parsed = parse_state(text, "s.json")
    assert parsed.to_json() == text
    assert parsed.read_fingerprint == state.fingerprint()
    assert parsed.specs["SpeakerEnrollmentJob/n"].request == '{"a":1}'
    assert parsed.specs["SpeakerEnrollmentJob/m"].request is None


def test_the_fingerprint_read_leaves_serial_and_observed_at_out() -> None:
    """Lines that say when the state was written are not in the fingerprint read."""
    state = _state()
    later = _state()
    later.serial, later.observed_at = 9, "2026-12-02T00:00:00Z"
    first = read_layout(_lines(state.to_json()))
    second = read_layout(_lines(later.to_json()))
    assert first is not None
    assert second is not None
    assert first.read_fingerprint == second.read_fingerprint


def test_a_text_read_whole_has_no_fingerprint_read() -> None:
    """layout=False, or a file laid out otherwise, is read whole: the same state, no
    fingerprint of lines."""
    state = _state()
    whole = parse_state(state.to_json(), "s.json", layout=False)
    assert whole.to_json() == state.to_json()
    assert whole.read_fingerprint is None
    pretty = json.dumps(json.loads(state.to_json()), indent=4)
    assert read_layout(_lines(pretty)) is None
    assert parse_state(pretty, "s.json").to_json() == state.to_json()


@pytest.mark.parametrize(
    "edit",
    [
        lambda t: t.rstrip("\n"),  # the last line without its end
        lambda t: t.replace("{\n", "{ \n", 1),  # the first line otherwise
        lambda t: t.replace(
            '"orphans": [\n', '"orphans": [\n    1\n', 1
        ),  # an item without a comma before the next
        lambda t: t.replace(
            '  },\n  "lineage"', '  }\n  "lineage"', 1
        ),  # a member without its comma
        lambda t: t.replace('  "serial": 4,\n', '  "serial": 4\n', 1),
        lambda t: t.replace('  "serial": 4,\n', '  "serial": 4,\n  "serial": 4,\n', 1),  # twice
        lambda t: t.replace('    "main": ', '    "main": "x",\n    "main": ', 1),  # a key twice
        lambda t: t.replace('"schemaVersion": 5', '"schemaVersion": 4', 1),  # another version
        lambda t: t.replace('"domains": {\n', "domains: {\n", 1),
        lambda t: t + "\n",  # something after the end
        lambda t: t[: t.rindex("}")],  # no end at all
        lambda t: t.replace('  ],\n  "provisional"', '  ]\n  "provisional"', 1),
        lambda t: t.replace("\n  },\n", "\n  ],\n", 1),  # a map closed as a list
        lambda t: t.replace('"etag-1"\n', '"etag-1",\n', 1),  # a comma after a map's last item
    ],
)
def test_anything_unlike_the_writers_lines_is_not_read_line_by_line(edit: Any) -> None:
    """The line reader returns None for any line the writer would not have written there;
    the whole reader then decides."""
    text = edit(_state().to_json())
    assert text != _state().to_json()
    assert read_layout(_lines(text)) is None


def test_values_with_escapes_are_decoded() -> None:
    """A key or a value with an escape, or a value that is not a plain string, is decoded."""
    state = _state()
    read = read_layout(_lines(state.to_json()))
    assert read is not None
    assert read.domains == {"main": D, 'esc"aped': "E" * 22, "tab\there": "F" * 22}
    state.manifests = {"s3://b/m.json": 'quo"te', "x": "tab\tted", "y": ""}
    read = read_layout(_lines(state.to_json()))
    assert read is not None
    assert read.manifests == state.manifests


def test_an_entry_line_spelled_otherwise_is_read_by_its_values() -> None:
    """An entry whose line is not the writer's very bytes (spaces, another key order) is read
    by value; a key given twice in it is refused."""
    text = _state().to_json()
    spaced = text.replace('{"domainId":', '{ "domainId":', 1)
    read = read_layout(_lines(spaced))
    assert read is not None
    assert read.specs == _state().specs
    twice = text.replace('{"domainId":', '{"name":"x","domainId":', 1)
    assert read_layout(_lines(twice)) is None
    request_twice = text.replace('{"domainId":', '{"request":{"b":2},"domainId":', 1)
    assert read_layout(_lines(request_twice)) is None


def test_an_entry_whose_request_is_not_an_object_is_not_read_line_by_line() -> None:
    """A request that is a list or a number is refused (read whole: an error)."""
    text = _state().to_json().replace(',"request":{"a":1}}', ',"request":[1]}', 1)
    assert read_layout(_lines(text)) is None
    assert "request" in _error(text)


def test_an_entry_without_a_request_member_is_decoded() -> None:
    """An entry line that does not end with the writer's request is read by its values."""
    text = _state().to_json().replace(',"request":null}', "}", 1)
    read = read_layout(_lines(text))
    assert read is not None
    assert read.specs["SpeakerEnrollmentJob/m"].request is None


# --- read whole -----------------------------------------------------------------------------


def test_a_key_given_twice_is_refused() -> None:
    """A key twice (two versions merged) is an error naming it, never the last one kept."""
    text = '{"schemaVersion": 5, "domains": {"a": "x", "a": "y"}}'
    assert _error(text) == (
        f"s.json: state has 'a' twice (two versions merged by hand or by git?); {RECOVER}"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            '{"schemaVersion": 5,\n  x}',
            f"s.json:2:3: state is not valid JSON (Expecting property name enclosed in double quotes); {RECOVER}",
        ),
        ("[1]", f"s.json: state must be a JSON object; {RECOVER}"),
        ('{"serial": 1}', f"s.json: state has no schemaVersion; {RECOVER}"),
        ('{"schemaVersion": "5"}', f"s.json: state has no schemaVersion; {RECOVER}"),
        (
            '{"schemaVersion": 6}',
            f"s.json: state schema version 6 is newer than this voiceid-reconciler understands "
            f"({SCHEMA_VERSION}); upgrade voiceid-reconciler",
        ),
        (
            '{"schemaVersion": 5, "serial": "x"}',
            f"s.json: state field serial: Input should be a valid integer, unable to parse string as an integer; {RECOVER}",
        ),
        (
            '{"schemaVersion": 5, "domains": {"a": 1}}',
            f"s.json: state field domains.a: Input should be a valid string; {RECOVER}",
        ),
    ],
)
def test_what_is_wrong_is_said_precisely(text: str, message: str) -> None:
    """Where JSON breaks, what is not a state, a newer version, the first invalid field."""
    assert _error(text) == message


def test_absurd_numbers_and_nesting_are_errors() -> None:
    """A number too long to read, or nesting too deep, is an error, not a crash."""
    huge = '{"schemaVersion": 5, "serial": ' + "9" * 5000 + "}"
    assert _error(huge).startswith("s.json: state is not a valid state file (")
    deep = '{"schemaVersion": 5, "x": ' + "[" * 100_000 + "]" * 100_000 + "}"
    assert _error(deep).startswith("s.json: state is not a valid state file (")


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_an_older_version_is_read_and_brought_up(version: int) -> None:
    """An older schema is read whole and comes out as the current version."""
    text = json.dumps({"schemaVersion": version, "lineage": "L", "serial": 2})
    state = parse_state(text, "s.json")
    assert (state.schema_version, state.lineage, state.serial) == (SCHEMA_VERSION, "L", 2)
    assert state.read_fingerprint is None


@pytest.mark.parametrize(
    "line",
    [
        '    "k": 5"',  # a value that only ends like a string
        '    "k": "',  # a lone quote
        '    "k": "a"b"',  # a quote inside a string
        '    k": "v"',  # a key that does not start with a quote
        '    "a"b": "v"',  # a quote inside a key
        '    "a\\\\b"x "v"',  # an escaped key followed by anything but ': '
    ],
)
def test_a_line_json_cannot_read_is_never_taken(line: str) -> None:
    """A map's line that is not JSON is not read line by line (the whole reader refuses it)."""
    text = _state().to_json().replace('    "s3://b/m.json": "etag-1"', line, 1)
    assert read_layout(_lines(text)) is None
    with pytest.raises(StateError):
        parse_state(text, "s.json")


def test_an_entry_line_with_a_trailing_space_is_read_line_by_line() -> None:
    """Space after an entry's value is JSON's own: the line is read by its values."""
    text = _state().to_json().replace(',"request":null}', ',"request":null} ', 1)
    read = read_layout(_lines(text))
    assert read is not None
    assert read.specs == _state().specs


def test_the_key_given_twice_is_the_one_named() -> None:
    """Of several keys, the one given twice is named."""
    text = '{"schemaVersion": 5, "domains": {"b": "x", "a": "x", "c": "x", "a": "y"}}'
    assert _error(text).startswith("s.json: state has 'a' twice")
