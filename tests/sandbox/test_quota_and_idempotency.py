"""The active-job quota and ClientToken idempotency of Start*."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from .conftest import Kit


def test_one_active_job_per_domain_and_kind(kit: Kit) -> None:
    """A second enrollment while one is active is refused; registrations count separately."""
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    kit.start_enrollment(uri)
    with pytest.raises(ClientError) as excinfo:
        kit.start_enrollment(uri)
    assert excinfo.value.response["Error"]["Code"] == "ServiceQuotaExceededException"
    reg = kit.put("manifests/r.json", kit.registration_manifest([kit.world.audio_uris[:1]]))
    kit.start_registration(reg)
    with pytest.raises(ClientError):
        kit.start_registration(reg)
    kit.sb.advance_clock(kit.sb.config.job_duration * 0.5)
    with pytest.raises(ClientError):
        kit.start_enrollment(uri)
    kit.finish()
    assert kit.start_enrollment(uri)["JobStatus"] == "SUBMITTED"


def test_quota_size_is_a_knob(kit: Kit) -> None:
    """max_active_jobs raises the number of concurrent jobs per domain and kind."""
    kit.sb.configure(max_active_jobs=3)
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    for _ in range(3):
        kit.start_enrollment(uri)
    with pytest.raises(ClientError) as excinfo:
        kit.start_enrollment(uri)
    assert excinfo.value.response["Error"]["Code"] == "ServiceQuotaExceededException"


def test_same_token_same_parameters_returns_the_same_job(kit: Kit) -> None:
    """A repeated Start with the same ClientToken returns the same job, even at full quota."""
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    first = kit.start_enrollment(uri, ClientToken="spec-abc123", JobName="nightly")
    again = kit.start_enrollment(uri, ClientToken="spec-abc123", JobName="nightly")
    assert again["JobId"] == first["JobId"]
    kit.finish()
    later = kit.start_enrollment(uri, ClientToken="spec-abc123", JobName="nightly")
    assert later["JobId"] == first["JobId"]
    assert later["JobStatus"] == "COMPLETED"
    jobs = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id)["JobSummaries"]
    assert len(jobs) == 1


def test_same_token_different_parameters_is_a_conflict(kit: Kit) -> None:
    """Reusing a ClientToken with other parameters is ConflictException CONCURRENT_CHANGES."""
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    kit.start_enrollment(uri, ClientToken="tok", JobName="a")
    with pytest.raises(ClientError) as excinfo:
        kit.start_enrollment(uri, ClientToken="tok", JobName="b")
    assert excinfo.value.response["Error"]["Code"] == "ConflictException"
    assert excinfo.value.response["ConflictType"] == "CONCURRENT_CHANGES"


def test_tokens_are_scoped_per_operation(kit: Kit) -> None:
    """The same ClientToken on the two Start operations starts two jobs."""
    enroll = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    register = kit.put("manifests/r.json", kit.registration_manifest([kit.world.audio_uris[:1]]))
    one = kit.start_enrollment(enroll, ClientToken="shared")
    two = kit.start_registration(register, ClientToken="shared")
    assert one["JobId"] != two["JobId"]


@pytest.mark.parametrize("how", ["ttl", "knob"])
def test_expired_token_starts_a_new_job(kit: Kit, how: str) -> None:
    """After its TTL (or the expire knob) the same ClientToken starts a second job."""
    kit.sb.configure(client_token_ttl=60.0)
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    first = kit.start_enrollment(uri, ClientToken="tok")
    kit.finish()
    if how == "ttl":
        kit.sb.advance_clock(60.0)
    else:
        assert kit.sb.expire_tokens(next_tokens=False) == 1
    second = kit.start_enrollment(uri, ClientToken="tok")
    assert second["JobId"] != first["JobId"]
    jobs = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id)["JobSummaries"]
    assert [j["JobId"] for j in jobs] == [second["JobId"], first["JobId"]]


def test_botocore_fills_in_a_client_token(kit: Kit) -> None:
    """Without a ClientToken botocore sends a fresh one, so each call starts a new job."""
    kit.sb.configure(max_active_jobs=2)
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    one = kit.start_enrollment(uri)
    two = kit.start_enrollment(uri)
    assert one["JobId"] != two["JobId"]
