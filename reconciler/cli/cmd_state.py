"""``state show | rebuild | rm | mv | unlock``: inspect and repair the state."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli.exits import EXIT_OK


def register(sub: Any, parents: shared.Parents) -> None:
    state_cmd = shared.add_command(
        sub, "state", parents=[parents.common], help="inspect and repair the state"
    )
    state_sub = state_cmd.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    show = shared.add_command(
        state_sub,
        "show",
        parents=[parents.common, parents.state, parents.aws],
        help="print the state (summary, or --format json)",
    )
    show.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people, json for tools (default: text)",
    )
    show.set_defaults(handler=run_show)
    rebuild = shared.add_command(
        state_sub,
        "rebuild",
        parents=[
            parents.common,
            parents.specs,
            parents.cache,
            parents.state,
            parents.aws,
            parents.voiceid,
        ],
        help="re-derive the state from Voice ID (after a lost or corrupt state)",
        description="List every domain's jobs (of this --shard) and match them to the specs by "
        "the hash in their JobName; write a new state (an unreadable old one is replaced). "
        "Unconfirmed starts of the old state are kept, and every domain is left provisional: "
        "the next apply lists it again once its --list-lag-horizon has passed before starting.",
    )
    rebuild.set_defaults(handler=run_rebuild)
    rm = shared.add_command(
        state_sub,
        "rm",
        parents=[parents.common, parents.state, parents.aws],
        help="forget the records of a removed spec (its jobs stop being reported as orphans)",
        description="Forget the state's records of each NAME (KIND/NAME, or NAME for either "
        "kind; the parts of a chunked roster with it), and the orphans of that spec name. "
        "Nothing in Voice ID changes. The records stay as tombstones: a spec added again with "
        "the same content takes its job back instead of starting a second one.",
    )
    rm.add_argument("names", nargs="+", metavar="NAME", help="a spec as KIND/NAME or NAME")
    rm.set_defaults(handler=run_rm)
    mv = shared.add_command(
        state_sub,
        "mv",
        parents=[parents.common, parents.state, parents.aws],
        help="record a rename by hand (a spec renamed and changed in one commit)",
        description="The records of SOURCE become those of the spec named DESTINATION: its "
        "jobs are shown superseded by the new content instead of orphaned. A pure rename (same "
        "content) needs nothing: apply follows it by itself.",
    )
    mv.add_argument("source", metavar="SOURCE", help="the old spec, as KIND/NAME or NAME")
    mv.add_argument("destination", metavar="DESTINATION", help="the new metadata.name")
    mv.set_defaults(handler=run_mv)
    unlock = shared.add_command(
        state_sub,
        "unlock",
        parents=[parents.common, parents.state, parents.aws],
        help="show who holds the state lock; break it, given its id, once that run is gone",
    )
    unlock.add_argument(
        "lock_id",
        nargs="?",
        metavar="LOCK_ID",
        help="the id of the lock to break, as 'state unlock' without it shows (S3 state)",
    )
    unlock.add_argument(
        "--force", action="store_true", help="break the lock whatever its id (S3 state)"
    )
    unlock.set_defaults(handler=run_unlock)


def run_show(args: argparse.Namespace) -> int:
    from reconciler.cli import render

    state = shared.store(args).read()
    sys.stdout.write(state.to_json() if args.format == "json" else render.state_text(state))
    return EXIT_OK


def run_rm(args: argparse.Namespace) -> int:
    store = shared.store(args)
    with store.locked():
        state = store.read()
        forgotten = [key for name in args.names for key in state.forget(name)]
        store.write(state)
    for key in forgotten:
        print(f"Removed {key} (kept as a tombstone)")
    return EXIT_OK


def run_mv(args: argparse.Namespace) -> int:
    store = shared.store(args)
    with store.locked():
        state = store.read()
        old, new = state.move(args.source, args.destination)
        store.write(state)
    print(f"Moved {old} to {new}")
    return EXIT_OK


def run_unlock(args: argparse.Namespace) -> int:
    print(shared.store(args).unlock(args.lock_id, force=args.force))
    return EXIT_OK


def run_rebuild(args: argparse.Namespace) -> int:
    from reconciler.cli import render
    from reconciler.runner.context import Run, RunOptions
    from reconciler.runner.usecases import rebuild

    if args.selector:
        raise shared.UsageError(
            "state rebuild derives the whole state from Voice ID: with --selector the jobs of "
            "the other specs would become orphans; run it without --selector"
        )
    options = RunOptions(shard=shared.shard(args))
    store = shared.store(args)
    loaded = shared.load_specs(args, store)
    state = rebuild(loaded.specs, Run(store, shared.voiceid(args), shared.objects(args), options))
    loaded.save_cache()
    sys.stdout.write(render.state_text(state))
    return EXIT_OK
