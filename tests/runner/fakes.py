"""In-memory fakes of what a run needs from the world: a clock, Voice ID, S3 objects, a store.

They satisfy the protocols of :mod:`reconciler.runner.ports` (the ``StateStore`` port
included), so the runner's policy can be tested in
milliseconds without a network, a server or a wall clock.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from reconciler.core.errors import NotFoundError, QuotaExceededError
from reconciler.core.jobs import ObservedJob
from reconciler.core.journal import JournalChange
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import State
from reconciler.core.statefile import parse_state
from reconciler.core.statepatch import StatePatch
from reconciler.core.times import iso
from reconciler.runner.ports import Keep

START = 1_800_000_000.0
DOMAIN_ID = "D" * 22
DOMAIN_NAME = "contact-center"


class FakeClock:
    """Time that moves only when the run sleeps (or the test says so)."""

    def __init__(self) -> None:
        self.now = START
        self.sleeps: list[float] = []

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now - START

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass(frozen=True)
class FakeDomain:
    domain_id: str
    name: str
    status: str = "ACTIVE"
    default_watchlist_id: str | None = "W" * 22


@dataclass
class _Job:
    kind: JobKind
    domain_id: str
    job_id: str
    job_name: str
    token: str
    created: float


@dataclass
class FakeVoiceId:
    """Voice ID in memory: jobs run for ``duration`` seconds of ``clock``; List hides jobs
    younger than ``list_lag`` seconds; at most ``max_active`` jobs per (domain, kind)."""

    clock: FakeClock
    duration: float = 60.0
    list_lag: float = 0.0
    max_active: int = 1
    refuse_quota: int = 0
    """Refuse this many Start calls with ServiceQuotaExceeded (a job we cannot see)."""
    calls: Counter[str] = field(default_factory=Counter)
    throttles: Counter[str] = field(default_factory=Counter)
    jobs: list[_Job] = field(default_factory=list)
    failing: set[str] = field(default_factory=set)
    """Spec names whose jobs end FAILED."""
    token_lifetime: float | None = None
    """Seconds a ClientToken is remembered after its job was made (None: for ever)."""

    service_offset: float | None = None
    """Voice ID's clock minus the run's (None: no Date on the answers, the host's clock)."""

    def service_time(self) -> float | None:
        return None if self.service_offset is None else self.clock.time() + self.service_offset

    def domains(self) -> list[FakeDomain]:
        self.calls["ListDomains"] += 1
        return [FakeDomain(DOMAIN_ID, DOMAIN_NAME)]

    def watchlists(self, domain_id: str) -> list[Any]:
        self.calls["ListWatchlists"] += 1
        return []

    def _status(self, job: _Job) -> JobStatus:
        if self.clock.time() - job.created >= self.duration:
            if any(job.job_name.startswith(f"{name}-") for name in self.failing):
                return JobStatus.FAILED
            return JobStatus.COMPLETED
        return JobStatus.IN_PROGRESS

    def _observed(self, job: _Job) -> ObservedJob:
        status = self._status(job)
        return ObservedJob(
            kind=job.kind,
            domain_id=job.domain_id,
            job_id=job.job_id,
            job_name=job.job_name,
            status=status,
            created_at=iso(job.created),
            ended_at=None if status == JobStatus.IN_PROGRESS else iso(job.created + self.duration),
        )

    def list_jobs(
        self,
        kind: JobKind,
        domain_id: str,
        status: JobStatus | None = None,
        *,
        keep: Keep | None = None,
    ) -> Iterator[ObservedJob]:
        self.calls[f"List/{kind}/{status or 'all'}"] += 1
        for job in list(self.jobs):
            visible = self.clock.time() - job.created >= self.list_lag
            if job.kind == kind and job.domain_id == domain_id and visible:
                seen = self._observed(job)
                if status is not None and seen.status != status:
                    continue
                if keep is None or keep(seen.job_name, seen.status):
                    yield seen

    def describe_job(self, kind: JobKind, domain_id: str, job_id: str) -> ObservedJob:
        self.calls["Describe"] += 1
        for job in self.jobs:
            if job.job_id == job_id:
                return self._observed(job)
        raise NotFoundError(f"Describe: the job {job_id} does not exist", code="NotFound")

    def start_job(self, kind: JobKind, params: dict[str, Any]) -> ObservedJob:
        self.calls["Start"] += 1
        for job in self.jobs:
            remembered = (
                self.token_lifetime is None or self.clock.time() - job.created < self.token_lifetime
            )
            if job.token == params["ClientToken"] and remembered:
                return self._observed(job)
        if self.refuse_quota:
            self.refuse_quota -= 1
            raise QuotaExceededError("Start: ServiceQuotaExceededException", code="quota")
        active = [
            j
            for j in self.jobs
            if j.kind == kind
            and j.domain_id == params["DomainId"]
            and self._status(j) not in (JobStatus.COMPLETED, JobStatus.FAILED)
        ]
        if len(active) >= self.max_active:
            raise QuotaExceededError("Start: ServiceQuotaExceededException", code="quota")
        job = _Job(
            kind,
            params["DomainId"],
            f"job{len(self.jobs):019d}",
            params["JobName"],
            params["ClientToken"],
            self.clock.time(),
        )
        self.jobs.append(job)
        return self._observed(job)

    def starts(self) -> int:
        return self.calls["Start"]

    def jobs_per_name(self) -> Counter[str]:
        """Jobs made per JobName (one hash and attempt): every count must be 1."""
        return Counter(job.job_name for job in self.jobs)


class FakeObjects:
    """S3 in memory: every manifest exists with one ETag; output files are empty."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()

    def identities(self, uris: Any) -> dict[str, str | None]:
        self.calls["identities"] += 1
        return dict.fromkeys(uris, "etag-1")

    def stage(self, uri: str, body: bytes, *, kms_key_id: str | None) -> bool:
        self.calls["stage"] += 1
        return True

    def read_output(self, output_prefix: str, job_id: str, input_uri: str) -> dict[str, Any]:
        self.calls["read_output"] += 1
        return {"SuccessfulEnrollments": [{"EnrollmentStatus": "NEW_ENROLLMENT"}]}


class MemoryStore:
    """The state as a string in memory (written as the local store writes it)."""

    def __init__(self, text: str | None = None, *, lost: bool = False) -> None:
        self.text = text
        self.writes = 0
        self.holding = False
        self.lost = lost
        """A state was here and was lost (a store would see its high-water mark)."""

    @contextlib.contextmanager
    def locked(self) -> Iterator[MemoryStore]:
        assert not self.holding, "the lock is not reentrant"
        self.holding = True
        try:
            yield self
        finally:
            self.holding = False

    def read(self) -> State:
        if self.text is not None:
            return parse_state(self.text, "memory")
        state = State()
        if self.lost:
            state = StatePatch(distrust="it replaces a lost state").applied_to(state)
        return state

    def write(self, state: State) -> None:
        state.serial += 1
        self.writes += 1
        self.text = state.to_json()

    def journal(self, state: State, changes: Sequence[JournalChange]) -> None:
        """Durable at once, as a journal is: the state as it now is (without a new serial)."""
        del changes
        self.text = state.to_json()

    def read_cache(self) -> bytes | None:
        return None

    def write_cache(self, data: bytes) -> None:
        del data

    def unlock(self) -> str:
        return "memory: nothing to unlock"
