"""``status``: every spec's job and status from the state (``--refresh``: described first)."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reconciler.cli import args as shared
from reconciler.cli import flags, values, wiring
from reconciler.cli.exits import EXIT_OK
from reconciler.cli.render_status import Scope
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import State

if TYPE_CHECKING:
    from reconciler.runner.notify import Notifier


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
    from reconciler.cli import render, render_status
    from reconciler.runner.usecases import refresh

    scope, specs = _scope(args)
    store = wiring.store(args)
    notifier = wiring.notifier(args, specs)
    if notifier is not None and not (args.refresh or args.watch):
        raise shared.UsageError(
            "--notify needs --refresh or --watch (status alone observes nothing new)"
        )
    if args.watch and (args.format != "text" or args.out):
        raise shared.UsageError(
            "--watch is a view for people on a terminal: it takes no --format "
            f"{args.format if args.format != 'text' else 'json or html'} and no --out"
        )
    if args.watch:
        return _watch(args, store, scope, notifier)
    if args.refresh:
        state = refresh(store, wiring.voiceid(args), wiring.objects(args), notifier=notifier)
    else:
        state = store.read()
    if args.format == "html":
        from reconciler.cli.statuspage import status_page
        from reconciler.core.times import iso

        text = status_page(state, scope=scope, specs=specs, rendered_at=iso(time.time()))
    elif args.format == "json":
        text = render_status.status_json(state, scope=scope)
    else:
        colour = args.out is None and render.use_colour(sys.stdout)
        text = render_status.status_text(state, colour=colour, scope=scope)
    if args.out is None:
        sys.stdout.write(text)
    else:
        _write(args, text)
        print(f"Wrote the status ({args.format}) to {args.out}.")
    if args.details:
        _details(args, state)
    return EXIT_OK


def _destination(value: str) -> str:
    """``--out``: a file name, or an S3 object's URI (checked before anything runs)."""
    from reconciler.core import s3uri

    if value.startswith("s3://"):
        bucket, key = s3uri.split(value)
        if not bucket or not key or key.endswith("/"):
            raise argparse.ArgumentTypeError(f"{value}: an S3 object is s3://BUCKET/KEY")
    elif not value.strip():
        raise argparse.ArgumentTypeError("a file name, or s3://BUCKET/KEY")
    return value


def _write(args: argparse.Namespace, text: str) -> None:
    """``--out``: an S3 object (one PutObject: never half a page), or a file replaced whole
    (written beside it, then renamed), so that whoever reads or publishes it meanwhile never
    gets half a page."""
    from reconciler.core.errors import ReconcilerError, StorageError

    if args.out.startswith("s3://"):
        from reconciler.adapters.aws import make_client
        from reconciler.adapters.pages import MEDIA_TYPES, publish

        client = make_client("s3", profile=args.profile, region=args.region)
        try:
            publish(client, args.out, text.encode(), media_type=MEDIA_TYPES[args.format])
        except StorageError as err:
            raise ReconcilerError(
                f"--out {args.out}: cannot write the status: {err.code}"
            ) from None
        return
    path = Path(args.out)
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        partial.write_text(text, encoding="utf-8")
        partial.replace(path)
    except OSError as err:
        partial.unlink(missing_ok=True)
        raise ReconcilerError(
            f"--out {path}: cannot write the status: {err.strerror or err}"
        ) from None


def _watch(
    args: argparse.Namespace, store: Any, scope: Scope | None, notifier: Notifier | None
) -> int:
    """Refresh and redraw until no job is in flight (each refresh saved, as --refresh)."""
    from reconciler.cli import collector, output_error, render_status
    from reconciler.cli.logs import TERMINAL
    from reconciler.runner.usecases import refresh

    voiceid, objects = wiring.voiceid(args), wiring.objects(args)
    tty = sys.stdout.isatty()
    drawn = 0
    while True:
        state = refresh(store, voiceid, objects, notifier=notifier)
        lines = render_status.watch_lines(state, width=TERMINAL.width(), scope=scope)
        if tty and drawn:
            sys.stdout.write(f"\x1b[{drawn}F\x1b[J")  # back to the view's first line
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        drawn = len(lines)
        if not any(record.active for record in state.all_jobs()):
            return EXIT_OK
        if output_error() is not None:  # nobody reads the view any more (| head): stop
            return EXIT_OK
        collector.resume()
        time.sleep(args.interval)


def _scope(args: argparse.Namespace) -> tuple[Scope | None, list[LoadedSpec]]:
    """Which specs exist and which are selected: from the PATHs given, else from specs/ when
    it exists, else unknown (None: every record is shown, none marked removed); and the
    specs."""
    from reconciler.core.loading import load_specs
    from reconciler.core.selector import select

    if not args.paths and not Path("specs").is_dir():
        if args.selector:
            raise shared.UsageError("--selector needs the specs: give their PATHs")
        return None, []
    specs = load_specs(flags.paths(args))
    chosen = select(specs, args.selector) if args.selector else specs
    scope = Scope(
        present=frozenset(s.key for s in specs), selected=frozenset(s.key for s in chosen)
    )
    return scope, specs


def _details(args: argparse.Namespace, state: State) -> None:
    """The failed requests of jobs that ended with errors. Their messages may name speakers or
    audio, so they go to an interactive terminal only, never to a pipe, a file or a log. With
    ``--format json`` they go to stderr, so that stdout stays one JSON document."""
    from reconciler.runner.usecases import failed_requests_of

    out = sys.stderr if args.format == "json" else sys.stdout
    if not out.isatty():
        print(
            "Failed requests: details are shown on a terminal only (they may hold personal data).",
            file=out,
        )
        return
    for key, failures in failed_requests_of(state, wiring.voiceid(args), wiring.objects(args)):
        print(f"\n{key}: {len(failures)} failed request(s)", file=out)
        for failure in failures:
            print(f"  {failure.request_id}  {failure.error_code}  {failure.message}", file=out)
