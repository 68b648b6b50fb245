"""S3 objects as the reconciler uses them: identify external manifests, stage rendered ones,
read job output files.

* **Identity of an external manifest** (``input.manifest``): its ETag is part of the spec
  hash, so replacing the file at the same URI shows up as a changed spec. Manifests are looked
  up per directory: a few with ``HeadObject`` each, many with one paginated ``ListObjectsV2``
  of their prefix (1,000 keys a call).
* **Staging** a rendered roster manifest under its content address
  ``<stagingUri>/<sha256>.json``, encrypted with the spec's output KMS key; nothing is uploaded
  when the object already exists.
* **Results**: the job's output file ``<output>/<JobId>/<input file name>.out`` read into
  counts per outcome and per error code. Only counts leave this module (``results``); the
  failed requests themselves are returned for ``status --details`` on a terminal. A file is
  checked against its shape (:func:`reconciler.core.jobs.check_output`, the one place) before
  it is handed over: one that is not JSON, or not of the shape (``null``, ``["x"]``,
  ``{"Errors": 5}``), is one warning naming the job and where the shape breaks, logged once
  per file in a process however often a wait polls it, and is unreadable (``None``: its
  results stay unknown, and a later run reads it again).

Only S3 is called here; Voice ID goes through :mod:`reconciler.adapters.voiceid`. A failure
to stage is a :class:`~reconciler.core.errors.StorageError`; a manifest or output file that
cannot be read is ``None`` (logged with its error code).
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from typing import Any
from xml.etree import ElementTree

import structlog
from botocore import handlers as botocore_handlers

from reconciler.adapters.aws import S3_ERRORS, error_code
from reconciler.core import s3uri
from reconciler.core.errors import StorageError
from reconciler.core.jobs import MalformedOutput, check_output

log = structlog.get_logger("reconciler.manifests")

# A listing page costs about what a HEAD does and names up to 1,000 keys, but it names every
# object of the directory: where manifests sit among recordings, a few manifests would cost many
# pages. Twenty keeps the listing to directories that are mostly manifests.
LIST_THRESHOLD = 20
"""Manifests in one directory above which a listing is cheaper than one HEAD each."""


class Manifests:
    """S3 as the reconciler uses it for manifests and output files."""

    def __init__(self, client: Any) -> None:
        self.client = client
        events = client.meta.events
        events.register("before-parse.s3.ListObjectsV2", _read_listing)
        # botocore parses every S3 answer of 200 whole to see whether it is an error in
        # disguise; a listing page is parsed by _read_listing, which makes the same check.
        if _BOTOCORE_200_CHECK is not None:
            events.unregister("before-parse.s3.*", _BOTOCORE_200_CHECK)
            events.register_first("before-parse.s3.*", _check_200_unless_listing)
        self.calls: Counter[str] = Counter()
        self._unreadable: set[tuple[str, str]] = set()
        """Output files (bucket, key) already warned of as not JSON or not of the shape."""

    def identities(self, uris: Iterable[str]) -> dict[str, str | None]:
        """The ETag of each manifest URI (None when it does not exist or cannot be read)."""
        by_directory: dict[tuple[str, str], list[str]] = defaultdict(list)
        # A manifest several specs name is looked up once.
        for uri in set(uris):
            bucket, key = s3uri.split(uri)
            directory = key.rpartition("/")[0]
            by_directory[(bucket, f"{directory}/" if directory else "")].append(uri)
        found: dict[str, str | None] = {}
        # Sorted, so that the same specs make the same calls in the same order at every run.
        for (bucket, prefix), group in sorted(by_directory.items()):
            if len(group) >= LIST_THRESHOLD:
                found.update(self._list_etags(bucket, prefix, group))
            else:
                for uri in group:
                    found[uri] = self._head_etag(uri)
        return found

    def _head_etag(self, uri: str) -> str | None:
        bucket, key = s3uri.split(uri)
        self.calls["HeadObject"] += 1
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except S3_ERRORS as err:
            log.warning("manifests.head_failed", uri=uri, error=error_code(err))
            return None
        # S3 quotes an ETag, in a HEAD's header and in a listing's XML alike; the text without
        # quotes is what goes into the hash, so both ways of looking it up give the same hash.
        return str(response["ETag"]).strip('"')

    def _list_etags(self, bucket: str, prefix: str, uris: list[str]) -> dict[str, str | None]:
        wanted = {s3uri.split(uri)[1]: uri for uri in uris}
        # A manifest the listing does not show is missing (None), not assumed unchanged.
        found: dict[str, str | None] = dict.fromkeys(uris)
        params: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix, "Delimiter": "/"}
        try:
            while True:
                self.calls["ListObjectsV2"] += 1
                page = self.client.list_objects_v2(**params)
                for item in page.get("Contents", []):
                    if item["Key"] in wanted:
                        found[wanted[item["Key"]]] = str(item["ETag"]).strip('"')
                if not page.get("IsTruncated"):
                    break
                params["ContinuationToken"] = page["NextContinuationToken"]
        except S3_ERRORS as err:
            log.warning(
                "manifests.list_failed", uri=f"s3://{bucket}/{prefix}", error=error_code(err)
            )
        return found

    def stage(self, uri: str, body: bytes, *, kms_key_id: str | None) -> bool:
        """Upload a rendered manifest unless it is already there; True when uploaded.

        Raises :class:`StorageError` when the upload fails."""
        bucket, key = s3uri.split(uri)
        # Content-addressed, so an object under this key already holds these bytes: no second
        # upload, and the object a running job reads is never rewritten under it.
        if self._head_etag(uri) is not None:
            return False
        extra: dict[str, Any] = {}
        if kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        self.calls["PutObject"] += 1
        try:
            self.client.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra
            )
        except S3_ERRORS as err:
            raise StorageError(f"cannot stage the manifest: {err}", code=error_code(err)) from err
        return True

    def read_output(self, output_prefix: str, job_id: str, input_uri: str) -> dict[str, Any] | None:
        """The job's output file as JSON of the documented shape (an object), or None when it
        cannot be read, is not JSON or is not of the shape (see the module)."""
        bucket, prefix = s3uri.split(output_prefix)
        name = input_uri.rstrip("/").rpartition("/")[2]
        # Where Voice ID writes a job's output: <output>/<JobId>/<input file name>.out.
        key = f"{prefix.rstrip('/')}/{job_id}/{name}.out".lstrip("/")
        self.calls["GetObject"] += 1
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
            document: Any = json.loads(body)
        except S3_ERRORS as err:
            log.warning("manifests.output_unreadable", job_id=job_id, error=error_code(err))
            return None
        except (ValueError, RecursionError):  # not JSON, or nested past any sense
            self._warn_once(bucket, key, "manifests.output_not_json", job_id=job_id)
            return None
        try:
            check_output(document)
        except MalformedOutput as err:  # null, a list, a member of another type
            self._warn_once(
                bucket, key, "manifests.output_malformed", job_id=job_id, problem=str(err)
            )
            return None
        checked: dict[str, Any] = document  # an object: check_output takes nothing else
        return checked

    def _warn_once(self, bucket: str, key: str, event: str, **fields: Any) -> None:
        """Log ``event`` for this output file the first time only (a wait reads it each poll)."""
        if (bucket, key) not in self._unreadable:
            self._unreadable.add((bucket, key))
            log.warning(event, **fields)


_S3_XML = "{http://s3.amazonaws.com/doc/2006-03-01/}"


_BOTOCORE_200_CHECK: Callable[..., None] | None = getattr(
    botocore_handlers, "_handle_200_error", None
)
"""botocore's check of an S3 answer of 200 for an error body (None in a botocore without it:
then it is left as it is)."""


def _check_200_unless_listing(operation_model: Any, **kwargs: Any) -> None:
    """botocore's check, for every S3 answer but a listing page (:func:`_read_listing`)."""
    if operation_model.name != "ListObjectsV2" and _BOTOCORE_200_CHECK is not None:
        _BOTOCORE_200_CHECK(operation_model=operation_model, **kwargs)


def _read_listing(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore's ``before-parse`` hook of ListObjectsV2: a page's keys and ETags (all that
    :meth:`Manifests._list_etags` reads) taken from the XML with ElementTree, and botocore left
    an empty body. Its parser walks every field of every object against the model: listing
    10,000 manifests cost a third of a second of CPU in every run. ``EncodingType`` is kept, so
    that botocore still decodes the keys it asked to be encoded. An answer that is not a page
    as expected (an entry without a key, say) is left to botocore. It also does what botocore's
    check of a 200 does, instead of it (that parsed each page once more): a body of 200 that
    is unreadable XML (cut short) or an ``<Error>`` is an answer of 500, retried."""
    if response_dict.get("status_code") != 200 or not response_dict.get("body"):
        return
    try:
        root = ElementTree.fromstring(response_dict["body"])  # noqa: S314 - botocore parses S3 with it
    except (ElementTree.ParseError, TypeError, ValueError):
        response_dict["status_code"] = 500
        return
    # S3 may answer 200 and then an error body (the answer was begun before the failure was
    # known): made a 500 so botocore's retries take it, as its own check of a 200 would.
    if root.tag == "Error":
        response_dict["status_code"] = 500
        return
    if root.tag != f"{_S3_XML}ListBucketResult":
        return
    contents = []
    for item in root.iterfind(f"{_S3_XML}Contents"):
        key, etag = item.findtext(f"{_S3_XML}Key"), item.findtext(f"{_S3_XML}ETag")
        if key is None or etag is None:
            return
        contents.append({"Key": key, "ETag": etag})
    page: dict[str, Any] = {
        "Contents": contents,
        "IsTruncated": root.findtext(f"{_S3_XML}IsTruncated") == "true",
    }
    for name in ("NextContinuationToken", "EncodingType"):
        value = root.findtext(f"{_S3_XML}{name}")
        if value is not None:
            page[name] = value
    # botocore merges this dict into what it parses; with the body emptied below it parses
    # nothing, which is where the time went.
    customized_response_dict.update(page)
    response_dict["body"] = b""
