"""How the Voice ID adapter reads an answer: checked before botocore parses it, errors cut down.

A private helper of :mod:`reconciler.adapters.voiceid`, imported by it alone (it is not an
adapter of its own: the adapters' independence contract names ``voiceid`` only). It holds
botocore's ``before-parse`` hook (:func:`read_answer`), the error bodies handed to botocore
(:func:`error_body`), Voice ID's messages made one line (:func:`one_line`) and a job of a
checked answer as the reconciler keeps it (:func:`observed`).
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic_core import from_json

from reconciler.adapters import shapes
from reconciler.core.errors import VoiceIdError
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.times import iso

MALFORMED = "MalformedAnswer"
"""The error code of an answer that is not of its operation's shape."""
MESSAGE_LIMIT = 300
"""Characters of an error message of Voice ID's kept in an error of ours (one line)."""
ANSWER = "VoiceIdReconcilerAnswer"
"""The key under which :func:`read_answer` hands the checked answer (or why it is not) to
:meth:`reconciler.adapters.voiceid.VoiceId._call`, through botocore's parsed response."""
_ERROR_BODY_LIMIT = 64 * 1024
"""Bytes of an error answer that are parsed at all: Voice ID's are a few hundred, so a larger
one is handed to botocore as ``{}`` unread (its code then comes from the headers)."""


def checked(kind: JobKind, item: Any) -> tuple[str, str]:
    """A job's JobId and JobStatus; an answer without them is malformed, and refused."""
    job = _job(kind, item)
    return job.JobId, job.JobStatus


def _job(kind: JobKind, item: Any) -> shapes.JobSummary:
    if isinstance(item, shapes.JobSummary):
        return item
    try:
        return shapes.check_job(item)
    except shapes.MalformedAnswer as err:
        raise VoiceIdError(str(err).replace("a job ", f"a {kind} ", 1), code=MALFORMED) from None


def observed(kind: JobKind, domain_id: str, item: Any) -> ObservedJob:
    """A job of a checked answer (or one to check: a mapping) as the reconciler keeps it."""
    job = _job(kind, item)
    failure = job.FailureDetails
    progress = job.JobProgress
    source = getattr(job, "InputDataConfig", None)
    output = getattr(job, "OutputDataConfig", None)
    return ObservedJob(
        kind=kind,
        domain_id=job.DomainId or domain_id,
        job_id=job.JobId,
        job_name=job.JobName,
        status=JobStatus(job.JobStatus),
        percent_complete=progress.PercentComplete if progress else None,
        created_at=None if job.CreatedAt is None else iso(job.CreatedAt),
        ended_at=None if job.EndedAt is None else iso(job.EndedAt),
        # one line, whole: the model bounds it (shapes.MAX_MESSAGE_LENGTH), and a cut here
        # could leave half a speaker id where the redaction of what leaves the process looks
        failure=Failure(
            status_code=failure.StatusCode, message=one_line(failure.Message or "", None)
        )
        if failure
        else None,
        input_s3_uri=source.S3Uri if source else None,
        output_s3_uri=output.S3Uri if output else None,
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]+")
"""What a message shown in a terminal or a log line must not carry: control characters and
line breaks (a forged log line) and bidi overrides (text shown in another order than read)."""


def one_line(text: str, limit: int | None = MESSAGE_LIMIT) -> str:
    """A message of Voice ID's as one line: control characters, line breaks and bidi
    overrides become spaces; beyond ``limit`` characters it is cut before the word the limit
    falls in, never inside it (a redaction later must still find every identifier whole)."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    if limit is None or len(text) <= limit:
        return text
    room = limit - 1  # and the ellipsis
    head = text[:room]
    if text[room] != " ":  # the limit falls inside a word: drop that word whole
        head = head.rsplit(" ", 1)[0] if " " in head else ""
    return head.rstrip() + "…"


def read_answer(
    response_dict: dict[str, Any],
    customized_response_dict: dict[str, Any],
    operation_model: Any = None,
    **_: Any,
) -> None:
    """botocore's ``before-parse`` hook of every operation the product calls: the answer is
    read and checked here (:func:`reconciler.adapters.shapes.read`) and handed over under
    :data:`ANSWER`, with the reason when it is malformed; botocore is left ``{}`` to parse.
    Its parser walks every member of every summary against the model (a cold start lists a
    hundred thousand of them: that walk was a fifth of its CPU), recurses into what it
    decoded and raises ``ValueError`` for a time it cannot read. An error answer is handed
    to botocore rewritten to the members it reads, as strings (:func:`error_body`)."""
    body = response_dict.get("body") or b""
    if not 200 <= int(response_dict.get("status_code") or 0) < 300:
        response_dict["body"] = error_body(body)
        return
    try:
        answer: Any = shapes.read(operation_model.name, body)
    except shapes.MalformedAnswer as err:
        answer = err
    customized_response_dict[ANSWER] = answer
    response_dict["body"] = b"{}"


_ERROR_MEMBERS = ("__type", "message", "Message", "ResourceType", "ConflictType")


def error_body(body: bytes) -> bytes:
    """An error answer as botocore may parse it: the members it and
    :meth:`reconciler.adapters.voiceid.VoiceId._translate` read, each a string of at most a
    few hundred characters; ``{}`` for a body that is too large, too deep, not UTF-8 or not a
    JSON object (botocore would raise ``RecursionError``, ``UnicodeDecodeError`` or
    ``AttributeError``; its code then comes from the ``x-amzn-ErrorType`` header or the HTTP
    status)."""
    parsed: Any = None
    if len(body) <= _ERROR_BODY_LIMIT:
        try:
            parsed = from_json(body)
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict):
        return b"{}"
    kept = {
        name: one_line(value)
        for name in _ERROR_MEMBERS
        if isinstance(value := parsed.get(name), str) and value.strip()
    }
    return json.dumps(kept).encode()
