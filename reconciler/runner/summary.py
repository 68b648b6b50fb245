"""One summary of a run: the ``run.summary`` log event and the metrics are made from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from reconciler.adapters.metrics import RunMetrics
from reconciler.runner.context import ApplyReport
from reconciler.runner.ports import VoiceIdApi


@dataclass(frozen=True)
class RunSummary:
    """What one apply run did, counted once (``report`` None: the run failed before a plan)."""

    command: str
    actions: dict[str, int] = field(default_factory=dict)
    jobs_by_status: dict[str, int] = field(default_factory=dict)
    started: int = 0
    queued: int = 0
    blocked: int = 0
    api_calls: dict[str, int] = field(default_factory=dict)
    throttles: dict[str, int] = field(default_factory=dict)
    duration_s: float = 0.0
    success: bool = False
    shard: str | None = None

    @classmethod
    def of(
        cls,
        command: str,
        report: ApplyReport | None,
        voiceid: VoiceIdApi,
        *,
        duration_s: float,
        shard: str | None = None,
    ) -> RunSummary:
        counts = report.plan.counts() if report else {}
        return cls(
            command=command,
            actions=counts,
            jobs_by_status=report.plan.jobs_by_status() if report else {},
            started=len(report.started) if report else 0,
            queued=len(report.queued_specs()) if report else 0,
            blocked=counts.get("blocked", 0),
            api_calls=dict(sorted(voiceid.calls.items())),
            throttles=dict(sorted(voiceid.throttles.items())),
            duration_s=duration_s,
            success=report is not None and not report.timed_out and not report.failed,
            shard=shard,
        )

    def log_fields(self) -> dict[str, Any]:
        """The fields of the ``run.summary`` event."""
        return {
            "command": self.command,
            "actions": self.actions,
            "started": self.started,
            "queued": self.queued,
            "blocked": self.blocked,
            "api_calls": self.api_calls,
            "throttles": self.throttles,
            "duration_s": round(self.duration_s, 3),
        }

    def metrics(self, *, finished_at: float) -> RunMetrics:
        """The metrics of the run (for the textfile and the Pushgateway)."""
        return RunMetrics(
            jobs_by_status=self.jobs_by_status,
            actions=self.actions,
            starts=self.started,
            queued=self.queued,
            blocked=self.blocked,
            api_calls=self.api_calls,
            throttles=self.throttles,
            duration_seconds=self.duration_s,
            success=self.success,
            finished_at=finished_at,
            shard=self.shard,
        )
