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
can hand in a client pointed at the sandbox.

Every answer is checked against its shape in one place before anything reads it
(:mod:`reconciler.adapters.shapes`): botocore's ``before-parse`` hook (in
:mod:`reconciler.adapters.voiceid_answers`, this adapter's helper) hands the raw body to
:func:`~reconciler.adapters.shapes.read` — bounded in size and depth, strict in types — and
botocore is left ``{}`` to parse (its parser recurses, and its timestamp parser raises
``ValueError``). A malformed answer of any shape is a
:class:`~reconciler.core.errors.RetryableError` (code ``MalformedAnswer``) naming the
operation and the member: retried promptly at most :data:`MALFORMED_ATTEMPTS` times (a
truncated body from a proxy may heal; a malformed answer is no sign of load, so no long
backoff), then refused. An error answer is handed to botocore rewritten to the members it
reads, as short one-line strings: a body too large, too deep, not UTF-8 or not an object
becomes ``{}`` (its code then comes from the ``x-amzn-ErrorType`` header).

A listing is bounded too: a ``NextToken`` seen before in the same listing, or a page whose
items are those of an earlier page, is a pagination cycle (a malformed answer, refused at
once); a page with more items than ``MaxResults`` asked is malformed; a listing stops with an
error after :data:`MAX_PAGES` pages, or :data:`MAX_EMPTY_PAGES` empty ones in a row. A
``deadline`` (``apply --wait --timeout``) bounds the retries: no backoff sleeps past it.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    wait_random,
    wait_random_exponential,
)

from reconciler.adapters import shapes
from reconciler.adapters.voiceid_answers import ANSWER, MALFORMED, observed, one_line, read_answer
from reconciler.core import jobkinds
from reconciler.core.errors import (
    AccessDeniedError,
    ConflictError,
    InvalidRequestError,
    NotFoundError,
    QuotaExceededError,
    RetryableError,
    VoiceIdError,
)
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind, JobStatus

log = structlog.get_logger("reconciler.voiceid")

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
"""Jobs asked for per page: the most Voice ID's List*Jobs allow (fewer calls under 2 TPS)."""
MALFORMED_ATTEMPTS = 3
"""Calls made for an answer that keeps coming back malformed, before it is refused."""
MAX_PAGES = 10_000
"""Pages one listing may take (a million jobs of one kind in one domain at 100 a page)."""
MAX_EMPTY_PAGES = 100
"""Empty pages in a row (each with a NextToken) one listing may take: a page repeated is how
a cycle shows, and an empty page repeats under any token."""


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
        if wait:  # outside the lock: one operation's wait never holds up another's bucket
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
        self.deadline: float | None = None
        """A ``time.monotonic()`` past which no retry waits (``apply --wait --timeout``)."""
        self._counting = threading.Lock()
        for operation in shapes.ANSWERS:  # once per client, however many adapters share it
            client.meta.events.register(
                f"before-parse.voice-id.{operation}", read_answer, unique_id=ANSWER + operation
            )
        backoff = wait_random_exponential(multiplier=0.25, max=max_wait)
        prompt = wait_random(0, 0.1)
        bounded = stop_after_attempt(max_attempts) | stop_after_delay(max_delay)
        self._retrying = Retrying(
            retry=retry_if_exception_type(RetryableError),
            # A malformed answer is no sign of load: asked again at once, not backed off.
            wait=lambda state: (prompt if _malformed(state) else backoff)(state),
            stop=lambda state: bounded(state) or self._stops(state),
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

    def _stops(self, state: RetryCallState) -> bool:
        """A malformed answer is retried only so often, and no retry sleeps past the
        deadline (tenacity computes the sleep before it asks whether to stop)."""
        if _malformed(state) and state.attempt_number >= MALFORMED_ATTEMPTS:
            return True
        return self.deadline is not None and (
            time.monotonic() + (state.upcoming_sleep or 0.0) >= self.deadline
        )

    def _note_date(self, response: dict[str, Any]) -> None:
        headers = (response.get("ResponseMetadata") or {}).get("HTTPHeaders") or {}
        try:
            date = parsedate_to_datetime(headers["date"]).timestamp()
        except (KeyError, TypeError, ValueError, IndexError):
            return  # no usable Date: keep the last one (or the host's clock)
        self._service_date = (date, time.monotonic())

    # -- the call path ------------------------------------------------------------------------

    def _call(self, operation: str, **params: Any) -> shapes.Answer:
        """Call ``operation``; its answer, checked against its shape (a malformed one is
        retried, then refused)."""
        method = getattr(self.client, _snake(operation))

        def attempt(operation: str) -> shapes.Answer:  # named, so that retries log it
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
            except OSError as err:  # a credentials or CA file gone since the run began
                raise VoiceIdError(
                    f"{operation}: {type(err).__name__}: {err.strerror or 'cannot be read'}",
                    code=type(err).__name__,
                ) from err
            answer = response.get(ANSWER)
            if answer is None:  # no hook ran (a client of a test's): botocore's parse, checked
                body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
                try:
                    answer = shapes.check(operation, body)
                except shapes.MalformedAnswer as err:
                    answer = err
            if isinstance(answer, shapes.MalformedAnswer):
                raise RetryableError(str(answer), code=MALFORMED)
            self._note_date(response)
            checked: shapes.Answer = answer
            return checked

        return self._retrying(attempt, operation)

    def _translate(self, operation: str, err: botocore.exceptions.ClientError) -> VoiceIdError:
        error = err.response.get("Error", {})
        code = str(error.get("Code", ""))
        status = int(err.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
        cls = _ERRORS.get(code)
        if cls is None:  # a code we do not know: only then does the status decide (5xx: theirs)
            cls = RetryableError if status >= 500 else VoiceIdError
        # Counted apart from the retries: the run summary and the metrics show an operator
        # throttled by Voice ID (another tool sharing the quota, or a --tps set too high).
        if code == "ThrottlingException":
            with self._counting:
                self.throttles[operation] += 1
        detail = one_line(str(error.get("Message") or "")) or code or "unknown error"
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
            for page in self._pages("ListDomains", MaxResults=10):  # ListDomains' most
                assert isinstance(page, shapes.ListDomainsAnswer)
                for item in page.DomainSummaries:
                    details = item.WatchlistDetails
                    found.append(
                        Domain(
                            item.DomainId,
                            item.Name or "",
                            item.DomainStatus or "",
                            details.DefaultWatchlistId if details else None,
                        )
                    )
            self._domains = found
        return self._domains

    def watchlists(self, domain_id: str) -> list[Watchlist]:
        """Every watchlist of a domain (ListWatchlists, cached for the run)."""
        if domain_id not in self._watchlists:
            found: list[Watchlist] = []
            for page in self._pages("ListWatchlists", DomainId=domain_id, MaxResults=100):
                assert isinstance(page, shapes.ListWatchlistsAnswer)
                found.extend(
                    Watchlist(item.WatchlistId, item.Name or "", bool(item.DefaultWatchlist))
                    for item in page.WatchlistSummaries
                )
            self._watchlists[domain_id] = found
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
        operation = jobkinds.of(kind).list_operation
        params: dict[str, Any] = {"DomainId": domain_id, "MaxResults": PAGE_SIZE}
        if status:
            params["JobStatus"] = status
        for page in self._pages(operation, **params):
            assert isinstance(page, shapes.ListJobsAnswer)
            for item in page.JobSummaries:
                if keep is None or keep(item.JobName, item.JobStatus):
                    yield observed(kind, domain_id, item)

    def describe_job(self, kind: JobKind, domain_id: str, job_id: str) -> ObservedJob:
        answer = self._call(jobkinds.of(kind).describe_operation, DomainId=domain_id, JobId=job_id)
        assert isinstance(answer, shapes.JobAnswer)
        return observed(kind, domain_id, answer.Job)

    def start_job(self, kind: JobKind, params: dict[str, Any]) -> ObservedJob:
        """Start a job (``params`` carry our ClientToken and JobName)."""
        answer = self._call(jobkinds.of(kind).start_operation, **params)
        assert isinstance(answer, shapes.JobAnswer)
        return observed(kind, params["DomainId"], answer.Job)

    def _pages(self, operation: str, **params: Any) -> Iterator[shapes.Answer]:
        """The pages of one listing, each checked (see the module: cycles, sizes, bound)."""
        token: str | None = None
        tokens: set[int] = set()  # hashes: 10,000 tokens of 16 KiB would be 160 MiB
        pages: set[int] = set()
        empty = 0
        for number in itertools.count(1):
            page = self._call(operation, **params, **({"NextToken": token} if token else {}))
            items = _items(page)
            if len(items) > params["MaxResults"]:
                raise _malformed_listing(
                    operation, f"a page of {len(items)} items (MaxResults {params['MaxResults']})"
                )
            # A page is known by its items' ids, not by its token: a service that cycles may
            # hand out a fresh token each time round. Empty pages all look alike, so they are
            # counted in a row instead (MAX_EMPTY_PAGES).
            seen = hash(tuple(_item_id(item) for item in items))
            if items and seen in pages:
                raise _malformed_listing(operation, "a page it had already answered (a cycle)")
            pages.add(seen)
            empty = 0 if items else empty + 1
            yield page  # before the next call: a caller acts on each page as it comes (streaming)
            token = page.NextToken  # type: ignore[union-attr]
            if not token:
                return
            if hash(token) in tokens:
                raise _malformed_listing(
                    operation, "a NextToken that leads back to an earlier page (a cycle)"
                )
            tokens.add(hash(token))
            if empty >= MAX_EMPTY_PAGES:
                raise _malformed_listing(
                    operation, f"{empty} empty pages in a row, each with a NextToken (a cycle)"
                )
            if number >= MAX_PAGES:
                raise VoiceIdError(
                    f"{operation}: the listing has more than {MAX_PAGES:,} pages; stopped there "
                    "(a listing that does not end is taken for a malformed answer)",
                    code=MALFORMED,
                )


def _malformed(state: RetryCallState) -> bool:
    """Whether the attempt that just failed met a malformed answer."""
    error = state.outcome.exception() if state.outcome else None
    return getattr(error, "code", None) == MALFORMED


def _malformed_listing(operation: str, what: str) -> VoiceIdError:
    """A listing that cannot be right: refused at once (asking again walks the same cycle)."""
    return VoiceIdError(
        f"{operation}: Voice ID answered {what}; not trusting it (a malformed answer)",
        code=MALFORMED,
    )


def _items(page: shapes.Answer) -> list[Any]:
    if isinstance(page, shapes.ListDomainsAnswer):
        return list(page.DomainSummaries)
    if isinstance(page, shapes.ListWatchlistsAnswer):
        return list(page.WatchlistSummaries)
    if isinstance(page, shapes.ListJobsAnswer):
        return page.JobSummaries
    raise TypeError(f"not a page: {type(page).__name__}")  # pragma: no cover - a bug of ours


def _item_id(item: Any) -> str:
    if isinstance(item, shapes.DomainSummary):
        return item.DomainId
    if isinstance(item, shapes.WatchlistSummary):
        return item.WatchlistId
    return str(item.JobId)


def _snake(operation: str) -> str:
    out = []
    for i, char in enumerate(operation):
        if char.isupper() and i:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
