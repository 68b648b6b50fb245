"""Comment density: comment lines per 100 lines of code, per module, per package and in all.

``python -m tools.comments [paths]`` (default: ``reconciler/`` without ``reconciler/sandbox``,
which is not the product) reads each ``.py`` file with :mod:`tokenize` and :mod:`ast`:

* **a comment line** is a line holding a ``#`` comment with some text in it: a line of its own
  or a trailing comment after code (that line is then also a code line). A comment that is only
  a tool's pragma (``# type: ignore[...]``, ``# noqa: ...``, ``# pragma: no cover``,
  ``# fmt: off``, a shebang, an encoding line) is not one, nor a bare ``#``; a pragma followed
  by words (``# noqa: S603  # the argv is ours``) is.
* **a code line** is a non-blank line that holds a token of code; a docstring is not code: any
  statement that is a bare string (module, class and function docstrings, and the attribute
  docstrings under assignments) is left out with all its lines.

The density of a group is its comment lines over its code lines, times 100 — lines are summed
first, so a big module weighs more than a small one.

The anchors of STYLE.md's habit 19, measured with this tool on their packages (tests left
out), at the snapshots fetched for issue 32:

* nolar/kopf ``kopf/`` (60d02ae, June 2026): 12.8 per 100 (1375 comment lines, 10729 code);
* octodns/octodns ``octodns/`` (94bc80e, August 2026): 5.7 per 100 (649 / 11357); its
  ``record/`` package (5761 code lines, 2.3) pulls it down, its other packages are 3 to 28.
"""

from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

DEFAULT_PATHS = ("reconciler",)
DEFAULT_EXCLUDE = ("reconciler/sandbox",)

_PRAGMA = re.compile(
    r"""^(?:
        type:\s*ignore(?:\[[^\]]*\])? | noqa(?::\s*[A-Z0-9, ]+)? | pragma:.* |
        fmt:\s*(?:on|off|skip) | isort:.* | mypy:.* | pyright:.* | ruff:.* |
        !.* | -\*-.*-\*- | (?:vim?:\s*)?(?:coding|encoding)[:=].*
    )$""",
    re.VERBOSE,
)
_WORD = re.compile(r"\w")
_NOT_CODE = frozenset(
    {
        tokenize.COMMENT,
        tokenize.NL,
        tokenize.NEWLINE,
        tokenize.INDENT,
        tokenize.DEDENT,
        tokenize.ENDMARKER,
        tokenize.ENCODING,
    }
)


def is_comment(text: str) -> bool:
    """Whether a ``#`` comment's text says something: not only pragmas, not bare."""
    # A pragma with a why after it is one COMMENT token, two '#' and all: split it on '#' and
    # keep the parts that are not a pragma; one of those must hold a word.
    parts = (part.strip() for part in text.split("#"))
    return any(_WORD.search(part) and not _PRAGMA.match(part) for part in parts)


def docstring_lines(tree: ast.AST) -> set[int]:
    """The line numbers of every statement that is a bare string (a docstring of some kind)."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Expr)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            lines.update(range(node.lineno, (node.end_lineno or node.lineno) + 1))
    return lines


@dataclass(frozen=True)
class Count:
    name: str
    code: int
    comments: int

    @property
    def density(self) -> float:
        return 100 * self.comments / self.code if self.code else 0.0

    def __add__(self, other: Count) -> Count:
        return Count(self.name, self.code + other.code, self.comments + other.comments)


def count_source(name: str, source: str) -> Count:
    """The code and comment lines of one module's text."""
    text_lines = source.splitlines()
    comments: set[int] = set()
    code: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type == tokenize.COMMENT:
            if is_comment(token.string):
                comments.add(token.start[0])
        elif token.type not in _NOT_CODE:
            # A token may span lines (a triple-quoted string): each non-blank line is code.
            code.update(
                line
                for line in range(token.start[0], token.end[0] + 1)
                if text_lines[line - 1].strip()
            )
    code -= docstring_lines(ast.parse(source))
    return Count(name, len(code), len(comments))


def modules(paths: Iterable[Path], exclude: Iterable[Path]) -> Iterator[Path]:
    skip = [p.resolve() for p in exclude]
    for path in paths:
        if path.is_dir():
            found = sorted(path.rglob("*.py"))
        else:
            found = [path] if path.suffix == ".py" else []
        for module in found:
            resolved = module.resolve()
            if not any(resolved.is_relative_to(s) for s in skip):
                yield module


def measure(paths: Iterable[Path], exclude: Iterable[Path] = ()) -> list[Count]:
    return [
        count_source(str(module), module.read_text(encoding="utf-8"))
        for module in modules(paths, exclude)
    ]


def by_package(counts: Iterable[Count]) -> list[Count]:
    packages: dict[str, Count] = {}
    for count in counts:
        package = str(Path(count.name).parent) + "/"
        packages[package] = packages.get(package, Count(package, 0, 0)) + count
    return [packages[name] for name in sorted(packages)]


def table(counts: list[Count]) -> str:
    width = max((len(c.name) for c in counts), default=10)
    rows = [f"{'':{width}}  {'code':>6}  {'comment':>7}  {'per 100':>7}"]
    rows += [f"{c.name:{width}}  {c.code:6}  {c.comments:7}  {c.density:7.1f}" for c in counts]
    return "\n".join(rows) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.comments",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("paths", nargs="*", type=Path, help="files or directories")
    parser.add_argument(
        "--exclude",
        action="append",
        type=Path,
        help="a directory or file to leave out (default, with no paths: reconciler/sandbox)",
    )
    parser.add_argument("--packages", action="store_true", help="only the packages and the total")
    args = parser.parse_args(argv)
    paths = args.paths or [Path(p) for p in DEFAULT_PATHS]
    exclude = args.exclude
    if exclude is None:
        exclude = [] if args.paths else [Path(p) for p in DEFAULT_EXCLUDE]
    counts = measure(paths, exclude)
    if not counts:
        sys.stderr.write("tools.comments: no Python files\n")
        return 1
    total = sum(counts[1:], counts[0])
    rows = [] if args.packages else [*counts]
    rows += [*by_package(counts), Count("total", total.code, total.comments)]
    sys.stdout.write(table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
