"""The records a sandbox keeps: domains, watchlists, speakers, fraudsters and batch jobs.

All records belong to one ``VoiceIdService`` (never module-level), are mutated only under its
lock, and render themselves as the model's output structures (``to_wire``). Timestamps are
epoch seconds from the service clock. ``seq`` is a per-service creation counter: List* pages
are ordered newest first by it, and NextTokens hold the last ``seq`` returned.

A job's status is a function of the clock until its work has run: SUBMITTED for the first
tenth of its duration, then IN_PROGRESS with a growing PercentComplete, and at
``created_at + duration`` it ends; the service runs the job's work once, on first observation
of that moment, and stores the final status here. EndedAt is always ``created_at + duration``
(not the moment of observation); a FAILED job reports PercentComplete 0, a completed one 100.
"""

from __future__ import annotations

import secrets
import string
import threading
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_ID_ALPHABET = string.ascii_letters + string.digits
_SUBMITTED_FRACTION = 0.1
S3_LOG_LIMIT = 10_000
TERMINAL_STATUSES = frozenset({"COMPLETED", "COMPLETED_WITH_ERRORS", "FAILED"})


def new_id() -> str:
    """A fresh 22-character ``[a-zA-Z0-9]`` identifier, as Voice ID generates them."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(22))


class JobKind(StrEnum):
    """The two kinds of batch job; the value is the stem of their operation names."""

    ENROLLMENT = "SpeakerEnrollment"
    REGISTRATION = "FraudsterRegistration"

    @property
    def config_member(self) -> str:
        """The Start/Describe member holding the job's own configuration."""
        return "EnrollmentConfig" if self is JobKind.ENROLLMENT else "RegistrationConfig"

    @property
    def manifest_key(self) -> str:
        """The list of requests in this kind's manifest."""
        if self is JobKind.ENROLLMENT:
            return "SpeakerEnrollmentRequests"
        return "FraudsterRegistrationRequests"

    @property
    def max_requests_knob(self) -> str:
        """The knob bounding this kind's manifest size."""
        if self is JobKind.ENROLLMENT:
            return "max_speakers_per_job"
        return "max_fraudsters_per_job"


@dataclass
class Job:
    """A batch job. ``request`` is the Start request without its ClientToken."""

    kind: JobKind
    job_id: str
    domain_id: str
    seq: int
    created_at: float
    duration: float
    request: dict[str, Any]
    final_status: str | None = None
    failure: dict[str, Any] | None = None
    output_uri: str | None = None
    outcome: str | None = None
    """A job seeded by a world (``world.SeededJob``) that is still running: the status it ends
    with, instead of doing the work (None: it does the work, as a started job does)."""
    outcome_failure: dict[str, Any] | None = None
    """The FailureDetails of a seeded job whose ``outcome`` is FAILED."""

    @property
    def ends_at(self) -> float:
        """When the job ends (its EndedAt)."""
        return self.created_at + self.duration

    def is_due(self, now: float) -> bool:
        """True when the job has reached its end but its work has not run yet."""
        return self.final_status is None and now >= self.ends_at

    def is_active(self) -> bool:
        """True while the job counts against the active-jobs quota."""
        return self.final_status is None

    def progress(self, now: float) -> tuple[str, int]:
        """``(JobStatus, PercentComplete)`` at ``now``; a due job must be finished first."""
        if self.final_status is not None:
            percent = 0 if self.final_status == "FAILED" else 100
            return self.final_status, percent
        elapsed = now - self.created_at
        if elapsed < self.duration * _SUBMITTED_FRACTION:
            return "SUBMITTED", 0
        percent = int(100 * elapsed / self.duration) if self.duration else 99
        return "IN_PROGRESS", max(1, min(99, percent))

    def summary(
        self, now: float, *, status: str | None = None, percent: int | None = None
    ) -> dict[str, Any]:
        """The job as a ``*JobSummary`` structure."""
        if status is None or percent is None:
            status, percent = self.progress(now)
        data: dict[str, Any] = {
            "CreatedAt": self.created_at,
            "DomainId": self.domain_id,
            "JobId": self.job_id,
            "JobName": self.request.get("JobName"),
            "JobProgress": {"PercentComplete": percent},
            "JobStatus": status,
        }
        if status in TERMINAL_STATUSES:
            data["EndedAt"] = self.ends_at
        if self.failure is not None:
            data["FailureDetails"] = dict(self.failure)
        return data

    def to_wire(self, now: float, *, submitted: bool = False) -> dict[str, Any]:
        """The job as a ``SpeakerEnrollmentJob``/``FraudsterRegistrationJob`` structure."""
        data = self.summary(now, status="SUBMITTED", percent=0) if submitted else self.summary(now)
        data["DataAccessRoleArn"] = self.request["DataAccessRoleArn"]
        data["InputDataConfig"] = dict(self.request["InputDataConfig"])
        data["OutputDataConfig"] = dict(self.request["OutputDataConfig"])
        config = self.request.get(self.kind.config_member)
        if config is not None:
            data[self.kind.config_member] = config
        return data


@dataclass
class Watchlist:
    """A fraudster watchlist."""

    watchlist_id: str
    domain_id: str
    name: str
    description: str | None
    default: bool
    created_at: float
    seq: int

    def to_wire(self) -> dict[str, Any]:
        """The watchlist as a ``Watchlist``/``WatchlistSummary`` structure."""
        return {
            "CreatedAt": self.created_at,
            "DefaultWatchlist": self.default,
            "Description": self.description,
            "DomainId": self.domain_id,
            "Name": self.name,
            "UpdatedAt": self.created_at,
            "WatchlistId": self.watchlist_id,
        }


@dataclass
class Speaker:
    """An enrolled speaker; ``generated_id`` includes the ``id#`` prefix."""

    generated_id: str
    customer_id: str
    domain_id: str
    created_at: float
    updated_at: float
    seq: int
    status: str = "ENROLLED"
    audio: frozenset[str] = frozenset()

    def to_wire(self) -> dict[str, Any]:
        """The speaker as a ``Speaker``/``SpeakerSummary`` structure."""
        return {
            "CreatedAt": self.created_at,
            "CustomerSpeakerId": self.customer_id,
            "DomainId": self.domain_id,
            "GeneratedSpeakerId": self.generated_id,
            "Status": self.status,
            "UpdatedAt": self.updated_at,
        }


@dataclass
class Fraudster:
    """A registered fraudster; ``audio`` is the set of audio URIs it was registered from."""

    generated_id: str
    domain_id: str
    created_at: float
    seq: int
    watchlist_ids: set[str]
    audio: frozenset[str]


@dataclass
class Domain:
    """A Voice ID domain and everything in it."""

    domain_id: str
    arn: str
    name: str
    description: str | None
    kms_key_id: str
    created_at: float
    updated_at: float
    seq: int
    default_watchlist_id: str
    status: str = "ACTIVE"
    tags: list[dict[str, str]] = field(default_factory=list)
    sse_update: dict[str, Any] | None = None
    watchlists: dict[str, Watchlist] = field(default_factory=dict)
    speakers: dict[str, Speaker] = field(default_factory=dict)
    speakers_by_customer_id: dict[str, str] = field(default_factory=dict)
    fraudsters: dict[str, Fraudster] = field(default_factory=dict)
    jobs: dict[JobKind, dict[str, Job]] = field(
        default_factory=lambda: {kind: {} for kind in JobKind}
    )

    def to_wire(self) -> dict[str, Any]:
        """The domain as a ``Domain``/``DomainSummary`` structure."""
        return {
            "Arn": self.arn,
            "CreatedAt": self.created_at,
            "Description": self.description,
            "DomainId": self.domain_id,
            "DomainStatus": self.status,
            "Name": self.name,
            "ServerSideEncryptionConfiguration": {"KmsKeyId": self.kms_key_id},
            "ServerSideEncryptionUpdateDetails": self.sse_update,
            "UpdatedAt": self.updated_at,
            "WatchlistDetails": {"DefaultWatchlistId": self.default_watchlist_id},
        }


@dataclass
class TokenRecord:
    """What a ClientToken started, and when."""

    resource_id: str
    fingerprint: str
    issued_at: float


@dataclass
class Counters:
    """Thread-safe counts of Voice ID calls, per operation and per outcome, and a log of the
    S3 requests made from outside the sandbox, of the Voice ID requests and of what jobs
    accessed as their data access role (the last ``S3_LOG_LIMIT`` of each)."""

    calls: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, dict[str, int]] = field(default_factory=dict)
    s3: list[dict[str, Any]] = field(default_factory=list)
    voiceid: list[dict[str, Any]] = field(default_factory=list)
    role: list[dict[str, Any]] = field(default_factory=list)
    sns: list[dict[str, Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def received(self, operation: str) -> None:
        """Count one call of ``operation`` as received."""
        with self.lock:
            self.calls[operation] = self.calls.get(operation, 0) + 1

    def finished(self, operation: str, outcome: str) -> None:
        """Count the outcome (``OK`` or an error code) of one call of ``operation``."""
        with self.lock:
            per_op = self.outcomes.setdefault(operation, {})
            per_op[outcome] = per_op.get(outcome, 0) + 1

    def snapshot(self) -> tuple[dict[str, int], dict[str, dict[str, int]]]:
        """Copies of the call and outcome counts."""
        with self.lock:
            return dict(self.calls), {op: dict(c) for op, c in self.outcomes.items()}

    def s3_request(
        self, method: str, path: str, outcome: str, *, query: str = "", kms_key: str | None = None
    ) -> None:
        """Log one S3 request from outside: its method, path (``/bucket/key``), query string,
        outcome (the HTTP status, or ``reset`` / ``lost`` when a fault knob dropped it) and the
        KMS key of its server-side encryption (the key it asked for, or that encrypts the
        object read), for the IAM policies' enforcement test."""
        entry = {"method": method, "path": path, "outcome": outcome, "query": query}
        with self.lock:
            self.s3.append({**entry, "kms_key": kms_key})
            del self.s3[:-S3_LOG_LIMIT]

    def voiceid_request(self, operation: str, params: dict[str, Any]) -> None:
        """Log what IAM authorizes of one Voice ID request: the operation, its DomainId and
        the DataAccessRoleArn a Start passes (never a speaker id or an audio location)."""
        with self.lock:
            self.voiceid.append(
                {
                    "operation": operation,
                    "domain_id": params.get("DomainId"),
                    "role_arn": params.get("DataAccessRoleArn"),
                }
            )
            del self.voiceid[:-S3_LOG_LIMIT]

    def voiceid_requests(self) -> list[dict[str, Any]]:
        """A copy of the Voice ID request log, oldest first."""
        with self.lock:
            return [dict(entry) for entry in self.voiceid]

    def role_access(self, role_arn: str, action: str, uri: str, kms_key: str | None) -> None:
        """Log one access a job made as its data access role: the IAM action (``s3:GetObject``,
        ``s3:PutObject``), the object's ``s3://`` URI and the KMS key that encrypts it."""
        entry = {"role_arn": role_arn, "action": action, "uri": uri, "kms_key": kms_key}
        with self.lock:
            self.role.append(entry)
            del self.role[:-S3_LOG_LIMIT]

    def sns_request(self, action: str, topic_arn: str | None) -> None:
        """Log one SNS request from outside: its Action and TopicArn."""
        with self.lock:
            self.sns.append({"action": action, "topic_arn": topic_arn})
            del self.sns[:-S3_LOG_LIMIT]

    def sns_requests(self) -> list[dict[str, Any]]:
        """A copy of the SNS request log, oldest first."""
        with self.lock:
            return [dict(entry) for entry in self.sns]

    def role_accesses(self) -> list[dict[str, Any]]:
        """A copy of the data access role's log, oldest first."""
        with self.lock:
            return [dict(entry) for entry in self.role]

    def s3_requests(self) -> list[dict[str, Any]]:
        """A copy of the S3 request log, oldest first."""
        with self.lock:
            return [dict(entry) for entry in self.s3]

    def reset(self) -> None:
        """Forget every count (and the S3 request log)."""
        with self.lock:
            self.calls.clear()
            self.outcomes.clear()
            self.s3.clear()
            self.voiceid.clear()
            self.role.clear()
            self.sns.clear()
