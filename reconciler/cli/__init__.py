"""The face: the ``voiceid-reconciler`` command line (:func:`main`), rendering, the demo.

It parses, configures logging, calls the runner and prints; it holds no reconciling logic.
"""

from reconciler.cli.exits import (
    EXIT_COMPLETED_WITH_ERRORS,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_PLAN_CHANGED,
    EXIT_TIMEOUT,
    EXIT_UNSAFE,
)
from reconciler.cli.main import main

__all__ = [
    "EXIT_COMPLETED_WITH_ERRORS",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_PLAN_CHANGED",
    "EXIT_TIMEOUT",
    "EXIT_UNSAFE",
    "main",
]
