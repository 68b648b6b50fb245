"""Publishing a page to S3 (``status --format html --out s3://BUCKET/KEY``): one object.

It is replaced whole by one PutObject (S3 never shows half of it), with the media type a
browser opens it as and no caching (the page of the last run, not of an earlier one).

The object takes the bucket's default encryption, as the state beside it does; whoever may
read it opens it with their own credentials (the S3 console's Open, ``aws s3 presign``):
docs/status-page.md says why no link to it is handed out. A failure to write is a
:class:`~reconciler.core.errors.StorageError` naming the URI and S3's error code.
"""

from __future__ import annotations

from typing import Any

from reconciler.adapters.aws import S3_ERRORS, error_code
from reconciler.core import s3uri
from reconciler.core.errors import StorageError

MEDIA_TYPES = {
    # The charset said: S3 serves the type it is given, and a browser left to guess the encoding
    # of a page garbles its non-ASCII text (dashes, the status marks).
    "html": "text/html; charset=utf-8",
    "json": "application/json",
    "text": "text/plain; charset=utf-8",
}
"""The Content-Type of each ``status --format``."""


def publish(client: Any, uri: str, body: bytes, *, media_type: str) -> None:
    """Write ``body`` to the S3 object ``uri`` (``s3://bucket/key``)."""
    bucket, key = s3uri.split(uri)
    try:
        # no-store: the page is replaced every run under one key, and a cached copy would
        # show an earlier run's jobs as if they were now.
        client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType=media_type, CacheControl="no-store"
        )
    except S3_ERRORS as err:
        code = error_code(err)
        raise StorageError(f"cannot write {uri}: {code}", code=code) from err
