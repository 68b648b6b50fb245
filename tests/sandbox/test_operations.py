"""Every emulated operation through a real boto3 client, and its wire form on raw HTTP."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.sandbox import Sandbox
from reconciler.sandbox.model import operation_model, validate_shape

from .conftest import Kit, raw_call

MISSING = "Z" * 22


def assert_wire_matches_model(sb: Sandbox, operation: str, params: dict[str, Any]) -> None:
    """The raw JSON answer to ``params`` fits the operation's output shape exactly."""
    status, body = raw_call(sb.endpoint_url, operation, params)
    assert status == 200, body
    model = operation_model(operation)
    assert model is not None
    assert model.output_shape is not None
    assert validate_shape(model.output_shape, body) == []


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> dict[str, Any]:
    """The parsed error response of a ClientError."""
    response: dict[str, Any] = dict(excinfo.value.response)
    return response


def test_domain_operations(kit: Kit) -> None:
    """CreateDomain, DescribeDomain, UpdateDomain and ListDomains round-trip through boto3."""
    created = kit.vid.create_domain(
        Name="second",
        Description="A second domain",
        ServerSideEncryptionConfiguration={"KmsKeyId": kit.world.kms_key_arn},
        Tags=[{"Key": "team", "Value": "fraud"}],
    )["Domain"]
    assert created["DomainStatus"] == "ACTIVE"
    assert created["Arn"].endswith(f":domain/{created['DomainId']}")
    assert len(created["WatchlistDetails"]["DefaultWatchlistId"]) == 22
    described = kit.vid.describe_domain(DomainId=created["DomainId"])["Domain"]
    assert described == created
    updated = kit.vid.update_domain(
        DomainId=created["DomainId"],
        Name="renamed",
        ServerSideEncryptionConfiguration={"KmsKeyId": kit.world.kms_alias},
    )["Domain"]
    assert updated["Name"] == "renamed"
    assert updated["ServerSideEncryptionUpdateDetails"] == {
        "OldKmsKeyId": kit.world.kms_key_arn,
        "UpdateStatus": "COMPLETED",
    }
    names = [d["Name"] for d in kit.vid.list_domains()["DomainSummaries"]]
    assert names == ["renamed", "voiceid-sandbox-demo"]
    for op, params in [
        ("DescribeDomain", {"DomainId": created["DomainId"]}),
        ("ListDomains", {"MaxResults": 1}),
    ]:
        assert_wire_matches_model(kit.sb, op, params)


def test_domain_errors(kit: Kit) -> None:
    """Unknown domains, unusable KMS keys and the domain quota give the modelled errors."""
    with pytest.raises(ClientError) as excinfo:
        kit.vid.describe_domain(DomainId=MISSING)
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(excinfo)["ResourceType"] == "DOMAIN"
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(ClientError) as excinfo:
        kit.vid.create_domain(
            Name="nokey", ServerSideEncryptionConfiguration={"KmsKeyId": "alias/nope"}
        )
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"
    for name in ("d2", "d3"):
        kit.vid.create_domain(
            Name=name, ServerSideEncryptionConfiguration={"KmsKeyId": kit.world.kms_key_id}
        )
    with pytest.raises(ClientError) as excinfo:
        kit.vid.create_domain(
            Name="d4", ServerSideEncryptionConfiguration={"KmsKeyId": kit.world.kms_key_id}
        )
    assert error_of(excinfo)["Error"]["Code"] == "ServiceQuotaExceededException"
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 402


def test_create_domain_is_idempotent_by_client_token(kit: Kit) -> None:
    """The same ClientToken and parameters return the same domain."""
    params = {
        "Name": "tokened",
        "ClientToken": "tok-1",
        "ServerSideEncryptionConfiguration": {"KmsKeyId": kit.world.kms_key_id},
    }
    first = kit.vid.create_domain(**params)["Domain"]
    again = kit.vid.create_domain(**params)["Domain"]
    assert again["DomainId"] == first["DomainId"]


def test_watchlist_operations(kit: Kit) -> None:
    """CreateWatchlist, DescribeWatchlist and ListWatchlists; the default watchlist exists."""
    domain_id = kit.world.domain_id
    created = kit.vid.create_watchlist(
        DomainId=domain_id, Name="vip-fraud", Description="Known VIP impostors"
    )["Watchlist"]
    assert created["DefaultWatchlist"] is False
    described = kit.vid.describe_watchlist(DomainId=domain_id, WatchlistId=created["WatchlistId"])[
        "Watchlist"
    ]
    assert described == created
    summaries = kit.vid.list_watchlists(DomainId=domain_id)["WatchlistSummaries"]
    assert [w["DefaultWatchlist"] for w in summaries] == [False, True]
    assert summaries[1]["WatchlistId"] == kit.world.default_watchlist_id
    page = kit.vid.list_watchlists(DomainId=domain_id, MaxResults=1)
    rest = kit.vid.list_watchlists(DomainId=domain_id, NextToken=page["NextToken"])
    assert [w["WatchlistId"] for w in page["WatchlistSummaries"] + rest["WatchlistSummaries"]] == [
        w["WatchlistId"] for w in summaries
    ]
    assert "NextToken" not in rest
    kit.vid.create_watchlist(DomainId=domain_id, Name="third")
    with pytest.raises(ClientError) as excinfo:
        kit.vid.create_watchlist(DomainId=domain_id, Name="fourth")
    assert error_of(excinfo)["Error"]["Code"] == "ServiceQuotaExceededException"
    with pytest.raises(ClientError) as excinfo:
        kit.vid.list_watchlists(DomainId=MISSING)
    assert error_of(excinfo)["ResourceType"] == "DOMAIN"
    assert_wire_matches_model(kit.sb, "ListWatchlists", {"DomainId": domain_id})


def test_enrollment_job_operations(kit: Kit) -> None:
    """Start, Describe and List speaker enrollment jobs, then DescribeSpeaker/ListSpeakers."""
    uri = kit.put("manifests/three.json", kit.enrollment_manifest(3))
    started = kit.start_enrollment(
        uri,
        JobName="three",
        EnrollmentConfig={
            "ExistingEnrollmentAction": "OVERWRITE",
            "FraudDetectionConfig": {"FraudDetectionAction": "IGNORE", "RiskThreshold": 80},
        },
    )
    assert started["JobStatus"] == "SUBMITTED"
    assert started["JobProgress"] == {"PercentComplete": 0}
    assert started["EnrollmentConfig"]["ExistingEnrollmentAction"] == "OVERWRITE"
    assert "EndedAt" not in started
    job_id = started["JobId"]
    listed = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id)["JobSummaries"]
    assert [j["JobId"] for j in listed] == [job_id]
    assert "EnrollmentConfig" not in listed[0]
    kit.finish()
    done = kit.enrollment(job_id)
    assert done["JobStatus"] == "COMPLETED"
    assert done["EndedAt"] > done["CreatedAt"]
    speakers = kit.vid.list_speakers(DomainId=kit.world.domain_id)["SpeakerSummaries"]
    assert sorted(s["CustomerSpeakerId"] for s in speakers) == ["spk-0", "spk-1", "spk-2"]
    by_customer = kit.vid.describe_speaker(DomainId=kit.world.domain_id, SpeakerId="spk-1")[
        "Speaker"
    ]
    by_generated = kit.vid.describe_speaker(
        DomainId=kit.world.domain_id, SpeakerId=by_customer["GeneratedSpeakerId"]
    )["Speaker"]
    assert by_customer == by_generated
    assert by_customer["Status"] == "ENROLLED"
    assert by_customer["GeneratedSpeakerId"].startswith("id#")
    for op, params in [
        ("DescribeSpeakerEnrollmentJob", {"DomainId": kit.world.domain_id, "JobId": job_id}),
        ("ListSpeakerEnrollmentJobs", {"DomainId": kit.world.domain_id}),
        ("ListSpeakers", {"DomainId": kit.world.domain_id}),
        ("DescribeSpeaker", {"DomainId": kit.world.domain_id, "SpeakerId": "spk-2"}),
    ]:
        assert_wire_matches_model(kit.sb, op, params)


def test_registration_job_operations(kit: Kit) -> None:
    """Start, Describe and List fraudster registration jobs."""
    uri = kit.put("manifests/fraud.json", kit.registration_manifest([kit.world.audio_uris[:2]]))
    started = kit.start_registration(
        uri,
        RegistrationConfig={
            "DuplicateRegistrationAction": "REGISTER_AS_NEW",
            "FraudsterSimilarityThreshold": 70,
        },
    )
    assert started["RegistrationConfig"]["DuplicateRegistrationAction"] == "REGISTER_AS_NEW"
    kit.finish()
    done = kit.registration(started["JobId"])
    assert done["JobStatus"] == "COMPLETED"
    listed = kit.vid.list_fraudster_registration_jobs(
        DomainId=kit.world.domain_id, JobStatus="COMPLETED"
    )["JobSummaries"]
    assert [j["JobId"] for j in listed] == [started["JobId"]]
    assert_wire_matches_model(
        kit.sb,
        "DescribeFraudsterRegistrationJob",
        {"DomainId": kit.world.domain_id, "JobId": started["JobId"]},
    )
    assert_wire_matches_model(
        kit.sb, "ListFraudsterRegistrationJobs", {"DomainId": kit.world.domain_id}
    )


@pytest.mark.parametrize(
    "operation", ["describe_speaker_enrollment_job", "describe_fraudster_registration_job"]
)
def test_describe_unknown_job_is_batch_job_not_found(kit: Kit, operation: str) -> None:
    """Describing an unknown JobId is ResourceNotFoundException with ResourceType BATCH_JOB."""
    with pytest.raises(ClientError) as excinfo:
        getattr(kit.vid, operation)(DomainId=kit.world.domain_id, JobId=MISSING)
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(excinfo)["ResourceType"] == "BATCH_JOB"


def test_describe_unknown_speaker_is_speaker_not_found(kit: Kit) -> None:
    """Describing an unknown speaker is ResourceNotFoundException with ResourceType SPEAKER."""
    with pytest.raises(ClientError) as excinfo:
        kit.vid.describe_speaker(DomainId=kit.world.domain_id, SpeakerId="nobody")
    assert error_of(excinfo)["ResourceType"] == "SPEAKER"


def test_start_checks_domain_watchlist_and_role(kit: Kit) -> None:
    """Start* refuses unknown domains and watchlists, inactive domains and refused roles."""
    uri = kit.put("manifests/one.json", kit.enrollment_manifest(1))
    with pytest.raises(ClientError) as excinfo:
        kit.vid.start_speaker_enrollment_job(**kit.start_params(uri, DomainId=MISSING))
    assert error_of(excinfo)["ResourceType"] == "DOMAIN"
    with pytest.raises(ClientError) as excinfo:
        kit.start_registration(uri, RegistrationConfig={"WatchlistIds": [MISSING]})
    assert error_of(excinfo)["Error"]["Code"] == "ResourceNotFoundException"
    assert error_of(excinfo)["ResourceType"] == "WATCHLIST"
    with pytest.raises(ClientError) as excinfo:
        kit.start_enrollment(
            uri, EnrollmentConfig={"FraudDetectionConfig": {"WatchlistIds": [MISSING]}}
        )
    assert error_of(excinfo)["ResourceType"] == "WATCHLIST"
    kit.sb.configure(refused_role_arns=[kit.world.role_arn])
    with pytest.raises(ClientError) as excinfo:
        kit.start_enrollment(uri)
    assert error_of(excinfo)["Error"]["Code"] == "AccessDeniedException"
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 403
    kit.sb.configure(refused_role_arns=[])
    for status in ("SUSPENDED", "PENDING"):
        kit.sb.set_domain_status(kit.world.domain_id, status)
        with pytest.raises(ClientError) as excinfo:
            kit.start_registration(uri)
        assert error_of(excinfo)["Error"]["Code"] == "ConflictException"
        assert error_of(excinfo)["ConflictType"] == "DOMAIN_NOT_ACTIVE"
        assert (
            kit.vid.describe_domain(DomainId=kit.world.domain_id)["Domain"]["DomainStatus"]
            == status
        )
    kit.sb.set_domain_status(kit.world.domain_id, "ACTIVE")
    assert kit.start_enrollment(uri)["JobStatus"] == "SUBMITTED"


def test_client_side_validation_agrees_with_the_sandbox(kit: Kit) -> None:
    """boto3 with parameter validation off reaches the sandbox, which answers 400."""
    client = kit.sb.client(
        "voice-id", parameter_validation=False, retries={"total_max_attempts": 1}
    )
    try:
        with pytest.raises(ClientError) as excinfo:
            client.list_speaker_enrollment_jobs(DomainId="short", MaxResults=1000)
    finally:
        client.close()
    assert error_of(excinfo)["Error"]["Code"] == "ValidationException"
    assert error_of(excinfo)["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "3 validation errors detected" in error_of(excinfo)["Error"]["Message"]


def test_unknown_and_unemulated_operations_are_refused(kit: Kit) -> None:
    """Unknown targets and model operations the sandbox does not emulate are 400s."""
    status, body = kit.raw("FlyToTheMoon", {})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = kit.raw("EvaluateSession", {"DomainId": MISSING, "SessionNameOrId": "s"})
    assert (status, body["__type"]) == (400, "UnknownOperationException")
    status, body = raw_call(kit.sb.endpoint_url, "ListDomains", None, raw=b"{not json")
    assert (status, body["__type"]) == (400, "SerializationException")


def test_sensitive_fields_are_returned(kit: Kit) -> None:
    """Sensitive members (JobName, Name, Description, CustomerSpeakerId) are on the wire."""
    status, body = kit.raw("DescribeDomain", {"DomainId": kit.world.domain_id})
    assert status == 200
    assert body["Domain"]["Name"] == "voiceid-sandbox-demo"
    assert isinstance(body["Domain"]["CreatedAt"], float)
