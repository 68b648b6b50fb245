"""``python -m bench [--quick] [--specs N] [--history H] [--domains D]``: run the benchmarks.

Output is one ``label : value`` line per figure (stdout; progress goes to stderr); the last
line is the headline ratio: the steady-state API calls of the naive baseline over ours. A
target that is not met is reported FAIL; the exit status stays 0 (it is a measurement).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

from bench.scenarios import FULL, QUICK, run_all
from bench.world import JOB_DURATION
from reconciler.sandbox import Sandbox


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a small size, to prove they work")
    parser.add_argument("--specs", type=int, help=f"specs (default {FULL.specs})")
    parser.add_argument("--history", type=int, help=f"historical jobs (default {FULL.history})")
    parser.add_argument("--domains", type=int, help=f"domains (default {FULL.domains})")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    changes = {
        name: value
        for name, value in (
            ("specs", args.specs),
            ("history", args.history),
            ("domains", args.domains),
        )
        if value is not None
    }
    if args.specs is not None:
        changes["plan_specs"] = args.specs
    try:
        size = dataclasses.replace(size, **changes)
    except ValueError as err:
        parser.error(str(err))
    started = time.monotonic()

    def progress(message: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {message}", file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="voiceid-bench-") as tmp,
        Sandbox(profile="fast", job_duration=JOB_DURATION) as sandbox,
    ):
        report = run_all(sandbox, Path(tmp), size, progress)
    for line in report.lines():
        print(line)


if __name__ == "__main__":
    main()
