"""S3 and KMS as a Voice ID job sees them.

Jobs read manifests and audio objects and write output files through ordinary boto3 S3 and
KMS clients pointed at the sandbox's own endpoint, i.e. through moto's public API rather than
its internals. Those requests carry ``INTERNAL_HEADER`` so the dispatcher does not try to
advance jobs while serving them (a job runs under the service lock; advancing from the nested
request would wait for that lock and deadlock).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from reconciler.sandbox.model import matches_pattern

INTERNAL_HEADER = "x-voiceid-sandbox-internal"
FAKE_ACCESS_KEY_ID = "testing"
FAKE_SECRET_ACCESS_KEY = "testing"  # moto accepts any credentials
_S3_URI_PATTERN = "^s3://[a-z0-9][\\.\\-a-z0-9]{1,61}[a-z0-9](/.*)?$"
_HEAD_LIMIT = 16  # above this many keys in one bucket, list the bucket instead of HEADs


class StorageError(Exception):
    """An S3 or KMS resource could not be used."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` as ``(bucket, key)``; raise StorageError if it is not an S3 URI."""
    if not matches_pattern(_S3_URI_PATTERN, uri):
        raise StorageError("not a valid S3 URI")
    rest = uri[len("s3://") :]
    bucket, _, key = rest.partition("/")
    return bucket, key


def _mark_internal(request: Any, **_: Any) -> None:
    request.headers[INTERNAL_HEADER] = "1"


def make_session(region: str) -> boto3.session.Session:
    """A boto3 session with fake credentials that ignores AWS_PROFILE and config files."""
    return boto3.session.Session(
        aws_access_key_id=FAKE_ACCESS_KEY_ID,
        aws_secret_access_key=FAKE_SECRET_ACCESS_KEY,
        region_name=region,
        botocore_session=_isolated_botocore_session(),
    )


def _isolated_botocore_session() -> Any:
    import botocore.session

    session = botocore.session.Session()
    session.set_config_variable("profile", None)
    session.set_config_variable("config_file", os.devnull)
    session.set_config_variable("credentials_file", os.devnull)
    return session


def _common_prefix(keys: set[str]) -> str:
    """The longest string every key starts with (S3 prefixes are strings, not paths)."""
    low, high = min(keys), max(keys)
    size = 0
    while size < min(len(low), len(high)) and low[size] == high[size]:
        size += 1
    return low[:size]


class Storage:
    """S3 and KMS access for jobs, through the sandbox endpoint."""

    def __init__(self, endpoint_url: str, region: str) -> None:
        session = make_session(region)
        config = Config(
            s3={"addressing_style": "path"},
            retries={"max_attempts": 3, "mode": "standard"},
            max_pool_connections=16,
            connect_timeout=5,
            read_timeout=60,
        )
        self._s3: Any = session.client("s3", endpoint_url=endpoint_url, config=config)
        self._kms: Any = session.client("kms", endpoint_url=endpoint_url, config=config)
        for client in (self._s3, self._kms):
            client.meta.events.register("before-sign", _mark_internal)

    @property
    def s3(self) -> Any:
        """The internal S3 client (requests are marked internal)."""
        return self._s3

    @property
    def kms(self) -> Any:
        """The internal KMS client (requests are marked internal)."""
        return self._kms

    def close(self) -> None:
        """Close both clients' connection pools."""
        self._s3.close()
        self._kms.close()

    def read_object(self, uri: str) -> tuple[bytes, str | None]:
        """The bytes of the object at ``uri``, and the KMS key that encrypts it (if any)."""
        bucket, key = parse_s3_uri(uri)
        if not key:
            raise StorageError("the S3 URI names no object")
        try:
            response = self._s3.get_object(Bucket=bucket, Key=key)
            body: bytes = response["Body"].read()
        except (ClientError, BotoCoreError) as err:
            raise StorageError("the object could not be read") from err
        return body, response.get("SSEKMSKeyId")

    def bucket_exists(self, bucket: str) -> bool:
        """True when ``bucket`` exists."""
        try:
            self._s3.head_bucket(Bucket=bucket)
        except ClientError:
            return False
        return True

    def put_object(self, uri: str, body: bytes, kms_key_id: str | None) -> None:
        """Write ``body`` at ``uri``, SSE-KMS encrypted with ``kms_key_id`` when given."""
        bucket, key = parse_s3_uri(uri)
        extra: dict[str, str] = {}
        if kms_key_id:
            extra = {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}
        try:
            self._s3.put_object(
                Bucket=bucket, Key=key, Body=body, ContentType="application/json", **extra
            )
        except (ClientError, BotoCoreError) as err:
            raise StorageError("the output file could not be written") from err

    def kms_key_usable(self, key_id: str) -> bool:
        """True when ``key_id`` (id, ARN, alias or alias ARN) names an enabled KMS key."""
        try:
            metadata = self._kms.describe_key(KeyId=key_id)["KeyMetadata"]
        except (ClientError, BotoCoreError):
            return False
        return bool(metadata.get("Enabled")) and metadata.get("KeyState") == "Enabled"

    def object_sizes(self, uris: Iterable[str]) -> dict[str, int | None]:
        """The size of each object named in ``uris`` (None when it does not exist)."""
        sizes: dict[str, int | None] = {}
        keys_by_bucket: dict[str, set[str]] = defaultdict(set)
        for uri in set(uris):
            try:
                bucket, key = parse_s3_uri(uri)
            except StorageError:
                sizes[uri] = None
                continue
            if not key:
                sizes[uri] = None
                continue
            keys_by_bucket[bucket].add(key)
        for bucket, keys in keys_by_bucket.items():
            found = self._sizes_in_bucket(bucket, keys)
            for key in keys:
                sizes[f"s3://{bucket}/{key}"] = found.get(key)
        return sizes

    def _sizes_in_bucket(self, bucket: str, keys: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        if len(keys) <= _HEAD_LIMIT:
            for key in keys:
                try:
                    head = self._s3.head_object(Bucket=bucket, Key=key)
                except ClientError:
                    continue
                found[key] = int(head["ContentLength"])
            return found
        prefix = _common_prefix(keys)
        paginator = self._s3.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["Key"] in keys:
                        found[item["Key"]] = int(item["Size"])
        except ClientError:
            return {}
        return found
