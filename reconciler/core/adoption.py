"""Adopting jobs started without the reconciler (``voiceid-reconciler import``): the rules.

A job someone started with the AWS CLI, the console or a script carries no hash in its
JobName, so no listing will ever match it to a spec. Importing it writes the spec that
describes it — the request Describe shows, as a spec document — and records the job in the
state as that spec's job: the hash the spec resolves to (through
:func:`reconciler.core.identity.start_request`, as every spec's does, with the manifest's
ETag now), attempt 1, its JobId, JobName, status and times, and an approval of that intent
(review ``import``: importing *is* the review of a job that already ran). Plans find a
spec's jobs by the hash each record keeps (never by the JobName), so from then on the spec
is in sync and nothing starts while its request stays the same.

What Describe and S3 show of the job, and what that proves (the request it was started with,
whether its manifest changed since), is :mod:`reconciler.core.foreignjob`'s; here are the spec
file an import writes and the state it records.

Values and pure functions only: the runner (:mod:`reconciler.runner.adopt`) does the I/O.
No speaker id or audio location is read or written here: a manifest is its URI, a job its
settings.
"""

from __future__ import annotations

import json
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from reconciler.core import jobkinds, statepatch
from reconciler.core.desired import DesiredJob
from reconciler.core.events import derive
from reconciler.core.foreignjob import JobSettings, own_settings
from reconciler.core.identity import HASH_IN_NAME, StartRequest
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import TERMINAL, JobKind
from reconciler.core.plan import Intent
from reconciler.core.review import approve
from reconciler.core.state import JobRecord, SpecEntry, State
from reconciler.core.statepatch import StatePatch

IMPORT_REVIEW = "import"
"""The review an import records its approvals under (a plan's checksum, ``apply``, or this)."""
IMPORTED_FROM = "voiceid-reconciler/imported-from"
"""The label of an imported spec: the JobId of the job it was imported from."""
IMPORTED_HASH = "voiceid-reconciler/imported-hash"
"""The label of an imported spec: the first 32 hex characters of the hash its job was recorded
under (a label changes no hash). With :data:`IMPORTED_FROM` it lets the job be recorded again
as the spec's — or, once the spec changed, as its history — by anything that finds the state
without it (a state rebuilt from Voice ID alone cannot: the JobName carries no hash)."""
MARKER = "# voiceid-reconciler import of job "
"""The first line of every file an import writes, followed by the job's JobId."""
_MARKED = re.compile(r"^# voiceid-reconciler import of job ([A-Za-z0-9]{22})\s*$")
NAME_LIMIT = 63
"""The longest ``metadata.name`` (:data:`reconciler.core.specsections.NAME_PATTERN`)."""
_NOT_NAME = re.compile(r"[^a-z0-9-]+")


def spec_name(job: ObservedJob, taken: Collection[str]) -> str:
    """A ``metadata.name`` for the job: its JobName in lower case with ``_`` and anything else
    outside ``[a-z0-9-]`` as ``-``, at most 63 characters, and not one of ``taken`` (then
    ``-2``, ``-3``, ...). A job without a JobName is named after its kind and JobId."""
    base = _NOT_NAME.sub("-", (job.job_name or "").lower()).strip("-")
    if not base:
        base = f"{jobkinds.of(job.kind).section}-{job.job_id.lower()}"
    base = base[:NAME_LIMIT].rstrip("-")  # cut first: a cut may leave a "-", which no name ends in
    name, number = base, 1
    while name in taken:
        number += 1
        suffix = f"-{number}"
        name = base[: NAME_LIMIT - len(suffix)].rstrip("-") + suffix
    return name


@dataclass(frozen=True, slots=True)
class Draft:
    """What a spec of one job says, before it is written: the job, its settings, and how the
    spec names its domain and watchlist (a name where one is unambiguous, else the id)."""

    job: ObservedJob
    settings: JobSettings
    name: str
    domain: str
    watchlist: str | None
    """None: the job named no watchlist (the domain's default)."""
    revision: int = 0
    """Above 0 when an earlier job had the same request: each job is its own spec."""


def _quoted(value: str) -> str:
    """A YAML double-quoted scalar (JSON's string syntax is a subset of YAML's): a value is
    never read as a number, a boolean or null, whatever it is."""
    return json.dumps(value)


def _document(draft: Draft, spec_hash: str | None) -> list[str]:
    """The spec document's lines (no comments)."""
    job, settings = draft.job, draft.settings
    lines = [
        "apiVersion: voiceid-reconciler/v1",
        f"kind: {job.kind.value}",
        "metadata:",
        f"  name: {_quoted(draft.name)}",
        "  labels:",
        f"    {IMPORTED_FROM}: {_quoted(job.job_id)}",
    ]
    if spec_hash is not None:
        lines.append(f"    {IMPORTED_HASH}: {_quoted(spec_hash[:HASH_IN_NAME])}")
    lines += [
        "spec:",
        f"  domain: {_quoted(draft.domain)}",
        f"  dataAccessRoleArn: {_quoted(settings.data_access_role_arn or '')}",
        "  input:",
        f"    manifest: {_quoted(settings.input_s3_uri or '')}",
        "  output:",
        f"    s3Uri: {_quoted(settings.output_s3_uri or '')}",
        f"    kmsKeyId: {_quoted(settings.kms_key_id or '')}",
    ]
    kind = jobkinds.of(job.kind)
    lines.append(f"  {kind.section}:")
    # The canonical configuration is the kind's spec section, nested and ordered as there (its
    # KindDef.config): a name or id where the watchlist's id is, it writes the section.
    lines += _section(kind.config(own_settings(kind, settings), draft.watchlist), "    ")
    if draft.revision:
        lines.append(f"  revision: {draft.revision}")
    return lines


def _section(config: Mapping[str, Any], indent: str) -> list[str]:
    """A kind's spec section's lines, from its canonical configuration: a setting without a
    value left out (the spec's default is Voice ID's), ``watchlistId`` written as the section's
    ``watchlist``, a string quoted and a number as it is."""
    lines: list[str] = []
    for key, value in config.items():
        if isinstance(value, Mapping):
            lines += [f"{indent}{key}:", *_section(value, indent + "  ")]
        elif value is not None:
            name = "watchlist" if key == "watchlistId" else key
            lines.append(f"{indent}{name}: {_quoted(value) if isinstance(value, str) else value}")
    return lines


def _wrapped(text: str, width: int = 96) -> list[str]:
    """A paragraph as comment lines of at most ``width`` characters."""
    lines: list[str] = []
    line = "#"
    for word in text.split():
        if len(line) + 1 + len(word) > width and line != "#":
            lines.append(line)
            line = "#"
        line = f"{line} {word}"
    lines.append(line)
    return lines


def job_sentence(job: ObservedJob, domain_name: str | None) -> str:
    """The job in one sentence (kind, JobName, status, domain, times): no URI."""
    where = f"{domain_name} ({job.domain_id})" if domain_name else job.domain_id
    status = job.status.value
    if job.status not in TERMINAL:
        percent = job.percent_complete
        status = f"{status} ({percent}%)" if percent is not None else status
    times = ", ".join(
        f"{label} {value}"
        for label, value in (("created", job.created_at), ("ended", job.ended_at))
        if value
    )
    named = f" named {job.job_name!r}" if job.job_name else ""
    return f"A {job.kind.value}{named}, {status}, in domain {where}" + (
        f"; {times}." if times else "."
    )


def spec_text(
    draft: Draft,
    *,
    domain_name: str | None,
    notes: Sequence[str],
    spec_hash: str | None,
    record_only: str | None = None,
) -> str:
    """The file an import writes for one job: the marker line (its JobId), what the job is,
    the notes (what the manifest's times prove, what running it again would do), then the
    spec document — or, ``record_only`` (why no spec can stand for the job), the document
    with every line a comment: a record of what ran, which no plan reads."""
    job = draft.job
    head = [f"{MARKER}{job.job_id}"]
    head += _wrapped(job_sentence(job, domain_name))
    if record_only is not None:
        head += _wrapped(
            f"NOT A SPEC: {record_only}. This file is a record of what the job was started "
            "with, every line a comment. Uncommented it would be a spec that no job "
            "belongs to: blocked while nothing is at its manifest's URI, then a START of a "
            "new job with whatever is there."
        )
    else:
        head += _wrapped(
            "'voiceid-reconciler import --write' records that job in the state as this "
            f"spec's job (hash {(spec_hash or '?')[:12]}, approved as review "
            f"'{IMPORT_REVIEW}'): plans show it in sync and start nothing while this spec's "
            "request stays the same."
        )
    for note in notes:
        head += _wrapped(note)
    if record_only is None:
        head += _wrapped(
            "To run it again, bump spec.revision: a new hash is a new job, started under "
            "the reconciler's naming once a review approves it."
        )
    body = _document(draft, spec_hash)
    if record_only is not None:
        body = [f"# {line}" for line in body]
    return "\n".join([*head, *body]) + "\n"


def marked_job(first_line: str) -> str | None:
    """The JobId a file an import wrote names in its first line, or None."""
    match = _MARKED.match(first_line)
    return match[1] if match else None


def record(  # noqa: PLR0913 - the entry's fields, by keyword
    state: State,
    *,
    key: str,
    name: str,
    job: ObservedJob,
    request: StartRequest,
    max_attempts: int,
    at: str,
    results: dict[str, int] | None = None,
) -> None:
    """Record ``job`` in ``state`` as the job of the spec ``key`` (whose request is
    ``request``): its entry with the job as attempt 1 of the spec's hash, and an approval of
    that intent (review :data:`IMPORT_REVIEW`, at ``at``), and the counts of its output file
    (``results``) when it ended with one. The job's ClientToken is not ours
    (whoever started it chose one, or the SDK did), so none is recorded; a retry, if the spec
    ever allows one, is attempt 2 under the reconciler's naming and token."""
    entry = SpecEntry(
        kind=job.kind,
        name=name,
        hash=request.hash,
        domain_id=request.domain_id,
        request=request.canonical,
    )
    entry.jobs.append(
        JobRecord(
            attempt=1,
            client_token=None,
            created_at=job.created_at,
            domain_id=request.domain_id,
            ended_at=job.ended_at,
            failure=job.failure,
            hash=request.hash,
            job_id=job.job_id,
            job_name=job.job_name or "",
            kind=job.kind,
            percent_complete=job.percent_complete,
            results=results,
            status=job.status,
        )
    )
    state.specs[key] = entry
    approval = approve(
        [Intent(key, request.hash, max_attempts, request.domain_id)], IMPORT_REVIEW, at
    )
    state.approvals = approval.applied_to(state).approvals  # this function records in place


def settle_notifications(state: State, job_ids: Iterable[str]) -> list[str]:
    """Count the events of imported jobs as delivered to every sink the state knows (they
    started and perhaps ended before anyone reviewed them: history, not news); a job that
    is still running tells its end when it ends, as every job does. Returns the event ids."""
    wanted = set(job_ids)
    ids = sorted(e.id for e in derive(state, None) if e.job_id in wanted)
    for ledger in state.notified.values():
        ledger.delivered = sorted(set(ledger.delivered) | set(ids))
    return ids


def kinds_of(kind: str | None) -> tuple[JobKind, ...]:
    """The kinds ``--kind`` means: without it, every registered kind, in the registry's order
    (ValueError for a kind without a :class:`JobKind` member, a test's own: the state's records
    of its jobs are typed with it)."""
    return tuple(map(JobKind, jobkinds.KINDS)) if kind is None else (JobKind(kind),)


def lost_imports(desired: Sequence[DesiredJob], state: State) -> list[tuple[DesiredJob, str]]:
    """The imported specs whose job the state does not record (a lost, rebuilt or restored
    state): each with the JobId its spec names. The spec file is the proof an import left
    (``imported-from`` and the ``imported-hash`` of the request it resolves to); a spec
    changed since (another hash) is a new job, not this one. The job's JobName has no hash
    and its ClientToken is not ours, so a listing cannot find it: it is described by id."""
    recorded = {r.job_id for r in state.all_jobs() if r.job_id}
    lost = []
    for job in desired:
        labels = job.spec.facts.labels
        job_id = labels.get(IMPORTED_FROM)
        if (
            job_id
            and job.request is not None
            and labels.get(IMPORTED_HASH) == job.request.hash[:HASH_IN_NAME]
            and job_id not in recorded
        ):
            lost.append((job, job_id))
    return lost


def record_again(state: State, job: DesiredJob, seen: ObservedJob) -> StatePatch:
    """Record ``seen`` (described by the id its imported spec names) as that spec's job:
    attempt 1 of its hash, as the import recorded it (a patch: ``state`` is not changed)."""
    assert job.request is not None
    draft = statepatch.Draft(state)
    if job.key in state.specs:
        entry = draft.entry(job.key)
    else:
        entry = draft.put(
            job.key,
            SpecEntry(
                kind=job.kind,
                name=job.name,
                hash=job.request.hash,
                domain_id=job.request.domain_id,
                request=job.request.canonical,
            ),
        )
    entry.jobs.append(
        JobRecord(
            attempt=1,
            client_token=None,
            created_at=seen.created_at,
            domain_id=job.request.domain_id,
            ended_at=seen.ended_at,
            failure=seen.failure,
            hash=job.request.hash,
            job_id=seen.job_id,
            job_name=seen.job_name or "",
            kind=job.kind,
            percent_complete=seen.percent_complete,
            status=seen.status,
        )
    )
    return draft.patch()
