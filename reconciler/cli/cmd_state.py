"""``state show | rebuild | rm | mv | unlock``: inspect and repair the state."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from reconciler.cli import args as shared
from reconciler.cli import flags, render_status
from reconciler.cli.exits import EXIT_OK
from reconciler.cli.session import Session
from reconciler.core.identity import parse_job_name

if TYPE_CHECKING:
    from reconciler.core.state import SpecEntry, State


def register(sub: Any, parents: shared.Parents) -> None:
    state_cmd = shared.add_command(
        sub, "state", parents=[parents.common], help="inspect and repair the state"
    )
    state_sub = state_cmd.add_subparsers(dest="state_command", required=True, metavar="COMMAND")
    show = shared.add_command(
        state_sub,
        "show",
        parents=[parents.common, parents.state, parents.aws],
        help="print the state: a summary and one line per spec (or --names, --format json)",
        description="Print a summary of the state, then one line per spec entry: its KIND/NAME "
        "(what 'state rm' and 'state mv' take), the status of its latest job and how many jobs "
        "it recorded; then the jobs of our naming no spec claims. --names prints only the "
        "KIND/NAMEs, --format json the state itself.",
    )
    shown = show.add_mutually_exclusive_group()
    shown.add_argument(
        "--format",
        choices=("text", "json"),
        default="text",
        help="text for people, json for tools (the state file's own form) (default: text)",
    )
    shown.add_argument(
        "--names",
        action="store_true",
        help="only the spec entries' KIND/NAME, one per line (for scripts)",
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
    rm.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be forgotten; write nothing (the state is read without its lock)",
    )
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
    mv.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be moved; write nothing (the state is read without its lock)",
    )
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
    state = Session(flags.settings(args)).show()
    if args.names:
        sys.stdout.writelines(f"{key}\n" for key in sorted({row[0] for row in _rows(state)}))
    elif args.format == "json":
        sys.stdout.write(state.to_json())
    else:
        sys.stdout.write(render_status.state_text(state))
        sys.stdout.writelines(_entries_table(state))
    return EXIT_OK


def _status(entry: SpecEntry) -> str:
    """The status of a spec entry's latest job, as the state's summary counts it."""
    latest = entry.latest()
    if latest is None:
        return "-"
    return latest.status or ("STARTING" if latest.job_id is None else "UNKNOWN")


def _rows(state: State) -> list[tuple[str, str, int]]:
    """(KIND/NAME, status, jobs) of every spec entry, then of the unclaimed jobs grouped by
    the spec name their JobName carries (``state rm`` takes both)."""
    rows = [
        (key, _status(entry), len(entry.jobs) + len(entry.history))
        for key, entry in sorted(state.specs.items())
    ]
    unclaimed: dict[str, tuple[str, int]] = {}
    for record in state.orphans:
        parts = parse_job_name(record.job_name)
        key = f"{record.kind}/{parts.name if parts else record.job_name}"
        _, count = unclaimed.get(key, ("", 0))
        unclaimed[key] = (f"{record.status or 'UNKNOWN'} (unclaimed)", count + 1)
    rows += [(key, status, count) for key, (status, count) in sorted(unclaimed.items())]
    return rows


def _entries_table(state: State) -> list[str]:
    """One line per spec entry (KIND/NAME, latest job's status, jobs recorded), then the
    unclaimed jobs (``state show``'s text after its summary)."""
    rows = [(key, status, str(jobs)) for key, status, jobs in _rows(state)]
    if not rows:
        return []
    rows.insert(0, ("SPEC", "STATUS", "JOBS"))
    width = [max(len(row[i]) for row in rows) for i in range(2)]
    return ["\n"] + [
        f"{key:<{width[0]}}  {status:<{width[1]}}  {jobs}\n" for key, status, jobs in rows
    ]


def run_rm(args: argparse.Namespace) -> int:
    forgotten = Session(flags.settings(args)).forget(args.names, dry_run=args.dry_run)
    for item in forgotten:
        if not args.dry_run:
            print(f"Removed {item.key} (kept as a tombstone)")
        elif item.jobs is None:
            print(f"Would remove {item.key} (kept as a tombstone)")
        else:
            print(
                f"Would remove {item.key}: {item.jobs} job(s), latest {item.status} "
                "(kept as a tombstone)"
            )
    if args.dry_run:
        print("Dry run: the state was not changed.")
    return EXIT_OK


def run_mv(args: argparse.Namespace) -> int:
    session = Session(flags.settings(args))
    old, new = session.move(args.source, args.destination, dry_run=args.dry_run)
    if args.dry_run:
        print(f"Would move {old} to {new}")
        print("Dry run: the state was not changed.")
    else:
        print(f"Moved {old} to {new}")
    return EXIT_OK


def run_unlock(args: argparse.Namespace) -> int:
    print(Session(flags.settings(args)).unlock(args.lock_id, force=args.force))
    return EXIT_OK


def run_rebuild(args: argparse.Namespace) -> int:
    if args.selector:
        raise shared.UsageError(
            "state rebuild derives the whole state from Voice ID: with --selector the jobs of "
            "the other specs would become orphans; run it without --selector"
        )
    state = Session(flags.settings(args)).rebuild()
    sys.stdout.write(render_status.state_text(state))
    return EXIT_OK
