"""The face: the ``voiceid-reconciler`` command line (:func:`main`), rendering, the demo.

It parses, configures logging, calls the runner and prints; it holds no reconciling logic.
"""

import contextlib
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

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
    garbage collector off while the command builds its run (:mod:`reconciler.cli.collector`),
    and a process that ends as soon as the command is done (:func:`leave`)."""
    if sys.argv[1:] != ["--version"]:
        # structlog imports rich, colorama and better_exceptions, when they are installed,
        # for a console renderer of its own; ours is our own (reconciler.cli.logs): the
        # process spares the imports (~60 ms).
        for name in ("rich", "colorama", "better_exceptions"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]
        from reconciler.cli import collector

        collector.tune()
    leave(main())
    return EXIT_ERROR  # not reached


def leave(code: int) -> NoReturn:
    """End the process with ``code`` once its output is out: what the command wrote is
    flushed and the log handlers closed, and then the interpreter's teardown is skipped — it
    frees the run's objects one at a time (a state and specs of 10,000 entries: a tenth of a
    second of CPU), where the end of the process frees them at once. Every command has
    finished its own work by then: state written, lock released, notifications sent; the only
    thread that may still run is a daemon thread's manifest lookup nobody waits for. Under a
    profiler or a coverage tool (``python -m cProfile``), the process ends as usual."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe (``| head``)
            stream.flush()
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)  # a profiler or coverage tool writes its data at exit: it may
    os._exit(code)


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
    "leave",
    "main",
]
