"""Run-time knobs: throttling, injected errors, latency, counters and the admin endpoints."""

from __future__ import annotations

import time
from typing import Any

import pytest
from botocore.exceptions import ClientError

from reconciler.sandbox import SandboxAdmin
from reconciler.sandbox.admin import SandboxAdminError

from .conftest import Kit


def codes(kit: Kit, count: int, call: str = "list_domains", **params: Any) -> list[str]:
    """The outcome (OK or error code) of ``count`` quick calls."""
    outcomes = []
    for _ in range(count):
        try:
            getattr(kit.vid, call)(**params)
            outcomes.append("OK")
        except ClientError as err:
            outcomes.append(err.response["Error"]["Code"])
    return outcomes


def test_realistic_profile_throttles_each_operation_at_two_tps(kit: Kit) -> None:
    """realistic: a burst of 2 per operation, then ThrottlingException until tokens refill."""
    kit.sb.configure(profile="realistic")
    assert codes(kit, 3) == ["OK", "OK", "ThrottlingException"]
    assert codes(kit, 2, "list_watchlists", DomainId=kit.world.domain_id) == ["OK", "OK"]
    kit.sb.advance_clock(0.5)
    assert codes(kit, 2) == ["OK", "ThrottlingException"]
    kit.sb.advance_clock(10.0)
    assert codes(kit, 3) == ["OK", "OK", "ThrottlingException"]
    with pytest.raises(ClientError) as excinfo:
        kit.vid.list_domains()
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
    kit.sb.configure(profile="fast")
    assert codes(kit, 5) == ["OK"] * 5


def test_rate_and_burst_are_knobs(kit: Kit) -> None:
    """tps and burst set the token bucket directly."""
    kit.sb.configure(tps=1.0, burst=4)
    assert codes(kit, 5) == ["OK"] * 4 + ["ThrottlingException"]
    kit.sb.advance_clock(1.0)
    assert codes(kit, 2) == ["OK", "ThrottlingException"]


def test_injected_error_rates_are_seeded(kit: Kit) -> None:
    """throttle_error_rate and internal_error_rate fail calls at random, repeatably by seed."""
    kit.sb.configure(throttle_error_rate=0.3, internal_error_rate=0.3, seed=7)
    first = codes(kit, 40)
    kit.sb.configure(seed=7)
    assert codes(kit, 40) == first
    assert {"OK", "ThrottlingException", "InternalServerException"} == set(first)
    kit.sb.configure(internal_error_rate=1.0, throttle_error_rate=0.0)
    with pytest.raises(ClientError) as excinfo:
        kit.vid.list_domains()
    assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    kit.sb.configure(internal_error_rate=0.0)
    assert codes(kit, 3) == ["OK"] * 3


def test_latency_is_added_to_each_call(kit: Kit) -> None:
    """latency delays every Voice ID response."""
    kit.sb.configure(latency=0.2)
    started = time.monotonic()
    kit.vid.list_domains()
    assert time.monotonic() - started >= 0.2


def test_call_counter_counts_every_request_and_outcome(kit: Kit) -> None:
    """Calls are counted per operation, failed and throttled ones included, by outcome."""
    kit.sb.configure(profile="realistic")
    codes(kit, 3)
    codes(kit, 1, "describe_domain", DomainId="Z" * 22)
    assert kit.sb.calls() == {"ListDomains": 3, "DescribeDomain": 1}
    assert kit.sb.call_outcomes() == {
        "ListDomains": {"OK": 2, "ThrottlingException": 1},
        "DescribeDomain": {"ResourceNotFoundException": 1},
    }
    kit.sb.reset_calls()
    assert kit.sb.calls() == {}


def test_admin_endpoint_reads_and_sets_knobs(kit: Kit) -> None:
    """GET/POST /_sandbox/config read and change knobs over HTTP; bad knobs are 400s."""
    admin = SandboxAdmin(kit.sb.endpoint_url)
    assert admin.health()["ok"] is True
    assert admin.config()["job_duration"] == kit.sb.config.job_duration
    knobs = admin.configure(profile="realistic", list_lag=3, refused_role_arns=["arn:x"])
    assert (knobs["tps"], knobs["burst"], knobs["list_lag"]) == (2.0, 2, 3.0)
    assert kit.sb.config.refused_role_arns == ("arn:x",)
    for bad in (
        {"no_such_knob": 1},
        {"tps": "fast"},
        {"internal_error_rate": 2},
        {"profile": "turbo"},
    ):
        with pytest.raises(SandboxAdminError, match="400"):
            admin.configure(**bad)
    with pytest.raises(SandboxAdminError, match="404"):
        admin.request("GET", "nothing-here")


def test_admin_endpoint_counts_clock_tokens_and_domain_status(kit: Kit) -> None:
    """The admin API exposes the counters, the clock, token expiry and the domain status."""
    admin = SandboxAdmin(kit.sb.endpoint_url)
    kit.vid.list_domains()
    assert admin.calls() == {
        "calls": {"ListDomains": 1},
        "outcomes": {"ListDomains": {"OK": 1}},
        "total": 1,
    }
    admin.reset_calls()
    assert admin.calls()["total"] == 0
    before = kit.sb.now()
    assert admin.advance_clock(60) == pytest.approx(before + 60)
    domain = admin.set_domain_status(kit.world.domain_id, "SUSPENDED")
    assert domain["DomainStatus"] == "SUSPENDED"
    assert (
        kit.vid.describe_domain(DomainId=kit.world.domain_id)["Domain"]["DomainStatus"]
        == "SUSPENDED"
    )
    with pytest.raises(SandboxAdminError, match="400"):
        admin.set_domain_status(kit.world.domain_id, "ASLEEP")
    with pytest.raises(SandboxAdminError, match="404"):
        admin.set_domain_status("Z" * 22, "ACTIVE")
    uri = kit.put("manifests/m.json", kit.enrollment_manifest(1))
    admin.set_domain_status(kit.world.domain_id, "ACTIVE")
    kit.start_enrollment(uri, ClientToken="t1")
    assert admin.expire_tokens() == {"client_tokens_expired": 1, "next_tokens_expired": True}
    admin.advance_clock(kit.sb.config.job_duration + 1)
    assert admin.advance() == 1


def test_admin_reset_and_seed(kit: Kit) -> None:
    """POST /_sandbox/reset forgets Voice ID and S3 state; /_sandbox/seed recreates it."""
    admin = SandboxAdmin(kit.sb.endpoint_url)
    admin.reset()
    assert kit.vid.list_domains()["DomainSummaries"] == []
    assert kit.s3.list_buckets()["Buckets"] == []
    world = admin.seed()
    assert world["domain_id"] == kit.vid.list_domains()["DomainSummaries"][0]["DomainId"]
    assert world == admin.seed()
    admin.freeze_clock(True)
    assert admin.request("GET", "clock")["now"] == kit.sb.now()


def test_configure_validates_knob_values(kit: Kit) -> None:
    """configure() rejects unknown knobs and out-of-range values and keeps the old config."""
    before = kit.sb.config
    for bad in (
        {"job_duration": -1},
        {"default_page_size": 0},
        {"seed": 1.5},
        {"refused_role_arns": "arn:one"},
        {"require_output_kms_key": 1},
    ):
        with pytest.raises(ValueError, match="knob"):
            kit.sb.configure(**bad)
    assert kit.sb.config == before
