"""The time a state store's lock reads and waits by: the host's clock, or one a test drives.

A lock waits for another run (``lock_timeout``: a monotonic deadline and short sleeps), stamps
its lock object with the wall time, and renews it from a heartbeat thread that waits
``ttl / 3`` between beats unless the run ends first. Every one of those reads and waits goes
through one :class:`LockClock`, so a test can run a long-held lock in no wall time: it moves
the clock, and the heartbeat beats.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol


class LockClock(Protocol):
    """Where a store's lock reads the time and waits."""

    def time(self) -> float:
        """Seconds since the epoch (wall time: the lock object's timestamps)."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary start that never go back (``lock_timeout``)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` (between attempts to take a lock held by another run)."""
        ...

    def event(self) -> threading.Event:
        """A new event that :meth:`wait` wakes on as soon as it is set."""
        ...

    def wait(self, event: threading.Event, seconds: float) -> bool:
        """Wait up to ``seconds`` for ``event`` (made by :meth:`event`); whether it is set."""
        ...


class HostClock:
    """The host's own clock: what every store uses unless a test gives it another."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    # The heartbeat waits on an event, not in a sleep: the run's end sets it and the thread ends
    # at once, where the release, which joins it before deleting the lock, would wait up to
    # ttl/3 on a sleep; a test's clock sets it when it moves the time.
    def event(self) -> threading.Event:
        return threading.Event()

    def wait(self, event: threading.Event, seconds: float) -> bool:
        return event.wait(seconds)


# One for every store: it holds nothing, so sharing it costs nothing.
HOST_CLOCK = HostClock()
