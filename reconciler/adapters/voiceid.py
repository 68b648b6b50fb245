"""The Voice ID adapter: every Voice ID call of the product goes through :class:`VoiceId`.

It lists, describes and starts batch jobs of both kinds, resolves domains and watchlists, and
translates every botocore error into :mod:`reconciler.errors` (branching on the error code,
never on the message or HTTP status). Each call

* waits for a client-side token bucket (per operation: Voice ID's quota is 2 TPS per API);
* is retried by tenacity on :class:`~reconciler.errors.RetryableError` (throttling, 5xx,
  connection trouble) with jittered exponential backoff, bounded in attempts and time, every
  retry logged as ``voiceid.retry``;
* is counted per operation (``calls``), for the run summary and the tests.

botocore's own retries are switched off so that the counts are true and the backoff is ours.
The client is built by :func:`reconciler.adapters.aws.make_client` and passed in, so tests
can hand in a client pointed at the sandbox. An answer without the fields the model requires
(a job without ``JobId``, an unknown ``JobStatus``) is a :class:`VoiceIdError`, never a crash.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import botocore.exceptions
import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    stop_after_delay,
    wait_random_exponential,
)

from reconciler.core.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RetryableError,
    VoiceIdError,
)
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.times import iso, iso_of

log = structlog.get_logger("reconciler.voiceid")

_OPERATIONS = {
    JobKind.ENROLLMENT: (
        "ListSpeakerEnrollmentJobs",
        "DescribeSpeakerEnrollmentJob",
        "StartSpeakerEnrollmentJob",
    ),
    JobKind.REGISTRATION: (
        "ListFraudsterRegistrationJobs",
        "DescribeFraudsterRegistrationJob",
        "StartFraudsterRegistrationJob",
    ),
}
_ERRORS: dict[str, type[VoiceIdError]] = {
    "AccessDeniedException": AccessDeniedError,
    "ResourceNotFoundException": NotFoundError,
    "ConflictException": ConflictError,
    "ServiceQuotaExceededException": QuotaExceededError,
    "ValidationException": InvalidRequestError,
    "ThrottlingException": RetryableError,
    "InternalServerException": RetryableError,
    "ServiceUnavailableException": RetryableError,
    "RequestTimeoutException": RetryableError,
}
PAGE_SIZE = 100
_SHAPES: dict[str, type] = {
    "DomainSummaries": list,
    "WatchlistSummaries": list,
    "JobSummaries": list,
    "Job": dict,
}
"""The field of each answer the reconciler reads, and its type: an answer without it is not
"nothing there" but a malformed answer."""
_STATUSES = frozenset(JobStatus)


@dataclass(frozen=True)
class Domain:
    domain_id: str
    name: str
    status: str
    default_watchlist_id: str | None


@dataclass(frozen=True)
class Watchlist:
    watchlist_id: str
    name: str
    default: bool


class RateLimiter:
    """A token bucket per operation: at most ``tps`` calls a second, bursts of ``burst``."""

    def __init__(
        self, tps: float, burst: int = 1, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.tps = tps
        self.burst = max(1, burst)
        self._clock = clock
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def acquire(self, operation: str) -> float:
        """Wait for a token for ``operation``; return the seconds waited."""
        if self.tps <= 0:
            return 0.0
        with self._lock:
            now = self._clock()
            tokens, last = self._buckets.get(operation, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.tps)
            if tokens >= 1:
                wait, self._buckets[operation] = 0.0, (tokens - 1, now)
            else:  # reserve the next token; later callers queue behind this one
                wait = (1 - tokens) / self.tps
                self._buckets[operation] = (0.0, now + wait)
        if wait:
            time.sleep(wait)
        return wait


class VoiceId:
    """Voice ID as the reconciler uses it."""

    def __init__(
        self,
        client: Any,
        *,
        tps: float = 2.0,
        max_attempts: int = 8,
        max_delay: float = 120.0,
        max_wait: float = 20.0,
    ) -> None:
        self.client = client
        self.limiter = RateLimiter(tps)
        self.calls: Counter[str] = Counter()
        self.throttles: Counter[str] = Counter()
        self._counting = threading.Lock()
        for list_operation, _, _ in _OPERATIONS.values():
            client.meta.events.register(f"before-parse.voice-id.{list_operation}", _read_page)
        self._retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            wait=wait_random_exponential(multiplier=0.25, max=max_wait),
            stop=stop_after_attempt(max_attempts) | stop_after_delay(max_delay),
            before_sleep=self._log_retry,
            reraise=True,
        )
        self._domains: list[Domain] | None = None
        self._watchlists: dict[str, list[Watchlist]] = {}
        self._service_date: tuple[float, float] | None = None
        """The ``Date`` of Voice ID's latest answer (epoch seconds) and the monotonic time it
        arrived at."""

    def service_time(self) -> float | None:
        """Voice ID's own time now: the ``Date`` header of its latest answer plus the monotonic
        time since (None before the first answer). It does not depend on this host's wall
        clock, so a skewed host ages the state's timestamps as every other host does. The header
        has whole seconds, so this is at most about a second behind the service."""
        if self._service_date is None:
            return None
        date, arrived = self._service_date
        return date + (time.monotonic() - arrived)

    def _note_date(self, response: dict[str, Any]) -> None:
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        try:
            date = parsedate_to_datetime(headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError, IndexError):
            return  # no usable Date: keep the last one (or the host's clock)
        self._service_date = (date, time.monotonic())

    # -- the call path ------------------------------------------------------------------------

    def _call(self, operation: str, *, require: str, **params: Any) -> dict[str, Any]:
        """Call ``operation``; its answer must hold ``require`` (the field the model marks
        required that the reconciler reads), else it is retried, then refused."""
        method = getattr(self.client, _snake(operation))

        def attempt(operation: str) -> dict[str, Any]:  # named, so that retries log it
            self.limiter.acquire(operation)
            with self._counting:  # the two kinds are listed from two threads
                self.calls[operation] += 1
            try:
                response: dict[str, Any] = method(**params)
            except botocore.exceptions.ClientError as err:
                raise self._translate(operation, err) from err
            except (
                botocore.exceptions.EndpointConnectionError,
                botocore.exceptions.ConnectionClosedError,
                botocore.exceptions.ReadTimeoutError,
                botocore.exceptions.ConnectTimeoutError,
                botocore.exceptions.ProxyConnectionError,
                botocore.exceptions.HTTPClientError,
            ) as err:
                raise RetryableError(
                    f"{operation}: connection problem: {err}", code="Connection"
                ) from err
            except botocore.exceptions.BotoCoreError as err:  # credentials, parameters, ...
                raise VoiceIdError(f"{operation}: {err}", code=type(err).__name__) from err
            if not isinstance(response.get(require), _SHAPES[require]):
                raise RetryableError(
                    f"{operation}: Voice ID answered without {require} (a malformed answer); "
                    "not trusting it",
                    code="MalformedAnswer",
                )
            self._note_date(response)
            return response

        return self._retrying(attempt, operation)

    def _translate(self, operation: str, err: botocore.exceptions.ClientError) -> VoiceIdError:
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        cls = _ERRORS.get(code)
        if cls is None:
            cls = RetryableError if status >= 500 else VoiceIdError
        if code == "ThrottlingException":
            with self._counting:
                self.throttles[operation] += 1
        detail = error.get("Message") or code or "unknown error"
        resource = str(err.response.get("ResourceType") or error.get("ResourceType") or "")
        conflict = str(err.response.get("ConflictType") or error.get("ConflictType") or "")
        return cls(f"{operation}: {code}: {detail}", code=conflict or code, resource_type=resource)

    @staticmethod
    def _log_retry(state: RetryCallState) -> None:
        outcome = state.outcome
        error = outcome.exception() if outcome else None
        log.warning(
            "voiceid.retry",
            operation=state.args[0] if state.args else None,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep, 2),
            error=getattr(error, "code", type(error).__name__),
        )

    # -- domains and watchlists ---------------------------------------------------------------

    def domains(self) -> list[Domain]:
        """Every domain of the account (ListDomains, cached for the run)."""
        if self._domains is None:
            found: list[Domain] = []
            for page in self._pages("ListDomains", "DomainSummaries", MaxResults=10):
                for item in page["DomainSummaries"]:
                    details = item.get("WatchlistDetails") or {}
                    found.append(
                        Domain(
                            _field(item, "DomainId", "ListDomains"),
                            item.get("Name", ""),
                            item.get("DomainStatus", ""),
                            details.get("DefaultWatchlistId"),
                        )
                    )
            self._domains = found
        return self._domains

    def watchlists(self, domain_id: str) -> list[Watchlist]:
        """Every watchlist of a domain (ListWatchlists, cached for the run)."""
        if domain_id not in self._watchlists:
            self._watchlists[domain_id] = [
                Watchlist(
                    _field(item, "WatchlistId", "ListWatchlists"),
                    item.get("Name", ""),
                    bool(item.get("DefaultWatchlist")),
                )
                for page in self._pages(
                    "ListWatchlists", "WatchlistSummaries", DomainId=domain_id, MaxResults=100
                )
                for item in page["WatchlistSummaries"]
            ]
        return self._watchlists[domain_id]

    # -- jobs ---------------------------------------------------------------------------------

    def list_jobs(
        self,
        kind: JobKind,
        domain_id: str,
        status: JobStatus | None = None,
        *,
        keep: Callable[[str | None, str], bool] | None = None,
    ) -> Iterator[ObservedJob]:
        """The jobs of one kind in a domain, page by page (streaming), optionally by status;
        ``keep(JobName, JobStatus)`` says which are read whole (a cold start lists a hundred
        thousand jobs, nine in ten of them ended and another tool's: each is checked, none
        made into an ObservedJob)."""
        operation = _OPERATIONS[kind][0]
        params: dict[str, Any] = {"DomainId": domain_id, "MaxResults": PAGE_SIZE}
        if status:
            params["JobStatus"] = status
        for page in self._pages(operation, "JobSummaries", **params):
            for item in page["JobSummaries"]:
                if keep is None:
                    yield _observed(kind, domain_id, item)
                    continue
                _, job_status = _checked(kind, item)
                name = item.get("JobName")
                if keep(name if isinstance(name, str) else None, job_status):
                    yield _observed(kind, domain_id, item)

    def describe_job(self, kind: JobKind, domain_id: str, job_id: str) -> ObservedJob:
        response = self._call(_OPERATIONS[kind][1], require="Job", DomainId=domain_id, JobId=job_id)
        return _observed(kind, domain_id, response["Job"])

    def start_job(self, kind: JobKind, params: dict[str, Any]) -> ObservedJob:
        """Start a job (``params`` carry our ClientToken and JobName)."""
        response = self._call(_OPERATIONS[kind][2], require="Job", **params)
        return _observed(kind, params["DomainId"], response["Job"])

    def _pages(self, operation: str, items: str, **params: Any) -> Iterator[dict[str, Any]]:
        token: str | None = None
        while True:
            page = self._call(
                operation, require=items, **params, **({"NextToken": token} if token else {})
            )
            yield page
            token = page.get("NextToken")
            if not token:
                return


def _checked(kind: JobKind, item: Any) -> tuple[str, str]:
    """A job's JobId and JobStatus; an answer without them is malformed, and refused."""
    job_id = item.get("JobId") if isinstance(item, dict) else None
    status = item.get("JobStatus") if isinstance(item, dict) else None
    if not isinstance(job_id, str) or not isinstance(status, str) or status not in _STATUSES:
        raise VoiceIdError(
            f"Voice ID answered a {kind} without a JobId or with an unknown JobStatus "
            f"({status!r}); not trusting it",
            code="MalformedAnswer",
        )
    return job_id, status


def _observed(kind: JobKind, domain_id: str, item: dict[str, Any]) -> ObservedJob:
    job_id, status = _checked(kind, item)
    failure = _optional(kind, item, "FailureDetails", dict) or {}
    progress = _optional(kind, item, "JobProgress", dict) or {}
    source = _optional(kind, item, "InputDataConfig", dict) or {}
    output = _optional(kind, item, "OutputDataConfig", dict) or {}
    return ObservedJob(
        kind=kind,
        domain_id=_optional(kind, item, "DomainId", str) or domain_id,
        job_id=job_id,
        job_name=_optional(kind, item, "JobName", str),
        status=JobStatus(status),
        percent_complete=_optional(kind, progress, "PercentComplete", int, "JobProgress."),
        created_at=_iso(item.get("CreatedAt")),
        ended_at=_iso(item.get("EndedAt")),
        failure=Failure(
            status_code=_optional(kind, failure, "StatusCode", int, "FailureDetails."),
            message=_optional(kind, failure, "Message", str, "FailureDetails.") or "",
        )
        if failure
        else None,
        input_s3_uri=_optional(kind, source, "S3Uri", str, "InputDataConfig."),
        output_s3_uri=_optional(kind, output, "S3Uri", str, "OutputDataConfig."),
    )


_JSON_TYPES = {dict: "an object", str: "a string", int: "an integer"}


def _optional(kind: JobKind, item: dict[str, Any], name: str, of: type, where: str = "") -> Any:
    """A field of a job that may be absent (None) and is otherwise of its type: the state
    records what it is told, so a malformed answer is refused here, not written there."""
    value = item.get(name)
    if value is None or (isinstance(value, of) and not isinstance(value, bool)):
        return value
    raise VoiceIdError(
        f"Voice ID answered a {kind} whose {where}{name} is not {_JSON_TYPES[of]} "
        f"({type(value).__name__}); not trusting it",
        code="MalformedAnswer",
    )


def _field(item: Any, name: str, operation: str) -> str:
    """A required string of one item of an answer; a malformed answer is refused."""
    value = item.get(name) if isinstance(item, dict) else None
    if not isinstance(value, str) or not value:
        raise VoiceIdError(
            f"{operation}: Voice ID answered an item without {name} (a malformed answer); "
            "not trusting it",
            code="MalformedAnswer",
        )
    return value


def _iso(value: Any) -> str | None:
    """A time of an answer: a datetime (botocore's), or epoch seconds (a List page)."""
    if isinstance(value, datetime):
        return iso_of(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return iso(value)
        except (OverflowError, OSError, ValueError):
            return None
    return None


def _read_page(
    response_dict: dict[str, Any], customized_response_dict: dict[str, Any], **_: Any
) -> None:
    """botocore's ``before-parse`` hook of the job List operations: a page is JSON, read with
    the standard library and handed over as it is (its times as epoch seconds, which
    :func:`_iso` reads), and botocore is left an empty object to parse. Its parser walks every
    field of every summary against the model; a cold start lists a hundred thousand of them,
    and that walk was a fifth of its CPU. What is used of a page is checked where it is used
    (:meth:`VoiceId._call`, :func:`_observed`); an answer that is not a page (an error,
    unreadable JSON) is left to botocore and its errors."""
    if response_dict.get("status_code") != 200:
        return
    try:
        page = json.loads(response_dict["body"])
    except (ValueError, TypeError):
        return
    if isinstance(page, dict):
        customized_response_dict.update(page)
        response_dict["body"] = b"{}"


def _snake(operation: str) -> str:
    out = []
    for i, char in enumerate(operation):
        if char.isupper() and i:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
