"""The one AWS session and client factory, and the botocore error codes the adapters branch on.

Clients come from the standard AWS configuration (profiles, ``AWS_REGION`` as well as
``AWS_DEFAULT_REGION``, environment credentials, IRSA web identity, ``AWS_ENDPOINT_URL*``), so
the same settings work against the sandbox and real AWS.
"""

from __future__ import annotations

import functools
import os
from datetime import UTC, datetime
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session
import botocore.utils

from reconciler.core.errors import ReconcilerError

_CONFIGS: dict[str, dict[str, Any]] = {
    # Voice ID: botocore's retries off, so that call counts are true and the backoff is ours.
    "voice-id": {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        "connect_timeout": 10,
        "read_timeout": 30,
    },
    "s3": {"retries": {"mode": "standard", "total_max_attempts": 5}},
    # SNS (notifications): a few quick tries; a failed delivery is retried next run anyway.
    "sns": {
        "retries": {"mode": "standard", "total_max_attempts": 3},
        "connect_timeout": 5,
        "read_timeout": 10,
    },
}


def make_client(service: str, *, profile: str | None = None, region: str | None = None) -> Any:
    """A client for ``service`` ("voice-id", "s3" or "sns") from the standard AWS
    configuration. The clients of one process share one session per profile and region (a
    session loads botocore's data and resolves credentials once)."""
    config = botocore.config.Config(**_CONFIGS[service], user_agent_extra="voiceid-reconciler")
    try:
        # botocore reads AWS_DEFAULT_REGION; AWS_REGION (set by EKS, Lambda, ...) counts too.
        region = region or os.environ.get("AWS_REGION") or None
        session = _session(profile, _environment())
        return session.create_client(service, region_name=region, config=config)
    except botocore.exceptions.BotoCoreError as err:  # no region, unknown profile, ...
        raise ReconcilerError(f"AWS configuration: {err}") from err


def _environment() -> tuple[tuple[str, str], ...]:
    """The AWS settings of the environment: a session is reused only while they hold (a test,
    or the demo, that points the environment elsewhere gets a session of its own)."""
    return tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_")))


@functools.lru_cache(maxsize=8)
def _session(profile: str | None, environment: tuple[tuple[str, str], ...]) -> Any:
    """botocore's session, which boto3's wraps: the same configuration chain (environment,
    profiles, config files, web identity) and HTTP path, without importing boto3 and its
    transfer manager (a seventh of a steady run's start-up; no client here uses them)."""
    del environment  # part of the cache key only
    core = botocore.session.Session(profile=profile)
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    return core


def parse_timestamp(value: str | float) -> datetime:
    """A timestamp of an AWS answer as an aware UTC datetime: what botocore's own parser gives,
    at a fraction of its cost. botocore's goes through dateutil and, for the epoch numbers of
    JSON protocols (Voice ID's ``CreatedAt``), the host's local time zone; a cold start reads
    hundreds of thousands of them (and S3's ``LastModified`` of every manifest listed), which
    made it half a cold start's CPU. ISO-8601 (S3's XML) and epoch seconds are read directly;
    anything else (an RFC 1123 date) falls back to botocore's parser."""
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:  # botocore's parser reads the rest, or raises its own error
        parsed = botocore.utils.parse_timestamp(str(value))
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def error_code(err: Exception) -> str:
    """The error code of a ClientError (``NoSuchKey``), else the exception's class name."""
    if isinstance(err, botocore.exceptions.ClientError):
        return str(err.response.get("Error", {}).get("Code", ""))
    return type(err).__name__


def http_status(err: botocore.exceptions.ClientError) -> int:
    """The HTTP status of a ClientError's answer (0 when unknown)."""
    return int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def precondition_failed(err: botocore.exceptions.ClientError) -> bool:
    """S3 refused a conditional request (``If-Match`` / ``If-None-Match``)."""
    return error_code(err) in ("PreconditionFailed", "412") or http_status(err) == 412


def missing(err: botocore.exceptions.ClientError) -> bool:
    """S3 says the object does not exist."""
    return error_code(err) in ("NoSuchKey", "404", "NotFound") or http_status(err) == 404


S3_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
"""Every exception an S3 call can raise."""
