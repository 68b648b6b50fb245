"""Deterministic simulation: random histories of runs on several states sharing one domain.

Each history is generated from its seed: two or three states (the real local store, its mark,
journal and backup, in a directory on tmpfs), three specs that move between them, runs of the
real apply loop against the in-memory Voice ID, and between the runs the hostile world the
product assumes can happen — time passing (tokens forgotten after ``token_lifetime``), List
lagging (up to the horizon), a run killed at any step (before or after a Start reached Voice
ID, between its journal and its state write), a state restored to an earlier version alone or
with its mark (a whole prefix), a hand edit that forgets a job, a state lost with or without its
mark. The invariant is checked after every step: **at most one job per (hash, attempt)**.

``VOICEID_HISTORIES`` sets how many (default 10,000: about a minute on two cores, in chunks
that ``pytest -n`` spreads); a failure names its seed: ``VOICEID_HISTORY_SEEDS=17``.
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.core.errors import ReconcilerError
from reconciler.core.jobs import ObservedJob
from reconciler.core.journal import JournalChange
from reconciler.core.kinds import JobKind
from reconciler.core.loading import load
from reconciler.core.spec import LoadedSpec
from reconciler.core.state import State
from reconciler.runner.apply import apply
from reconciler.runner.context import Run, RunOptions
from tests.runner.conftest import write_specs
from tests.runner.fakes import FakeClock, FakeObjects, FakeVoiceId

HISTORIES = int(os.environ.get("VOICEID_HISTORIES", "10000"))
CHUNKS = 20
SEEDS = [int(s) for s in os.environ.get("VOICEID_HISTORY_SEEDS", "").split(",") if s]


class Killed(BaseException):
    """The process died here (SIGKILL): nothing after this point happens in that run."""


@dataclass
class Reaper:
    """Counts the steps of one run (calls to Voice ID, writes to the store) and kills the run
    at step ``at`` (None: it lives); ``after_start`` decides whether a Start killed at that step
    reached Voice ID first (its answer lost) or not."""

    at: int | None = None
    after_start: bool = False
    steps: int = 0

    def step(self) -> None:
        self.steps += 1
        if self.at is not None and self.steps >= self.at:
            raise Killed


class MortalVoiceId(FakeVoiceId):
    reaper: Reaper  # set by the history: the run's steps and its death
    lost_answers = 0
    """Starts that reached Voice ID whose answer the killed run never read."""

    def list_jobs(self, *args: Any, **kwargs: Any) -> Iterator[ObservedJob]:
        self.reaper.step()
        yield from super().list_jobs(*args, **kwargs)

    def start_job(self, kind: JobKind, params: dict[str, Any]) -> ObservedJob:
        if self.reaper.at is not None and self.reaper.steps + 1 >= self.reaper.at:
            if self.reaper.after_start:
                super().start_job(kind, params)  # Voice ID made it; the answer never came
                self.lost_answers += 1
            raise Killed
        self.reaper.step()
        return super().start_job(kind, params)


class MortalStore(LocalStateStore):
    """The real local store, whose writes and journal appends are steps a kill can hit
    (before the write: the file keeps its last complete version)."""

    def __init__(self, path: Path, reaper: Reaper) -> None:
        super().__init__(path, lock_timeout=0)
        self.reaper = reaper

    def write(self, state: State) -> None:
        self.reaper.step()
        super().write(state)

    def journal(self, state: State, changes: Any) -> None:
        self.reaper.step()
        super().journal(state, changes)


@dataclass
class History:
    seed: int
    root: Path
    specs: list[LoadedSpec]
    rng: random.Random = field(init=False)
    clock: FakeClock = field(default_factory=FakeClock)
    log: list[str] = field(default_factory=list)
    fired: Counter[str] = field(default_factory=Counter)
    """What happened in this history (the test asserts each fault fired)."""

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        self.horizon = self.rng.choice([0.0, 60.0, 300.0])
        self.token_lifetime = self.rng.choice([self.horizon, 600.0, 3600.0])
        self.reaper = Reaper()
        self.voiceid = MortalVoiceId(
            self.clock,
            duration=self.rng.choice([30.0, 400.0, 5000.0]),
            list_lag=self.rng.uniform(0, self.horizon),
            max_active=self.rng.choice([1, 2]),
            token_lifetime=self.token_lifetime,
        )
        self.voiceid.reaper = self.reaper
        self.objects = FakeObjects()
        self.states = [self.root / f"s{i}" / "state.json" for i in range(self.rng.choice([2, 3]))]
        for path in self.states:
            path.parent.mkdir(parents=True)
        self.saved: dict[Path, list[dict[str, bytes]]] = {p: [] for p in self.states}

    # -- the steps -------------------------------------------------------------------------

    def run(self) -> None:
        path = self.rng.choice(self.states)
        chosen = [s for s in self.specs if self.rng.random() < 0.6]  # specs move between states
        self.reaper.steps = 0
        self.reaper.at = self.rng.randint(1, 12) if self.rng.random() < 0.35 else None
        self.reaper.after_start = self.rng.random() < 0.5
        options = RunOptions(
            list_lag_horizon=self.horizon,
            token_lifetime=self.token_lifetime,
            max_active=self.voiceid.max_active,
        )
        self.log.append(f"run {path.parent.name} {[s.name for s in chosen]} kill@{self.reaper.at}")
        store = MortalStore(path, self.reaper)
        try:
            apply(chosen, Run(store, self.voiceid, self.objects, options, self.clock))
        except Killed:
            self.log.append("  killed")
            self.fired["killed after a Start" if self._start_lost() else "killed"] += 1
        except ReconcilerError as err:  # refused, one line: allowed (nothing to count)
            self.log.append(f"  refused: {err}")
            self.fired["refused"] += 1
        else:
            self.fired["completed"] += 1
        finally:
            self.reaper.at = None

    def _start_lost(self) -> bool:
        return self.voiceid.lost_answers > self.fired["killed after a Start"]

    def later(self) -> None:
        seconds = self.rng.choice([1.0, 30.0, self.horizon + 1, 500.0, self.token_lifetime + 1])
        self.clock.advance(seconds)
        self.log.append(f"later {seconds:g}s")

    def snapshot(self) -> None:
        path = self.rng.choice(self.states)
        files = {p.name: p.read_bytes() for p in path.parent.iterdir() if p.is_file()}
        self.saved[path].append(files)

    def restore(self) -> None:
        """An earlier version back: the state file alone (a git checkout, a revert), or with
        everything beside it (a whole prefix restored from a versioned bucket)."""
        path = self.rng.choice(self.states)
        if not self.saved[path]:
            return
        files = self.rng.choice(self.saved[path])
        whole = self.rng.random() < 0.5
        if whole:
            for old in path.parent.iterdir():
                old.unlink()
        for name, body in files.items():
            if whole or name == path.name:
                (path.parent / name).write_bytes(body)
        self.log.append(f"restore {path.parent.name} {'whole prefix' if whole else 'state only'}")
        self.fired["restored whole" if whole else "restored"] += 1

    def hand_edit(self) -> None:
        """Someone forgets a job in one entry, leaving serial and mark alone."""
        path = self.rng.choice(self.states)
        if not path.exists():
            return
        state = LocalStateStore(path).read()
        entries = [e for e in state.specs.values() if e.jobs]
        if not entries:
            return
        self.rng.choice(entries).jobs = []
        path.write_text(state.to_json())
        self.log.append(f"hand edit {path.parent.name}")
        self.fired["hand edit"] += 1

    def lose(self) -> None:
        """The state is lost: alone (its mark and backup remain), or the directory is new."""
        path = self.rng.choice(self.states)
        everything = self.rng.random() < 0.5
        for old in list(path.parent.iterdir()):
            if everything or old.name == path.name:
                old.unlink()
        for other in path.parent.glob("*.backup"):
            other.unlink()  # a missing state beside its backup is refused: the backup goes too
        self.log.append(f"lose {path.parent.name} {'all' if everything else 'state only'}")
        self.fired["lost"] += 1

    def check(self) -> None:
        counts = self.voiceid.jobs_per_name()
        twice = {name: n for name, n in counts.items() if n > 1}
        assert not twice, f"seed {self.seed}: a second job for {sorted(twice)}\n" + "\n".join(
            self.log
        )

    def play(self, steps: int) -> None:
        moves = [
            (self.run, 10),
            (self.later, 6),
            (self.snapshot, 2),
            (self.restore, 2),
            (self.hand_edit, 1),
            (self.lose, 1),
        ]
        actions, weights = zip(*moves, strict=True)
        for _ in range(steps):
            self.rng.choices(actions, weights)[0]()
            self.check()


def _seeds(chunk: int) -> list[int]:
    if SEEDS:
        return SEEDS if chunk == 0 else []
    return list(range(chunk, HISTORIES, CHUNKS))


@pytest.fixture(scope="module")
def specs(tmp_path_factory: pytest.TempPathFactory) -> list[LoadedSpec]:
    directory = tmp_path_factory.mktemp("specs")
    write_specs(directory, 3)
    return load([directory])


@pytest.mark.parametrize("chunk", range(CHUNKS))
def test_no_history_makes_a_second_job(chunk: int, specs: list[LoadedSpec]) -> None:
    base = Path("/dev/shm") if Path("/dev/shm").is_dir() else None
    fired: Counter[str] = Counter()
    for seed in _seeds(chunk):
        root = Path(tempfile.mkdtemp(prefix="voiceid-history-", dir=base))
        try:
            history = History(seed, root, specs)
            history.play(steps=14)
            fired.update(history.fired)
            fired["histories"] += 1
            fired["jobs"] += len(history.voiceid.jobs)
        finally:
            shutil.rmtree(root, ignore_errors=True)
    assert fired["histories"] == len(_seeds(chunk))
    if len(_seeds(chunk)) >= 100:  # every fault fired, and most runs ran to their end
        faults = ("killed", "killed after a Start", "restored", "restored whole", "hand edit")
        assert all(fired[f] for f in (*faults, "lost")), fired
        assert fired["completed"] > 4 * fired["refused"], fired
        assert fired["jobs"] > fired["histories"], fired


def test_the_simulation_finds_a_second_job_when_the_listing_rule_is_off(
    specs: list[LoadedSpec], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The generator can fail: with the token-lifetime rule switched off (a listing trusted
    for ever), some history among the first few hundred makes a second job."""
    from reconciler.core import hold

    monkeypatch.setattr(hold.ListLag, "listing_max_age", property(lambda _self: float("inf")))
    found = None
    for seed in range(400):
        root = tmp_path / str(seed)
        root.mkdir()
        try:
            History(seed, root, specs).play(steps=14)
        except AssertionError as err:
            found = str(err)
            break
    assert found is not None
    assert "a second job" in found


def test_a_journal_change_is_a_step_a_kill_can_hit(tmp_path: Path) -> None:
    """The harness's kill lands where it says: before a journal append, nothing is appended."""
    reaper = Reaper(at=1)
    store = MortalStore(tmp_path / "state.json", reaper)
    with pytest.raises(Killed):
        store.journal(State(), [JournalChange("k", None)])  # type: ignore[arg-type]
    assert not (tmp_path / "state.json.journal").exists()
