"""The face: the ``voiceid-reconciler`` command line (:func:`main`), rendering, the demo.

It parses, configures logging, calls the runner and prints; it holds no reconciling logic.
"""

import sys
from collections.abc import Sequence

from reconciler import __version__
from reconciler.cli.exits import (
    EXIT_COMPLETED_WITH_ERRORS,
    EXIT_ERROR,
    EXIT_FAIL_ON,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_PENDING,
    EXIT_PLAN_CHANGED,
    EXIT_TIMEOUT,
    EXIT_UNSAFE,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status. ``--version`` alone answers before
    anything else is imported (it is what health checks and scripts call most)."""
    given = sys.argv[1:] if argv is None else list(argv)
    if given == ["--version"]:
        print(f"voiceid-reconciler {__version__}")
        return EXIT_OK
    from reconciler.cli.app import main as run

    return run(argv)


def entrypoint() -> int:
    """The ``voiceid-reconciler`` command (and ``python -m reconciler``): :func:`main`, with the
    garbage collector tuned for a process that lives one run."""
    if sys.argv[1:] != ["--version"]:
        # structlog imports rich, when it is installed, for a console renderer of its own;
        # ours is our own (reconciler.cli.logs): the process spares the import (~50 ms).
        sys.modules.setdefault("rich", None)  # type: ignore[arg-type]
        from reconciler.cli.app import tune_gc

        tune_gc()
    return main()


__all__ = [
    "EXIT_COMPLETED_WITH_ERRORS",
    "EXIT_ERROR",
    "EXIT_FAIL_ON",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_PENDING",
    "EXIT_PLAN_CHANGED",
    "EXIT_TIMEOUT",
    "EXIT_UNSAFE",
    "entrypoint",
    "main",
]
