"""The options of ``sandbox serve``, defined once for ``python -m reconciler.sandbox`` and
``voiceid-reconciler sandbox serve`` (light: it imports nothing that serves)."""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from reconciler.sandbox.config import PROFILES

DEFAULT_JOB_DURATION = 4.0
"""Seconds a sandbox job runs (``sandbox serve`` and the demo alike)."""


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port, 0..65535 (0: any free), not {text!r}")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise argparse.ArgumentTypeError(f"expected a number of seconds above 0, not {text!r}")
    return seconds


def add_serve_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the serve options to ``parser``."""
    parser.add_argument(
        "--port", type=_port, default=0, help="port to bind on 127.0.0.1 (default: any free one)"
    )
    parser.add_argument(
        "--speed",
        choices=sorted(PROFILES),
        default="fast",
        dest="profile",
        help="fast: no throttling; realistic: 2 TPS per operation, as Voice ID (default: fast)",
    )
    parser.add_argument(
        "--seed", action="store_true", help="create a demo domain, bucket, KMS key and audio files"
    )
    parser.add_argument(
        "--world",
        type=Path,
        metavar="FILE",
        help="create the world this YAML file declares: domains, watchlists, KMS keys, "
        "buckets, audio, manifests, jobs (docs/sandbox.md)",
    )
    parser.add_argument(
        "--job-duration",
        type=_seconds,
        default=DEFAULT_JOB_DURATION,
        metavar="SECONDS",
        help="how long a batch job runs (default: %(default)s)",
    )
    parser.add_argument("--log-requests", action="store_true", help="log every HTTP request")


def missing_dependency() -> str | None:
    """The module the sandbox needs and cannot import (the ``sandbox`` extra is not installed,
    as in the production image), or None when it can run."""
    try:
        import moto.moto_server.werkzeug_app  # noqa: F401 - what the sandbox serves with
    except ModuleNotFoundError as err:
        return err.name or "moto"
    return None
