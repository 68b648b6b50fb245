"""docs/security.md's Fuzzing section is true: it lists every fuzz target of tests/fuzz/ with
the CI size the target runs at, ten times that for the soak, and the variables that set the
size and the seed (those tests/fuzz/conftest.py reads)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.fuzz.conftest import EXAMPLES_ENV, SEED_ENV

ROOT = Path(__file__).resolve().parent.parent


def _targets() -> dict[str, int]:
    """Every fuzz target, ``module.py::test_name``, and its CI size (the ``ci`` of its
    ``@fuzz_settings``), read from the source."""
    found: dict[str, int] = {}
    for path in sorted((ROOT / "tests" / "fuzz").glob("test_*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.FunctionDef):
                continue
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == "fuzz_settings"
                ):
                    (size,) = [k.value for k in decorator.keywords if k.arg == "ci"]
                    assert isinstance(size, ast.Constant)
                    found[f"{path.name}::{node.name}"] = int(size.value)
    return found


def _section() -> str:
    text = (ROOT / "docs" / "security.md").read_text()
    start = text.index("\n## Fuzzing\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


def test_the_fuzz_section_lists_every_target_with_its_sizes() -> None:
    targets = _targets()
    assert len(targets) >= 9, targets  # the three modules' targets were all found
    rows = {
        match[1]: (match[2], match[3])
        for match in re.finditer(r"^\| `([^`]+)` \|.*\| ([\d,]+) \| ([\d,]+) \|$", _section(), re.M)
    }
    assert sorted(rows) == sorted(targets)
    for name, size in targets.items():
        assert rows[name] == (f"{size:,}", f"{10 * size:,}"), name


def test_the_fuzz_section_names_the_variables_that_set_size_and_seed() -> None:
    section = _section()
    assert f"`{EXAMPLES_ENV}=N`" in section
    assert f"`{SEED_ENV}=N`" in section
    match = re.search(r"fixed in CI, (\d+),", section)
    assert match is not None
    conftest = (ROOT / "tests" / "fuzz" / "conftest.py").read_text()
    assert f'os.environ.get(SEED_ENV, "{match[1]}")' in conftest
    count = len(_targets())
    words = {9: "nine"}
    assert f"{words.get(count, count)} Hypothesis targets" in section
