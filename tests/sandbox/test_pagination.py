"""List* pagination: MaxResults, NextToken, filters, ordering, expiry and visibility lag."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from .conftest import Kit


def start_jobs(kit: Kit, count: int) -> list[str]:
    """Start ``count`` enrollment jobs (quota lifted); returns their ids, oldest first."""
    kit.sb.configure(max_active_jobs=count + 1)
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    return [kit.start_enrollment(uri)["JobId"] for _ in range(count)]


def list_all(kit: Kit, **params: Any) -> tuple[list[str], list[int]]:
    """Walk ListSpeakerEnrollmentJobs by hand; returns the ids and each page's size."""
    ids: list[str] = []
    sizes: list[int] = []
    request: dict[str, Any] = {"DomainId": kit.world.domain_id, **params}
    while True:
        page = kit.vid.list_speaker_enrollment_jobs(**request)
        ids += [j["JobId"] for j in page["JobSummaries"]]
        sizes.append(len(page["JobSummaries"]))
        if "NextToken" not in page:
            return ids, sizes
        request["NextToken"] = page["NextToken"]


def test_250_jobs_are_all_reachable_newest_first(kit: Kit) -> None:
    """250 jobs come back exactly once each, newest first, in pages of MaxResults."""
    started = start_jobs(kit, 250)
    ids, sizes = list_all(kit, MaxResults=100)
    assert ids == list(reversed(started))
    assert sizes == [100, 100, 50]
    ids, sizes = list_all(kit, MaxResults=7)
    assert ids == list(reversed(started))
    assert set(sizes[:-1]) == {7}
    assert sizes[-1] == 250 % 7


def test_default_page_size_is_a_knob(kit: Kit) -> None:
    """Without MaxResults a page has default_page_size items (100 unless changed)."""
    start_jobs(kit, 120)
    assert list_all(kit)[1] == [100, 20]
    kit.sb.configure(default_page_size=50)
    assert list_all(kit)[1] == [50, 50, 20]


def test_boto3_paginator_walks_every_page(kit: Kit) -> None:
    """botocore's paginator (the model's paginators-1.json) reaches every job."""
    started = start_jobs(kit, 25)
    paginator = kit.vid.get_paginator("list_speaker_enrollment_jobs")
    pages = list(
        paginator.paginate(DomainId=kit.world.domain_id, PaginationConfig={"PageSize": 10})
    )
    assert [len(p["JobSummaries"]) for p in pages] == [10, 10, 5]
    assert sorted(j["JobId"] for p in pages for j in p["JobSummaries"]) == sorted(started)


def test_job_status_filter(kit: Kit) -> None:
    """JobStatus filters on the status at the time of the call."""
    done = start_jobs(kit, 2)
    kit.finish()
    running = start_jobs(kit, 1)
    completed = kit.vid.list_speaker_enrollment_jobs(
        DomainId=kit.world.domain_id, JobStatus="COMPLETED"
    )["JobSummaries"]
    submitted = kit.vid.list_speaker_enrollment_jobs(
        DomainId=kit.world.domain_id, JobStatus="SUBMITTED"
    )["JobSummaries"]
    assert sorted(j["JobId"] for j in completed) == sorted(done)
    assert [j["JobId"] for j in submitted] == running


def test_next_token_is_bound_to_its_query(kit: Kit) -> None:
    """A NextToken only continues the query it came from; garbage is a ValidationException."""
    start_jobs(kit, 3)
    token = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id, MaxResults=1)[
        "NextToken"
    ]
    for params in ({"JobStatus": "COMPLETED", "NextToken": token}, {"NextToken": "not-a-token"}):
        with pytest.raises(ClientError) as excinfo:
            kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id, **params)
        assert excinfo.value.response["Error"]["Code"] == "ValidationException"


@pytest.mark.parametrize("how", ["ttl", "knob"])
def test_next_token_expires(kit: Kit, how: str) -> None:
    """A NextToken stops working after next_token_ttl seconds, or when expired by the knob."""
    kit.sb.configure(next_token_ttl=30.0)
    start_jobs(kit, 3)
    token = kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id, MaxResults=1)[
        "NextToken"
    ]
    assert kit.vid.list_speaker_enrollment_jobs(
        DomainId=kit.world.domain_id, MaxResults=1, NextToken=token
    )["JobSummaries"]
    if how == "ttl":
        kit.sb.advance_clock(30.0)
    else:
        kit.sb.expire_tokens(client_tokens=False)
    with pytest.raises(ClientError) as excinfo:
        kit.vid.list_speaker_enrollment_jobs(DomainId=kit.world.domain_id, NextToken=token)
    assert "expired" in excinfo.value.response["Error"]["Message"]


def test_list_lag_hides_new_jobs_from_lists_only(kit: Kit) -> None:
    """With list_lag, a new job is visible to Describe at once and to List only later."""
    kit.sb.configure(list_lag=5.0, job_duration=100.0)
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    job_id = kit.start_enrollment(uri)["JobId"]
    assert kit.enrollment(job_id)["JobId"] == job_id
    assert list_all(kit)[0] == []
    kit.sb.advance_clock(5.0)
    assert list_all(kit)[0] == [job_id]


def test_list_domains_max_results_is_one_to_ten(kit: Kit) -> None:
    """ListDomains pages by MaxResults 1..10; 11 is refused."""
    kit.sb.configure(max_domains=15)
    for index in range(11):
        kit.vid.create_domain(
            Name=f"d{index}", ServerSideEncryptionConfiguration={"KmsKeyId": kit.world.kms_key_id}
        )
    first = kit.vid.list_domains()
    assert len(first["DomainSummaries"]) == 10
    rest = kit.vid.list_domains(NextToken=first["NextToken"])
    assert len(rest["DomainSummaries"]) == 2
    client = kit.sb.client(
        "voice-id", parameter_validation=False, retries={"total_max_attempts": 1}
    )
    try:
        with pytest.raises(ClientError) as excinfo:
            client.list_domains(MaxResults=11)
    finally:
        client.close()
    assert excinfo.value.response["Error"]["Code"] == "ValidationException"
