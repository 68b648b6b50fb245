"""``apply --wait`` progress: one rewritten line on a terminal, log events otherwise."""

from __future__ import annotations

from typing import TextIO

import structlog

from reconciler.core.plan import ActionKind, Plan


class Progress:
    """``apply --wait`` progress: one rewritten line on a terminal, log events otherwise."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.tty = bool(getattr(stream, "isatty", None) and stream.isatty())
        self._log = structlog.get_logger("reconciler.progress")

    def __call__(self, plan: Plan) -> None:
        running = [a for a in plan.actions if a.running]
        queued = sum(1 for a in plan.actions if a.kind is ActionKind.QUEUED)
        done = sum(1 for a in plan.actions if a.kind is ActionKind.IN_SYNC and not a.running)
        if self.tty:
            jobs = " · ".join(f"{a.name} {a.percent_complete or 0}%" for a in running) or "-"
            self.stream.write(f"\r\x1b[K[wait] running: {jobs} | {queued} queued | {done} ended")
            self.stream.flush()
        else:
            self._log.info(
                "apply.progress",
                running={a.key: a.percent_complete or 0 for a in running},
                queued=queued,
                ended=done,
            )

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")
