"""The state as people handle it: restored, merged, symlinked, its lock file deleted. None of
these may lose a record or let two runs overwrite each other."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.adapters.s3store import S3StateStore
from reconciler.cli import EXIT_ERROR, main
from reconciler.core.errors import StateError
from reconciler.core.state import State, parse_state
from reconciler.sandbox import Sandbox


def _state(marker: str) -> State:
    state = State()
    state.domains[marker] = "D" * 22
    return state


def test_a_deleted_lock_file_cannot_end_in_a_lost_update(tmp_path: Path) -> None:
    """Run A holds the lock; its lock file is deleted (git clean -fdx); run B takes a new lock
    and writes. A's next write is refused: B's update survives."""
    path = tmp_path / "state.json"
    LocalStateStore(path).write(_state("initial"))
    a, b = LocalStateStore(path), LocalStateStore(path)
    with a.locked():
        a_state = a.read()
        (tmp_path / "state.json.lock").unlink()
        with b.locked():
            b_state = b.read()
            b_state.domains["b"] = "B" * 22
            b.write(b_state)
        a_state.domains["a"] = "A" * 22
        with pytest.raises(StateError, match=r"lock file .* was removed or replaced"):
            a.write(a_state)
    assert "b" in LocalStateStore(path).read().domains


def test_a_write_is_refused_when_the_file_changed_since_it_was_read(tmp_path: Path) -> None:
    """Another writer replaced the file between this run's read and write: not overwritten."""
    path = tmp_path / "state.json"
    LocalStateStore(path).write(_state("initial"))
    store = LocalStateStore(path)
    mine = store.read()
    LocalStateStore(path).write(_state("theirs"))
    with pytest.raises(StateError, match="changed since this run read it"):
        store.write(mine)
    assert "theirs" in LocalStateStore(path).read().domains
    fresh = LocalStateStore(tmp_path / "new.json")
    fresh.read()  # absent when read: another run creating it first wins
    LocalStateStore(tmp_path / "new.json").write(_state("first"))
    with pytest.raises(StateError, match="changed since"):
        fresh.write(_state("second"))


def test_a_store_writes_its_own_versions_one_after_another(tmp_path: Path) -> None:
    """The condition follows this run's own writes (the rename makes a new inode each time)."""
    store = LocalStateStore(tmp_path / "state.json")
    state = store.read()
    for _ in range(3):
        store.write(state)
    assert store.read().serial == 3


def test_a_symlinked_state_is_written_through_to_its_target(tmp_path: Path) -> None:
    """The link stays a link; the target is the state, locked beside the target, so a run
    through the link and a run on the target exclude each other."""
    target = tmp_path / "real" / "state.json"
    target.parent.mkdir()
    LocalStateStore(target).write(_state("initial"))
    link = tmp_path / "state.json"
    link.symlink_to(target)
    through = LocalStateStore(link)
    state = through.read()
    state.domains["via-link"] = "L" * 22
    through.write(state)
    assert link.is_symlink()
    assert "via-link" in LocalStateStore(target).read().domains
    with (
        through.locked(),
        pytest.raises(StateError, match="locked by another run"),
        LocalStateStore(target, lock_timeout=0.2).locked(),
    ):
        pass


def test_a_state_with_a_spec_twice_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A union merge leaves one spec's line twice; JSON would keep the last copy silently."""
    state = State()
    text = state.to_json().replace(
        '"specs": {}',
        '"specs": {\n    "SpeakerEnrollmentJob/a": {"domainId":"d","hash":"h","jobs":[],'
        '"kind":"SpeakerEnrollmentJob","name":"a"},\n    "SpeakerEnrollmentJob/a": '
        '{"domainId":"d","hash":"h","jobs":[],"kind":"SpeakerEnrollmentJob","name":"a"}\n  }',
    )
    assert text.count("SpeakerEnrollmentJob/a") == 2
    with pytest.raises(StateError, match="'SpeakerEnrollmentJob/a' twice"):
        parse_state(text, "state.json")
    path = tmp_path / "state.json"
    path.write_text(text)
    assert main(["status", "--state", str(path)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert "twice" in err


def test_the_s3_backup_is_the_state_as_last_written(voiceid_sandbox: Sandbox) -> None:
    """Restoring the backup, as the recovery hint says, brings back the newest state, with every
    start of the last run, never the version that run read."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    s3 = voiceid_sandbox.client("s3")
    store = S3StateStore(f"s3://{bucket}/truth/state.json", s3)
    state = store.read()
    for marker in ("one", "two", "three"):
        state.domains[marker] = "M" * 22
        store.write(state)
    backup = s3.get_object(Bucket=bucket, Key="truth/state.json.backup")["Body"].read()
    current = s3.get_object(Bucket=bucket, Key="truth/state.json")["Body"].read()
    assert backup == current
    assert json.loads(backup)["serial"] == 3
