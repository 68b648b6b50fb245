"""Jobs as Voice ID shows them, and what a job's output file says (values; no I/O).

:class:`ObservedJob` is what the Voice ID adapter returns from List, Describe and Start;
:class:`Failure` is a FAILED job's reason (also kept in the state). :func:`result_counts`
and :func:`failed_requests` read an output document that the S3 adapter fetched.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from reconciler.core.kinds import TERMINAL, JobKind, JobStatus


class Failure(BaseModel):
    """Why a job FAILED, as Voice ID says it."""

    model_config = ConfigDict(extra="forbid", alias_generator=to_camel, populate_by_name=True)

    message: str = ""  # the fields in the sorted order of their names on disk (the state's)
    status_code: int | None = None


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


def result_counts(output: dict[str, Any]) -> dict[str, int]:
    """Counts per outcome (NEW_ENROLLMENT, DUPLICATE_SKIPPED, ...) and per ``error:<code>``."""
    counts: Counter[str] = Counter()
    for item in output.get("SuccessfulEnrollments", []) or []:
        counts[str(item.get("EnrollmentStatus", "UNKNOWN"))] += 1
    for item in output.get("SuccessfulRegistrations", []) or []:
        counts[str(item.get("RegistrationStatus", "UNKNOWN"))] += 1
    for item in output.get("Errors", []) or []:
        counts[f"error:{item.get('ErrorCode', 'UNKNOWN')}"] += 1
    return dict(sorted(counts.items()))


def failed_requests(output: dict[str, Any]) -> list[FailedRequest]:
    """The failed requests of an output file, in RequestId order."""
    return sorted(
        (
            FailedRequest(
                str(item.get("RequestId", "")),
                item.get("ErrorCode", ""),
                str(item.get("ErrorMessage", "")),
            )
            for item in output.get("Errors", []) or []
        ),
        key=lambda f: f.request_id,
    )
