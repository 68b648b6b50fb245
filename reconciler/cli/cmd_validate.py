"""``validate`` (check spec files) and ``schema`` (print the spec JSON Schema)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli.exits import EXIT_OK


def register(sub: Any, parents: shared.Parents) -> None:
    validate = shared.add_command(
        sub,
        "validate",
        parents=[parents.common, parents.specs],
        help="check spec files and report every problem with file:line:column",
        description="Check spec files; exit 1 and list every problem when any is invalid.",
    )
    validate.set_defaults(handler=run_validate)
    schema = shared.add_command(
        sub,
        "schema",
        parents=[parents.common],
        help="print the JSON Schema of a spec document",
        description="Print the JSON Schema of a spec document (for editors and "
        "yaml-language-server).",
    )
    schema.set_defaults(handler=run_schema)


def run_validate(args: argparse.Namespace) -> int:
    from reconciler.core.loading import discover, load

    paths = shared.paths(args)
    specs = load(paths, args.selector)
    files = len(discover(paths))
    print(f"OK: {len(specs)} spec{'s' if len(specs) != 1 else ''} in {files} file(s) are valid")
    shared.warn_exposed_state_files(paths)
    return EXIT_OK


def run_schema(args: argparse.Namespace) -> int:
    from reconciler.core.spec import json_schema

    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK
