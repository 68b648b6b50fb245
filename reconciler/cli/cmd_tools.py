"""``demo`` (the whole product against a local sandbox), ``sandbox serve`` and ``sandbox seed``
(a world file of your own: docs/sandbox.md)."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from reconciler.cli import args as shared
from reconciler.cli import collector, registry, values
from reconciler.cli.exits import EXIT_ERROR, EXIT_OK
from reconciler.core.errors import ReconcilerError
from reconciler.sandbox.admin import SandboxAdmin, SandboxAdminError
from reconciler.sandbox.options import (
    DEFAULT_JOB_DURATION,
    add_serve_arguments,
    missing_dependency,
)
from reconciler.sandbox.world import WorldError, read_world

ENDPOINT_VOICE_ID = "AWS_ENDPOINT_URL_VOICE_ID"
ENDPOINT = "AWS_ENDPOINT_URL"


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
    seed = shared.add_command(
        sandbox_sub,
        "seed",
        parents=[parents.common],
        help="create a world file's domains, keys, buckets, audio, manifests and jobs in a "
        "running sandbox",
        description="Check a world file (docs/sandbox.md) and create what it declares in a "
        "sandbox that is running (sandbox serve); print what is there as JSON. Seeding is "
        "additive: nothing is deleted, and seeding the same file twice changes nothing.",
    )
    seed.add_argument("world", type=Path, metavar="FILE", help="the world file (YAML)")
    seed.add_argument(
        "--endpoint-url",
        metavar="URL",
        help="the sandbox (default: $AWS_ENDPOINT_URL_VOICE_ID, else $AWS_ENDPOINT_URL, as "
        "sandbox serve prints them)",
    )
    seed.set_defaults(handler=run_seed)


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
    return registry.run_demo(list(args.paths), cli=args.cli, job_duration=args.job_duration)


def run_serve(args: argparse.Namespace) -> int:
    _sandbox_installed("sandbox serve")
    collector.resume()  # a server: it runs until stopped
    try:
        registry.serve_sandbox(args)
    except WorldError as err:
        return _world_refused(err, args)
    return EXIT_OK


def run_seed(args: argparse.Namespace) -> int:
    url = args.endpoint_url or os.environ.get(ENDPOINT_VOICE_ID) or os.environ.get(ENDPOINT)
    if not url:
        raise ReconcilerError(
            "sandbox seed: which sandbox? Give --endpoint-url, or export the lines that "
            "sandbox serve prints"
        )
    parsed = urlsplit(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ReconcilerError(f"sandbox seed: {url!r} is not a URL such as http://127.0.0.1:4566")
    try:
        world = read_world(args.world)
        for line in world.warning_lines(world.parse(now=time.time())):
            print(line, file=sys.stderr)
        admin = SandboxAdmin(url)
        try:
            admin.health()
        except (SandboxAdminError, OSError, ValueError) as err:  # ValueError: not JSON
            reason = getattr(err, "reason", None) or err  # a URLError's own words
            raise ReconcilerError(
                f"sandbox seed: no sandbox answers at {url} ({reason}); start one with "
                "voiceid-reconciler sandbox serve"
            ) from err
        described = admin.seed_world(world)
    except WorldError as err:
        return _world_refused(err, args)
    except (SandboxAdminError, OSError) as err:
        raise ReconcilerError(f"sandbox seed: the sandbox at {url} failed: {err}") from err
    print(json.dumps(described, indent=2, sort_keys=True))
    return EXIT_OK


def _world_refused(err: Exception, args: argparse.Namespace) -> int:
    """A world file that is wrong: one ``file:line:column: path: message`` line per problem."""
    if args.debug:
        raise err
    for line in str(err).splitlines():
        print(line, file=sys.stderr)
    return EXIT_ERROR
