"""The S3 adapter's manifest lookups: a listing per directory of many, a HEAD each of few, and
a lookup begun early (in the background) that is taken once."""

from __future__ import annotations

import pytest

from reconciler.adapters import objects
from reconciler.adapters.objects import LIST_THRESHOLD, Manifests
from reconciler.sandbox import Sandbox

BUCKET = "manifest-lookups"


def _manifests(sandbox: Sandbox, count: int) -> tuple[Manifests, dict[str, str]]:
    s3 = sandbox.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    etags = {}
    for i in range(count):
        key = f"manifests/m-{i:03d}.json"
        etags[f"s3://{BUCKET}/{key}"] = s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")[
            "ETag"
        ].strip('"')
    return Manifests(sandbox.client("s3")), etags


def test_an_early_lookup_is_taken_once_and_later_ones_read_s3_again(
    voiceid_sandbox: Sandbox,
) -> None:
    manifests, etags = _manifests(voiceid_sandbox, LIST_THRESHOLD + 5)
    uris = sorted(etags)
    missing = f"s3://{BUCKET}/manifests/none.json"
    manifests.prefetch([*uris, missing])
    found = manifests.identities(uris[:3])
    assert found == {u: etags[u] for u in uris[:3]}
    listed = manifests.calls["ListObjectsV2"]
    assert listed >= 1  # by the early lookup, in the background
    again = manifests.identities(uris[:3])  # not taken from the early lookup again
    assert again == found
    assert manifests.calls["HeadObject"] == 3  # few: a HEAD each
    assert manifests.identities([missing]) == {missing: None}


def test_a_lookup_for_other_manifests_does_not_wait_for_the_early_one(
    voiceid_sandbox: Sandbox,
) -> None:
    manifests, etags = _manifests(voiceid_sandbox, 3)
    uris = sorted(etags)
    manifests.prefetch(uris[:1])
    assert manifests.identities(uris[1:]) == {u: etags[u] for u in uris[1:]}


def test_the_early_lookup_is_quiet_and_what_it_missed_is_looked_up_again(
    voiceid_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """The early lookup is a guess (the cache may name manifests no spec names any more): it
    logs nothing; a manifest it did not find is looked up again when asked for, and that
    lookup is the one reported."""
    manifests, _ = _manifests(voiceid_sandbox, 1)
    gone = f"s3://{BUCKET}/manifests/gone.json"
    stale = f"s3://{BUCKET}/manifests/stale.json"
    manifests.prefetch([gone, stale])
    assert manifests.identities([gone]) == {gone: None}
    captured = capsys.readouterr()
    reports = (captured.out + captured.err).count("manifests.head_failed")
    assert reports == 1  # the second lookup of gone, not the early one (nor stale's)
    assert manifests.calls["HeadObject"] == 3


_AWKWARD = ["a b.json", "ünï.json", "q&a<>.json", "plus+sign.json", "per%cent.json", "x" * 200]


def test_a_listing_page_read_by_the_hook_is_what_botocore_reads(voiceid_sandbox: Sandbox) -> None:
    """The ListObjectsV2 hook hands over a page's keys and ETags as botocore's own parser reads
    them (keys that need escaping or URL encoding included), across pages."""
    s3 = voiceid_sandbox.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for i, name in enumerate(_AWKWARD * 3):
        s3.put_object(Bucket=BUCKET, Key=f"manifests/{i}-{name}", Body=str(i).encode())
    s3.put_object(Bucket=BUCKET, Key="manifests/sub/deeper.json", Body=b"{}")
    ours = Manifests(voiceid_sandbox.client("s3")).client
    params = {"Bucket": BUCKET, "Prefix": "manifests/", "Delimiter": "/", "MaxKeys": 7}
    pages = 0
    while True:
        theirs, mine = s3.list_objects_v2(**params), ours.list_objects_v2(**params)
        assert [(c["Key"], c["ETag"]) for c in mine["Contents"]] == [
            (c["Key"], c["ETag"]) for c in theirs["Contents"]
        ]
        assert mine["IsTruncated"] == theirs["IsTruncated"]
        pages += 1
        if not theirs["IsTruncated"]:
            break
        assert mine["NextContinuationToken"]
        params["ContinuationToken"] = theirs["NextContinuationToken"]
    assert pages == 3  # 18 keys, 7 a page
    assert "CommonPrefixes" not in mine  # what the hook hands over is only what is read


def test_a_listing_answer_that_is_not_a_page_is_left_to_botocore(
    voiceid_sandbox: Sandbox,
) -> None:
    """An error answer (no such bucket) still raises botocore's error."""
    ours = Manifests(voiceid_sandbox.client("s3")).client
    with pytest.raises(ours.exceptions.NoSuchBucket):
        ours.list_objects_v2(Bucket="no-such-bucket-here", Prefix="x/")


@pytest.mark.parametrize(
    "body",
    [
        b"<?xml version='1.0'?><Error><Code>InternalError</Code><Message>x</Message></Error>",
        b'<?xml version="1.0"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Con',
    ],
    ids=["error-in-a-200", "cut-short"],
)
def test_a_listing_of_200_that_is_an_error_is_an_answer_of_500(body: bytes) -> None:
    """botocore's own check of a 200 (which parsed every page once more) is not run for a
    listing: the hook makes it, so an error body or a page cut short is retried as before."""
    response = {"status_code": 200, "body": body, "headers": {}}
    customized: dict[str, object] = {}
    objects._read_listing(response_dict=response, customized_response_dict=customized)
    assert response["status_code"] == 500
    assert customized == {}
    assert response["body"] == body  # botocore reads the error from it


def test_botocore_checks_every_other_answer_of_200_as_it_did(voiceid_sandbox: Sandbox) -> None:
    client = Manifests(voiceid_sandbox.client("s3")).client
    seen: list[str] = []
    model = client.meta.service_model
    original = objects._BOTOCORE_200_CHECK
    assert original is not None

    def spy(operation_model: object, **kwargs: object) -> None:
        seen.append(operation_model.name)  # type: ignore[attr-defined]
        original(operation_model=operation_model, **kwargs)

    objects._BOTOCORE_200_CHECK = spy
    try:
        for name in ("ListObjectsV2", "CopyObject", "PutObject"):
            response = {"status_code": 200, "body": b"<Error><Code>x</Code></Error>", "headers": {}}
            objects._check_200_unless_listing(
                operation_model=model.operation_model(name), response_dict=response
            )
            assert response["status_code"] == (200 if name == "ListObjectsV2" else 500)
    finally:
        objects._BOTOCORE_200_CHECK = original
    assert seen == ["CopyObject", "PutObject"]
