"""The sandbox's knobs.

``SandboxConfig`` is a frozen value; changing a knob replaces the whole value (``with_knobs``),
so a request always sees one consistent configuration. Knobs can be set at construction
(``Sandbox(**knobs)``), at run time from Python (``Sandbox.configure``) or over HTTP
(``POST /_sandbox/config``); all three go through ``with_knobs``, which rejects unknown
names and values of the wrong type or range.

Profiles set the throttling knobs: ``fast`` turns throttling off, ``realistic`` applies the
Voice ID quota of 2 transactions per second per operation with a burst of 2.
"""

from __future__ import annotations

import dataclasses
import math
import re
from dataclasses import dataclass
from typing import Any

from reconciler.sandbox.faults import AnswerFault

PROFILES: dict[str, dict[str, Any]] = {
    "fast": {"tps": None, "burst": 2},
    "realistic": {"tps": 2.0, "burst": 2},
}

DEFAULT_ACCOUNT_ID = "123456789012"
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class SandboxConfig:
    """Every run-time knob of the sandbox, with its default."""

    #: seconds from Start to the end of a job (SUBMITTED for the first tenth, then IN_PROGRESS)
    job_duration: float = 2.0
    #: calls per second allowed per operation (token bucket); None means unlimited
    tps: float | None = None
    #: token-bucket capacity per operation
    burst: int = 2
    #: probability (0..1) that a Voice ID call fails with ThrottlingException anyway
    throttle_error_rate: float = 0.0
    #: probability (0..1) that a Voice ID call fails with InternalServerException
    internal_error_rate: float = 0.0
    #: seed of the random generator behind the error, reset and loss rates
    seed: int = 0
    #: seconds of latency added to every Voice ID call
    latency: float = 0.0
    #: probability (0..1) that a Voice ID request's connection is closed, with no response,
    #: before the request is handled (a connection reset: nothing happened)
    connection_reset_rate: float = 0.0
    #: probability (0..1) that a Voice ID request is handled and its connection then closed
    #: with no response (the effect happened; the caller never hears of it)
    lost_response_rate: float = 0.0
    #: probability (0..1) that an S3 request from outside the sandbox is reset unhandled
    s3_connection_reset_rate: float = 0.0
    #: probability (0..1) that an S3 request from outside is handled and its response lost
    s3_lost_response_rate: float = 0.0
    #: probability (0..1) that an S3 request from outside fails with 500 InternalError
    s3_internal_error_rate: float = 0.0
    #: seconds of latency added to every S3 request from outside the sandbox
    s3_latency: float = 0.0
    #: a regular expression: the S3 fault knobs (not the latency) apply only to requests whose
    #: ``"<METHOD> /<bucket>/<key>"`` it matches (re.search); empty: to every request
    s3_fault_filter: str = ""
    #: how many S3 faults to inject from the moment this knob is set; 0: no limit
    s3_fault_limit: int = 0
    #: page size of List* calls made without MaxResults (capped at the model's maximum)
    default_page_size: int = 100
    #: seconds a ClientToken is remembered (AWS does not document it)
    client_token_ttl: float = 8 * 3600.0
    #: seconds a NextToken stays valid (AWS documents 24 hours)
    next_token_ttl: float = 24 * 3600.0
    #: seconds before a new job shows up in List* (Describe sees it at once)
    list_lag: float = 0.0
    #: active (SUBMITTED or IN_PROGRESS) jobs per domain, per job kind
    max_active_jobs: int = 1
    #: requests per speaker enrollment manifest
    max_speakers_per_job: int = 10_000
    #: requests per fraudster registration manifest
    max_fraudsters_per_job: int = 500
    #: domains per account
    max_domains: int = 3
    #: watchlists per domain, the default one included
    max_watchlists_per_domain: int = 3
    #: speakers per domain (beyond it a request fails with ErrorCode 402)
    max_speakers_per_domain: int = 100_000
    #: fraudsters per watchlist (beyond it a request fails with ErrorCode 402)
    max_fraudsters_per_watchlist: int = 500
    #: data access role ARNs that Start* refuses with AccessDeniedException
    refused_role_arns: tuple[str, ...] = ()
    #: Voice ID operations whose successful answers come back as ``{}`` (HTTP 200 without the
    #: fields the model requires: a broken proxy, a truncated body)
    malformed_operations: tuple[str, ...] = ()
    #: successful Voice ID answers served mutated: a list of ``{operation, action, path,
    #: value, times}`` (``reconciler.sandbox.faults``: drop, set, raw JSON text, a NextToken
    #: loop); the operation is handled as usual
    answer_faults: tuple[AnswerFault, ...] = ()
    #: fail jobs whose OutputDataConfig has no KmsKeyId (the guide asks for one; the model
    #: marks it optional)
    require_output_kms_key: bool = False

    def with_knobs(self, **knobs: Any) -> SandboxConfig:
        """A copy with ``knobs`` applied; ``profile=NAME`` sets the throttling knobs."""
        knobs = dict(knobs)
        profile = knobs.pop("profile", None)
        changes: dict[str, Any] = {}
        if profile is not None:
            if profile not in PROFILES:
                raise ValueError(f"unknown profile {profile!r}; choose from {sorted(PROFILES)}")
            changes.update(PROFILES[profile])
        fields = {field.name: field for field in dataclasses.fields(self)}
        for name, value in knobs.items():
            if name not in fields:
                raise ValueError(f"unknown knob {name!r}; known: {sorted(fields)} and 'profile'")
            changes[name] = _coerce(name, value)
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The knobs as JSON-ready values."""
        data = dataclasses.asdict(self)
        data["refused_role_arns"] = list(self.refused_role_arns)
        data["malformed_operations"] = list(self.malformed_operations)
        data["answer_faults"] = [fault.to_dict() for fault in self.answer_faults]
        return data


_RATES = {
    "throttle_error_rate",
    "internal_error_rate",
    "connection_reset_rate",
    "lost_response_rate",
    "s3_connection_reset_rate",
    "s3_lost_response_rate",
    "s3_internal_error_rate",
}
_POSITIVE_INTS = {
    "burst",
    "default_page_size",
    "max_active_jobs",
    "max_speakers_per_job",
    "max_fraudsters_per_job",
    "max_domains",
    "max_watchlists_per_domain",
    "max_speakers_per_domain",
    "max_fraudsters_per_watchlist",
}
_SECONDS = {
    "job_duration",
    "latency",
    "s3_latency",
    "client_token_ttl",
    "next_token_ttl",
    "list_lag",
}


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise ValueError(f"knob {name} must be a number, got {value!r}")
    return float(value)


def _coerce(name: str, value: Any) -> Any:  # noqa: PLR0911
    if name in _RATES:
        rate = _number(name, value)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"knob {name} must be within 0..1, got {value!r}")
        return rate
    if name in _SECONDS:
        seconds = _number(name, value)
        if seconds < 0:
            raise ValueError(f"knob {name} must be >= 0, got {value!r}")
        return seconds
    if name in _POSITIVE_INTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"knob {name} must be an integer >= 1, got {value!r}")
        return value
    if name == "tps":
        if value is None:
            return None
        tps = _number(name, value)
        if tps <= 0:
            raise ValueError(f"knob tps must be > 0 or null, got {value!r}")
        return tps
    if name == "seed":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"knob seed must be an integer, got {value!r}")
        return value
    if name in ("refused_role_arns", "malformed_operations"):
        if isinstance(value, str) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"knob {name} must be a list of strings, got {value!r}")
        return tuple(value)
    return _coerce_fault_scope(name, value)


def _coerce_fault_scope(name: str, value: Any) -> Any:
    """The knobs that are neither numbers nor rates: the S3 fault scope and the KMS flag."""
    if name == "s3_fault_filter":
        if not isinstance(value, str):
            raise ValueError(f"knob {name} must be a regular expression, got {value!r}")
        try:
            re.compile(value)
        except re.error as err:
            raise ValueError(f"knob {name}: {err}") from err
        return value
    if name == "s3_fault_limit":
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"knob {name} must be an integer >= 0, got {value!r}")
        return value
    if name == "answer_faults":
        if isinstance(value, str | dict) or not isinstance(value, list | tuple):
            raise ValueError(f"knob {name} must be a list of answer faults, got {value!r}")
        return tuple(AnswerFault.of(item) for item in value)
    if name == "require_output_kms_key":
        if not isinstance(value, bool):
            raise ValueError(f"knob {name} must be a boolean, got {value!r}")
        return value
    raise ValueError(f"unknown knob {name!r}")  # pragma: no cover - fields and branches agree
