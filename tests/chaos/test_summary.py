"""The soak's summary table is made from the report, and shows failures (not chaos itself)."""

from __future__ import annotations

import json

from .summary import summarize


def _lines(*events: dict[str, object]) -> list[str]:
    return [json.dumps(e) for e in events]


def test_summary_counts_trials_outcomes_and_what_they_met() -> None:
    report = _lines(
        {"event": "session", "trials": "50", "base_seed": 7, "seeds": None, "started": 0.0},
        {
            "event": "kill",
            "test": "[test_k[seed=2]]",
            "seed": 2,
            "backend": "local",
            "landed": True,
            "starts": 1,
        },
        {
            "event": "kill",
            "test": "[test_k[seed=2]]",
            "seed": 2,
            "backend": "local",
            "landed": False,
            "starts": 0,
        },
        {
            "event": "outcome",
            "test": "[test_k[seed=2]]",
            "module": "chaos.test_kill",
            "outcome": "passed",
            "seconds": 1.0,
        },
        {
            "event": "kill",
            "test": "[test_k[seed=3]]",
            "seed": 3,
            "backend": "s3",
            "landed": True,
            "starts": 2,
        },
        {
            "event": "outcome",
            "test": "[test_k[seed=3]]",
            "module": "chaos.test_kill",
            "outcome": "failed",
            "seconds": 1.0,
        },
        {"event": "refused", "test": "[test_gen]", "seed": 0, "command": "apply"},
        {"event": "refused", "test": "[test_gen]", "seed": 0, "command": "apply"},
        {
            "event": "outcome",
            "test": "[test_gen]",
            "module": "chaos.test_hostile",
            "outcome": "passed",
            "seconds": 3.0,
        },
        {"event": "session-end", "exit": 1, "ended": 600.0},
    )
    table = summarize(report)
    assert "VOICEID_CHAOS_TRIALS=50, base seed 7, 10 min." in table
    assert "3 tests: 2 passed, 1 failed, 0 skipped." in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert rows == [
        "| 1. SIGKILL | `test_k` | 2 | 1 | 1 | 3 kills (2 mid-run, the rest after the run had "
        "ended); 2 local, 1 S3 |",
        "| 6. hostile inputs | `test_gen` | 1 | 1 | 0 | 2 inputs refused (generated: one per "
        "example) |",
    ]
