"""S3 ListObjectsV2 answered from moto's backend directly, without moto's serializer.

Why: moto renders every response through its generic, model-driven serializer
(``moto.core.serialize``), which re-parses each ``LastModified`` and walks the output shape per
element; a 1000-key page costs 0.3-0.4 s of CPU, about five times what real S3 takes. That
made the sandbox, not the client under test, the bottleneck of the benchmarks' wall time.

``list_objects_v2`` reads moto's key store as moto does and writes the XML moto would write:
the same elements in the same order, the same ordering of keys and common prefixes, the same
KeyCount/IsTruncated and continuation tokens (moto's own: the MD5 of the page's last name,
remembered in the backend's ``_pagination_tokens``, so a token from either path works on the
other). Whatever it does not reproduce exactly it leaves to moto (``None``): a missing bucket
or one of another account, sub-resources and unknown parameters, an empty or unknown
continuation token, a bad MaxKeys, moto's IAM access control when on, CORS (``Origin``),
bucket logging, virtual-host addressing, unsigned requests, and any exception.
"""

from __future__ import annotations

import bisect
import hashlib
import math
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote
from xml.sax.saxutils import escape

Response = tuple[str, list[tuple[str, str]], bytes]
"""A WSGI status line, headers and body."""

_PARAMS = frozenset(
    {
        "list-type",
        "prefix",
        "delimiter",
        "max-keys",
        "start-after",
        "continuation-token",
        "encoding-type",
        "fetch-owner",
    }
)
_HEAD = (
    '<?xml version="1.0" encoding="utf-8"?>\n'
    '<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
)
_OWNER = (  # moto's fixed owner
    "<Owner><DisplayName>webfile</DisplayName>"
    "<ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner>"
)


class _Host:
    """Just enough of a request for ``S3Response.subdomain_based_buckets``."""

    def __init__(self, host: str) -> None:
        self.headers = {"host": host}
        self.url = f"http://{host}/"


def _scope(environ: dict[str, Any]) -> tuple[str, str]:
    """The region and service of the request's SigV4 credential scope, or ("", "")."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    _, found, scope = authorization.partition("Credential=")
    parts = scope.split(",", 1)[0].split("/") if found else []
    return (parts[2], parts[3]) if len(parts) == 5 else ("", "")


def _backend_bucket(environ: dict[str, Any], account_id: str) -> tuple[Any, Any] | None:
    """moto's S3 backend and the bucket a path-style bucket GET addresses, if served here."""
    from moto import settings
    from moto.s3.models import FakeTableStorageBucket, s3_backends
    from moto.s3.responses import S3Response
    from moto.utilities.utils import get_partition

    region, service = _scope(environ)
    host = str(environ.get("HTTP_HOST", ""))
    if (
        environ.get("REQUEST_METHOD") != "GET"
        or service != "s3"
        or not region
        or not host
        or ".s3-accesspoint." in host
        or environ.get("HTTP_ORIGIN")
        or not math.isinf(settings.INITIAL_NO_AUTH_ACTION_COUNT)  # moto's IAM is enforced
        or S3Response.subdomain_based_buckets(_Host(host))
    ):
        return None
    name = str(environ.get("PATH_INFO", "")).removeprefix("/").removesuffix("/")
    if not name or "/" in name:
        return None
    backend = s3_backends[account_id][get_partition(region)]
    bucket = backend.buckets.get(name)
    if bucket is None or isinstance(bucket, FakeTableStorageBucket) or bucket.logging:
        return None
    return backend, bucket


def list_objects_v2(environ: dict[str, Any], account_id: str) -> Response | None:
    """moto's answer to a ListObjectsV2 request, or None to let moto answer it."""
    query = parse_qs(str(environ.get("QUERY_STRING", "")), keep_blank_values=True)
    if query.get("list-type") != ["2"] or not query.keys() <= _PARAMS:
        return None
    try:
        found = _backend_bucket(environ, account_id)
        if found is None:
            return None
        return _list(query, *found)
    except Exception:  # noqa: BLE001 - moto answers whatever the fast path cannot
        return None


@dataclass(frozen=True)
class _Query:
    """A ListObjectsV2 request's parameters, read as moto reads them."""

    prefix: str
    delimiter: str
    max_keys: int
    start_after: str | None
    token: str | None
    encoding: str | None
    fetch_owner: bool

    @classmethod
    def parse(cls, query: dict[str, list[str]], tokens: dict[str, str]) -> _Query | None:
        """The parameters, or None for what moto answers with an error (an empty or unknown
        continuation token, a bad MaxKeys) or oddly (a negative MaxKeys)."""
        from moto import settings

        def param(name: str) -> str | None:
            return query[name][0] if name in query else None

        token = param("continuation-token")
        if token is not None and token not in tokens:
            return None
        max_keys = (
            int(query["max-keys"][0]) if "max-keys" in query else settings.get_s3_default_max_keys()
        )
        if max_keys < 0:
            return None
        return cls(
            prefix=param("prefix") or "",
            delimiter=param("delimiter") or "",
            max_keys=max_keys,
            start_after=param("start-after"),
            token=token,
            encoding=param("encoding-type"),
            fetch_owner=bool(param("fetch-owner")),  # as moto: "false" is true
        )


def _list(query: dict[str, list[str]], backend: Any, bucket: Any) -> Response | None:
    tokens: dict[str, str] = backend._pagination_tokens
    q = _Query.parse(query, tokens)
    if q is None:
        return None
    entries = _entries(bucket, q.prefix, q.delimiter)
    limit = tokens[q.token] if q.token else q.start_after
    if limit:
        entries = entries[bisect.bisect_right(entries, limit, key=lambda entry: entry[0]) :]
    next_token = None
    if q.max_keys == 0:
        entries = []
    elif len(entries) > q.max_keys:  # moto's token: the MD5 of the page's last name
        entries = entries[: q.max_keys]
        last = entries[-1][0]
        next_token = hashlib.md5(last.encode(), usedforsecurity=False).hexdigest()
        tokens[next_token] = last
    body = _render(bucket.name, q, entries, next_token)
    headers = [
        ("Content-Type", "application/xml"),
        ("Content-Length", str(len(body))),
        ("x-amzn-requestid", uuid.uuid4().hex),
        ("Access-Control-Allow-Origin", "*"),
    ]
    return "200 OK", headers, body


def _entries(bucket: Any, prefix: str, delimiter: str) -> list[tuple[str, Any]]:
    """moto's ``S3Backend.list_objects``: the latest version of each key under ``prefix``
    (read from a snapshot of the store, as ``_VersionedKeyStore.items()`` does), delete
    markers dropped after they have given their common prefix, and the common prefixes (key
    ``None``), all in name order."""
    from moto.s3.models import FakeDeleteMarker

    entries: list[tuple[str, Any]] = []
    folders: set[str] = set()
    start = len(prefix)
    for name, versions in dict(bucket.keys).items():
        if not name.startswith(prefix):
            continue
        at = name.find(delimiter, start) if delimiter else -1
        if at >= 0:
            folders.add(name[: at + len(delimiter)])
        elif not isinstance(key := versions[-1], FakeDeleteMarker):
            entries.append((name, key))
    entries.extend((folder, None) for folder in folders)
    entries.sort(key=lambda entry: entry[0])
    return entries


def _render(
    bucket_name: str, q: _Query, entries: list[tuple[str, Any]], next_token: str | None
) -> bytes:
    """The XML moto's serializer writes (xmltodict: elements in the output shape's order)."""
    url = q.encoding == "url"

    def text(value: str) -> str:
        return escape(quote(value) if url else value)

    out = [_HEAD, f"<IsTruncated>{'true' if next_token else 'false'}</IsTruncated>"]
    common: list[str] = []
    for name, key in entries:
        if key is None:
            common.append(f"<CommonPrefixes><Prefix>{text(name)}</Prefix></CommonPrefixes>")
        else:
            out.append(_contents(text(name), key, q.fetch_owner))
    out.append(f"<Name>{escape(bucket_name)}</Name>")
    out.append(f"<Prefix>{text(q.prefix)}</Prefix>" if q.prefix else "<Prefix/>")
    if q.delimiter:
        out.append(f"<Delimiter>{escape(q.delimiter)}</Delimiter>")
    out.append(f"<MaxKeys>{q.max_keys}</MaxKeys>")
    if q.delimiter:
        out.extend(common)
    if q.encoding:
        out.append(f"<EncodingType>{escape(q.encoding)}</EncodingType>")
    out.append(f"<KeyCount>{len(entries)}</KeyCount>")
    if next_token:
        out.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
    if not q.token and q.start_after:
        out.append(f"<StartAfter>{escape(q.start_after)}</StartAfter>")
    out.append("</ListBucketResult>")
    return "".join(out).encode()


def _contents(name: str, key: Any, fetch_owner: bool) -> str:
    """One ``<Contents>`` (``name`` already escaped); LastModified straight from the key's
    datetime, as S3 writes it."""
    out = [f"<Contents><Key>{name}</Key>"]
    if key.last_modified:
        out.append(f"<LastModified>{key.last_modified:%Y-%m-%dT%H:%M:%S.000Z}</LastModified>")
    out.append(f"<ETag>{escape(key.etag)}</ETag>")  # moto's ETag is quoted
    if key.checksum_algorithm:
        out.append(f"<ChecksumAlgorithm>{escape(key.checksum_algorithm)}</ChecksumAlgorithm>")
    out.append(f"<Size>{int(key.size)}</Size>")
    if key.storage_class:
        out.append(f"<StorageClass>{escape(key.storage_class)}</StorageClass>")
    out.append(f"{_OWNER}</Contents>" if fetch_owner else "</Contents>")
    return "".join(out)
