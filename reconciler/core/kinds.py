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


# SUBMITTED counts: a job Voice ID accepted but has not begun already holds the domain's slot,
# and a start beside it would be refused for the quota.
ACTIVE = frozenset({JobStatus.SUBMITTED, JobStatus.IN_PROGRESS})
"""Statuses of a job that still occupies its domain's slot."""
# A job in one of these is never described again: its record is final, which is what keeps a
# steady run's calls down to the jobs still in flight.
TERMINAL = frozenset({JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED})
"""Statuses of a job that has ended (it never changes again)."""
WITH_OUTPUT = frozenset({JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS})
"""Statuses of a job that wrote an output file with results."""


class ActionKind(StrEnum):
    """What a plan does with a spec or a job (:mod:`reconciler.core.plan`)."""

    START = "start"
    RETRY = "retry"
    QUEUED = "queued"
    AWAITING_REVIEW = "awaiting-review"
    BLOCKED = "blocked"
    IN_SYNC = "in-sync"
    SUPERSEDED = "superseded"
    ORPHANED = "orphaned"
    RETIRED = "retired"


STARTING = frozenset({ActionKind.START, ActionKind.RETRY})
"""Actions that start a job in this run."""
PENDING = STARTING | {ActionKind.QUEUED}
"""Actions that start a job now or later."""
WANTED = PENDING | {ActionKind.AWAITING_REVIEW}
"""The actions of a spec whose job is still to start (now, later, or once reviewed)."""
