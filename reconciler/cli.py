"""The command line: parse arguments, call the engine, print, choose the exit code.

This is the only module that catches :class:`~reconciler.errors.ReconcilerError`, prints it
as one line and decides the exit status (``--debug`` shows the traceback instead).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from reconciler import __version__
from reconciler.errors import ReconcilerError, SpecErrors, StateLockedError

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_PENDING = 2
"""``plan --detailed-exitcode``: starts are pending."""
EXIT_TIMEOUT = 3
"""``apply --wait``: the timeout passed before every job ended."""
EXIT_LOCKED = 4
"""Another run holds the state lock for longer than ``--lock-timeout``."""
EXIT_JOB_FAILED = 5
"""A managed job ended FAILED with no attempts left."""

STATE_ENV = "VOICEID_RECONCILER_STATE"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--debug", action="store_true", help="show tracebacks instead of one-line errors"
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
        default=os.environ.get(STATE_ENV, "voiceid-state.json"),
        help=f"state file (default ${STATE_ENV} or voiceid-state.json)",
    )

    parser = argparse.ArgumentParser(
        prog="voiceid-reconciler",
        description="Declarative GitOps reconciler for Amazon Connect Voice ID batch jobs.",
        parents=[common],
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    sub.add_parser(
        "validate",
        parents=[common, specs],
        help="check spec files and report every problem with file:line:column",
        description="Check spec files; exit 1 and list every problem when any is invalid.",
    )
    sub.add_parser(
        "schema",
        parents=[common],
        help="print the JSON Schema of a spec document",
        description="Print the JSON Schema of a spec document (for editors and "
        "yaml-language-server).",
    )
    plan = sub.add_parser(
        "plan",
        parents=[common, specs, state],
        help="show what apply would do",
        description="Compare the specs with Voice ID and show what apply would do.",
    )
    plan.add_argument(
        "--offline",
        action="store_true",
        help="plan from the specs and the state file alone (no credentials, no API calls)",
    )
    plan.add_argument("--format", choices=("text", "json"), default="text")
    plan.add_argument("--out", type=Path, help="also write the JSON plan to this file")
    plan.add_argument(
        "--detailed-exitcode",
        action="store_true",
        help="exit 2 when starts are pending, 0 when none are, 1 on error",
    )
    plan.add_argument(
        "--max-active",
        type=int,
        default=1,
        help="active jobs allowed per domain and kind (Voice ID's quota; default 1)",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except SpecErrors as err:
        if args.debug:
            raise
        for error in err.errors:
            print(str(error), file=sys.stderr)
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_ERROR
    except StateLockedError as err:
        if args.debug:
            raise
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_LOCKED
    except ReconcilerError as err:
        if args.debug:
            raise
        print(f"voiceid-reconciler: {err}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("voiceid-reconciler: interrupted", file=sys.stderr)
        return 130


def _paths(args: argparse.Namespace) -> list[Path]:
    return list(args.paths) or [Path("specs")]


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "validate":
        return _validate(args)
    if args.command == "schema":
        from reconciler.spec import json_schema

        print(json.dumps(json_schema(), indent=2))
        return EXIT_OK
    if args.command == "plan":
        return _plan(args)
    return _fail(f"unknown command {args.command!r}")


def _fail(message: str) -> NoReturn:
    raise ReconcilerError(message)


def _validate(args: argparse.Namespace) -> int:
    from reconciler.engine import load
    from reconciler.spec import discover

    paths = _paths(args)
    specs = load(paths, args.selector)
    files = len(discover(paths))
    print(f"OK: {len(specs)} spec{'s' if len(specs) != 1 else ''} in {files} file(s) are valid")
    return EXIT_OK


def _plan(args: argparse.Namespace) -> int:
    from reconciler import render
    from reconciler.engine import load, plan_offline
    from reconciler.state import LocalStateStore

    if not args.offline:
        _fail(
            "plan talks to Voice ID in a later version; use 'plan --offline' to plan from "
            "the specs and the state file"
        )
    if args.max_active < 1:
        _fail("--max-active must be at least 1")
    specs = load(_paths(args), args.selector)
    state = LocalStateStore(Path(args.state)).read()
    result = plan_offline(specs, state, max_active=args.max_active)
    as_json = render.plan_json(result.plan, offline=result.offline, observed_at=result.observed_at)
    if args.out:
        args.out.write_text(as_json, encoding="utf-8")
    if args.format == "json":
        sys.stdout.write(as_json)
    else:
        sys.stdout.write(
            render.plan_text(
                result.plan,
                offline=result.offline,
                observed_at=result.observed_at,
                colour=render.use_colour(sys.stdout),
            )
        )
    if args.detailed_exitcode and result.plan.pending:
        return EXIT_PENDING
    return EXIT_OK
