"""Manifests and output files in S3: identify external manifests, stage rendered ones, read
job results.

* **Identity of an external manifest** (``input.manifest``): its ETag is part of the spec
  hash, so replacing the file at the same URI shows up as a changed spec. Manifests are looked
  up per directory: a few with ``HeadObject`` each, many with one paginated ``ListObjectsV2``
  of their prefix (1,000 keys a call).
* **Staging** a rendered roster manifest under its content address
  ``<stagingUri>/<sha256>.json``, encrypted with the spec's output KMS key; nothing is uploaded
  when the object already exists.
* **Results**: the job's output file ``<output>/<JobId>/<input file name>.out`` read into
  counts per outcome and per error code. Only counts leave this module (``results``); the
  failed requests themselves are returned for ``status --details`` on a terminal.

Only S3 is called here; Voice ID goes through :mod:`reconciler.voiceid`.
"""

from __future__ import annotations

import json
import os
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import structlog

from reconciler.errors import ReconcilerError

log = structlog.get_logger("reconciler.manifests")

LIST_THRESHOLD = 20
"""Manifests in one directory above which a listing is cheaper than one HEAD each."""


def make_s3_client(*, profile: str | None = None, region: str | None = None) -> Any:
    """An S3 client from the standard AWS configuration (``AWS_ENDPOINT_URL_S3`` included)."""
    config = botocore.config.Config(
        retries={"mode": "standard", "total_max_attempts": 5},
        user_agent_extra="voiceid-reconciler",
    )
    try:
        # botocore reads AWS_DEFAULT_REGION; AWS_REGION (set by EKS, Lambda, ...) counts too.
        region = region or os.environ.get("AWS_REGION") or None
        session = boto3.Session(profile_name=profile, region_name=region)
        return session.client("s3", config=config)
    except botocore.exceptions.BotoCoreError as err:
        raise ReconcilerError(f"AWS configuration: {err}") from err


def split_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


@dataclass(frozen=True)
class FailedRequest:
    """One request that failed in a job (printed by ``status --details`` on a terminal only)."""

    request_id: str
    error_code: int | str
    message: str


class Manifests:
    """S3 as the reconciler uses it for manifests and output files."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.calls: Counter[str] = Counter()

    def identities(self, uris: Iterable[str]) -> dict[str, str | None]:
        """The ETag of each manifest URI (None when it does not exist or cannot be read)."""
        by_directory: dict[tuple[str, str], list[str]] = defaultdict(list)
        for uri in set(uris):
            bucket, key = split_uri(uri)
            directory = key.rpartition("/")[0]
            by_directory[(bucket, f"{directory}/" if directory else "")].append(uri)
        found: dict[str, str | None] = {}
        for (bucket, prefix), group in sorted(by_directory.items()):
            if len(group) >= LIST_THRESHOLD:
                found.update(self._list_etags(bucket, prefix, group))
            else:
                for uri in group:
                    found[uri] = self._head_etag(uri)
        return found

    def _head_etag(self, uri: str) -> str | None:
        bucket, key = split_uri(uri)
        self.calls["HeadObject"] += 1
        try:
            response = self.client.head_object(Bucket=bucket, Key=key)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            log.warning("manifests.head_failed", error=_code(err))
            return None
        return str(response["ETag"]).strip('"')

    def _list_etags(self, bucket: str, prefix: str, uris: list[str]) -> dict[str, str | None]:
        wanted = {split_uri(uri)[1]: uri for uri in uris}
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
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            log.warning("manifests.list_failed", error=_code(err))
        return found

    def stage(self, uri: str, body: bytes, *, kms_key_id: str | None) -> bool:
        """Upload a rendered manifest unless it is already there; True when uploaded."""
        bucket, key = split_uri(uri)
        if self._head_etag(uri) is not None:
            return False
        extra: dict[str, Any] = {}
        if kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        self.calls["PutObject"] += 1
        self.client.put_object(
            Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra
        )
        return True

    def read_output(self, output_prefix: str, job_id: str, input_uri: str) -> dict[str, Any] | None:
        """The job's output file as JSON, or None when it cannot be read."""
        bucket, prefix = split_uri(output_prefix)
        name = input_uri.rstrip("/").rpartition("/")[2]
        key = f"{prefix.rstrip('/')}/{job_id}/{name}.out".lstrip("/")
        self.calls["GetObject"] += 1
        try:
            body = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
            document: dict[str, Any] = json.loads(body)
        except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as err:
            log.warning("manifests.output_unreadable", job_id=job_id, error=_code(err))
            return None
        except ValueError:
            log.warning("manifests.output_not_json", job_id=job_id)
            return None
        return document


def result_counts(output: dict[str, Any]) -> dict[str, int]:
    """Counts per outcome (NEW_ENROLLMENT, DUPLICATE_SKIPPED, ...) and per ``error:<code>``."""
    counts: Counter[str] = Counter()
    for item in output.get("SuccessfulEnrollments", []) or []:
        counts[str(item.get("EnrollmentStatus", "UNKNOWN"))] += 1
    for item in output.get("SuccessfulRegistrations", []) or []:
        counts[str(item.get("RegistrationStatus", "UNKNOWN"))] += 1
    for item in output.get("Errors", []) or []:
        counts[f"error:{item.get('ErrorCode', 'UNKNOWN')}"] += 1
    return dict(sorted(counts.items()))


def failed_requests(output: dict[str, Any]) -> list[FailedRequest]:
    """The failed requests of an output file, in RequestId order."""
    return sorted(
        (
            FailedRequest(
                str(item.get("RequestId", "")),
                item.get("ErrorCode", ""),
                str(item.get("ErrorMessage", "")),
            )
            for item in output.get("Errors", []) or []
        ),
        key=lambda f: f.request_id,
    )


def _code(err: Exception) -> str:
    if isinstance(err, botocore.exceptions.ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return type(err).__name__
