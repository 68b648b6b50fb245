"""The comment-density tool (tools/comments.py) on a tiny module: what counts, what does not."""

from __future__ import annotations

from pathlib import Path

from tools.comments import Count, by_package, count_source, is_comment, main, measure

SAMPLE = '''#!/usr/bin/env python
"""A module docstring,
on two lines."""

# A comment of its own: counts.
import os  # a trailing comment: counts, and the line is code too

#
X = 1  # type: ignore[assignment]
"""An attribute docstring: not code."""
Y = 2  # noqa: E501  # but this one says why: counts


def f() -> str:
    """A function docstring."""
    text = """a string that is not a docstring
is code on each of its lines"""
    return text + os.sep  # pragma: no cover
'''


def test_counts_comments_and_code_on_a_sample() -> None:
    """Own-line and trailing comments count; pragmas, bare '#', docstrings and blanks do not."""
    count = count_source("m.py", SAMPLE)
    # comments: lines 5, 6, 11; code: 6, 9, 11, 14, 16, 17, 18
    assert (count.comments, count.code) == (3, 7)
    assert round(count.density, 1) == 42.9


def test_pragma_parts() -> None:
    """A comment is one when some part of it, split on '#', is words and not a pragma."""
    assert not is_comment("# type: ignore")
    assert not is_comment("# noqa")
    assert not is_comment("# pragma: no branch")
    assert not is_comment("# -*- coding: utf-8 -*-")
    assert not is_comment("# ---")
    assert is_comment("# type: ignore[misc]  # botocore's stubs miss it")
    assert is_comment("# issue #32")


def test_packages_total_and_the_default_exclusion(tmp_path: Path) -> None:
    """Lines are summed per package before dividing; an excluded directory is left out."""
    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("# why\nx = 1\ny = 2\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("z = 3  # why\n")
    counts = measure([tmp_path / "pkg"], [tmp_path / "pkg" / "sub"])
    assert [(c.code, c.comments) for c in counts] == [(2, 1)]
    everything = measure([tmp_path / "pkg"])
    assert [(c.code, c.comments) for c in by_package(everything)] == [(2, 1), (1, 1)]
    assert sum(everything[1:], everything[0]) == Count(everything[0].name, 3, 2)
    assert main([str(tmp_path / "pkg"), "--packages"]) == 0
    assert main([str(tmp_path / "nothing.txt")]) == 1
