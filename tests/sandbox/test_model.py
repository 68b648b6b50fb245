"""The wire contract read from the botocore model: patterns, validation, serialisation."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from reconciler.sandbox.errors import VoiceIdError
from reconciler.sandbox.model import (
    compile_pattern,
    error_status,
    matches_pattern,
    operation_model,
    serialize_output,
    service_model,
    validate_input,
)

DESCRIPTION = r"^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$"
ROLE = r"^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$"


def test_every_model_pattern_compiles() -> None:
    """Every regular expression in the voice-id model translates to a Python pattern."""
    model = service_model()
    patterns = {
        model.shape_for(name).metadata["pattern"]
        for name in model.shape_names
        if "pattern" in model.shape_for(name).metadata
    }
    assert len(patterns) >= 10
    for pattern in patterns:
        compile_pattern(pattern)


@pytest.mark.parametrize(
    ("pattern", "value", "expected"),
    [
        (DESCRIPTION, "Caf\u00e9 line 2: ok@example.com", True),
        (DESCRIPTION, "no!", False),
        (r"^\p{ASCII}{0,8192}$", "abc=", True),
        (r"^\p{ASCII}{0,8192}$", "\u00e9", False),
        (ROLE, "arn:aws:iam::123456789012:role/x", True),
        (ROLE, "arn:aws:iam::123456789012:role/x\r", False),
        (r"^[a-zA-Z0-9]{22}$", "a" * 22 + "\n", False),
        (r"^[a-zA-Z0-9-_]+$", "tok-en_1", True),
    ],
)
def test_java_patterns_match_like_java(pattern: str, value: str, expected: bool) -> None:
    """Unicode classes, \\p{ASCII}, Java's '.' and whole-string matching behave as in Java."""
    assert matches_pattern(pattern, value) is expected


def test_validation_reports_every_problem_at_once() -> None:
    """A request with several faults gets one message per fault."""
    model = operation_model("StartSpeakerEnrollmentJob")
    assert model is not None
    problems = validate_input(
        model,
        {
            "DomainId": "short",
            "JobName": "-bad",
            "InputDataConfig": {"S3Uri": "http://x"},
            "EnrollmentConfig": {
                "ExistingEnrollmentAction": "MAYBE",
                "FraudDetectionConfig": {"RiskThreshold": 101},
            },
            "Surprise": 1,
        },
    )
    text = "\n".join(problems)
    for fragment in (
        "DomainId",
        "JobName",
        "S3Uri",
        "ExistingEnrollmentAction",
        "RiskThreshold",
        "Surprise",
        "DataAccessRoleArn",
        "OutputDataConfig",
    ):
        assert fragment in text
    assert len(problems) >= 9


def test_validation_rejects_wrong_json_types() -> None:
    """Booleans are not integers, numbers are not strings, objects are not lists."""
    model = operation_model("ListSpeakerEnrollmentJobs")
    assert model is not None
    assert validate_input(model, {"DomainId": "a" * 22, "MaxResults": True})
    assert validate_input(model, {"DomainId": 7})
    assert validate_input(model, {"DomainId": "a" * 22, "MaxResults": 1.5})
    assert validate_input(model, {"DomainId": "a" * 22, "MaxResults": 100}) == []


def test_serialisation_emits_timestamps_as_epoch_numbers() -> None:
    """Timestamps go out as epoch seconds; absent members are omitted."""
    model = operation_model("DescribeSpeaker")
    assert model is not None
    wire = serialize_output(
        model,
        {
            "Speaker": {
                "CreatedAt": datetime(2024, 1, 2, tzinfo=UTC),
                "UpdatedAt": 1700000000.12345,
                "Status": "ENROLLED",
                "LastAccessedAt": None,
            }
        },
    )
    assert wire == {
        "Speaker": {"CreatedAt": 1704153600.0, "Status": "ENROLLED", "UpdatedAt": 1700000000.123}
    }


def test_serialisation_refuses_unmodelled_members() -> None:
    """An internal value with a member the model lacks is a bug, not wire output."""
    model = operation_model("DescribeDomain")
    assert model is not None
    with pytest.raises(TypeError):
        serialize_output(model, {"Domain": {"Secret": "x"}})


def test_error_statuses_and_members_follow_the_reference() -> None:
    """Errors carry the documented HTTP statuses and only modelled extra members."""
    assert error_status("ValidationException") == 400
    assert error_status("ResourceNotFoundException") == 404
    assert error_status("ConflictException") == 409
    assert error_status("ServiceQuotaExceededException") == 402
    assert error_status("ThrottlingException") == 429
    assert error_status("AccessDeniedException") == 403
    assert error_status("InternalServerException") == 500
    err = VoiceIdError("ConflictException", "m", ConflictType="DOMAIN_NOT_ACTIVE")
    assert err.to_wire() == {
        "__type": "ConflictException",
        "message": "m",
        "ConflictType": "DOMAIN_NOT_ACTIVE",
    }
    with pytest.raises(ValueError, match="no members"):
        VoiceIdError("ThrottlingException", "m", ResourceType="DOMAIN")
