"""Logging: structlog, configured once per command line, to stderr (stdout is for output)."""

from __future__ import annotations

import logging
import os
import sys
from typing import Any

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
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
