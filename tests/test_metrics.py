"""Run metrics: the textfile the node exporter reads, the push to a Pushgateway, and what a
run's summary counts (progressing is not failing)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest
from prometheus_client.parser import text_string_to_metric_families

from reconciler.adapters.metrics import RunMetrics, build_registry, push, write_textfile
from reconciler.cli import EXIT_OK, main
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.plan import Action, ActionKind, Plan
from reconciler.runner.context import ApplyReport
from reconciler.runner.summary import RunSummary
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

if TYPE_CHECKING:
    from reconciler.runner.ports import VoiceIdApi

P = "voiceid_reconciler_"
FINISHED = 1_767_225_600.0  # 2026-01-01T00:00:00Z

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


BASE = RunMetrics(
    jobs_by_status={"COMPLETED": 3, "IN_PROGRESS": 1, "FAILED": 1},
    actions={"in-sync": 5, "start": 2, "queued": 1, "blocked": 1},
    starts=2,
    in_progress=1,
    queued=1,
    awaiting_review=2,
    blocked=1,
    failed=1,
    api_calls={"ListDomains": 1, "StartSpeakerEnrollmentJob": 3},
    throttles={"StartSpeakerEnrollmentJob": 1},
    duration_seconds=12.5,
    success=True,
    finished_at=FINISHED,
)


def _run(**changes: Any) -> RunMetrics:
    return dataclasses.replace(BASE, **changes)


def _samples(text: str) -> Samples:
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _key(name: str, **labels: str) -> tuple[str, frozenset[tuple[str, str]]]:
    return (P + name, frozenset(labels.items()))


def test_textfile_reports_every_number_of_the_run(tmp_path: Path) -> None:
    """Each RunMetrics field appears under its documented name, label and value."""
    path = tmp_path / "voiceid.prom"
    write_textfile(_run(), path)
    assert _samples(path.read_text()) == {
        _key("jobs", status="COMPLETED"): 3,
        _key("jobs", status="FAILED"): 1,
        _key("jobs", status="IN_PROGRESS"): 1,
        _key("plan_actions", action="blocked"): 1,
        _key("plan_actions", action="in-sync"): 5,
        _key("plan_actions", action="queued"): 1,
        _key("plan_actions", action="start"): 2,
        _key("run_starts"): 2,
        _key("run_in_progress"): 1,
        _key("run_queued"): 1,
        _key("run_awaiting_review"): 2,
        _key("run_blocked"): 1,
        _key("run_failed"): 1,
        _key("api_calls", operation="ListDomains"): 1,
        _key("api_calls", operation="StartSpeakerEnrollmentJob"): 3,
        _key("api_throttles", operation="StartSpeakerEnrollmentJob"): 1,
        _key("run_duration_seconds"): 12.5,
        _key("run_success"): 1,
        _key("last_run_timestamp_seconds"): FINISHED,
        _key("last_success_timestamp_seconds"): FINISHED,
    }


def test_every_sample_of_a_shard_carries_the_shard_label(tmp_path: Path) -> None:
    """With shard "1/4" every sample has shard="1/4", next to its own label."""
    path = tmp_path / "voiceid.prom"
    write_textfile(_run(shard="1/4"), path)
    samples = _samples(path.read_text())
    assert samples
    assert all(("shard", "1/4") in labels for _, labels in samples)
    assert samples[_key("jobs", shard="1/4", status="COMPLETED")] == 3
    assert samples[_key("run_success", shard="1/4")] == 1


def test_the_output_holds_only_the_reconcilers_metrics() -> None:
    """A fresh registry per call: no process or GC metrics, and building twice never clashes."""
    build_registry(_run())
    names = {metric.name for metric in build_registry(_run()).collect()}
    assert names
    assert all(name.startswith(P) for name in names)


def test_a_failed_run_without_history_reports_no_last_success(tmp_path: Path) -> None:
    """A failed first run sets run_success 0 and no last-success timestamp at all."""
    path = tmp_path / "voiceid.prom"
    write_textfile(_run(success=False), path)
    samples = _samples(path.read_text())
    assert samples[_key("run_success")] == 0
    assert samples[_key("last_run_timestamp_seconds")] == FINISHED
    assert not any(name == P + "last_success_timestamp_seconds" for name, _ in samples)


def test_a_failed_run_keeps_the_previous_last_success(tmp_path: Path) -> None:
    """The file a failed run replaces gives it the last successful run's timestamp."""
    path = tmp_path / "voiceid.prom"
    write_textfile(_run(shard="2/4"), path)
    write_textfile(_run(success=False, finished_at=FINISHED + 3600, shard="2/4"), path)
    samples = _samples(path.read_text())
    assert samples[_key("last_success_timestamp_seconds", shard="2/4")] == FINISHED
    assert samples[_key("last_run_timestamp_seconds", shard="2/4")] == FINISHED + 3600
    assert samples[_key("run_success", shard="2/4")] == 0


def test_a_damaged_previous_file_only_loses_the_carried_over_value(tmp_path: Path) -> None:
    """An unparseable old file is replaced whole; the failed run still writes its metrics."""
    path = tmp_path / "voiceid.prom"
    path.write_bytes(b"\xff\xfe not metrics {{{")
    write_textfile(_run(success=False), path)
    assert _samples(path.read_text())[_key("run_success")] == 0


def test_textfile_creates_its_directory_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    """The file is renamed into place in a directory made on demand; nothing else remains."""
    path = tmp_path / "metrics" / "voiceid.prom"
    write_textfile(_run(), path)
    write_textfile(_run(starts=0), path)
    assert [p.name for p in path.parent.iterdir()] == ["voiceid.prom"]
    assert _samples(path.read_text())[_key("run_starts")] == 0


# -- the Pushgateway --------------------------------------------------------------------------


@dataclass
class _Gateway:
    url: str
    requests: list[tuple[str, str, str]] = field(default_factory=list)
    status: int = 200


@pytest.fixture
def gateway() -> Iterator[_Gateway]:
    """A tiny Pushgateway on 127.0.0.1 that records each request, stopped after the test."""
    recorded = _Gateway(url="")

    class Handler(BaseHTTPRequestHandler):
        def _record(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length).decode()
            recorded.requests.append((self.command, self.path, body))
            self.send_response(recorded.status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_PUT(self) -> None:
            self._record()

        def do_POST(self) -> None:
            self._record()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            """Keep the test output quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    recorded.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield recorded
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_push_puts_a_successful_run_under_job_and_shard(gateway: _Gateway) -> None:
    """A successful shard run replaces its group: PUT /metrics/job/<job>/shard@base64/<0/4>."""
    push(_run(shard="0/4"), gateway.url)
    [(method, path, body)] = gateway.requests
    assert method == "PUT"
    assert path == "/metrics/job/voiceid-reconciler/shard@base64/MC80"
    samples = _samples(body)
    assert samples[_key("run_starts", shard="0/4")] == 2
    assert samples[_key("last_success_timestamp_seconds", shard="0/4")] == FINISHED


def test_push_posts_a_failed_run_so_the_last_success_survives(gateway: _Gateway) -> None:
    """A failed run is POSTed (replacing only the names it sends) and sends no last success."""
    push(_run(success=False), gateway.url, job="voiceid-nightly")
    [(method, path, body)] = gateway.requests
    assert method == "POST"
    assert path == "/metrics/job/voiceid-nightly"
    samples = _samples(body)
    assert samples[_key("run_success")] == 0
    assert not any(name == P + "last_success_timestamp_seconds" for name, _ in samples)


def test_push_raises_when_the_gateway_refuses(gateway: _Gateway) -> None:
    """An error answer from the gateway is an OSError for the caller to report."""
    gateway.status = 500
    with pytest.raises(OSError, match="500"):
        push(_run(), gateway.url)


# -- what a run's summary says: progressing is not failing ---------------------------------------


@dataclass
class _Calls:
    """What the summary reads of the Voice ID adapter: its call and throttle counts."""

    calls: dict[str, int] = field(default_factory=lambda: {"ListDomains": 1})
    throttles: dict[str, int] = field(default_factory=dict)


def _action(kind: ActionKind, name: str, status: JobStatus | None = None) -> Action:
    return Action(kind, JobKind.ENROLLMENT, name, domain_id="d-1", hash="h" * 64, status=status)


FINAL_PLAN = Plan(
    (
        _action(ActionKind.IN_SYNC, "running", JobStatus.IN_PROGRESS),
        _action(ActionKind.IN_SYNC, "submitted", JobStatus.SUBMITTED),
        _action(ActionKind.IN_SYNC, "done", JobStatus.COMPLETED),
        _action(ActionKind.IN_SYNC, "failed-for-good", JobStatus.FAILED),
        _action(ActionKind.IN_SYNC, "with-errors", JobStatus.COMPLETED_WITH_ERRORS),
        _action(ActionKind.RETRY, "failed-once"),  # a FAILED attempt with a retry coming
        _action(ActionKind.QUEUED, "waiting-for-a-slot"),
        _action(ActionKind.AWAITING_REVIEW, "changed-on-main"),
        _action(ActionKind.AWAITING_REVIEW, "manifest-replaced"),
        _action(ActionKind.BLOCKED, "mistyped-domain"),
        _action(ActionKind.RETIRED, "removed-long-ago", JobStatus.FAILED),
        _action(ActionKind.ORPHANED, "removed-while-running", JobStatus.IN_PROGRESS),
    )
)


def test_the_summary_counts_the_final_plan_as_progress_or_trouble() -> None:
    """Running jobs are in progress; starts held for a slot are queued, held for a review
    awaiting review; only a job FAILED with no attempts left is failed (not a retry coming, not
    a retired spec's old failure); the same numbers reach the log event and the metrics."""
    report = ApplyReport(FINAL_PLAN, started=[FINAL_PLAN.actions[0]])
    summary = RunSummary.of(
        "apply", report, cast("VoiceIdApi", _Calls()), duration_s=2.0, success=True
    )
    counts = summary.counts
    assert (counts.in_progress, counts.queued, counts.awaiting_review) == (2, 1, 2)
    assert (counts.blocked, counts.failed, counts.starts) == (1, 1, 1)
    assert counts.actions["retired"] == 1
    assert counts.actions["orphaned"] == 1
    fields = summary.log_fields()
    assert {k: fields[k] for k in ("in_progress", "queued", "awaiting_review", "failed")} == {
        "in_progress": 2,
        "queued": 1,
        "awaiting_review": 2,
        "failed": 1,
    }
    samples = _samples(_text(summary.metrics(finished_at=FINISHED)))
    assert samples[_key("run_in_progress")] == 2
    assert samples[_key("run_awaiting_review")] == 2
    assert samples[_key("run_failed")] == 1
    assert samples[_key("run_success")] == 1
    assert samples[_key("last_success_timestamp_seconds")] == FINISHED


def test_a_run_that_failed_before_it_had_a_plan_counts_nothing() -> None:
    """No report (an error before the plan): every count is zero, run_success 0."""
    summary = RunSummary.of(
        "apply", None, cast("VoiceIdApi", _Calls()), duration_s=0.1, success=False
    )
    counts = summary.counts
    assert (counts.in_progress, counts.queued, counts.awaiting_review, counts.failed) == (
        0,
        0,
        0,
        0,
    )
    assert counts.actions == {}
    samples = _samples(_text(summary.metrics(finished_at=FINISHED)))
    assert samples[_key("run_success")] == 0


def _text(metrics: RunMetrics) -> str:
    from prometheus_client.exposition import generate_latest

    return generate_latest(build_registry(metrics)).decode()


# -- against the sandbox: a run that leaves long jobs running is a success ------------------------


def _apply_with_metrics(specs: Path, state: Path, metrics: Path, *extra: str) -> int:
    return main(
        [
            "apply",
            str(specs),
            "--state",
            str(state),
            "--tps",
            "0",
            "--log-format",
            "json",
            "--metrics-file",
            str(metrics),
            *extra,
        ]
    )


def test_a_run_that_starts_long_jobs_is_a_success_with_jobs_in_progress(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """Jobs that will run for hours: the run that started them exits 0 with run_success 1,
    run_in_progress counting them, and a fresh last-success timestamp (the staleness alert of
    docs/deployment.md stays quiet); so does the next run, which finds them still running."""
    world = build_world(voiceid_env, domains=1)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 3, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.freeze_clock()  # the jobs never end while the test runs
    metrics = tmp_path / "voiceid.prom"
    for _ in range(2):
        assert _apply_with_metrics(specs, state, metrics) == EXIT_OK
        samples = _samples(metrics.read_text())
        assert samples[_key("run_success")] == 1
        assert samples[_key("run_in_progress")] == 1  # one slot in the domain
        assert samples[_key("run_queued")] == 2
        assert samples[_key("run_failed")] == 0
        assert (
            samples[_key("last_success_timestamp_seconds")]
            == samples[_key("last_run_timestamp_seconds")]
        )


def test_a_wait_that_times_out_with_jobs_running_is_a_success(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """apply --wait --timeout (the CronJob's short wait): the timeout ends the wait with the
    job still running; the run exits 0 and its metrics say in progress, not failed."""
    world = build_world(voiceid_env, domains=1)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.freeze_clock()
    metrics = tmp_path / "voiceid.prom"
    extra = ("--wait", "--poll-interval", "0.05", "--timeout", "0.2")
    assert _apply_with_metrics(specs, state, metrics, *extra) == EXIT_OK
    samples = _samples(metrics.read_text())
    assert samples[_key("run_success")] == 1
    assert samples[_key("run_in_progress")] == 1
    assert samples[_key("run_starts")] == 1
