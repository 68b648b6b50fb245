"""The shapes of the Voice ID answers the reconciler reads, checked in one place.

Every answer of an operation the product calls is read by :func:`read` (the raw JSON body,
from botocore's ``before-parse`` hook, in :mod:`reconciler.adapters.voiceid_answers`) or
:func:`check` (an answer botocore parsed, where no hook ran) into the model of its operation
(:data:`ANSWERS`) before anything reads a member of it. So a malformed answer, whatever is
wrong with it, is one :class:`MalformedAnswer` naming the operation and the member, never an
``AttributeError`` three calls later or a value written to the state.

The models hold only the members the product reads, with the types and constraints of
botocore's ``voice-id`` service model (``tests/test_hostile_service.py`` walks the model and
checks every field here against it: the member exists, its type is the model's, its
``min``/``max``/``pattern``/``enum`` are the model's). Where the model states no bound, the
product sets one (a ``NextToken``, a failure's ``Message``, a page's length), so that an
answer is bounded in every dimension:

* **size**: a body over :data:`MAX_ANSWER_BYTES` is refused unread;
* **depth**: JSON is parsed by pydantic-core, whose parser stops at 200 levels of nesting
  with an error (the standard library's, which botocore uses, raises ``RecursionError`` at
  about 1,000, and botocore's parser walks what it decoded recursively) — the deepest answer
  of the model is 5 levels;
* **types**: strict (no ``"50"`` for an integer, no ``true`` for a number); a time is epoch
  seconds as the awsJson protocol sends it, finite and within the years 1970-9999;
* **members the product cannot do without** are required here even where the model, as is
  usual for AWS output shapes, marks nothing required: the list of a List answer, the ``Job``
  of a Start or Describe answer, a job's ``JobId`` and ``JobStatus``, a domain's ``DomainId``,
  a watchlist's ``WatchlistId``. An answer without them is not "nothing there".

Members the product does not read are ignored (a new member AWS adds breaks nothing), but
they count toward the size and depth bounds. Error messages name the member's path and the
JSON type found, never the value: an answer may carry anything.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainValidator,
    StringConstraints,
    ValidationError,
)
from pydantic_core import PydanticCustomError

MAX_ANSWER_BYTES = 8 * 1024 * 1024
"""The largest answer read (a List page of 100 jobs is about 50 KB)."""
MAX_PAGE_ITEMS = 1000
"""The most items a List page may hold whatever was asked (the product asks 10 or 100)."""
MAX_TOKEN_LENGTH = 16 * 1024
"""The longest ``NextToken`` taken (AWS's are a few hundred characters)."""
MAX_MESSAGE_LENGTH = 64 * 1024
"""The longest failure ``Message`` taken (the state keeps a shortened one)."""
_LATEST = 253402300800.0  # 10000-01-01T00:00:00Z: time.gmtime and ISO 8601 end there

_STRICT = ConfigDict(extra="ignore", frozen=True, strict=True)

Id22 = Annotated[str, StringConstraints(min_length=22, max_length=22, pattern=r"^[a-zA-Z0-9]{22}$")]
"""``DomainId``, ``WatchlistId``, ``JobId``."""
ResourceName = Annotated[
    str, StringConstraints(min_length=1, max_length=256, pattern=r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$")
]
"""``DomainName``, ``WatchlistName``, ``JobName``."""
S3UriText = Annotated[
    str,
    StringConstraints(
        min_length=0, max_length=1024, pattern=r"^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$"
    ),
]
Score = Annotated[int, Field(ge=0, le=100)]
Integer = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
"""The model's ``Integer`` (a Java int)."""
Status = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Z_]+$")]
"""A domain's status: the model's enum is ACTIVE, PENDING, SUSPENDED; any other upper-case word
is read too, and is not ACTIVE (a status AWS adds later blocks the domain, it breaks nothing)."""
JobStatusName = Literal["SUBMITTED", "IN_PROGRESS", "COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"]
"""A job's status: the product's logic depends on each, so an unknown one is refused."""
Token = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TOKEN_LENGTH)]
MessageText = Annotated[str, StringConstraints(min_length=1, max_length=MAX_MESSAGE_LENGTH)]


def _epoch(value: Any) -> float:
    """A ``Timestamp``: epoch seconds as the awsJson protocol sends them, or the aware datetime
    botocore makes of them (an answer it parsed itself)."""
    if isinstance(value, datetime):
        # A naive datetime is UTC, as AWS means every time it sends; .timestamp() would read it
        # in the host's time zone.
        value = (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()
    # bool first: True is an int to Python, and 'CreatedAt: true' must not read as one second
    # past the epoch.
    elif isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("timestamp_type", "not a number of seconds")
    if not (math.isfinite(value) and 0 <= value < _LATEST):
        raise PydanticCustomError("timestamp_range", "not a time between 1970 and 9999")
    return float(value)


Timestamp = Annotated[float, PlainValidator(_epoch)]


class WatchlistDetailsShape(BaseModel):
    model_config = _STRICT
    DefaultWatchlistId: Id22  # required by the model


class DomainSummary(BaseModel):
    model_config = _STRICT
    DomainId: Id22  # required here: a domain is resolved to its id
    Name: ResourceName | None = None
    DomainStatus: Status | None = None
    WatchlistDetails: WatchlistDetailsShape | None = None


class WatchlistSummary(BaseModel):
    model_config = _STRICT
    WatchlistId: Id22  # required here: a watchlist is resolved to its id
    Name: ResourceName | None = None
    DefaultWatchlist: bool | None = None


class JobProgressShape(BaseModel):
    model_config = _STRICT
    PercentComplete: Score | None = None


class FailureDetailsShape(BaseModel):
    model_config = _STRICT
    StatusCode: Integer | None = None
    Message: MessageText | None = None


class DataConfig(BaseModel):
    """``InputDataConfig`` and ``OutputDataConfig``: the product reads their ``S3Uri``."""

    model_config = _STRICT
    S3Uri: S3UriText  # required by the model


class JobSummary(BaseModel):
    """A job of a List page (``SpeakerEnrollmentJobSummary``, ``FraudsterRegistrationJob
    Summary``)."""

    model_config = _STRICT
    JobId: Id22  # required here: the job's identity
    JobStatus: JobStatusName  # required here: what the plan acts on
    JobName: ResourceName | None = None
    DomainId: Id22 | None = None
    CreatedAt: Timestamp | None = None
    EndedAt: Timestamp | None = None
    JobProgress: JobProgressShape | None = None
    FailureDetails: FailureDetailsShape | None = None


class JobDetails(JobSummary):
    """A job of a Start or Describe answer (``SpeakerEnrollmentJob``,
    ``FraudsterRegistrationJob``)."""

    InputDataConfig: DataConfig | None = None
    OutputDataConfig: DataConfig | None = None


class ListDomainsAnswer(BaseModel):
    model_config = _STRICT
    DomainSummaries: Annotated[list[DomainSummary], Field(max_length=MAX_PAGE_ITEMS)]
    NextToken: Token | None = None


class ListWatchlistsAnswer(BaseModel):
    model_config = _STRICT
    WatchlistSummaries: Annotated[list[WatchlistSummary], Field(max_length=MAX_PAGE_ITEMS)]
    NextToken: Token | None = None


class ListJobsAnswer(BaseModel):
    model_config = _STRICT
    JobSummaries: Annotated[list[JobSummary], Field(max_length=MAX_PAGE_ITEMS)]
    NextToken: Token | None = None


class JobAnswer(BaseModel):
    model_config = _STRICT
    Job: JobDetails  # required here: a Start or Describe is about it


Answer = ListDomainsAnswer | ListWatchlistsAnswer | ListJobsAnswer | JobAnswer

ANSWERS: dict[str, type[Answer]] = {
    "ListDomains": ListDomainsAnswer,
    "ListWatchlists": ListWatchlistsAnswer,
    "ListSpeakerEnrollmentJobs": ListJobsAnswer,
    "ListFraudsterRegistrationJobs": ListJobsAnswer,
    "DescribeSpeakerEnrollmentJob": JobAnswer,
    "DescribeFraudsterRegistrationJob": JobAnswer,
    "StartSpeakerEnrollmentJob": JobAnswer,
    "StartFraudsterRegistrationJob": JobAnswer,
}
"""Every operation the product calls, and the model of its answer."""


class MalformedAnswer(ValueError):
    """An answer that is not of its operation's shape; the message names the operation and
    the member, never a value."""


def read(operation: str, body: bytes) -> Answer:
    """The answer of ``operation`` from its raw JSON body, checked (see the module)."""
    if len(body) > MAX_ANSWER_BYTES:
        raise MalformedAnswer(
            f"{operation}: Voice ID answered {len(body):,} bytes (more than "
            f"{MAX_ANSWER_BYTES:,}); not trusting it (a malformed answer)"
        )
    try:
        # From the raw bytes, by pydantic-core's parser: no json.loads tree first, and its depth
        # limit holds where the standard library's recursion would not.
        return ANSWERS[operation].model_validate_json(body)
    except ValidationError as err:
        raise MalformedAnswer(f"{operation}: {explain(err)}") from None


def check(operation: str, answer: dict[str, Any]) -> Answer:
    """The answer of ``operation`` as botocore parsed it, checked (see the module)."""
    try:
        return ANSWERS[operation].model_validate(answer)
    except ValidationError as err:
        raise MalformedAnswer(f"{operation}: {explain(err)}") from None


def check_job(item: Any) -> JobDetails:
    """One job, as a Start or Describe answer holds it (python values), checked."""
    try:
        return JobDetails.model_validate(item)
    except ValidationError as err:
        raise MalformedAnswer(explain(err, what="a job ")) from None


_TYPES = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "model_type": "an object",
    "model_attributes_type": "an object",
    "dict_type": "an object",
    "list_type": "a list",
    "timestamp_type": "a number of seconds",
}
_JSON_NAMES = {dict: "dict", list: "list", str: "str", int: "int", float: "float", bool: "bool"}


def explain(err: ValidationError, *, what: str = "") -> str:
    """One line for a failed validation: its first problem, its member's path, the type of
    what was found (never its value), and how many more there were. ``what`` names the value
    validated (``"a job "``); by default the answer."""
    # No link to pydantic's error pages: the line is for an operator reading a failed run.
    problems = err.errors(include_url=False)
    first = problems[0]
    where = _path(first["loc"])
    kind = first["type"]
    if what:
        subject = f"{what}whose {where}"
    else:
        subject = f"a {where} that" if first["loc"] else "an answer that"
    if kind == "json_invalid":
        said = f"something that is not JSON ({first.get('ctx', {}).get('error', 'unreadable')})"
    elif kind == "missing":
        said = f"{what}without {where}"
    elif kind in _TYPES:
        # The type of what was found, never the value: an answer may carry anything, a speaker
        # id included.
        found = _JSON_NAMES.get(type(first.get("input")), type(first.get("input")).__name__)
        said = f"{subject} is not {_TYPES[kind]} ({found})"
    elif kind == "literal_error":
        said = f"{subject} is not one it knows"
    elif kind in ("too_long", "string_too_long"):
        said = f"{subject} is too long"
    elif kind in ("string_pattern_mismatch", "string_too_short"):
        said = f"{subject} is not of the form the model says"
    elif kind in _RANGES:
        said = f"{subject} is out of range"
    else:
        said = f"{subject} is malformed ({kind})"
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return f"Voice ID answered {said}{more}; not trusting it (a malformed answer)"


_RANGES = frozenset(
    {
        "greater_than",
        "greater_than_equal",
        "less_than",
        "less_than_equal",
        "finite_number",
        "timestamp_range",
    }
)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
