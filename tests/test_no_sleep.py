"""No test outside tests/chaos sleeps for real: a test waits on a clock it drives, on an event,
or on a condition it asks again as soon as it may hold (tests/support.py's ``wait_until``).
Only the chaos suite, which runs the product in real time on purpose, may sleep."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHAOS = TESTS / "chaos"
SLEEPS = {("time", "sleep"), ("asyncio", "sleep")}


def sleeps(source: str) -> list[int]:
    """The lines of ``source`` that call ``time.sleep`` or ``asyncio.sleep`` (also when imported
    by name, or as ``import time as t``); comments and strings do not count."""
    tree = ast.parse(source)
    modules: dict[str, str] = {}  # local name -> module
    functions: set[str] = set()  # local names of the sleep functions themselves
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[alias.asname or alias.name] = alias.name
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if (node.module, alias.name) in SLEEPS:
                    functions.add(alias.asname or alias.name)
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        called = node.func
        if (
            isinstance(called, ast.Attribute)
            and isinstance(called.value, ast.Name)
            and (modules.get(called.value.id), called.attr) in SLEEPS
        ) or (isinstance(called, ast.Name) and called.id in functions):
            found.append(node.lineno)
    return sorted(found)


def test_no_test_outside_chaos_sleeps() -> None:
    """Every test file (helpers and fakes included) outside tests/chaos is free of real sleeps."""
    found = [
        f"{path.relative_to(TESTS)}:{line}"
        for path in sorted(TESTS.rglob("*.py"))
        if CHAOS not in path.parents
        for line in sleeps(path.read_text(encoding="utf-8"))
    ]
    assert found == []


def test_the_check_finds_a_sleep_in_code_and_not_in_a_comment() -> None:
    """The check sees a sleep however it is imported, and no mention of one."""
    planted = (
        "import time\n"
        "import time as clock\n"
        "from time import sleep\n"
        "from asyncio import sleep as nap\n"
        "import asyncio\n"
        "# time.sleep(1) in a comment\n"
        "'''time.sleep(1) in a string'''\n"
        "time.sleep(1)\n"
        "clock.sleep(1)\n"
        "sleep(1)\n"
        "nap(1)\n"
        "asyncio.sleep(1)\n"
        "fake_clock.sleep(1)\n"
    )
    assert sleeps(planted) == [8, 9, 10, 11, 12]
    assert sleeps("# time.sleep(1)\nclock.sleep(1)\n") == []
