"""``python -m bench [--quick] [--specs N]``: run the benchmarks and print their figures.

Output is one ``label: value`` line per figure; the last line is the headline ratio.
"""

from __future__ import annotations

import argparse

from bench import plan_only


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench")
    parser.add_argument("--quick", action="store_true", help="a small size, to prove they work")
    parser.add_argument("--specs", type=int, default=10_000)
    args = parser.parse_args()
    count = 200 if args.quick else args.specs
    rows = plan_only.run(count, repeat=1 if args.quick else 3)
    width = max(len(label) for label, _ in rows)
    for label, value in rows:
        print(f"{label:<{width}} : {value}")


if __name__ == "__main__":
    main()
