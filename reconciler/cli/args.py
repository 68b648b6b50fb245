"""The options several commands share, and how they are parsed.

Each command module (``cmd_*.py``) adds its own parser with the option groups it needs from
:class:`Parents`. Shared options may stand before or after the command
(``voiceid-reconciler --state s3://b/k plan`` and ``voiceid-reconciler plan --state s3://b/k``):
they are defined with no default on every parser, and :func:`fill_defaults` fills in the
defaults afterwards. What a parsed option says, with its environment variable, is
:mod:`reconciler.cli.flags`'s; the objects a command talks to (the state store, Voice ID, S3,
the notifier) are built by the session (:mod:`reconciler.cli.session`) from the settings
:func:`reconciler.cli.flags.settings` makes of them, and nowhere else.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from reconciler.cli import values
from reconciler.cli.exits import EXIT_CODES_HELP, EXIT_FAIL_ON
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import DEFAULT_INTERVAL, EventKind
from reconciler.core.hold import DEFAULT_LIST_LAG_HORIZON, DEFAULT_TOKEN_LIFETIME
from reconciler.core.plan import PROBLEMS
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, DEFAULT_LOCK_TTL, DEFAULT_PATH

if TYPE_CHECKING:  # the adapters (boto3) are imported only by the commands that use them
    pass

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
    command.add_argument(
        "--fail-on",
        type=values.classes(PROBLEMS),
        metavar="CLASS[,CLASS]",
        default=None,
        help=f"exit {EXIT_FAIL_ON} when the plan holds any of these: {', '.join(PROBLEMS)} "
        f"(comma-separated; default: ${FAIL_ON_ENV}, else none)",
    )


def classes_or_env(
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
    if hasattr(args, "fail_on"):
        classes_or_env(args.fail_on, FAIL_ON_ENV, PROBLEMS, frozenset())
    if hasattr(args, "notify_on"):
        allowed = ("failures", "all", *(k.value for k in EventKind))
        classes_or_env(args.notify_on, NOTIFY_ON_ENV, allowed, frozenset())
    if hasattr(args, "notify") and not args.notify:
        for url in os.environ.get(NOTIFY_ENV, "").split():
            try:
                values.notify_url(url)
            except argparse.ArgumentTypeError as err:
                raise UsageError(f"${NOTIFY_ENV}: {err}") from None


def add_notify(command: argparse.ArgumentParser) -> None:
    """``--notify``, ``--notify-on``, ``--notify-interval``: the commands that observe jobs
    ending (apply, status --refresh)."""
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
