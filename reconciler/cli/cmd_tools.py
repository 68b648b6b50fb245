"""``demo`` (the whole product against a local sandbox) and ``sandbox serve``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli import collector, values
from reconciler.cli.exits import EXIT_OK
from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.options import (
    DEFAULT_JOB_DURATION,
    add_serve_arguments,
    missing_dependency,
)


def register(sub: Any, parents: shared.Parents) -> None:
    demo = shared.add_command(
        sub,
        "demo",
        parents=[parents.common],
        help="run validate, plan, apply --wait and status against a local sandbox",
        description="Start a local Voice ID sandbox with a seeded world and run the example "
        "specs through validate, plan, apply --wait and status. Needs no AWS account.",
    )
    demo.add_argument(
        "paths",
        nargs="*",
        type=Path,
        metavar="PATH",
        help="spec files or directories (default: specs/ here, else the packaged examples)",
    )
    demo.add_argument(
        "--job-duration",
        type=values.duration(positive=True),
        metavar="SECONDS",
        default=DEFAULT_JOB_DURATION,
        help=f"how long a sandbox job runs (default: {DEFAULT_JOB_DURATION:g})",
    )
    demo.set_defaults(handler=run_demo)

    sandbox = shared.add_command(
        sub,
        "sandbox",
        parents=[parents.common],
        help="the local Voice ID sandbox (with S3 and KMS)",
    )
    sandbox_sub = sandbox.add_subparsers(dest="sandbox_command", required=True, metavar="COMMAND")
    serve = shared.add_command(
        sandbox_sub,
        "serve",
        parents=[parents.common],
        help="serve a sandbox on 127.0.0.1 in the foreground",
        description="Serve Voice ID, S3 and KMS on one loopback port and print the AWS "
        "environment variables to export.",
    )
    add_serve_arguments(serve)
    serve.set_defaults(handler=run_serve)


def _sandbox_installed(command: str) -> None:
    """The sandbox needs the ``sandbox`` extra (moto); without it (the production image), a
    one-line error that says what to install, not a ``ModuleNotFoundError`` traceback."""
    missing = missing_dependency()
    if missing is not None:
        raise ReconcilerError(
            f"{command} needs the local sandbox, which is not installed here (no module "
            f"{missing!r}): pip install 'voiceid-reconciler[sandbox]'"
        )


def run_demo(args: argparse.Namespace) -> int:
    _sandbox_installed("demo")
    collector.resume()  # a server in this process, for as long as the demo runs
    from reconciler.cli.demo import example_specs
    from reconciler.cli.demo import run_demo as demo

    paths = list(args.paths) or [example_specs()]
    return demo(paths, cli=args.cli, job_duration=args.job_duration)


def run_serve(args: argparse.Namespace) -> int:
    _sandbox_installed("sandbox serve")
    collector.resume()  # a server: it runs until stopped
    from reconciler.sandbox.serve import serve_args

    serve_args(args)
    return EXIT_OK
