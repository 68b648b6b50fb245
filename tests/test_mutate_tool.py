"""The mutation tester itself (tools/mutate.py) on a tiny module: a mutant killed, one survived."""

from __future__ import annotations

from pathlib import Path

from tools.mutate import apply, load_equivalents, mutants, report, run_module

TINY = '''"""A tiny module."""


def clamp(value: int) -> int:
    return value if value < 10 else 10
'''
TEST = """from reconciler.tiny import clamp


def test_clamp() -> None:
    assert clamp(3) == 3
    assert clamp(20) == 10
"""


def test_each_operator_makes_its_mutant() -> None:
    source = "def f(a, b):\n    x = min(a, b) + 1\n    g(x)\n    return a < b and not x[0]\n"
    keys = {m.key.removeprefix("m.py:") for m in mutants("m.py", source)}
    assert {
        "2: min(a, b) → max(a, b)",
        "2: min(a, b) + 1 → min(a, b) - 1",
        "2: min(a, b) + 1 → min(a, b) + 0",
        "2: x = min(a, b) + 1 → pass",
        "3: g(x) → pass",
        "4: return a < b and (not x[0]) → return None",
        "4: a < b and (not x[0]) → a < b or not x[0]",
        "4: a < b → a <= b",
        "4: not x[0] → x[0]",
        "4: x[0] → x[1]",
    } <= keys
    flipped = next(m for m in mutants("m.py", source) if m.mutated == "a <= b")
    assert "return a <= b and (not x[0])" in apply(source, flipped)
    assert "return a < b" in source  # the source itself is never changed


def test_a_killed_and_a_surviving_mutant(tmp_path: Path) -> None:
    """On a copy of the package: ``<`` → ``>`` is killed; ``< 10`` → ``<= 10`` survives (it
    is equivalent: at 10 both return 10) and, listed as such, leaves the score."""
    package = tmp_path / "reconciler"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tiny.py").write_text(TINY)
    # In a folder of its own, as the repository's tests are: pytest puts a test's folder
    # first on sys.path, and the package beside it would shadow the mutated copy.
    (tmp_path / "tests").mkdir()
    test = tmp_path / "tests" / "test_tiny.py"
    test.write_text(TEST)
    results = run_module("reconciler/tiny.py", [str(test)], 1, lambda _: None, root=tmp_path)
    outcomes = {m.key.removeprefix("reconciler/tiny.py:"): o for m, o in results.items()}
    assert outcomes["5: value < 10 → value > 10"] == "killed"
    assert outcomes["5: return value if value < 10 else 10 → return None"] == "killed"
    assert outcomes["5: value < 10 → value <= 10"] == "survived"
    assert outcomes["5: value < 10 → value < 11"] == "survived"  # clamp(10) is not tested
    assert (package / "tiny.py").read_text() == TINY
    survivor = "reconciler/tiny.py:5: value < 10 → value <= 10"
    table = report(results, {})
    assert f"  {survivor}" in table
    allowlist = tmp_path / "equivalent.txt"
    allowlist.write_text(f"# comment\n{survivor}  # at 10 both return 10\n")
    equivalents = load_equivalents(allowlist)
    assert equivalents == {survivor: "at 10 both return 10"}
    table = report(results, equivalents)
    assert "reconciler/tiny.py                             4      3        1       0 75.0%" in table
    assert "survivors (1)" in table
    assert f"{survivor}  # at 10 both return 10" in table
