"""The one lazy registry: each command's module by name, and the use cases and adapters a
session runs.

This is the only module of the product that imports inside functions. Start-up is the price of
every import: ``--version`` answers in 0.04 s because it imports nothing of the parsers, and
``validate`` needs neither botocore (0.2 s to import), the runner (0.1-0.2 s: the observation,
the notifier and its sinks, import) nor the status page. So the command line imports, for one
command, only that command's module (:data:`COMMANDS`), and a session reaches the runner's use
cases and builds the adapters through the functions below, which import them only when they
are called. Everything else imports at the top of its module, where a reader expects it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # the names below are imported when a function here is called, not before
    from reconciler.adapters.gitfiles import Exposed
    from reconciler.adapters.metrics import RunMetrics
    from reconciler.adapters.notify import Sink, SinkWorld
    from reconciler.adapters.objects import Manifests
    from reconciler.adapters.statestore import BaseStateStore
    from reconciler.adapters.voiceid import VoiceId
    from reconciler.core.jobs import FailedRequest
    from reconciler.core.spec import LoadedSpec
    from reconciler.core.state import State
    from reconciler.runner.adopt_values import ImportOptions, ImportReport
    from reconciler.runner.apply import Progress
    from reconciler.runner.context import ApplyReport, Run, RunOptions
    from reconciler.runner.notify import Notifier
    from reconciler.runner.ports import ObjectStore, StateStore, VoiceIdApi
    from reconciler.runner.summary import RunSummary
    from reconciler.runner.usecases import Forgotten, PlanResult

COMMANDS: dict[str, str] = {
    "validate": "reconciler.cli.cmd_validate",
    "schema": "reconciler.cli.cmd_validate",
    "plan": "reconciler.cli.cmd_plan",
    "apply": "reconciler.cli.cmd_apply",
    "status": "reconciler.cli.cmd_status",
    "state": "reconciler.cli.cmd_state",
    "import": "reconciler.cli.cmd_import",
    "demo": "reconciler.cli.cmd_tools",
    "sandbox": "reconciler.cli.cmd_tools",
}
"""Every command, by the module that registers its parser and runs it (in ``--help``'s order)."""


def command_modules(argv: Sequence[str]) -> list[ModuleType]:
    """The modules whose parsers ``argv`` needs: the command it names, or, when it names none
    (or asks for help before naming one), every command, for the listing in ``--help`` and
    the parser's own "invalid choice" error. An option's value that happens to be a command's
    name (``--state plan apply``) can pick the wrong module: :func:`reconciler.cli.app.main`
    then parses again with every command."""
    for word in argv:
        if word in ("-h", "--help"):
            break
        if word in COMMANDS:
            return [importlib.import_module(COMMANDS[word])]
    return all_command_modules()


def all_command_modules() -> list[ModuleType]:
    """Every command's module, once each, in :data:`COMMANDS`' order."""
    return [importlib.import_module(name) for name in dict.fromkeys(COMMANDS.values())]


APP = "reconciler.cli.app"
"""The command line proper: it parses and runs one command (and imports this module for the
table above, hence it is loaded by name, as the commands are)."""


def run_cli(argv: Sequence[str] | None) -> int:
    """The command line proper (:data:`APP`), imported only past ``--version``."""
    status: int = importlib.import_module(APP).main(argv)
    return status


def tune_collector() -> None:
    """No garbage-collector scans while the run is built (:mod:`reconciler.cli.collector`)."""
    from reconciler.cli import collector

    collector.tune()


def aws_client(service: str, *, profile: str | None, region: str | None) -> Any:
    """A botocore client from the standard AWS configuration (botocore imported here)."""
    from reconciler.adapters.aws import make_client

    return make_client(service, profile=profile, region=region)


def state_store(
    location: str,
    *,
    lock_timeout: float,
    lock_ttl: float,
    profile: str | None,
    region: str | None,
) -> BaseStateStore:
    """The state store of ``location``: an S3 object (``s3://``; botocore is imported only
    then) or a local file. Both are the one protocol of :mod:`reconciler.adapters.statestore`."""
    if location.startswith("s3://"):
        from reconciler.adapters.s3store import S3StateStore

        client = aws_client("s3", profile=profile, region=region)
        return S3StateStore(location, client, lock_timeout=lock_timeout, lock_ttl=lock_ttl)
    from reconciler.adapters.localstore import LocalStateStore

    return LocalStateStore(Path(location), lock_timeout=lock_timeout)


def voiceid(client: Any, *, tps: float) -> VoiceId:
    """The Voice ID adapter over a ``voice-id`` client."""
    from reconciler.adapters.voiceid import VoiceId

    return VoiceId(client, tps=tps)


def manifests(client: Any) -> Manifests:
    """The S3 objects adapter (manifests, staging, output files) over an ``s3`` client."""
    from reconciler.adapters.objects import Manifests

    return Manifests(client)


def sinks(urls: Sequence[str], world: SinkWorld) -> dict[str, Sink]:
    """A notification sink per URL (each opened, so a bad one fails before anything runs)."""
    from reconciler.adapters.notify import open_sink

    return {url: open_sink(url, world) for url in dict.fromkeys(urls)}


def sink_world(environ: Any, client: Callable[[str], Any]) -> SinkWorld:
    """What a sink may read to open: the environment, and AWS clients made on demand."""
    from reconciler.adapters.notify import SinkWorld

    return SinkWorld(environ, client)


def last_commit(path: Path) -> str | None:
    """The last commit that touched ``path`` in its git work tree (None without git)."""
    from reconciler.adapters.gitfiles import last_commit as commit

    return commit(path)


def repo_path(path: Path) -> str | None:
    """``path`` relative to its repository's root, found without git (the image has none)."""
    from reconciler.adapters.gitfiles import repo_path as relative

    return relative(path)


def exposed_side_files(where: Path, state: Path | None) -> list[Exposed]:
    """A local state's side files that git holds or would pick up."""
    from reconciler.adapters.gitfiles import exposed_side_files as exposed

    return exposed(where, state)


def notify_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a ``--notify`` URL (its secrets left out), or None."""
    from reconciler.adapters.notify import check_url, redacted

    problem = check_url(url)
    return f"{redacted(url)}: {problem}" if problem else None


def gateway_problem(gateway: str) -> str | None:
    """Why ``gateway`` cannot be a ``--pushgateway`` address, or None."""
    from reconciler.adapters.metrics import PushError, gateway_url

    try:
        gateway_url(gateway)
    except PushError as err:
        return str(err)
    return None


def write_metrics(metrics: RunMetrics, *, textfile: Path | None, gateway: str | None) -> None:
    """Write ``metrics`` to a node-exporter textfile and/or push them to a Pushgateway."""
    from reconciler.adapters.metrics import push, write_textfile

    if textfile is not None:
        write_textfile(metrics, textfile)
    if gateway is not None:
        push(metrics, gateway)


def publish_page(client: Any, uri: str, body: bytes, *, fmt: str) -> None:
    """Put a status page (or its JSON/text) at an S3 URI with the format's media type."""
    from reconciler.adapters.pages import MEDIA_TYPES, publish

    publish(client, uri, body, media_type=MEDIA_TYPES[fmt])


# -- the local sandbox: the server and the demo import botocore and moto -------------------


def run_demo(paths: Sequence[Path], *, cli: Callable[[list[str]], int], job_duration: float) -> int:
    """The demo (:mod:`reconciler.cli.demo`) over ``paths``, else the packaged examples."""
    from reconciler.cli.demo import example_specs
    from reconciler.cli.demo import run_demo as demonstrate

    return demonstrate(list(paths) or [example_specs()], cli=cli, job_duration=job_duration)


def serve_sandbox(args: Any) -> None:
    """``sandbox serve``: the local Voice ID until stopped (:mod:`reconciler.sandbox.serve`)."""
    from reconciler.sandbox.serve import serve_args

    serve_args(args)


# -- the runner's use cases, each imported when a session runs it -------------------------


def apply(
    specs: Sequence[LoadedSpec],
    run: Run,
    *,
    progress: Progress | None = None,
    on_plan: Progress | None = None,
    notifier: Notifier | None = None,
) -> ApplyReport:
    """:func:`reconciler.runner.apply.apply`: observe, plan, start what is missing."""
    from reconciler.runner.apply import apply as converge

    return converge(specs, run, progress=progress, on_plan=on_plan, notifier=notifier)


def plan_offline(specs: Sequence[LoadedSpec], state: State, options: RunOptions) -> PlanResult:
    """:func:`reconciler.runner.usecases.plan_offline`: the plan from the state alone."""
    from reconciler.runner.usecases import plan_offline as offline

    return offline(specs, state, options)


def plan_online(specs: Sequence[LoadedSpec], run: Run) -> PlanResult:
    """:func:`reconciler.runner.usecases.plan_online`: the plan against Voice ID now."""
    from reconciler.runner.usecases import plan_online as online

    return online(specs, run)


def refresh(
    store: StateStore, voiceid: VoiceIdApi, objects: ObjectStore, notifier: Notifier | None
) -> State:
    """:func:`reconciler.runner.usecases.refresh`: describe the jobs in flight, save."""
    from reconciler.runner.usecases import refresh as describe

    return describe(store, voiceid, objects, notifier=notifier)


def rebuild(specs: Sequence[LoadedSpec], run: Run) -> State:
    """:func:`reconciler.runner.usecases.rebuild`: the state again from Voice ID alone."""
    from reconciler.runner.usecases import rebuild as derive

    return derive(specs, run)


def failed_requests(
    state: State, voiceid: VoiceIdApi, objects: ObjectStore
) -> list[tuple[str, list[FailedRequest]]]:
    """:func:`reconciler.runner.usecases.failed_requests_of`."""
    from reconciler.runner.usecases import failed_requests_of

    return failed_requests_of(state, voiceid, objects)


def forget(store: StateStore, names: Sequence[str], *, dry_run: bool) -> list[Forgotten]:
    """:func:`reconciler.runner.usecases.forget`: ``state rm``."""
    from reconciler.runner.usecases import forget as rm

    return rm(store, names, dry_run=dry_run)


def move(store: StateStore, source: str, destination: str, *, dry_run: bool) -> tuple[str, str]:
    """:func:`reconciler.runner.usecases.move`: ``state mv``."""
    from reconciler.runner.usecases import move as mv

    return mv(store, source, destination, dry_run=dry_run)


def import_jobs(
    store: StateStore, voiceid: VoiceId, objects: Manifests, options: ImportOptions
) -> ImportReport:
    """:func:`reconciler.runner.adopt.import_jobs`, with what it reads besides the jobs
    (domain settings, manifests' heads)."""
    from reconciler.adapters.adoption import ObjectHeads, SettingsReader
    from reconciler.runner.adopt import import_jobs as adopt
    from reconciler.runner.adopt_values import Sources

    sources = Sources(voiceid, SettingsReader(voiceid), objects, ObjectHeads(objects.client))
    return adopt(store, sources, options)


def notifier(
    sinks: dict[str, Sink],
    *,
    kinds: frozenset[Any],
    interval: float,
    commit_of: Callable[[str], str | None],
    max_attempts: dict[str, int],
) -> Notifier:
    """:class:`reconciler.runner.notify.Notifier` over the opened sinks."""
    from reconciler.runner.notify import Notifier as Notify

    return Notify(
        sinks, kinds=kinds, interval=interval, commit_of=commit_of, max_attempts=max_attempts
    )


def run_summary(
    report: ApplyReport | None,
    voiceid: VoiceIdApi | None,
    *,
    duration_s: float,
    success: bool,
    shard: str | None,
) -> RunSummary:
    """:meth:`reconciler.runner.summary.RunSummary.of` an apply."""
    from reconciler.runner.summary import RunSummary as Summary

    return Summary.of("apply", report, voiceid, duration_s=duration_s, success=success, shard=shard)
