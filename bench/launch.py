"""``python -m bench.launch RESULT.json COMMAND...``: run COMMAND, write its own rusage.

A child's ``ru_maxrss`` starts from the RSS of the process it was forked from: Linux records
the old address space's high-water mark at ``exec`` (with ``vfork``, the parent's own). The
benchmark process holds the sandbox and its 100,000 jobs, so a client forked from it would
report the benchmark's peak, not its own. This launcher is small (the standard library only):
the client is forked from it, and its peak RSS, CPU time and wall time are measured here.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType


def main() -> None:
    if len(sys.argv) < 3:
        raise SystemExit("usage: python -m bench.launch RESULT.json COMMAND...")
    result, command = Path(sys.argv[1]), sys.argv[2:]
    started = time.perf_counter()
    process = subprocess.Popen(command)

    def forward(signum: int, frame: FrameType | None) -> None:
        process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    result.write_text(
        json.dumps(
            {
                "exit_code": process.returncode,
                "wall_s": wall,
                "cpu_s": usage.ru_utime + usage.ru_stime,
                "peak_rss_kib": usage.ru_maxrss,
            }
        )
    )


if __name__ == "__main__":
    main()
