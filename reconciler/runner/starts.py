"""Starting jobs: intents on disk first, then staging and the Start call, then the record.

The order is what makes a crash at any point safe: every intent (hash, attempt, ClientToken,
JobName) is written before the first Start call, so the next run finds the job by listing,
or starts it again with the same ClientToken. The state is written after every start.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import structlog

from reconciler.core.desired import DesiredJob
from reconciler.core.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    PlanError,
    QuotaExceededError,
    StorageError,
)
from reconciler.core.jobs import MalformedOutput, check_output
from reconciler.core.journal import JournalChange
from reconciler.core.kinds import WITH_OUTPUT
from reconciler.core.plan import Action
from reconciler.core.redact import redact
from reconciler.core.state import JobRecord, SpecEntry
from reconciler.core.statepatch import Draft, copied_record, records_patch
from reconciler.core.times import iso
from reconciler.runner.context import Run

log = structlog.get_logger("reconciler.runner")

QUOTA_TAKEN = "the domain's active-job quota is taken"
"""Why a start Voice ID refused with ServiceQuotaExceeded waits (a job we do not see holds it)."""
RESUMED_QUOTA_TAKEN = (
    "the domain's active-job quota is taken, maybe by this very job (a start resumed after a "
    "crash): its intent is kept and the domain listed again"
)


def start_all(run: Run, starts: Sequence[Action], desired: Sequence[DesiredJob]) -> None:
    """Record every intent (one journal append), then stage each roster and start each job."""
    intents = _record_intents(run, starts)
    if intents:  # every intent on disk before the first Start call
        run.store.journal(
            run.state,
            [JournalChange(a.key, r) for a, r in zip(starts, intents, strict=True)],
        )
    staged = {d.hash: d for d in desired if d.manifest is not None}
    etags = _etags_now(run, [a for a in starts if a.hash not in staged])
    for action, record in zip(starts, intents, strict=True):
        job = staged.get(action.hash) if action.hash else None
        if not (_stage(run, job) if job is not None else _unchanged(run, action, etags)):
            dropped = records_patch(run.state, [(record, None)], keys=[action.key])
            run.state = dropped.applied_to(run.state)
            run.store.journal(run.state, [JournalChange(action.key, record, dropped=True)])
            continue
        _start(run, action, record)


def _etags_now(run: Run, starts: Sequence[Action]) -> dict[str, str | None]:
    """The ETags of the external manifests of this round's starts, read again now, at once
    (a HEAD each, or one listing per directory when there are many)."""
    uris = [
        a.request.input_s3_uri
        for a in starts
        if a.request is not None and (a.request.manifest_digest or "").startswith("etag:")
    ]
    return run.objects.identities(uris) if uris else {}


def _unchanged(run: Run, action: Action, etags: dict[str, str | None]) -> bool:
    """Whether an external manifest is still the object the hash was computed from (its ETag,
    read again right before this round's starts): a replaced manifest is a new hash, for the
    next run to plan, never a start under the old one while Voice ID reads the new file."""
    assert action.request is not None
    digest = action.request.manifest_digest or ""
    if not digest.startswith("etag:"):
        return True
    uri = action.request.input_s3_uri
    if f"etag:{etags.get(uri)}" == digest:
        return True
    run.report.blocked[action.key] = (
        f"its manifest {uri} was replaced or removed since this run planned it; not started "
        "under the old hash (the next run plans the new content)"
    )
    log.warning("apply.manifest_changed", spec=action.key, uri=uri)
    return False


def _stage(run: Run, job: DesiredJob) -> bool:
    """Upload a roster's rendered manifest before its job starts; False (blocked) on failure."""
    assert job.request is not None
    assert job.manifest is not None
    try:
        uploaded = run.objects.stage(
            job.request.input_s3_uri, job.manifest, kms_key_id=job.request.kms_key_id
        )
    except StorageError as err:
        run.report.blocked[job.key] = redact(str(err))  # S3's words: no audio location
        log.warning("apply.staging_failed", spec=job.key, error=err.code)
        return False
    log.info("apply.manifest_staged", spec=job.key, digest=(job.hash or "")[:12], uploaded=uploaded)
    return True


def _record_intents(run: Run, starts: Sequence[Action]) -> list[JobRecord]:
    """The job records of the starts about to be made, recorded in the state (one patch)."""
    draft = Draft(run.state)
    records = [_record_intent(run, action, draft.entry(action.key)) for action in starts]
    if records:
        run.state = draft.patch().applied_to(run.state)
    return records


def _record_intent(run: Run, action: Action, entry: SpecEntry) -> JobRecord:
    """The job record of a start about to be made (reused when a crash left one behind), put
    in ``entry`` (a draft's)."""
    assert action.request is not None
    assert action.hash
    assert action.attempt
    assert action.client_token
    assert action.job_name
    entry.request = action.request.canonical  # what the next change of the spec is diffed with
    for i, record in enumerate(entry.jobs):
        if record.hash == action.hash and record.attempt == action.attempt:
            # A start resumed after a crash is a new Start call, which List may lag behind as
            # much as the first: its hold is measured from now, not from the first intent.
            resumed = entry.jobs[i] = copied_record(record)
            resumed.intent_at = iso(run.clock.time())
            return resumed
    record = JobRecord(
        hash=action.hash,
        attempt=action.attempt,
        client_token=action.client_token,
        job_name=action.job_name,
        domain_id=action.request.domain_id,
        kind=action.spec_kind,
        intent_at=iso(run.clock.time()),
    )
    entry.jobs.append(record)
    return record


def _start(run: Run, action: Action, record: JobRecord) -> None:
    """Start one job with our token; record its JobId (or drop the intent) in the journal.

    The intent is already on disk, so a crash during the call loses nothing: the next run finds
    the job by listing, or starts it again with the same ClientToken.
    """
    assert action.request is not None
    assert action.client_token
    assert action.job_name
    report = run.report
    now: JobRecord | None = record  # the record as it is after the call; None: dropped
    params = action.request.api_params(client_token=action.client_token, job_name=action.job_name)
    try:
        job = run.voiceid.start_job(action.spec_kind, params)
    except QuotaExceededError:
        if action.code == "unconfirmed-start":
            # The quota may be held by the very job the interrupted Start made (its token
            # forgotten, List lagging): evidence of our own job, never a reason to forget the
            # intent. It stays, held from now; the slot is listed in full again.
            now = copied_record(record)
            now.intent_at = iso(run.clock.time())
            report.deferred[action.key] = RESUMED_QUOTA_TAKEN
            log.info("apply.resumed_start_refused", spec=action.key, reason="ServiceQuotaExceeded")
        else:
            now = None
            report.deferred[action.key] = QUOTA_TAKEN
            log.info("apply.job_queued", spec=action.key, reason="ServiceQuotaExceeded")
    except ConflictError as err:
        if err.code != "DOMAIN_NOT_ACTIVE":
            run.store.write(run.state)
            raise PlanError(
                f"{action.key}: Voice ID refused ClientToken {action.client_token} as a "
                f"conflict ({redact(str(err))}); a job with this token but other parameters "
                "exists"
            ) from err
        now = None
        report.blocked[action.key] = "domain is not ACTIVE"
    except (AccessDeniedError, NotFoundError, InvalidRequestError) as err:
        now = None
        report.blocked[action.key] = redact(str(err))  # Voice ID's words: a plan, the state
        log.warning(
            "apply.job_blocked", spec=action.key, error=err.code, resource=err.resource_type
        )
    else:
        now = copied_record(record)
        now.job_id = job.job_id
        now.status = job.status
        now.created_at = job.created_at
        report.started.append(action)
        report.deferred.pop(action.key, None)  # queued earlier in this run, now started
        log.info(
            "apply.job_started",
            spec=action.key,
            hash=(action.hash or "")[:12],
            attempt=action.attempt,
            job_id=job.job_id,
        )
    if now is not record:
        run.state = records_patch(run.state, [(record, now)], keys=[action.key]).applied_to(
            run.state
        )
    change = JournalChange(action.key, record if now is None else now, dropped=now is None)
    run.store.journal(run.state, [change])


def collect_results(run: Run, desired: Sequence[DesiredJob], watched: set[str]) -> None:
    """Read the output file of every job of ours that this state saw end: jobs we started, and
    jobs it knew as running (``watched``). Jobs found already ended by listing a domain's
    history (a cold start, a rebuild) are not read: that would be one S3 read per old job."""
    read: list[tuple[JobRecord, JobRecord | None]] = []
    keys: list[str] = []
    try:
        for key, record, counted in _outputs(run, desired, watched):
            read.append((record, counted))
            keys.append(key)
    finally:  # what was read is kept, even when a read fails (an error still saves the state)
        run.state = records_patch(run.state, read, keys=keys).applied_to(run.state)


def _outputs(
    run: Run, desired: Sequence[DesiredJob], watched: set[str]
) -> Iterator[tuple[str, JobRecord, JobRecord]]:
    """Each job record whose output file :func:`collect_results` reads, with its spec's key
    and the record with the output's counts."""
    for job in desired:
        if job.request is None:
            continue
        entry = run.state.specs.get(job.key)
        if entry is None:
            continue
        for record in entry.jobs:
            if (
                record.results is None
                and record.job_id
                and record.status in WITH_OUTPUT
                and (record.intent_at is not None or record.job_id in watched)
            ):
                output = run.objects.read_output(
                    job.request.output_s3_uri, record.job_id, job.request.input_s3_uri
                )
                if output is None:  # unreadable now (a 5xx burst, a missing key): a later run
                    continue  # tries again
                try:
                    checked = check_output(output)
                except MalformedOutput as err:  # results unknown; a later run reads it again
                    log.warning(
                        "apply.output_malformed",
                        spec=job.key,
                        job_id=record.job_id,
                        problem=str(err),
                    )
                    continue
                counted = copied_record(record)
                counted.results = checked.counts()
                log.info("apply.results", spec=job.key, job_id=record.job_id, **counted.results)
                yield job.key, record, counted
