"""Time as the state writes it: ISO-8601 UTC to the second (``2026-12-01T09:42:10Z``).

The core never reads a clock: callers pass ``now`` (seconds since the epoch) in.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def iso(epoch: float) -> str:
    """``epoch`` (seconds) as the state writes a time (``time.gmtime``: a cold start writes
    two of them for each of a hundred thousand jobs)."""
    return time.strftime(ISO_FORMAT, time.gmtime(epoch))


def epoch(text: str) -> float:
    """A time the state wrote, as seconds since the epoch."""
    # strptime gives a naive time, which .timestamp() would read in the host's time zone: the
    # 'Z' is made explicit first.
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=UTC).timestamp()


def span(seconds: float) -> str:
    """A duration for people: ``45s``, ``1m40s``, ``2h05m``."""
    # abs: a moment a skewed clock puts in the future still reads as a duration, not '-40s'.
    whole = round(abs(seconds))
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        return f"{whole // 60}m{whole % 60:02d}s"
    return f"{whole // 3600}h{whole % 3600 // 60:02d}m"


def when(moment: float, now: float) -> str:
    """A moment for people, absolute and relative: ``2026-12-01T10:15:00Z (in 1m40s)``."""
    relative = f"in {span(moment - now)}" if moment >= now else f"{span(now - moment)} ago"
    return f"{iso(moment)} ({relative})"
