"""The sandbox's own ListObjectsV2 (``reconciler.sandbox.s3list``) answers as moto does.

Every listing is made twice, once through the fast path and once through moto itself
(``SandboxApp.fast_listing = False``), and the parsed boto3 responses must be equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError, ConnectionClosedError
from botocore.handlers import set_list_objects_encoding_type_url
from moto.s3.models import s3_backends

from reconciler.sandbox import Sandbox, s3list
from reconciler.sandbox import app as sandbox_app
from reconciler.sandbox.app import SandboxApp

BUCKET = "listing-parity"
VERSIONED = "listing-versioned"
AWKWARD = [
    "plain",
    "with space",
    "two  spaces/x",
    "trailing space ",
    "ünïcødé/ключ/鍵",
    "emoji 😀",
    "amp&lt<gt>quote\"apos'",
    "dir/&<>\"'/leaf",
    "plus+sign",
    "dir/plus+/a+b",
    "percent%20not-a-space",
    "dir/100%/done",
    "tilde~star*paren()",
    "dir/",
    "dir//double",
    "/leading",
    "equals=and?question#hash",
    "semi;colon,comma",
]


BULK = [
    *(
        f"dir/sub{top}/{sub:02d}/file {leaf}.wav"
        for top, sub, leaf in itertools.product(range(4), range(5), range(12))
    ),
    *(f"flat-{i:03d}" for i in range(30)),
]
"""Put straight into moto's backend (fast; and without a ChecksumAlgorithm)."""


def _keys() -> list[str]:
    return [*AWKWARD, *BULK]


@pytest.fixture
def listing(voiceid_sandbox: Sandbox) -> Iterator[dict[str, Any]]:
    """Two buckets full of awkward keys, a client that asks for EncodingType=url (boto3's
    default) and one that does not."""
    url_client = voiceid_sandbox.client("s3", retries={"total_max_attempts": 1})
    raw_client = voiceid_sandbox.client("s3", retries={"total_max_attempts": 1})
    raw_client.meta.events.unregister(
        "before-parameter-build.s3.ListObjectsV2", set_list_objects_encoding_type_url
    )
    url_client.create_bucket(Bucket=BUCKET)
    for key in AWKWARD:
        url_client.put_object(Bucket=BUCKET, Key=key, Body=key.encode())
    backend = s3_backends[voiceid_sandbox.account_id]["aws"]
    for key in BULK:
        backend.put_object(BUCKET, key, key.encode())
    url_client.put_object(Bucket=BUCKET, Key="empty", Body=b"")
    url_client.put_object(Bucket=BUCKET, Key="sha", Body=b"x", ChecksumAlgorithm="SHA256")
    url_client.put_object(Bucket=BUCKET, Key="cold", Body=b"x", StorageClass="STANDARD_IA")
    url_client.create_bucket(Bucket=VERSIONED)
    url_client.put_bucket_versioning(
        Bucket=VERSIONED, VersioningConfiguration={"Status": "Enabled"}
    )
    for key in ("a/1", "a/2", "b/1", "c", "d"):
        url_client.put_object(Bucket=VERSIONED, Key=key, Body=b"v1")
        url_client.put_object(Bucket=VERSIONED, Key=key, Body=b"v2")
    for key in ("a/1", "b/1", "c"):  # delete markers: b/ is left with none but a marker
        url_client.delete_object(Bucket=VERSIONED, Key=key)
    yield {"url": url_client, "raw": raw_client}
    url_client.close()
    raw_client.close()


@pytest.fixture
def fast_calls(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each listing the sandbox saw was answered by the fast path."""
    answered: list[bool] = []
    real = s3list.list_objects_v2

    def spy(environ: dict[str, Any], account_id: str) -> Any:
        result = real(environ, account_id)
        answered.append(result is not None)
        return result

    monkeypatch.setattr(sandbox_app, "list_objects_v2", spy)
    return answered


def _pages(client: Any, params: dict[str, Any], limit: int = 100) -> list[dict[str, Any]]:
    """Every page of a listing (at most ``limit``), ResponseMetadata dropped."""
    pages: list[dict[str, Any]] = []
    while True:
        page = dict(client.list_objects_v2(**params))
        page.pop("ResponseMetadata")
        pages.append(page)
        token = page.get("NextContinuationToken")
        if not token or len(pages) >= limit:
            return pages
        params = {**params, "ContinuationToken": token}


def _both(monkeypatch: pytest.MonkeyPatch, call: Callable[[], Any]) -> tuple[Any, Any]:
    """``call()`` through the fast path, then through moto."""
    fast = call()
    with monkeypatch.context() as patch:
        patch.setattr(SandboxApp, "fast_listing", False)
        moto = call()
    return fast, moto


def _without_tokens(pages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in page.items() if k != "ContinuationToken"} for page in pages]


COMBINATIONS: list[dict[str, Any]] = [
    *(
        {"Prefix": prefix, "Delimiter": delimiter}
        for prefix in (
            None,
            "",
            "dir/",
            "dir/sub1",
            "dir/sub2/03/",
            "d",
            "ü",
            "dir/&",
            "plus+",
            "percent%",
            "dir/100%",
            "two  ",
            "/",
            "nothing-here/",
        )
        for delimiter in (None, "/")
    ),
    *(
        {"MaxKeys": max_keys, "Prefix": prefix, "Delimiter": delimiter}
        for max_keys in (0, 1, 7, 1000)
        for prefix in (None, "dir/")
        for delimiter in (None, "/")
    ),
    *(
        {"StartAfter": start_after, "MaxKeys": 7, "Delimiter": delimiter}
        for start_after in ("dir/sub1/03/file 5.wav", "dir/", "dir/sub", "plus+", "zzz", "")
        for delimiter in (None, "/")
    ),
    {"Delimiter": "/", "Prefix": "dir/", "StartAfter": "dir/sub0/", "MaxKeys": 2},
    {"Delimiter": "sub", "Prefix": "dir/"},
    {"Delimiter": "e", "MaxKeys": 9},
    {"FetchOwner": True, "MaxKeys": 7},
    {"FetchOwner": False, "MaxKeys": 7},
    {"FetchOwner": True, "Delimiter": "/", "Prefix": "dir/sub3/"},
]


def _params(combination: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in combination.items() if v is not None}


def test_listing_matches_moto(
    listing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    """Every combination (its first pages), with and without EncodingType=url, in a plain
    bucket and a versioned one with delete markers."""
    checked = 0
    for combination, (mode, client), bucket in itertools.product(
        COMBINATIONS, listing.items(), (BUCKET, VERSIONED)
    ):
        params = {"Bucket": bucket, **_params(combination)}
        limit = 3 if params.get("MaxKeys") == 1 else 8
        fast, moto = _both(monkeypatch, lambda: _pages(client, params, limit))  # noqa: B023
        assert _without_tokens(fast) == _without_tokens(moto), (mode, params)
        if bucket == BUCKET and mode == "url" and params.get("MaxKeys") != 0:
            assert any(p.get("Contents") or p.get("CommonPrefixes") for p in fast) or (
                params.get("Prefix") == "nothing-here/"
            ), params
        checked += 1
    assert checked == len(COMBINATIONS) * 4
    assert fast_calls
    assert all(fast_calls)  # (the spy sees only the fast path's half)


@pytest.mark.parametrize(
    "params",
    [
        {"MaxKeys": 7},
        {"MaxKeys": 2, "Delimiter": "/", "Prefix": "dir/sub2/"},
        {"MaxKeys": 7, "StartAfter": "dir/sub3/02/", "FetchOwner": True},
        {"MaxKeys": 1, "Delimiter": "/"},
    ],
)
def test_full_pagination_matches_moto(
    listing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, params: dict[str, Any]
) -> None:
    """Paginated with NextContinuationToken to the last page."""
    fast, moto = _both(monkeypatch, lambda: _pages(listing["url"], {"Bucket": BUCKET, **params}))
    assert _without_tokens(fast) == _without_tokens(moto)
    assert len(fast) > 1
    assert "NextContinuationToken" not in fast[-1]


def test_encoding_type_url_gives_back_the_awkward_keys(listing: dict[str, Any]) -> None:
    """The decoded keys are the keys put, and both clients agree."""
    for client in listing.values():
        pages = _pages(client, {"Bucket": BUCKET, "MaxKeys": 1000})
        names = [o["Key"] for page in pages for o in page.get("Contents", [])]
        assert names == sorted([*_keys(), "empty", "sha", "cold"])


def test_continuation_tokens_work_across_both_paths(
    listing: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A token from the fast path continues in moto and one from moto in the fast path."""
    client = listing["url"]
    first = client.list_objects_v2(Bucket=BUCKET, MaxKeys=10)
    with monkeypatch.context() as patch:
        patch.setattr(SandboxApp, "fast_listing", False)
        second = client.list_objects_v2(
            Bucket=BUCKET, MaxKeys=10, ContinuationToken=first["NextContinuationToken"]
        )
    third = client.list_objects_v2(
        Bucket=BUCKET, MaxKeys=10, ContinuationToken=second["NextContinuationToken"]
    )
    keys = [o["Key"] for page in (first, second, third) for o in page["Contents"]]
    assert keys == sorted([*_keys(), "empty", "sha", "cold"])[:30]


@pytest.mark.parametrize("token", ["not-a-token", ""])
def test_a_bad_continuation_token_fails_as_in_moto(
    listing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    def status() -> int:
        with pytest.raises(ClientError) as raised:
            listing["url"].list_objects_v2(Bucket=BUCKET, ContinuationToken=token)
        return int(raised.value.response["ResponseMetadata"]["HTTPStatusCode"])

    fast, moto = _both(monkeypatch, status)
    assert fast == moto
    assert fast >= 400


def test_a_missing_bucket_is_nosuchbucket(
    voiceid_sandbox: Sandbox, voiceid_s3_client: Any, fast_calls: list[bool]
) -> None:
    with pytest.raises(ClientError) as raised:
        voiceid_s3_client.list_objects_v2(Bucket="no-such-bucket")
    assert raised.value.response["Error"]["Code"] == "NoSuchBucket"
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert fast_calls == [False]


def test_other_bucket_reads_go_to_moto(listing: dict[str, Any], fast_calls: list[bool]) -> None:
    """ListObjects (v1), ListObjectVersions and a GET with a sub-resource are moto's."""
    client = listing["url"]
    assert len(client.list_objects(Bucket=BUCKET, MaxKeys=5)["Contents"]) == 5
    versions = client.list_object_versions(Bucket=VERSIONED, Prefix="a/")
    assert len(versions["Versions"]) == 4
    assert client.get_bucket_versioning(Bucket=VERSIONED)["Status"] == "Enabled"
    assert not any(fast_calls)


def test_moto_access_control_sends_listings_to_moto(
    listing: dict[str, Any], monkeypatch: pytest.MonkeyPatch, fast_calls: list[bool]
) -> None:
    """With moto's IAM enforced, moto authorizes the listing (here: denies the fake key)."""
    from moto import settings

    monkeypatch.setattr(settings, "INITIAL_NO_AUTH_ACTION_COUNT", 0)
    with pytest.raises(ClientError) as raised:
        listing["url"].list_objects_v2(Bucket=BUCKET)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert fast_calls == [False]


def test_s3_faults_apply_to_listings(
    listing: dict[str, Any], voiceid_sandbox: Sandbox, fast_calls: list[bool]
) -> None:
    client = listing["url"]
    voiceid_sandbox.configure(s3_internal_error_rate=1.0)
    with pytest.raises(ClientError) as raised:
        client.list_objects_v2(Bucket=BUCKET)
    assert raised.value.response["ResponseMetadata"]["HTTPStatusCode"] == 500
    voiceid_sandbox.configure(s3_internal_error_rate=0.0, s3_connection_reset_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        client.list_objects_v2(Bucket=BUCKET)
    voiceid_sandbox.configure(s3_connection_reset_rate=0.0, s3_lost_response_rate=1.0)
    with pytest.raises(ConnectionClosedError):
        client.list_objects_v2(Bucket=BUCKET)
    voiceid_sandbox.configure(s3_lost_response_rate=0.0)
    outcomes = [r["outcome"] for r in voiceid_sandbox.s3_requests() if r["path"] == f"/{BUCKET}"]
    assert outcomes[-3:] == ["500", "reset", "lost"]
    assert fast_calls == [True]  # the lost one was answered, then dropped


def test_s3_internal_errors_are_retried_for_listings(voiceid_sandbox: Sandbox) -> None:
    """One injected 500, then the retry is answered (by the fast path)."""
    client = voiceid_sandbox.client("s3", retries={"total_max_attempts": 3, "mode": "standard"})
    try:
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key="k", Body=b"x")
        voiceid_sandbox.configure(
            s3_internal_error_rate=1.0, s3_fault_filter=r"^GET /listing", s3_fault_limit=1
        )
        assert [o["Key"] for o in client.list_objects_v2(Bucket=BUCKET)["Contents"]] == ["k"]
    finally:
        client.close()
    outcomes = [r["outcome"] for r in voiceid_sandbox.s3_requests() if r["method"] == "GET"]
    assert outcomes == ["500", "200"]


def test_listings_are_logged_as_moto_ones_were(
    listing: dict[str, Any], voiceid_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The S3 request log (what the IAM test authorizes) has the same entry either way."""

    def logged() -> dict[str, Any]:
        voiceid_sandbox.reset_calls()
        listing["url"].list_objects_v2(Bucket=BUCKET, Prefix="dir/", Delimiter="/", MaxKeys=3)
        (entry,) = voiceid_sandbox.s3_requests()
        return entry

    fast, moto = _both(monkeypatch, logged)
    assert fast == moto
    assert fast["method"] == "GET"
    assert fast["path"] == f"/{BUCKET}"
    assert fast["outcome"] == "200"
    assert "list-type=2" in fast["query"]
    assert "prefix=dir%2F" in fast["query"]
