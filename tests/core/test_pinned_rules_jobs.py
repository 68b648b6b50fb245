"""Rules of jobs as Voice ID shows them and of what a job's output file says
(reconciler.core.jobs)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from pydantic import ValidationError

from reconciler.core.jobs import (
    OUTCOMES,
    UNKNOWN,
    FailedRequest,
    Failure,
    MalformedOutput,
    ObservedJob,
    check_output,
    failed_requests,
    result_counts,
)
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.redact import MASK
from reconciler.core.roster import Request


def _job(status: JobStatus) -> ObservedJob:
    return ObservedJob(JobKind.ENROLLMENT, "D" * 22, "j1", "n", status)


def test_a_failure_is_redacted_and_keeps_its_code() -> None:
    """Voice ID's failure message loses any S3 key; its status code is kept; both have
    defaults, and it reads and writes the state's camelCase names."""
    failure = Failure(status_code=400, message="no access to s3://bucket/calls/jo.wav")
    assert failure.message == "no access to s3://bucket/<key>"
    assert failure.status_code == 400
    assert Failure() == Failure(message="", status_code=None)
    assert Failure.model_validate({"statusCode": 403, "message": "x"}).status_code == 403
    assert failure.model_dump(by_alias=True) == {
        "message": "no access to s3://bucket/<key>",
        "statusCode": 400,
    }
    with pytest.raises(ValueError, match="extra"):
        Failure.model_validate({"message": "x", "other": 1})


def test_an_observed_job_is_active_until_it_ends() -> None:
    """SUBMITTED and IN_PROGRESS are active; an ended job is not; the value is immutable."""
    assert _job(JobStatus.SUBMITTED).active
    assert _job(JobStatus.IN_PROGRESS).active
    for status in (JobStatus.COMPLETED, JobStatus.COMPLETED_WITH_ERRORS, JobStatus.FAILED):
        assert not _job(status).active
    with pytest.raises(dataclasses.FrozenInstanceError):
        _job(JobStatus.FAILED).status = JobStatus.COMPLETED  # type: ignore[misc]


def test_the_outcomes_of_every_kind() -> None:
    """The outcomes counted as they are: every kind's successes (the documented ones)."""
    assert {
        "NEW_ENROLLMENT",
        "DUPLICATE_SKIPPED",
        "ENROLLMENT_OVERWRITE",
        "NEW_REGISTRATION",
        "NEW_FRAUDSTER",
    } == OUTCOMES
    assert UNKNOWN == "UNKNOWN"


def test_counts_per_outcome_and_error_code() -> None:
    """Successes by outcome, errors by HTTP-like code; anything else counted as UNKNOWN, the
    counts sorted by name."""
    document = {
        "SuccessfulEnrollments": [
            {"EnrollmentStatus": "NEW_ENROLLMENT"},
            {"EnrollmentStatus": "NEW_ENROLLMENT"},
            {"EnrollmentStatus": "SOMETHING_NEW"},
            {"EnrollmentStatus": None},
            {},
        ],
        "SuccessfulRegistrations": [{"RegistrationStatus": "NEW_FRAUDSTER"}],
        "Errors": [
            {"ErrorCode": 400},
            {"ErrorCode": "404"},
            {"ErrorCode": "099"},
            {"ErrorCode": 1000},
            {"ErrorCode": "40x"},
            {},
        ],
    }
    counts = result_counts(document)
    assert counts == {
        "NEW_ENROLLMENT": 2,
        "NEW_FRAUDSTER": 1,
        UNKNOWN: 3,
        "error:400": 1,
        "error:404": 1,
        "error:UNKNOWN": 4,
    }
    assert list(counts or {}) == sorted(counts or {})
    assert result_counts({}) == {}
    assert result_counts({"SuccessfulEnrollments": None, "Errors": None}) == {}


def test_other_members_are_ignored() -> None:
    """Members the product does not read are left alone."""
    assert result_counts({"Other": 1, "Errors": [{"ErrorCode": 400, "Extra": 2}]}) == {
        "error:400": 1
    }


@pytest.mark.parametrize(
    ("document", "where"),
    [
        ([], "the document must be an object"),
        ("x", "the document must be an object"),
        ({"Errors": {}}, "Errors must be a list"),
        ({"Errors": [1]}, "Errors[0] must be an object"),
        ({"Errors": [{"ErrorCode": 1.5}]}, "Errors[0].ErrorCode must be an integer or a string"),
        ({"Errors": [{}, {"ErrorMessage": 3}]}, "Errors[1].ErrorMessage must be a string"),
        ({"Errors": [{"RequestId": []}]}, "Errors[0].RequestId must be a string"),
        ({"SuccessfulEnrollments": 3}, "SuccessfulEnrollments must be a list"),
        (
            {"SuccessfulRegistrations": [{"RegistrationStatus": 1}]},
            "SuccessfulRegistrations[0].RegistrationStatus must be a string",
        ),
        ({"Errors": [{"ErrorCode": True}]}, "Errors[0].ErrorCode must be an integer or a string"),
    ],
)
def test_a_malformed_output_names_where(document: Any, where: str) -> None:
    """The first member not of its shape is named (never its value); counts are then
    unknown and no failed request is listed."""
    with pytest.raises(MalformedOutput) as caught:
        check_output(document)
    assert str(caught.value) == where
    assert caught.value.__cause__ is None
    assert result_counts(document) is None
    assert failed_requests(document) == []


def test_failed_requests_in_request_order_redacted() -> None:
    """Each error with its request id, code (UNKNOWN when not HTTP-like) and message, by
    RequestId, with speaker ids and S3 keys redacted."""
    MASK.use([[Request("cust-42", ())]])
    document = {
        "Errors": [
            {"RequestId": "req-2", "ErrorCode": 400, "ErrorMessage": "cust-42 s3://b/k.wav"},
            {"RequestId": "req-1", "ErrorCode": "x", "ErrorMessage": None},
            {"ErrorCode": 500},
        ]
    }
    assert failed_requests(document) == [
        FailedRequest("", "500", ""),
        FailedRequest("req-1", UNKNOWN, ""),
        FailedRequest("req-2", "400", "<speaker> s3://b/<key>"),
    ]
    assert failed_requests({}) == []


def test_what_is_read_of_an_output_file_is_a_value() -> None:
    """The output file read and each failed request cannot be changed afterwards."""
    output = check_output({"Errors": [{"ErrorCode": 400}]})
    with pytest.raises(ValidationError, match="frozen"):
        output.errors = None  # type: ignore[attr-defined]
    (error,) = output.failures()
    with pytest.raises(ValidationError, match="frozen"):
        error.code = 500  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        FailedRequest("r", 400, "m").message = "x"  # type: ignore[misc]
