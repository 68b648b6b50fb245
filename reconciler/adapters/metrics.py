"""Prometheus metrics of one reconciler run: a node-exporter textfile, or a Pushgateway push.

Every run is a fresh process (a cron job, a CronJob pod), so every metric is a *gauge* that
describes the run that wrote it; nothing accumulates in memory between runs. Each call builds
its own :class:`~prometheus_client.CollectorRegistry` (never the process-global one), so the
output holds exactly these metrics and nothing of Python's or the process's own.

Metrics (all carry a ``shard`` label, e.g. ``shard="0/4"``, when the run was one shard):

``voiceid_reconciler_jobs{status}``
    Specs whose latest job has this Voice ID status (``SUBMITTED``, ``IN_PROGRESS``,
    ``COMPLETED``, ``COMPLETED_WITH_ERRORS``, ``FAILED``, ...), as observed by the run.
``voiceid_reconciler_plan_actions{action}``
    Plan actions of the run by kind (``start``, ``retry``, ``queued``, ``blocked``, ``in-sync``,
    ``superseded``, ``orphaned``).
``voiceid_reconciler_run_starts``
    Jobs the run started (Start calls that created or returned a job).
``voiceid_reconciler_run_in_progress``
    Specs whose job is still running (SUBMITTED or IN_PROGRESS) when the run ended: progress,
    not a failure (a run that leaves jobs running succeeded; the next run carries on).
``voiceid_reconciler_run_queued``
    Specs left waiting for their domain's active-job quota.
``voiceid_reconciler_run_awaiting_review``
    Specs whose start no review approved (changed on main without a reviewed plan, a manifest
    replaced after review, a retry beyond the reviewed ``maxAttempts``): held, not started,
    not a failure of the run; they wait for a re-plan (docs/operating.md).
``voiceid_reconciler_run_blocked``
    Specs that cannot start (a missing domain or watchlist, an inline roster, ...).
``voiceid_reconciler_run_failed``
    Specs whose job ended FAILED with no attempts left (the ``failed`` of ``--fail-on``): they
    stay failed until their spec changes (a new ``revision``) or is removed.
``voiceid_reconciler_api_calls{operation}``
    Voice ID API calls the run made, by operation (retries included).
``voiceid_reconciler_api_throttles{operation}``
    ``ThrottlingException`` answers the run received, by operation.
``voiceid_reconciler_run_duration_seconds``
    Wall-clock duration of the run.
``voiceid_reconciler_run_success``
    1 when the run succeeded (exited 0: converged, or progressing — jobs still running, starts
    queued or awaiting review), else 0 (an error, a held lock, a job that ended FAILED or
    COMPLETED_WITH_ERRORS in this run, a ``--fail-on`` class, ``--fail-on-timeout``).
``voiceid_reconciler_last_run_timestamp_seconds``
    Unix time at which the run finished.
``voiceid_reconciler_last_success_timestamp_seconds``
    Unix time at which the last *successful* run finished. A successful run sets it; a failed
    run leaves the previous value in place: :func:`write_textfile` carries it over from the file
    it replaces, and :func:`push` pushes a failed run with POST, which keeps the metric names
    the push does not mention. Alert on
    ``time() - voiceid_reconciler_last_success_timestamp_seconds``.

No metric carries a spec name, a speaker id or an S3 location: labels are statuses, action
kinds, operation names and the shard, so the number of series stays small and fixed.
"""

from __future__ import annotations

import contextlib
import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.adapters import urls

if TYPE_CHECKING:  # prometheus_client is imported by the runs that write metrics, when they do
    from prometheus_client import CollectorRegistry

PREFIX = "voiceid_reconciler_"
LAST_SUCCESS = f"{PREFIX}last_success_timestamp_seconds"
DEFAULT_JOB = "voiceid-reconciler"
PUSH_TIMEOUT = 10.0
"""Seconds to wait for the Pushgateway: metrics must never hold a finished run up for long."""


@dataclass
class RunMetrics:
    """What one run did, as the metrics report it."""

    jobs_by_status: dict[str, int] = field(default_factory=dict)
    """Voice ID status -> number of specs whose latest job has that status."""
    actions: dict[str, int] = field(default_factory=dict)
    """Plan action kind -> number of actions of that kind."""
    starts: int = 0
    in_progress: int = 0
    """Specs whose job is still running at the end of the run (progressing)."""
    queued: int = 0
    awaiting_review: int = 0
    """Specs whose start waits for a review (not started, not a failure)."""
    blocked: int = 0
    failed: int = 0
    """Specs whose job ended FAILED with no attempts left."""
    api_calls: dict[str, int] = field(default_factory=dict)
    """Voice ID operation -> calls made (retries included)."""
    throttles: dict[str, int] = field(default_factory=dict)
    """Voice ID operation -> ThrottlingException answers."""
    duration_seconds: float = 0.0
    success: bool = False
    finished_at: float = 0.0
    """Unix time at which the run finished."""
    shard: str | None = None
    """``INDEX/COUNT`` (``"0/4"``) when the run was one shard of several, else None."""


def build_registry(metrics: RunMetrics, *, last_success: float | None = None) -> CollectorRegistry:
    """A fresh registry holding ``metrics``.

    ``last_success`` is the previous successful run's finish time, reported when this run did
    not succeed (a successful run reports its own ``finished_at``).
    """
    # Imported here, not at the top: validate, plan --offline and --version never write metrics,
    # and their start-up is measured without prometheus_client (tests/test_imports.py pins it).
    from prometheus_client import CollectorRegistry, Gauge

    registry = CollectorRegistry(auto_describe=True)
    shard = {"shard": metrics.shard} if metrics.shard is not None else {}

    def gauge(name: str, documentation: str, value: float) -> None:
        metric = Gauge(PREFIX + name, documentation, list(shard), registry=registry)
        (metric.labels(**shard) if shard else metric).set(value)

    def gauges(name: str, documentation: str, label: str, values: dict[str, int]) -> None:
        metric = Gauge(PREFIX + name, documentation, [*shard, label], registry=registry)
        for key, value in sorted(values.items()):
            metric.labels(**shard, **{label: key}).set(value)

    gauges(
        "jobs",
        "Specs whose latest job has this Voice ID status.",
        "status",
        metrics.jobs_by_status,
    )
    gauges("plan_actions", "Plan actions of the run by kind.", "action", metrics.actions)
    gauge("run_starts", "Jobs the run started.", metrics.starts)
    gauge(
        "run_in_progress",
        "Specs whose job is still running when the run ended (progressing, not failed).",
        metrics.in_progress,
    )
    gauge("run_queued", "Specs waiting for their domain's active-job quota.", metrics.queued)
    gauge(
        "run_awaiting_review",
        "Specs whose start no review approved (held, not started, not a failure).",
        metrics.awaiting_review,
    )
    gauge("run_blocked", "Specs that cannot start.", metrics.blocked)
    gauge("run_failed", "Specs whose job ended FAILED with no attempts left.", metrics.failed)
    gauges(
        "api_calls",
        "Voice ID API calls of the run by operation (retries included).",
        "operation",
        metrics.api_calls,
    )
    gauges(
        "api_throttles",
        "Voice ID ThrottlingException answers of the run by operation.",
        "operation",
        metrics.throttles,
    )
    gauge("run_duration_seconds", "Wall-clock duration of the run.", metrics.duration_seconds)
    gauge(
        "run_success",
        "1 when the run exited 0 (converged or progressing), else 0.",
        1.0 if metrics.success else 0.0,
    )
    gauge(
        "last_run_timestamp_seconds",
        "Unix time at which the last run finished.",
        metrics.finished_at,
    )
    # A failed run must not drop the last success: the textfile is replaced whole, and an alert
    # on time() - last_success would lose its series (an absent series alerts on nothing)
    # exactly when runs start failing.
    success_at = metrics.finished_at if metrics.success else last_success
    if success_at is not None:
        gauge(
            "last_success_timestamp_seconds",
            "Unix time at which the last successful run finished.",
            success_at,
        )
    return registry


def write_textfile(metrics: RunMetrics, path: Path) -> None:
    """Write ``metrics`` for node-exporter's textfile collector (``path`` should end ``.prom``).

    The file is written beside ``path`` and renamed over it, so a collector never reads half a
    file; the directory is created when missing. A failed run keeps the previous file's
    ``last_success_timestamp_seconds``.
    """
    from prometheus_client.exposition import write_to_textfile

    path.parent.mkdir(parents=True, exist_ok=True)
    # Read from the file about to be replaced: the run is a fresh process with no memory of the
    # last one, and the file is the only place the previous success is kept.
    previous = None if metrics.success else _last_success_in(path, metrics.shard)
    write_to_textfile(str(path), build_registry(metrics, last_success=previous))


def _last_success_in(path: Path, shard: str | None) -> float | None:
    """The last-success timestamp recorded in an earlier metrics file (None when unknown)."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    with contextlib.suppress(ValueError):  # a damaged file only loses the carried-over value
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                # By shard: a file last written by another shard (or by the runs before sharding
                # was turned on) holds that run's success, which is not this shard's to carry
                # over.
                if sample.name == LAST_SUCCESS and sample.labels.get("shard") == shard:
                    return float(sample.value)
    return None


class PushError(OSError):
    """The Pushgateway could not be used; the message names it by its label (never its
    password or path)."""


def gateway_url(gateway: str) -> str:
    """``--pushgateway`` as the URL pushed to (``host:9091`` is ``http://host:9091``), checked:
    http or https, a host, a port in range. Raises :class:`PushError` naming it by its label."""
    # prometheus_client's own examples name the gateway 'localhost:9091', and urlsplit reads
    # that as a scheme 'localhost': the scheme is put in before the URL is checked.
    full = gateway if "://" in gateway else f"http://{gateway}"
    try:
        urls.check(full, schemes=("http", "https"))
    except urls.UrlError as err:
        raise PushError(f"{gateway_label(gateway)}: {err}") from None
    return full


def gateway_label(gateway: str) -> str:
    """The Pushgateway as logs and errors may name it (:func:`reconciler.adapters.urls.label`)."""
    return urls.label(gateway if "://" in gateway else f"http://{gateway}")


def push(metrics: RunMetrics, gateway: str, job: str = DEFAULT_JOB) -> None:
    """Push ``metrics`` to a Prometheus Pushgateway (``http://host:9091`` or ``host:9091``;
    ``http://user:password@host:9091``: HTTP Basic authentication, the credentials sent in a
    header, never in the URL a library's error would quote).

    The grouping key is ``job`` plus ``shard`` when set, so the shards of one run never
    overwrite each other. A successful run replaces its whole group (PUT); a failed run replaces
    only the metrics it reports (POST), which keeps the last successful run's
    ``last_success_timestamp_seconds``. Raises :class:`PushError` (an :class:`OSError`) when
    the gateway is not a URL, cannot be reached or answers with an error.
    """
    from prometheus_client.exposition import (
        basic_auth_handler,
        default_handler,
        push_to_gateway,
        pushadd_to_gateway,
    )

    # user:password@ taken out of the URL and sent as a Basic header: urllib quotes the URL in
    # its errors, and those end up in logs and CI output.
    bare = urls.credentials(gateway_url(gateway))
    handler: Any = default_handler
    if bare.username is not None or bare.password is not None:
        handler = functools.partial(
            basic_auth_handler, username=bare.username or "", password=bare.password or ""
        )
    # One group per shard: a PUT of shard 0 would otherwise replace the metrics shard 1 pushed a
    # moment before.
    grouping_key = {"shard": metrics.shard} if metrics.shard is not None else None
    send = push_to_gateway if metrics.success else pushadd_to_gateway
    try:
        send(
            bare.url,
            job=job,
            registry=build_registry(metrics),
            grouping_key=grouping_key,
            # A third of prometheus_client's 30 s: the push is the run's last step, and a
            # gateway that takes the connection and never answers would hold the finished run
            # and its pod up.
            timeout=PUSH_TIMEOUT,
            handler=handler,
        )
    except (OSError, ValueError) as err:
        # prometheus_client's own errors say the status; urllib's the socket's reason; a
        # ValueError (http.client's InvalidURL) may quote the URL: only its class is told
        reason = getattr(err, "reason", None)
        said = reason.strerror if isinstance(reason, OSError) and reason.strerror else None
        code = getattr(err, "code", None)
        if isinstance(code, int):  # urllib's HTTPError
            said = f"HTTP {code}"
        elif said is None:
            said = str(err) if type(err) is OSError else type(err).__name__
        raise PushError(f"{gateway_label(gateway)}: the push failed ({said})") from None
