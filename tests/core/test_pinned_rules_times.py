"""Rules of the state's times and of durations for people (reconciler.core.times)."""

from __future__ import annotations

import pytest

from reconciler.core.times import epoch, iso, span, when

MOMENT = 1_796_118_130.0  # 2026-12-01T09:42:10Z


def test_iso_is_utc_to_the_second() -> None:
    """A time is written ISO-8601 in UTC, to the second, with a Z."""
    assert iso(MOMENT) == "2026-12-01T09:42:10Z"
    assert iso(MOMENT + 0.9) == "2026-12-01T09:42:10Z"


def test_epoch_reads_what_iso_writes() -> None:
    """A time the state wrote reads back as the same second, in UTC whatever the local zone."""
    assert epoch("2026-12-01T09:42:10Z") == MOMENT
    assert epoch(iso(MOMENT)) == MOMENT


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (45, "45s"),
        (59, "59s"),
        (59.6, "1m00s"),
        (60, "1m00s"),
        (100, "1m40s"),
        (61, "1m01s"),
        (3599, "59m59s"),
        (3600, "1h00m"),
        (3601, "1h00m"),
        (7500, "2h05m"),
        (3661, "1h01m"),
        (90061, "25h01m"),
        (-100, "1m40s"),
        (-45, "45s"),
    ],
)
def test_span_for_people(seconds: float, text: str) -> None:
    """Seconds below a minute, minutes and seconds below an hour, else hours and minutes;
    rounded, and a negative span shown as its size."""
    assert span(seconds) == text


def test_when_says_in_or_ago() -> None:
    """A moment is shown absolute, then relative to now: 'in' ahead, 'ago' behind, 'in 0s' now."""
    assert when(MOMENT + 100, MOMENT) == "2026-12-01T09:43:50Z (in 1m40s)"
    assert when(MOMENT - 100, MOMENT) == "2026-12-01T09:40:30Z (1m40s ago)"
    assert when(MOMENT, MOMENT) == "2026-12-01T09:42:10Z (in 0s)"
    assert when(MOMENT + 0.4, MOMENT) == "2026-12-01T09:42:10Z (in 0s)"
    assert when(MOMENT - 0.4, MOMENT) == "2026-12-01T09:42:09Z (0s ago)"
