"""``python -m reconciler.sandbox [--port N] [--profile fast|realistic] [--seed]``."""

from __future__ import annotations

import argparse

from reconciler.sandbox.config import PROFILES
from reconciler.sandbox.serve import DEFAULT_JOB_DURATION, serve


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.sandbox",
        description="Run a local Voice ID (with S3 and KMS) on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: any free port)")
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILES),
        default="fast",
        help="fast: no throttling; realistic: 2 TPS per operation",
    )
    parser.add_argument(
        "--seed", action="store_true", help="create a demo domain, bucket, KMS key and audio files"
    )
    parser.add_argument(
        "--job-duration",
        type=float,
        default=DEFAULT_JOB_DURATION,
        help="seconds a batch job takes (default %(default)s)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log every HTTP request")
    args = parser.parse_args(argv)
    serve(
        port=args.port,
        profile=args.profile,
        seed=args.seed,
        job_duration=args.job_duration,
        log_requests=args.log_requests,
    )


if __name__ == "__main__":
    main()
