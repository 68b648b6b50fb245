"""Logging and the terminal: structlog to stderr (stdout is for output), and one status line.

On a terminal, log events are ``HH:MM:SS level event key=value ...`` lines (nested values as
``key.sub=value``, never a Python repr), and ``apply --wait``'s progress is a status line kept
below them: every log line is written above it (the status line is cleared, the log line
written, the status line drawn again, as pip and rich do), and the status line is cut to the
terminal's width so that it never wraps (a wrapped line cannot be rewritten in place). Off a
terminal, events are JSON lines and there is no status line.

Every event passes :func:`redacted` before it is rendered: each string in it (the event's name,
every value, nested values and their keys) goes through :func:`reconciler.core.redact.redact`,
as every text from the world already did where it became a value of ours. It is the last line
of defence, for a value a log call takes from somewhere the redaction point does not see (an
exception's text, a value added later): no speaker id or recording of a roster in memory, and
no S3 key, is ever written to a log. A value that is neither a string, a number, a boolean,
``None`` nor a container is logged as its redacted ``str``.
"""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import MutableMapping
from typing import Any, TextIO, cast

import structlog

from reconciler.core.redact import redact

_LEVEL_COLOURS = {"debug": "2", "info": "36", "warning": "33", "error": "31", "critical": "31"}
_CLEAR_LINE = "\r\x1b[K"


def configure_logging(fmt: str = "auto", *, quiet: bool = False) -> None:
    """structlog to stderr: console lines on a terminal, JSON lines otherwise; ``quiet``:
    warnings and errors only."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    # NO_COLOR (no-color.org): set, it turns colour off whatever its value.
    colour = console and sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    renderer: Any = (
        _ConsoleRenderer(colour=colour)
        if console
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            # UTC: the pods of a sharded run, in whatever zone their nodes keep, log times that
            # line up.
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            # Last before the renderer: every key and value the processors before it added is
            # redacted too.
            redacted,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.WARNING if quiet else logging.INFO
        ),
        # Through TERMINAL, never sys.stderr directly: a log line must be written above the
        # status line, not across it.
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, TERMINAL)),
        # Not cached: a module's logger made at import time must follow a later configure (the
        # demo, a test, a stderr swapped since), which a cached one would not.
        cache_logger_on_first_use=False,
    )


def redacted(logger: Any, name: str, event: MutableMapping[str, Any]) -> dict[str, Any]:
    """A structlog processor: the event with every string in it redacted (see the module)."""
    del logger, name
    return {key: _redact_value(value) for key, value in event.items()}


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, dict):
        # Keys too: a dict keyed by speaker or by S3 key (an error's details) would leak through
        # them.
        return {_redact_value(key): _redact_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(item) for item in value]
    return redact(str(value))


class _ConsoleRenderer:
    """``12:00:01 info  apply.results spec=... NEW_ENROLLMENT=3``: key=value, sorted."""

    def __init__(self, *, colour: bool) -> None:
        self.colour = colour

    def __call__(self, logger: Any, name: str, event: dict[str, Any]) -> str:
        del logger, name
        # HH:MM:SS of the ISO time: a terminal's reader knows the day.
        when = str(event.pop("timestamp", ""))[11:19]
        level = str(event.pop("level", "info"))
        message = str(event.pop("event", ""))
        pairs = " ".join(f"{key}={value}" for key, value in _flat(event))
        shown_level = f"{level:<7}"
        if self.colour:
            shown_level = f"\x1b[{_LEVEL_COLOURS.get(level, '0')}m{shown_level}\x1b[0m"
            message = f"\x1b[1m{message}\x1b[0m"
        return f"{when} {shown_level} {message} {pairs}".rstrip()


def _flat(value: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for key, item in sorted(value.items()):
        path = f"{prefix}{key}"
        if isinstance(item, dict):
            out.extend(_flat(item, f"{path}.") or [(path, "-")])
        elif isinstance(item, list | tuple | set | frozenset):
            out.append((path, ",".join(str(i) for i in item)))
        else:
            text = str(item)
            # Quoted when empty or spaced, so that each key=value still reads as one.
            out.append((path, f'"{text}"' if not text or " " in text else text))
    return out


class _Terminal:
    """stderr as log events and the status line share it. Writes go to whatever
    ``sys.stderr`` is at the time (a test's captured stream, a redirected one)."""

    def __init__(self) -> None:
        self.status = ""
        self._partial = ""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    def write(self, text: str) -> int:
        """Log output: whole lines are written above the status line."""
        if not self.status:
            return self.stream.write(text)
        # structlog's PrintLogger prints a line and its newline as two writes: text is held
        # until its line is whole, so the status line is never drawn in the middle of one.
        self._partial += text
        lines, _, self._partial = self._partial.rpartition("\n")
        if lines:
            self.stream.write(f"{_CLEAR_LINE}{lines}\n{self.status}")
            self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def width(self) -> int:
        """The terminal's columns (80 when they cannot be told)."""
        try:
            return os.get_terminal_size(self.stream.fileno()).columns
        except (OSError, ValueError, AttributeError):
            return shutil.get_terminal_size((80, 24)).columns

    def show(self, text: str) -> None:
        """Draw (or redraw) the status line, cut to fit the terminal's width."""
        # One column short: writing the last column makes many terminals wrap at once, and a
        # wrapped line cannot be rewritten with a carriage return.
        limit = max(self.width() - 1, 10)
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        self.status = text
        self.stream.write(f"{_CLEAR_LINE}{text}")
        self.stream.flush()

    def end_status(self) -> None:
        """Leave the last status line on the screen, and write below it from now on."""
        if self.status:
            self.stream.write("\n")
            self.stream.flush()
            self.status = ""


TERMINAL = _Terminal()
"""The one writer of stderr's log events and of the status line."""
