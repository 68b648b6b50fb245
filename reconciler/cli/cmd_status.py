"""``status``: every spec's job and status from the state (``--refresh``: described first)."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from reconciler.cli import args as shared
from reconciler.cli import collector, flags, output_error, render, render_status, values
from reconciler.cli.exits import EXIT_OK
from reconciler.cli.logs import TERMINAL
from reconciler.cli.render_status import Scope
from reconciler.cli.session import Observed, Session
from reconciler.cli.statuspage import status_page
from reconciler.core import s3uri
from reconciler.core.state import State
from reconciler.core.times import iso


def register(sub: Any, parents: shared.Parents) -> None:
    status = shared.add_command(
        sub,
        "status",
        parents=[parents.common, parents.specs, parents.state, parents.aws, parents.voiceid],
        help="show every spec's job and status from the state",
        description="Show every spec's job, status, progress, timings and failure details. "
        "Given PATHs (or when specs/ exists), records whose spec is no longer there are marked "
        "removed, and --selector narrows the list.",
    )
    status.add_argument(
        "--refresh", action="store_true", help="describe in-flight jobs first and save the state"
    )
    status.add_argument(
        "--watch",
        action="store_true",
        help="a live view: refresh every --interval, one line per job with a progress bar, "
        "until no job is in flight (a terminal redraws in place; elsewhere each view is "
        "printed)",
    )
    status.add_argument(
        "--interval",
        type=values.duration(positive=True),
        default=5.0,
        metavar="SECONDS",
        help="--watch: seconds between refreshes (default: 5)",
    )
    status.add_argument(
        "--format",
        choices=("text", "json", "html"),
        default="text",
        help="text for people, json for tools, html for a status page: one self-contained file "
        "with a timeline per domain and kind (docs/status-page.md) (default: text)",
    )
    status.add_argument(
        "--out",
        type=_destination,
        metavar="FILE|s3://BUCKET/KEY",
        help="write the status there instead of stdout, replaced whole (never half-written); "
        "an S3 object gets the format's media type (a browser opens the page)",
    )
    status.add_argument(
        "--details",
        action="store_true",
        help="on a terminal only: list the failed requests of jobs that ended with errors",
    )
    shared.add_notify(status)
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.paths and not Path("specs").is_dir() and args.selector:
        raise shared.UsageError("--selector needs the specs: give their PATHs")
    settings = flags.settings(args, spec_paths=flags.paths(args) if _has_specs(args) else ())
    if settings.notify is not None and not (args.refresh or args.watch):
        raise shared.UsageError(
            "--notify needs --refresh or --watch (status alone observes nothing new)"
        )
    if args.watch and (args.format != "text" or args.out):
        raise shared.UsageError(
            "--watch is a view for people on a terminal: it takes no --format "
            f"{args.format if args.format != 'text' else 'json or html'} and no --out"
        )
    session = Session(settings)
    if args.watch:
        return _watch(session.watch(args.interval, _pause))
    seen = session.status(refresh=args.refresh)
    scope = _scope(seen)
    if args.format == "html":
        text = status_page(
            seen.state, scope=scope, specs=seen.present or [], rendered_at=iso(time.time())
        )
    elif args.format == "json":
        text = render_status.status_json(seen.state, scope=scope)
    else:
        colour = args.out is None and render.use_colour(sys.stdout)
        text = render_status.status_text(seen.state, colour=colour, scope=scope)
    if args.out is None:
        sys.stdout.write(text)
    else:
        session.publish(args.out, text, args.format)
        print(f"Wrote the status ({args.format}) to {args.out}.")
    if args.details:  # after the status is out: reading them may fail (a job gone)
        _details(session, seen.state, sys.stderr if args.format == "json" else sys.stdout)
    return EXIT_OK


def _has_specs(args: argparse.Namespace) -> bool:
    """Whether the specs are known: PATHs given, or ``specs/`` here (else every record is
    shown, none marked removed)."""
    return bool(args.paths) or Path("specs").is_dir()


def _scope(seen: Observed) -> Scope | None:
    """Which specs exist and which are selected (None: unknown)."""
    if seen.present is None:
        return None
    return Scope(
        present=frozenset(s.key for s in seen.present),
        selected=frozenset(s.key for s in seen.selected or ()),
    )


def _pause(seconds: float) -> None:
    """A wait between two redraws: the collector resumes (:mod:`reconciler.cli.collector`)."""
    collector.resume()
    time.sleep(seconds)


def _destination(value: str) -> str:
    """``--out``: a file name, or an S3 object's URI (checked before anything runs)."""
    if value.startswith("s3://"):
        bucket, key = s3uri.split(value)
        if not bucket or not key or key.endswith("/"):
            raise argparse.ArgumentTypeError(f"{value}: an S3 object is s3://BUCKET/KEY")
    elif not value.strip():
        raise argparse.ArgumentTypeError("a file name, or s3://BUCKET/KEY")
    return value


def _watch(views: Iterator[Observed]) -> int:
    """Redraw each refreshed view until no job is in flight (each refresh saved, as
    --refresh), or until nobody reads the view any more (``| head``)."""
    tty = sys.stdout.isatty()
    drawn = 0
    for seen in views:
        lines = render_status.watch_lines(seen.state, width=TERMINAL.width(), scope=_scope(seen))
        if tty and drawn:
            sys.stdout.write(f"\x1b[{drawn}F\x1b[J")  # back to the view's first line
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        drawn = len(lines)
        if output_error() is not None:
            break
    return EXIT_OK


def _details(session: Session, state: State, out: TextIO) -> None:
    """The failed requests of jobs that ended with errors. Their messages may name speakers or
    audio, so they go to an interactive terminal only, never to a pipe, a file or a log. With
    ``--format json`` they go to stderr, so that stdout stays one JSON document."""
    if not out.isatty():
        print(
            "Failed requests: details are shown on a terminal only (they may hold personal data).",
            file=out,
        )
        return
    for key, failures in session.failed_requests(state):
        print(f"\n{key}: {len(failures)} failed request(s)", file=out)
        for failure in failures:
            print(f"  {failure.request_id}  {failure.error_code}  {failure.message}", file=out)
