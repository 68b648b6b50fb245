"""One summary of a run: the ``run.summary`` log event and the metrics are made from it.

It reads the run's *final* plan (after ``--wait``'s last poll), so what it says is where the run
left things: jobs still running (progressing), starts queued for a slot or awaiting a review,
specs blocked, jobs failed for good. Only the failed ones and the face's verdict say that
something went wrong; a run that leaves jobs running or starts waiting succeeded.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reconciler.adapters.metrics import RunMetrics
from reconciler.core.plan import ActionKind, Plan
from reconciler.runner.context import ApplyReport
from reconciler.runner.ports import VoiceIdApi


@dataclass(frozen=True)
class RunSummary:
    """What one run did, counted once: the metrics' values plus the command."""

    command: str
    counts: RunMetrics

    @classmethod
    def of(  # noqa: PLR0913 - keyword-only facts of the run, named where they are given
        cls,
        command: str,
        report: ApplyReport | None,
        voiceid: VoiceIdApi | None,
        *,
        duration_s: float,
        success: bool,
        shard: str | None = None,
    ) -> RunSummary:
        """The summary of a run (``report`` None: it failed before it had a plan; ``voiceid``
        None: it failed before it made its Voice ID client, so it made no call); ``success``
        is the face's verdict (exit 0), so the metrics and the exit code never disagree."""
        plan = report.plan if report else Plan(())
        # A run that failed before its plan counts no action at all, not zeros of every kind:
        # the metrics then say it never got as far as a plan.
        actions = plan.counts() if report else {}
        return cls(
            command,
            RunMetrics(
                jobs_by_status=plan.jobs_by_status(),
                actions=actions,
                starts=len(report.started) if report else 0,
                in_progress=sum(1 for a in plan.actions if a.running),
                # From the report, not the plan's QUEUED actions alone: a start the quota
                # refused during the run (deferred) is queued too, though the plan made before
                # it showed a start.
                queued=len(report.queued_specs()) if report else 0,
                awaiting_review=actions.get(ActionKind.AWAITING_REVIEW.value, 0),
                blocked=actions.get(ActionKind.BLOCKED.value, 0),
                # Only jobs failed for good: running, queued and awaiting-review are progress,
                # so a schedule's alert on run_failed does not fire for a run that is merely
                # waiting.
                failed=len(plan.problems(("failed",))),
                # Sorted for the run.summary event (the metrics sort their own): the counters
                # hold the operations in the order the run first called them, which differs from
                # run to run, and two runs' summaries should line up key by key.
                api_calls=dict(sorted(voiceid.calls.items())) if voiceid else {},
                throttles=dict(sorted(voiceid.throttles.items())) if voiceid else {},
                duration_seconds=duration_s,
                success=success,
                shard=shard,
            ),
        )

    def log_fields(self) -> dict[str, Any]:
        """The fields of the ``run.summary`` event."""
        c = self.counts
        return {
            "command": self.command,
            "actions": c.actions,
            "started": c.starts,
            "in_progress": c.in_progress,
            "queued": c.queued,
            "awaiting_review": c.awaiting_review,
            "blocked": c.blocked,
            "failed": c.failed,
            "api_calls": c.api_calls,
            "throttles": c.throttles,
            "duration_s": round(c.duration_seconds, 3),
        }

    def metrics(self, *, finished_at: float) -> RunMetrics:
        """The metrics of the run (for the textfile and the Pushgateway)."""
        return replace(self.counts, finished_at=finished_at)
