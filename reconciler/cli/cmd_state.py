"""``state show | rebuild | unlock``: inspect and repair the state."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli.exits import EXIT_OK


def register(sub: Any, parents: shared.Parents) -> None:
    state_cmd = sub.add_parser(
        "state", parents=[parents.common], help="inspect and repair the state"
    )
    state_sub = state_cmd.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    show = state_sub.add_parser(
        "show",
        parents=[parents.common, parents.state],
        help="print the state (summary, or --format json)",
    )
    show.add_argument("--format", choices=("text", "json"), default="text")
    show.set_defaults(handler=run_show)
    rebuild = state_sub.add_parser(
        "rebuild",
        parents=[parents.common, parents.specs, parents.state, parents.aws],
        help="re-derive the state from Voice ID (after a lost or corrupt state)",
        description="List every domain's jobs and match them to the specs by the hash in their "
        "JobName; write a new state (an unreadable old one is replaced).",
    )
    rebuild.set_defaults(handler=run_rebuild)
    unlock = state_sub.add_parser(
        "unlock",
        parents=[parents.common, parents.state],
        help="break the state lock of a run that is gone",
    )
    unlock.set_defaults(handler=run_unlock)


def run_show(args: argparse.Namespace) -> int:
    from reconciler.cli import render

    state = shared.store(args).read()
    sys.stdout.write(state.to_json() if args.format == "json" else render.state_text(state))
    return EXIT_OK


def run_unlock(args: argparse.Namespace) -> int:
    print(shared.store(args).unlock())
    return EXIT_OK


def run_rebuild(args: argparse.Namespace) -> int:
    from reconciler.cli import render
    from reconciler.core.loading import load
    from reconciler.runner.usecases import rebuild

    store = shared.store(args)
    specs = load(shared.paths(args), [])
    state = rebuild(specs, store, shared.voiceid(args), shared.objects(args))
    sys.stdout.write(render.state_text(state))
    return EXIT_OK
