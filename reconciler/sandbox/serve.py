"""Run a sandbox in the foreground until SIGINT or SIGTERM.

``serve`` prints shell ``export`` lines (the standard AWS settings that point SDKs and the CLI
at the sandbox, plus ``VOICEID_SANDBOX_*`` values describing the demo world, and comment lines
naming what a world file created) and then blocks.
``python -m reconciler.sandbox`` and ``voiceid-reconciler sandbox serve`` call it.
"""

from __future__ import annotations

import argparse
import shlex
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from reconciler.sandbox.options import DEFAULT_JOB_DURATION
from reconciler.sandbox.sandbox import Sandbox
from reconciler.sandbox.seed import DemoWorld
from reconciler.sandbox.world import read_world


def export_lines(sandbox: Sandbox, world: DemoWorld | None = None) -> list[str]:
    """The shell lines that point a shell at ``sandbox`` (and describe ``world``)."""
    lines = [f"export {name}={shlex.quote(value)}" for name, value in sandbox.env().items()]
    lines.append("unset AWS_PROFILE")
    # The sandbox's List never lags behind Start: a first apply may start at once.
    lines.append("export VOICEID_RECONCILER_LIST_LAG_HORIZON=0")
    if world is not None:
        described = {
            "VOICEID_SANDBOX_DOMAIN_ID": world.domain_id,
            "VOICEID_SANDBOX_WATCHLIST_ID": world.default_watchlist_id,
            "VOICEID_SANDBOX_BUCKET": world.bucket,
            "VOICEID_SANDBOX_KMS_KEY_ID": world.kms_key_id,
            "VOICEID_SANDBOX_KMS_ALIAS": world.kms_alias,
            "VOICEID_SANDBOX_ROLE_ARN": world.role_arn,
        }
        lines += [f"export {name}={shlex.quote(value)}" for name, value in described.items()]
    return lines


def world_lines(source: str, described: dict[str, Any]) -> list[str]:
    """Comment lines that say what a world created (the ids its specs may name)."""
    lines = []
    for domain in described["domains"]:
        watchlists = ", ".join(f"{name} {id_}" for name, id_ in domain["watchlists"].items())
        jobs = "".join(
            f"; {job['kind']} {job['name']} {job['jobId']} {job['status']}"
            for job in domain["jobs"]
        )
        lines.append(
            f"# domain {domain['name']} {domain['domainId']} {domain['status']} "
            f"(watchlists: {watchlists}){jobs}"
        )
    for key in described["kmsKeys"]:
        state = "" if key["enabled"] else " (disabled)"
        lines.append(f"# KMS key {key['keyId']}{state}: {', '.join(key['aliases'])}")
    buckets = ", ".join(described["buckets"]) or "none"
    lines.append(f"# world {source}: buckets {buckets}; {described['objects']} objects written")
    return lines


def serve(  # noqa: PLR0913 - the sandbox's knobs, all keyword options
    port: int = 0,
    profile: str = "fast",
    seed: bool = False,
    job_duration: float = DEFAULT_JOB_DURATION,
    *,
    world: Path | None = None,
    log_requests: bool = False,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> None:
    """Serve a sandbox on ``127.0.0.1:port`` (0: any free port) until SIGINT/SIGTERM, with the
    demo world (``seed``) and the world of a file (``world``: raises ``WorldError``, before
    anything is served when the file itself is wrong)."""
    stream = out or sys.stdout
    world_file = read_world(world) if world is not None else None
    if world_file is not None:  # every problem of the file before a port is bound
        for line in world_file.warning_lines(world_file.parse(now=time.time())):
            print(line, file=err or sys.stderr)
    stopped = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stopped.set()

    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, _stop)
    try:
        with Sandbox(
            port=port, profile=profile, job_duration=job_duration, log_requests=log_requests
        ) as sandbox:
            demo = sandbox.seed_demo_world() if seed else None
            lines = export_lines(sandbox, demo)
            if world_file is not None:
                lines += world_lines(str(world), sandbox.seed_world(world_file))
            lines.append(
                f"# Voice ID sandbox on {sandbox.endpoint_url} (profile={profile}, "
                f"job_duration={sandbox.config.job_duration:g}s); knobs: "
                f"{sandbox.endpoint_url}/_sandbox/config; "
                "VOICEID_RECONCILER_LIST_LAG_HORIZON=0 because this List never lags: a first "
                "apply starts at once"
            )
            stream.write("\n".join(lines) + "\n")
            stream.flush()
            stopped.wait()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def serve_args(args: argparse.Namespace) -> None:
    """Serve with the options of :func:`reconciler.sandbox.options.add_serve_arguments`."""
    serve(
        port=args.port,
        profile=args.profile,
        seed=args.seed,
        job_duration=args.job_duration,
        world=args.world,
        log_requests=args.log_requests,
    )
