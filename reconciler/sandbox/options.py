"""The options of ``sandbox serve``, defined once for ``python -m reconciler.sandbox`` and
``voiceid-reconciler sandbox serve`` (light: it imports nothing that serves)."""

from __future__ import annotations

import argparse

from reconciler.sandbox.config import PROFILES

DEFAULT_JOB_DURATION = 5.0


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serve options to ``parser``."""
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
