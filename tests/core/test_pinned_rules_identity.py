"""Rules of job identity that the mutation run (python -m tools.mutate) showed unpinned."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from reconciler.core.identity import (
    MAX_ATTEMPT,
    Resolution,
    StartRequest,
    client_token,
    job_name,
    parse_job_name,
    request_changes,
)
from reconciler.core.kinds import JobKind

HASH = "0123456789abcdef" * 4


def _request(kind: JobKind, config: dict[str, Any], **fields: Any) -> StartRequest:
    values: dict[str, Any] = {
        "kind": kind.value,
        "domain_id": "D" * 22,
        "data_access_role_arn": "arn:aws:iam::123456789012:role/R",
        "input_s3_uri": "s3://bucket/in.json",
        "output_s3_uri": "s3://bucket/out/",
        "kms_key_id": "alias/k",
        "config": config,
        **fields,
    }
    return StartRequest(**values)


@pytest.mark.parametrize("attempt", [0, -1, MAX_ATTEMPT + 1])
def test_job_name_refuses_an_attempt_out_of_range(attempt: int) -> None:
    """The JobName, like the ClientToken, exists for attempts 1..999 only."""
    with pytest.raises(ValueError, match=r"attempt must be 1\.\.999"):
        job_name("a", HASH, attempt)


def test_the_attempt_range_is_inclusive() -> None:
    assert MAX_ATTEMPT == 999
    assert job_name("a", HASH, 999) == f"a-{HASH[:32]}-999"
    assert client_token(HASH, 999) == f"{HASH[:56]}-999"
    assert job_name("a", HASH, 1) == f"a-{HASH[:32]}"
    assert job_name("a", HASH) == f"a-{HASH[:32]}"
    assert job_name("a", HASH, 2) == f"a-{HASH[:32]}-2"


def test_a_field_only_one_request_has_is_a_change() -> None:
    """The fields compared are the union of both requests' (a field added or removed counts)."""
    old = {"identity": 1, "revision": 0, "input": {"s3Uri": "s3://b/m.json"}}
    new = {**old, "output": {"kmsKeyId": "alias/k"}}
    assert request_changes(old, new) == ("output.kmsKeyId (none) -> alias/k",)
    assert request_changes(new, old) == ("output.kmsKeyId alias/k -> (none)",)


def test_manifest_changes_are_named_by_what_changed() -> None:
    """Two ETags: the object was replaced; a roster digest: the roster changed (and its staged
    URI, which follows the digest, is not listed as well); the same digest: nothing."""

    def essence(digest: str | None, uri: str) -> dict[str, Any]:
        return {"identity": 1, "input": {"manifestDigest": digest, "s3Uri": uri}, "revision": 0}

    etags = request_changes(essence('etag:"aaaaaaaaaaaaaaaa"', "u"), essence("etag:bbbb", "u"))
    assert etags == ("manifest object replaced (ETag aaaaaaaaaaaa -> bbbb)",)
    roster = request_changes(essence("sha256:1", "s3://x/1"), essence("sha256:2", "s3://x/2"))
    assert roster == ("roster changed",)
    mixed = request_changes(essence("etag:1", "s3://x/1"), essence("sha256:2", "s3://x/1"))
    assert mixed == ("roster changed",)
    external = request_changes(essence("etag:1", "s3://x/1"), essence("etag:1", "s3://x/2"))
    assert external == ("input.s3Uri s3://x/1 -> s3://x/2",)
    assert request_changes(essence(None, "u"), essence(None, "u")) == ()


def test_api_params_leave_out_what_a_spec_does_not_set() -> None:
    """No risk threshold, no watchlist: the keys are absent, never None."""
    enrollment = _request(
        JobKind.ENROLLMENT,
        {
            "existingEnrollmentAction": "SKIP",
            "fraudDetection": {"action": "FAIL", "riskThreshold": None, "watchlistId": None},
        },
    )
    params = enrollment.api_params(client_token="t", job_name="n")
    assert params["EnrollmentConfig"] == {
        "ExistingEnrollmentAction": "SKIP",
        "FraudDetectionConfig": {"FraudDetectionAction": "FAIL"},
    }
    registration = _request(
        JobKind.REGISTRATION,
        {
            "duplicateRegistrationAction": "SKIP",
            "fraudsterSimilarityThreshold": None,
            "watchlistId": None,
        },
    )
    params = registration.api_params(client_token="t", job_name="n")
    assert params["RegistrationConfig"] == {"DuplicateRegistrationAction": "SKIP"}
    full = _request(
        JobKind.REGISTRATION,
        {
            "duplicateRegistrationAction": "REGISTER_AS_NEW",
            "fraudsterSimilarityThreshold": 70,
            "watchlistId": "W" * 22,
        },
    )
    assert full.api_params(client_token="t", job_name="n")["RegistrationConfig"] == {
        "DuplicateRegistrationAction": "REGISTER_AS_NEW",
        "FraudsterSimilarityThreshold": 70,
        "WatchlistIds": ["W" * 22],
    }
    assert "EnrollmentConfig" not in full.api_params(client_token="t", job_name="n")


def test_the_identity_values_are_immutable_and_hashable() -> None:
    """A Resolution and JobNameParts are values (dict keys, cached); a StartRequest is hashed
    by identity (its configuration is a shared dict) and slotted (one per spec)."""
    resolution = Resolution("D" * 22, "W" * 22)
    parts = parse_job_name(f"a-{HASH[:32]}-2")
    assert parts is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        resolution.domain_id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        parts.attempt = 3  # type: ignore[misc]
    assert len({resolution, Resolution("D" * 22, "W" * 22), parts}) == 2
    config = {"duplicateRegistrationAction": "SKIP"}
    one, two = _request(JobKind.REGISTRATION, config), _request(JobKind.REGISTRATION, config)
    assert one.hash == two.hash
    assert one != two
    assert len({one, two}) == 2
    assert not hasattr(one, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        one.revision = 2  # type: ignore[misc]


def test_the_defaults_are_attempt_one_and_revision_zero() -> None:
    request = _request(JobKind.REGISTRATION, {})
    assert request.revision == 0
    assert request.manifest_digest is None
    assert request.essence()["revision"] == 0
    assert client_token(HASH) == f"{HASH[:56]}-1"


@pytest.mark.parametrize(
    ("field", "path"),
    [
        ("kind", ("kind",)),
        ("domain_id", ("domainId",)),
        ("data_access_role_arn", ("dataAccessRoleArn",)),
        ("input_s3_uri", ("input", "s3Uri")),
        ("output_s3_uri", ("output", "s3Uri")),
        ("kms_key_id", ("output", "kmsKeyId")),
        ("manifest_digest", ("input", "manifestDigest")),
    ],
)
def test_a_field_of_another_type_is_written_as_json_dumps_writes_it(
    field: str, path: tuple[str, ...]
) -> None:
    """The hand-written canonical text is only for the types the fields declare: any other
    value of any one field goes through json.dumps (and so still hashes as valid JSON)."""
    request = dataclasses.replace(_request(JobKind.REGISTRATION, {}), **{field: 5})
    value: Any = json.loads(request.canonical)
    for key in path:
        value = value[key]
    assert value == 5
