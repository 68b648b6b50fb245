"""``python -m reconciler.sandbox [--port N] [--speed fast|realistic] [--seed] [--world FILE]``."""

from __future__ import annotations

import argparse
import sys

from reconciler.sandbox.options import add_serve_arguments
from reconciler.sandbox.serve import serve_args
from reconciler.sandbox.world import WorldError


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until SIGINT/SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m reconciler.sandbox",
        description="Run a local Voice ID (with S3 and KMS) on 127.0.0.1.",
    )
    add_serve_arguments(parser)
    try:
        serve_args(parser.parse_args(argv))
    except WorldError as err:  # a world file that is wrong: one line per problem, no traceback
        for line in err.lines():
            print(line, file=sys.stderr)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
