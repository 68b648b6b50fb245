"""The state: what the reconciler observed, cached so that a run spends API calls only on what
can still change — its versioned schema, its lines as written and read, the journal's replay.

Schema (version 4), as written to disk (JSON, sorted keys, two-space indent)::

    schemaVersion  int        1
    lineage        str        random id given when the state is created; never changes
    serial         int        grows by one with every write
    observedAt     str|null   ISO-8601 UTC time of the last observation that changed the state
                              (null: never); a run that observes nothing new writes nothing
    domains        {name: DomainId}                     domain names resolved by earlier runs
    watchlists     {DomainId: {name: WatchlistId}}      watchlist names ("default" included)
    listings       {"<DomainId>/<kind>": ISO time}  when that domain's history of that kind was
                                                    last listed in full (a cold run does it once)
    provisional    {"<DomainId>/<kind>": ISO time}  a first listing by a fresh state that List's
                                                    lag may have cut short: listed again before
                                                    anything starts there
    manifests      {S3 URI: ETag}  the identity of each external manifest when last read
                                   (``plan --offline`` hashes with it)
    specs          {"<kind>/<name>": SpecEntry}   (a chunked roster: one entry per part,
                                                   "<kind>/<name>-part-NNN")
    orphans        [JobRecord]   jobs with our naming, found by listing, that no spec of this
                                 state claims (reported only under ``--owner``)
    removed        [JobRecord]   tombstones: records forgotten by ``state rm`` (never reported;
                                 a spec re-added with their hash takes them back, so it
                                 never starts a second job unseen)
    notified       {sink digest: {delivered: [event id], failures, lastSent}}  what each
                                 notification sink was sent (``reconciler.core.events``); a
                                 digest of its URL, never the URL (it may hold a token)
    blocked        {"<kind>/<name>": {since, domainId, reason}}  specs blocked now, since when
    unblocked      [{key, since, domainId}]  specs no longer blocked, until every sink was told
    approvals      {"<kind>/<name>": {at, hash, maxAttempts, review}}  the intent a review
                                 approved for each spec: its hash and the attempts its
                                 maxAttempts allowed, the checksum of the reviewed plan (or
                                 ``apply`` for an un-gated apply) and when; a run that requires
                                 approval starts nothing else (``reconciler.core.plan``)

    SpecEntry:
      kind         "SpeakerEnrollmentJob" | "FraudsterRegistrationJob"
      name         metadata.name
      hash         the spec hash the current jobs belong to
      domainId     the resolved DomainId
      jobs         [JobRecord]  every attempt for ``hash``, oldest first
      history      [JobRecord]  jobs of earlier hashes of this spec (superseded), oldest first
      request      {...} | null  the canonical request (``StartRequest.essence``) of the hash
                                 whose job was last started or found: domain, role, input URI
                                 and manifest digest, output, configuration, revision — never a
                                 speaker id or audio location. A plan diffs a changed spec's
                                 request against it (``revision 0 -> 1``).

    JobRecord:
      hash            the spec hash (64 hex), or its first 32 hex when the job was found
                      by listing and no spec or earlier state knew the whole hash
      attempt, clientToken, jobName, domainId, kind
      jobId           null while only the intent to start is recorded (written before Start)
      status          SUBMITTED | IN_PROGRESS | COMPLETED | COMPLETED_WITH_ERRORS | FAILED | null
      percentComplete int 0-100 | null
      createdAt, endedAt, intentAt   ISO-8601 UTC | null
      failure         {statusCode, message} | null
      results         {outcome or error code: count} | null (filled by a later version)

On disk every top-level map has one entry per line (one spec, with all its jobs, per line),
so that committing the file to git gives one-line diffs per changed spec.

Beside the state, each store keeps a **high-water mark** (``{lineage, serial}`` of the last
write) where restoring or checking out the state file does not reach it; a state read that is
behind it, or of another lineage, is distrusted (:func:`distrust_if_behind`).

No speaker id or audio location is ever stored. This module holds the schema (values) and
its JSON form; where the state lives and how it is locked is :mod:`reconciler.adapters.stores`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Iterable, Iterator
from typing import Annotated, Any, NamedTuple

import pydantic.dataclasses
import pydantic_core
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

from reconciler.core.canonjson import compact as _compact
from reconciler.core.canonjson import string as _string
from reconciler.core.errors import ReconcilerError, StateError
from reconciler.core.jobs import Failure
from reconciler.core.kinds import TERMINAL, JobKind, JobStatus

SCHEMA_VERSION = 5
"""Version 2 added ``removed`` (the tombstones of ``state rm``), version 3 each entry's
``request``, version 4 the notification ledger (``notified``, ``blocked``, ``unblocked``),
version 5 the ``approvals`` of reviewed intents; older versions are read as they are (what
they lack is empty: a state of version 4 has approved nothing)."""
DEFAULT_PATH = "voiceid-state.json"
DEFAULT_LOCK_TIMEOUT = 60.0
"""Seconds a run waits for another run's state lock (``--lock-timeout``), in every store."""
DEFAULT_LOCK_TTL = 120.0
"""Seconds after which the S3 lock of a run that died expires (``--lock-ttl``)."""


_JOB_OF_NAME = re.compile(r"^[0-9a-f]{32}(-[1-9][0-9]{0,2})?$")
"""What follows ``<name>-`` in the JobName of that spec's jobs (:mod:`reconciler.core.identity`)."""


_CONFIG = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

_YEAR = "(?:[1-9][0-9]{3}|0[1-9][0-9]{2}|00[1-9][0-9]|000[1-9])"
_LEAP_YEAR = "(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)"
_TIME = re.compile(
    f"(?:{_YEAR}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])"
    "|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)|02-(?:0[1-9]|1[0-9]|2[0-8]))"
    f"|{_LEAP_YEAR}-02-29)T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]Z"
)
"""A time as :func:`reconciler.core.times.iso` writes it, on a day the calendar has (what
:func:`~reconciler.core.times.epoch` reads without an error)."""


def _time(value: str) -> str:
    """A time the state records: refused when read if it is not one (a hand edit, a merge),
    so that the run that compares it never fails on it (one line naming the file and field)."""
    if _TIME.fullmatch(value) is None:
        raise pydantic_core.PydanticCustomError(
            "iso_time", "not an ISO-8601 UTC time such as 2026-12-01T09:42:10Z"
        )
    return value


Time = Annotated[str, AfterValidator(_time)]


class _Record(BaseModel):
    model_config = _CONFIG


def _request_text(value: Any, info: ValidationInfo) -> Any:
    """A recorded request (a JSON object) as its canonical text; text is kept when it is one
    (the line reader has checked the text it passes)."""
    if isinstance(value, dict):
        return _compact(value)
    checked = (info.context or {}).get("checked")
    if isinstance(value, str) and not checked and not isinstance(json.loads(value), dict):
        raise ValueError("a request must be a JSON object")
    return value


def _sorted_counts(counts: dict[str, int] | None) -> dict[str, int] | None:
    """Result counts in the order of their keys (as the state file writes them)."""
    if counts is None or list(counts) == sorted(counts):
        return counts
    return dict(sorted(counts.items()))


# A state holds a spec entry and a job record per spec (100,000 of them in a large account):
# slotted dataclasses, validated by pydantic as models are, take a tenth of a model's memory
# (no per-instance ``__dict__`` and fields-set).
@pydantic.dataclasses.dataclass(slots=True, kw_only=True, config=_CONFIG)
class JobRecord:
    """One job of ours: started, or about to be (``job_id`` None)."""

    # Fields in the sorted order of their names on disk: pydantic's encoder then writes the
    # line json.dumps(sort_keys=True) would (State.to_json), in a fraction of its time.
    attempt: int = Field(ge=1)
    client_token: str | None = None
    created_at: Time | None = None
    domain_id: str
    ended_at: Time | None = None
    failure: Failure | None = None
    hash: str = Field(pattern=r"^[0-9a-f]{32}([0-9a-f]{32})?$")
    intent_at: Time | None = None
    job_id: str | None = None
    job_name: str
    kind: JobKind
    percent_complete: int | None = None
    results: Annotated[dict[str, int] | None, AfterValidator(_sorted_counts)] = None
    status: JobStatus | None = None

    @property
    def active(self) -> bool:
        return self.job_id is not None and self.status not in TERMINAL

    def to_data(self) -> dict[str, Any]:
        """The record as JSON values, as the state file holds it."""
        data: dict[str, Any] = _RECORD.dump_python(self, mode="json", by_alias=True)
        return data

    @staticmethod
    def from_data(data: Any) -> JobRecord:
        """A record from JSON values (:class:`pydantic.ValidationError` if it is not one)."""
        return _RECORD.validate_python(data)


@pydantic.dataclasses.dataclass(slots=True, kw_only=True, config=_CONFIG)
class SpecEntry:
    domain_id: str  # in the sorted order of the names on disk, as JobRecord's
    hash: str
    history: list[JobRecord] = Field(default_factory=list)
    jobs: list[JobRecord] = Field(default_factory=list)
    kind: JobKind
    name: str
    request: Annotated[str | None, BeforeValidator(_request_text)] = None
    """The canonical request of the spec's last started hash (no speaker data), so that a
    plan can say which fields a changed spec changed: a JSON object in the file, its canonical
    text (``StartRequest.canonical``) in memory — a few hundred bytes instead of a tree of
    values for each of a large state's entries."""

    def latest(self) -> JobRecord | None:
        return self.jobs[-1] if self.jobs else None

    def request_data(self) -> dict[str, Any] | None:
        """The recorded request as a value (:func:`~reconciler.core.identity.request_changes`)."""
        data: dict[str, Any] | None = None if self.request is None else json.loads(self.request)
        return data


_RECORD = TypeAdapter(JobRecord)
_ENTRY = TypeAdapter(SpecEntry)


class SinkLedger(_Record):
    """What one sink was sent (state ``notified.<digest>``)."""

    delivered: list[str] = Field(default_factory=list)
    """Event ids sent there (or baselined, or given up), pruned to those still derivable."""
    failures: int = 0
    """Runs in a row whose delivery failed."""
    last_sent: Time | None = None
    """When a message last went there (ISO time): a record for people; the interval between
    messages is a run's own (``reconciler.runner.notify``), never carried across runs."""


class BlockedSince(_Record):
    """A spec blocked since ``since`` (state ``blocked.<spec>``)."""

    since: str
    domain_id: str | None = None
    reason: str = ""


class Unblocked(_Record):
    """A spec that was blocked and is not any more, until every sink was told."""

    key: str
    since: str
    domain_id: str | None = None


class Approval(_Record):
    """The intent a review approved for one spec (state ``approvals.<spec>``): starting the
    job of ``hash``, attempts 1 to ``max_attempts``."""

    hash: str
    max_attempts: int = Field(ge=1)
    review: str
    """The checksum of the reviewed plan that approved it, or ``apply`` (an un-gated apply,
    confirmed at a terminal or with ``--auto-approve``)."""
    at: Time
    """When it was approved (ISO time): the order in which a domain's queue serves specs of
    equal priority (the first approved starts first)."""

    def covers(self, hash_: str | None, attempt: int | None) -> bool:
        """Whether this approval allows starting ``attempt`` of the job of ``hash_``."""
        return hash_ == self.hash and (attempt or 1) <= self.max_attempts


class State(_Record):
    schema_version: int = SCHEMA_VERSION
    lineage: str = Field(default_factory=lambda: uuid.uuid4().hex)
    serial: int = 0
    observed_at: Time | None = None
    domains: dict[str, str] = Field(default_factory=dict)
    watchlists: dict[str, dict[str, str]] = Field(default_factory=dict)
    listings: dict[str, Time] = Field(default_factory=dict)
    provisional: dict[str, Time] = Field(default_factory=dict)
    manifests: dict[str, str] = Field(default_factory=dict)
    specs: dict[str, SpecEntry] = Field(default_factory=dict)
    orphans: list[JobRecord] = Field(default_factory=list)
    removed: list[JobRecord] = Field(default_factory=list)
    notified: dict[str, SinkLedger] = Field(default_factory=dict)
    blocked: dict[str, BlockedSince] = Field(default_factory=dict)
    unblocked: list[Unblocked] = Field(default_factory=list)
    approvals: dict[str, Approval] = Field(default_factory=dict)
    _untrusted: str | None = PrivateAttr(default=None)
    """Why this state may not know every job of ours (never written to disk)."""
    _renamed: dict[str, str] = PrivateAttr(default_factory=dict)
    """Entries this run moved to a spec's new name: ``{new key: old key}`` (not on disk)."""
    _read_fingerprint: str | None = PrivateAttr(default=None)

    @property
    def renamed(self) -> dict[str, str]:
        """The pure renames followed in this run, ``{new key: old key}`` (for the plan)."""
        return self._renamed

    def follow_rename(self, old: str, new: str, name: str) -> None:
        """Move the entry ``old`` to the key ``new`` (the spec's ``name`` changed, nothing
        else), and remember it for the plan to say."""
        self.specs[new] = dataclasses.replace(self.specs.pop(old), name=name)
        self._renamed[new] = old

    @property
    def untrusted(self) -> str | None:
        """Why this state may not know every job it started (it went backwards, is of another
        lineage, or replaces a state that was lost), or None when it can be trusted to."""
        return self._untrusted

    def distrust(self, reason: str) -> None:
        """Forget the listings: every (domain, kind) is listed in full again, and its first
        listing waits the list-lag horizon before anything starts there."""
        self._untrusted = reason
        self.listings.clear()
        self.provisional.clear()

    def fingerprint(self) -> str:
        """A digest of what the state says, without when it was written (``serial``,
        ``observedAt``): two states with one fingerprint need not both be written (a run that
        observed nothing new leaves the file, and a git history of it, alone). It is the
        digest of the lines :meth:`to_json` writes, but those two: a state read as written has
        it from the lines it was read from (:attr:`read_fingerprint`), without encoding them
        again. Maps are taken in their order: an entry removed and added back may cost a write
        that changes nothing but the serial, never a change left unwritten."""
        digest = _fingerprint_digest()
        for line in self._lines():
            if not line.startswith(_UNFINGERPRINTED):
                digest.update(f"{line}\n".encode())
        return digest.hexdigest()

    @property
    def read_fingerprint(self) -> str | None:
        """The :meth:`fingerprint` of the lines this state was read from (:func:`read_layout`:
        each line as the writer writes it, so the digest is the writer's), None when it was
        read otherwise or is new. What a store compares the state it writes with."""
        return self._read_fingerprint

    def all_jobs(self) -> Iterator[JobRecord]:
        """Every job record: current attempts, superseded ones, orphans and tombstones (a
        forgotten job still runs, holds its domain's quota, and must be recognised if found)."""
        for entry in self.specs.values():
            yield from entry.jobs
            yield from entry.history
        yield from self.orphans
        yield from self.removed

    def entry_keys(self, name: str) -> list[str]:
        """The spec entries ``name`` means: ``<kind>/<name>`` or ``<name>`` (either kind), with
        the parts of a chunked roster (``<name>-part-NNN``)."""

        def named(key: str) -> bool:
            kind, _, spec = key.partition("/")
            base, sep, part = spec.rpartition("-part-")
            parts = {base, f"{kind}/{base}"} if sep and part.isdigit() else set()
            return name in {key, spec} | parts

        return sorted(key for key in self.specs if named(key))

    def forget(self, name: str) -> list[str]:
        """``state rm``: forget the entries ``name`` means, and the orphans of that spec name.
        Their records become tombstones (``removed``): no longer reported or retried, but
        recognised when Voice ID shows them and taken back by a spec with their hash.
        Returns the keys forgotten (the orphans as ``orphan/<JobName>``)."""
        keys = self.entry_keys(name)
        forgotten: list[str] = []
        for key in keys:
            entry = self.specs.pop(key)
            self.removed.extend(entry.jobs + entry.history)
            self.approvals.pop(key, None)  # a spec added back is reviewed again
            forgotten.append(key)
        spec_name = name.partition("/")[2] or name
        for record in list(self.orphans):
            if _JOB_OF_NAME.match(record.job_name.removeprefix(f"{spec_name}-")):
                self.orphans.remove(record)
                self.removed.append(record)
                forgotten.append(f"orphan/{record.job_name}")
        if not forgotten:
            raise ReconcilerError(f"state rm: no spec {name!r} in the state (see 'state show')")
        return forgotten

    def move(self, old: str, new: str) -> tuple[str, str]:
        """``state mv``: the entry ``old`` is now the spec named ``new`` (a rename that also
        changed the spec, recorded by hand: its jobs become the new name's, superseded if the
        hash changed, instead of orphaned). Returns the keys (from, to)."""
        keys = [k for k in self.entry_keys(old) if "-part-" not in k.partition("/")[2]] or (
            self.entry_keys(old)
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
        if target in self.specs:
            raise ReconcilerError(f"state mv: {target} is already in the state")
        self.specs[target] = dataclasses.replace(self.specs.pop(key), name=new_name)
        return key, target

    def to_json(self) -> str:
        """Deterministic, diff-friendly JSON: sorted keys, one spec (or orphan) per line.

        Each entry is compact JSON on its own line, so a change to one spec's jobs is a one-line
        diff; it is also fast (pydantic's encoder for the entries), which matters as the state
        is written after every run that changed it.
        """
        return "\n".join(self._lines()) + "\n"

    def _lines(self) -> Iterator[str]:
        """The lines of :meth:`to_json`, without their ends."""
        data = self.model_dump(mode="json", by_alias=True, exclude={"specs"})
        data["specs"] = self.specs  # entry by entry below: no copy of a large state at once
        yield "{"
        keys = sorted(data)
        for i, key in enumerate(keys):
            value = data[key]
            comma = "," if i < len(keys) - 1 else ""
            if isinstance(value, dict) and value:
                items = sorted(value.items())
                show = _entry_json if key == "specs" else _compact
                yield f"  {_string(key)}: {{"
                last = len(items) - 1
                for j, (k, v) in enumerate(items):
                    text = _string(v) if type(v) is str else show(v)
                    yield f"    {_string(k)}: {text}{',' if j < last else ''}"
                yield f"  }}{comma}"
            elif isinstance(value, list) and value:
                yield f"  {_string(key)}: ["
                last = len(value) - 1
                yield from (
                    f"    {_compact(v)}{',' if j < last else ''}" for j, v in enumerate(value)
                )
                yield f"  ]{comma}"
            else:
                yield f"  {_string(key)}: {_compact(value)}{comma}"
        yield "}"


_NOT_REQUEST = {"request"}
_UNFINGERPRINTED = ('  "serial": ', '  "observedAt": ')
"""The lines of a state that say when it was written, not what it says (its fingerprint)."""


def _fingerprint_digest() -> hashlib.blake2b:
    return hashlib.blake2b(digest_size=20)


def _entry_json(entry: SpecEntry) -> str:
    """A spec entry's line: compact, sorted keys (pydantic's encoder, the fields declared in
    that order; what ``json.dumps(sort_keys=True)`` writes, as tests/test_state_layout.py
    checks), its request text as the JSON object it is (``request`` sorts last)."""
    head = _ENTRY.serializer.to_json(entry, by_alias=True, exclude=_NOT_REQUEST).decode()
    request = entry.request
    return f'{head[:-1]},"request":{"null" if request is None else request}}}'


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
    digest = _fingerprint_digest()
    try:
        state = _read_layout(_decoded(lines, digest))
    except _LAYOUT_FAILURES:
        return None
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
            if not text.startswith(_UNFINGERPRINTED):
                digest.update(line)
        else:
            text = line
            if not text.startswith(_UNFINGERPRINTED):
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
        return _ENTRY.validate_python(_LINE.decode(text))
    head = text[:cut] + "}"
    request = text[cut + len(_REQUEST) : -1]
    if not isinstance(pydantic_core.from_json(request), dict | None):
        raise ValueError("not a spec entry as written")
    entry = _ENTRY.validate_json(head, context=_CHECKED)  # parsed and validated at once
    if _ENTRY.serializer.to_json(entry, by_alias=True, exclude=_NOT_REQUEST) != head.encode():
        # Not the writer's very line (which holds no key twice, and no request in it): read
        # as any other text, refusing a key given twice.
        data = _LINE.decode(head)
        if "request" in data:
            raise ValueError("not a spec entry as written")
        entry = _ENTRY.validate_python(data, context=_CHECKED)
    entry.request = None if request == "null" else request
    entry.domain_id = sys.intern(entry.domain_id)  # a few domains, thousands of copies
    entry.name, entry.hash = sys.intern(entry.name), sys.intern(entry.hash)
    for record in entry.jobs:  # the same values, once (a large state is mostly strings)
        record.domain_id = sys.intern(record.domain_id)
        if record.hash == entry.hash:
            record.hash = entry.hash
    return entry


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


def distrust_if_behind(
    state: State, mark: str | None, journaled: int = 0, digest: str | None = None
) -> str | None:
    """Compare a state just read with the high-water mark of the last write: a state that went
    backwards (an older version restored, checked out or rolled back), of another lineage,
    whose journal lost records it had (``journaled``: the records replayed from it), whose
    content is not what that write wrote (``digest``: the fingerprint of the file read, before
    its journal; a hand edit that left serial and mark alone), or that has written versions
    behind it but no mark at all (a state from elsewhere: a fresh clone of a committed state, a
    copied file) cannot prove where it came from, so it is not trusted to say what Voice ID
    does *not* hold. Its listings are forgotten, so that every (domain, kind) is listed in full
    again — and waits the list-lag horizon — before anything starts there. Returns why, or None
    when the state is the one last written (or newer)."""
    if mark is None:
        if state.serial == 0:  # a state never written: a first deployment (nothing to prove)
            return None
        reason = (
            f"it has no high-water mark beside it (serial {state.serial}: a state copied, "
            "cloned or restored without its mark)"
        )
        state.distrust(reason)
        return reason
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
    state.distrust(reason)
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
        entry.jobs = [r for i, r in enumerate(entry.jobs) if i not in same or r.job_id]
    elif same:
        entry.jobs[same[0]] = record
    else:
        entry.jobs.append(record)


class _DuplicateKey(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key given twice (JSON would silently keep the last)."""
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
    if version < SCHEMA_VERSION:
        data = {**data, "schemaVersion": SCHEMA_VERSION}
    return data
