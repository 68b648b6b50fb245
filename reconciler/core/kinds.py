"""Job kinds and Voice ID job statuses, as enums (``str`` values: they are the wire strings)."""

from __future__ import annotations

from enum import StrEnum


class JobKind(StrEnum):
    """The two kinds of Voice ID batch job (and of spec document)."""

    ENROLLMENT = "SpeakerEnrollmentJob"
    REGISTRATION = "FraudsterRegistrationJob"


class JobStatus(StrEnum):
    """A batch job's ``JobStatus`` in Voice ID."""

    SUBMITTED = "SUBMITTED"
    IN_PROGRESS = "IN_PROGRESS"
    COMPLETED = "COMPLETED"
    COMPLETED_WITH_ERRORS = "COMPLETED_WITH_ERRORS"
    FAILED = "FAILED"


ACTIVE = frozenset({JobStatus.SUBMITTED, JobStatus.IN_PROGRESS})
"""Statuses of a job that still occupies its domain's slot."""
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED})
"""Statuses of a job that has ended (it never changes again)."""
WITH_OUTPUT = frozenset({JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS})
"""Statuses of a job that wrote an output file with results."""
