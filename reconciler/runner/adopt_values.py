"""``import``'s values: what it reads, what it is asked, what it reports.

What it reads (:class:`Sources`: Voice ID, a job's settings, S3), what it is asked
(:class:`ImportOptions`, the command's flags), and what it reports of each job (:class:`Item`,
its :class:`Outcome`) and of the whole (:class:`ImportReport`). The use-case is
:mod:`reconciler.runner.adopt`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from reconciler.core.adoption import kinds_of
from reconciler.core.desired import Shard
from reconciler.core.foreignjob import JobSettings, ManifestHead, Proof
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind
from reconciler.runner.ports import ObjectStore, VoiceIdApi


class SettingsSource(Protocol):
    """Describe with the settings a job was started with
    (:class:`reconciler.adapters.adoption.SettingsReader`)."""

    def describe_settings(
        self, kind: JobKind, domain_id: str, job_id: str
    ) -> tuple[ObservedJob, JobSettings]: ...


class ObjectTimes(Protocol):
    """Whether manifest objects are there, and when they were written
    (:class:`reconciler.adapters.adoption.ObjectHeads`)."""

    def heads(self, uris: Iterable[str]) -> dict[str, ManifestHead]: ...


@dataclass(frozen=True)
class Sources:
    """What an import reads: Voice ID (list, resolve), the job settings, S3 (ETags, times)."""

    voiceid: VoiceIdApi
    settings: SettingsSource
    objects: ObjectStore
    heads: ObjectTimes


@dataclass(frozen=True)
class ImportOptions:
    """What to import and where to (the command's flags)."""

    domain: str
    out: Path
    # Asked when the options are made, not when this module is imported: the registry's kinds.
    kinds: tuple[JobKind, ...] = field(default_factory=lambda: kinds_of(None))
    job_ids: tuple[str, ...] = ()
    since: float | None = None
    """Only jobs created at or after this time (seconds since the epoch)."""
    # Kept as an age, not made a time when the flags are parsed: it is taken from Voice ID's
    # clock after the first call has answered (ServiceClock), as the jobs' CreatedAt are Voice
    # ID's.
    since_age: float | None = None
    """Only jobs created at most this many seconds before now (Voice ID's clock)."""
    write: bool = False
    shard: Shard | None = None


class Outcome(StrEnum):
    IMPORTED = "imported"
    """A spec written (or to be), its job recorded as the spec's."""
    RERECORDED = "re-recorded"
    """Its spec file was there, the state did not record the job: recorded again."""
    RECORD_ONLY = "record-only"
    """No spec can stand for the job (its manifest is gone): a record, every line a comment."""
    ALREADY = "already-imported"
    REFUSED = "not-importable"
    # A job of our naming is some state's job already (this one's, or another's sharing the
    # domain): a spec drafted of it would be a second claim on one job.
    OURS = "ours"
    """Of our naming (asked for by ``--job-id``): already the reconciler's, never offered."""


@dataclass(frozen=True)
class Item:
    """What an import does (or would do) with one job."""

    outcome: Outcome
    job: ObservedJob
    said: str
    """Why, or what, in a few words (no URI, no speaker id)."""
    key: str | None = None
    path: Path | None = None
    hash: str | None = None
    proof: Proof | None = None


@dataclass
class ImportReport:
    """What an import found and did."""

    domain_id: str
    domain_name: str | None
    written: bool
    items: list[Item] = field(default_factory=list)
    ours: int = 0
    """Jobs of our naming the listing found (never offered)."""
    listed: int = 0
    left_out: int = 0
    """Jobs ``--since`` left out."""

    def count(self, *outcomes: Outcome) -> int:
        return sum(1 for item in self.items if item.outcome in outcomes)
