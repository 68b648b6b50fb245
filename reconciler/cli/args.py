"""The options several commands share, and the adapters built from them.

Each command module (``cmd_*.py``) adds its own parser with the parents it needs from
:class:`Parents`; the objects a command talks to (the state store, Voice ID, S3) are built
here from the parsed options and nowhere else.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from reconciler.core.desired import Shard
from reconciler.core.errors import ReconcilerError
from reconciler.core.hold import DEFAULT_LIST_LAG_HORIZON
from reconciler.core.state import DEFAULT_LOCK_TIMEOUT, DEFAULT_PATH

if TYPE_CHECKING:  # the adapters (boto3) are imported only by the commands that use them
    from reconciler.adapters.objects import Manifests
    from reconciler.adapters.stores import StateStore
    from reconciler.adapters.voiceid import VoiceId

STATE_ENV = "VOICEID_RECONCILER_STATE"
SHARD_COUNT_ENV = "VOICEID_RECONCILER_SHARD_COUNT"
LAG_ENV = "VOICEID_RECONCILER_LIST_LAG_HORIZON"
DEFAULT_TPS = 2.0


def _default_shard() -> str | None:
    count = os.environ.get(SHARD_COUNT_ENV)
    index = os.environ.get("JOB_COMPLETION_INDEX")
    return f"{index}/{count}" if count and index is not None else None


@dataclass(frozen=True)
class Parents:
    """The shared option groups, as argparse parent parsers."""

    common: argparse.ArgumentParser
    specs: argparse.ArgumentParser
    state: argparse.ArgumentParser
    aws: argparse.ArgumentParser


def parents() -> Parents:
    """Build the shared option groups."""
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
        default=os.environ.get(STATE_ENV, DEFAULT_PATH),
        help=f"state: a local file or s3://bucket/key (default ${STATE_ENV} or {DEFAULT_PATH})",
    )
    state.add_argument(
        "--lock-timeout",
        type=float,
        default=DEFAULT_LOCK_TIMEOUT,
        help="seconds to wait for another run's state lock (then exit 4)",
    )
    state.add_argument(
        "--lock-ttl",
        type=float,
        default=None,
        help="S3 state: seconds after which a lock of a run that died expires (default 120)",
    )

    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--profile", help="AWS profile (default: the standard AWS configuration)")
    aws.add_argument("--region", help="AWS region (default: AWS_REGION / the profile's)")
    aws.add_argument(
        "--tps",
        type=float,
        default=DEFAULT_TPS,
        help="client-side limit of Voice ID calls per second per API (default 2, the quota)",
    )
    aws.add_argument(
        "--list-lag-horizon",
        type=float,
        default=None,
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
    return Parents(common, specs, state, aws)


def list_lag_horizon(args: argparse.Namespace) -> float:
    """``--list-lag-horizon``, else ``$VOICEID_RECONCILER_LIST_LAG_HORIZON``, else the default."""
    if args.list_lag_horizon is not None:
        return float(args.list_lag_horizon)
    text = os.environ.get(LAG_ENV)
    if text is None:
        return DEFAULT_LIST_LAG_HORIZON
    try:
        return float(text)
    except ValueError:
        raise ReconcilerError(
            f"${LAG_ENV}={text!r}: expected a number of seconds, e.g. 300"
        ) from None


def paths(args: argparse.Namespace) -> list[Path]:
    """The spec paths given, or ``specs/``."""
    return list(args.paths) or [Path("specs")]


def shard(args: argparse.Namespace) -> Shard | None:
    text = getattr(args, "shard", None)
    return Shard.parse(text) if text else None


def store(args: argparse.Namespace) -> StateStore:
    """The state store of ``--state`` (each shard its own)."""
    from reconciler.adapters.stores import open_store

    this = shard(args)
    return open_store(
        this.state_location(args.state) if this else args.state,
        lock_timeout=getattr(args, "lock_timeout", DEFAULT_LOCK_TIMEOUT),
        lock_ttl=getattr(args, "lock_ttl", None),
        profile=getattr(args, "profile", None),
        region=getattr(args, "region", None),
    )


def voiceid(args: argparse.Namespace) -> VoiceId:
    """The Voice ID adapter, from the standard AWS configuration and ``--profile/--region``."""
    from reconciler.adapters.aws import make_client
    from reconciler.adapters.voiceid import VoiceId

    return VoiceId(make_client("voice-id", profile=args.profile, region=args.region), tps=args.tps)


def objects(args: argparse.Namespace) -> Manifests:
    """The S3 objects adapter (manifests, staging, output files)."""
    from reconciler.adapters.aws import make_client
    from reconciler.adapters.objects import Manifests

    return Manifests(make_client("s3", profile=args.profile, region=args.region))
