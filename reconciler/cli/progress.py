"""``apply --wait`` progress: the terminal's status line (below the log), log events otherwise."""

from __future__ import annotations

from typing import TextIO

import structlog

from reconciler.cli.logs import TERMINAL
from reconciler.core.plan import ActionKind, Plan


class Progress:
    """``apply --wait`` progress: a status line on a terminal (never wrapped, log lines kept
    above it), an ``apply.progress`` event otherwise; nothing with ``quiet``."""

    def __init__(self, stream: TextIO, *, quiet: bool = False) -> None:
        # A stream without isatty (a test's, a wrapper's) is not a terminal: events, not a
        # status line.
        self.tty = bool(getattr(stream, "isatty", None) and stream.isatty())
        self.quiet = quiet
        self._log = structlog.get_logger("reconciler.progress")

    def __call__(self, plan: Plan) -> None:
        running = [a for a in plan.actions if a.running]
        queued = sum(1 for a in plan.actions if a.kind is ActionKind.QUEUED)
        done = sum(1 for a in plan.actions if a.kind is ActionKind.IN_SYNC and not a.running)
        if self.quiet:
            return
        if self.tty:
            # JobProgress is optional in Voice ID's answers (a job just submitted may have
            # none): no progress reads 0%.
            jobs = ", ".join(f"{a.name} {a.percent_complete or 0}%" for a in running)
            TERMINAL.show(
                f"[wait] {len(running)} running{': ' + jobs if jobs else ''} | {queued} queued"
                f" | {done} ended"
            )
        else:
            self._log.info(
                "apply.progress",
                running={a.key: a.percent_complete or 0 for a in running},
                queued=queued,
                ended=done,
            )

    def close(self) -> None:
        if self.tty:
            TERMINAL.end_status()
