"""Jobs as Voice ID shows them, and what a job's output file says (values; no I/O).

:class:`ObservedJob` is what the Voice ID adapter returns from List, Describe and Start;
:class:`Failure` is a FAILED job's reason (also kept in the state). :func:`result_counts`
and :func:`failed_requests` read an output document that the S3 adapter fetched.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic.alias_generators import to_camel

from reconciler.core.kinds import TERMINAL, JobKind, JobStatus
from reconciler.core.redact import redact


class Failure(BaseModel):
    """Why a job FAILED, as Voice ID says it."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    message: str = ""  # the fields in the sorted order of their names on disk (the state's)
    status_code: int | None = None

    @field_validator("message")
    @classmethod
    def _redacted(cls, message: str) -> str:
        """Voice ID's words, without a speaker id or an audio location (the one place a
        failure's text enters the product: an answer, a state file, a journal)."""
        return redact(message)


@dataclass(frozen=True, slots=True)
class ObservedJob:
    """A job as Voice ID lists or describes it (no configuration, no token)."""

    kind: JobKind
    domain_id: str
    job_id: str
    job_name: str | None
    status: JobStatus
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


@dataclass(frozen=True)
class FailedRequest:
    """One request that failed in a job (printed by ``status --details`` on a terminal only)."""

    request_id: str
    error_code: int | str
    message: str


UNKNOWN = "UNKNOWN"
"""The outcome counted for a status (or an error code) the product does not know: counted,
never echoed (a hostile or changed file could put anything there)."""
OUTCOMES = frozenset(
    {
        "NEW_ENROLLMENT",
        "DUPLICATE_SKIPPED",
        "ENROLLMENT_OVERWRITE",
        "NEW_REGISTRATION",
        "NEW_FRAUDSTER",  # what Voice ID's guide also calls a new registration
    }
)
"""The outcomes of a successful request (docs/specs.md, the output file)."""
_ERROR_CODE = re.compile(r"^[1-9][0-9]{2}$")


class MalformedOutput(ValueError):
    """An output file that is not of the shape :class:`OutputFile` describes (the message
    names where, never a value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Enrollment(_Strict):
    status: str | None = Field(default=None, alias="EnrollmentStatus")


class _Registration(_Strict):
    status: str | None = Field(default=None, alias="RegistrationStatus")


class _Error(_Strict):
    request_id: str | None = Field(default=None, alias="RequestId")
    code: int | str | None = Field(default=None, alias="ErrorCode")
    message: str | None = Field(default=None, alias="ErrorMessage")


class OutputFile(_Strict):
    """What the product reads of a job's output file (docs/specs.md): each member absent,
    null or a list of objects, each field of those absent, null or of its type."""

    enrollments: list[_Enrollment] | None = Field(default=None, alias="SuccessfulEnrollments")
    registrations: list[_Registration] | None = Field(default=None, alias="SuccessfulRegistrations")
    errors: list[_Error] | None = Field(default=None, alias="Errors")

    def counts(self) -> dict[str, int]:
        """Counts per outcome (NEW_ENROLLMENT, DUPLICATE_SKIPPED, ...) and per
        ``error:<code>``; a status or code the product does not know is ``UNKNOWN``."""
        counts: Counter[str] = Counter()
        for item in (*(self.enrollments or ()), *(self.registrations or ())):
            counts[item.status if item.status in OUTCOMES else UNKNOWN] += 1
        for error in self.errors or ():
            counts[f"error:{_code(error.code)}"] += 1
        return dict(sorted(counts.items()))


def _code(code: int | str | None) -> str:
    """An error code as counted: an HTTP-like status (400, 402, ...), else UNKNOWN."""
    text = str(code) if code is not None else ""
    return text if _ERROR_CODE.match(text) else UNKNOWN


_SHAPES = {
    "list_type": "must be a list",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "dict_type": "must be an object",
    "string_type": "must be a string",
    "int_type": "must be an integer or a string",
}


def check_output(document: Any) -> OutputFile:
    """An output document (JSON values) as the shape the product reads; raises
    :class:`MalformedOutput` naming the first member that is not of its shape."""
    try:
        return OutputFile.model_validate(document)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        loc = [p for p in first["loc"] if p not in ("int", "str")]  # a union's member names
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in loc).lstrip(".")
        shape = _SHAPES.get(first["type"], "is not of the documented shape")
        raise MalformedOutput(f"{where or 'the document'} {shape}") from None


def result_counts(output: Any) -> dict[str, int] | None:
    """The counts of an output document (:meth:`OutputFile.counts`); None (unknown) when it
    is not of the shape (:func:`check_output` says where)."""
    try:
        return check_output(output).counts()
    except MalformedOutput:
        return None


def failed_requests(output: Any) -> list[FailedRequest]:
    """The failed requests of an output file, in RequestId order (none when the file is not
    of the shape); their messages redacted (:mod:`reconciler.core.redact`)."""
    try:
        errors = check_output(output).errors or []
    except MalformedOutput:
        return []
    return sorted(
        (
            FailedRequest(
                redact(error.request_id or ""),
                _code(error.code),
                redact(error.message or ""),
            )
            for error in errors
        ),
        key=lambda f: f.request_id,
    )
