"""The generated parts of docs/architecture.md: the module map and the import contracts.

``python -m tools.architecture --write`` rewrites them from the code; ``--check`` exits 1 with a
diff when the document says something the code no longer does (tests/test_architecture_doc.py
runs it).

* **The module map** (between ``<!-- modules:begin -->`` and ``<!-- modules:end -->``): a row
  per module of the product with its line count and what it owns — the first paragraph of its
  docstring (the module owns its description: a module without one stops the tool). The
  packages come bottom-up in the order of the layers contract, each under a row of its own
  (its lines in all, its ``__init__`` docstring); an ``__init__.py`` that holds more than its
  docstring gets a row naming what it defines. The sandbox stands apart and is one row: its
  internals are not the product's (its own docstring lays them out).
* **The contracts** (between ``<!-- contracts:begin -->`` and ``<!-- contracts:end -->``): the
  name and type of every ``[tool.importlinter]`` contract in pyproject.toml, as ``lint-imports``
  checks them.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import re
import sys
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = Path("docs") / "architecture.md"
PACKAGE = "reconciler"
APART = frozenset({"sandbox"})
"""Subpackages shown as one row, their modules not listed."""
LAYERS_CONTRACT = "layers"


class ArchitectureError(Exception):
    """The code cannot be described (a module without a docstring, a marker missing)."""


@dataclass(frozen=True)
class Row:
    module: str
    lines: int
    owns: str
    heading: bool = False

    def markdown(self) -> str:
        name = f"**{self.module}**" if self.heading else f"`{self.module}`"
        return f"| {name} | {self.lines} | {self.owns} |"


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


_ROLE = re.compile(r":[a-z]+:`(~?)([^`<]*?)(?:\s*<[^>]*>)?`")


def _markdown(text: str) -> str:
    """A docstring's reStructuredText as Markdown for a table cell: roles to code, doubled
    backquotes single, pipes escaped."""

    def role(match: re.Match[str]) -> str:  # :class:`~a.b.C` shows C, :mod:`a.b` a.b
        target = match.group(2).strip()
        return f"`{target.rsplit('.', 1)[-1] if match.group(1) else target}`"

    text = _ROLE.sub(role, text)
    text = text.replace("``", "`")
    return text.replace("|", "\\|")


def summary(path: Path, root: Path) -> str:
    """The first paragraph of a module's docstring, on one line."""
    docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8")), clean=True)
    if not docstring:
        raise ArchitectureError(f"{path.relative_to(root)}: no module docstring to describe it")
    paragraph = docstring.split("\n\n", 1)[0]
    return _markdown(" ".join(line.strip() for line in paragraph.splitlines()))


def _defined(path: Path) -> list[str]:
    """The public names a module binds itself (imports aside), in the order it binds them."""
    names: list[str] = []
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names += [t.id for t in targets if isinstance(t, ast.Name)]
    return [n for n in names if n != "__all__" and (not n.startswith("_") or n.endswith("__"))]


def holds_code(path: Path) -> bool:
    """Whether an ``__init__.py`` holds more than a docstring and ``from __future__``."""
    body = ast.parse(path.read_text(encoding="utf-8")).body
    for node in body:
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, ast.ImportFrom) and node.module == "__future__":
            continue
        return True
    return False


def layer_order(root: Path) -> list[str]:
    """The subpackages of the first layers contract over the whole package, bottom first."""
    contracts = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
    for contract in contracts:
        layers = contract.get("layers", [])
        if contract["type"] == LAYERS_CONTRACT and all(
            str(layer).count(".") == 1 for layer in layers
        ):
            return [str(layer).split(".", 1)[1] for layer in reversed(layers)]
    raise ArchitectureError("pyproject.toml: no layers contract over the package's subpackages")


def _group(root: Path, package: Path, label: str, files: list[Path]) -> Iterator[Row]:
    """A package's heading row and the rows of ``files`` (relative to ``package``)."""
    init = package / "__init__.py"
    yield Row(label, sum(line_count(f) for f in files), summary(init, root), heading=True)
    for path in files:
        name = path.relative_to(package).as_posix()
        if path == init:
            if not holds_code(path):
                continue
            defined = ", ".join(f"`{n}`" for n in _defined(path)) or "re-exports only"
            yield Row(name, line_count(path), f"defines {defined}")
        else:
            yield Row(name, line_count(path), summary(path, root))


def rows(root: Path = ROOT) -> list[Row]:
    """The module map of the package under ``root``, heading rows included."""
    top = root / PACKAGE
    subpackages = sorted(p.parent.name for p in top.glob("*/__init__.py"))
    order = [p for p in layer_order(root) if p in subpackages]
    order += [p for p in subpackages if p not in order]
    result = list(_group(root, top, f"{PACKAGE}/", sorted(top.glob("*.py"))))
    for name in order:
        package = top / name
        files = sorted(package.rglob("*.py"))
        if name in APART:
            owns = summary(package / "__init__.py", root)
            result.append(Row(f"{name}/", sum(map(line_count, files)), owns, heading=True))
        else:
            result += _group(root, package, f"{name}/", files)
    return result


def module_table(root: Path = ROOT) -> str:
    lines = ["| module | lines | owns |", "| --- | ---: | --- |"]
    lines += [row.markdown() for row in rows(root)]
    return "\n".join(lines) + "\n"


def contract_list(root: Path = ROOT) -> str:
    contracts = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))["tool"][
        "importlinter"
    ]["contracts"]
    return "".join(f"* {c['name']} (`{c['type']}`)\n" for c in contracts)


BLOCKS = {"modules": module_table, "contracts": contract_list}


def generated(text: str, root: Path = ROOT) -> str:
    """``text`` (the document) with every generated block made again from the code."""
    for name, make in BLOCKS.items():
        begin, end = f"<!-- {name}:begin -->\n", f"<!-- {name}:end -->"
        start = text.find(begin)
        stop = text.find(end, start + len(begin)) if start >= 0 else -1
        if start < 0 or stop < 0:
            raise ArchitectureError(f"{DOC}: the markers {begin.strip()} ... {end} are missing")
        text = text[: start + len(begin)] + make(root) + text[stop:]
    return text


def check(root: Path = ROOT) -> str:
    """The diff between the document and what the code says (empty: it is up to date)."""
    path = root / DOC
    text = path.read_text(encoding="utf-8")
    return "".join(
        difflib.unified_diff(
            text.splitlines(keepends=True),
            generated(text, root).splitlines(keepends=True),
            f"{DOC} (as written)",
            f"{DOC} (from the code)",
        )
    )


def write(root: Path = ROOT) -> bool:
    """Rewrite the generated blocks; whether anything changed."""
    path = root / DOC
    text = path.read_text(encoding="utf-8")
    new = generated(text, root)
    if new != text:
        path.write_text(new, encoding="utf-8")
    return new != text


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.architecture", description=__doc__)
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the generated blocks")
    action.add_argument("--check", action="store_true", help="exit 1 with a diff when stale")
    args = parser.parse_args(argv)
    try:
        if args.write:
            sys.stdout.write(f"{DOC}: {'rewritten' if write(root) else 'up to date'}\n")
            return 0
        diff = check(root)
    except ArchitectureError as err:
        sys.stderr.write(f"tools.architecture: {err}\n")
        return 1
    if diff:
        sys.stdout.write(diff)
        sys.stderr.write(f"{DOC} is stale: python -m tools.architecture --write\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
