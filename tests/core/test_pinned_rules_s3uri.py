"""Rules of S3 URIs split and joined (reconciler.core.s3uri)."""

from __future__ import annotations

from reconciler.core.s3uri import join, split


def test_split_gives_bucket_and_key() -> None:
    """``s3://bucket/key/with/slashes`` is the bucket and everything after its first slash."""
    assert split("s3://bucket/out/run/1.json") == ("bucket", "out/run/1.json")
    assert split("s3://bucket/") == ("bucket", "")
    assert split("s3://bucket") == ("bucket", "")
    assert split("s3:///key") == ("", "key")


def test_join_puts_one_slash_between() -> None:
    """A prefix with or without its trailing slash joins its names with exactly one slash."""
    assert join("s3://bucket/out/", "a", "b.json") == "s3://bucket/out/a/b.json"
    assert join("s3://bucket/out", "a") == "s3://bucket/out/a"
    assert join("s3://bucket/out//") == "s3://bucket/out"
