"""The Voice ID emulator: one instance per sandbox, holding that sandbox's whole Voice ID state.

``handle`` serves one wire request (operation name and JSON body) and returns the HTTP status
and JSON body to send. In order it: counts the call; sleeps the configured latency; applies the
per-operation token bucket and the random throttling and internal-error rates; decodes the
body (``SerializationException`` if it is not a JSON object); validates it against the model's
input shape (``ValidationException``); runs the operation; serialises the result through the
model's output shape. ``invoke`` runs an operation without the wire concerns (used by seeding).

Behaviour where AWS is silent, chosen here:

* Jobs advance lazily from the clock (see ``state.Job``). Every Voice ID request that reads
  jobs or their results, and every S3/KMS request from outside the sandbox, first runs the work
  of jobs that have reached their end, so an output file is in S3 as soon as the job is over.
* ClientTokens are scoped per domain and operation (per account for CreateDomain) and
  remembered for ``client_token_ttl`` seconds. The same token with the same parameters returns
  the existing resource, even when the quota is full; with different parameters it is a
  ``ConflictException`` with ConflictType ``CONCURRENT_CHANGES``. After expiry the token starts
  a new job.
* List* return newest first. A NextToken is opaque (base64 JSON: the last position, the query
  it belongs to, when it was issued), valid for ``next_token_ttl`` seconds and only for the
  same query; anything else is a ``ValidationException``.
* DeleteWatchlist refuses the default watchlist (``ValidationException``) and one that still
  holds fraudsters (``ConflictException`` ``CANNOT_DELETE_NON_EMPTY_WATCHLIST``).
* CreateDomain and UpdateDomain need an enabled KMS key in the sandbox's KMS
  (``ValidationException`` otherwise). Domains are ACTIVE on creation; the admin knob
  ``set_domain_status`` is the only way to make one PENDING or SUSPENDED. Start*, CreateWatchlist
  and UpdateDomain on a domain that is not ACTIVE raise ``ConflictException``
  ``DOMAIN_NOT_ACTIVE``; reads still work.
* Job configurations are echoed back as they were given (no defaults filled in).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import random
import re
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any, Protocol, TypeVar

from reconciler.sandbox import errors, faults
from reconciler.sandbox.config import SandboxConfig
from reconciler.sandbox.errors import VoiceIdError
from reconciler.sandbox.faults import AnswerFault, Raw
from reconciler.sandbox.jobs import JobContext, execute
from reconciler.sandbox.model import (
    operation_model,
    serialize_output,
    validate_input,
    validation_message,
)
from reconciler.sandbox.state import (
    Counters,
    Domain,
    Job,
    JobKind,
    Speaker,
    TokenRecord,
    Watchlist,
    new_id,
)
from reconciler.sandbox.storage import Storage

log = logging.getLogger(__name__)

DOMAIN_STATUSES = ("ACTIVE", "PENDING", "SUSPENDED")
_DEFAULT_WATCHLIST_NAME = "Default"
_TOKEN_VERSION = 1


class _Sequenced(Protocol):
    seq: int


_T = TypeVar("_T", bound=_Sequenced)


class TokenBuckets:
    """One token bucket per operation, refilled at ``tps`` up to ``burst`` tokens."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}

    def reset(self) -> None:
        """Refill every bucket."""
        with self._lock:
            self._buckets.clear()

    def take(self, operation: str, now: float, tps: float | None, burst: int) -> bool:
        """Take a token for ``operation``; False when the bucket is empty."""
        if tps is None:
            return True
        with self._lock:
            tokens, last = self._buckets.get(operation, (float(burst), now))
            tokens = min(float(burst), tokens + max(0.0, now - last) * tps)
            if tokens < 1.0:
                self._buckets[operation] = (tokens, now)
                return False
            self._buckets[operation] = (tokens - 1.0, now)
            return True


class VoiceIdService:
    """The state and operations of one emulated Voice ID account and region."""

    def __init__(
        self,
        *,
        config: SandboxConfig,
        clock: Callable[[], float],
        account_id: str,
        region: str,
        storage: Callable[[], Storage],
    ) -> None:
        self.account_id = account_id
        self.region = region
        self._clock = clock
        self._clock_offset = 0.0
        self._frozen_at: float | None = None
        self._storage = storage
        self._lock = threading.RLock()
        self._config = config
        self._rng = random.Random(config.seed)
        self._rng_lock = threading.Lock()
        self._s3_faults_left: int | None = None
        self._answer_faults_served: list[int] = []
        self.counters = Counters()
        self._buckets = TokenBuckets()
        self._domains: dict[str, Domain] = {}
        self._tokens: dict[tuple[str, str, str], TokenRecord] = {}
        self._token_generation = 0
        self._seq = 0
        self._pending: set[tuple[str, JobKind, str]] = set()
        self._handlers: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "CreateDomain": self._create_domain,
            "DescribeDomain": self._describe_domain,
            "UpdateDomain": self._update_domain,
            "ListDomains": self._list_domains,
            "CreateWatchlist": self._create_watchlist,
            "DescribeWatchlist": self._describe_watchlist,
            "DeleteWatchlist": self._delete_watchlist,
            "ListWatchlists": self._list_watchlists,
            "DescribeSpeaker": self._describe_speaker,
            "ListSpeakers": self._list_speakers,
            "StartSpeakerEnrollmentJob": lambda p: self._start_job(JobKind.ENROLLMENT, p),
            "StartFraudsterRegistrationJob": lambda p: self._start_job(JobKind.REGISTRATION, p),
            "DescribeSpeakerEnrollmentJob": lambda p: self._describe_job(JobKind.ENROLLMENT, p),
            "DescribeFraudsterRegistrationJob": lambda p: self._describe_job(
                JobKind.REGISTRATION, p
            ),
            "ListSpeakerEnrollmentJobs": lambda p: self._list_jobs(JobKind.ENROLLMENT, p),
            "ListFraudsterRegistrationJobs": lambda p: self._list_jobs(JobKind.REGISTRATION, p),
        }

    # --- knobs -------------------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        """The knobs in force."""
        return self._config

    @property
    def operations(self) -> tuple[str, ...]:
        """The operations this emulator implements."""
        return tuple(sorted(self._handlers))

    def configure(self, **knobs: Any) -> SandboxConfig:
        """Change knobs (see ``SandboxConfig``); returns the new configuration."""
        with self._lock:
            new = self._config.with_knobs(**knobs)
            if "seed" in knobs:
                with self._rng_lock:
                    self._rng = random.Random(new.seed)
            if (new.tps, new.burst) != (self._config.tps, self._config.burst):
                self._buckets.reset()
            if "answer_faults" in knobs:
                with self._rng_lock:
                    self._answer_faults_served = [0] * len(new.answer_faults)
            if "s3_fault_limit" in knobs:
                with self._rng_lock:
                    self._s3_faults_left = new.s3_fault_limit or None
            self._config = new
            return new

    def now(self) -> float:
        """The service clock: the injected (or frozen) clock plus the ``advance_clock`` offset."""
        base = self._frozen_at if self._frozen_at is not None else self._clock()
        return base + self._clock_offset

    def freeze_clock(self, frozen: bool = True) -> float:
        """Stop (or restart) the clock: time then moves only by ``advance_clock``."""
        with self._lock:
            if frozen and self._frozen_at is None:
                self._frozen_at = self._clock()
            elif not frozen and self._frozen_at is not None:
                self._clock_offset += self._frozen_at - self._clock()
                self._frozen_at = None
        return self.now()

    def advance_clock(self, seconds: float) -> float:
        """Move the service clock forward by ``seconds``; returns the new time."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._clock_offset += seconds
        return self.now()

    def expire_client_tokens(self) -> int:
        """Forget every ClientToken now; returns how many there were."""
        with self._lock:
            count = len(self._tokens)
            self._tokens.clear()
            return count

    def expire_next_tokens(self) -> None:
        """Make every NextToken issued so far invalid."""
        with self._lock:
            self._token_generation += 1

    def set_domain_status(self, domain_id: str, status: str) -> dict[str, Any]:
        """Force a domain's DomainStatus (ACTIVE, PENDING or SUSPENDED)."""
        if status not in DOMAIN_STATUSES:
            raise ValueError(f"DomainStatus must be one of {DOMAIN_STATUSES}, got {status!r}")
        with self._lock:
            domain = self._domains.get(domain_id)
            if domain is None:
                raise KeyError(domain_id)
            domain.status = status
            domain.updated_at = self.now()
            return domain.to_wire()

    def reset(self, config: SandboxConfig) -> None:
        """Forget all Voice ID state, counts and clock offset; install ``config``."""
        with self._lock:
            self._domains.clear()
            self._tokens.clear()
            self._pending.clear()
            self._token_generation += 1
            self._clock_offset = 0.0
            self._frozen_at = None
            self._config = config
            with self._rng_lock:
                self._rng = random.Random(config.seed)
                self._s3_faults_left = config.s3_fault_limit or None
                self._answer_faults_served = [0] * len(config.answer_faults)
            self._buckets.reset()
            self.counters.reset()

    def output_uri(self, job_id: str) -> str | None:
        """Where a finished job wrote its output file (None if it has not, or failed)."""
        with self._lock:
            for domain in self._domains.values():
                for jobs in domain.jobs.values():
                    if job_id in jobs:
                        return jobs[job_id].output_uri
        return None

    # --- the wire ----------------------------------------------------------------------------

    def handle(self, operation: str, body: bytes) -> tuple[int, dict[str, Any] | Raw]:
        """Serve one Voice ID request; returns ``(HTTP status, JSON body)`` (a body an answer
        fault wrote as raw text: ``Raw``)."""
        self.counters.received(operation)
        config = self._config
        if config.latency:
            time.sleep(config.latency)
        try:
            self._admit(operation, config)
            params = self._decode(body)
            if isinstance(params, dict):
                self.counters.voiceid_request(operation, params)
            result = self.invoke(operation, faults.request_of(params), validate=True)
        except VoiceIdError as err:
            self.counters.finished(operation, err.code)
            return err.status, err.to_wire()
        except Exception:
            log.exception("sandbox.voiceid.internal_error", extra={"operation": operation})
            failure = errors.internal()
            self.counters.finished(operation, failure.code)
            return failure.status, failure.to_wire()
        if operation in config.malformed_operations:
            # Handled (a Start did start), but the answer lacks every field the model requires.
            self.counters.finished(operation, "MalformedAnswer")
            return 200, {}
        fault = self._answer_fault(operation, config)
        if fault is not None:  # handled as usual; the answer goes out mutated
            self.counters.finished(operation, "AnswerFault")
            return 200, fault.apply(result, params)
        self.counters.finished(operation, "OK")
        return 200, result

    def _answer_fault(self, operation: str, config: SandboxConfig) -> AnswerFault | None:
        """The first answer fault of ``operation`` with answers left to mutate (counted)."""
        with self._rng_lock:
            served = self._answer_faults_served
            for index, fault in enumerate(config.answer_faults):
                if fault.operation != operation or index >= len(served):
                    continue
                if fault.times and served[index] >= fault.times:
                    continue
                served[index] += 1
                return fault
        return None

    def invoke(
        self, operation: str, params: dict[str, Any], *, validate: bool = True
    ) -> dict[str, Any]:
        """Run ``operation`` with ``params``; returns the serialised output JSON object."""
        model = operation_model(operation)
        if model is None:
            raise VoiceIdError("UnknownOperationException", f"Unknown operation {operation}")
        handler = self._handlers.get(operation)
        if handler is None:
            raise VoiceIdError(
                "UnknownOperationException", f"The sandbox does not emulate {operation}"
            )
        if validate:
            problems = validate_input(model, params)
            if problems:
                raise errors.validation(validation_message(problems))
        return serialize_output(model, handler(params))

    def chance(self, rate: float) -> bool:
        """True with probability ``rate``, from the seeded generator behind the fault knobs."""
        if rate <= 0.0:
            return False
        with self._rng_lock:
            return self._rng.random() < rate

    def s3_fault(self, rate: float, method: str, path: str) -> bool:
        """Whether to inject an S3 fault of probability ``rate`` into this request: the
        request must match ``s3_fault_filter`` and ``s3_fault_limit`` must not be used up."""
        config = self._config
        if rate <= 0.0:
            return False
        if config.s3_fault_filter and not re.search(config.s3_fault_filter, f"{method} {path}"):
            return False
        with self._rng_lock:
            if self._s3_faults_left == 0 or self._rng.random() >= rate:
                return False
            if self._s3_faults_left is not None:
                self._s3_faults_left -= 1
            return True

    def _admit(self, operation: str, config: SandboxConfig) -> None:
        if not self._buckets.take(operation, self.now(), config.tps, config.burst):
            raise errors.throttled()
        if config.throttle_error_rate or config.internal_error_rate:
            with self._rng_lock:
                throttle_roll = self._rng.random()
                error_roll = self._rng.random()
            if throttle_roll < config.throttle_error_rate:
                raise errors.throttled()
            if error_roll < config.internal_error_rate:
                raise errors.internal()

    @staticmethod
    def _decode(body: bytes) -> dict[str, Any]:
        if not body.strip():
            return {}
        try:
            params = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise VoiceIdError("SerializationException", "The request body is not JSON") from err
        if not isinstance(params, dict):
            raise VoiceIdError("SerializationException", "The request body must be a JSON object")
        return params

    # --- jobs advance ------------------------------------------------------------------------

    def advance(self) -> int:
        """Run the work of every job that has reached its end; returns how many ran."""
        with self._lock:
            now = self.now()
            due = [
                key
                for key in self._pending
                if self._domains[key[0]].jobs[key[1]][key[2]].is_due(now)
            ]
            for domain_id, kind, job_id in sorted(
                due, key=lambda key: self._domains[key[0]].jobs[key[1]][key[2]].seq
            ):
                self._finish(self._domains[domain_id], self._domains[domain_id].jobs[kind][job_id])
            return len(due)

    def _finish(self, domain: Domain, job: Job) -> None:
        if job.outcome is not None:  # a world's job: it ends as the world said, doing nothing
            job.final_status = job.outcome
            job.failure = job.outcome_failure
            self._pending.discard((domain.domain_id, job.kind, job.job_id))
            return
        ctx = JobContext(
            domain=domain,
            storage=self._storage(),
            config=self._config,
            now=job.ends_at,
            next_seq=self._next_seq,
            new_id=new_id,
            log_access=self.counters.role_access,
        )
        try:
            execute(job, ctx)
        except Exception:
            log.exception("sandbox.job.internal_error")
            job.final_status = "FAILED"
            job.failure = {"StatusCode": 500, "Message": "An internal error occurred"}
        self._pending.discard((domain.domain_id, job.kind, job.job_id))

    # --- helpers -----------------------------------------------------------------------------

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def _domain(self, domain_id: str) -> Domain:
        domain = self._domains.get(domain_id)
        if domain is None:
            raise errors.not_found("DOMAIN", f"The domain {domain_id} does not exist")
        return domain

    @staticmethod
    def _require_active(domain: Domain) -> None:
        if domain.status != "ACTIVE":
            raise errors.conflict(
                "DOMAIN_NOT_ACTIVE",
                f"The domain {domain.domain_id} is not active (status {domain.status})",
            )

    def _replay(
        self, scope: str, operation: str, params: dict[str, Any]
    ) -> tuple[tuple[str, str, str] | None, str, TokenRecord | None]:
        """Look up the request's ClientToken: ``(key, fingerprint, live record or None)``."""
        payload = {k: v for k, v in params.items() if k != "ClientToken"}
        fingerprint = hashlib.sha256(
            json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
        ).hexdigest()
        token = params.get("ClientToken")
        if not token:
            return None, fingerprint, None
        key = (scope, operation, str(token))
        record = self._tokens.get(key)
        if record is not None and self.now() - record.issued_at >= self._config.client_token_ttl:
            del self._tokens[key]
            record = None
        if record is not None and record.fingerprint != fingerprint:
            raise errors.conflict(
                "CONCURRENT_CHANGES",
                "The ClientToken was already used with different parameters",
            )
        return key, fingerprint, record

    def _remember(
        self, key: tuple[str, str, str] | None, fingerprint: str, resource_id: str
    ) -> None:
        if key is not None:
            self._tokens[key] = TokenRecord(resource_id, fingerprint, self.now())

    def _kms_key_usable(self, key_id: str) -> bool:
        return self._storage().kms_key_usable(key_id)

    def _paginate(
        self, operation: str, query: Sequence[str], items: list[_T], params: dict[str, Any]
    ) -> tuple[list[_T], str | None]:
        items = sorted(items, key=lambda item: item.seq, reverse=True)
        model = operation_model(operation)
        assert model is not None
        assert model.input_shape is not None
        limit = model.input_shape.members["MaxResults"].metadata.get("max", 100)
        size = params.get("MaxResults") or min(self._config.default_page_size, limit)
        query_hash = hashlib.sha256("\x1f".join([operation, *query]).encode()).hexdigest()[:16]
        token = params.get("NextToken")
        if token:
            after = self._decode_next_token(token, query_hash)
            items = [item for item in items if item.seq < after]
        page = items[:size]
        next_token = None
        if len(items) > size:
            next_token = self._encode_next_token(query_hash, page[-1].seq)
        return page, next_token

    def _encode_next_token(self, query_hash: str, last_seq: int) -> str:
        data = {
            "v": _TOKEN_VERSION,
            "q": query_hash,
            "s": last_seq,
            "t": self.now(),
            "g": self._token_generation,
        }
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode()

    def _decode_next_token(self, token: str, query_hash: str) -> int:
        try:
            data = json.loads(base64.urlsafe_b64decode(token.encode()))
            if not isinstance(data, dict) or data.get("v") != _TOKEN_VERSION:
                raise ValueError(token)
            last_seq, issued, generation = int(data["s"]), float(data["t"]), data["g"]
            matches = data["q"] == query_hash
        except (ValueError, KeyError, TypeError, binascii.Error) as err:
            raise errors.validation("The NextToken is not valid") from err
        if not matches:
            raise errors.validation("The NextToken does not belong to this request")
        if generation != self._token_generation or (
            self.now() - issued >= self._config.next_token_ttl
        ):
            raise errors.validation("The NextToken has expired")
        return last_seq

    # --- domains and watchlists --------------------------------------------------------------

    def _create_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        kms_key_id = params["ServerSideEncryptionConfiguration"]["KmsKeyId"]
        with self._lock:
            key, fingerprint, record = self._replay(self.account_id, "CreateDomain", params)
            if record is not None and record.resource_id in self._domains:
                return {"Domain": self._domains[record.resource_id].to_wire()}
            if len(self._domains) >= self._config.max_domains:
                raise errors.quota(
                    f"The account has reached its quota of {self._config.max_domains} domains"
                )
            if not self._kms_key_usable(kms_key_id):
                raise errors.validation("The KMS key does not exist or is not enabled")
            now = self.now()
            domain_id = new_id()
            watchlist = Watchlist(
                watchlist_id=new_id(),
                domain_id=domain_id,
                name=_DEFAULT_WATCHLIST_NAME,
                description=None,
                default=True,
                created_at=now,
                seq=self._next_seq(),
            )
            domain = Domain(
                domain_id=domain_id,
                arn=f"arn:aws:voiceid:{self.region}:{self.account_id}:domain/{domain_id}",
                name=params["Name"],
                description=params.get("Description"),
                kms_key_id=kms_key_id,
                created_at=now,
                updated_at=now,
                seq=self._next_seq(),
                default_watchlist_id=watchlist.watchlist_id,
                tags=list(params.get("Tags") or []),
            )
            domain.watchlists[watchlist.watchlist_id] = watchlist
            self._domains[domain_id] = domain
            self._remember(key, fingerprint, domain_id)
            return {"Domain": domain.to_wire()}

    def _describe_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return {"Domain": self._domain(params["DomainId"]).to_wire()}

    def _update_domain(self, params: dict[str, Any]) -> dict[str, Any]:
        kms_key_id = params["ServerSideEncryptionConfiguration"]["KmsKeyId"]
        with self._lock:
            domain = self._domain(params["DomainId"])
            self._require_active(domain)
            if kms_key_id != domain.kms_key_id:
                if not self._kms_key_usable(kms_key_id):
                    raise errors.validation("The KMS key does not exist or is not enabled")
                domain.sse_update = {"OldKmsKeyId": domain.kms_key_id, "UpdateStatus": "COMPLETED"}
                domain.kms_key_id = kms_key_id
            domain.name = params["Name"]
            domain.description = params.get("Description")
            domain.updated_at = self.now()
            return {"Domain": domain.to_wire()}

    def _list_domains(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            page, token = self._paginate("ListDomains", (), list(self._domains.values()), params)
            return {"DomainSummaries": [d.to_wire() for d in page], "NextToken": token}

    def _create_watchlist(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainId"])
            self._require_active(domain)
            key, fingerprint, record = self._replay(domain.domain_id, "CreateWatchlist", params)
            if record is not None and record.resource_id in domain.watchlists:
                return {"Watchlist": domain.watchlists[record.resource_id].to_wire()}
            if len(domain.watchlists) >= self._config.max_watchlists_per_domain:
                raise errors.quota(
                    "The domain has reached its quota of "
                    f"{self._config.max_watchlists_per_domain} watchlists"
                )
            watchlist = Watchlist(
                watchlist_id=new_id(),
                domain_id=domain.domain_id,
                name=params["Name"],
                description=params.get("Description"),
                default=False,
                created_at=self.now(),
                seq=self._next_seq(),
            )
            domain.watchlists[watchlist.watchlist_id] = watchlist
            self._remember(key, fingerprint, watchlist.watchlist_id)
            return {"Watchlist": watchlist.to_wire()}

    def _describe_watchlist(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainId"])
            watchlist = domain.watchlists.get(params["WatchlistId"])
            if watchlist is None:
                raise errors.not_found(
                    "WATCHLIST", f"The watchlist {params['WatchlistId']} does not exist"
                )
            return {"Watchlist": watchlist.to_wire()}

    def _delete_watchlist(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainId"])
            self._require_active(domain)
            watchlist = domain.watchlists.get(params["WatchlistId"])
            if watchlist is None:
                raise errors.not_found(
                    "WATCHLIST", f"The watchlist {params['WatchlistId']} does not exist"
                )
            if watchlist.default:
                raise errors.validation("The default watchlist of a domain cannot be deleted")
            if any(watchlist.watchlist_id in f.watchlist_ids for f in domain.fraudsters.values()):
                raise errors.conflict(
                    "CANNOT_DELETE_NON_EMPTY_WATCHLIST", "The watchlist still holds fraudsters"
                )
            del domain.watchlists[watchlist.watchlist_id]
            return {}

    def _list_watchlists(self, params: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            domain = self._domain(params["DomainId"])
            page, token = self._paginate(
                "ListWatchlists", (domain.domain_id,), list(domain.watchlists.values()), params
            )
            return {"WatchlistSummaries": [w.to_wire() for w in page], "NextToken": token}

    # --- speakers ----------------------------------------------------------------------------

    def _describe_speaker(self, params: dict[str, Any]) -> dict[str, Any]:
        self.advance()
        with self._lock:
            domain = self._domain(params["DomainId"])
            speaker_id: str = params["SpeakerId"]
            speaker: Speaker | None
            if speaker_id.startswith("id#"):
                speaker = domain.speakers.get(speaker_id)
            else:
                generated = domain.speakers_by_customer_id.get(speaker_id)
                speaker = domain.speakers.get(generated) if generated else None
            if speaker is None:
                raise errors.not_found("SPEAKER", "The speaker does not exist")
            return {"Speaker": speaker.to_wire()}

    def _list_speakers(self, params: dict[str, Any]) -> dict[str, Any]:
        self.advance()
        with self._lock:
            domain = self._domain(params["DomainId"])
            page, token = self._paginate(
                "ListSpeakers", (domain.domain_id,), list(domain.speakers.values()), params
            )
            return {"SpeakerSummaries": [s.to_wire() for s in page], "NextToken": token}

    # --- batch jobs --------------------------------------------------------------------------

    def _start_job(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        operation = f"Start{kind.value}Job"
        self.advance()
        with self._lock:
            domain = self._domain(params["DomainId"])
            self._require_active(domain)
            if params["DataAccessRoleArn"] in self._config.refused_role_arns:
                raise errors.access_denied(
                    "Voice ID cannot assume the data access role or the caller may not pass it"
                )
            key, fingerprint, record = self._replay(domain.domain_id, operation, params)
            now = self.now()
            if record is not None and record.resource_id in domain.jobs[kind]:
                return {"Job": domain.jobs[kind][record.resource_id].to_wire(now)}
            self._check_watchlists(kind, domain, params)
            active = sum(1 for job in domain.jobs[kind].values() if job.is_active())
            if active >= self._config.max_active_jobs:
                noun = (
                    "speaker enrollment"
                    if kind is JobKind.ENROLLMENT
                    else ("fraudster registration")
                )
                raise errors.quota(
                    f"The domain already has {active} active {noun} job(s); the quota is "
                    f"{self._config.max_active_jobs}"
                )
            request = {k: v for k, v in params.items() if k != "ClientToken"}
            job = Job(
                kind=kind,
                job_id=new_id(),
                domain_id=domain.domain_id,
                seq=self._next_seq(),
                created_at=now,
                duration=self._config.job_duration,
                request=request,
            )
            domain.jobs[kind][job.job_id] = job
            self._pending.add((domain.domain_id, kind, job.job_id))
            self._remember(key, fingerprint, job.job_id)
            return {"Job": job.to_wire(now, submitted=True)}

    def seed_job(  # noqa: PLR0913 - a job's whole record, all keyword
        self,
        domain_id: str,
        kind: JobKind,
        request: dict[str, Any],
        *,
        created_at: float,
        ended_at: float,
        final_status: str | None,
        failure: dict[str, Any] | None = None,
        outcome: str | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Put a job that exists already into a domain, as a world asks (no Start, no token):
        ended with ``final_status`` (and ``failure``), or running until ``ended_at`` and then
        ending as ``outcome`` without doing any work. Idempotent by JobName: a job of that
        kind and name in the domain is left as it is. Returns the job's summary and whether it
        was added; a running job beyond the active-jobs quota is a ServiceQuotaExceeded."""
        with self._lock:
            domain = self._domain(domain_id)
            name = request.get("JobName")
            now = self.now()
            for existing in domain.jobs[kind].values():
                if name is not None and existing.request.get("JobName") == name:
                    return existing.summary(now), False
            if final_status is None:
                active = sum(1 for job in domain.jobs[kind].values() if job.is_active())
                if active >= self._config.max_active_jobs:
                    raise errors.quota(
                        f"the domain would run {active + 1} {kind.value} jobs at once; the "
                        f"quota (knob max_active_jobs) is {self._config.max_active_jobs}"
                    )
            job = Job(
                kind=kind,
                job_id=new_id(),
                domain_id=domain.domain_id,
                seq=self._next_seq(),
                created_at=created_at,
                duration=max(0.0, ended_at - created_at),
                request=dict(request),
                final_status=final_status,
                failure=failure if final_status is not None else None,
                outcome=outcome if final_status is None else None,
                outcome_failure=failure if final_status is None else None,
            )
            domain.jobs[kind][job.job_id] = job
            if final_status is None:
                self._pending.add((domain.domain_id, kind, job.job_id))
            return job.summary(now), True

    @staticmethod
    def _check_watchlists(kind: JobKind, domain: Domain, params: dict[str, Any]) -> None:
        config = params.get(kind.config_member) or {}
        if kind is JobKind.ENROLLMENT:
            config = config.get("FraudDetectionConfig") or {}
        for watchlist_id in config.get("WatchlistIds") or []:
            if watchlist_id not in domain.watchlists:
                raise errors.not_found("WATCHLIST", f"The watchlist {watchlist_id} does not exist")

    def _describe_job(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        self.advance()
        with self._lock:
            domain = self._domain(params["DomainId"])
            job = domain.jobs[kind].get(params["JobId"])
            if job is None:
                raise errors.not_found("BATCH_JOB", f"The job {params['JobId']} does not exist")
            return {"Job": job.to_wire(self.now())}

    def _list_jobs(self, kind: JobKind, params: dict[str, Any]) -> dict[str, Any]:
        self.advance()
        with self._lock:
            domain = self._domain(params["DomainId"])
            now = self.now()
            status = params.get("JobStatus")
            visible = [
                job
                for job in domain.jobs[kind].values()
                if now - job.created_at >= self._config.list_lag
                and (status is None or job.progress(now)[0] == status)
            ]
            page, token = self._paginate(
                f"List{kind.value}Jobs", (domain.domain_id, status or ""), visible, params
            )
            return {"JobSummaries": [job.summary(now) for job in page], "NextToken": token}
