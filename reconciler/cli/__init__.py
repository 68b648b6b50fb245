"""The face: the ``voiceid-reconciler`` command line (:func:`main`), rendering, the demo.

A command parses its flags into settings (:mod:`.flags`), makes one call on a session
(:mod:`.session`: the one place that builds the run — adapters, specs through the spec cache,
notifier, metrics — and hands the state work to the runner's use cases, which own the lock)
and renders what comes back; the rules are the core's. Only the command run is imported
(:mod:`.registry`, the one module that imports lazily).
"""

import contextlib
import errno
import os
import sys
from collections.abc import Iterable, Sequence
from typing import Any, NoReturn, TextIO, cast

from reconciler import __version__
from reconciler.cli import registry
from reconciler.cli.exits import (
    EXIT_COMPLETED_WITH_ERRORS,
    EXIT_ERROR,
    EXIT_FAIL_ON,
    EXIT_INTERRUPTED,
    EXIT_JOB_FAILED,
    EXIT_LOCKED,
    EXIT_OK,
    EXIT_OUTPUT_CLOSED,
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
        # Answered here, before cli.app and its parsers are imported: 0.04 s through the
        # console script (bench/startup.py holds it to 0.15 s), where the full import costs
        # several times that; __version__ is a constant for the same reason (b985e05).
        print(f"voiceid-reconciler {__version__}")
        return EXIT_OK
    return registry.run_cli(argv)


def entrypoint() -> int:
    """The ``voiceid-reconciler`` command (and ``python -m reconciler``): :func:`main`, with the
    garbage collector off while the command builds its run (:mod:`reconciler.cli.collector`),
    and a process that ends as soon as the command is done (:func:`leave`)."""
    if sys.argv[1:] != ["--version"]:
        # structlog imports rich, colorama and better_exceptions, when they are installed,
        # for a console renderer of its own; ours is our own (reconciler.cli.logs): the
        # process spares the imports (~60 ms; colorama alone 12 ms where awscli brought it,
        # 717da23). A None in sys.modules makes structlog's ``import rich`` fail at once, as
        # it does where they are not installed.
        for name in ("rich", "colorama", "better_exceptions"):
            sys.modules.setdefault(name, None)  # type: ignore[arg-type]
        registry.tune_collector()  # no GC scans while the run is built: see cli/collector.py
    guard_output()
    try:
        code = main()
    except SystemExit as done:  # argparse's --help: its output, too, may meet a closed pipe
        code = _status_of(done)
    leave(code)
    return EXIT_ERROR  # not reached


def _status_of(done: SystemExit) -> int:
    """The exit status ``sys.exit`` would give (a message is printed, as it would be)."""
    if done.code is None or isinstance(done.code, int):
        return done.code or EXIT_OK
    print(done.code, file=sys.stderr)
    return EXIT_ERROR


class Guarded:
    """A standard stream whose writes never raise (:func:`guard_output`). The first write or
    flush that fails keeps its error (:attr:`error`) and points the stream's file descriptor
    at ``/dev/null``: what its buffer still holds, and whatever the command writes after,
    goes nowhere without an error — the interpreter's own flush at exit included. Everything
    else (``isatty``, ``fileno``, ``encoding``) is the stream's."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.error: OSError | None = None

    def write(self, text: str) -> int:
        try:
            return self.stream.write(text)
        except OSError as err:
            self._failed(err)
            return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        try:
            self.stream.writelines(lines)
        except OSError as err:
            self._failed(err)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except OSError as err:
            self._failed(err)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)

    def _failed(self, err: OSError) -> None:
        if self.error is None:
            self.error = err
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
        except OSError:
            return
        try:
            os.dup2(devnull, self.stream.fileno())
        except (OSError, ValueError):  # a stream without a descriptor: each write fails alone
            return
        finally:
            os.close(devnull)
        with contextlib.suppress(OSError, ValueError):
            self.stream.flush()  # the rest of the buffer, into /dev/null


class _Missing(Guarded):
    """The stdout of a process started without one (``>&-``): what the command writes goes
    nowhere, and is an output that could not be written (:func:`leave`: one line, exit 1)."""

    def write(self, text: str) -> int:
        if text and self.error is None:
            self.error = OSError(errno.EBADF, "stdout is closed")
        return len(text)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)


def guard_output() -> None:
    """Make ``sys.stdout`` and ``sys.stderr`` streams whose writes never raise, for the
    process (:func:`entrypoint`; never for a caller of ``main``, whose streams are its own).

    A reader that stops early (``plan | head -1``, ``apply 2>&1 | grep -m1 Started``) makes
    every later write fail with EPIPE, and a write is everywhere: the plan an apply shows
    before its starts, a log event between a Start and the record of its JobId. Were the
    error raised there, an apply would stop half-way depending on when its reader left (and
    terraform, killed by SIGPIPE there, leaves an empty state and its lock). So a command's
    work never depends on who reads its output: it finishes (its state written, its lock
    released), writes nothing more, and :func:`leave` turns the lost output into the exit
    status."""
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if isinstance(stream, Guarded):
            continue
        if stream is None:  # started without it (>&-): Python leaves None, which print skips
            nowhere = os.fdopen(os.open(os.devnull, os.O_WRONLY), "w", encoding="utf-8")
            stream = _Missing(nowhere) if name == "stdout" else Guarded(nowhere)
        else:
            stream = Guarded(stream)
        setattr(sys, name, cast(TextIO, stream))


def output_error() -> OSError | None:
    """The first error a guarded ``sys.stdout`` or ``sys.stderr`` met (stdout's first)."""
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, Guarded) and stream.error is not None:
            return stream.error
    return None


def _with_output_error(code: int) -> int:
    """The exit status once the output is out: a reader that left early (EPIPE) is
    :data:`EXIT_OUTPUT_CLOSED`, any other failure to write (a full disk) one line and
    :data:`EXIT_ERROR` — unless the command already failed with a status of its own."""
    error = output_error()
    if error is None:
        return code
    if isinstance(error, BrokenPipeError):
        return code or EXIT_OUTPUT_CLOSED
    print(f"voiceid-reconciler: the output could not be written: {error}", file=sys.stderr)
    return code or EXIT_ERROR


def leave(code: int) -> NoReturn:
    """End the process with ``code`` once its output is out: what the command wrote is
    flushed and the log handlers closed, and then the interpreter's teardown is skipped — it
    frees the run's objects one at a time (a state and specs of 10,000 entries: a tenth of a
    second of CPU), where the end of the process frees them at once. Every command has
    finished its own work by then: state written, lock released, notifications sent; no other
    thread runs (a listing's threads are joined, a lock's heartbeat stopped with it). Under a
    profiler or a coverage tool (``python -m cProfile``), the process ends as usual. Output
    that could not be written (:func:`guard_output`) decides the status of a command that
    succeeded: the flush here is often the write that finds the reader gone (a pipe's output
    is buffered), so the status is taken after it."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # unguarded: a closed pipe (``| head``)
            stream.flush()
    code = _with_output_error(code)
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()  # the line of a write that failed
    logging = sys.modules.get("logging")
    if logging is not None:
        logging.shutdown()
    if sys.gettrace() is not None or sys.getprofile() is not None:
        sys.exit(code)  # a profiler or coverage tool writes its data at exit: it may
    # Not sys.exit: the interpreter's teardown would free every object of the run one at a
    # time (0.1-0.15 s of CPU at 10,000 specs: 0197c97, bench/README.md); the kernel frees
    # the process at once. Safe only because everything above has been flushed and closed.
    os._exit(code)


__all__ = [
    "EXIT_COMPLETED_WITH_ERRORS",
    "EXIT_ERROR",
    "EXIT_FAIL_ON",
    "EXIT_INTERRUPTED",
    "EXIT_JOB_FAILED",
    "EXIT_LOCKED",
    "EXIT_OK",
    "EXIT_OUTPUT_CLOSED",
    "EXIT_PENDING",
    "EXIT_PLAN_CHANGED",
    "EXIT_TIMEOUT",
    "EXIT_UNSAFE",
    "Guarded",
    "entrypoint",
    "guard_output",
    "leave",
    "main",
    "output_error",
]
