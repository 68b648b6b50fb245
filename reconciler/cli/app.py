"""The command line: parse arguments, configure logging, run one command, pick the exit code.

This is the only place that catches :class:`~reconciler.core.errors.ReconcilerError`, prints it
as one line and decides the exit status (``--debug`` shows the traceback instead). Each
command lives in its own ``cmd_*`` module (its parser; it parses, makes one call on a
:class:`~reconciler.cli.session.Session` and renders), imported only when it is the command
run (:mod:`reconciler.cli.registry`).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from types import FrameType

from reconciler import __version__
from reconciler.cli import args as shared
from reconciler.cli import registry
from reconciler.cli.exits import EXIT_CODES_HELP, EXIT_ERROR, EXIT_INTERRUPTED, exit_code
from reconciler.cli.logs import configure_logging
from reconciler.core.errors import ReconcilerError, SpecErrors


def parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser of the command ``argv`` names, or of every command when it names none or
    ``argv`` is None (shared options may also stand before the command)."""
    modules = registry.all_command_modules() if argv is None else registry.command_modules(argv)
    parents = shared.parents()
    top = shared.Parser(
        prog="voiceid-reconciler",
        description="Declarative GitOps reconciler for Amazon Connect Voice ID batch jobs.",
        parents=parents.everything(),
        epilog=EXIT_CODES_HELP,
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in modules:
        module.register(sub, parents)
    top.set_defaults(cli=main)  # the demo runs other commands through it
    return top


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    given = sys.argv[1:] if argv is None else list(argv)
    try:
        # The parser of the command named alone (its module is the only one imported); should
        # that fail, every command's: an option's value may have looked like a command's name
        # (--state plan apply), and a real usage error is then said by the full parser.
        try:
            args = parser(given).parse_args(given)
        except shared.UsageError:
            args = parser().parse_args(given)
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
