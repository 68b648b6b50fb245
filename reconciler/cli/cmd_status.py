"""``status``: every spec's job and status from the state (``--refresh``: described first)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli.exits import EXIT_OK
from reconciler.core.state import State


def register(sub: Any, parents: shared.Parents) -> None:
    status = shared.add_command(
        sub,
        "status",
        parents=[parents.common, parents.state, parents.aws, parents.voiceid],
        help="show every spec's job and status from the state",
        description="Show every spec's job, status, progress, timings and failure details.",
    )
    status.add_argument(
        "--refresh", action="store_true", help="describe in-flight jobs first and save the state"
    )
    status.add_argument(
        "--format", choices=("text", "json"), default="text", help="(default: text)"
    )
    status.add_argument(
        "--details",
        action="store_true",
        help="on a terminal only: list the failed requests of jobs that ended with errors",
    )
    status.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from reconciler.cli import render
    from reconciler.runner.usecases import refresh

    store = shared.store(args)
    state = refresh(store, shared.voiceid(args)) if args.refresh else store.read()
    if args.format == "json":
        sys.stdout.write(render.status_json(state))
    else:
        sys.stdout.write(render.status_text(state, colour=render.use_colour(sys.stdout)))
    if args.details:
        _details(args, state)
    return EXIT_OK


def _details(args: argparse.Namespace, state: State) -> None:
    """The failed requests of jobs that ended with errors. Their messages may name speakers or
    audio, so they go to an interactive terminal only, never to a pipe, a file or a log."""
    from reconciler.runner.usecases import failed_requests_of

    if not sys.stdout.isatty():
        print(
            "Failed requests: details are shown on a terminal only (they may hold personal data)."
        )
        return
    for key, failures in failed_requests_of(state, shared.voiceid(args), shared.objects(args)):
        print(f"\n{key}: {len(failures)} failed request(s)")
        for failure in failures:
            print(f"  {failure.request_id}  {failure.error_code}  {failure.message}")
