"""A world of your own for the sandbox: one small YAML file (docs/sandbox.md has the reference).

``voiceid-reconciler sandbox serve --world FILE`` (and ``sandbox seed FILE`` against a running
sandbox, ``Sandbox.seed_world(FILE)`` in Python) creates what the file declares::

    apiVersion: voiceid-sandbox/v1          # optional
    knobs: {max_active_jobs: 1}             # sandbox knobs (SandboxConfig), applied first
    kmsKeys: [{aliases: [alias/voiceid]}]   # KMS keys, by alias; enabled unless enabled: false
    buckets: [acme-voiceid]
    audio: [s3://acme-voiceid/audio/caller-01.wav]         # short 8 kHz PCM-16 WAV recordings
    objects: [{uri: s3://acme-voiceid/x.json, text: ...}]  # or json:, file:, base64:
    manifests:                              # Voice ID manifest JSON written from a roster
      - {uri: s3://acme-voiceid/manifests/a.json, speakers: [{speakerId: c-1, audio: [...]}]}
    domains:
      - name: contact-center-prod           # status ACTIVE | PENDING | SUSPENDED
        watchlists: [fraud-ring]            # besides the default one every domain has
        jobs:                               # jobs that exist already, started by hand
          - {kind: SpeakerEnrollmentJob, name: pilot, status: COMPLETED, ended: 2d ago}

Reading is in two steps. :func:`read_world` parses the YAML keeping each value's position
(PyYAML's node marks: the sandbox may not import the reconciler's own loader), refusing
duplicate keys, more than one document, oversized or binary files and alias bombs. Then
:meth:`WorldFile.parse` checks every field at once against a clock (times like ``2h ago``
are relative to the sandbox's) and returns a :class:`World`, or raises :class:`WorldError`
whose lines read ``world.yaml:12:7: domains[0].status: must be one of ...``. Problems are kept
as field paths, so an error found later, by the sandbox while it seeds (a quota), is located
in the file too (:meth:`WorldError.located`).

Speaker ids are personal data even in a test world: no message echoes one.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import difflib
import json
import re
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

API_VERSION = "voiceid-sandbox/v1"
MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_NODES = 200_000
"""A file whose values (aliases expanded) outnumber this is refused: an alias bomb."""
MAX_DEPTH = 64
MAX_AUDIO_PER_REQUEST = 10
DEFAULT_ROLE_NAME = "VoiceIdBatchDataAccess"
BY_HAND_BUCKET = "voiceid-sandbox-by-hand"
"""Where a seeded job's input and output point when the world does not say (only shown by
Describe; a seeded job reads and writes nothing)."""

KINDS = {
    "SpeakerEnrollmentJob": "SpeakerEnrollment",
    "FraudsterRegistrationJob": "FraudsterRegistration",
}
"""The job kinds a world names (as specs do), and the stem of their Voice ID operations."""
DOMAIN_STATUSES = ("ACTIVE", "PENDING", "SUSPENDED")
ACTIVE_STATUSES = ("SUBMITTED", "IN_PROGRESS")
ENDED_STATUSES = ("COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED")
SUBMITTED_FRACTION = 0.1
"""A sandbox job is SUBMITTED for this fraction of its run, then IN_PROGRESS (``state.Job``)."""
DEFAULT_RUN = 3600.0
"""Seconds a seeded job runs when the world gives only one end of it."""
DEFAULT_FAILURE = {"StatusCode": 400, "Message": "The job failed (a job of the sandbox world)"}

_NAME = "^[a-zA-Z0-9][a-zA-Z0-9_-]*$"  # Voice ID's names (domain, watchlist, job, speaker id)
_ROLE_ARN = "^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$"
_S3_URI = re.compile(r"^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$")
_BUCKET = re.compile(r"^[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9]$")
_ALIAS = re.compile(r"^alias/[a-zA-Z0-9/_-]{1,250}$")
_RELATIVE = re.compile(
    r"^(?:(?P<future>in)\s+)?(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>s|m|h|d)(?:\s+(?P<past>ago))?$"
)
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

Where = tuple[str | int, ...]
"""A field's path in the world: ``("domains", 0, "status")``."""


# --- problems and where they are ----------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a world, at a field path (``at_key``: point at the field's name,
    for a field that should not be there)."""

    where: Where
    message: str
    at_key: bool = False
    place: tuple[int, int] | None = None
    """Its line and column when known apart from the path (a key given twice)."""


def dotted(where: Where) -> str:
    """``domains[0].jobs[1].status``."""
    out = ""
    for part in where:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class Positions:
    """Where each value (and each mapping key) of a world stands in its file (1-based line
    and column); empty for a world that did not come from a file."""

    source: str
    values: dict[Where, tuple[int, int]] = field(default_factory=dict)
    keys: dict[Where, tuple[int, int]] = field(default_factory=dict)

    def place_of(self, problem: Problem) -> tuple[int, int] | None:
        """The line and column of a problem: its own, its key's, or its value's (else the
        nearest enclosing value's)."""
        if problem.place is not None:
            return problem.place
        where = problem.where
        place = self.keys.get(where) if problem.at_key else None
        while place is None:
            place = self.values.get(where)
            if not where:
                break
            where = where[:-1]
        return place

    def locate(self, problem: Problem) -> str:
        """``source:line:column: path: message`` (the nearest position known)."""
        place = self.place_of(problem)
        prefix = self.source if place is None else f"{self.source}:{place[0]}:{place[1]}"
        path = dotted(problem.where)
        return f"{prefix}: {path}: {problem.message}" if path else f"{prefix}: {problem.message}"


class WorldError(ValueError):
    """Every problem of a world (or the one that stopped its seeding), located when its file
    is known; ``str()`` is one line per problem."""

    def __init__(self, problems: Sequence[Problem], positions: Positions | None = None) -> None:
        self.problems = tuple(problems)
        self.positions = positions or Positions("world")
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One ``file:line:column: path: message`` line per problem, in file order."""
        return [self.positions.locate(p) for p in _in_file_order(self.problems, self.positions)]

    def located(self, positions: Positions) -> WorldError:
        """The same problems, located in the file ``positions`` describes."""
        return WorldError(self.problems, positions)

    def to_wire(self) -> list[dict[str, Any]]:
        """The problems as JSON (the admin endpoint's answer)."""
        return [
            {"where": list(p.where), "message": p.message, "atKey": p.at_key} for p in self.problems
        ]

    @classmethod
    def from_wire(cls, problems: Any, positions: Positions) -> WorldError:
        """The problems of :meth:`to_wire`, located in the client's file."""
        found = [
            Problem(tuple(p.get("where") or ()), str(p.get("message")), bool(p.get("atKey")))
            for p in problems
            if isinstance(p, dict)
        ]
        return cls(found or [Problem((), "the sandbox refused the world")], positions)


def _in_file_order(problems: Iterable[Problem], positions: Positions) -> list[Problem]:
    def key(problem: Problem) -> tuple[int, int, str]:
        line, column = positions.place_of(problem) or (0, 0)
        return line, column, problem.message

    return sorted(problems, key=key)


# --- the YAML, with positions -------------------------------------------------------------------


class _TooBig(Exception):
    pass


class _Builder:
    """Turns a YAML node tree into plain data and the position of every value and key."""

    def __init__(self, loader: yaml.SafeLoader, positions: Positions) -> None:
        self.loader = loader
        self.positions = positions
        self.problems: list[Problem] = []
        self.count = 0

    def build(self, node: yaml.Node, where: Where = ()) -> Any:
        self.count += 1
        if self.count > MAX_NODES or len(where) > MAX_DEPTH:
            raise _TooBig
        mark = node.start_mark
        self.positions.values[where] = (mark.line + 1, mark.column + 1)
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, where)
        if isinstance(node, yaml.SequenceNode):
            return [self.build(child, (*where, i)) for i, child in enumerate(node.value)]
        try:
            return self.loader.construct_object(node, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, LookupError, ArithmeticError) as err:
            shown = str(node.value) if len(str(node.value)) <= 40 else str(node.value)[:37] + "..."
            tag = str(node.tag).rsplit(":", 1)[-1]
            reason = getattr(err, "problem", None) or str(err).splitlines()[0]
            self.problems.append(Problem(where, f"cannot read {shown!r} as {tag} ({reason})"))
            return None

    def _mapping(self, node: yaml.MappingNode, where: Where) -> dict[str, Any]:
        try:
            self.loader.flatten_mapping(node)  # merge keys (<<), as the safe loader does
        except yaml.YAMLError as err:
            self.problems.append(Problem(where, f"YAML: {getattr(err, 'problem', err)}"))
            return {}
        result: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                self.problems.append(Problem(where, "a key must be a name, not a list or mapping"))
                continue
            key = str(key_node.value)
            mark = key_node.start_mark
            if key in result:
                place = (mark.line + 1, mark.column + 1)
                self.problems.append(Problem((*where, key), "duplicate key", place=place))
                continue
            self.positions.keys[(*where, key)] = (mark.line + 1, mark.column + 1)
            result[key] = self.build(value_node, (*where, key))
        return result


def read_world(path: Path | str) -> WorldFile:
    """A world file's data with the position of each value; raises :class:`WorldError` (one
    line) for a file that is not a readable YAML world."""
    source = str(path)
    positions = Positions(source)

    def refuse(message: str, line: int = 0, column: int = 0) -> WorldError:
        return WorldError([Problem((), message, place=(line, column) if line else None)], positions)

    file = Path(path)
    try:
        if not file.is_file():
            raise refuse("no such file" if not file.exists() else "not a regular file")
        if file.stat().st_size > MAX_FILE_BYTES:
            raise refuse(f"file is over the {MAX_FILE_BYTES:,}-byte limit")
        raw = file.read_bytes()
    except OSError as err:
        raise refuse(f"cannot read file: {err.strerror or err}") from err
    if b"\0" in raw:
        raise refuse("binary file (contains NUL bytes), not YAML")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise refuse(f"not UTF-8 (invalid byte 0x{raw[err.start]:02x})") from err
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise refuse("empty file: expected a world (a mapping of domains, buckets, ...)")
        builder = _Builder(loader, positions)
        data = builder.build(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (0, 0)
        raise refuse(f"YAML: {err.problem or err.context}", line, column) from err
    except yaml.YAMLError as err:
        raise refuse(f"YAML: {str(err).splitlines()[0] if str(err) else 'invalid'}") from err
    except (_TooBig, RecursionError) as err:
        raise refuse("nesting too deep or too large (an alias bomb?)") from err
    finally:
        loader.dispose()
    return WorldFile(data, positions, file.parent, tuple(builder.problems))


# --- the world, checked -------------------------------------------------------------------------


@dataclass(frozen=True)
class KmsKey:
    """A KMS key, known by its aliases."""

    where: Where
    aliases: tuple[str, ...]
    description: str | None
    enabled: bool


@dataclass(frozen=True)
class S3Object:
    """An object to write: ``body`` None for a recording (an 8 kHz WAV made when seeded)."""

    where: Where
    uri: str
    body: bytes | None
    content_type: str

    @property
    def bucket(self) -> str:
        return self.uri[len("s3://") :].partition("/")[0]

    @property
    def key(self) -> str:
        return self.uri[len("s3://") :].partition("/")[2]


@dataclass(frozen=True)
class SeededJob:
    """A job that exists already: ended (``status`` set) or active until ``ended_at``, when it
    ends as ``outcome``. A seeded job reads no manifest and writes no output file."""

    where: Where
    kind: str
    """``SpeakerEnrollment`` or ``FraudsterRegistration`` (the sandbox's job kinds)."""
    name: str
    created_at: float
    ended_at: float
    status: str | None
    """The final status of a job that ended; None while it runs."""
    outcome: str | None
    failure: dict[str, Any] | None
    manifest: str
    output: str
    kms_key: str | None
    role_arn: str | None
    """None: the sandbox account's ``VoiceIdBatchDataAccess`` role."""


@dataclass(frozen=True)
class WorldDomain:
    """A domain, its watchlists besides the default one, and its jobs."""

    where: Where
    name: str
    status: str
    kms_alias: str
    description: str | None
    watchlists: tuple[tuple[Where, str], ...]
    jobs: tuple[SeededJob, ...]


@dataclass(frozen=True)
class World:
    """What a world file asks for, checked."""

    knobs: dict[str, Any]
    kms_keys: tuple[KmsKey, ...]
    buckets: tuple[tuple[Where, str], ...]
    objects: tuple[S3Object, ...]
    """Recordings, objects and manifests, in that order."""
    domains: tuple[WorldDomain, ...]
    warnings: tuple[Problem, ...] = ()


@dataclass(frozen=True)
class WorldFile:
    """A world's data as read (from a file or a request) and where its values stand."""

    data: Any
    positions: Positions
    base_dir: Path | None = None
    """Where ``file:`` bodies are read from; None (a world sent over HTTP): not allowed."""
    read_problems: tuple[Problem, ...] = ()
    """What reading the YAML found (a key twice, a value that is not what its tag says):
    reported by :meth:`parse` with every other problem."""

    @classmethod
    def of_data(cls, data: Any, source: str = "world") -> WorldFile:
        """A world given as data (JSON), with no file positions."""
        return cls(data, Positions(source))

    def parse(self, now: float) -> World:
        """The world, every field checked; times are relative to ``now`` (epoch seconds)."""
        reader = _Reader(now, self.base_dir)
        world = reader.world(self.data)
        if reader.problems or self.read_problems:
            raise WorldError([*self.read_problems, *reader.problems], self.positions)
        assert world is not None
        return world

    def warning_lines(self, world: World) -> list[str]:
        """The world's warnings as located lines (``file:line:column: warning: ...``)."""
        return [
            self.positions.locate(Problem(w.where, f"warning: {w.message}", w.at_key))
            for w in _in_file_order(world.warnings, self.positions)
        ]

    def wire(self) -> Any:
        """The data as JSON (for ``POST /_sandbox/world``): timestamps as ISO 8601 text, and
        each object's ``file`` read and sent as ``base64`` (the server reads no files)."""
        data = _jsonable(self.data)
        objects = data.get("objects") if isinstance(data, dict) else None
        if isinstance(objects, list) and self.base_dir is not None:
            for entry in objects:
                if isinstance(entry, dict) and isinstance(entry.get("file"), str):
                    body = _read_body_file(self.base_dir, entry.pop("file"))
                    entry["base64"] = base64.b64encode(body).decode()
        return data


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | set | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return value


def _read_body_file(base_dir: Path, relative: str) -> bytes:
    """An object's body from a file beside the world file: a regular file (a FIFO would block)
    of at most :data:`MAX_FILE_BYTES`."""
    path = base_dir / relative
    info = path.stat()
    if not stat.S_ISREG(info.st_mode):
        raise OSError("not a regular file")
    if info.st_size > MAX_FILE_BYTES:
        raise OSError(f"over the {MAX_FILE_BYTES:,}-byte limit")
    return path.read_bytes()


_DESCRIBED: tuple[tuple[type | tuple[type, ...], str], ...] = (
    (type(None), "nothing"),
    (bool, "true/false"),  # before int: a bool is an int
    ((int, float), "a number"),
    (str, "text"),
    (list, "a list"),
    (dict, "a mapping"),
    ((dt.datetime, dt.date), "a timestamp"),
)


def _describe(value: Any) -> str:
    """What a value is, in a user's words (for "must be ..., not a list")."""
    for types, words in _DESCRIBED:
        if isinstance(value, types):
            return words
    return type(value).__name__


FIELDS: dict[str, tuple[str, ...]] = {
    "": ("apiVersion", "knobs", "kmsKeys", "buckets", "audio", "objects", "manifests", "domains"),
    "kmsKeys[]": ("aliases", "description", "enabled"),
    "objects[]": ("uri", "contentType", "text", "json", "file", "base64"),
    "manifests[]": ("uri", "speakers", "fraudsters"),
    "manifests[].speakers[]": ("speakerId", "audio"),
    "manifests[].fraudsters[]": ("audio",),
    "manifests[].speakers[].audio[]": ("uri", "channel"),  # a fraudster's audio alike
    "domains[]": ("name", "status", "kmsKey", "description", "watchlists", "jobs"),
    "domains[].jobs[]": (
        "kind",
        "name",
        "status",
        "created",
        "ended",
        "ends",
        "outcome",
        "failure",
        "manifest",
        "output",
        "kmsKey",
        "role",
    ),
    "domains[].jobs[].failure": ("statusCode", "message"),
}
"""Every field of a world's mappings, by the path of the mapping (docs/sandbox.md lists them
all: ``tests/sandbox/test_world.py``)."""


class _Reader:
    """Checks a world's data, collecting every problem (with its field path)."""

    def __init__(self, now: float, base_dir: Path | None) -> None:
        self.now = now
        self.base_dir = base_dir
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    # --- building blocks

    def fail(self, where: Where, message: str, *, at_key: bool = False) -> None:
        self.problems.append(Problem(where, message, at_key))

    def fields(
        self, value: Any, where: Where, allowed: Sequence[str], required: Sequence[str] = ()
    ) -> dict[str, Any] | None:
        """``value`` as a mapping of known fields (None, and a problem, when it is not one)."""
        if not isinstance(value, dict):
            self.fail(where, f"must be a mapping ({', '.join(allowed)}), not {_describe(value)}")
            return None
        for key in value:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                hint = (
                    f"; did you mean '{close[0]}'?" if close else f"; expected {', '.join(allowed)}"
                )
                self.fail((*where, key), f"unknown field '{key}'{hint}", at_key=True)
        for name in required:
            if value.get(name) is None:
                self.fail(where, f"missing required field '{name}'")
        return value

    def items(self, value: Any, where: Where, what: str) -> list[tuple[Where, Any]]:
        if value is None:
            return []
        if not isinstance(value, list):
            self.fail(where, f"must be a list of {what}, not {_describe(value)}")
            return []
        return [((*where, i), item) for i, item in enumerate(value)]

    def text(
        self,
        value: Any,
        where: Where,
        *,
        pattern: str | re.Pattern[str] | None = None,
        hint: str = "",
        max_length: int = 1024,
    ) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            self.fail(where, f"must be text{', ' + hint if hint else ''}, not {_describe(value)}")
            return None
        if not value or len(value) > max_length:
            self.fail(where, f"must be 1 to {max_length} characters")
            return None
        matches = (
            (re.fullmatch(pattern, value) if isinstance(pattern, str) else pattern.fullmatch(value))
            if pattern is not None
            else True
        )
        if not matches:
            self.fail(where, f"must be {hint}")
            return None
        return value

    def name(self, value: Any, where: Where, what: str) -> str | None:
        return self.text(
            value,
            where,
            pattern=_NAME,
            max_length=256,
            hint=f"a {what}: letters, digits, '_' or '-', starting with a letter or digit",
        )

    def choice(
        self, value: Any, where: Where, choices: Sequence[str], default: str | None
    ) -> str | None:
        if value is None:
            return default
        if value not in choices:
            shown = repr(value) if isinstance(value, str) else _describe(value)
            self.fail(where, f"must be one of {', '.join(choices)}, not {shown}")
            return None
        return str(value)

    def boolean(self, value: Any, where: Where, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            self.fail(where, f"must be true or false, not {_describe(value)}")
            return default
        return value

    def uri(
        self, value: Any, where: Where, *, buckets: Iterable[str] = (), key: bool = True
    ) -> str | None:
        """An S3 URI (of an object when ``key``); in one of ``buckets`` when they are given."""
        uri = self.text(value, where, pattern=_S3_URI, hint="an S3 URI such as s3://bucket/key")
        if uri is None:
            return None
        bucket, _, object_key = uri[len("s3://") :].partition("/")
        if key and (not object_key or object_key.endswith("/")):
            self.fail(where, "must name an object (s3://bucket/key), not a prefix")
            return None
        known = list(buckets)
        if known and bucket not in known:
            close = difflib.get_close_matches(bucket, known, n=1, cutoff=0.6)
            hint = f"did you mean '{close[0]}'?" if close else "add it to buckets"
            self.fail(where, f"bucket '{bucket}' is not one of the world's buckets; {hint}")
            return None
        return uri

    def moment(self, value: Any, where: Where) -> float | None:
        """A time: ``now``, ``2h ago``, ``in 10m`` (s, m, h, d) or an ISO 8601 timestamp (UTC
        unless it says otherwise)."""
        if isinstance(value, dt.datetime):
            moment = value if value.tzinfo else value.replace(tzinfo=dt.UTC)
            return moment.timestamp()
        if isinstance(value, dt.date):
            return dt.datetime(value.year, value.month, value.day, tzinfo=dt.UTC).timestamp()
        if isinstance(value, str):
            text = value.strip()
            if text == "now":
                return self.now
            match = _RELATIVE.match(text)
            if match and bool(match["future"]) != bool(match["past"]):
                seconds = float(match["amount"]) * _UNIT_SECONDS[match["unit"]]
                return self.now + seconds if match["future"] else self.now - seconds
            try:
                return self.moment(dt.datetime.fromisoformat(text), where)
            except ValueError:
                pass
        self.fail(
            where,
            "must be a time: now, '<n><s|m|h|d> ago', 'in <n><s|m|h|d>' or an ISO 8601 "
            "timestamp (2026-01-31T09:00:00Z)",
        )
        return None

    # --- sections

    def world(self, data: Any) -> World | None:
        top = self.fields(data, (), FIELDS[""])
        if top is None:
            return None
        version = top.get("apiVersion")
        if version is not None and version != API_VERSION:
            self.fail(("apiVersion",), f"must be {API_VERSION}")
        knobs = self.knobs(top.get("knobs"))
        keys = self.kms_keys(top.get("kmsKeys"))
        buckets = self.buckets(top.get("buckets"))
        names = [name for _, name in buckets]
        audio = self.audio(top.get("audio"), names)
        objects = self.objects(top.get("objects"), names)
        manifests = self.manifests(top.get("manifests"), names)
        written = [*audio, *objects, *manifests]
        self.unique((o.where, o.uri) for o in written)
        self.unwritten_audio(top.get("manifests"), {o.uri for o in written}, names)
        domains = self.domains(top.get("domains"), keys)
        return World(knobs, keys, tuple(buckets), tuple(written), domains, tuple(self.warnings))

    def knobs(self, value: Any) -> dict[str, Any]:
        from reconciler.sandbox.config import SandboxConfig

        if value is None:
            return {}
        known = [f for f in SandboxConfig.__dataclass_fields__ if not f.startswith("_")]
        allowed = sorted([*known, "profile"])
        given = self.fields(value, ("knobs",), allowed)
        knobs: dict[str, Any] = {}
        for name, knob in (given or {}).items():
            if name not in allowed:
                continue
            try:
                SandboxConfig().with_knobs(**{name: knob})
            except ValueError as err:
                self.fail(("knobs", name), str(err))
                continue
            knobs[name] = knob
        return knobs

    def kms_keys(self, value: Any) -> tuple[KmsKey, ...]:
        keys = []
        seen: dict[str, Where] = {}
        for where, entry in self.items(value, ("kmsKeys",), "KMS keys"):
            given = self.fields(entry, where, FIELDS["kmsKeys[]"], ("aliases",))
            if given is None:
                continue
            aliases = []
            for at, alias in self.items(given.get("aliases"), (*where, "aliases"), "aliases"):
                checked = self.text(
                    alias,
                    at,
                    pattern=_ALIAS,
                    hint="an alias name such as alias/voiceid",
                    max_length=256,
                )
                if checked is None:
                    continue
                if checked.startswith("alias/aws/"):
                    self.fail(at, "alias/aws/ names are AWS's own")
                    continue
                if checked in seen:
                    self.fail(
                        at, f"alias {checked} is given twice (first at {dotted(seen[checked])})"
                    )
                    continue
                seen[checked] = at
                aliases.append(checked)
            if "aliases" in given and given["aliases"] == []:
                self.fail(
                    (*where, "aliases"), "must have at least one alias (how the key is named)"
                )
            description = self.text(
                given.get("description"), (*where, "description"), max_length=8192
            )
            enabled = self.boolean(given.get("enabled"), (*where, "enabled"), True)
            if aliases:
                keys.append(KmsKey(where, tuple(aliases), description, enabled))
        return tuple(keys)

    def buckets(self, value: Any) -> list[tuple[Where, str]]:
        buckets: list[tuple[Where, str]] = []
        for where, entry in self.items(value, ("buckets",), "bucket names"):
            name = self.text(
                entry,
                where,
                pattern=_BUCKET,
                max_length=63,
                hint="a bucket name: 3-63 lowercase letters, digits, '.' or '-'",
            )
            if name is None:
                continue
            if name in [b for _, b in buckets]:
                self.fail(where, f"bucket {name} is given twice")
                continue
            buckets.append((where, name))
        return buckets

    def audio(self, value: Any, buckets: list[str]) -> list[S3Object]:
        recordings = []
        for where, entry in self.items(value, ("audio",), "S3 URIs"):
            uri = self.uri(entry, where, buckets=buckets or ["(none declared)"])
            if uri is not None:
                recordings.append(S3Object(where, uri, None, "audio/wav"))
        return recordings

    def objects(self, value: Any, buckets: list[str]) -> list[S3Object]:
        written = []
        bodies = ("text", "json", "file", "base64")
        for where, entry in self.items(value, ("objects",), "objects"):
            given = self.fields(entry, where, FIELDS["objects[]"], ("uri",))
            if given is None:
                continue
            uri = self.uri(
                given.get("uri"), (*where, "uri"), buckets=buckets or ["(none declared)"]
            )
            chosen = [b for b in bodies if b in given]
            if len(chosen) != 1:
                self.fail(
                    where,
                    "exactly one of text, json, file, base64 is required"
                    + (f" (got {', '.join(chosen)})" if chosen else ""),
                )
                continue
            body = self.body(chosen[0], given[chosen[0]], (*where, chosen[0]))
            content_type = self.text(
                given.get("contentType"), (*where, "contentType"), max_length=256
            )
            default_type = "application/json" if chosen[0] == "json" else "application/octet-stream"
            if chosen[0] == "text":
                default_type = "text/plain"
            if uri is not None and body is not None:
                written.append(S3Object(where, uri, body, content_type or default_type))
        return written

    def body(self, how: str, value: Any, where: Where) -> bytes | None:
        """An object's bytes from its ``text``, ``json``, ``base64`` or ``file``."""
        if how == "json":  # anything YAML holds is JSON once timestamps are text
            return json.dumps(_jsonable(value), indent=2).encode()
        if not isinstance(value, str):
            self.fail(where, f"must be text, not {_describe(value)}")
            return None
        if how == "text":
            return value.encode()
        if how == "base64":
            try:
                return base64.b64decode(value.encode(), validate=True)
            except (binascii.Error, ValueError):
                self.fail(where, "must be base64 text")
                return None
        return self.file_body(value, where)

    def file_body(self, value: str, where: Where) -> bytes | None:
        """The bytes of a file beside the world file (the server reads none: None)."""
        problem = None
        relative = Path(value)
        if self.base_dir is None:
            problem = "file: is read only from a world file (send base64: instead)"
        elif relative.is_absolute() or ".." in relative.parts:
            problem = "must be a path relative to the world file, inside its directory"
        else:
            try:
                return _read_body_file(self.base_dir, value)
            except OSError as err:
                problem = f"cannot read {value}: {err.strerror or err}"
        self.fail(where, problem)
        return None

    def manifests(self, value: Any, buckets: list[str]) -> list[S3Object]:
        written = []
        for where, entry in self.items(value, ("manifests",), "manifests"):
            given = self.fields(entry, where, FIELDS["manifests[]"], ("uri",))
            if given is None:
                continue
            uri = self.uri(
                given.get("uri"), (*where, "uri"), buckets=buckets or ["(none declared)"]
            )
            rosters = [name for name in ("speakers", "fraudsters") if name in given]
            if len(rosters) != 1:
                self.fail(where, "exactly one of speakers, fraudsters is required")
                continue
            requests = self.roster(
                given[rosters[0]], (*where, rosters[0]), speakers=rosters[0] == "speakers"
            )
            if uri is not None and requests is not None:
                kind = "SpeakerEnrollment" if rosters[0] == "speakers" else "FraudsterRegistration"
                body = render_manifest(kind, requests)
                written.append(S3Object(where, uri, body, "application/json"))
        return written

    def roster(self, value: Any, where: Where, *, speakers: bool) -> list[Request] | None:
        entries = self.items(value, where, "speakers" if speakers else "fraudsters")
        if not entries:
            if value is not None:
                self.fail(where, "must have at least one entry")
            return None
        requests: list[Request] = []
        seen: dict[str, int] = {}
        ok = True
        allowed = FIELDS["manifests[].speakers[]" if speakers else "manifests[].fraudsters[]"]
        for at, entry in entries:
            given = self.fields(entry, at, allowed, allowed)
            if given is None:
                ok = False
                continue
            speaker_id = None
            if speakers:
                speaker_id = self.name(given.get("speakerId"), (*at, "speakerId"), "speaker id")
                if speaker_id is not None:
                    index = at[-1]
                    assert isinstance(index, int)
                    first = seen.setdefault(speaker_id, index)
                    if first != index:  # the id is personal data: say where, not what
                        self.fail(
                            (*at, "speakerId"), f"the same speakerId as {dotted((*where, first))}"
                        )
                        ok = False
            audio = self.recordings(given.get("audio"), (*at, "audio"))
            if audio is None or (speakers and speaker_id is None):
                ok = False
                continue
            requests.append(Request(speaker_id, audio))
        return requests if ok else None

    def recordings(self, value: Any, where: Where) -> tuple[tuple[str, int], ...] | None:
        items = self.items(value, where, "S3 URIs")
        if value is not None and not 1 <= len(items) <= MAX_AUDIO_PER_REQUEST:
            self.fail(where, f"must have 1 to {MAX_AUDIO_PER_REQUEST} audio files")
            return None
        audio = []
        for at, item in items:
            channel: Any = 0
            uri_value = item
            if isinstance(item, dict):
                given = (
                    self.fields(item, at, FIELDS["manifests[].speakers[].audio[]"], ("uri",)) or {}
                )
                uri_value, channel = given.get("uri"), given.get("channel", 0)
                if channel not in (0, 1) or isinstance(channel, bool):
                    self.fail((*at, "channel"), "must be 0 or 1")
                    return None
            uri = self.uri(uri_value, at if not isinstance(item, dict) else (*at, "uri"))
            if uri is None:
                return None
            audio.append((uri, int(channel)))
        return tuple(audio) if audio else None

    def unique(self, entries: Iterable[tuple[Where, str]]) -> None:
        seen: dict[str, Where] = {}
        for where, uri in entries:
            if uri in seen:
                self.fail(where, f"{uri} is written twice (first at {dotted(seen[uri])})")
            seen.setdefault(uri, where)

    def unwritten_audio(self, manifests: Any, written: set[str], buckets: list[str]) -> None:
        """Warn of a roster's recording that nothing in the world writes (the job then fails
        that request: ErrorCode 400); wanted, perhaps, but more often a typo."""
        if not isinstance(manifests, list):
            return
        for m, manifest in enumerate(manifests):
            if not isinstance(manifest, dict):
                continue
            for name in ("speakers", "fraudsters"):
                entries = manifest.get(name)
                for e, entry in enumerate(entries if isinstance(entries, list) else []):
                    audio = entry.get("audio") if isinstance(entry, dict) else None
                    for a, item in enumerate(audio if isinstance(audio, list) else []):
                        uri = item.get("uri") if isinstance(item, dict) else item
                        if isinstance(uri, str) and uri not in written:
                            where: Where = ("manifests", m, name, e, "audio", a)
                            self.warnings.append(
                                Problem(
                                    where,
                                    "no recording or object of this world is at this URI: the "
                                    "job will fail this request unless it exists already",
                                )
                            )

    def domains(self, value: Any, keys: tuple[KmsKey, ...]) -> tuple[WorldDomain, ...]:
        domains = []
        names: dict[str, Where] = {}
        aliases = {alias: key for key in keys for alias in key.aliases}
        allowed = FIELDS["domains[]"]
        for where, entry in self.items(value, ("domains",), "domains"):
            given = self.fields(entry, where, allowed, ("name",))
            if given is None:
                continue
            name = self.name(given.get("name"), (*where, "name"), "domain name")
            if name is not None and name in names:
                self.fail(
                    (*where, "name"),
                    f"domain {name} is given twice (first at {dotted(names[name])})",
                )
            elif name is not None:
                names[name] = where
            status = self.choice(given.get("status"), (*where, "status"), DOMAIN_STATUSES, "ACTIVE")
            alias = self.domain_key(given.get("kmsKey"), (*where, "kmsKey"), keys, aliases, where)
            description = self.text(
                given.get("description"),
                (*where, "description"),
                pattern=r"[\w\s_.:/=+\-%@]*",
                hint="letters, digits, spaces and _.:/=+-%@",
            )
            watchlists = self.watchlists(given.get("watchlists"), (*where, "watchlists"))
            jobs = self.jobs(given.get("jobs"), (*where, "jobs"))
            if name is not None and status is not None and alias is not None:
                domains.append(
                    WorldDomain(where, name, status, alias, description, watchlists, jobs)
                )
        return tuple(domains)

    def domain_key(
        self,
        value: Any,
        where: Where,
        keys: tuple[KmsKey, ...],
        aliases: dict[str, KmsKey],
        domain: Where,
    ) -> str | None:
        if value is None:
            if not keys:
                self.fail(domain, "a domain needs a KMS key: declare one under kmsKeys")
                return None
            key = keys[0]
            alias: str | None = key.aliases[0]
        else:
            alias = self.text(
                value, where, pattern=_ALIAS, hint="an alias of kmsKeys", max_length=256
            )
            if alias is None:
                return None
            if alias not in aliases:
                close = difflib.get_close_matches(alias, list(aliases), n=1, cutoff=0.6)
                hint = f"did you mean '{close[0]}'?" if close else "declare it under kmsKeys"
                self.fail(where, f"{alias} is not an alias of the world's kmsKeys; {hint}")
                return None
            key = aliases[alias]
        if not key.enabled:
            self.fail(
                where if value is not None else domain,
                f"{alias} is disabled: a domain needs an enabled key",
            )
            return None
        return alias

    def watchlists(self, value: Any, where: Where) -> tuple[tuple[Where, str], ...]:
        watchlists: list[tuple[Where, str]] = []
        for at, entry in self.items(value, where, "watchlist names"):
            name = self.name(entry, at, "watchlist name")
            if name is None:
                continue
            if name.lower() == "default":
                self.fail(
                    at, "every domain has its default watchlist already; list only the others"
                )
            elif name in [w for _, w in watchlists]:
                self.fail(at, f"watchlist {name} is given twice")
            else:
                watchlists.append((at, name))
        return tuple(watchlists)

    def jobs(self, value: Any, where: Where) -> tuple[SeededJob, ...]:
        jobs = []
        seen: dict[tuple[str, str], Where] = {}
        for at, entry in self.items(value, where, "jobs"):
            job = self.job(entry, at)
            if job is None:
                continue
            first = seen.setdefault((job.kind, job.name), at)
            if first != at:
                self.fail(
                    (*at, "name"),
                    f"a {job.kind}Job named {job.name} is given twice (first at {dotted(first)})",
                )
                continue
            jobs.append(job)
        return tuple(jobs)

    def job(self, value: Any, where: Where) -> SeededJob | None:
        before = len(self.problems)
        given = self.fields(value, where, FIELDS["domains[].jobs[]"], ("kind", "name", "status"))
        if given is None:
            return None
        kind = self.choice(given.get("kind"), (*where, "kind"), tuple(KINDS), None)
        name = self.name(given.get("name"), (*where, "name"), "job name")
        status = self.choice(
            given.get("status"), (*where, "status"), (*ACTIVE_STATUSES, *ENDED_STATUSES), None
        )
        manifest = self.uri(given.get("manifest"), (*where, "manifest"))
        output = self.uri(given.get("output"), (*where, "output"), key=False)
        kms_key = self.text(given.get("kmsKey"), (*where, "kmsKey"), max_length=2048)
        role = self.text(
            given.get("role"),
            (*where, "role"),
            pattern=_ROLE_ARN,
            max_length=2048,
            hint="an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
        )
        times = self.job_times(given, where, status)
        failure = self.failure(given, where, status)
        if kind is None or name is None or status is None or times is None:
            return None
        if len(self.problems) > before:
            return None
        created, ended, outcome = times
        return SeededJob(
            where=where,
            kind=KINDS[kind],
            name=name,
            created_at=created,
            ended_at=ended,
            status=status if status in ENDED_STATUSES else None,
            outcome=outcome,
            failure=failure,
            manifest=manifest or f"s3://{BY_HAND_BUCKET}/input/{name}.json",
            output=output or f"s3://{BY_HAND_BUCKET}/output/",
            kms_key=kms_key,
            role_arn=role,
        )

    def job_times(
        self, given: dict[str, Any], where: Where, status: str | None
    ) -> tuple[float, float, str | None] | None:
        """(created, ended or ends, outcome) of a job, checked against each other and now."""
        if status is None:
            return None
        ended = status in ENDED_STATUSES
        for name in ("ends", "outcome") if ended else ("ended",):
            if name in given:
                said = (
                    f"only a job still running (SUBMITTED, IN_PROGRESS) has '{name}'; a {status} "
                    "job says when it ended with ended:"
                    if ended
                    else f"a {status} job has not ended: say when it ends with ends:"
                )
                self.fail((*where, name), said, at_key=True)
                return None
        created = self.moment(given["created"], (*where, "created")) if "created" in given else None
        if "created" in given and created is None:
            return None
        if ended:
            return self.ended_times(given, where, created)
        return self.running_times(given, where, status, created)

    def ended_times(
        self, given: dict[str, Any], where: Where, created: float | None
    ) -> tuple[float, float, None] | None:
        """A job that ended: by default now, an hour after it was created."""
        end = self.moment(given["ended"], (*where, "ended")) if "ended" in given else self.now
        if end is None:
            return None
        start = created if created is not None else end - DEFAULT_RUN
        if end > self.now + 1:
            self.fail((*where, "ended"), "a job that ended did so before now ('2h ago')")
        elif start > end:
            self.fail((*where, "created"), "must be before ended")
        else:
            return start, end, None
        return None

    def running_times(
        self, given: dict[str, Any], where: Where, status: str, created: float | None
    ) -> tuple[float, float, str] | None:
        """A job still running: it ends in an hour by default, and was created just now
        (SUBMITTED) or as long ago as it has left to run (IN_PROGRESS)."""
        outcome = self.choice(
            given.get("outcome"), (*where, "outcome"), ENDED_STATUSES, "COMPLETED"
        )
        end = self.moment(given["ends"], (*where, "ends")) if "ends" in given else None
        if outcome is None or ("ends" in given and end is None):
            return None
        end = self.now + DEFAULT_RUN if end is None else end
        if end <= self.now:
            self.fail((*where, "ends"), f"a {status} job ends after now ('in 10m')")
            return None
        if created is None:
            created = self.now if status == "SUBMITTED" else self.now - (end - self.now)
        if created > self.now:
            self.fail((*where, "created"), "must be now or before")
            return None
        now = "SUBMITTED" if self.now - created < SUBMITTED_FRACTION * (end - created) else None
        if (now or "IN_PROGRESS") != status:
            self.fail(
                (*where, "status"),
                "a job is SUBMITTED for the first tenth of its run (created to ends), then "
                f"IN_PROGRESS: with these times it is {now or 'IN_PROGRESS'} now (leave "
                "created out to have it chosen)",
            )
            return None
        return created, end, outcome

    def failure(
        self, given: dict[str, Any], where: Where, status: str | None
    ) -> dict[str, Any] | None:
        """A FAILED job's FailureDetails (None for a job that does not fail)."""
        fails = status == "FAILED" or given.get("outcome") == "FAILED"
        value = given.get("failure")
        if value is not None and not fails:
            said = "only a FAILED job (status or outcome) has a failure"
            self.fail((*where, "failure"), said, at_key=True)
        if not fails:
            return None
        checked = (
            self.fields(value or {}, (*where, "failure"), FIELDS["domains[].jobs[].failure"]) or {}
        )
        code = checked.get("statusCode", DEFAULT_FAILURE["StatusCode"])
        if isinstance(code, bool) or not isinstance(code, int) or not 100 <= code <= 599:
            code_at = (*where, "failure", "statusCode")
            self.fail(code_at, "must be an HTTP status code (400, 500, ...)")
        message = self.text(checked.get("message"), (*where, "failure", "message"), max_length=4096)
        return {"StatusCode": code, "Message": message or DEFAULT_FAILURE["Message"]}


# --- manifests ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One request of a roster (a speaker id only for enrollment)."""

    speaker_id: str | None
    audio: tuple[tuple[str, int], ...]


def render_manifest(kind: str, requests: Sequence[Request]) -> bytes:
    """The Voice ID manifest of ``requests``: the reconciler's rendering of a roster (canonical
    JSON, RequestIds ``req-0000001``...), byte for byte (``tests/sandbox/test_world.py``)."""
    rendered = []
    for i, request in enumerate(requests, start=1):
        item: dict[str, Any] = {
            "RequestId": f"req-{i:07d}",
            "AudioSpecifications": [{"S3Uri": uri, "ChannelId": ch} for uri, ch in request.audio],
        }
        if kind == "SpeakerEnrollment":
            item["SpeakerId"] = request.speaker_id
        rendered.append(item)
    key = (
        "SpeakerEnrollmentRequests"
        if kind == "SpeakerEnrollment"
        else "FraudsterRegistrationRequests"
    )
    return json.dumps(
        {"Version": "1.0", key: rendered}, sort_keys=True, separators=(",", ":")
    ).encode()
