"""Desired jobs: each spec resolved, against a :class:`Resolver`, into the job it stands for.

A spec becomes one :class:`DesiredJob` (a roster too large for one job: one per part), with
its :class:`~reconciler.core.identity.StartRequest` and hash, or the reason it is blocked (a
domain, watchlist or manifest that cannot be resolved). The resolver is the only way names
reach Voice ID ids: :class:`OfflineResolver` reads what earlier runs recorded in the state;
the runner's online resolver asks Voice ID and S3. Sharding partitions desired jobs by domain.
"""

from __future__ import annotations

import difflib
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Protocol

from reconciler.core import s3uri
from reconciler.core.errors import ReconcilerError
from reconciler.core.identity import Resolution, StartRequest, start_request
from reconciler.core.kinds import JobKind
from reconciler.core.roster import parts
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import State

_VOICEID_ID = re.compile(r"^[a-zA-Z0-9]{22}$")


# Slotted: a run holds a desired job per spec or part (50,000 in the benchmark's largest world),
# and a __dict__ each was memory the lean-values work took out (bench/README.md).
@dataclass(frozen=True, slots=True)
class DesiredJob:
    """A spec (or one part of a chunked roster) resolved into the request it stands for, or
    the reason it cannot be."""

    spec: LoadedSpec
    request: StartRequest | None
    blocked: str | None = None
    domain_id: str | None = None
    part_name: str | None = None
    """``<name>-part-NNN`` for one part of a roster too large for one job."""
    # Never in a repr: a rendered roster holds speaker ids and audio locations, and a repr ends
    # up in logs and tracebacks. Not compared: the hash already says whether two manifests
    # differ.
    manifest: bytes | None = field(default=None, repr=False, compare=False)
    """The rendered manifest of a roster, staged before the job starts."""
    speakers: int | None = None
    blocked_code: str = ""
    """Why it is blocked, for tools (:attr:`Unresolved.code`, or ``refused``)."""
    unknown_offline: bool = False
    """An offline plan could not resolve a new spec (its domain or manifest was never seen):
    shown as a start without a hash, not as blocked."""

    key: str = field(init=False, repr=False, compare=False)
    """``<kind>/<name>`` (a part: ``<kind>/<name>-part-NNN``), the state's key (made once: a
    plan asks for it several times per spec)."""

    @property
    def name(self) -> str:
        return self.part_name or self.spec.name

    @property
    def kind(self) -> JobKind:
        return self.spec.kind

    def __post_init__(self) -> None:
        if (self.request is None) == (self.blocked is None):
            raise ValueError("a desired job has either a request or a reason it is blocked")
        part = self.part_name
        key = self.spec.key if part is None else f"{self.spec.kind}/{part}"
        object.__setattr__(self, "key", key)

    @property
    def hash(self) -> str | None:
        return self.request.hash if self.request else None

    def refused(self, reason: str) -> DesiredJob:
        """This job, blocked for ``reason`` (Voice ID refused to start it)."""
        if self.request is None:
            return self
        # The rendered manifest is dropped with the request: a refused job is never staged, and
        # its roster's bytes need not live to the end of the run.
        return replace(self, request=None, blocked=reason, blocked_code="refused", manifest=None)


class Unresolved(Exception):
    """A name could not be resolved; ``reason`` says why, for a ``blocked`` action, and
    ``code`` says it for tools (the JSON plan's ``code``: ``domain-not-found``, ...)."""

    def __init__(self, reason: str, code: str = "unresolved") -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code


def did_you_mean(wrong: str, candidates: Sequence[str]) -> str:
    """``; did you mean 'x'?`` for the closest of ``candidates`` to ``wrong`` (or nothing)."""
    close = difflib.get_close_matches(wrong, [c for c in candidates if c], n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class Resolver(Protocol):
    """Turns the domain and watchlist names of specs into Voice ID ids."""

    def domain_id(self, ref: str) -> str: ...

    def watchlist_id(self, domain_id: str, ref: str) -> str: ...

    def prefetch_manifests(self, uris: Sequence[str]) -> None: ...

    def manifest_identity(self, uri: str) -> str: ...


class OfflineResolver:
    """Resolves names from what earlier runs recorded in the state; no network.

    A 22-character id is taken as it is written (Voice ID ids are exactly 22 letters and
    digits); a name is looked up in the state's caches.
    """

    def __init__(self, state: State) -> None:
        self.state = state

    def domain_id(self, ref: str) -> str:
        if _VOICEID_ID.match(ref):
            return ref
        try:
            return self.state.domains[ref]
        except KeyError:
            pass
        known = list(self.state.domains)
        hint = did_you_mean(ref, known)
        if not known:  # no online run resolved a domain yet: nothing to judge the name by
            raise Unresolved(f"domain {ref!r} is not in the state yet{hint}", "offline")
        # A name the state does not know is far more often mistyped than a domain created since
        # the last online run: blocked (a --fail-on blocked fails the pull request), not a start
        # that looks fine until the merge. The reason says it is the state's knowledge, not
        # Voice ID's, and as of when, so the other case reads right too.
        when = self.state.observed_at
        as_of = f"as of {when}" if when else "never observed"
        raise Unresolved(
            f"domain {ref!r} is not among the domains the state knows ({as_of}; an offline "
            f"plan knows only the domains earlier online runs resolved){hint}",
            "domain-not-found",
        )

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        if _VOICEID_ID.match(ref):
            return ref
        try:
            return self.state.watchlists[domain_id][ref]
        except KeyError:
            hint = did_you_mean(ref, list(self.state.watchlists.get(domain_id, {})))
            raise Unresolved(
                f"watchlist {ref!r} is not in the state yet{hint}", "offline"
            ) from None

    def prefetch_manifests(self, uris: Sequence[str]) -> None:
        del uris  # offline: the identities recorded by the last online run are all there is

    def manifest_identity(self, uri: str) -> str:
        try:
            return self.state.manifests[uri]
        except KeyError:
            raise Unresolved("the manifest's ETag is not in the state yet", "offline") from None


class NameResolver:
    """Takes every name as its id and a manifest's URI as its identity: what two specs resolve
    to when only the files are known (``validate``: specs that differ only in their name
    collide here as they will online). No network, no state."""

    def domain_id(self, ref: str) -> str:
        return ref

    def watchlist_id(self, domain_id: str, ref: str) -> str:
        del domain_id
        return ref

    def prefetch_manifests(self, uris: Sequence[str]) -> None:
        del uris

    def manifest_identity(self, uri: str) -> str:
        return f"uri:{uri}"


def desire(specs: Sequence[LoadedSpec], resolver: Resolver) -> list[DesiredJob]:
    """Resolve each spec into the job(s) it stands for, or the reason it is blocked.

    A roster becomes one desired job per part, each with its rendered manifest; an external
    manifest is identified by its ETag (part of the hash: replacing the file is a change).
    """
    # Every external manifest looked up in one batch before the loop: online that is a listing
    # per directory instead of a HEAD per spec; the loop below then reads the answers from
    # memory.
    resolver.prefetch_manifests([s.facts.manifest for s in specs if s.facts.manifest])
    desired: list[DesiredJob] = []
    for spec in specs:
        facts = spec.facts
        domain_id: str | None = None
        try:
            domain_id = resolver.domain_id(facts.domain)
            ref = facts.watchlist
            resolution = Resolution(
                domain_id, resolver.watchlist_id(domain_id, ref) if ref else None
            )
            manifest = facts.manifest
            identity = resolver.manifest_identity(manifest) if manifest else None
        except Unresolved as err:
            desired.append(
                DesiredJob(
                    spec, None, blocked=err.reason, blocked_code=err.code, domain_id=domain_id
                )
            )
            continue
        if spec.roster is None:
            # 'etag:' marks an external manifest: the start step reads its ETag again right
            # before the Start (the object may be replaced after review); a roster's digest
            # needs no such check, its staged object is named by it.
            request = start_request(facts, resolution, manifest_digest=f"etag:{identity}")
            desired.append(DesiredJob(spec, request, domain_id=domain_id))
            continue
        staging = facts.staging_uri or ""
        for part in parts(spec.kind, spec.roster):
            request = start_request(
                facts,
                resolution,
                # Content-addressed: the staged object's key is its own digest, so a re-run
                # stages the same key, and a running job's manifest is never overwritten by a
                # later version of the roster.
                input_uri=s3uri.join(staging, f"{part.digest}.json"),
                manifest_digest=part.digest,
            )
            desired.append(
                DesiredJob(
                    spec,
                    request,
                    domain_id=domain_id,
                    part_name=part.name(spec.name) if part.index is not None else None,
                    manifest=part.body,
                    speakers=part.count,
                )
            )
    return desired


def offline(desired: Sequence[DesiredJob]) -> list[DesiredJob]:
    """Desired jobs of an offline plan: the ones unresolved for want of online knowledge (code
    ``offline``: a manifest's ETag or a watchlist never seen) may be new specs, not blocked; a
    domain name the state's known domains rule out stays blocked (``domain-not-found``)."""
    return [
        replace(job, unknown_offline=True) if job.blocked_code == "offline" else job
        for job in desired
    ]


@dataclass(frozen=True)
class Shard:
    """One of ``count`` disjoint parts of the specs, partitioned by domain."""

    index: int
    count: int

    def __post_init__(self) -> None:
        if not (self.count >= 1 and 0 <= self.index < self.count):
            raise ReconcilerError(
                f"shard {self.index}/{self.count}: expected INDEX/COUNT with 0 <= INDEX < COUNT"
            )

    @classmethod
    def parse(cls, text: str) -> Shard:
        index, sep, count = text.partition("/")
        if not sep or not index.strip().isdigit() or not count.strip().isdigit():
            raise ReconcilerError(f"--shard {text!r}: expected INDEX/COUNT, e.g. 0/4")
        return cls(int(index), int(count))

    def owns(self, domain: str) -> bool:
        """Whether this shard owns ``domain`` (a DomainId, or the name when unresolved)."""
        # Not hash(): str hashes are salted per process, and the pods of an Indexed Job must
        # agree on which shard owns a domain. By domain, so each domain's active-job quota is
        # counted and queued by exactly one shard.
        digest = hashlib.sha256(domain.encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.count == self.index

    def state_location(self, location: str) -> str:
        """Each shard keeps its own state: ``state.json`` becomes ``state.shard-1-of-4.json``."""
        if self.count == 1:
            return location
        stem, dot, suffix = location.rpartition(".")
        tag = f"shard-{self.index}-of-{self.count}"
        # A '/' after the last dot means the dot was in a directory or bucket name
        # (s3://my.bucket/state, ./states/state): no suffix to keep, the tag goes at the end.
        return f"{stem}.{tag}.{suffix}" if dot and "/" not in suffix else f"{location}.{tag}"


def in_shard(desired: list[DesiredJob], shard: Shard | None) -> list[DesiredJob]:
    """The desired jobs of one shard: every domain's queue lives in exactly one shard."""
    if shard is None:
        return desired
    # An unresolved spec has no DomainId: its domain's name puts it in one shard, so exactly one
    # shard reports it blocked.
    return [d for d in desired if shard.owns(d.domain_id or d.spec.facts.domain)]
