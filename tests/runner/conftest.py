"""Fixtures for the runner's unit tests: specs on disk, fakes of the world, no wall clock."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.loading import load
from reconciler.core.spec import LoadedSpec
from reconciler.runner.apply import apply
from reconciler.runner.context import ApplyReport, Run, RunOptions
from tests.runner.fakes import DOMAIN_NAME, FakeClock, FakeObjects, FakeVoiceId, MemoryStore

HORIZON = 300.0


@pytest.fixture(autouse=True)
def _no_wall_clock_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any real sleep in these tests is a bug: the runner must wait through its clock."""

    def refuse(seconds: float) -> None:
        raise AssertionError(f"time.sleep({seconds}) called: the runner must use its clock")

    monkeypatch.setattr(time, "sleep", refuse)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def voiceid(clock: FakeClock) -> FakeVoiceId:
    return FakeVoiceId(clock)


@pytest.fixture
def objects() -> FakeObjects:
    return FakeObjects()


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


def write_specs(directory: Path, count: int) -> list[LoadedSpec]:
    """``count`` enrollment specs in the fake domain, each with its own external manifest."""
    directory.mkdir(parents=True, exist_ok=True)
    for i in range(count):
        (directory / f"spec-{i}.yaml").write_text(
            "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
            f"metadata: {{name: spec-{i}}}\n"
            f"spec:\n  domain: {DOMAIN_NAME}\n"
            "  dataAccessRoleArn: arn:aws:iam::123456789012:role/voiceid\n"
            f"  input: {{manifest: 's3://bucket/manifests/spec-{i}.json'}}\n"
            "  output: {s3Uri: 's3://bucket/output/', kmsKeyId: alias/voiceid}\n",
            encoding="utf-8",
        )
    return load([directory])


@pytest.fixture
def specs(tmp_path: Path) -> list[LoadedSpec]:
    return write_specs(tmp_path / "specs", 3)


@dataclass
class World:
    """Three specs in one domain, the fakes they run against, and how to apply them."""

    specs: list[LoadedSpec]
    store: MemoryStore
    voiceid: FakeVoiceId
    objects: FakeObjects
    clock: FakeClock

    def apply(self, store: MemoryStore | None = None, **options: Any) -> ApplyReport:
        """``apply`` with the list-lag horizon at :data:`HORIZON` unless ``options`` say."""
        opts = RunOptions(**{"list_lag_horizon": HORIZON, **options})
        run = Run(store or self.store, self.voiceid, self.objects, opts, self.clock)
        return apply(self.specs, run)


@pytest.fixture
def world(
    specs: list[LoadedSpec],
    store: MemoryStore,
    voiceid: FakeVoiceId,
    objects: FakeObjects,
    clock: FakeClock,
) -> World:
    return World(specs, store, voiceid, objects, clock)
