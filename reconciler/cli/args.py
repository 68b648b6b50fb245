"""The options several commands share, how they are parsed, and the adapters built from them.

Each command module (``cmd_*.py``) adds its own parser with the option groups it needs from
:class:`Parents`. Shared options may stand before or after the command
(``voiceid-reconciler --state s3://b/k plan`` and ``voiceid-reconciler plan --state s3://b/k``):
they are defined with no default on every parser, and :func:`fill_defaults` fills in the
defaults afterwards. The objects a command talks to (the state store, Voice ID, S3) are built
here from the parsed options and nowhere else.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from reconciler.cli import values
from reconciler.cli.exits import EXIT_CODES_HELP, EXIT_FAIL_ON
from reconciler.core.desired import Shard
from reconciler.core.errors import ReconcilerError
from reconciler.core.hold import DEFAULT_LIST_LAG_HORIZON, DEFAULT_TOKEN_LIFETIME
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, DEFAULT_LOCK_TTL, DEFAULT_PATH

if TYPE_CHECKING:  # the adapters (boto3) are imported only by the commands that use them
    from reconciler.adapters.objects import Manifests
    from reconciler.adapters.voiceid import VoiceId
    from reconciler.core.plan import Plan
    from reconciler.core.spec import LoadedSpec
    from reconciler.runner.notify import Notifier
    from reconciler.runner.ports import StateStore

STATE_ENV = "VOICEID_RECONCILER_STATE"
FAIL_ON_ENV = "VOICEID_RECONCILER_FAIL_ON"
NOTIFY_ENV = "VOICEID_RECONCILER_NOTIFY"
NOTIFY_ON_ENV = "VOICEID_RECONCILER_NOTIFY_ON"
SHARD_COUNT_ENV = "VOICEID_RECONCILER_SHARD_COUNT"
SHARD_INDEX_ENV = "JOB_COMPLETION_INDEX"
LAG_ENV = "VOICEID_RECONCILER_LIST_LAG_HORIZON"
TOKEN_LIFETIME_ENV = "VOICEID_RECONCILER_TOKEN_LIFETIME"  # noqa: S105 - a variable name
OWNER_ENV = "VOICEID_RECONCILER_OWNER"
DEFAULT_TPS = 2.0

_DEFAULTS: dict[str, Any] = {}
"""The default of every shared option, filled in after parsing (see the module docstring)."""


class UsageError(ReconcilerError):
    """A flag, an argument or an environment value is not acceptable."""


class _Formatter(argparse.HelpFormatter):
    """Wraps descriptions; keeps text laid out in lines (the exit codes) as it is."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit 1 (:class:`UsageError`), like every
    other mistake of a user's, not argparse's usage block and exit 2."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", _Formatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)")

    def parse_known_args(self, *args: Any, **kwargs: Any) -> Any:
        """argparse's, then the URL options a command declared without a ``type`` are
        checked as their type would (:data:`_URL_OPTIONS`), and the environment variables
        that stand in for the command's flags (:func:`check_environment`): before anything
        runs, whatever the command reads first."""
        namespace, extras = super().parse_known_args(*args, **kwargs)
        for dest, check in _URL_OPTIONS.items():
            given = getattr(namespace, dest, None)
            if isinstance(given, str):
                try:
                    check(given)
                except argparse.ArgumentTypeError as err:
                    self.error(f"argument --{dest}: {err}")
        check_environment(namespace)
        return namespace, extras


_URL_OPTIONS = {"pushgateway": values.pushgateway_url}
"""URL options checked after parsing (``apply --pushgateway`` is declared in ``cmd_apply``
without a ``type``; with ``type=values.pushgateway_url`` there, this check finds it valid)."""


def _shared(group: Any, *flags: str, default: Any = None, **kwargs: Any) -> None:
    """Add a shared option whose default is filled in after parsing, and say the default."""
    action = group.add_argument(*flags, default=argparse.SUPPRESS, **kwargs)
    _DEFAULTS[action.dest] = default
    if default not in (None, False, []) and "default" not in (action.help or ""):
        shown = f"{default:g}" if isinstance(default, float) else default
        action.help = f"{action.help} (default: {shown})"


def fill_defaults(args: argparse.Namespace) -> None:
    """Give every shared option not given its default."""
    for dest, default in _DEFAULTS.items():
        if not hasattr(args, dest):
            setattr(args, dest, list(default) if isinstance(default, list) else default)


@dataclass(frozen=True)
class Parents:
    """The shared option groups, as argparse parent parsers."""

    common: argparse.ArgumentParser
    """``--debug``, ``--log-format``: every command."""
    specs: argparse.ArgumentParser
    """PATHs and ``--selector``: the commands that read specs."""
    state: argparse.ArgumentParser
    """Where the state is (``--state``, ``--shard``) and how it is locked."""
    aws: argparse.ArgumentParser
    """``--profile``, ``--region``: what reaches AWS (an S3 state included)."""
    voiceid: argparse.ArgumentParser
    """``--tps``: the commands that call Voice ID."""
    lag: argparse.ArgumentParser
    """``--list-lag-horizon``: the commands that may start jobs or plan them."""
    cache: argparse.ArgumentParser
    """``--no-spec-cache``: the commands that load specs beside a state."""

    def online(self) -> list[argparse.ArgumentParser]:
        """The groups of a command that reads specs and the state and talks to Voice ID."""
        return [
            self.common,
            self.specs,
            self.cache,
            self.state,
            self.aws,
            self.voiceid,
            self.lag,
        ]

    def everything(self) -> list[argparse.ArgumentParser]:
        """The groups the top-level parser takes (so that they may precede the command)."""
        return [self.common, self.state, self.aws, self.voiceid, self.lag]


def parents() -> Parents:
    """Build the shared option groups."""
    common = Parser(add_help=False)
    out = common.add_argument_group("logging")
    _shared(out, "--debug", action="store_true", help="show tracebacks instead of one-line errors")
    _shared(
        out,
        "-q",
        "--quiet",
        action="store_true",
        help="log warnings and errors only, and no progress line",
    )
    _shared(
        out,
        "--log-format",
        choices=("auto", "console", "json"),
        default="auto",
        help="log events (to stderr) as console lines, or JSON lines; auto: console on a terminal",
    )

    specs = Parser(add_help=False)
    selection = specs.add_argument_group("selection")
    selection.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files or directories (searched recursively for *.yaml, *.yml; default: specs/)",
    )
    _shared(
        selection,
        "-l",
        "--selector",
        action="append",
        default=[],
        metavar="SELECTOR",
        help="only specs whose labels match, Kubernetes-style: key=value, key!=value, "
        "'key in (a,b)', 'key notin (a,b)', key, !key (repeatable; all must match)",
    )

    cache = Parser(add_help=False)
    _shared(
        cache.add_argument_group("spec cache"),
        "--no-spec-cache",
        action="store_true",
        help="parse every spec file, ignoring (and not updating) the spec cache kept beside "
        "the state",
    )

    state = Parser(add_help=False)
    where = state.add_argument_group("state")
    _shared(
        where,
        "--state",
        default=os.environ.get(STATE_ENV, DEFAULT_PATH),
        metavar="FILE|s3://BUCKET/KEY",
        help=f"the state: a local file or an S3 object (default: ${STATE_ENV}, else "
        f"{DEFAULT_PATH})",
    )
    _shared(
        where,
        "--shard",
        metavar="INDEX/COUNT",
        help="only the specs of one of COUNT shards, partitioned by domain, each with its own "
        f"state (default: ${SHARD_INDEX_ENV}/${SHARD_COUNT_ENV} in a Kubernetes Indexed Job)",
    )
    _shared(
        where,
        "--lock-timeout",
        type=values.duration(),
        default=DEFAULT_LOCK_TIMEOUT,
        metavar="SECONDS",
        help="how long to wait for another run's state lock, then exit 4",
    )
    _shared(
        where,
        "--lock-ttl",
        type=values.duration(positive=True),
        default=DEFAULT_LOCK_TTL,
        metavar="SECONDS",
        help="S3 state: when the lock of a run that died expires",
    )

    aws = Parser(add_help=False)
    reach = aws.add_argument_group("AWS")
    _shared(reach, "--profile", help="AWS profile (default: the standard AWS configuration)")
    _shared(reach, "--region", help="AWS region (default: $AWS_REGION, else the profile's)")

    voiceid = Parser(add_help=False)
    calls = voiceid.add_argument_group("Voice ID")
    _shared(
        calls,
        "--tps",
        type=values.rate,
        default=DEFAULT_TPS,
        metavar="N",
        help="client-side limit of Voice ID calls per second per API (Voice ID's quota; "
        "0: no limit)",
    )

    lag = Parser(add_help=False)
    lagging = lag.add_argument_group("Voice ID")
    _shared(
        lagging,
        "--list-lag-horizon",
        type=values.duration(),
        metavar="SECONDS",
        help="how long a new job may be missing from Voice ID's List: unconfirmed starts and a "
        f"fresh state's first listing wait this long before starting (default: ${LAG_ENV}, "
        f"else {DEFAULT_LIST_LAG_HORIZON:g}; 0 trusts List at once)",
    )
    _shared(
        lagging,
        "--token-lifetime",
        type=values.duration(),
        metavar="SECONDS",
        help="how long Voice ID is assumed to remember a ClientToken (undocumented by AWS): "
        "before a start, a domain's last complete listing must be younger than this less "
        f"--list-lag-horizon, else it is listed again (default: ${TOKEN_LIFETIME_ENV}, else "
        f"{DEFAULT_TOKEN_LIFETIME:g}; 0: list in full before every start)",
    )
    return Parents(common, specs, state, aws, voiceid, lag, cache)


def add_command(sub: Any, name: str, *, parents: list[argparse.ArgumentParser], **kw: Any) -> Any:
    """A command's parser, with the exit codes in its help."""
    return sub.add_parser(name, parents=parents, epilog=EXIT_CODES_HELP, **kw)


def token_lifetime(args: argparse.Namespace) -> float:
    """``--token-lifetime``, else ``$VOICEID_RECONCILER_TOKEN_LIFETIME``, else the default."""
    given = getattr(args, "token_lifetime", None)
    return _duration_or_env(given, TOKEN_LIFETIME_ENV, DEFAULT_TOKEN_LIFETIME)


def list_lag_horizon(args: argparse.Namespace) -> float:
    """``--list-lag-horizon``, else ``$VOICEID_RECONCILER_LIST_LAG_HORIZON``, else the default."""
    return _duration_or_env(args.list_lag_horizon, LAG_ENV, DEFAULT_LIST_LAG_HORIZON)


def _duration_or_env(given: float | None, env: str, default: float) -> float:
    """A duration flag's value, else ``$env``'s (checked as the flag is: one line naming the
    variable), else ``default``."""
    if given is not None:
        return float(given)
    text = os.environ.get(env)
    if text is None:
        return default
    try:
        return values.parse_duration(text)
    except ValueError as err:
        raise UsageError(f"${env}={text!r}: {err}") from None


def add_show_unchanged(group: Any) -> None:
    """``--show-unchanged``: the commands that print a plan as text (plan, apply)."""
    group.add_argument(
        "--show-unchanged",
        action="store_true",
        help="list every spec in the text plan, also those in sync with nothing to tell "
        "(by default they are counted in one line)",
    )


def add_owner(command: argparse.ArgumentParser) -> None:
    """``--owner``: the commands that report orphans (plan, apply)."""
    command.add_argument(
        "--owner",
        action="append",
        default=[],
        metavar="GLOB",
        help="also report as orphaned the jobs of our naming that no spec of this state ever "
        "claimed (found by listing), when their spec name matches GLOB ('*': all; repeatable; "
        f"default: ${OWNER_ENV}, space-separated; else only the jobs this state managed, so "
        "that states sharing a domain do not see each other's jobs as orphans)",
    )


def add_fail_on(command: argparse.ArgumentParser) -> None:
    """``--fail-on``: the commands that end with a plan (plan, apply)."""
    from reconciler.core.plan import PROBLEMS

    command.add_argument(
        "--fail-on",
        type=values.classes(PROBLEMS),
        metavar="CLASS[,CLASS]",
        default=None,
        help=f"exit {EXIT_FAIL_ON} when the plan holds any of these: {', '.join(PROBLEMS)} "
        f"(comma-separated; default: ${FAIL_ON_ENV}, else none)",
    )


def fail_on(args: argparse.Namespace, plan: Plan) -> int:
    """``--fail-on``: exit 9 (one line naming what) when the plan holds an action of a class
    it names; else 0."""
    from reconciler.core.plan import PROBLEMS

    classes = _classes_or_env(args.fail_on, FAIL_ON_ENV, PROBLEMS, frozenset())
    found = plan.problems(classes)
    if not found:
        return 0
    by_class: dict[str, list[str]] = {}
    for action in found:
        assert action.problem is not None
        by_class.setdefault(action.problem, []).append(action.key)
    said = "; ".join(
        f"{len(keys)} {problem} ({', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''})"
        for problem, keys in sorted(by_class.items())
    )
    print(f"voiceid-reconciler: --fail-on: {said}", file=sys.stderr)
    return EXIT_FAIL_ON


def _classes_or_env(
    given: frozenset[str] | None, env: str, allowed: Sequence[str], default: frozenset[str]
) -> frozenset[str]:
    """A comma-separated class list: the flag's value, else ``$env``'s (checked as the flag
    is: one line naming the variable), else ``default``."""
    if given is not None:
        return given
    text = os.environ.get(env, "").strip()
    if not text:
        return default
    try:
        return values.classes(allowed)(text)
    except argparse.ArgumentTypeError as err:
        raise UsageError(f"${env}: {err}") from None


def check_environment(args: argparse.Namespace) -> None:
    """The variables that stand in for a flag the command has and was not given, checked as
    the flag is (one line naming the variable, :class:`UsageError`): ``$VOICEID_RECONCILER_
    FAIL_ON`` was read only as the plan ended — after an apply's starts —, the notification
    variables after the state and the spec cache were read. A command without the flag does
    not read its variable, and is not refused for it."""
    from reconciler.core.plan import PROBLEMS

    if hasattr(args, "fail_on"):
        _classes_or_env(args.fail_on, FAIL_ON_ENV, PROBLEMS, frozenset())
    if hasattr(args, "notify_on"):
        from reconciler.core.events import EventKind

        allowed = ("failures", "all", *(k.value for k in EventKind))
        _classes_or_env(args.notify_on, NOTIFY_ON_ENV, allowed, frozenset())
    if hasattr(args, "notify") and not args.notify:
        for url in os.environ.get(NOTIFY_ENV, "").split():
            try:
                values.notify_url(url)
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"${NOTIFY_ENV}: {err}") from None


def add_notify(command: argparse.ArgumentParser) -> None:
    """``--notify``, ``--notify-on``, ``--notify-interval``: the commands that observe jobs
    ending (apply, status --refresh)."""
    from reconciler.core.events import EventKind
    from reconciler.runner.notify import DEFAULT_INTERVAL

    group = command.add_argument_group("notifications")
    group.add_argument(
        "--notify",
        action="append",
        default=[],
        type=values.notify_url,
        metavar="URL",
        help="send job events there: json://host/path (a signed JSON webhook), slack://..., "
        "msteams://..., sns://<topic ARN>, github://OWNER/REPO (commit statuses), any Apprise "
        f"URL (repeatable; default: ${NOTIFY_ENV}, space-separated)",
    )
    group.add_argument(
        "--notify-on",
        type=values.classes(("failures", "all", *(k.value for k in EventKind))),
        default=None,
        metavar="EVENT[,EVENT]",
        help="which events: failures (failed, attempt-failed, completed-with-errors, blocked; "
        "the default), "
        f"all, or some of {', '.join(k.value for k in EventKind)} (default: ${NOTIFY_ON_ENV})",
    )
    group.add_argument(
        "--notify-interval",
        type=values.duration(),
        default=DEFAULT_INTERVAL,
        metavar="SECONDS",
        help="at most one message per sink this often within a run; everything pending is "
        f"sent at the run's end (default: {DEFAULT_INTERVAL:g}s)",
    )


def notifier(args: argparse.Namespace, specs: Sequence[LoadedSpec]) -> Notifier | None:
    """The run's notifier (None without sinks): every URL opened before anything runs."""
    from reconciler.adapters.gitfiles import last_commit, repo_path
    from reconciler.adapters.notify import GitHubSink, SinkWorld, open_sink
    from reconciler.core.events import FAILURES, EventKind
    from reconciler.runner.notify import Notifier

    urls = list(args.notify or []) or os.environ.get(NOTIFY_ENV, "").split()
    if not urls:
        return None
    for url in urls:  # $VOICEID_RECONCILER_NOTIFY's, as --notify's are (one line, unquoted)
        try:
            values.notify_url(url)
        except argparse.ArgumentTypeError as err:
            raise UsageError(f"${NOTIFY_ENV}: {err}") from None
    allowed = ("failures", "all", *(k.value for k in EventKind))
    chosen = _classes_or_env(args.notify_on, NOTIFY_ON_ENV, allowed, frozenset({"failures"}))
    kinds: set[EventKind] = set()
    for name in chosen:
        if name == "all":
            kinds.update(EventKind)
        elif name == "failures":
            kinds.update(FAILURES)
        else:
            kinds.add(EventKind(name))

    @functools.cache
    def aws_client(service: str) -> Any:  # botocore is imported only when a sink needs it
        from reconciler.adapters.aws import make_client

        return make_client(service, profile=args.profile, region=args.region)

    world = SinkWorld(os.environ, aws_client)
    sinks = {url: open_sink(url, world) for url in dict.fromkeys(urls)}
    paths = {spec.key: spec.location.path for spec in specs}
    commits: dict[str, str | None] = {}

    def commit_of(key: str) -> str | None:
        base = key.rsplit("-part-", 1)[0] if key not in paths else key
        path = paths.get(base)
        if path is None:
            return None
        if str(path) not in commits:
            sha = last_commit(path)
            relative = repo_path(path) if sha is None else None
            if relative is not None:  # no git here (the image): ask GitHub
                github = next((s for s in sinks.values() if isinstance(s, GitHubSink)), None)
                sha = github.commit_for(relative) if github else None
            commits[str(path)] = sha
        return commits[str(path)]

    return Notifier(
        sinks,
        kinds=kinds,
        interval=args.notify_interval,
        commit_of=commit_of,
        max_attempts={spec.key: spec.facts.max_attempts for spec in specs},
    )


def owner(args: argparse.Namespace) -> tuple[str, ...]:
    """``--owner`` patterns, else ``$VOICEID_RECONCILER_OWNER`` (space-separated)."""
    given = list(getattr(args, "owner", None) or []) or os.environ.get(OWNER_ENV, "").split()
    return tuple(given)


def paths(args: argparse.Namespace) -> list[Path]:
    """The spec paths given, or ``specs/``."""
    return list(getattr(args, "paths", None) or []) or [Path("specs")]


@dataclass(frozen=True)
class Specs:
    """The specs a command loaded, and the spec cache they came through (saved by
    :meth:`save_cache` once the command has done its work: a command refused for a bad spec, a
    bad state or a bad flag changes nothing, the cache included)."""

    specs: list[LoadedSpec]
    unselected: frozenset[str]
    """Keys of the specs that ``--selector`` left out (they exist: not orphans)."""
    store: StateStore | None = None
    cache: bytes | None = None
    """The spec cache to save, when it changed (compressed at once: the run does not hold
    its entries meanwhile)."""

    def save_cache(self) -> None:
        if self.store is not None and self.cache is not None:
            self.store.write_cache(self.cache)


def load_specs(args: argparse.Namespace, store: StateStore | None) -> Specs:
    """The specs of the PATHs and ``--selector`` (:func:`~reconciler.core.loading.load_selected`)
    through the spec cache beside ``store``'s state (none without a store or with
    ``--no-spec-cache``)."""
    from reconciler.core.loading import load_selected
    from reconciler.core.speccache import SpecCache

    if store is None or args.no_spec_cache:
        return Specs(*load_selected(paths(args), args.selector))
    import structlog

    log = structlog.get_logger("reconciler.specs")
    cache, ignored = SpecCache.from_bytes(store.read_cache())
    if ignored:
        log.info("spec_cache.ignored", state=str(store), reason=ignored)
    specs, unselected = load_selected(paths(args), args.selector, cache=cache)
    log.debug("spec_cache.used", hits=cache.hits, misses=cache.misses)
    return Specs(specs, unselected, store, cache.to_bytes() if cache.changed else None)


def shard(args: argparse.Namespace) -> Shard | None:
    """``--shard``, else the Kubernetes Indexed Job's ``$JOB_COMPLETION_INDEX`` of
    ``$VOICEID_RECONCILER_SHARD_COUNT``, else None."""
    if args.shard is not None:
        return Shard.parse(args.shard)
    count, index = os.environ.get(SHARD_COUNT_ENV), os.environ.get(SHARD_INDEX_ENV)
    if not count:
        return None
    if index is None:
        raise UsageError(f"${SHARD_COUNT_ENV}={count!r} is set but ${SHARD_INDEX_ENV} is not")
    try:
        return Shard.parse(f"{index}/{count}")
    except ReconcilerError:
        raise UsageError(
            f"${SHARD_INDEX_ENV}={index!r}, ${SHARD_COUNT_ENV}={count!r}: expected whole numbers "
            "with 0 <= INDEX < COUNT"
        ) from None


def shard_label(args: argparse.Namespace) -> str | None:
    """The shard as the metrics label it (``"0/4"``), or None."""
    this = shard(args)
    return f"{this.index}/{this.count}" if this else None


def state_location(args: argparse.Namespace) -> str:
    """Where ``--state`` is for this run: a file or ``s3://bucket/key`` (each shard its own)."""
    if not args.state:
        raise UsageError(f"--state (or ${STATE_ENV}) is empty: give a file or s3://bucket/key")
    this = shard(args)
    return this.state_location(args.state) if this else str(args.state)


def store(args: argparse.Namespace) -> StateStore:
    """The state store of ``--state`` (each shard its own)."""
    from reconciler.adapters.stores import open_store

    return open_store(
        state_location(args),
        lock_timeout=args.lock_timeout,
        lock_ttl=args.lock_ttl,
        profile=args.profile,
        region=args.region,
    )


def exposed_state_files(paths: list[Path], state: str | None = None) -> list[str]:
    """Which side files of a local state (``.lock``, ``.backup``, ``.mark``) git holds or would
    pick up, one warning each: those of ``state``, or of any state in the work trees of
    ``paths``."""
    from reconciler.adapters.gitfiles import exposed_side_files

    if state is not None and state.startswith("s3://"):
        return []
    seen: dict[Path, str] = {}
    wheres = [Path(state)] if state is not None else paths
    for where in wheres:
        for exposed in exposed_side_files(where, Path(state) if state is not None else None):
            seen.setdefault(exposed.path, exposed.warning())
    return list(seen.values())


def warn_exposed_state_files(paths: list[Path], state: str | None = None) -> None:
    """:func:`exposed_state_files`, said on stderr (warnings only: the exit code stays)."""
    for warning in exposed_state_files(paths, state):
        print(f"voiceid-reconciler: warning: {warning}", file=sys.stderr)


def voiceid(args: argparse.Namespace) -> VoiceId:
    """The Voice ID adapter, from the standard AWS configuration and ``--profile/--region``."""
    import time

    from reconciler.adapters.aws import make_client
    from reconciler.adapters.voiceid import VoiceId

    adapter = VoiceId(
        make_client("voice-id", profile=args.profile, region=args.region), tps=args.tps
    )
    if getattr(args, "wait", False) and getattr(args, "timeout", None) is not None:
        adapter.deadline = time.monotonic() + args.timeout  # no retry waits past --timeout
    return adapter


def objects(args: argparse.Namespace) -> Manifests:
    """The S3 objects adapter (manifests, staging, output files)."""
    from reconciler.adapters.aws import make_client
    from reconciler.adapters.objects import Manifests

    return Manifests(make_client("s3", profile=args.profile, region=args.region))
