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
behind it, or of another lineage, is distrusted (:func:`reconciler.core.journal.distrust_reason`).

No speaker id or audio location is ever stored. This module holds the schema (values) and
its JSON form; where the state lives and how it is locked is the state store's
(:mod:`reconciler.adapters.statestore`).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from typing import Annotated, Any

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
    ValidationInfo,
)
from pydantic.alias_generators import to_camel

from reconciler.core.canonjson import compact as _compact
from reconciler.core.canonjson import string as _string
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
ENTRY = TypeAdapter(SpecEntry)
"""A spec entry's validator and encoder, shared by the writer and the reader
(:mod:`reconciler.core.statefile`)."""


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
    # The two below are set only by a StatePatch applied (reconciler.core.statepatch).
    _untrusted: str | None = PrivateAttr(default=None)
    """Why this state may not know every job of ours (never written to disk)."""
    _renamed: dict[str, str] = PrivateAttr(default_factory=dict)
    """Entries this run moved to a spec's new name: ``{new key: old key}`` (not on disk)."""
    _read_fingerprint: str | None = PrivateAttr(default=None)

    @property
    def renamed(self) -> dict[str, str]:
        """The pure renames followed in this run, ``{new key: old key}`` (for the plan)."""
        return self._renamed

    @property
    def untrusted(self) -> str | None:
        """Why this state may not know every job it started (it went backwards, is of another
        lineage, or replaces a state that was lost), or None when it can be trusted to."""
        return self._untrusted

    def fingerprint(self) -> str:
        """A digest of what the state says, without when it was written (``serial``,
        ``observedAt``): two states with one fingerprint need not both be written (a run that
        observed nothing new leaves the file, and a git history of it, alone). It is the
        digest of the lines :meth:`to_json` writes, but those two: a state read as written has
        it from the lines it was read from (:attr:`read_fingerprint`), without encoding them
        again. Maps are taken in their order: an entry removed and added back may cost a write
        that changes nothing but the serial, never a change left unwritten."""
        digest = fingerprint_digest()
        for line in self._lines():
            # serial and observedAt change with every write: in the digest, they would make
            # every run's state new, and each run a commit of the file that says nothing new.
            if not line.startswith(UNFINGERPRINTED):
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

    def to_json(self) -> str:
        """Deterministic, diff-friendly JSON: sorted keys, one spec (or orphan) per line.

        Each entry is compact JSON on its own line, so a change to one spec's jobs is a one-line
        diff; it is also fast (pydantic's encoder for the entries), which matters as the state
        is written after every run that changed it.
        """
        return "\n".join(self._lines()) + "\n"

    def _lines(self) -> Iterator[str]:
        """The lines of :meth:`to_json`, without their ends."""
        # JSON written by hand rather than json.dumps(indent=...): one map entry or list item
        # per line is what makes a git diff one line per spec, and what lets the reader take
        # the file a line at a time (reconciler.core.statefile). Every map is sorted by key, so
        # a state read and written back is the same bytes whatever order it was built in.
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
                    # Most of a large state's other lines map an id to an id, a time or an
                    # ETag: json's own string encoder writes what compact() would, faster.
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
# Told apart by their start alone: the writer puts each top-level member on a line of its own
# at an indent of two, and every map's or list's item at four, so no other line starts so.
UNFINGERPRINTED = ('  "serial": ', '  "observedAt": ')
"""The lines of a state that say when it was written, not what it says (its fingerprint)."""


def fingerprint_digest() -> hashlib.blake2b:
    """The digest :meth:`State.fingerprint` takes the state's lines into."""
    return hashlib.blake2b(digest_size=20)


def entry_head(entry: SpecEntry) -> bytes:
    """A spec entry's line without its request: compact, sorted keys (pydantic's encoder, the
    fields declared in that order; what ``json.dumps(sort_keys=True)`` writes, as
    tests/test_state_layout.py checks)."""
    return ENTRY.serializer.to_json(entry, by_alias=True, exclude=_NOT_REQUEST)


def _entry_json(entry: SpecEntry) -> str:
    """A spec entry's line: :func:`entry_head`, then its request text as the JSON object it is
    (``request`` sorts last)."""
    head = entry_head(entry).decode()
    request = entry.request
    return f'{head[:-1]},"request":{"null" if request is None else request}}}'
