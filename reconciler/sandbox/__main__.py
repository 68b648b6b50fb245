"""``python -m reconciler.sandbox [--port N] [--speed fast|realistic] [--seed]``."""

from __future__ import annotations

import argparse

from reconciler.sandbox.options import add_serve_arguments
from reconciler.sandbox.serve import serve_args


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.sandbox",
        description="Run a local Voice ID (with S3 and KMS) on 127.0.0.1.",
    )
    add_serve_arguments(parser)
    serve_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
