"""S3 URIs (``s3://bucket/key``), split and joined in one place."""

from __future__ import annotations


def split(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as (bucket, key); either may be empty when the URI lacks it."""
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def join(prefix: str, *names: str) -> str:
    """``prefix`` (with or without a trailing ``/``) and ``names`` joined by ``/``."""
    # A prefix written with or without its slash gives one key: 'a//b' would be another S3
    # object, and a staged manifest would not be found where the Start says it is.
    return "/".join([prefix.rstrip("/"), *names])
