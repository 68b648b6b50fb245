"""Parsing and checking the values of flags and environment variables, before anything runs.

Every numeric option is parsed by one of these (argparse ``type=``), so a bad value is one
line naming the flag and the accepted range, exit 1, before any spec is read or any call made.

Durations are seconds, written ``90``, ``1.5``, or with a unit: ``90s``, ``5m``, ``1h``; at most
:data:`MAX_DURATION` (30 days: ``time.sleep`` and thread waits overflow beyond a few hundred
years, and no wait of the reconciler's needs a month). URLs (``--notify``, ``--pushgateway``)
are checked as URLs here, and a bad one is named by its label, never quoted (a URL may hold a
token: :mod:`reconciler.adapters.urls`).
"""

from __future__ import annotations

import argparse
import difflib
import math
import re
from collections.abc import Callable, Sequence

from reconciler.cli import registry

# A pattern, not float() alone: float() takes 'nan', 'inf', '-5' and '1_000', each a wait that
# makes no sense; the pattern takes plain decimals with an optional unit, and nothing else.
_DURATION = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {None: 1.0, "ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = 30 * 24 * 3600.0
"""The longest duration a flag or variable may say: 30 days."""


def parse_duration(text: str, *, positive: bool = False) -> float:
    """``text`` as seconds: finite, 0 or more (``positive``: more than 0); a unit suffix is
    allowed (``ms``, ``s``, ``m``, ``h``). Raises ValueError saying what is expected."""
    match = _DURATION.match(text)
    expected = "a number of seconds " + ("above 0" if positive else "of 0 or more")
    if match is None:
        raise ValueError(f"expected {expected} (e.g. 30, 1.5, 90s, 5m, 1h), not {text!r}")
    seconds = float(match[1]) * _UNITS[match[2]]
    # '1e400' matches the pattern and is infinite as a float.
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise ValueError(f"expected {expected}, not {text!r}")
    if seconds > MAX_DURATION:
        raise ValueError(f"expected at most 30 days ({MAX_DURATION:,.0f} seconds), not {text!r}")
    return seconds


def duration(*, positive: bool = False) -> Callable[[str], float]:
    """An argparse type for a duration (see :func:`parse_duration`)."""

    def parse(text: str) -> float:
        try:
            return parse_duration(text, positive=positive)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err)) from None

    # argparse names the type by __name__ when a parse lets a ValueError through ('invalid
    # duration value'), and 'parse' would tell the reader nothing.
    parse.__name__ = "duration"
    return parse


def notify_url(text: str) -> str:
    """An argparse type for a ``--notify`` URL: one that can be read as a URL (what it reaches
    is checked as its sink opens, before anything runs)."""
    # Checked through the registry, which imports the notification adapter when the flag is
    # given: the commands that take no --notify (validate, --version) start without it.
    problem = registry.notify_url_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def pushgateway_url(text: str) -> str:
    """An argparse type for ``--pushgateway``: ``http(s)://host[:port]`` or ``host:port``."""
    problem = registry.gateway_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def rate(text: str) -> float:
    """Calls per second: finite, 0 or more (0: no client-side limit)."""
    try:
        value = float(text)
    except ValueError:
        # Not a number: nan, refused by the same check as a negative or infinite rate.
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"expected calls per second, 0 or more (0: no limit), not {text!r}"
        )
    return value


def count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse type for a whole number in ``minimum``..``maximum``."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            bound = f"{minimum}..{maximum}" if maximum is not None else f"{minimum} or more"
            raise argparse.ArgumentTypeError(f"expected a whole number, {bound}, not {text!r}")
        return value

    parse.__name__ = "count"
    return parse


def classes(allowed: Sequence[str]) -> Callable[[str], frozenset[str]]:
    """An argparse type for a comma-separated subset of ``allowed`` (a typo gets a did-you-mean)."""

    def parse(text: str) -> frozenset[str]:
        chosen = frozenset(part.strip() for part in text.split(",") if part.strip())
        # Sorted: of several unknown names, the same one is reported at every run.
        for name in sorted(chosen - set(allowed)):
            close = difflib.get_close_matches(name, allowed, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise argparse.ArgumentTypeError(
                f"unknown class {name!r}{hint} (expected some of: {', '.join(allowed)})"
            )
        if not chosen:
            raise argparse.ArgumentTypeError(f"expected some of: {', '.join(allowed)}")
        return chosen

    parse.__name__ = "classes"
    return parse


_TRUE = frozenset({"1", "true", "yes", "on"})
# Empty is no: a CI template or a Helm chart 'unsets' a variable by giving it no value.
_FALSE = frozenset({"", "0", "false", "no", "off"})


def parse_bool(text: str) -> bool:
    """A yes/no environment value: ``true``/``1``/``yes``/``on`` or ``false``/``0``/``no``/
    ``off`` (any case; empty is no). Raises ValueError saying what is expected."""
    value = text.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(f"expected true or false (1/0, yes/no, on/off), not {text!r}")
