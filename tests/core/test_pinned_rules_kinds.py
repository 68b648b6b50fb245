"""Rules of the job kinds, statuses and action kinds' groups (reconciler.core.kinds)."""

from __future__ import annotations

from reconciler.core.kinds import (
    ACTIVE,
    PENDING,
    STARTING,
    TERMINAL,
    WANTED,
    WITH_OUTPUT,
    ActionKind,
    JobKind,
    JobStatus,
)


def test_kinds_and_statuses_are_the_wire_strings() -> None:
    """A kind and a status are Voice ID's own strings (they are compared with its answers)."""
    assert [k.value for k in JobKind] == ["SpeakerEnrollmentJob", "FraudsterRegistrationJob"]
    assert JobKind("SpeakerEnrollmentJob") is JobKind.ENROLLMENT
    assert {s.value for s in JobStatus} == {
        "SUBMITTED",
        "IN_PROGRESS",
        "COMPLETED",
        "COMPLETED_WITH_ERRORS",
        "FAILED",
    }


def test_each_status_is_active_or_terminal() -> None:
    """A job occupies its slot while SUBMITTED or IN_PROGRESS; every other status has ended."""
    assert {JobStatus.SUBMITTED, JobStatus.IN_PROGRESS} == ACTIVE
    assert ACTIVE.isdisjoint(TERMINAL)
    assert set(JobStatus) == ACTIVE | TERMINAL


def test_only_a_completed_job_has_results() -> None:
    """COMPLETED and COMPLETED_WITH_ERRORS wrote an output file; FAILED did not."""
    assert {JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS} == WITH_OUTPUT
    assert WITH_OUTPUT < TERMINAL


def test_the_groups_of_action_kinds() -> None:
    """Starting: start and retry; pending adds a queued start; wanted adds one awaiting review."""
    assert {ActionKind.START, ActionKind.RETRY} == STARTING
    assert {ActionKind.START, ActionKind.RETRY, ActionKind.QUEUED} == PENDING
    assert {
        ActionKind.START,
        ActionKind.RETRY,
        ActionKind.QUEUED,
        ActionKind.AWAITING_REVIEW,
    } == WANTED
