"""The one AWS session and client factory, and the botocore error codes the adapters branch on.

Clients come from the standard AWS configuration (profiles, ``AWS_REGION`` as well as
``AWS_DEFAULT_REGION``, environment credentials, IRSA web identity, ``AWS_ENDPOINT_URL*``), so
the same settings work against the sandbox and real AWS.

The environment is checked before the first client is made (:func:`check_environment`):
botocore reads most of it lazily — a bad endpoint URL when a client is made, the metadata
service's timeout or the web identity token file at the first call that needs credentials,
the CA bundle at the first connection — and raises ``ValueError`` or ``FileNotFoundError``
from deep inside, after the run has begun (for ``apply``, after a job may have started).
Here each variable is read as botocore would read it, and a bad one is one line naming the
variable and what is expected; its value is never shown (it may be a URL with a password, a
path that says too much). Whatever botocore still raises while making a client is one line
too, naming only the kind of error.
"""

from __future__ import annotations

import functools
import os
import stat
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.config
import botocore.exceptions
import botocore.session
import botocore.utils

from reconciler.adapters import urls
from reconciler.core.errors import ReconcilerError

_CONFIGS: dict[str, dict[str, Any]] = {
    # Voice ID: botocore's retries off, so that call counts are true and the backoff is ours.
    "voice-id": {
        "retries": {"total_max_attempts": 1, "mode": "standard"},
        # Below botocore's 60 s each: a call that hangs is cut and retried by our own backoff,
        # instead of holding a poll (and the state's lock, when one is held) for two minutes.
        "connect_timeout": 10,
        "read_timeout": 30,
    },
    # S3 has no backoff of ours: botocore's standard mode retries its 500s and 503 SlowDown,
    # which a busy prefix answers under load.
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
    # The user agent is what CloudTrail records of each call: our calls are told from the
    # console's and the AWS CLI's in an account's trail.
    config = botocore.config.Config(**_CONFIGS[service], user_agent_extra="voiceid-reconciler")
    environment = _environment()
    _checked(environment)
    try:
        # botocore reads AWS_DEFAULT_REGION; AWS_REGION (set by EKS, Lambda, ...) counts too.
        region = region or os.environ.get("AWS_REGION") or None
        session = _session(profile, environment)
        return session.create_client(service, region_name=region, config=config)
    except botocore.exceptions.BotoCoreError as err:  # no region, unknown profile, ...
        raise ReconcilerError(f"AWS configuration: {err}") from err
    except (ValueError, TypeError, KeyError, OSError) as err:  # a setting of a config file
        raise ReconcilerError(  # its message may quote the value (a URL with a password)
            f"AWS configuration: the {service} client cannot be made ({type(err).__name__}); "
            "check the AWS_* variables and the profile's settings"
        ) from err


_URLS = ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "AWS_CONTAINER_CREDENTIALS_FULL_URI")
_PROXIES = ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy")
_WHOLE_NUMBERS = {
    "AWS_METADATA_SERVICE_TIMEOUT": 0,
    "AWS_METADATA_SERVICE_NUM_ATTEMPTS": 1,
    "AWS_MAX_ATTEMPTS": 1,
    "AWS_REQUEST_MIN_COMPRESSION_SIZE_BYTES": 0,
}
_CHOICES = {
    "AWS_RETRY_MODE": ("legacy", "standard", "adaptive"),
    "AWS_DEFAULTS_MODE": ("legacy", "standard", "in-region", "cross-region", "mobile", "auto"),
    "AWS_STS_REGIONAL_ENDPOINTS": ("legacy", "regional"),
    "AWS_S3_US_EAST_1_REGIONAL_ENDPOINT": ("legacy", "regional"),
    "AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE": ("ipv4", "ipv6"),
}
_FILES = ("AWS_CA_BUNDLE", "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE")


def check_environment(environ: Mapping[str, str]) -> list[str]:
    """What is wrong with the AWS settings of ``environ``, one line each, naming the variable
    and what it must be, never its value:

    * ``AWS_ENDPOINT_URL`` and every ``AWS_ENDPOINT_URL_<SERVICE>``, the metadata and
      container credential endpoints, the proxies: an http(s) URL with a host and a port in
      range (botocore raises ``ValueError`` for ``not a url`` and ``http://[::1``);
    * ``AWS_METADATA_SERVICE_TIMEOUT``, ``..._NUM_ATTEMPTS``, ``AWS_MAX_ATTEMPTS``: whole
      numbers (botocore's ``int()`` raises at the first call needing credentials);
    * ``AWS_RETRY_MODE``, ``AWS_DEFAULTS_MODE``, ``AWS_STS_REGIONAL_ENDPOINTS``, ...: one of
      the values botocore knows;
    * ``AWS_WEB_IDENTITY_TOKEN_FILE`` (when ``AWS_ROLE_ARN`` is set, as IRSA sets both),
      ``AWS_CA_BUNDLE``, ``AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE``: a regular file this
      process can read (botocore opens them only at the first call).
    """
    problems = []
    for name, value in sorted(environ.items()):
        if name.startswith("AWS_ENDPOINT_URL") or name in _URLS or name in _PROXIES:
            # An empty variable is how a shell or a manifest leaves one unset, and botocore
            # takes it as unset too (its default endpoint): nothing to refuse.
            if not value:
                continue
            try:
                urls.check(value, schemes=("http", "https"))
            except urls.UrlError as err:
                problems.append(f"${name} {err} (expected http(s)://host[:port])")
        elif name in _WHOLE_NUMBERS:
            least = _WHOLE_NUMBERS[name]
            if not (value.strip().isdigit() and int(value) >= least):
                problems.append(f"${name} is not a whole number, {least} or more")
        elif name in _CHOICES and value.strip().lower() not in _CHOICES[name]:
            problems.append(f"${name} is not one of {', '.join(_CHOICES[name])}")
    files = [name for name in _FILES if environ.get(name)]
    # botocore reads the token file only when the role ARN is set too (IRSA sets both): a token
    # file variable alone is never opened, and must not fail a run.
    if environ.get("AWS_WEB_IDENTITY_TOKEN_FILE") and environ.get("AWS_ROLE_ARN"):
        files.append("AWS_WEB_IDENTITY_TOKEN_FILE")
    problems.extend(
        f"${name} {problem}" for name in sorted(files) if (problem := _unreadable(environ[name]))
    )
    return problems


def _unreadable(path: str) -> str | None:
    """Why ``path`` is not a regular file this process can read (None: it is)."""
    try:
        mode = Path(path).stat().st_mode
    except FileNotFoundError:
        return "names a file that does not exist"
    except OSError as err:
        return f"names a file that cannot be reached ({err.strerror})"
    if not stat.S_ISREG(mode):
        return "names something that is not a regular file"
    if not os.access(path, os.R_OK):
        return "names a file this process may not read"
    return None


# Checked once per set of settings: every client made (Voice ID, S3, SNS) asks, and a file
# checked once need not be stat'ed again while the environment holds.
@functools.lru_cache(maxsize=8)
def _checked(environment: tuple[tuple[str, str], ...]) -> None:
    """:func:`check_environment` of the process's AWS settings, once per set of them: the
    first problem (and how many more) as a :class:`ReconcilerError`."""
    problems = check_environment(dict(environment))
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise ReconcilerError(f"AWS configuration: {problems[0]}{more}")


def _environment() -> tuple[tuple[str, str], ...]:
    """The AWS settings of the environment (and the proxies botocore reads): a session is
    reused only while they hold (a test, or the demo, that points the environment elsewhere
    gets a session of its own)."""
    return tuple(
        sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_") or k in _PROXIES)
    )


@functools.lru_cache(maxsize=8)
def _session(profile: str | None, environment: tuple[tuple[str, str], ...]) -> Any:
    """botocore's session, which boto3's wraps: the same configuration chain (environment,
    profiles, config files, web identity) and HTTP path, without importing boto3 and its
    transfer manager (a seventh of a steady run's start-up; no client here uses them)."""
    del environment  # part of the cache key only
    core = botocore.session.Session(profile=profile)
    # Every client of the session parses times with ours (see parse_timestamp): set on the
    # session once, before its first client.
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
        # Epoch numbers first: they are what Voice ID's JSON answers hold, the bulk of a cold
        # start's.
        return datetime.fromtimestamp(float(value), UTC)
    # Not a number (an ISO text), or a number beyond what the platform's time functions take.
    except (ValueError, OverflowError, OSError):
        pass
    try:
        parsed = datetime.fromisoformat(str(value))
    except ValueError:  # botocore's parser reads the rest, or raises its own error
        parsed = botocore.utils.parse_timestamp(str(value))
    # AWS writes its times in UTC: one without an offset is UTC, made aware so it compares with
    # the rest.
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
    # A HEAD has no body, so botocore makes the code of its error from the status ("412",
    # "404"): the code and the status are both asked, whichever the call was.
    return error_code(err) in ("PreconditionFailed", "412") or http_status(err) == 412


def missing(err: botocore.exceptions.ClientError) -> bool:
    """S3 says the object does not exist."""
    return error_code(err) in ("NoSuchKey", "404", "NotFound") or http_status(err) == 404


S3_ERRORS = (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError)
"""Every exception an S3 call can raise."""
