"""Connection-level fault knobs (resets, lost responses, S3 errors and latency), the S3 request
log, and DeleteWatchlist (how a chaos test makes a watchlist disappear)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError

from reconciler.sandbox import SandboxAdmin

from .conftest import Kit


def _outcomes(kit: Kit, count: int) -> list[str]:
    outcomes = []
    for _ in range(count):
        try:
            kit.vid.list_domains(MaxResults=10)
            outcomes.append("OK")
        except ConnectionClosedError:
            outcomes.append("closed")
    return outcomes


def test_connection_reset_drops_a_voiceid_request_before_it_is_handled(kit: Kit) -> None:
    """connection_reset_rate=1: no response at all (connection closed) and no effect."""
    uri = kit.put("manifests/one.json", kit.enrollment_manifest(1))
    kit.sb.configure(connection_reset_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        kit.start_enrollment(uri, JobName="reset", ClientToken="token-1")
    kit.sb.configure(connection_reset_rate=0.0)
    listed = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id)["JobSummaries"]
    assert listed == []
    assert kit.sb.call_outcomes()["StartSpeakerEnrollmentJob"] == {"ConnectionReset": 1}


def test_lost_response_has_its_effect_and_a_retry_with_the_token_finds_it(kit: Kit) -> None:
    """lost_response_rate=1: the job starts, the answer is lost; the same token returns it."""
    uri = kit.put("manifests/one.json", kit.enrollment_manifest(1))
    kit.sb.configure(lost_response_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        kit.start_enrollment(uri, JobName="lost", ClientToken="token-1")
    kit.sb.configure(lost_response_rate=0.0)
    listed = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id)["JobSummaries"]
    assert [j["JobName"] for j in listed] == ["lost"]
    again = kit.start_enrollment(uri, JobName="lost", ClientToken="token-1")
    assert again["JobId"] == listed[0]["JobId"]
    assert kit.sb.call_outcomes()["StartSpeakerEnrollmentJob"] == {"OK": 2}


def test_reset_and_loss_rates_are_seeded(kit: Kit) -> None:
    """Below rate 1 the dropped requests follow the seed, repeatably."""
    kit.sb.configure(connection_reset_rate=0.5, seed=11)
    first = _outcomes(kit, 20)
    kit.sb.configure(seed=11)
    assert _outcomes(kit, 20) == first
    assert set(first) == {"OK", "closed"}


def test_s3_faults_reset_lose_fail_and_delay_requests_from_outside(kit: Kit) -> None:
    """S3 knobs reset, lose, fail (500) and delay outside requests; each is logged."""
    bucket = kit.world.bucket
    kit.sb.reset_calls()
    kit.sb.configure(s3_connection_reset_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        kit.s3.put_object(Bucket=bucket, Key="faults/reset", Body=b"x" * 5000)
    kit.sb.configure(s3_connection_reset_rate=0.0, s3_lost_response_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        kit.s3.put_object(Bucket=bucket, Key="faults/lost", Body=b"stored")
    kit.sb.configure(s3_lost_response_rate=0.0, s3_internal_error_rate=1.0)
    with pytest.raises(ClientError) as excinfo:
        kit.s3.get_object(Bucket=bucket, Key="faults/lost")
    assert excinfo.value.response["Error"]["Code"] == "InternalError"
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    kit.sb.configure(s3_internal_error_rate=0.0, s3_latency=0.2)
    started = time.monotonic()
    assert kit.s3.get_object(Bucket=bucket, Key="faults/lost")["Body"].read() == b"stored"
    assert time.monotonic() - started >= 0.2
    kit.sb.configure(s3_latency=0.0)
    with pytest.raises(ClientError):
        kit.s3.head_object(Bucket=bucket, Key="faults/reset")
    log = [(r["method"], r["path"].rsplit("/", 1)[-1], r["outcome"]) for r in kit.sb.s3_requests()]
    assert log == [
        ("PUT", "reset", "reset"),
        ("PUT", "lost", "lost"),
        ("GET", "lost", "500"),
        ("GET", "lost", "200"),
        ("HEAD", "reset", "404"),
    ]
    admin = SandboxAdmin(kit.sb.endpoint_url)
    assert [r["outcome"] for r in admin.s3_requests()] == ["reset", "lost", "500", "200", "404"]
    admin.reset_calls()
    assert admin.s3_requests() == []


def test_s3_fault_filter_and_limit_aim_faults_at_some_requests(kit: Kit) -> None:
    """s3_fault_filter aims S3 faults at matching requests; s3_fault_limit caps them."""
    bucket = kit.world.bucket
    kit.s3.put_object(Bucket=bucket, Key="state.json", Body=b"{}")
    kit.sb.configure(
        s3_internal_error_rate=1.0, s3_fault_filter=r"^PUT .*\.lock$", s3_fault_limit=2
    )
    assert kit.s3.get_object(Bucket=bucket, Key="state.json")["Body"].read() == b"{}"
    kit.s3.put_object(Bucket=bucket, Key="state.json", Body=b"{}")
    for _ in range(2):
        with pytest.raises(ClientError):
            kit.s3.put_object(Bucket=bucket, Key="state.json.lock", Body=b"{}")
    kit.s3.put_object(Bucket=bucket, Key="state.json.lock", Body=b"{}")  # the limit is used up
    outcomes = [r["outcome"] for r in kit.sb.s3_requests() if r["path"].endswith(".lock")]
    assert outcomes == ["500", "500", "200"]
    kit.sb.configure(s3_fault_limit=1, s3_fault_filter="")  # a new limit: one more fault
    with pytest.raises(ClientError):
        kit.s3.get_object(Bucket=bucket, Key="state.json")
    assert kit.s3.get_object(Bucket=bucket, Key="state.json")["Body"].read() == b"{}"
    for bad in ({"s3_fault_filter": "("}, {"s3_fault_filter": 3}, {"s3_fault_limit": -1}):
        with pytest.raises(ValueError, match="s3_fault"):
            kit.sb.configure(**bad)


def test_s3_faults_never_touch_a_jobs_own_s3_access(kit: Kit) -> None:
    """A job reads its manifest and writes its output while every outside S3 request fails."""
    uri = kit.put("manifests/one.json", kit.enrollment_manifest(1))
    job = kit.start_enrollment(uri, JobName="inside")
    kit.sb.configure(s3_internal_error_rate=1.0)
    kit.finish()
    assert kit.enrollment(job["JobId"])["JobStatus"] == "COMPLETED"
    kit.sb.configure(s3_internal_error_rate=0.0)
    assert kit.output(job["JobId"], "one.json")["SuccessfulEnrollments"]


@pytest.mark.parametrize(
    "knob",
    [
        "connection_reset_rate",
        "lost_response_rate",
        "s3_connection_reset_rate",
        "s3_lost_response_rate",
        "s3_internal_error_rate",
    ],
)
def test_fault_rates_are_probabilities(kit: Kit, knob: str) -> None:
    """A fault rate outside 0..1, or not a number, is refused."""
    for bad in (1.5, -0.1, "half", True):
        with pytest.raises(ValueError, match=knob):
            kit.sb.configure(**{knob: bad})
    assert kit.sb.configure(**{knob: 0.25}).to_dict()[knob] == 0.25


def test_delete_watchlist(kit: Kit) -> None:
    """DeleteWatchlist removes a watchlist; missing and default ones are refused."""
    domain_id = kit.world.domain_id
    created = kit.vid.create_watchlist(DomainId=domain_id, Name="vip")["Watchlist"]
    kit.vid.delete_watchlist(DomainId=domain_id, WatchlistId=created["WatchlistId"])
    summaries = kit.vid.list_watchlists(DomainId=domain_id)["WatchlistSummaries"]
    assert [w["WatchlistId"] for w in summaries] == [kit.world.default_watchlist_id]
    errors: list[dict[str, Any]] = []
    for watchlist_id in (created["WatchlistId"], kit.world.default_watchlist_id):
        with pytest.raises(ClientError) as excinfo:
            kit.vid.delete_watchlist(DomainId=domain_id, WatchlistId=watchlist_id)
        errors.append(dict(excinfo.value.response))
    assert [e["Error"]["Code"] for e in errors] == [
        "ResourceNotFoundException",
        "ValidationException",
    ]
    uri = kit.put("manifests/fraud.json", kit.registration_manifest([kit.world.audio_uris[:1]]))
    with pytest.raises(ClientError) as excinfo:
        kit.start_registration(uri, RegistrationConfig={"WatchlistIds": [created["WatchlistId"]]})
    assert excinfo.value.response["ResourceType"] == "WATCHLIST"


def test_delete_watchlist_refuses_one_that_holds_fraudsters(kit: Kit) -> None:
    """A watchlist holding fraudsters cannot be deleted (CANNOT_DELETE_NON_EMPTY_WATCHLIST)."""
    domain_id = kit.world.domain_id
    watchlist_id = kit.vid.create_watchlist(DomainId=domain_id, Name="vip")["Watchlist"][
        "WatchlistId"
    ]
    uri = kit.put("manifests/fraud.json", kit.registration_manifest([kit.world.audio_uris[:1]]))
    job = kit.start_registration(uri, RegistrationConfig={"WatchlistIds": [watchlist_id]})
    kit.finish()
    assert kit.registration(job["JobId"])["JobStatus"] == "COMPLETED"
    with pytest.raises(ClientError) as excinfo:
        kit.vid.delete_watchlist(DomainId=domain_id, WatchlistId=watchlist_id)
    assert excinfo.value.response["ConflictType"] == "CANNOT_DELETE_NON_EMPTY_WATCHLIST"
