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

This module is the use-case and its order of effects; each job's decisions are
:mod:`reconciler.runner.adopt_decisions`'s, the values it reads and reports
:mod:`reconciler.runner.adopt_values`'s.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import structlog

from reconciler.adapters.clock import HostClock
from reconciler.core import adoption
from reconciler.core.desired import Unresolved
from reconciler.core.errors import NotFoundError, ReconcilerError
from reconciler.core.foreignjob import JobSettings
from reconciler.core.identity import parse_job_name
from reconciler.core.jobs import ObservedJob, result_counts
from reconciler.core.kinds import WITH_OUTPUT
from reconciler.core.state import State
from reconciler.core.times import epoch, iso
from reconciler.runner.adopt_decisions import Importer, is_record_only
from reconciler.runner.adopt_values import ImportOptions, ImportReport, Item, Outcome, Sources
from reconciler.runner.ports import Clock, ServiceClock, StateStore
from reconciler.runner.resolve import OnlineResolver

log = structlog.get_logger("reconciler.runner")

STAGING_PREFIX = ".voiceid-import-"


def import_jobs(
    store: StateStore,
    sources: Sources,
    options: ImportOptions,
    *,
    clock: Clock | None = None,
) -> ImportReport:
    """Import the jobs ``options`` select (see the module): dry-run unless ``options.write``."""
    # Voice ID's clock, not the host's: --since's age and the recorded times must agree with the
    # CreatedAt of the jobs, which Voice ID stamps (a skewed host would cut --since in the wrong
    # place).
    service_clock = ServiceClock(sources.voiceid, clock or HostClock())
    domain_id, domain_name = _domain(sources, options)
    report = ImportReport(domain_id, domain_name, written=options.write)
    found = _candidates(sources, options, domain_id, report, service_clock)
    # Read without the lock, only to spare Describe calls: a job already recorded, or whose file
    # is a record only, is decided from the state or the file alone. Under the lock the state is
    # read again and decides.
    known = {r.job_id for r in store.read().all_jobs() if r.job_id}
    marked = _marked_files(options.out)
    described: list[tuple[ObservedJob, JobSettings | None]] = []
    for listed, given in found:
        job, settings = listed, given
        if (
            settings is None
            and job.job_id not in known
            and not is_record_only(marked.get(job.job_id))
        ):
            job, settings = sources.settings.describe_settings(job.kind, domain_id, job.job_id)
        described.append((job, settings))  # None: decided from the state or the file alone
    # Before the lock, like every call to AWS: a HEAD per manifest may take a while on a big
    # domain, and another run's apply must not wait on it.
    heads = sources.heads.heads(
        {s.input_s3_uri for _, s in described if s is not None and s.input_s3_uri}
    )
    results = _results(sources, described)
    at = iso(service_clock.time())
    if not options.write:
        # A dry run goes through the very same checks as a write (drafted, loaded back,
        # resolved, proven to send the job's request), in a directory thrown away after.
        with tempfile.TemporaryDirectory(prefix="voiceid-import-") as scratch:
            importer = Importer(
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
    # Inside --out, not in /tmp: placing the files is then a rename within one filesystem,
    # atomic, not a copy that a full disk could cut in half.
    staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=options.out))  # hidden: skipped
    written = False
    try:
        with store.locked():
            state = store.read()  # afresh, under the lock: what another run wrote meanwhile
            importer = Importer(
                state, sources, options, report, heads=heads, results=results, staging=staging
            )
            importer.run(described, marked, at)
            if importer.recorded:
                # The imported jobs' events are history, not news: without this, the next run's
                # sinks would be told of every job started (and ended) before anyone reviewed
                # it.
                adoption.settle_notifications(state, importer.recorded)
                store.write(state)
                written = True
            # Placed under the lock and after the write: a spec file in --out whose job the
            # state does not know would be started again by the next apply; the other way round
            # (recorded, not placed) is only a retired spec until the files are moved.
            importer.place()
    finally:
        # Kept when the state was written and files are left in it: those are the specs of
        # recorded jobs, and the error says where they wait.
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
        # dict.fromkeys: a --job-id given twice is described once and offered once, in the order
        # given.
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
    # Oldest first, so the drafts' names (and their files) come in the order the jobs were made,
    # the same order at every import of the same domain.
    return sorted(found, key=lambda pair: (pair[0].created_at or "", pair[0].job_id))


def _describe_any(
    sources: Sources, options: ImportOptions, domain_id: str, job_id: str
) -> tuple[ObservedJob, JobSettings]:
    """A job named by ``--job-id``, of whichever of the kinds it is."""
    for kind in options.kinds:
        # A JobId does not say its kind: each Describe of the wrong kind answers not found.
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
            # Only the first line is read: an import's file names its JobId there, and the rest
            # of a big spec or roster need not be read to find out.
            job_id = adoption.marked_job(file.readline())
        if job_id is not None:
            # Two files naming one JobId: the first in sorted order is the one, so the choice is
            # the same at every run.
            marked.setdefault(job_id, path)
    return marked
