"""Logging: structlog, configured once per command line, to stderr (stdout is for output)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, TextIO, cast

import structlog


def configure_logging(fmt: str = "auto") -> None:
    """structlog to stderr: console lines on a terminal, JSON lines otherwise."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=not os.environ.get("NO_COLOR"))
        if console
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(cast(TextIO, _Stderr())),
        cache_logger_on_first_use=False,
    )


class _Stderr:
    """Whatever ``sys.stderr`` is when an event is written (not when logging was configured):
    a test's captured stream, or a redirected one, is never written to after it closed."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()
