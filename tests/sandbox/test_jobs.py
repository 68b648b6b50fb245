"""Batch jobs: lifecycle over the clock, manifests, per-request errors, output files."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import Kit


def test_job_moves_submitted_in_progress_completed(kit: Kit) -> None:
    """A job is SUBMITTED, then IN_PROGRESS with growing PercentComplete, then COMPLETED."""
    kit.sb.configure(job_duration=10.0)
    uri = kit.put("manifests/one.json", kit.enrollment_manifest(1))
    job_id = kit.start_enrollment(uri)["JobId"]
    assert kit.enrollment(job_id)["JobStatus"] == "SUBMITTED"
    seen = []
    for _ in range(4):
        kit.sb.advance_clock(2.0)
        job = kit.enrollment(job_id)
        seen.append((job["JobStatus"], job["JobProgress"]["PercentComplete"]))
    assert seen == [
        ("IN_PROGRESS", 20),
        ("IN_PROGRESS", 40),
        ("IN_PROGRESS", 60),
        ("IN_PROGRESS", 80),
    ]
    assert "EndedAt" not in job
    kit.sb.advance_clock(2.0)
    job = kit.enrollment(job_id)
    assert (job["JobStatus"], job["JobProgress"]["PercentComplete"]) == ("COMPLETED", 100)
    assert (job["EndedAt"] - job["CreatedAt"]).total_seconds() == pytest.approx(10.0)


def test_work_runs_once_when_the_end_is_first_observed(kit: Kit) -> None:
    """The output file appears only once the job has ended, and is written exactly once."""
    uri = kit.put("manifests/once.json", kit.enrollment_manifest(2))
    job_id = kit.start_enrollment(uri)["JobId"]
    listing = kit.s3.list_objects_v2(Bucket=kit.world.bucket, Prefix="output/")
    assert listing["KeyCount"] == 0
    kit.finish()
    listing = kit.s3.list_objects_v2(Bucket=kit.world.bucket, Prefix="output/")
    assert [o["Key"] for o in listing["Contents"]] == [f"output/{job_id}/once.json.out"]
    first = kit.s3.head_object(Bucket=kit.world.bucket, Key=f"output/{job_id}/once.json.out")
    for _ in range(3):
        kit.enrollment(job_id)
    again = kit.s3.head_object(Bucket=kit.world.bucket, Key=f"output/{job_id}/once.json.out")
    assert again["LastModified"] == first["LastModified"]
    assert again["ETag"] == first["ETag"]


def test_fifty_requests_with_five_bad_complete_with_errors(kit: Kit) -> None:
    """50 requests with 5 bad ones: COMPLETED_WITH_ERRORS, 5 Errors, 45 speakers listed."""
    kit.put("audio/empty.wav", b"")
    manifest = kit.enrollment_manifest(50)
    requests = manifest["SpeakerEnrollmentRequests"]
    requests[3]["AudioSpecifications"][0]["S3Uri"] = f"s3://{kit.world.bucket}/audio/none.wav"
    requests[11]["AudioSpecifications"][0]["ChannelId"] = 2
    requests[19]["AudioSpecifications"] = [{"S3Uri": kit.world.audio_uris[0], "ChannelId": 0}] * 11
    requests[27]["SpeakerId"] = "-not-a-valid-id"
    requests[42]["AudioSpecifications"][0]["S3Uri"] = f"s3://{kit.world.bucket}/audio/empty.wav"
    uri = kit.put("manifests/batch-50.json", manifest)
    job_id = kit.start_enrollment(uri, JobName="batch-50")["JobId"]
    kit.finish()
    job = kit.enrollment(job_id)
    assert job["JobStatus"] == "COMPLETED_WITH_ERRORS"
    assert "FailureDetails" not in job
    output = kit.output(job_id, "batch-50.json")
    assert output["Version"] == "1.0"
    assert sorted(e["RequestId"] for e in output["Errors"]) == sorted(
        requests[i]["RequestId"] for i in (3, 11, 19, 27, 42)
    )
    assert {e["ErrorCode"] for e in output["Errors"]} == {400}
    assert all(e["ErrorMessage"] for e in output["Errors"])
    successes = output["SuccessfulEnrollments"]
    assert len(successes) == 45
    assert {s["EnrollmentStatus"] for s in successes} == {"NEW_ENROLLMENT"}
    assert all(len(s["GeneratedSpeakerId"]) == 25 for s in successes)
    paginator = kit.vid.get_paginator("list_speakers")
    listed = [
        s
        for page in paginator.paginate(
            DomainId=kit.world.domain_id, PaginationConfig={"PageSize": 10}
        )
        for s in page["SpeakerSummaries"]
    ]
    assert sorted(s["CustomerSpeakerId"] for s in listed) == sorted(
        s["CustomerSpeakerId"] for s in successes
    )
    assert {s["GeneratedSpeakerId"] for s in listed} == {s["GeneratedSpeakerId"] for s in successes}


def test_output_file_is_kms_encrypted_under_output_uri(kit: Kit) -> None:
    """The output goes to <S3Uri>/<JobId>/<input name>.out, SSE-KMS with the given key."""
    uri = kit.put("manifests/deep/in.json", kit.enrollment_manifest(1))
    job_id = kit.start_enrollment(
        uri,
        OutputDataConfig={
            "S3Uri": f"s3://{kit.world.bucket}/results/",
            "KmsKeyId": kit.world.kms_alias,
        },
    )["JobId"]
    kit.finish()
    assert kit.enrollment(job_id)["JobStatus"] == "COMPLETED"
    head = kit.s3.head_object(Bucket=kit.world.bucket, Key=f"results/{job_id}/in.json.out")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert kit.sb.output_uri(job_id) == f"s3://{kit.world.bucket}/results/{job_id}/in.json.out"


def test_existing_enrollment_action_skip_and_overwrite(kit: Kit) -> None:
    """Re-enrolling: SKIP (default) gives DUPLICATE_SKIPPED, OVERWRITE ENROLLMENT_OVERWRITE."""
    uri = kit.put("manifests/two.json", kit.enrollment_manifest(2))
    first = kit.start_enrollment(uri)["JobId"]
    kit.finish()
    skipped = kit.start_enrollment(uri)["JobId"]
    kit.finish()
    overwritten = kit.start_enrollment(
        uri, EnrollmentConfig={"ExistingEnrollmentAction": "OVERWRITE"}
    )["JobId"]
    kit.finish()
    ids = {
        s["CustomerSpeakerId"]: s["GeneratedSpeakerId"]
        for s in kit.output(first, "two.json")["SuccessfulEnrollments"]
    }
    for job_id, status in ((skipped, "DUPLICATE_SKIPPED"), (overwritten, "ENROLLMENT_OVERWRITE")):
        entries = kit.output(job_id, "two.json")["SuccessfulEnrollments"]
        assert {e["EnrollmentStatus"] for e in entries} == {status}
        assert {e["CustomerSpeakerId"]: e["GeneratedSpeakerId"] for e in entries} == ids
    assert len(kit.vid.list_speakers(DomainId=kit.world.domain_id)["SpeakerSummaries"]) == 2


def test_registration_uses_default_watchlist_and_skips_duplicates(kit: Kit) -> None:
    """Fraudsters register to the default watchlist; the same audio set is DUPLICATE_SKIPPED."""
    audio = kit.world.audio_uris
    uri = kit.put("manifests/fraud.json", kit.registration_manifest([audio[:2], audio[2:3]]))
    first = kit.start_registration(uri)["JobId"]
    kit.finish()
    again = kit.start_registration(uri)["JobId"]
    kit.finish()
    as_new = kit.start_registration(
        uri,
        RegistrationConfig={
            "DuplicateRegistrationAction": "REGISTER_AS_NEW",
            "WatchlistIds": [kit.world.default_watchlist_id],
        },
    )["JobId"]
    kit.finish()
    one = kit.output(first, "fraud.json")["SuccessfulRegistrations"]
    two = kit.output(again, "fraud.json")["SuccessfulRegistrations"]
    three = kit.output(as_new, "fraud.json")["SuccessfulRegistrations"]
    assert [r["RegistrationStatus"] for r in one] == ["NEW_REGISTRATION"] * 2
    assert [r["RegistrationStatus"] for r in two] == ["DUPLICATE_SKIPPED"] * 2
    assert [r["GeneratedFraudsterId"] for r in two] == [r["GeneratedFraudsterId"] for r in one]
    assert [r["FraudsterSimilarityScore"] for r in two] == [100, 100]
    assert [r["RegistrationStatus"] for r in three] == ["NEW_REGISTRATION"] * 2
    assert not {r["GeneratedFraudsterId"] for r in three} & {r["GeneratedFraudsterId"] for r in one}


def test_registration_into_another_watchlist_is_not_a_duplicate(kit: Kit) -> None:
    """Duplicates are looked for in the target watchlist only."""
    other = kit.vid.create_watchlist(DomainId=kit.world.domain_id, Name="other")["Watchlist"]
    uri = kit.put("manifests/f.json", kit.registration_manifest([kit.world.audio_uris[:1]]))
    kit.start_registration(uri)
    kit.finish()
    job_id = kit.start_registration(
        uri, RegistrationConfig={"WatchlistIds": [other["WatchlistId"]]}
    )["JobId"]
    kit.finish()
    statuses = [
        r["RegistrationStatus"] for r in kit.output(job_id, "f.json")["SuccessfulRegistrations"]
    ]
    assert statuses == ["NEW_REGISTRATION"]


def test_enrollment_fraud_check_fails_known_fraudster_audio(kit: Kit) -> None:
    """Enrolling with a registered fraudster's audio fails (400) unless the action is IGNORE."""
    fraud_audio = kit.world.audio_uris[0]
    reg = kit.put("manifests/fraud.json", kit.registration_manifest([[fraud_audio]]))
    kit.start_registration(reg)
    kit.finish()
    manifest = {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": "bad",
                "SpeakerId": "mallory",
                "AudioSpecifications": [{"S3Uri": fraud_audio, "ChannelId": 0}],
            },
            {
                "RequestId": "good",
                "SpeakerId": "alice",
                "AudioSpecifications": [{"S3Uri": kit.world.audio_uris[1], "ChannelId": 1}],
            },
        ],
    }
    uri = kit.put("manifests/enroll.json", manifest)
    failing = kit.start_enrollment(uri)["JobId"]
    kit.finish()
    assert kit.enrollment(failing)["JobStatus"] == "COMPLETED_WITH_ERRORS"
    output = kit.output(failing, "enroll.json")
    assert [(e["RequestId"], e["ErrorCode"]) for e in output["Errors"]] == [("bad", 400)]
    ignoring = kit.start_enrollment(
        uri, EnrollmentConfig={"FraudDetectionConfig": {"FraudDetectionAction": "IGNORE"}}
    )["JobId"]
    kit.finish()
    assert kit.enrollment(ignoring)["JobStatus"] == "COMPLETED"


@pytest.mark.parametrize(
    ("manifest", "status_code"),
    [
        (b"{not json", 400),
        ({"Version": "2.0", "SpeakerEnrollmentRequests": []}, 400),
        ({"Version": "1.0"}, 400),
        ({"Version": "1.0", "SpeakerEnrollmentRequests": []}, 400),
        (
            {"Version": "1.0", "SpeakerEnrollmentRequests": [{"RequestId": "a", "SpeakerId": "s"}]},
            400,
        ),
        (
            {
                "Version": "1.0",
                "SpeakerEnrollmentRequests": [
                    {
                        "RequestId": "a",
                        "SpeakerId": "s",
                        "AudioSpecifications": [{"S3Uri": "s3://b/k"}],
                    }
                ],
            },
            400,
        ),
        (
            {
                "Version": "1.0",
                "SpeakerEnrollmentRequests": [
                    {"RequestId": "a", "SpeakerId": "s1", "AudioSpecifications": []},
                    {"RequestId": "a", "SpeakerId": "s2", "AudioSpecifications": []},
                ],
            },
            400,
        ),
        (
            {
                "Version": "1.0",
                "SpeakerEnrollmentRequests": [
                    {"RequestId": f"r{i}", "SpeakerId": f"s{i}", "AudioSpecifications": []}
                    for i in range(4)
                ],
            },
            402,
        ),
    ],
    ids=[
        "bad-json",
        "wrong-version",
        "no-list",
        "empty",
        "no-audio",
        "no-channel",
        "duplicate-request-id",
        "too-many",
    ],
)
def test_invalid_manifest_fails_the_job(kit: Kit, manifest: Any, status_code: int) -> None:
    """An unusable manifest fails the whole job with FailureDetails and no speakers."""
    kit.sb.configure(max_speakers_per_job=3)
    uri = kit.put(
        "manifests/bad.json", manifest if isinstance(manifest, bytes) else json.dumps(manifest)
    )
    job_id = kit.start_enrollment(uri)["JobId"]
    kit.finish()
    job = kit.enrollment(job_id)
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"]["StatusCode"] == status_code
    assert job["FailureDetails"]["Message"]
    assert kit.vid.list_speakers(DomainId=kit.world.domain_id)["SpeakerSummaries"] == []
    summary = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id)["JobSummaries"][0]
    assert summary["FailureDetails"] == job["FailureDetails"]


def test_registration_manifest_over_quota_fails(kit: Kit) -> None:
    """More fraudsters than max_fraudsters_per_job fails the registration job (402)."""
    kit.sb.configure(max_fraudsters_per_job=2)
    audio = kit.world.audio_uris
    uri = kit.put("manifests/f.json", kit.registration_manifest([[a] for a in audio[:3]]))
    job_id = kit.start_registration(uri)["JobId"]
    kit.finish()
    job = kit.registration(job_id)
    assert (job["JobStatus"], job["FailureDetails"]["StatusCode"]) == ("FAILED", 402)


@pytest.mark.parametrize(
    "problem", ["missing-manifest", "missing-output-bucket", "unknown-kms-key", "kms-key-required"]
)
def test_unusable_locations_fail_the_job(kit: Kit, problem: str) -> None:
    """A missing manifest, output bucket or KMS key (or a required key absent) fails the job."""
    uri = kit.put("manifests/ok.json", kit.enrollment_manifest(1))
    output = {"S3Uri": kit.world.output_prefix, "KmsKeyId": kit.world.kms_key_id}
    if problem == "missing-manifest":
        uri = f"s3://{kit.world.bucket}/manifests/absent.json"
    elif problem == "missing-output-bucket":
        output["S3Uri"] = "s3://no-such-bucket-here/out/"
    elif problem == "unknown-kms-key":
        output["KmsKeyId"] = "alias/not-a-key"
    else:
        kit.sb.configure(require_output_kms_key=True)
        del output["KmsKeyId"]
    job_id = kit.start_enrollment(uri, OutputDataConfig=output)["JobId"]
    kit.finish()
    job = kit.enrollment(job_id)
    assert job["JobStatus"] == "FAILED"
    assert job["FailureDetails"]["StatusCode"] == 400


def test_speaker_limit_per_domain_is_a_402_request_error(kit: Kit) -> None:
    """Beyond max_speakers_per_domain, requests fail with ErrorCode 402."""
    kit.sb.configure(max_speakers_per_domain=3)
    uri = kit.put("manifests/five.json", kit.enrollment_manifest(5))
    job_id = kit.start_enrollment(uri)["JobId"]
    kit.finish()
    output = kit.output(job_id, "five.json")
    assert len(output["SuccessfulEnrollments"]) == 3
    assert [e["ErrorCode"] for e in output["Errors"]] == [402, 402]
