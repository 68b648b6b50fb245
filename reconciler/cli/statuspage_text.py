"""How the status page tells a job in words.

Its times (to the minute), counts, the outcomes of its results (short and in full), its
status word, its role beside its status, how long it took. Every text from the state is escaped
where it is put into HTML.
"""

from __future__ import annotations

import html
import time
from collections import Counter
from collections.abc import Callable

from reconciler.cli.statuspage_model import LOOKS, Bar
from reconciler.core.jobs import UNKNOWN
from reconciler.core.times import span

_e = html.escape


def clock_time(moment: float | None) -> str:
    if moment is None:
        return ""
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(moment))


def thousands(n: int) -> str:
    return f"{n:,}"


def jobs_phrase(n: int) -> str:
    return f"{n:,} job" if n == 1 else f"{n:,} jobs"


_OUTCOMES = {
    "NEW_ENROLLMENT": "new",
    "NEW_REGISTRATION": "new",
    "NEW_FRAUDSTER": "new",
    "DUPLICATE_SKIPPED": "duplicates skipped",
    "ENROLLMENT_OVERWRITE": "overwritten",
    UNKNOWN: "an outcome not known",
}
"""The words of each outcome the kinds' output files are counted by (core.jobs.OUTCOMES, and
UNKNOWN for any other): a test holds the two to the same set."""
_GROUPS: tuple[tuple[str, Callable[[str], bool]], ...] = (
    ("new", lambda key: key.startswith("NEW_")),
    ("duplicates", lambda key: key.startswith("DUPLICATE")),
    ("overwritten", lambda key: key.endswith("_OVERWRITE")),
    ("errors", lambda key: key.startswith("error:")),
)
"""How the short form counts outcomes (new, duplicates, overwritten, errors; anything else
is ``other``): the table lists each outcome as the state holds it."""


def results_short(results: dict[str, int] | None) -> str:
    """``1,204 new · 12 duplicates · 3 errors`` (the table lists every outcome)."""
    if not results:
        return ""
    totals: Counter[str] = Counter()
    for key, n in results.items():
        # An outcome Voice ID adds later is counted as 'other', never dropped from the total.
        group = next((name for name, test in _GROUPS if test(key)), "other")
        totals[group] += n
    parts = [f"{thousands(totals['new'])} new"]
    parts += [f"{thousands(totals[g])} {g}" for g in ("duplicates", "overwritten") if totals[g]]
    if totals["errors"]:
        parts.append(f"{thousands(totals['errors'])} error{'s' if totals['errors'] != 1 else ''}")
    if totals["other"]:
        parts.append(f"{thousands(totals['other'])} other")
    return " · ".join(parts)


def results_full(results: dict[str, int] | None) -> str:
    """Every outcome and its count: the new ones first, errors last."""
    if not results:
        return "—"

    def rank(key: str) -> tuple[int, str]:
        return (next((i for i, (_, test) in enumerate(_GROUPS) if test(key)), len(_GROUPS)), key)

    return "<br>".join(
        f"{_e(_OUTCOMES.get(k, k.replace('error:', 'error ')))}: {thousands(n)}"
        for k, n in sorted(results.items(), key=lambda kv: rank(kv[0]))
    )


def status_words(bar: Bar) -> str:
    look = LOOKS.get(bar.status, LOOKS["UNKNOWN"])
    text = f"{look.symbol} {look.word}"
    if bar.status == "IN_PROGRESS" and bar.record.percent_complete is not None:
        text += f" {bar.record.percent_complete}%"
    return text


def badge(bar: Bar) -> str:
    return f'<span class="badge b-{_e(bar.status)}">{_e(status_words(bar))}</span>'


def role_words(bar: Bar) -> str:
    """What a bar is beside its status: an earlier attempt, superseded, unclaimed, removed."""
    words = []
    # Attempt 1 is said only when a later attempt exists (its role is 'attempt'): a lone first
    # attempt is just the job.
    if bar.record.attempt > 1 or bar.role == "attempt":
        words.append(f"attempt {bar.record.attempt}")
    if bar.role in ("superseded", "unclaimed"):
        words.append(bar.role)
    if bar.removed:
        words.append("spec removed")
    return ", ".join(words)


def duration(bar: Bar) -> str:
    if bar.start is None or bar.end is None:
        return ""
    return span(bar.end - bar.start)


def took_text(bar: Bar) -> str:
    took = duration(bar)
    if not took:
        return "—"
    return took if bar.record.ended_at else f"{took} so far"
