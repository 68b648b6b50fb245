"""``import``: jobs started without the reconciler, brought under review (the use-case).

For one domain (and ``--kind``, ``--job-id``, ``--since``), every job that is not of our
naming — ended or running — is described, and for each one a spec is drafted from what it was
started with (:mod:`reconciler.core.adoption`). The draft is written to a file and read back
through the loader as any spec is, resolved through the online resolver as a run resolves it
(the domain, the watchlist, the manifest's ETag now), and checked to send exactly the job's
request. Its hash is the one the state records for the job, as attempt 1 of the spec, with an
approval (review ``import``): a plan then finds the job by that hash and shows the spec in
sync, and an apply starts nothing.

Order of effects (``write``), chosen so that a failure never leaves a spec whose job the state
does not know (the next apply would start it again):

1. listing, Describe and HeadObject calls, without the state's lock (a domain's listing may
   take minutes; the lock guards read-modify-write only);
2. under the lock: the state read afresh, each draft staged in a hidden directory inside
   ``--out`` (the loader skips hidden directories) and checked, the jobs recorded, the state
   written;
3. the staged files moved into ``--out`` (a rename each, still under the lock), the staging
   directory removed.

A failure before the state is written leaves ``--out`` as it was (the staging directory is
removed). One while the files are moved (a rename in one directory: a full disk, a file that
appeared meanwhile) keeps the staging directory with the files not placed, and says where they
are: the state records their jobs, which plans show as a removed spec's (retired, never
started) until the files are moved into place. Without ``write`` nothing is written: the
drafts are checked in a temporary directory and the state is read without its lock.

Idempotent: a job the state records (by JobId) is "already imported"; a job whose file is in
``--out`` (its first line names the JobId) but which the state does not record — a state
rebuilt from Voice ID alone forgets imported jobs, whose JobName carries no hash — is recorded
again from that file, after the same checks.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

import structlog

from reconciler.core import adoption
from reconciler.core.adoption import (
    IMPORTED_FROM,
    IMPORTED_HASH,
    Draft,
    JobSettings,
    ManifestHead,
    ObjectState,
    Proof,
)
from reconciler.core.desired import DesiredJob, Shard, Unresolved, desire
from reconciler.core.errors import NotFoundError, ReconcilerError
from reconciler.core.identity import HASH_IN_NAME, parse_job_name
from reconciler.core.jobs import ObservedJob, result_counts
from reconciler.core.kinds import WITH_OUTPUT, JobKind
from reconciler.core.loading import check, load_file
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import State
from reconciler.core.times import epoch, iso
from reconciler.runner.ports import (
    Clock,
    ObjectStore,
    ServiceClock,
    StateStore,
    SystemClock,
    VoiceIdApi,
)
from reconciler.runner.resolve import OnlineResolver

log = structlog.get_logger("reconciler.runner")

STAGING_PREFIX = ".voiceid-import-"
MAX_REVISION = 100
"""Jobs of one identical request an import tells apart (by ``revision``) before it gives up."""


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
    kinds: tuple[JobKind, ...] = tuple(JobKind)
    job_ids: tuple[str, ...] = ()
    since: float | None = None
    """Only jobs created at or after this time (seconds since the epoch)."""
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


def import_jobs(
    store: StateStore,
    sources: Sources,
    options: ImportOptions,
    *,
    clock: Clock | None = None,
) -> ImportReport:
    """Import the jobs ``options`` select (see the module): dry-run unless ``options.write``."""
    service_clock = ServiceClock(sources.voiceid, clock or SystemClock())
    domain_id, domain_name = _domain(sources, options)
    report = ImportReport(domain_id, domain_name, written=options.write)
    found = _candidates(sources, options, domain_id, report, service_clock)
    known = {r.job_id for r in store.read().all_jobs() if r.job_id}
    marked = _marked_files(options.out)
    described: list[tuple[ObservedJob, JobSettings | None]] = []
    for listed, given in found:
        job, settings = listed, given
        if (
            settings is None
            and job.job_id not in known
            and not _record_only(marked.get(job.job_id))
        ):
            job, settings = sources.settings.describe_settings(job.kind, domain_id, job.job_id)
        described.append((job, settings))  # None: decided from the state or the file alone
    heads = sources.heads.heads(
        {s.input_s3_uri for _, s in described if s is not None and s.input_s3_uri}
    )
    results = _results(sources, described)
    at = iso(service_clock.time())
    if not options.write:
        with tempfile.TemporaryDirectory(prefix="voiceid-import-") as scratch:
            importer = _Importer(
                store.read(),
                sources,
                options,
                report,
                heads=heads,
                results=results,
                staging=Path(scratch),
            )
            importer.run(described, marked, at)
        return report
    options.out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=options.out))  # hidden: skipped
    written = False
    try:
        with store.locked():
            state = store.read()  # afresh, under the lock: what another run wrote meanwhile
            importer = _Importer(
                state, sources, options, report, heads=heads, results=results, staging=staging
            )
            importer.run(described, marked, at)
            if importer.recorded:
                adoption.settle_notifications(state, importer.recorded)
                store.write(state)
                written = True
            importer.place()
    finally:
        if not written or not any(staging.iterdir()):
            shutil.rmtree(staging, ignore_errors=True)
    log.info(
        "import.done",
        domain_id=domain_id,
        imported=report.count(Outcome.IMPORTED, Outcome.RERECORDED),
        record_only=report.count(Outcome.RECORD_ONLY),
        already=report.count(Outcome.ALREADY),
        refused=report.count(Outcome.REFUSED),
    )
    return report


def _results(
    sources: Sources, described: Sequence[tuple[ObservedJob, JobSettings | None]]
) -> dict[str, dict[str, int]]:
    """The counts of the output file of each job offered that ended with one (read as
    ``status --refresh`` reads them: a run only reads those it saw end), by JobId."""
    counts: dict[str, dict[str, int]] = {}
    for job, settings in described:
        if settings is None or job.status not in WITH_OUTPUT:
            continue
        if settings.input_s3_uri and settings.output_s3_uri:
            output = sources.objects.read_output(
                settings.output_s3_uri, job.job_id, settings.input_s3_uri
            )
            found = result_counts(output) if output is not None else None
            if found is not None:
                counts[job.job_id] = found
    return counts


def _domain(sources: Sources, options: ImportOptions) -> tuple[str, str | None]:
    """The DomainId ``--domain`` names (a name or an id), and its name; an unknown, ambiguous
    or non-ACTIVE domain is one line (its specs would be blocked: nothing could be recorded
    under a hash)."""
    try:
        domain_id = OnlineResolver(sources.voiceid, State(), sources.objects).domain_id(
            options.domain
        )
    except Unresolved as err:
        raise ReconcilerError(f"--domain {options.domain}: {err.reason}") from None
    if options.shard is not None and not options.shard.owns(domain_id):
        raise ReconcilerError(
            f"--domain {options.domain}: its jobs belong to another shard than "
            f"{options.shard.index}/{options.shard.count} (each shard's state records its "
            "domains' jobs); run import with that shard's --shard"
        )
    names = [d.name for d in sources.voiceid.domains() if d.domain_id == domain_id and d.name]
    return domain_id, names[0] if names else None


def _candidates(
    sources: Sources,
    options: ImportOptions,
    domain_id: str,
    report: ImportReport,
    clock: Clock,
) -> list[tuple[ObservedJob, JobSettings | None]]:
    """The jobs to consider, oldest first: those ``--job-id`` names (described: their settings
    with them), or every job of the kinds listed (their settings to be described); jobs of our
    naming counted, or (named by ``--job-id``) reported, never offered."""
    since = options.since
    if options.since_age is not None:
        since = clock.time() - options.since_age
    found: list[tuple[ObservedJob, JobSettings | None]] = []
    if options.job_ids:
        for job_id in dict.fromkeys(options.job_ids):
            job, settings = _describe_any(sources, options, domain_id, job_id)
            if parse_job_name(job.job_name) is not None:
                report.items.append(_ours(job))
            else:
                found.append((job, settings))
    else:
        for kind in options.kinds:
            for job in sources.voiceid.list_jobs(kind, domain_id):
                report.listed += 1
                if parse_job_name(job.job_name) is not None:
                    report.ours += 1
                else:
                    found.append((job, None))
    if since is not None:
        kept = [(job, s) for job, s in found if job.created_at and epoch(job.created_at) >= since]
        report.left_out += len(found) - len(kept)
        found = kept
    return sorted(found, key=lambda pair: (pair[0].created_at or "", pair[0].job_id))


def _describe_any(
    sources: Sources, options: ImportOptions, domain_id: str, job_id: str
) -> tuple[ObservedJob, JobSettings]:
    """A job named by ``--job-id``, of whichever of the kinds it is."""
    for kind in options.kinds:
        with contextlib.suppress(NotFoundError):
            return sources.settings.describe_settings(kind, domain_id, job_id)
    kinds = " or ".join(kind.value for kind in options.kinds)
    raise ReconcilerError(f"--job-id {job_id}: no {kinds} of that id in domain {options.domain}")


def _ours(job: ObservedJob) -> Item:
    parts = parse_job_name(job.job_name)
    assert parts is not None
    return Item(
        Outcome.OURS,
        job,
        f"of our naming: already {job.kind.value}/{parts.name}'s job, not offered",
        key=f"{job.kind.value}/{parts.name}",
    )


def _marked_files(out: Path) -> dict[str, Path]:
    """The files of ``--out`` an import wrote, by the JobId their first line names."""
    if not out.is_dir():
        return {}
    marked: dict[str, Path] = {}
    for path in sorted(out.glob("*.y*ml")):
        if path.suffix not in (".yaml", ".yml") or not path.is_file():
            continue
        with path.open(encoding="utf-8", errors="replace") as file:
            job_id = adoption.marked_job(file.readline())
        if job_id is not None:
            marked.setdefault(job_id, path)
    return marked


def _record_only(path: Path | None) -> bool:
    """Whether an import's file is a record only (no spec document in it)."""
    if path is None:
        return False
    specs, errors = load_file(path, found=True)
    return not specs and not errors


class _Importer:
    """One import's decisions against the state read (under the lock when it writes)."""

    def __init__(  # noqa: PLR0913 - the import's inputs, once
        self,
        state: State,
        sources: Sources,
        options: ImportOptions,
        report: ImportReport,
        *,
        heads: dict[str, ManifestHead],
        results: dict[str, dict[str, int]],
        staging: Path,
    ) -> None:
        self.state = state
        self.sources = sources
        self.options = options
        self.report = report
        self.heads = heads
        self.results = results
        self.staging = staging
        self.resolver = OnlineResolver(sources.voiceid, state, sources.objects)
        self.recorded: list[str] = []
        """JobIds recorded in the state by this import."""
        self.staged: list[tuple[Path, Path]] = []
        """(staged file, its place in ``--out``)."""
        self.taken = self._taken_names()
        self.hashes = {r.hash for r in state.all_jobs()} | {e.hash for e in state.specs.values()}
        self.owners = {
            r.job_id: key for key, e in state.specs.items() for r in e.jobs + e.history if r.job_id
        }
        self.forgotten = {r.job_id for r in (*state.orphans, *state.removed) if r.job_id}
        self.domain_ref = self._domain_ref()

    def run(
        self,
        described: Sequence[tuple[ObservedJob, JobSettings | None]],
        marked: dict[str, Path],
        at: str,
    ) -> None:
        for job, settings in described:
            self.report.items.append(self._one(job, settings, marked.get(job.job_id), at))

    def place(self) -> None:
        """Move the staged files into ``--out`` (after the state was written); one that cannot
        be placed stays staged, and the error says where."""
        for staged, place in self.staged:
            problem = "a file of that name appeared while importing" if place.exists() else ""
            if not problem:  # never overwritten: written meanwhile by someone else
                try:
                    staged.replace(place)
                except OSError as err:
                    problem = err.strerror or type(err).__name__
            if problem:
                raise ReconcilerError(
                    f"{place}: not written ({problem}); the state records its job: move "
                    f"{staged} there (or to another name) before the next plan"
                )

    # -- one job ----------------------------------------------------------------------------

    def _one(
        self, job: ObservedJob, settings: JobSettings | None, marked: Path | None, at: str
    ) -> Item:
        known = self._known(job, settings, marked)
        if known is not None:
            return known
        assert settings is not None
        if marked is not None:
            return self._again(job, settings, marked, at)
        reason = adoption.unimportable(settings)
        if reason is not None:
            return Item(Outcome.REFUSED, job, reason)
        head = self.heads.get(settings.input_s3_uri or "")
        if head is None or head.state is ObjectState.UNREADABLE:
            code = head.code if head else "not asked"
            return Item(
                Outcome.REFUSED,
                job,
                f"S3 does not say whether its manifest is there ({code}): nothing can be "
                "proven; import it again with read access to the manifest",
            )
        proof = adoption.manifest_proof(job.created_at, head)
        name = adoption.spec_name(job, self.taken)
        draft = Draft(job, settings, name, self.domain_ref, self._watchlist_ref(settings))
        if proof.proof is Proof.GONE:
            return self._write_record(draft, proof.said, [])
        return self._new(draft, proof, head.etag, at)

    def _known(
        self, job: ObservedJob, settings: JobSettings | None, marked: Path | None
    ) -> Item | None:
        """The item of a job imported before (the state records it, or its record is in
        ``--out``), else None."""
        owner = self.owners.get(job.job_id)
        if owner is not None:
            return Item(Outcome.ALREADY, job, f"already imported as {owner}", key=owner)
        if job.job_id in self.forgotten:
            return Item(
                Outcome.ALREADY,
                job,
                "recorded in the state as a forgotten spec's job (a spec of its hash takes it "
                "back)",
            )
        if marked is not None and _record_only(marked):
            return Item(Outcome.ALREADY, job, f"recorded only, in {marked}", path=marked)
        if settings is None:  # the state recorded it when this import began, not now
            return Item(
                Outcome.ALREADY,
                job,
                "the state recorded it when this import began, and not now: run import again",
            )
        return None

    def _new(self, draft: Draft, proof: adoption.ManifestProof, etag: str | None, at: str) -> Item:
        job = draft.job
        notes = [proof.said[0].upper() + proof.said[1:] + "."]
        for revision in range(MAX_REVISION):
            if revision:
                draft = Draft(
                    job, draft.settings, draft.name, draft.domain, draft.watchlist, revision
                )
            desired = self._resolve(draft, notes, None)
            if isinstance(desired, str):
                if desired.startswith("blocked: "):
                    return self._write_record(draft, desired.removeprefix("blocked: "), notes)
                return Item(Outcome.REFUSED, job, desired)
            assert desired.request is not None
            if desired.request.hash not in self.hashes:
                break
        else:
            return Item(
                Outcome.REFUSED, job, f"{MAX_REVISION} jobs of this very request are recorded"
            )
        if etag is not None and self.state.manifests.get(draft.settings.input_s3_uri or "") != etag:
            # What the object's time proved is of another object than the hash is of.
            return Item(Outcome.REFUSED, job, "its manifest was replaced while importing")
        if draft.revision:
            notes.append(
                f"revision {draft.revision}: {draft.revision} earlier job(s) of this domain "
                "sent this very request (each job is a spec of its own; the revision tells "
                "their hashes apart)."
            )
        request = desired.request
        final = self._resolve(draft, notes, request.hash)
        if isinstance(final, str) or final.hash != request.hash:  # comments never change it
            raise ReconcilerError(f"job {job.job_id}: its spec's comments changed its hash")
        self._record(final, job, at)
        path = self._stage(draft.name, final.spec.location.path)
        said = f"in sync once recorded (hash {request.hash[:12]})"
        return Item(
            Outcome.IMPORTED,
            job,
            said,
            key=final.key,
            path=path,
            hash=request.hash,
            proof=proof.proof,
        )

    def _again(self, job: ObservedJob, settings: JobSettings, path: Path, at: str) -> Item:
        """A job whose spec file is in ``--out`` but which the state does not record."""
        specs, errors = load_file(path)
        if errors or len(specs) != 1:
            problem = str(errors[0]) if errors else "it holds no single spec"
            return Item(Outcome.REFUSED, job, f"its file {path} is not its spec: {problem}")
        spec = specs[0]
        if spec.facts.labels.get(IMPORTED_FROM) != job.job_id:
            return Item(Outcome.REFUSED, job, f"{path} no longer names this job ({IMPORTED_FROM})")
        entry = self.state.specs.get(spec.key)
        if entry is not None and entry.jobs + entry.history:  # an entry alone is a spec's hash
            return Item(
                Outcome.REFUSED,
                job,
                f"{spec.key} is in the state with other jobs: not recorded again (state show)",
            )
        desired = self._desired(spec, job, settings)
        if isinstance(desired, str):
            return Item(Outcome.REFUSED, job, desired.removeprefix("blocked: "))
        assert desired.hash is not None
        imported = spec.facts.labels.get(IMPORTED_HASH)
        if imported != desired.hash[:HASH_IN_NAME]:
            # Its request changed since the import (a revision, a replaced manifest): the job
            # is not the one this spec asks for now; recording it so would hide that change.
            return Item(
                Outcome.REFUSED,
                job,
                f"{path} changed since it was imported (hash {(imported or '?')[:12]}, now "
                f"{desired.hash[:12]}): its job is not this spec's now; not recorded again",
            )
        self._record(desired, job, at)
        return Item(
            Outcome.RERECORDED,
            job,
            f"its spec {path} was there; the state did not record the job: recorded again "
            f"(hash {desired.hash[:12]})",
            key=spec.key,
            path=path,
            hash=desired.hash,
        )

    def _write_record(self, draft: Draft, why: str, notes: Sequence[str]) -> Item:
        text = adoption.spec_text(
            draft,
            domain_name=self.report.domain_name,
            notes=notes,
            spec_hash=None,
            record_only=why,
        )
        staged = self.staging / f"{draft.name}.yaml"
        staged.write_text(text, encoding="utf-8")
        path = self._stage(draft.name, staged)
        return Item(Outcome.RECORD_ONLY, draft.job, f"record only: {why}", path=path)

    # -- resolving and recording --------------------------------------------------------------

    def _resolve(
        self, draft: Draft, notes: Sequence[str], spec_hash: str | None
    ) -> DesiredJob | str:
        """The draft written to the staging directory, read back by the loader, resolved and
        checked against the job; or why not (``blocked: ...`` when a spec of it would be)."""
        text = adoption.spec_text(
            draft, domain_name=self.report.domain_name, notes=notes, spec_hash=spec_hash
        )
        staged = self.staging / f"{draft.name}.yaml"
        staged.write_text(text, encoding="utf-8")
        specs, errors = load_file(staged)
        if errors or len(specs) != 1:
            problem = str(errors[0]).removeprefix(f"{staged}:") if errors else "no spec"
            return f"no spec can describe it ({problem})"
        return self._desired(specs[0], draft.job, draft.settings)

    def _desired(
        self, spec: LoadedSpec, job: ObservedJob, settings: JobSettings
    ) -> DesiredJob | str:
        (desired,) = desire([spec], self.resolver)
        if desired.request is None:
            return f"blocked: a spec of it would be blocked ({desired.blocked})"
        different = adoption.differences(desired.request, job, settings)
        if different:
            return (
                "a spec of it would not send the request the job was started with (it differs "
                f"in {', '.join(different)})"
            )
        return desired

    def _record(self, desired: DesiredJob, job: ObservedJob, at: str) -> None:
        assert desired.request is not None
        adoption.record(
            self.state,
            key=desired.key,
            name=desired.name,
            job=job,
            request=desired.request,
            max_attempts=desired.spec.facts.max_attempts,
            at=at,
            results=self.results.get(job.job_id),
        )
        self.recorded.append(job.job_id)
        self.hashes.add(desired.request.hash)
        self.owners[job.job_id] = desired.key

    def _stage(self, name: str, staged: Path) -> Path:
        place = self.options.out / f"{name}.yaml"
        self.taken.add(name)
        self.staged.append((staged, place))
        return place

    # -- names ------------------------------------------------------------------------------

    def _taken_names(self) -> set[str]:
        """Names an imported spec may not take: the state's specs (of either kind: one file
        per name), the specs under ``--out`` and its files' names."""
        taken = {entry.name for entry in self.state.specs.values()}
        out = self.options.out
        if out.is_dir():
            specs, _ = check([out])
            taken.update(spec.name for spec in specs)
            taken.update(path.stem for path in out.iterdir())
        return taken

    def _domain_ref(self) -> str:
        """How a spec names the domain: its name when no other domain has it, else its id."""
        name = self.report.domain_name
        same = [d for d in self.sources.voiceid.domains() if d.name == name]
        return name if name and len(same) == 1 else self.report.domain_id

    def _watchlist_ref(self, settings: JobSettings) -> str | None:
        """How a spec names the job's watchlist: its name when it is the only one of that name
        (and not ``default``, which a spec reads as the domain's default, sent as none), else
        its id; None when the job named none."""
        if not settings.watchlist_ids:
            return None
        (watchlist_id,) = settings.watchlist_ids
        watchlists = self.sources.voiceid.watchlists(self.report.domain_id)
        names = [w.name for w in watchlists if w.watchlist_id == watchlist_id]
        if not names or not names[0] or names[0] == "default":
            return watchlist_id
        same = [w for w in watchlists if w.name == names[0] or w.watchlist_id == names[0]]
        return names[0] if len(same) == 1 else watchlist_id
