"""The command line: parse arguments, configure logging, run one command, pick the exit code.

This is the only place that catches :class:`~reconciler.core.errors.ReconcilerError`, prints it
as one line and decides the exit status (``--debug`` shows the traceback instead). Each
command lives in its own ``cmd_*`` module: its options and the glue to the runner.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from reconciler import __version__
from reconciler.cli import args as shared
from reconciler.cli import cmd_apply, cmd_plan, cmd_state, cmd_status, cmd_tools, cmd_validate
from reconciler.cli.exits import EXIT_CODES_HELP, EXIT_ERROR, EXIT_INTERRUPTED, exit_code
from reconciler.cli.logs import configure_logging
from reconciler.core.errors import ReconcilerError, SpecErrors

_COMMANDS = (cmd_validate, cmd_plan, cmd_apply, cmd_status, cmd_state, cmd_tools)


def parser() -> argparse.ArgumentParser:
    """The parser of every command (shared options may also stand before the command)."""
    parents = shared.parents()
    top = shared.Parser(
        prog="voiceid-reconciler",
        description="Declarative GitOps reconciler for Amazon Connect Voice ID batch jobs.",
        parents=parents.everything(),
        epilog=EXIT_CODES_HELP,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in _COMMANDS:
        command.register(sub, parents)
    top.set_defaults(cli=main)  # the demo runs other commands through it
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    try:
        args = parser().parse_args(argv)
    except shared.UsageError as err:
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_ERROR
    shared.fill_defaults(args)
    configure_logging(args.log_format, quiet=args.quiet)
    try:
        with _terminate_as_interrupt():
            status: int = args.handler(args)
    except SpecErrors as err:
        if args.debug:
            raise
        for error in err.errors:
            print(str(error), file=sys.stderr)
        if len(err.errors) > 1:
            print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_ERROR
    except ReconcilerError as err:
        if args.debug:
            raise
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt:
        print(
            "voiceid-reconciler: interrupted; what the run recorded is saved, run again to "
            "continue",
            file=sys.stderr,
        )
        return EXIT_INTERRUPTED
    return status


def tune_gc() -> None:
    """What was imported so far lives as long as the process: ``gc.freeze`` keeps the
    collector from scanning it again. A run builds millions of objects (specs, the state, the
    plan) and frees them by reference counting (they hold no cycles), so the collector's scans
    find next to nothing: with the default thresholds they cost a sixth of a steady run's CPU
    at 10,000 specs, and full collections, which scan everything alive, grow with the state.
    Young collections every 100,000 allocations, middle ones every 5 million, a full one every
    500 million (every hundred or so polls of a long ``--wait``): cyclic garbage is still
    collected, at a cost that stays linear in the work. For the process's own entry point
    only (:func:`reconciler.cli.entrypoint`), never for a caller of ``main``."""
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (``docker stop``, a CronJob's deadline, a pod eviction) and SIGINT stop every
    command as Ctrl-C does: the command's own clean-up runs (the state saved, the lock
    released) and the exit status is 130. Only the main thread may set handlers (a test may
    call ``main`` from another)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    # SIGINT too: a process started in the background inherits it ignored, and Kubernetes,
    # `kill -INT` and CI runners still expect it to stop the run.
    previous = {sig: signal.signal(sig, _raise) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
