"""The state: versioned schema, atomic local writes, S3 conditional writes and locks, rebuild."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.adapters.s3store import S3StateStore
from reconciler.cli import EXIT_ERROR, EXIT_LOCKED, EXIT_OK, main
from reconciler.core.errors import ReconcilerError, StateError, StateLockedError
from reconciler.core.kinds import JobKind
from reconciler.core.state import SCHEMA_VERSION, JobRecord, SpecEntry, State
from reconciler.core.statefile import parse_state
from reconciler.core.statepatch import forget, move
from reconciler.sandbox import Sandbox
from tests.support import (
    WAIT_FAST,
    DrivenClock,
    S3AtClock,
    build_world,
    check_invariants,
    kill_when,
    run_cli,
    spawn_cli,
    wait_all_ok,
    write_specs,
)

H = "a" * 64


def _state(jobs: int = 3) -> State:
    state = State()
    for i in range(jobs):
        h = f"{i:064x}"
        state.specs[f"SpeakerEnrollmentJob/s-{i}"] = SpecEntry(
            kind="SpeakerEnrollmentJob",
            name=f"s-{i}",
            hash=h,
            domain_id="D" * 22,
            jobs=[
                JobRecord(
                    hash=h,
                    attempt=1,
                    client_token="t",
                    job_name=f"s-{i}-{h[:32]}",
                    domain_id="D" * 22,
                    kind="SpeakerEnrollmentJob",
                    job_id=f"J{i:021d}",
                    status="COMPLETED",
                )
            ],
        )
    return state


def _take(store: LocalStateStore | S3StateStore) -> None:
    """Take the store's lock and release it at once."""
    with store.locked():
        pass


def test_json_is_deterministic_and_round_trips() -> None:
    """The same state always serialises to the same bytes, with sorted keys, and parses back."""
    state = _state()
    text = state.to_json()
    assert text == parse_state(text, "x").to_json()
    data = json.loads(text)
    assert list(data) == sorted(data)
    assert data["schemaVersion"] == SCHEMA_VERSION
    # one spec per line: a change to one spec is a one-line diff
    spec_lines = [
        line for line in text.splitlines() if line.strip().startswith('"SpeakerEnrollmentJob/')
    ]
    assert len(spec_lines) == 3


def test_serial_grows_and_backup_keeps_the_version_last_written(tmp_path: Path) -> None:
    """Every write of a changed state bumps the serial; a copy of what was written is kept as
    .backup (restoring it never brings back a state that lacks starts). A state that says
    nothing new is not written (no serial, no backup, no git noise)."""
    store = LocalStateStore(tmp_path / "s.json")
    state = _state(1)
    store.write(state)
    before = (tmp_path / "s.json").read_bytes()
    assert (tmp_path / "s.json.backup").read_bytes() == before
    (tmp_path / "s.json.backup").unlink()
    state.observed_at = "2026-12-01T00:00:00Z"  # observed again, nothing new
    store.write(state)
    assert (tmp_path / "s.json").read_bytes() == before
    assert not (tmp_path / "s.json.backup").exists()
    state.domains["another"] = "E" * 22
    store.write(state)
    assert store.read().serial == 2
    backup = parse_state((tmp_path / "s.json.backup").read_text(), "backup")
    assert backup.serial == 2
    assert backup.lineage == state.lineage
    assert (tmp_path / "s.json.backup").read_bytes() == (tmp_path / "s.json").read_bytes()
    assert (tmp_path / "s.json.backup").stat().st_ino != (tmp_path / "s.json").stat().st_ino


def test_failed_write_is_one_line_and_leaves_the_last_version(tmp_path: Path) -> None:
    """A state write that fails (here: its temporary file cannot be created; a full disk is
    the chaos suite's scenario 7) is a StateError naming the file; the file is unchanged."""
    path = tmp_path / "s.json"
    store = LocalStateStore(path)
    store.write(_state(1))
    before = path.read_bytes()
    (tmp_path / f".s.json.{os.getpid()}.tmp").mkdir()  # where the next write would go
    with pytest.raises(StateError, match=r"s\.json: cannot write the state: Is a directory"):
        store.write(_state(2))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp") and p.is_file()] == []


def test_lock_that_cannot_be_taken_is_one_line(tmp_path: Path) -> None:
    """A lock file that cannot be opened (read-only file system, or here a directory in its
    place) is a StateError naming it, not a traceback."""
    (tmp_path / "s.json.lock").mkdir()
    store = LocalStateStore(tmp_path / "s.json")
    with pytest.raises(StateError, match=r"s\.json\.lock: cannot take the lock: Is a directory"):
        _take(store)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ('{"schemaVersion": 1, "specs": {', "not valid JSON"),
        ("\x00\x01garbage", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"specs": {}}', "no schemaVersion"),
        ('{"schemaVersion": 1, "specs": {"x": {"kind": 3}}}', "state field specs.x"),
        ('{"schemaVersion": 99}', "newer than this voiceid-reconciler"),
    ],
)
def test_bad_state_is_refused_and_never_overwritten(
    tmp_path: Path, content: str, fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A truncated, corrupt, mangled or newer state stops the run with the file name and how to
    recover, and the file is left byte for byte as it was."""
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(StateError, match=fragment):
        LocalStateStore(path).read()
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\nmetadata: {name: a}\n"
        "spec: {domain: " + "D" * 22 + ", dataAccessRoleArn: 'arn:aws:iam::123456789012:role/R',"
        " input: {manifest: 's3://bucket/m.json'}, output: {s3Uri: 's3://bucket/o/', kmsKeyId: k}}\n"
    )
    assert main(["plan", "--offline", str(specs), "--state", str(path)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert str(path) in err
    assert len(err.strip().splitlines()) == 1
    assert path.read_text() == content


def test_recovery_hint_names_backup_and_rebuild() -> None:
    """The message for a corrupt state says how to recover."""
    with pytest.raises(
        StateError, match=r"restore s\.json\.backup or run 'voiceid-reconciler state rebuild'"
    ):
        parse_state("{", "s.json")


_WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from reconciler.adapters.localstore import LocalStateStore
    from reconciler.core.state import JobRecord, SpecEntry, State
    store = LocalStateStore(Path(sys.argv[1]))
    state = store.read()
    while True:
        n = state.serial
        h = f"{n:064x}"
        state.specs[f"SpeakerEnrollmentJob/s-{n}"] = SpecEntry(
            kind="SpeakerEnrollmentJob", name=f"s-{n}", hash=h, domain_id="D" * 22,
            jobs=[JobRecord(hash=h, attempt=1, job_name="x", domain_id="D" * 22,
                            kind="SpeakerEnrollmentJob")])
        store.write(state)
    """
)


def test_sigkill_during_writes_leaves_old_or_new_complete_state(tmp_path: Path) -> None:
    """SIGKILL at random moments of many writes: the file on disk is always a complete version
    whose content matches its serial."""
    rng = random.Random(5)
    path = tmp_path / "s.json"
    for _ in range(25):
        before = LocalStateStore(path).read().serial if path.exists() else 0
        process = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)])
        writes = before + rng.randint(1, 40)  # then kill it amid its writes
        assert kill_when(process, lambda: _serial(path) >= writes)  # noqa: B023 - called here
        state = LocalStateStore(path).read()
        assert len(state.specs) == state.serial
    assert state.serial > 25


def _serial(path: Path) -> int:
    """The serial of the state at ``path`` (0 while there is none)."""
    return LocalStateStore(path).read().serial if path.exists() else 0


def test_local_lock_excludes_a_second_run(tmp_path: Path) -> None:
    """A second run waits for the lock and gives up after lock_timeout with StateLockedError."""
    store = LocalStateStore(tmp_path / "s.json", lock_timeout=0.2)
    clock = DrivenClock()
    with store.locked(), pytest.raises(StateLockedError, match="locked by another run"):
        _take(LocalStateStore(tmp_path / "s.json", lock_timeout=60, clock=clock))
    assert 60 <= clock.monotonic() < 60.2  # it waited lock_timeout, by its clock
    assert set(clock.sleeps) == {0.1}


# --- S3 ---------------------------------------------------------------------------------------


def _s3_store(sandbox: Sandbox, bucket: str, **kw: Any) -> S3StateStore:
    return S3StateStore(f"s3://{bucket}/voiceid/state.json", sandbox.client("s3"), **kw)


def test_s3_conditional_write_refuses_a_lost_update(voiceid_sandbox: Sandbox) -> None:
    """Two writers read the same version: the second write is refused, never a silent overwrite."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    first, second = _s3_store(voiceid_sandbox, bucket), _s3_store(voiceid_sandbox, bucket)
    first.write(first.read())  # creates it (If-None-Match)
    a, b = first.read(), second.read()
    a.domains["first"] = "F" * 22
    b.domains["second"] = "S" * 22
    first.write(a)
    with pytest.raises(StateError, match="changed since this run read it"):
        second.write(b)
    final = _s3_store(voiceid_sandbox, bucket).read()
    assert (final.serial, final.domains) == (2, {"first": "F" * 22})


def test_s3_write_whose_answer_was_lost_is_recognised(voiceid_sandbox: Sandbox) -> None:
    """A conditional write refused because the object already holds exactly what we wrote (our
    own write, its answer lost, retried) counts as done; later writes go on from it."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    store = _s3_store(voiceid_sandbox, bucket)
    state = store.read()
    s3 = voiceid_sandbox.client("s3")
    state.serial += 1
    s3.put_object(Bucket=bucket, Key="voiceid/state.json", Body=state.to_json().encode())
    state.serial -= 1
    store.write(state)  # If-None-Match fails: the object is already this very state
    state.domains["d"] = "D" * 22
    store.write(state)
    assert _s3_store(voiceid_sandbox, bucket).read().domains == {"d": "D" * 22}


def test_s3_create_refuses_when_someone_created_it_first(voiceid_sandbox: Sandbox) -> None:
    """Creating the state uses If-None-Match: a concurrent creator wins, the other is refused."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    first, second = _s3_store(voiceid_sandbox, bucket), _s3_store(voiceid_sandbox, bucket)
    a, b = first.read(), second.read()
    a.domains["first"] = "F" * 22
    first.write(a)
    with pytest.raises(StateError, match="changed since"):
        second.write(b)


def test_s3_lock_is_exclusive_and_released(voiceid_sandbox: Sandbox) -> None:
    """The lock object excludes a second holder until released."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    holder = _s3_store(voiceid_sandbox, bucket, lock_ttl=30)
    clock = DrivenClock()
    with holder.locked(), pytest.raises(StateLockedError, match="locked by another run"):
        _take(_s3_store(voiceid_sandbox, bucket, lock_timeout=20, clock=clock))
    assert 20 <= clock.monotonic() < 21  # it waited lock_timeout, by its clock
    assert set(clock.sleeps) == {1.0}
    _take(_s3_store(voiceid_sandbox, bucket, lock_timeout=0.3))


def test_s3_heartbeat_keeps_a_long_run_locked(voiceid_sandbox: Sandbox) -> None:
    """A run longer than the TTL keeps its lock through the heartbeat: held for twice its TTL
    (30 s) on a clock the test moves, which S3's answers tell as their own time too, the lock
    is renewed every 10 s and is not expired for another run (left unrenewed, it would be)."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    clock = DrivenClock()
    s3 = S3AtClock(voiceid_sandbox.client("s3"), clock)
    url = f"s3://{bucket}/voiceid/state.json"
    holder = S3StateStore(url, s3, lock_ttl=30, clock=clock)
    with holder.locked():
        clock.settle()  # the heartbeat waits for its first beat
        for _ in range(6):
            clock.advance(10)
            clock.settle()
        assert clock.beats == 6
        assert clock.now - clock.start == 60
        with pytest.raises(StateLockedError, match="locked by another run"):
            _take(S3StateStore(url, s3, lock_timeout=1, clock=clock))
    _take(S3StateStore(url, s3, lock_timeout=1, clock=clock))  # released


def test_s3_unlock_breaks_the_lock(voiceid_sandbox: Sandbox) -> None:
    """state unlock --force removes a lock deliberately and says whose it was."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    s3 = voiceid_sandbox.client("s3")
    s3.put_object(
        Bucket=bucket,
        Key="voiceid/state.json.lock",
        Body=json.dumps({"host": "pod-1", "pid": 7, "expiresAt": time.time() + 3600}).encode(),
    )
    message = _s3_store(voiceid_sandbox, bucket).unlock(force=True)
    assert "pod-1 pid 7" in message
    _take(_s3_store(voiceid_sandbox, bucket, lock_timeout=0.3))


def test_unlock_refuses_without_the_lock_id_and_breaks_it_with_the_id(
    voiceid_env: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    """A live, heart-beating lock: 'state unlock' shows its id, host, pid (alive) and expiry and
    refuses (exit 1); a wrong id is refused too; 'state unlock LOCK_ID' breaks it."""
    bucket = voiceid_env.seed_demo_world().bucket
    state = f"s3://{bucket}/voiceid/state.json"
    holder = _s3_store(voiceid_env, bucket, lock_ttl=30)
    with holder.locked():
        assert main(["state", "unlock", "--state", state]) == EXIT_ERROR
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1
        assert f"pid {os.getpid()} (alive on this host)" in err
        assert "expires 20" in err
        assert " (in " in err
        lock_id = err.split("lock id ", 1)[1].split(",", 1)[0]
        assert lock_id == holder.lock_holder()[0]["owner"]  # type: ignore[index]
        assert main(["state", "unlock", "--state", state, "0" * 32]) == EXIT_ERROR
        assert "is not the lock's" in capsys.readouterr().err
        assert holder.lock_holder() is not None
        assert main(["state", "unlock", "--state", state, lock_id]) == EXIT_OK
        assert f"removed the lock (lock id {lock_id}" in capsys.readouterr().out
        assert holder.lock_holder() is None


def test_killed_runs_lock_expires_after_its_ttl(voiceid_sandbox: Sandbox, tmp_path: Path) -> None:
    """A run killed while holding the S3 lock blocks nobody for longer than its TTL."""
    world = build_world(voiceid_sandbox)
    specs = tmp_path / "specs"
    write_specs(world, specs, 2)
    env = voiceid_sandbox.env()
    state = f"s3://{world.bucket}/voiceid/state.json"
    voiceid_sandbox.freeze_clock()  # jobs never end: the first run waits forever
    args = (
        "apply",
        str(specs),
        "--state",
        state,
        "--tps",
        "0",
        "--wait",
        "--poll-interval",
        "0.1",
        "--lock-ttl",
        "2",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    s3 = voiceid_sandbox.client("s3")

    def locked() -> bool:
        listed = s3.list_objects_v2(Bucket=world.bucket, Prefix="voiceid/state.json.lock")
        return bool(listed.get("KeyCount"))

    assert kill_when(process, locked)
    started = time.monotonic()
    result = run_cli(
        "apply", str(specs), "--state", state, "--tps", "0", "--lock-timeout", "20", env=env
    )
    assert result.returncode == EXIT_OK, result.stderr
    assert time.monotonic() - started < 15
    assert "state.lock_expired_taken_over" in result.stderr


def test_two_runs_racing_on_s3_state_lose_no_update(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    """Two apply runs at once on one S3 state: every job either started is in the final state."""
    world = build_world(voiceid_sandbox, domains=2)
    specs = tmp_path / "specs"
    write_specs(world, specs, 8)
    state = f"s3://{world.bucket}/voiceid/state.json"
    args = ("apply", str(specs), "--state", state, *WAIT_FAST, "--lock-timeout", "60")
    wait_all_ok([spawn_cli(*args, env=voiceid_sandbox.env()) for _ in range(2)])
    local = tmp_path / "copy.json"
    s3 = voiceid_sandbox.client("s3")
    local.write_bytes(s3.get_object(Bucket=world.bucket, Key="voiceid/state.json")["Body"].read())
    jobs, recorded = check_invariants(world, local)
    assert len(jobs) == 8
    assert len({r.job_id for r in recorded.all_jobs()}) == 8


def test_s3_lock_held_by_a_live_run_exits_4(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """apply against an S3 state locked by a live run exits 4 after --lock-timeout."""
    world = build_world(voiceid_env)
    specs = tmp_path / "specs"
    write_specs(world, specs, 1)
    with _s3_store(voiceid_env, world.bucket, lock_ttl=30).locked():
        code = main(
            [
                "apply",
                str(specs),
                "--state",
                f"s3://{world.bucket}/voiceid/state.json",
                "--lock-timeout",
                "0.3",
                "--tps",
                "0",
            ]
        )
    assert code == EXIT_LOCKED


def test_rebuild_reproduces_the_lost_state(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """state rebuild after deleting the state gives the same entries (ids, hashes, statuses)."""
    world = build_world(voiceid_env, domains=2)
    specs, path = tmp_path / "specs", tmp_path / "s.json"
    write_specs(world, specs, 6)
    assert (
        main(
            [
                "apply",
                str(specs),
                "--state",
                str(path),
                "--tps",
                "0",
                "--wait",
                "--poll-interval",
                "0.05",
                "--timeout",
                "60",
            ]
        )
        == EXIT_OK
    )
    before = LocalStateStore(path).read()
    path.unlink()
    voiceid_env.reset_calls()
    assert main(["state", "rebuild", str(specs), "--state", str(path), "--tps", "0"]) == EXIT_OK
    after = LocalStateStore(path).read()
    assert not any(op.startswith("Start") for op in voiceid_env.calls())

    def essence(state: State) -> dict[str, Any]:
        return {
            key: [(r.job_id, r.hash, r.attempt, r.status, r.job_name) for r in entry.jobs]
            for key, entry in state.specs.items()
        }

    assert essence(after) == essence(before)
    assert after.orphans == []


def test_rebuild_replaces_a_corrupt_state(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """A corrupt state file is the case rebuild exists for: it writes a good one."""
    world = build_world(voiceid_env)
    specs, path = tmp_path / "specs", tmp_path / "s.json"
    write_specs(world, specs, 2)
    assert main(["apply", str(specs), "--state", str(path), "--tps", "0"]) == EXIT_OK
    path.write_text("{ truncated")
    assert main(["state", "rebuild", str(specs), "--state", str(path), "--tps", "0"]) == EXIT_OK
    assert len(LocalStateStore(path).read().specs) == 2


def test_state_show(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """state show prints a summary, or the state itself with --format json."""
    path = tmp_path / "s.json"
    LocalStateStore(path).write(_state(2))
    assert main(["state", "show", "--state", str(path)]) == EXIT_OK
    out = capsys.readouterr().out
    assert "2 spec(s), 2 job(s)" in out
    assert main(["state", "show", "--state", str(path), "--format", "json"]) == EXIT_OK
    assert json.loads(capsys.readouterr().out)["serial"] == 1


def _entry(kind: JobKind, name: str, hash_: str = "a" * 64) -> SpecEntry:
    record = JobRecord(
        hash=hash_,
        attempt=1,
        job_name=f"{name}-{hash_[:32]}",
        domain_id="D" * 22,
        kind=kind,
        job_id=f"job-{name}",
    )
    return SpecEntry(kind=kind, name=name, hash=hash_, domain_id="D" * 22, jobs=[record])


def test_forget_names_entries_by_kind_name_or_name_with_their_roster_parts() -> None:
    state = State()
    enrol, register = JobKind.ENROLLMENT, JobKind.REGISTRATION
    for kind, name in ((enrol, "big-part-001"), (enrol, "big-part-002"), (register, "big")):
        state.specs[f"{kind}/{name}"] = _entry(kind, name)
    state.specs[f"{enrol}/big-partner"] = _entry(enrol, "big-partner")
    assert state.entry_keys(f"{enrol}/big") == [f"{enrol}/big-part-001", f"{enrol}/big-part-002"]
    assert state.entry_keys("big") == [
        f"{register}/big",
        f"{enrol}/big-part-001",
        f"{enrol}/big-part-002",
    ]
    orphan = _entry(enrol, "gone", "b" * 64).jobs[0]
    state.orphans.append(orphan)
    patch, forgotten = forget(state, "gone")
    assert forgotten == [f"orphan/{orphan.job_name}"]
    state = patch.applied_to(state)
    patch, forgotten = forget(state, f"{enrol}/big")
    assert forgotten == [f"{enrol}/big-part-001", f"{enrol}/big-part-002"]
    state = patch.applied_to(state)
    assert sorted(state.specs) == [f"{register}/big", f"{enrol}/big-partner"]
    assert [r.job_id for r in state.removed] == ["job-gone", "job-big-part-001", "job-big-part-002"]
    assert {r.job_id for r in state.all_jobs()} >= {"job-gone", "job-big-part-001"}
    with pytest.raises(ReconcilerError, match="no spec 'nothing' in the state"):
        forget(state, "nothing")


def test_move_renames_one_entry_and_refuses_ambiguity_and_clashes() -> None:
    state = State()
    enrol, register = JobKind.ENROLLMENT, JobKind.REGISTRATION
    for kind, name in ((enrol, "old"), (register, "old"), (enrol, "taken")):
        state.specs[f"{kind}/{name}"] = _entry(kind, name)
    with pytest.raises(ReconcilerError, match="exactly one spec entry"):
        move(state, "old", "new")
    with pytest.raises(ReconcilerError, match="already in the state"):
        move(state, f"{enrol}/old", "taken")
    with pytest.raises(ReconcilerError, match="cannot become"):
        move(state, f"{enrol}/old", f"{register}/new")
    patch, moved = move(state, f"{enrol}/old", "new")
    assert moved == (f"{enrol}/old", f"{enrol}/new")
    state = patch.applied_to(state)
    assert state.specs[f"{enrol}/new"].name == "new"


def test_a_version_1_state_is_read_and_written_as_version_2() -> None:
    state = parse_state('{"schemaVersion": 1, "lineage": "l", "serial": 3}', "old.json")
    assert (state.schema_version, state.serial, state.removed) == (SCHEMA_VERSION, 3, [])
    assert json.loads(state.to_json())["schemaVersion"] == SCHEMA_VERSION
