"""``validate`` (check spec files) and ``schema`` (print the spec JSON Schema)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from reconciler.cli import args as shared
from reconciler.cli import flags
from reconciler.cli.exits import EXIT_ERROR, EXIT_OK
from reconciler.cli.session import Session
from reconciler.core.errors import SpecErrors
from reconciler.core.spec import json_schema

if TYPE_CHECKING:
    from reconciler.core.errors import Location, SpecError


def register(sub: Any, parents: shared.Parents) -> None:
    validate = shared.add_command(
        sub,
        "validate",
        parents=[parents.common, parents.specs],
        help="check spec files and report every problem with file:line:column",
        description="Check spec files; exit 1 and list every problem when any is invalid.",
    )
    validate.add_argument(
        "--format",
        choices=("text", "json", "github"),
        default="text",
        help="text: one line per problem on stderr; json: one document on stdout; github: "
        "workflow commands that annotate the pull request's lines (default: text)",
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
    result = Session(flags.spec_settings(args)).validate()
    errors, warnings = result.errors, result.warnings
    if args.format == "text":
        if errors:
            raise SpecErrors(errors)
        print(_ok(len(result.specs), result.files))
        for warning in warnings:
            print(f"voiceid-reconciler: warning: {warning}", file=sys.stderr)
    elif args.format == "json":
        document = {
            "formatVersion": 1,
            "valid": not errors,
            "specs": len(result.specs) if not errors else None,
            "files": result.files if not errors else None,
            "errors": [_error_dict(e) for e in errors],
            "warnings": warnings,
        }
        print(json.dumps(document, indent=2))
    else:
        for error in errors:
            print(_annotation("error", error.location, error.message))
        for warning in warnings:
            print(f"::warning title=voiceid-reconciler::{_escape(warning)}")
        if not errors:
            print(_ok(len(result.specs), result.files))
    return EXIT_ERROR if errors else EXIT_OK


def _ok(specs: int, files: int) -> str:
    return (
        f"OK: {specs} spec{'s' if specs != 1 else ''} in {files} file{'s' if files != 1 else ''}"
        " are valid"
    )


def _error_dict(error: SpecError) -> dict[str, Any]:
    loc = error.location
    return {
        "file": str(loc.path),
        "line": loc.line or None,
        "column": loc.column or None,
        "message": error.message,
    }


def _annotation(level: str, loc: Location, message: str) -> str:
    """A GitHub workflow command that shows ``message`` on the file's line in the PR."""
    props = [f"file={_escape_property(str(loc.path))}"]
    if loc.line:
        props.append(f"line={loc.line}")
    if loc.column:
        props.append(f"col={loc.column}")
    props.append("title=voiceid-reconciler")
    return f"::{level} {','.join(props)}::{_escape(message)}"


def _escape(text: str) -> str:
    """GitHub's escaping of a workflow command's message."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def run_schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK
