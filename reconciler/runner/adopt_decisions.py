"""``import``'s decisions, job by job, against the state read.

Under the state's lock when the import writes: a job already imported or recorded, a draft
proven by its manifest's time, resolved through the loader and the online resolver as any spec
is, checked to send the job's very request, recorded in the state and staged for ``--out``; or
why not. The order of effects is :mod:`reconciler.runner.adopt`'s.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reconciler.core import adoption, foreignjob
from reconciler.core.adoption import IMPORTED_FROM, IMPORTED_HASH, Draft
from reconciler.core.desired import DesiredJob, desire
from reconciler.core.errors import ReconcilerError
from reconciler.core.foreignjob import JobSettings, ManifestHead, ManifestProof, ObjectState, Proof
from reconciler.core.identity import HASH_IN_NAME
from reconciler.core.jobs import ObservedJob
from reconciler.core.loading import check, load_file
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import State
from reconciler.runner.adopt_values import ImportOptions, ImportReport, Item, Outcome, Sources
from reconciler.runner.resolve import OnlineResolver

# A bound on the revision loop below: each revision is a draft written, loaded and resolved, and
# a hundred identical jobs in one domain is a script gone wrong, not a history to import.
MAX_REVISION = 100
"""Jobs of one identical request an import tells apart (by ``revision``) before it gives up."""


def is_record_only(path: Path | None) -> bool:
    """Whether an import's file is a record only (no spec document in it)."""
    if path is None:
        return False
    specs, errors = load_file(path, found=True)
    return not specs and not errors


class Importer:
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
        # Every hash the state knows: an imported job must get a hash no other job or spec has,
        # or a plan would take it for that other spec's job (one job per hash and attempt,
        # always).
        self.hashes = {r.hash for r in state.all_jobs()} | {e.hash for e in state.specs.values()}
        self.owners = {
            r.job_id: key for key, e in state.specs.items() for r in e.jobs + e.history if r.job_id
        }
        # Jobs of removed specs are still recorded (as orphans or tombstones): importing them
        # again would make a second record of one job; a spec of their hash takes them back
        # instead.
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
            # replace(): a rename within --out (the staging directory is inside it), atomic: a
            # reader of --out sees the whole file or none.
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
        reason = foreignjob.unimportable(settings)
        if reason is not None:
            return Item(Outcome.REFUSED, job, reason)
        # The manifest is what the hash cannot be made without: only S3 can say whether the
        # object there now is the one the job read. No answer, no proof, no import.
        head = self.heads.get(settings.input_s3_uri or "")
        if head is None or head.state is ObjectState.UNREADABLE:
            code = head.code if head else "not asked"
            return Item(
                Outcome.REFUSED,
                job,
                f"S3 does not say whether its manifest is there ({code}): nothing can be "
                "proven; import it again with read access to the manifest",
            )
        # Proof by time: an object last written before the job was created is the object the job
        # read, so its ETag now is the ETag the job's hash would have had.
        proof = foreignjob.manifest_proof(job.created_at, head)
        name = adoption.spec_name(job, self.taken)
        draft = Draft(job, settings, name, self.domain_ref, self._watchlist_ref(settings))
        # The manifest is gone: no spec can send this request again, so the job is written down
        # as a record only (known, never started again) rather than as a spec.
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
        if marked is not None and is_record_only(marked):
            return Item(Outcome.ALREADY, job, f"recorded only, in {marked}", path=marked)
        if settings is None:  # the state recorded it when this import began, not now
            return Item(
                Outcome.ALREADY,
                job,
                "the state recorded it when this import began, and not now: run import again",
            )
        return None

    def _new(self, draft: Draft, proof: ManifestProof, etag: str | None, at: str) -> Item:
        job = draft.job
        notes = [proof.said[0].upper() + proof.said[1:] + "."]
        # Jobs of the very same request (a script run twice) would share one hash: each is given
        # the next revision until its hash is one the state does not know.
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
        # Written once more, now with its hash in a comment for the reader of the file; resolved
        # again to prove the comment did not change what the spec sends.
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
        # Through desire() and the online resolver, as apply resolves every spec: the hash
        # recorded is the one the next plan computes, or the plan would not find the job.
        (desired,) = desire([spec], self.resolver)
        if desired.request is None:
            return f"blocked: a spec of it would be blocked ({desired.blocked})"
        different = foreignjob.differences(desired.request, job, settings)
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
        # The next job of the same request in this import must take the next revision.
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
            # Any file's stem, spec or not: the spec is written as <name>.yaml, which must not
            # replace a file that is there (a roster, a README.yaml, a spec of the other kind).
            taken.update(path.stem for path in out.iterdir())
        return taken

    def _domain_ref(self) -> str:
        """How a spec names the domain: its name when no other domain has it, else its id."""
        name = self.report.domain_name
        same = [d for d in self.sources.voiceid.domains() if d.name == name]
        # The name reads better in a spec, but a name two domains share would be refused as
        # ambiguous by the resolver: then the id.
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
