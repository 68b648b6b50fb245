"""The soak's results table: ``python -m tests.chaos.summary REPORT``.

``REPORT`` is the file a chaos run wrote with ``VOICEID_CHAOS_REPORT=REPORT`` (see
``conftest.note``): the session's settings, how each test ended, and what each trial
met (kills, faults, refusals, ...). This prints the Markdown of docs/chaos.md's results: per
scenario and test, the trials run, passed and failed, and what the trials met.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

Event = dict[str, Any]

SCENARIOS = {
    "test_kill": "1. SIGKILL",
    "test_concurrency": "2. concurrent runs",
    "test_lost_state": "3. lost state, forgotten tokens, List lag",
    "test_storms": "4. transport faults",
    "test_blocked": "5. the world refuses",
    "test_hostile": "6. hostile inputs",
    "test_full_disk": "7. full disk",
    "test_state_lies": "8. the state lies",
    "test_notify_faults": "9. notifications under fire",
}


def function_of(test: str) -> str:
    """``[test_x[seed=5]]`` -> ``test_x``."""
    return test.strip("[]").split("[", 1)[0]


def _tally(counter: Counter[Any]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common())


def _backends(events: list[Event]) -> str:
    counts = Counter(e["backend"] for e in events if "backend" in e)
    return f"{counts['local']} local, {counts['s3']} S3" if counts else ""


def _kill(events: list[Event]) -> str:
    mid = sum(e["landed"] for e in events)
    return f"{len(events)} kills ({mid} mid-run, the rest after the run had ended)"


def _kill_in_flight(events: list[Event]) -> str:
    in_flight = sum(e["in_flight"] for e in events)
    ks = _tally(Counter(f"k={e['k']}" for e in events))
    return f"the k-th Start in flight or just answered at the kill {in_flight}/{len(events)} ({ks})"


def _kill_state_write(events: list[Event]) -> str:
    parts = []
    for backend, what in (("local", "temporary file present"), ("s3", "PutObject held")):
        mine = [e for e in events if e["backend"] == backend]
        during = sum(e["during_write"] for e in mine)
        parts.append(f"{backend}: {what} at the kill {during}/{len(mine)}")
    return "; ".join(parts)


def _concurrent(events: list[Event]) -> str:
    sizes = Counter(len(e["runs"]) for e in events)
    runs = ", ".join(f"{sizes[n]} trials of {n} runs" for n in sorted(sizes))
    extras = sum(e["extras"] for e in events)
    return f"{runs}; {extras} plan/status beside them"


def _forgotten(events: list[Event]) -> str:
    parts = [f"tokens forgotten by {_tally(Counter(e['forgotten'] for e in events))}"]
    if any("intent" in e for e in events):
        parts.append(f"intent on disk {sum(e['intent'] for e in events)}/{len(events)}")
    if any("killed" in e for e in events):
        parts.append(f"killed after the Start {sum(e['killed'] for e in events)}/{len(events)}")
    return "; ".join(parts)


def _rerun_with_lag(events: list[Event]) -> str:
    held = sum(e["held"] for e in events)
    return f"re-runs under a lagging List: {held}/{len(events)} held the domain"


def _storm(events: list[Event]) -> str:
    phases = Counter(p for e in events for p in e["phases"])
    ends = Counter("converged" if e["exit"] == 0 else "stopped with one line" for e in events)
    return f"phases: {_tally(phases)}; the run {_tally(ends)}"


def _storm_permanent(events: list[Event]) -> str:
    faults = _tally(Counter(e["fault"] for e in events))
    ends = Counter(
        "stopped with one line" if e["exit"] == 1 else "finished (needed nothing that failed)"
        for e in events
    )
    return f"{faults}; {_tally(ends)}"


def _aimed(events: list[Event]) -> str:
    return f"{len({e['case'] for e in events})} cases, {sum(e['faults'] for e in events)} faults"


def _blocked(events: list[Event]) -> str:
    exits = Counter(e["exit"] for e in events)
    refused = sum(bool(e["after_starts"]) and bool(e["blocked"]) for e in events)
    return (
        f"runs ended by themselves: exit {_tally(exits)}; refused after the first Start: "
        f"{refused}/{len(events)}"
    )


def _full_disk(events: list[Event]) -> str:
    stopped = [e for e in events if e["exit"] == 1]
    after_start = sum(e["starts"] > 0 for e in stopped)
    return (
        f"stopped with one line {len(stopped)}/{len(events)} ({after_start} after a Start), "
        f"the others finished within the limit"
    )


def _lie(events: list[Event]) -> str:
    parts = [_tally(Counter(e["what"] for e in events))]
    if any("forgotten" in e for e in events):
        parts.append(f"tokens forgotten by {_tally(Counter(e['forgotten'] for e in events))}")
    if any("held" in e for e in events):
        held = sum(bool(e["held"]) for e in events if "held" in e)
        parts.append(f"the re-run held the domain {held}/{sum('held' in e for e in events)}")
    if any("serials" in e for e in events):
        back = [e["serials"][0] - e["serials"][1] for e in events if "serials" in e]
        parts.append(f"serial went back by {min(back)}-{max(back)}")
    if any("renamed" in e for e in events):
        parts.append(f"{sum(e['renamed'] for e in events if 'renamed' in e)} specs renamed")
    if any("refused" in e for e in events):
        refused = sum(e["refused"] for e in events)
        parts.append(f"{refused} run(s) refused a write with one line")
    if any("served" in e for e in events):
        ends = Counter("stopped with one line" if e["exit"] == 1 else "converged" for e in events)
        parts.append(f"{sum(e['served'] for e in events)} malformed answers; {_tally(ends)}")
    return "; ".join(parts)


def _refused(events: list[Event]) -> str:
    n = len(events)
    return f"{n} input{'' if n == 1 else 's'} refused"


DESCRIBE: dict[str, Callable[[list[Event]], str]] = {
    "kill": _kill,
    "kill-start-in-flight": _kill_in_flight,
    "kill-state-write": _kill_state_write,
    "concurrent": _concurrent,
    "intent-expired-token": _forgotten,
    "intent-expired-token-lag": _forgotten,
    "lost-state-expired-token-lag": _forgotten,
    "rerun-with-lag": _rerun_with_lag,
    "storm": _storm,
    "storm-permanent": _storm_permanent,
    "aimed-s3": _aimed,
    "blocked": _blocked,
    "full-disk": _full_disk,
    "refused": _refused,
    "lie": _lie,
}


def _worst(outcomes: list[str]) -> str:
    """A test's outcome from its phases' lines: failed if any phase failed (a teardown too)."""
    for worst in ("failed", "skipped"):
        if worst in outcomes:
            return worst
    return "passed"


def summarize(lines: Iterable[str]) -> str:
    """The Markdown summary of a chaos report (only the scenarios' tests are counted)."""
    events = [json.loads(line) for line in lines if line.strip()]
    phases: dict[str, list[str]] = defaultdict(list)
    function_of_test: dict[str, tuple[str, str]] = {}
    met: dict[str, dict[str, list[Event]]] = defaultdict(lambda: defaultdict(list))
    for e in events:
        if e["event"] == "outcome" and e["module"] in SCENARIOS:
            phases[e["nodeid"]].append(e["outcome"])
            function_of_test[e["nodeid"]] = (e["module"], function_of(e["test"]))
        elif e["event"] in DESCRIBE:
            met[function_of(e["test"])][e["event"]].append(e)
    outcomes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    for nodeid, found in phases.items():
        outcomes[function_of_test[nodeid]][_worst(found)] += 1
    totals = sum(outcomes.values(), Counter[str]())

    out = []
    sessions = [e for e in events if e["event"] == "session"]
    ends = [e for e in events if e["event"] == "session-end"]
    for i, session in enumerate(sessions):  # reports of several runs may be concatenated
        when = datetime.fromtimestamp(session["started"], UTC)
        end = ends[i] if i < len(ends) else None
        took = f", {(end['ended'] - session['started']) / 60:.0f} min" if end else ""
        chosen = f", seeds {session['seeds']}" if session.get("seeds") else ""
        ended = f", pytest exit status {end['exit']}" if end else ", did not finish"
        out.append(
            f"* Run of {when:%Y-%m-%d %H:%M} UTC: VOICEID_CHAOS_TRIALS={session['trials']}, "
            f"base seed {session['base_seed']}{chosen}{took}{ended}."
        )
    collect_errors = sum(e["event"] == "collect-error" for e in events)
    out += [
        "",
        f"{sum(totals.values())} tests: {totals['passed']} passed, {totals['failed']} failed, "
        f"{totals['skipped']} skipped; {collect_errors} collection errors.",
        "",
        "| scenario | test | trials | passed | failed | what the trials met |",
        "| --- | --- | ---: | ---: | ---: | --- |",
    ]
    order = list(SCENARIOS)
    for module, function in sorted(outcomes, key=lambda mf: (order.index(mf[0]), mf[1])):
        counts = outcomes[(module, function)]
        trials = str(sum(counts.values()))
        refusals = len(met[function].get("refused", []))
        if trials == "1" and refusals > 1:  # a hypothesis test: one test, many examples
            trials = f"1 ({refusals} examples)"
        described = [DESCRIBE[event](found) for event, found in sorted(met[function].items())]
        backends = _backends([e for found in met[function].values() for e in found])
        if backends:
            described.append(backends)
        out.append(
            f"| {SCENARIOS[module]} | `{function}` | {trials} | {counts['passed']} | "
            f"{counts['failed']} | {'; '.join(described)} |"
        )
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos.summary", description=__doc__)
    parser.add_argument("report", type=Path, help="the file VOICEID_CHAOS_REPORT named")
    args = parser.parse_args(argv)
    sys.stdout.write(summarize(args.report.read_text(encoding="utf-8").splitlines()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
