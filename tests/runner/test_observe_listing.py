"""Cold-start listing: the two job kinds are listed at once (each List API has its own quota),
one domain after another within a kind; an error in either stops both."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.core.errors import AccessDeniedError
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.runner.observe import _list_full_by_kind
from reconciler.runner.ports import Keep

ENROLLMENT, REGISTRATION = JobKind.ENROLLMENT, JobKind.REGISTRATION
HASH = "b" * 32


class Lister:
    """list_jobs only: each kind's first page waits until the other kind is listing too (a
    barrier): listings made one after the other never meet, and the barrier breaks."""

    def __init__(self, pages: int = 50, fail: JobKind | None = None) -> None:
        self.barrier = threading.Barrier(2, timeout=5)
        self.pages = pages
        self.fail = fail
        self.listed: dict[tuple[JobKind, str], int] = {}
        self.threads: set[str] = set()

    def list_jobs(
        self,
        kind: JobKind,
        domain_id: str,
        status: JobStatus | None = None,
        *,
        keep: Keep | None = None,
    ) -> Iterator[ObservedJob]:
        del status
        self.threads.add(threading.current_thread().name)
        if domain_id == "D1":
            self.barrier.wait()
        for i in range(self.pages):
            if kind is self.fail and i == 3:
                raise AccessDeniedError("ListFraudsterRegistrationJobs: AccessDenied")
            self.listed[(kind, domain_id)] = i + 1
            name = f"spec-{i}-{HASH}"
            if keep is None or keep(name, JobStatus.COMPLETED):
                yield ObservedJob(
                    kind=kind,
                    domain_id=domain_id,
                    job_id=f"{kind.value[:4]}{domain_id}{i:012d}",
                    job_name=name,
                    status=JobStatus.COMPLETED,
                )

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"only list_jobs is called, not {name}")


SLOTS = [("D1", ENROLLMENT), ("D1", REGISTRATION), ("D2", ENROLLMENT), ("D2", REGISTRATION)]


def test_the_two_kinds_are_listed_at_once_and_taken_in_slot_order() -> None:
    lister = Lister()
    listed = _list_full_by_kind(lister, SLOTS)  # type: ignore[arg-type]
    assert len(lister.threads) == 2  # the barrier was passed: the kinds met
    assert set(listed) == set(SLOTS)
    for slot in SLOTS:
        assert len(listed[slot]) == lister.pages


def test_one_kind_alone_is_listed_without_a_second_thread() -> None:
    lister = Lister()
    lister.barrier = threading.Barrier(1)
    only = [s for s in SLOTS if s[1] is ENROLLMENT]
    listed = _list_full_by_kind(lister, only)  # type: ignore[arg-type]
    assert set(listed) == set(only)
    assert len(lister.threads) == 1


@pytest.mark.parametrize("failing", [ENROLLMENT, REGISTRATION])
def test_an_error_in_either_kind_is_raised_and_stops_the_other(failing: JobKind) -> None:
    lister = Lister(pages=100_000, fail=failing)
    with pytest.raises(AccessDeniedError):
        _list_full_by_kind(lister, SLOTS)  # type: ignore[arg-type]
    other = REGISTRATION if failing is ENROLLMENT else ENROLLMENT
    assert lister.listed.get((other, "D1"), 0) < lister.pages  # stopped, not listed to the end
    assert (other, "D2") not in lister.listed


def test_an_interrupt_while_waiting_for_the_other_kind_stops_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """SIGTERM (the CLI turns it into a KeyboardInterrupt in the main thread) while the main
    thread waits for the other kind's listing: that listing stops at its next page, the run
    does not wait for it. (A signal of the test's own: a pytest-xdist worker ignores SIGINT.)"""

    interrupted = threading.Event()

    def interrupt(signum: int, frame: object) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGUSR1, interrupt)
    lister = Lister(pages=20_000)
    lister.barrier = threading.Barrier(1)
    real = lister.list_jobs
    enrolled = threading.Event()  # the main thread has listed its own kind: it waits now

    def list_jobs(
        kind: JobKind, domain_id: str, status: JobStatus | None = None, *, keep: Keep | None = None
    ) -> Iterator[ObservedJob]:
        for i, job in enumerate(real(kind, domain_id, status, keep=keep)):
            if kind is REGISTRATION:
                if i == 50:  # a real signal: it wakes the main thread's wait
                    assert enrolled.wait(timeout=30)
                    os.kill(os.getpid(), signal.SIGUSR1)
                if i > 50:  # never done before the interrupt: the next pages wait for it
                    assert interrupted.wait(timeout=30)
            yield job
            if kind is ENROLLMENT and i == 5:
                if domain_id == "D2":
                    enrolled.set()
                return

    monkeypatch.setattr(lister, "list_jobs", list_jobs)
    try:
        with pytest.raises(KeyboardInterrupt):
            _list_full_by_kind(lister, SLOTS)  # type: ignore[arg-type]
    finally:
        signal.signal(signal.SIGUSR1, previous)
    assert lister.listed[(REGISTRATION, "D1")] < 10_000
