"""The state: what the reconciler observed, cached so that a run spends API calls only on what
can still change. Versioned schema, deterministic JSON, locked atomic writes.

Schema (version 1), as written to disk (JSON, sorted keys, two-space indent)::

    schemaVersion  int        1
    lineage        str        random id given when the state is created; never changes
    serial         int        grows by one with every write
    observedAt     str|null   ISO-8601 UTC time Voice ID was last observed (null: never)
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
    orphans        [JobRecord]   jobs with our naming that no spec asks for (report only)

    SpecEntry:
      kind         "SpeakerEnrollmentJob" | "FraudsterRegistrationJob"
      name         metadata.name
      hash         the spec hash the current jobs belong to
      domainId     the resolved DomainId
      jobs         [JobRecord]  every attempt for ``hash``, oldest first
      history      [JobRecord]  jobs of earlier hashes of this spec (superseded), oldest first

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

No speaker id or audio location is ever stored. The local store keeps the previous version
as ``<file>.backup``, writes through a temporary file, fsync and an atomic rename, and holds
an exclusive ``flock`` on ``<file>.lock`` for the whole run.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic.alias_generators import to_camel

from reconciler.errors import StateError, StateLockedError

SCHEMA_VERSION = 1
DEFAULT_PATH = "voiceid-state.json"
ACTIVE = frozenset({"SUBMITTED", "IN_PROGRESS"})
TERMINAL = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"})


def utcnow() -> str:
    """The current time as the state writes it."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)


class Failure(_Record):
    status_code: int | None = None
    message: str = ""


class JobRecord(_Record):
    """One job of ours: started, or about to be (``job_id`` None)."""

    hash: str = Field(pattern=r"^[0-9a-f]{32}([0-9a-f]{32})?$")
    attempt: int = Field(ge=1)
    client_token: str | None = None
    job_name: str
    domain_id: str
    kind: str
    job_id: str | None = None
    status: str | None = None
    percent_complete: int | None = None
    created_at: str | None = None
    ended_at: str | None = None
    intent_at: str | None = None
    failure: Failure | None = None
    results: dict[str, int] | None = None

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL

    @property
    def active(self) -> bool:
        return self.job_id is not None and self.status not in TERMINAL


@dataclass(frozen=True)
class ObservedJob:
    """A job as Voice ID lists or describes it (no configuration, no token)."""

    kind: str
    domain_id: str
    job_id: str
    job_name: str | None
    status: str
    percent_complete: int | None = None
    created_at: str | None = None
    ended_at: str | None = None
    failure: Failure | None = None
    input_s3_uri: str | None = None
    """Only from Describe (never stored in the state)."""
    output_s3_uri: str | None = None

    @property
    def active(self) -> bool:
        return self.status not in TERMINAL


class SpecEntry(_Record):
    kind: str
    name: str
    hash: str
    domain_id: str
    jobs: list[JobRecord] = Field(default_factory=list)
    history: list[JobRecord] = Field(default_factory=list)

    def latest(self) -> JobRecord | None:
        return self.jobs[-1] if self.jobs else None


class State(_Record):
    schema_version: int = SCHEMA_VERSION
    lineage: str = Field(default_factory=lambda: uuid.uuid4().hex)
    serial: int = 0
    observed_at: str | None = None
    domains: dict[str, str] = Field(default_factory=dict)
    watchlists: dict[str, dict[str, str]] = Field(default_factory=dict)
    listings: dict[str, str] = Field(default_factory=dict)
    provisional: dict[str, str] = Field(default_factory=dict)
    manifests: dict[str, str] = Field(default_factory=dict)
    specs: dict[str, SpecEntry] = Field(default_factory=dict)
    orphans: list[JobRecord] = Field(default_factory=list)

    def all_jobs(self) -> Iterator[JobRecord]:
        """Every job record: current attempts, superseded ones and orphans."""
        for entry in self.specs.values():
            yield from entry.jobs
            yield from entry.history
        yield from self.orphans

    def to_json(self) -> str:
        """Deterministic, diff-friendly JSON: sorted keys, one spec (or orphan) per line.

        Each entry is compact JSON on its own line, so a change to one spec's jobs is a one-line
        diff; it is also fast (the C encoder), which matters as the state is written after
        every start.
        """
        data = self.model_dump(mode="json", by_alias=True)
        lines = ["{"]
        keys = sorted(data)
        for i, key in enumerate(keys):
            value = data[key]
            comma = "," if i < len(keys) - 1 else ""
            if isinstance(value, dict) and value:
                items = sorted(value.items())
                lines.append(f"  {_compact(key)}: {{")
                lines.extend(
                    f"    {_compact(k)}: {_compact(v)}{',' if j < len(items) - 1 else ''}"
                    for j, (k, v) in enumerate(items)
                )
                lines.append(f"  }}{comma}")
            elif isinstance(value, list) and value:
                lines.append(f"  {_compact(key)}: [")
                lines.extend(
                    f"    {_compact(v)}{',' if j < len(value) - 1 else ''}"
                    for j, v in enumerate(value)
                )
                lines.append(f"  ]{comma}")
            else:
                lines.append(f"  {_compact(key)}: {_compact(value)}{comma}")
        lines.append("}")
        return "\n".join(lines) + "\n"


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def parse_state(text: str, source: str) -> State:
    """A state from its JSON text; a clear :class:`StateError` for anything wrong with it."""
    recover = (
        f"the file is left untouched; restore {source}.backup or run "
        "'voiceid-reconciler state rebuild'"
    )
    try:
        data: Any = json.loads(text)
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


def _migrate(data: dict[str, Any], version: int) -> dict[str, Any]:
    """Bring an older schema up to :data:`SCHEMA_VERSION` (version 1 is the first)."""
    del version
    return data


class StateStore(Protocol):
    """Where the state lives: a local file or an S3 object (``reconciler.s3state``)."""

    def locked(self) -> contextlib.AbstractContextManager[Any]:
        """Hold the store's exclusive lock for a run."""
        ...

    def read(self) -> State:
        """The stored state, or a new one when there is none yet."""
        ...

    def write(self, state: State) -> None:
        """Replace the stored state atomically (and bump ``state.serial``)."""
        ...

    def unlock(self) -> str:
        """Break the lock deliberately; say what was done."""
        ...


class LocalStateStore:
    """The state in a local JSON file, locked for the duration of a run."""

    def __init__(self, path: Path, *, lock_timeout: float = 60.0) -> None:
        self.path = path
        self.lock_timeout = lock_timeout
        self._lock_fd: int | None = None

    def __str__(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def locked(self) -> Iterator[LocalStateStore]:
        """Hold the exclusive lock; wait up to ``lock_timeout`` seconds for another run."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:  # a read-only file system, a full disk, a missing permission
            raise StateError(f"{lock_path}: cannot take the lock: {err.strerror or err}") from err
        deadline = time.monotonic() + self.lock_timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except OSError as err:
                    if err.errno not in (errno.EAGAIN, errno.EACCES):
                        raise
                    if time.monotonic() >= deadline:
                        raise StateLockedError(
                            f"{self.path}: locked by another run for over "
                            f"{self.lock_timeout:g}s (see {lock_path}); try again later"
                        ) from err
                    time.sleep(0.1)
            with contextlib.suppress(OSError):  # the pid is for people; the flock is the lock
                os.ftruncate(fd, 0)
                os.write(fd, f"{os.getpid()}\n".encode())
            self._lock_fd = fd
            yield self
        finally:
            self._lock_fd = None
            os.close(fd)  # closing releases the flock

    def unlock(self) -> str:
        """A local lock is an flock: it ends with the process that holds it."""
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            holder = lock_path.read_text().strip()
        except FileNotFoundError:
            holder = ""
        return (
            f"{self.path}: local locks are released when the holding process exits"
            + (f" (last holder: pid {holder})" if holder else "")
            + "; nothing to remove"
        )

    def read(self) -> State:
        """The stored state, or a new empty one when the file does not exist yet."""
        try:
            if not stat.S_ISREG(self.path.stat().st_mode):
                raise StateError(f"{self.path}: the state is not a regular file")
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return State()
        except (OSError, UnicodeDecodeError) as err:
            raise StateError(f"{self.path}: cannot read state: {err}") from err
        return parse_state(text, str(self.path))

    def write(self, state: State) -> None:
        """Write atomically (temp file, fsync, rename), keeping the previous file as a backup."""
        state.serial += 1
        text = state.to_json()
        directory = self.path.parent
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            directory.mkdir(parents=True, exist_ok=True)
            with tmp.open("w", encoding="utf-8") as handle:
                handle.write(text)
                handle.flush()
                os.fsync(handle.fileno())
            if self.path.exists():
                backup = self.path.with_name(self.path.name + ".backup")
                with contextlib.suppress(FileNotFoundError):
                    _link_backup(self.path, backup)
            tmp.replace(self.path)
            dir_fd = os.open(directory, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as err:  # a full disk, a read-only file system: never a torn file
            for leftover in (tmp, _backup_tmp(self.path)):
                with contextlib.suppress(OSError):
                    leftover.unlink()
            raise StateError(
                f"{self.path}: cannot write the state: {err.strerror or err}; the file holds "
                "a complete version (the last one written), and a re-run continues from it"
            ) from err


def _backup_tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.backup.{os.getpid()}.tmp")


def _link_backup(path: Path, backup: Path) -> None:
    """Make ``backup`` a copy of ``path`` without a moment where ``path`` is missing."""
    tmp = _backup_tmp(path)
    with contextlib.suppress(FileNotFoundError):
        tmp.unlink()
    os.link(path, tmp)
    tmp.replace(backup)
