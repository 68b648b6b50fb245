"""What the shared options say once parsed, with their environment variables.

Each flag's value, else its environment variable's (checked as the flag is: one line naming
the variable), else its default; and ``--fail-on``'s verdict on a plan.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.cli import values
from reconciler.cli.args import (
    FAIL_ON_ENV,
    LAG_ENV,
    NOTIFY_ENV,
    NOTIFY_ON_ENV,
    OWNER_ENV,
    SHARD_COUNT_ENV,
    SHARD_INDEX_ENV,
    STATE_ENV,
    TOKEN_LIFETIME_ENV,
    UsageError,
    classes_or_env,
)
from reconciler.cli.exits import EXIT_FAIL_ON
from reconciler.cli.session import Notify, Settings
from reconciler.core.desired import Shard
from reconciler.core.errors import ReconcilerError
from reconciler.core.events import FAILURES, EventKind
from reconciler.core.hold import DEFAULT_LIST_LAG_HORIZON, DEFAULT_TOKEN_LIFETIME
from reconciler.core.plan import PROBLEMS
from reconciler.runner.context import OptionError, RunOptions

if TYPE_CHECKING:
    from reconciler.core.plan import Plan


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


def fail_on(args: argparse.Namespace, plan: Plan) -> int:
    """``--fail-on``: exit 9 (one line naming what) when the plan holds an action of a class
    it names; else 0."""
    classes = classes_or_env(args.fail_on, FAIL_ON_ENV, PROBLEMS, frozenset())
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


def owner(args: argparse.Namespace) -> tuple[str, ...]:
    """``--owner`` patterns, else ``$VOICEID_RECONCILER_OWNER`` (space-separated)."""
    given = list(getattr(args, "owner", None) or []) or os.environ.get(OWNER_ENV, "").split()
    return tuple(given)


def paths(args: argparse.Namespace) -> list[Path]:
    """The spec paths given, or ``specs/``."""
    return list(getattr(args, "paths", None) or []) or [Path("specs")]


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


def notify(args: argparse.Namespace) -> Notify | None:
    """``--notify`` URLs (else ``$VOICEID_RECONCILER_NOTIFY``'s, checked as the flag's are)
    and the events ``--notify-on`` (else its variable) chose; None without URLs."""
    if not hasattr(args, "notify"):
        return None
    urls = list(args.notify or []) or os.environ.get(NOTIFY_ENV, "").split()
    if not urls:
        return None
    for url in urls:  # $VOICEID_RECONCILER_NOTIFY's, as --notify's are (one line, unquoted)
        try:
            values.notify_url(url)
        except argparse.ArgumentTypeError as err:
            raise UsageError(f"${NOTIFY_ENV}: {err}") from None
    allowed = ("failures", "all", *(k.value for k in EventKind))
    chosen = classes_or_env(args.notify_on, NOTIFY_ON_ENV, allowed, frozenset({"failures"}))
    kinds: set[EventKind] = set()
    for name in chosen:
        if name == "all":
            kinds.update(EventKind)
        elif name == "failures":
            kinds.update(FAILURES)
        else:
            kinds.add(EventKind(name))
    return Notify(tuple(urls), frozenset(kinds), args.notify_interval)


def settings(
    args: argparse.Namespace,
    run: RunOptions | None = None,
    *,
    spec_paths: Sequence[Path] | None = None,
) -> Settings:
    """The session's settings from the parsed flags and their environment variables (each
    checked here, one line naming the flag or variable); ``spec_paths`` stands in for the
    PATHs given (or ``specs/``)."""
    return Settings(
        paths=tuple(paths(args) if spec_paths is None else spec_paths),
        selector=tuple(getattr(args, "selector", None) or ()),
        spec_cache=not getattr(args, "no_spec_cache", False),
        state=state_location(args),
        lock_timeout=args.lock_timeout,
        lock_ttl=args.lock_ttl,
        profile=args.profile,
        region=args.region,
        tps=args.tps,
        run=run or RunOptions(shard=shard(args)),
        shard_label=shard_label(args),
        notify=notify(args),
        metrics_file=getattr(args, "metrics_file", None),
        pushgateway=getattr(args, "pushgateway", None),
    )


def spec_settings(args: argparse.Namespace) -> Settings:
    """The settings of a command that reads specs and nothing else (``validate``): the PATHs
    and ``--selector``; no state, shard or AWS setting is read or checked."""
    return Settings(paths=tuple(paths(args)), selector=tuple(getattr(args, "selector", None) or ()))


_FLAGS = {"wait": "--wait"}
"""Flags not spelled as their field is (``--max-active`` for ``max_active``: the rest)."""


def run_options(**given: Any) -> RunOptions:
    """:class:`RunOptions` of the flags' values; a value that makes no sense is refused in one
    line naming its flag (``--max-active must be at least 1``)."""
    try:
        return RunOptions(**given)
    except OptionError as err:
        flag = _FLAGS.get(err.field, "--" + err.field.replace("_", "-"))
        problem = err.problem.replace(" with wait ", " with --wait ")
        raise UsageError(f"{flag} {problem}") from None
