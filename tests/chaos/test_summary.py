"""The soak's summary table is made from the report, and shows failures (not chaos itself)."""

from __future__ import annotations

import json

from .summary import summarize

KILL = "tests/chaos/test_kill.py::test_k"


def _outcome(nodeid: str, outcome: str, phase: str = "call") -> dict[str, object]:
    path, _, name = nodeid.partition("::")
    module = path.rsplit("/", 1)[-1].removesuffix(".py")
    return {"event": "outcome", "test": f"[{name}]", "nodeid": nodeid, "module": module,
            "phase": phase, "outcome": outcome, "seconds": 1.0}  # fmt: skip


def _kill(seed: int, backend: str, landed: bool) -> dict[str, object]:
    return {"event": "kill", "test": f"[test_k[seed={seed}]]", "seed": seed, "backend": backend,
            "landed": landed, "starts": 1}  # fmt: skip


def test_summary_counts_trials_outcomes_and_what_they_met() -> None:
    events = [
        {"event": "session", "trials": "50", "base_seed": 7, "seeds": None, "started": 0.0},
        _kill(2, "local", landed=True),
        _kill(2, "local", landed=False),
        _outcome(f"{KILL}[seed=2]", "passed"),
        _kill(3, "s3", landed=True),
        _outcome(f"{KILL}[seed=3]", "passed"),
        _outcome(f"{KILL}[seed=3]", "failed", phase="teardown"),  # passed, then broke after
        _outcome(f"{KILL}[seed=4]", "failed", phase="???"),  # its xdist worker crashed
        {"event": "refused", "test": "[test_gen]", "seed": 0, "command": "apply"},
        {"event": "refused", "test": "[test_gen]", "seed": 0, "command": "apply"},
        _outcome("tests/chaos/test_hostile.py::test_gen", "passed"),
        _outcome("tests/chaos/test_summary.py::test_x", "passed"),  # not a scenario: not counted
        {"event": "session-end", "exit": 1, "ended": 600.0},
    ]
    table = summarize(json.dumps(e) for e in events)
    assert "VOICEID_CHAOS_TRIALS=50, base seed 7, 10 min, pytest exit status 1." in table
    assert "4 tests: 2 passed, 2 failed, 0 skipped; 0 collection errors." in table
    rows = [line for line in table.splitlines() if line.startswith("| ") and "`" in line]
    assert rows == [
        "| 1. SIGKILL | `test_k` | 3 | 1 | 2 | 3 kills (2 mid-run, the rest after the run had "
        "ended); 2 local, 1 S3 |",
        "| 6. hostile inputs | `test_gen` | 1 (2 examples) | 1 | 0 | 2 inputs refused |",
    ]


def test_summary_of_an_unfinished_run_says_so() -> None:
    events = [
        {"event": "session", "trials": "ci", "base_seed": 7, "seeds": "5,6", "started": 0.0},
        {"event": "collect-error", "nodeid": "tests/chaos/test_kill.py"},
    ]
    table = summarize(json.dumps(e) for e in events)
    assert "seeds 5,6, did not finish." in table
    assert "0 tests: 0 passed, 0 failed, 0 skipped; 1 collection errors." in table


def test_summary_describes_what_the_state_lies_trials_met() -> None:
    lies = "tests/chaos/test_state_lies.py::test_l"
    events = [
        {"event": "lie", "test": "[test_l[seed=1]]", "what": "backup restored", "held": True,
         "forgotten": "expire_tokens", "backend": "local"},
        {"event": "lie", "test": "[test_l[seed=2]]", "what": "backup restored", "held": False,
         "forgotten": "client_token_ttl", "backend": "s3"},
        _outcome(f"{lies}[seed=1]", "passed"),
        _outcome(f"{lies}[seed=2]", "passed"),
    ]  # fmt: skip
    (row,) = [line for line in summarize(json.dumps(e) for e in events).splitlines() if "`" in line]
    assert row == (
        "| 8. the state lies | `test_l` | 2 | 2 | 0 | backup restored 2; tokens forgotten by "
        "expire_tokens 1, client_token_ttl 1; the re-run held the domain 1/2; 1 local, 1 S3 |"
    )
