"""``python -m bench.floor DIR``: the floor a run is compared with — PyYAML's C loader parsing
every spec file under DIR (``*.yaml``), and nothing else. Run as its own process (through
``bench.launch``), so its CPU, wall time and RSS count its interpreter start-up and imports
as the reconciler's do."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml


def main() -> None:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    documents = 0
    for path in sorted(Path(sys.argv[1]).rglob("*.yaml")):
        documents += len(list(yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader)))
    print(documents)


if __name__ == "__main__":
    main()
