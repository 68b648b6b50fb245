"""The S3 adapter's manifest lookups: a listing per directory of many, a HEAD each of few."""

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


def test_many_manifests_of_a_directory_are_listed_few_are_read_a_head_each(
    voiceid_sandbox: Sandbox,
) -> None:
    """Each lookup reads S3 (the check right before a start must see the object now): a
    directory of many wanted manifests is listed, a few are a HEAD each; a missing one is None."""
    manifests, etags = _manifests(voiceid_sandbox, LIST_THRESHOLD + 5)
    uris = sorted(etags)
    missing = f"s3://{BUCKET}/manifests/none.json"
    assert manifests.identities([*uris, missing]) == {**etags, missing: None}
    assert manifests.calls == {"ListObjectsV2": 1}
    assert manifests.identities(uris[:3]) == {u: etags[u] for u in uris[:3]}
    assert manifests.identities(uris[:3]) == {u: etags[u] for u in uris[:3]}
    assert manifests.calls == {"ListObjectsV2": 1, "HeadObject": 6}


def test_a_manifest_that_cannot_be_read_is_reported_once_per_lookup(
    voiceid_sandbox: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A manifest that is gone is None, and the lookup that missed it says so (by its error
    code), once."""
    manifests, _ = _manifests(voiceid_sandbox, 1)
    gone = f"s3://{BUCKET}/manifests/gone.json"
    assert manifests.identities([gone]) == {gone: None}
    captured = capsys.readouterr()
    assert (captured.out + captured.err).count("manifests.head_failed") == 1


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
