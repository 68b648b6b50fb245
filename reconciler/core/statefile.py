"""Reading the state file: line by line as :meth:`State.to_json` lays it out (the fast way),
or whole with a precise error for anything wrong — and older schema versions brought up to date.

The writer is :mod:`reconciler.core.state` (its lines are a contract both sides keep: one map
member or list item per line, compact and with sorted keys); this module never judges a file:
anything unlike the writer's lines is read whole by :func:`parse_state`, which finds the same
state or says precisely what is wrong with it.
"""

from __future__ import annotations

import hashlib
import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import pydantic_core
from pydantic import ValidationError

from reconciler.core.errors import StateError
from reconciler.core.state import (
    ENTRY,
    SCHEMA_VERSION,
    UNFINGERPRINTED,
    SpecEntry,
    State,
    entry_head,
    fingerprint_digest,
)


def parse_state(text: str, source: str, *, layout: bool = True) -> State:
    """A state from its JSON text; a clear :class:`StateError` for anything wrong with it.
    (``layout``: first try it as written, line by line — False when that was tried.)"""
    fast = _parse_layout(text) if layout else None
    if fast is not None:
        return fast
    recover = (
        f"the file is left untouched; restore {source}.backup or run "
        "'voiceid-reconciler state rebuild'"
    )
    try:
        data: Any = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKey as err:
        raise StateError(
            f"{source}: state has {err.key!r} twice (two versions merged by hand or by git?); "
            f"{recover}"
        ) from err
    except json.JSONDecodeError as err:
        raise StateError(
            f"{source}:{err.lineno}:{err.colno}: state is not valid JSON ({err.msg}); {recover}"
        ) from err
    except (ValueError, RecursionError) as err:  # absurd numbers, absurd nesting
        raise StateError(f"{source}: state is not a valid state file ({err}); {recover}") from err
    if not isinstance(data, dict):
        raise StateError(f"{source}: state must be a JSON object; {recover}")
    version = data.get("schemaVersion")
    if not isinstance(version, int):
        raise StateError(f"{source}: state has no schemaVersion; {recover}")
    if version > SCHEMA_VERSION:
        raise StateError(
            f"{source}: state schema version {version} is newer than this voiceid-reconciler "
            f"understands ({SCHEMA_VERSION}); upgrade voiceid-reconciler"
        )
    data = _migrate(data, version)
    try:
        return State.model_validate(data)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise StateError(f"{source}: state field {where}: {first['msg']}; {recover}") from err


class _Unlike(ValueError):
    """The text is not laid out as :meth:`State.to_json` writes it."""


_LAYOUT_FAILURES = (ValueError, TypeError, KeyError, RecursionError, ValidationError)


def _parse_layout(text: str) -> State | None:
    """:func:`read_layout` of a text."""
    return read_layout(_text_lines(text))


def read_layout(lines: Iterable[bytes] | Iterable[str]) -> State | None:
    """The state of a file laid out as :meth:`State.to_json` writes it, read one line at a
    time (``lines``: as a binary file or ``io.BytesIO`` gives them, ends included): each spec
    entry is validated as its line is read, so that neither the file's text nor a tree of its
    JSON values is ever held whole (at 50,000 specs each would be several times the state).

    None for a file laid out otherwise (formatted by hand or by a tool), of another schema
    version, or with any problem at all: the caller then reads it whole (:func:`parse_state`),
    which finds the same state — or says precisely what is wrong (this reader never judges)."""
    digest = fingerprint_digest()
    try:
        state = _read_layout(_decoded(lines, digest))
    except _LAYOUT_FAILURES:
        return None
    # The digest of the lines as read is the writer's fingerprint when they are its very
    # bytes. A line this reader takes that the writer would have written otherwise (a value
    # spaced by hand) gives another digest: the store then writes the state once more, or the
    # mark finds it edited — never a change left unwritten, as one digest means one text.
    state._read_fingerprint = digest.hexdigest()
    return state


def _text_lines(text: str) -> Iterator[str]:
    start = 0
    while (stop := text.find("\n", start)) >= 0:
        yield text[start : stop + 1]
        start = stop + 1
    if start < len(text):
        yield text[start:]  # no line end: not as written


def _decoded(lines: Iterable[bytes] | Iterable[str], digest: hashlib.blake2b) -> Iterator[str]:
    """The lines without their ends (UTF-8 decoded); a line without one is not as written.
    ``digest`` takes in each line, but those :meth:`State.fingerprint` leaves out."""
    for line in lines:
        # A state read as written has its fingerprint from these very lines (the writer's
        # bytes, less serial and observedAt): telling whether a run changed it then costs no
        # second encoding of every entry (fd56172: a full write at 10,000 specs 0.25 -> 0.1 s).
        if isinstance(line, bytes):
            text = line.decode()
            if not text.startswith(UNFINGERPRINTED):
                digest.update(line)
        else:
            text = line
            if not text.startswith(UNFINGERPRINTED):
                digest.update(text.encode())
        if not text.endswith("\n"):
            raise _Unlike
        yield text[:-1]


def _read_layout(lines: Iterator[str]) -> State:
    if next(lines, None) != "{":
        raise _Unlike
    data: dict[str, Any] = {}
    items: dict[str, Any] | list[Any] | None = None  # those of the map or list being read
    member = ""
    comma = True  # whether the previous item ended with a comma
    line = next(lines, None)
    while line is not None and (following := next(lines, None)) is not None:
        more = following != "}"  # another member follows
        if items is not None:
            if line.startswith("    "):
                if not comma:
                    raise _Unlike
                comma = line.endswith(",")
                _item(line[4:-1] if comma else line[4:], items, entries=member == "specs")
            else:
                closing = "  }" if isinstance(items, dict) else "  ]"
                if comma or line != closing + ("," if more else ""):
                    raise _Unlike
                data[member], items = items, None
        else:
            member = _member(line, data, more)
            if member:  # a map or list: its items follow
                items, comma = ({} if line.endswith("{") else []), True
        line = following
    # An older version is read whole, where _migrate brings it up to date first.
    if line != "}" or items is not None or data.get("schemaVersion") != SCHEMA_VERSION:
        raise _Unlike
    return State.model_validate(data)


def _member(line: str, data: dict[str, Any], more: bool) -> str:
    """A member of the state's object on its own line: read into ``data``, or (a map or a
    list whose items follow, one per line) its name."""
    if not line.startswith('  "'):
        raise _Unlike
    name, at = _key(line, 2)
    if name in data:
        raise _Unlike
    rest = line[at:]
    if rest in ("{", "["):
        return name
    if rest.endswith(",") != more:
        raise _Unlike
    data[name] = _LINE.decode(rest[:-1] if more else rest)
    return ""


def _item(text: str, items: dict[str, Any] | list[Any], *, entries: bool) -> None:
    """One item of a map or list, one line of its own (a spec entry validated at once)."""
    if isinstance(items, list):
        items.append(_LINE.decode(text))
        return
    key, at = _key(text, 0)
    if key in items:
        raise _Unlike
    # A spec's key and name, its hash and its manifest's URI are also the specs' own: kept once.
    items[sys.intern(key)] = _entry(text[at:]) if entries else _value(text, at)


def _value(line: str, start: int) -> Any:
    """The JSON value a line holds from ``start``: a string of printable characters without
    escapes (a map of ids, times or ETags: most of a state's other lines) is taken as it is
    written; anything else is decoded."""
    if line[start] == '"' and line[-1] == '"' and len(line) - start >= 2:
        text = line[start + 1 : -1]
        if '"' not in text and "\\" not in text and text.isprintable():
            return text
    return _LINE.decode(line[start:])


def _key(line: str, start: int) -> tuple[str, int]:
    """The key a map's line starts with at ``start`` (``"key": ``), and where its value starts."""
    end = line.find('": ', start)
    key = line[start + 1 : end]
    if end < 0 or line[start] != '"' or "\\" in key or '"' in key:  # escapes: the decoder
        key, end = _LINE.raw_decode(line, start)
        if not isinstance(key, str) or line[end : end + 2] != ": ":
            raise ValueError("not a key")
        return key, end + 2
    return key, end + 3


_REQUEST = ',"request":'
_CHECKED = {"checked": True}


def _entry(text: str) -> SpecEntry:
    """A spec entry from its line's value; its request, last as the writer puts it, is kept as
    the text it is (checked to be a JSON object) instead of being encoded again."""
    cut = text.rfind(_REQUEST)
    if cut < 0 or not text.endswith("}"):
        return ENTRY.validate_python(_LINE.decode(text))
    head = text[:cut] + "}"
    request = text[cut + len(_REQUEST) : -1]
    if not isinstance(pydantic_core.from_json(request), dict | None):
        raise ValueError("not a spec entry as written")
    # pydantic parses and validates the line at once (no tree of Python values between json
    # and the model), but its parser keeps the last of a key given twice where ours refuses it. So
    # the entry is encoded again and compared: a line that is the writer's very bytes holds no
    # key twice and no second request (the writer never writes one), so nothing was lost.
    entry = ENTRY.validate_json(head, context=_CHECKED)
    if entry_head(entry) != head.encode():
        # Not the writer's very line: read as any other text, refusing a key given twice.
        data = _LINE.decode(head)
        if "request" in data:
            raise ValueError("not a spec entry as written")
        entry = ENTRY.validate_python(data, context=_CHECKED)
    # The request stays the text it was read as (checked above to be an object): it is only
    # ever parsed to be compared (SpecEntry.request_data), and written back as it was read.
    entry.request = None if request == "null" else request
    entry.domain_id = sys.intern(entry.domain_id)  # a few domains, thousands of copies
    entry.name, entry.hash = sys.intern(entry.name), sys.intern(entry.hash)
    for record in entry.jobs:  # the same values, once (a large state is mostly strings)
        record.domain_id = sys.intern(record.domain_id)
        if record.hash == entry.hash:
            record.hash = entry.hash
    return entry


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (JSON would silently keep the last)."""
    # A key twice is what a merge of two versions of the file makes (each side changed the
    # same spec's line, and both lines were kept): keeping the last would drop the other
    # line's jobs, and a job the state forgot is started a second time. Counting first keeps
    # the common case, no key twice, at the cost of one dict.
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return result


_LINE = json.JSONDecoder(object_pairs_hook=_no_duplicate_keys)


def _migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Bring an older schema up to :data:`SCHEMA_VERSION`: version 1 lacks only ``removed``,
    version 2 the entries' ``request``, version 3 the notification ledger, version 4 the
    approvals (all optional)."""
    # Every version so far only added members that may be empty, so there is nothing to move
    # or convert: a version that changes what a member means converts it here, as the models
    # know only the current schema. The version is brought up too, so the next write says
    # what it holds: an older reconciler then asks to be upgraded instead of failing on a
    # member it does not know, and the next read is line by line (only the current version is).
    if version < SCHEMA_VERSION:
        data = {**data, "schemaVersion": SCHEMA_VERSION}
    return data
