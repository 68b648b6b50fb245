"""The command line: parse arguments, call the engine, print, choose the exit code.

This is the only module that catches :class:`~reconciler.errors.ReconcilerError`, prints it
as one line and decides the exit status (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import structlog

from reconciler import __version__
from reconciler.errors import (
    PlanChecksumMismatch,
    ReconcilerError,
    SpecErrors,
    StateError,
    StateLockedError,
    UnsafePlanError,
)
from reconciler.plan import DEFAULT_LIST_LAG_HORIZON, DEFAULT_START_LIMIT
from reconciler.state import State

if TYPE_CHECKING:
    from reconciler.engine import ApplyReport, Shard
    from reconciler.manifests import Manifests
    from reconciler.state import StateStore
    from reconciler.voiceid import VoiceId

log = structlog.get_logger("reconciler.cli")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PENDING = 2
"""``plan --detailed-exitcode``: starts are pending."""
EXIT_TIMEOUT = 3
"""``apply --wait``: the timeout passed before every job ended."""
EXIT_LOCKED = 4
"""Another run holds the state lock for longer than ``--lock-timeout``."""
EXIT_JOB_FAILED = 5
"""A managed job ended FAILED with no attempts left."""
EXIT_PLAN_CHANGED = 6
"""``apply --plan-checksum``: the plan is not the reviewed one."""
EXIT_UNSAFE = 7
"""The plan starts more jobs than ``--start-limit`` allows (use ``--force``)."""
EXIT_COMPLETED_WITH_ERRORS = 8
"""A managed job ended COMPLETED_WITH_ERRORS (some requests failed: ``status --details``)."""

STATE_ENV = "VOICEID_RECONCILER_STATE"
SHARD_COUNT_ENV = "VOICEID_RECONCILER_SHARD_COUNT"
LAG_ENV = "VOICEID_RECONCILER_LIST_LAG_HORIZON"


def _default_shard() -> str | None:
    count = os.environ.get(SHARD_COUNT_ENV)
    index = os.environ.get("JOB_COMPLETION_INDEX")
    return f"{index}/{count}" if count and index is not None else None


_EXIT_CODES: dict[type[ReconcilerError], int] = {
    StateLockedError: EXIT_LOCKED,
    PlanChecksumMismatch: EXIT_PLAN_CHANGED,
    UnsafePlanError: EXIT_UNSAFE,
}


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,  # so a subcommand does not reset a --debug given before it
        help="show tracebacks instead of one-line errors",
    )

    specs = argparse.ArgumentParser(add_help=False)
    specs.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files or directories (searched recursively for *.yaml, *.yml); default specs/",
    )
    specs.add_argument(
        "-l",
        "--selector",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="only specs whose labels match (repeatable; KEY!=VALUE negates)",
    )

    state = argparse.ArgumentParser(add_help=False)
    state.add_argument(
        "--state",
        default=os.environ.get(STATE_ENV, "voiceid-state.json"),
        help=f"state: a local file or s3://bucket/key (default ${STATE_ENV} or voiceid-state.json)",
    )
    state.add_argument(
        "--lock-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for another run's state lock (then exit 4)",
    )
    state.add_argument(
        "--lock-ttl",
        type=float,
        default=None,
        help="S3 state: seconds after which a lock of a run that died expires (default 120)",
    )

    parser = argparse.ArgumentParser(
        prog="voiceid-reconciler",
        description="Declarative GitOps reconciler for Amazon Connect Voice ID batch jobs.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "validate",
        parents=[common, specs],
        help="check spec files and report every problem with file:line:column",
        description="Check spec files; exit 1 and list every problem when any is invalid.",
    )
    sub.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of a spec document",
        description="Print the JSON Schema of a spec document (for editors and "
        "yaml-language-server).",
    )
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--profile", help="AWS profile (default: the standard AWS configuration)")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION / the profile's)")
    aws.add_argument(
        "--tps",
        type=float,
        default=2.0,
        help="client-side limit of Voice ID calls per second per API (default 2, the quota)",
    )
    aws.add_argument(
        "--list-lag-horizon",
        type=float,
        default=float(os.environ.get(LAG_ENV, DEFAULT_LIST_LAG_HORIZON)),
        metavar="SECONDS",
        help="how long a new job may be missing from Voice ID's List: unconfirmed starts and "
        f"a fresh state's first listing wait this long before starting (default ${LAG_ENV} "
        f"or {DEFAULT_LIST_LAG_HORIZON:g}; 0 trusts List at once)",
    )
    aws.add_argument(
        "--shard",
        default=_default_shard(),
        metavar="INDEX/COUNT",
        help="only the specs of one of COUNT shards, partitioned by domain (default from "
        f"$JOB_COMPLETION_INDEX and ${SHARD_COUNT_ENV} in a Kubernetes Indexed Job)",
    )
    aws.add_argument(
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="log events as console lines (auto on a terminal) or JSON lines",
    )

    plan = sub.add_parser(
        "plan",
        parents=[common, specs, state, aws],
        help="show what apply would do",
        description="Compare the specs with Voice ID and show what apply would do.",
    )
    plan.add_argument(
        "--offline",
        action="store_true",
        help="plan from the specs and the state file alone (no credentials, no API calls)",
    )
    plan.add_argument(
        "--format",
        choices=("text", "json", "markdown"),
        default="text",
        help="text for people, json for tools, markdown for a pull-request comment",
    )
    plan.add_argument("--out", type=Path, help="also write the JSON plan to this file")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when starts are pending, 0 when none are, 1 on error",
    )
    plan.add_argument(
        "--max-active",
        type=int,
        default=1,
        help="active jobs allowed per domain and kind (Voice ID's quota; default 1)",
    )

    apply = sub.add_parser(
        "apply",
        parents=[common, specs, state, aws],
        help="start the jobs that are missing",
        description="Plan, then start only the missing jobs (at most --max-active per domain "
        "and kind; the rest are queued for a later run or for --wait).",
    )
    apply.add_argument("--dry-run", action="store_true", help="print the plan; change nothing")
    apply.add_argument("--max-starts", type=int, help="start at most this many jobs in this run")
    apply.add_argument(
        "--plan-checksum",
        metavar="CHECKSUM",
        help="act only if the plan computed now has this checksum (the reviewed plan; exit 6)",
    )
    apply.add_argument(
        "--start-limit",
        type=int,
        default=DEFAULT_START_LIMIT,
        help=f"refuse a plan with more pending starts than this (default {DEFAULT_START_LIMIT}; "
        "exit 7)",
    )
    apply.add_argument("--force", action="store_true", help="lift the --start-limit safety limit")
    apply.add_argument(
        "--metrics-file",
        type=Path,
        metavar="PATH",
        help="write Prometheus metrics in the node-exporter textfile format",
    )
    apply.add_argument(
        "--pushgateway", metavar="URL", help="push Prometheus metrics to this Pushgateway"
    )
    apply.add_argument(
        "--wait",
        action="store_true",
        help="keep going until every job has ended, starting queued jobs as slots free up",
    )
    apply.add_argument("--timeout", type=float, help="with --wait: give up after SECONDS (exit 3)")
    apply.add_argument(
        "--poll-interval", type=float, default=15.0, help="with --wait: seconds between polls"
    )
    apply.add_argument("--max-active", type=int, default=1, help="active jobs per domain and kind")

    status = sub.add_parser(
        "status",
        parents=[common, state, aws],
        help="show every spec's job and status from the state",
        description="Show every spec's job, status, progress, timings and failure details.",
    )
    status.add_argument(
        "--refresh", action="store_true", help="describe in-flight jobs first and save the state"
    )
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument(
        "--details",
        action="store_true",
        help="on a terminal only: list the failed requests of jobs that ended with errors",
    )

    _add_tool_commands(sub, common=common, specs=specs, state=state, aws=aws)
    return parser


def _add_tool_commands(
    sub: Any,
    *,
    common: argparse.ArgumentParser,
    specs: argparse.ArgumentParser,
    state: argparse.ArgumentParser,
    aws: argparse.ArgumentParser,
) -> None:
    """The state, demo and sandbox commands."""
    state_cmd = sub.add_parser("state", parents=[common], help="inspect and repair the state")
    state_sub = state_cmd.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    show = state_sub.add_parser(
        "show", parents=[common, state], help="print the state (summary, or --format json)"
    )
    show.add_argument("--format", choices=("text", "json"), default="text")
    state_sub.add_parser(
        "rebuild",
        parents=[common, specs, state, aws],
        help="re-derive the state from Voice ID (after a lost or corrupt state)",
        description="List every domain's jobs and match them to the specs by the hash in their "
        "JobName; write a new state (an unreadable old one is replaced).",
    )
    state_sub.add_parser(
        "unlock", parents=[common, state], help="break the state lock of a run that is gone"
    )

    demo = sub.add_parser(
        "demo",
        parents=[common],
        help="run validate, plan, apply --wait and status against a local sandbox",
        description="Start a local Voice ID sandbox with a seeded world and run the example "
        "specs through validate, plan, apply --wait and status. Needs no AWS account.",
    )
    demo.add_argument("paths", nargs="*", type=Path, metavar="PATH", help="default specs/")
    demo.add_argument(
        "--job-duration", type=float, default=4.0, help="seconds a sandbox job runs (default 4)"
    )

    sandbox = sub.add_parser(
        "sandbox", parents=[common], help="the local Voice ID sandbox (with S3 and KMS)"
    )
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    serve = sandbox_sub.add_parser(
        "serve",
        parents=[common],
        help="serve a sandbox on 127.0.0.1 in the foreground",
        description="Serve Voice ID, S3 and KMS on one loopback port and print the AWS "
        "environment variables to export.",
    )
    serve.add_argument("--port", type=int, default=0, help="port (default: any free one)")
    serve.add_argument("--profile", choices=("fast", "realistic"), default="fast")
    serve.add_argument("--seed", action="store_true", help="create the demo world")
    serve.add_argument("--job-duration", type=float, default=5.0)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    args.debug = getattr(args, "debug", False)
    try:
        return _dispatch(args)
    except SpecErrors as err:
        if args.debug:
            raise
        for error in err.errors:
            print(str(error), file=sys.stderr)
        if len(err.errors) > 1:
            print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_ERROR
    except (StateLockedError, PlanChecksumMismatch, UnsafePlanError) as err:
        if args.debug:
            raise
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return _EXIT_CODES[type(err)]
    except ReconcilerError as err:
        if args.debug:
            raise
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print(
            "voiceid-reconciler: interrupted; the state was saved, run again to continue",
            file=sys.stderr,
        )
        return 130


def _paths(args: argparse.Namespace) -> list[Path]:
    return list(args.paths) or [Path("specs")]


def _dispatch(args: argparse.Namespace) -> int:
    handlers = {
        "validate": _validate,
        "schema": _schema,
        "plan": _plan,
        "apply": _apply,
        "status": _status,
        "demo": _demo,
        "sandbox": _sandbox,
        "state": _state_command,
    }
    return handlers[args.command](args)


def _schema(args: argparse.Namespace) -> int:
    from reconciler.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from reconciler.demo import run_demo

    return run_demo(_paths(args), job_duration=args.job_duration)


def _sandbox(args: argparse.Namespace) -> int:
    from reconciler.sandbox.serve import serve

    serve(port=args.port, profile=args.profile, seed=args.seed, job_duration=args.job_duration)
    return EXIT_OK


def _fail(message: str) -> NoReturn:
    raise ReconcilerError(message)


def _validate(args: argparse.Namespace) -> int:
    from reconciler.engine import load
    from reconciler.spec import discover

    paths = _paths(args)
    specs = load(paths, args.selector)
    files = len(discover(paths))
    print(f"OK: {len(specs)} spec{'s' if len(specs) != 1 else ''} in {files} file(s) are valid")
    return EXIT_OK


def _shard(args: argparse.Namespace) -> Shard | None:
    from reconciler.engine import Shard

    text = getattr(args, "shard", None)
    return Shard.parse(text) if text else None


def _store(args: argparse.Namespace) -> StateStore:
    from reconciler.engine import open_store

    shard = _shard(args)
    return open_store(
        shard.state_location(args.state) if shard else args.state,
        lock_timeout=getattr(args, "lock_timeout", 60.0),
        lock_ttl=getattr(args, "lock_ttl", None),
        profile=getattr(args, "profile", None),
        region=getattr(args, "region", None),
    )


def _state_command(args: argparse.Namespace) -> int:
    from reconciler import render

    store = _store(args)
    if args.state_command == "show":
        state = store.read()
        sys.stdout.write(state.to_json() if args.format == "json" else render.state_text(state))
        return EXIT_OK
    if args.state_command == "unlock":
        print(store.unlock())
        return EXIT_OK
    from reconciler.engine import load, rebuild

    specs = load(_paths(args), [])
    voiceid = _voiceid(args)
    with store.locked():
        try:
            previous = store.read()
        except StateError as err:
            log.warning("state.rebuild_replaces_unreadable_state", error=str(err))
            previous = State()
        state = rebuild(specs, voiceid, previous, _manifests(args))
        store.write(state)
    sys.stdout.write(render.state_text(state))
    return EXIT_OK


def _manifests(args: argparse.Namespace) -> Manifests:
    from reconciler.manifests import Manifests, make_s3_client

    return Manifests(make_s3_client(profile=args.profile, region=args.region))


def _voiceid(args: argparse.Namespace) -> VoiceId:
    from reconciler.voiceid import VoiceId, make_client

    configure_logging(args.log_format)
    return VoiceId(make_client(profile=args.profile, region=args.region), tps=args.tps)


def _plan(args: argparse.Namespace) -> int:
    from reconciler import render
    from reconciler.engine import load, plan_offline, plan_online

    if args.max_active < 1:
        _fail("--max-active must be at least 1")
    specs = load(_paths(args), args.selector)
    state = _store(args).read()
    if args.offline:
        result = plan_offline(specs, state, max_active=args.max_active, shard=_shard(args))
    else:
        result = plan_online(
            specs,
            state,
            _voiceid(args),
            _manifests(args),
            max_active=args.max_active,
            shard=_shard(args),
            horizon=args.list_lag_horizon,
        )
    as_json = render.plan_json(result.plan, offline=result.offline, observed_at=result.observed_at)
    if args.out:
        args.out.write_text(as_json, encoding="utf-8")
    if args.format == "json":
        sys.stdout.write(as_json)
    elif args.format == "markdown":
        sys.stdout.write(
            render.plan_markdown(
                result.plan, offline=result.offline, observed_at=result.observed_at
            )
        )
    else:
        sys.stdout.write(
            render.plan_text(
                result.plan,
                offline=result.offline,
                observed_at=result.observed_at,
                colour=render.use_colour(sys.stdout),
            )
        )
    if args.detailed_exitcode and result.plan.pending:
        return EXIT_PENDING
    return EXIT_OK


def _apply(args: argparse.Namespace) -> int:
    from reconciler import render
    from reconciler.engine import ApplyOptions, apply, load

    if args.max_active < 1:
        _fail("--max-active must be at least 1")
    if args.max_starts is not None and args.max_starts < 0:
        _fail("--max-starts must be 0 or more")
    specs = load(_paths(args), args.selector)
    voiceid = _voiceid(args)
    options = ApplyOptions(
        max_active=args.max_active,
        dry_run=args.dry_run,
        max_starts=args.max_starts,
        wait=args.wait,
        timeout=args.timeout,
        poll_interval=args.poll_interval,
        plan_checksum=args.plan_checksum,
        shard=_shard(args),
        list_lag_horizon=args.list_lag_horizon,
        start_limit=None if args.force else args.start_limit,
    )
    store = _store(args)
    started = time.monotonic()
    progress = render.Progress(sys.stderr)
    report: ApplyReport | None = None
    with _terminate_as_interrupt():
        try:
            report = apply(
                specs,
                store,
                voiceid,
                options,
                manifests=_manifests(args),
                progress=progress if args.wait else None,
            )
        finally:
            progress.close()
            _emit_metrics(args, report, voiceid, time.monotonic() - started)
    colour = render.use_colour(sys.stdout)
    sys.stdout.write(render.apply_text(report, dry_run=args.dry_run, colour=colour))
    log.info(
        "run.summary",
        command="apply",
        actions=report.plan.counts(),
        started=len(report.started),
        queued=len(report.queued_specs()),
        blocked=report.plan.counts()["blocked"],
        api_calls=dict(sorted(voiceid.calls.items())),
        throttles=dict(sorted(voiceid.throttles.items())),
        duration_s=round(time.monotonic() - started, 3),
    )
    if report.timed_out:
        return EXIT_TIMEOUT
    if report.failed:
        return EXIT_JOB_FAILED
    if report.with_errors:
        return EXIT_COMPLETED_WITH_ERRORS
    return EXIT_OK


def _emit_metrics(
    args: argparse.Namespace, report: ApplyReport | None, voiceid: VoiceId, duration: float
) -> None:
    """--metrics-file / --pushgateway: what the run did (also when it failed: success 0)."""
    if not (args.metrics_file or args.pushgateway):
        return
    from reconciler.metrics import RunMetrics, push, write_textfile
    from reconciler.plan import ActionKind

    actions = report.plan.actions if report else ()
    statuses: dict[str, int] = {}
    for action in actions:
        if action.kind is ActionKind.IN_SYNC and action.status:
            statuses[action.status] = statuses.get(action.status, 0) + 1
    counts = report.plan.counts() if report else {}
    metrics = RunMetrics(
        jobs_by_status=statuses,
        actions=counts,
        starts=len(report.started) if report else 0,
        queued=len(report.queued_specs()) if report else 0,
        blocked=counts.get("blocked", 0),
        api_calls=dict(voiceid.calls),
        throttles=dict(voiceid.throttles),
        duration_seconds=duration,
        success=report is not None and not report.timed_out and not report.failed,
        finished_at=time.time(),
        shard=args.shard,
    )
    try:
        if args.metrics_file:
            write_textfile(metrics, args.metrics_file)
        if args.pushgateway:
            push(metrics, args.pushgateway)
    except OSError as err:  # metrics must never turn a good run into a failed one
        log.warning("metrics.not_written", error=str(err))


def _status(args: argparse.Namespace) -> int:
    from reconciler import render
    from reconciler.engine import refresh

    store = _store(args)
    if args.refresh:
        voiceid = _voiceid(args)
        with store.locked():
            state = store.read()
            refresh(state, voiceid)
            store.write(state)
    else:
        state = store.read()
    if args.format == "json":
        sys.stdout.write(render.status_json(state))
    else:
        sys.stdout.write(render.status_text(state, colour=render.use_colour(sys.stdout)))
    if args.details:
        _details(args, state)
    return EXIT_OK


def _details(args: argparse.Namespace, state: State) -> None:
    """The failed requests of jobs that ended with errors. Their messages may name speakers or
    audio, so they go to an interactive terminal only, never to a pipe, a file or a log."""
    from reconciler.engine import failed_requests_of

    if not sys.stdout.isatty():
        print(
            "Failed requests: details are shown on a terminal only (they may hold personal data)."
        )
        return
    for key, failures in failed_requests_of(state, _voiceid(args), _manifests(args)):
        print(f"\n{key}: {len(failures)} failed request(s)")
        for failure in failures:
            print(f"  {failure.request_id}  {failure.error_code}  {failure.message}")


@contextlib.contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """SIGTERM (a CronJob's deadline, a pod eviction) stops a run like Ctrl-C does."""

    def _raise(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def configure_logging(fmt: str = "auto") -> None:
    """structlog to stderr: console lines on a terminal, JSON lines otherwise."""
    console = fmt == "console" or (fmt == "auto" and sys.stderr.isatty())
    renderer: Any = (
        structlog.dev.ConsoleRenderer(colors=not os.environ.get("NO_COLOR"))
        if console
        else structlog.processors.JSONRenderer(sort_keys=True)
    )
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=False,
    )
