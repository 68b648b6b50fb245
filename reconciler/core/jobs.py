"""Jobs as Voice ID shows them, and what a job's output file says (values; no I/O).

:class:`ObservedJob` is what the Voice ID adapter returns from List, Describe and Start;
:class:`Failure` is a FAILED job's reason (also kept in the state). :func:`result_counts`
and :func:`failed_requests` read an output document that the S3 adapter fetched; its shape is
``Errors`` and each registered kind's list of successes (:mod:`reconciler.core.jobkinds`:
``output_list``, ``output_status``, ``outcomes``).
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator
from pydantic.alias_generators import to_camel

from reconciler.core import jobkinds
from reconciler.core.jobkinds import KindDef
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
OUTCOMES = frozenset().union(*(kind.outcomes for kind in jobkinds.KINDS.values()))
"""The outcomes of a successful request, of every kind (docs/specs.md, the output file)."""
_ERROR_CODE = re.compile(r"^[1-9][0-9]{2}$")


class MalformedOutput(ValueError):
    """An output file that is not of the shape :class:`OutputFile` describes (the message
    names where, never a value)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)


class _Error(_Strict):
    request_id: str | None = Field(default=None, alias="RequestId")
    code: int | str | None = Field(default=None, alias="ErrorCode")
    message: str | None = Field(default=None, alias="ErrorMessage")


class _Success(_Strict):
    """A request that succeeded: its status (the member is each kind's own)."""

    status: str | None = None


class OutputFile(_Strict):
    """What the product reads of a job's output file (docs/specs.md): each member absent,
    null or a list of objects, each field of those absent, null or of its type. The members
    are each kind's list of successes, then ``Errors``: the model is made for the kinds
    registered (:func:`_output_file`), one output file shape for a job of any kind."""

    outcomes: ClassVar[frozenset[str]] = frozenset()
    """Every registered kind's outcomes: counted as they are, anything else as UNKNOWN (an
    enrollment's list may say NEW_REGISTRATION: counted, as the file says)."""

    def successes(self) -> Iterator[_Success]:
        for name in type(self).model_fields:
            if name != "errors":
                yield from getattr(self, name) or ()

    def failures(self) -> list[_Error]:
        errors: list[_Error] = getattr(self, "errors", None) or []
        return errors

    def counts(self) -> dict[str, int]:
        """Counts per outcome (NEW_ENROLLMENT, DUPLICATE_SKIPPED, ...) and per
        ``error:<code>``; a status or code the product does not know is ``UNKNOWN``."""
        counts: Counter[str] = Counter()
        outcomes = self.outcomes
        for item in self.successes():
            counts[item.status if item.status in outcomes else UNKNOWN] += 1
        for error in self.failures():
            counts[f"error:{_code(error.code)}"] += 1
        return dict(sorted(counts.items()))


@functools.lru_cache(maxsize=8)
def _output_file(kinds: tuple[KindDef, ...]) -> type[OutputFile]:
    """The output file's model for these kinds: each one's list of successes (its status
    member under its own name), in the registry's order, then ``Errors`` (the order in which
    a malformed file's first problem is found). Made once per set of kinds (a kind registered
    for a test gets its own model, and leaves the product's as it was)."""
    fields: dict[str, Any] = {}
    for kind in kinds:
        success = create_model(
            f"_{kind.section.title()}Success",
            __base__=_Success,
            status=(str | None, Field(default=None, alias=kind.output_status)),
        )
        fields[kind.section] = (list[success] | None, Field(default=None, alias=kind.output_list))
    fields["errors"] = (list[_Error] | None, Field(default=None, alias="Errors"))
    model = create_model("OutputFile", __base__=OutputFile, **fields)
    model.outcomes = frozenset().union(*(kind.outcomes for kind in kinds))
    return model


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
        return _output_file(tuple(jobkinds.KINDS.values())).model_validate(document)
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
        errors = check_output(output).failures()
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
