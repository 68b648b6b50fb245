"""One summary of a run: the ``run.summary`` log event and the metrics are made from it."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from reconciler.adapters.metrics import RunMetrics
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
        voiceid: VoiceIdApi,
        *,
        duration_s: float,
        success: bool,
        shard: str | None = None,
    ) -> RunSummary:
        """The summary of a run (``report`` None: it failed before it had a plan); ``success``
        is the face's verdict (exit 0), so the metrics and the exit code never disagree."""
        actions = report.plan.counts() if report else {}
        return cls(
            command,
            RunMetrics(
                jobs_by_status=report.plan.jobs_by_status() if report else {},
                actions=actions,
                starts=len(report.started) if report else 0,
                queued=len(report.queued_specs()) if report else 0,
                blocked=actions.get("blocked", 0),
                api_calls=dict(sorted(voiceid.calls.items())),
                throttles=dict(sorted(voiceid.throttles.items())),
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
            "queued": c.queued,
            "blocked": c.blocked,
            "api_calls": c.api_calls,
            "throttles": c.throttles,
            "duration_s": round(c.duration_seconds, 3),
        }

    def metrics(self, *, finished_at: float) -> RunMetrics:
        """The metrics of the run (for the textfile and the Pushgateway)."""
        return replace(self.counts, finished_at=finished_at)
