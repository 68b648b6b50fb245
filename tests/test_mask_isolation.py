"""The test suite's own isolation: the rosters a test leaves in the process's redaction mask
(``reconciler.core.redact.MASK``) are gone before the next test, whichever module it is in
(``tests/conftest.py``). A test that loads no spec would otherwise redact, or fail to show a
leak, with the rosters of whatever test ran before it."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parent / "conftest.py"


def test_a_tests_rosters_do_not_reach_the_next_tests_module(pytester: pytest.Pytester) -> None:
    """Two modules run in order under the suite's conftest: the first leaves a roster in the
    mask (a test that loaded specs), the second sees none."""
    pytester.makeconftest(CONFTEST.read_text())
    pytester.makepyfile(
        test_a_loads="""
            from reconciler.core.redact import MASK, redact
            from reconciler.core.roster import Request

            def test_loads():
                MASK.use([[Request("cust-1", (("s3://b/calls/jo.wav", 0),))]])
                assert redact("cust-1 calls/jo.wav") == "<speaker> <audio>"
        """,
        test_b_loads_nothing="""
            from reconciler.core.redact import redact

            def test_sees_no_roster():
                assert redact("cust-1 calls/jo.wav") == "cust-1 calls/jo.wav"
        """,
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
