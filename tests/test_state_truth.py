"""The state as people handle it: restored, merged, symlinked, its lock file deleted. None of
these may lose a record or let two runs overwrite each other."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.adapters.clock import HostClock
from reconciler.adapters.localstore import LocalStateStore
from reconciler.adapters.s3store import S3StateStore
from reconciler.adapters.voiceid import VoiceId
from reconciler.cli import EXIT_ERROR, main
from reconciler.core.desired import Shard
from reconciler.core.errors import RetryableError, StateError, StateLockedError
from reconciler.core.kinds import JobKind
from reconciler.core.state import JobRecord, State
from reconciler.core.statefile import parse_state
from reconciler.core.times import iso
from reconciler.sandbox import Sandbox
from tests.support import SkewedClock, age_state, build_world, write_specs

ENROLLMENT = JobKind.ENROLLMENT
STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")


def _starts(sandbox: Sandbox) -> int:
    calls = sandbox.calls()
    return sum(calls.get(op, 0) for op in STARTS)


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
    mine.domains["mine"] = "M" * 22  # something to write (a write of nothing new writes nothing)
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
    for i in range(3):
        state.domains[f"d{i}"] = "D" * 22
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


@pytest.mark.parametrize(
    ("operation", "call"),
    [
        ("ListDomains", lambda v, domain, job: v.domains()),
        ("ListWatchlists", lambda v, domain, job: v.watchlists(domain)),
        ("ListSpeakerEnrollmentJobs", lambda v, domain, job: list(v.list_jobs(ENROLLMENT, domain))),
        (
            "DescribeSpeakerEnrollmentJob",
            lambda v, domain, job: v.describe_job(ENROLLMENT, domain, job),
        ),
    ],
)
def test_an_answer_without_the_fields_it_must_have_is_refused_not_taken_as_empty(
    voiceid_env: Sandbox,
    tmp_path: Path,
    operation: str,
    call: Callable[[VoiceId, str, str], object],
) -> None:
    """HTTP 200 with ``{}``: not "no domains" or "no jobs" but a malformed answer, retried,
    then refused naming the operation."""
    world = build_world(voiceid_env)
    write_specs(world, tmp_path / "specs", 1, kinds=("SpeakerEnrollmentJob",))
    state = tmp_path / "state.json"
    assert main(["apply", str(tmp_path / "specs"), "--state", str(state), "--tps", "0"]) == 0
    (record,) = LocalStateStore(state).read().all_jobs()
    assert record.job_id
    voiceid_env.configure(malformed_operations=[operation])
    client = voiceid_env.client("voice-id", retries={"total_max_attempts": 1})
    voiceid = VoiceId(client, tps=0, max_attempts=3, max_wait=0.01)
    with pytest.raises(RetryableError, match=f"{operation}: Voice ID answered without"):
        call(voiceid, record.domain_id, record.job_id)
    assert voiceid.calls[operation] == 3


def _cli(*argv: str) -> int:
    return main([*argv, "--tps", "0", "--log-format", "json"])


def test_a_rebuild_inside_the_list_lag_starts_nothing_twice(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """A job started moments ago is invisible to List (it lags) and its token is forgotten; the
    state is rebuilt from that List. The rebuilt domains are provisional: the next apply waits
    for the horizon, then finds the job by listing again, and never starts it a second time."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.freeze_clock()  # the job runs for as long as the test needs
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    assert _starts(voiceid_env) == 1
    voiceid_env.configure(list_lag=60.0)
    voiceid_env.expire_tokens()
    lag = ("--list-lag-horizon", "300")
    assert _cli("state", "rebuild", str(specs), "--state", str(state)) == 0
    rebuilt = LocalStateStore(state).read()
    assert not list(rebuilt.all_jobs())  # List did not show the job: the state cannot know it
    assert rebuilt.provisional.keys() == rebuilt.listings.keys()
    assert _cli("apply", str(specs), "--state", str(state), *lag) == 0
    assert _starts(voiceid_env) == 1  # held: the domain's listing is younger than the horizon
    voiceid_env.advance_clock(61)  # List has caught up
    age_state(state, 301)  # and the horizon has passed
    assert _cli("apply", str(specs), "--state", str(state), *lag) == 0
    assert _starts(voiceid_env) == 1
    (record,) = LocalStateStore(state).read().all_jobs()
    assert record.job_id


def test_a_rebuild_keeps_unconfirmed_intents_and_only_its_shards_domains(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An intent the old state holds survives a rebuild; a sharded rebuild lists only the
    domains of its shard; a selector is refused rather than silently ignored."""
    world = build_world(voiceid_env, domains=3)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    keys = write_specs(world, specs, 6)
    assert _cli("apply", str(specs), "--state", str(state), "--dry-run") == 0
    old = LocalStateStore(state)
    previous = old.read()
    entry = previous.specs[keys[0]]
    intent = JobRecord(
        hash=entry.hash,
        attempt=1,
        client_token="t" * 20,
        job_name=f"spec-0000-{entry.hash[:32]}",
        domain_id=entry.domain_id,
        kind=entry.kind,
        intent_at="2026-01-01T00:00:00Z",
    )
    entry.jobs.append(intent)
    old.write(previous)
    assert _cli("state", "rebuild", str(specs), "--state", str(state)) == 0
    (kept,) = LocalStateStore(state).read().specs[keys[0]].jobs
    assert kept.job_id is None
    assert kept.client_token == intent.client_token
    sharded = tmp_path / "sharded.json"
    assert _cli("state", "rebuild", str(specs), "--state", str(sharded), "--shard", "1/2") == 0
    (shard_state,) = tmp_path.glob("sharded.shard-1-of-2.json")
    listed = {key.split("/")[0] for key in LocalStateStore(shard_state).read().listings}
    owned = {d for d in world.domains.values() if Shard(1, 2).owns(d)}
    assert listed == owned
    capsys.readouterr()
    assert _cli("state", "rebuild", str(specs), "--state", str(state), "-l", "a=b") == 1
    assert "without --selector" in capsys.readouterr().err


def test_a_pure_rename_moves_the_record_and_reports_no_orphan(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """metadata.name changes and nothing else: same hash, so the job is the renamed spec's, in
    sync under the new name, nothing orphaned, no Start, and status shows the new name."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    (key,) = write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    spec = specs / "spec-0000.yaml"
    spec.write_text(spec.read_text().replace("name: spec-0000", "name: renamed"))
    capsys.readouterr()
    assert main(["plan", str(specs), "--state", str(state), "--format", "json", "--tps", "0"]) == 0
    actions = json.loads(capsys.readouterr().out)["actions"]
    assert [(a["action"], a["name"]) for a in actions] == [("in-sync", "renamed")]
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    assert _starts(voiceid_env) == 1
    recorded = LocalStateStore(state).read()
    assert list(recorded.specs) == [key.replace("spec-0000", "renamed")]
    assert recorded.specs[key.replace("spec-0000", "renamed")].name == "renamed"
    assert not recorded.orphans


def test_a_missing_state_is_new_only_when_nothing_says_one_existed(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state file gone but its backup there, a directory that does not exist, a bucket
    that does not exist: each is one line and exit 1, before any Voice ID call."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    state.unlink()
    voiceid_env.reset_calls()
    cases = {
        str(state): "its backup",
        str(tmp_path / "typo" / "state.json"): "no directory",
        f"s3://no-such-bucket-{world.bucket}/state.json": "does not exist",
    }
    for location, message in cases.items():
        capsys.readouterr()
        assert _cli("apply", str(specs), "--state", location) == EXIT_ERROR, location
        err = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("{")]
        assert len(err) == 1, err
        assert message in err[0]
    assert voiceid_env.calls() == {}
    s3 = voiceid_env.client("s3")
    s3.put_object(Bucket=world.bucket, Key="gone/state.json.backup", Body=b"{}")
    assert _cli("status", "--state", f"s3://{world.bucket}/gone/state.json") == EXIT_ERROR
    assert "its backup" in capsys.readouterr().err


def test_s3_lock_expiry_trusts_s3s_clock_not_a_skewed_hosts(voiceid_sandbox: Sandbox) -> None:
    """A host an hour ahead cannot take a live, heart-beating lock; a host an hour behind
    still takes over a dead one once S3 says it was not renewed for its TTL."""
    bucket = voiceid_sandbox.seed_demo_world().bucket
    url = f"s3://{bucket}/skew/state.json"
    ahead = S3StateStore(
        url, voiceid_sandbox.client("s3"), lock_timeout=2.5, clock=SkewedClock(3600)
    )
    holder = S3StateStore(url, voiceid_sandbox.client("s3"), lock_ttl=1.5)
    with (
        holder.locked(),
        pytest.raises(StateLockedError, match="locked by another run"),
        ahead.locked(),
    ):
        pass
    s3 = voiceid_sandbox.client("s3")
    dead = {"owner": "f" * 32, "host": "gone", "pid": 1, "expiresAt": time.time(), "ttl": 1.0}
    s3.put_object(Bucket=bucket, Key="skew/state.json.lock", Body=json.dumps(dead).encode())
    behind = S3StateStore(
        url, voiceid_sandbox.client("s3"), lock_timeout=10, clock=SkewedClock(-3600)
    )
    started = time.monotonic()
    with behind.locked():
        assert behind.lock_holder()[0]["owner"] != dead["owner"]  # type: ignore[index]
    assert time.monotonic() - started < 8


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_rolled_back_state_is_distrusted_and_starts_nothing_twice(
    voiceid_env: Sandbox, tmp_path: Path, backend: str
) -> None:
    """An older version of the state (it lacks a job that ended since, yet says its domain was
    listed in full) is checked out again, and the token is forgotten. Behind the high-water
    mark, it is distrusted: the domain is listed in full again and the job found by its name."""
    world = build_world(voiceid_env)
    specs = tmp_path / "specs"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    s3 = voiceid_env.client("s3")
    key = "rollback/state.json"
    local = tmp_path / "state.json"
    state = str(local) if backend == "local" else f"s3://{world.bucket}/{key}"

    def save() -> bytes:
        if backend == "local":
            return local.read_bytes()
        return bytes(s3.get_object(Bucket=world.bucket, Key=key)["Body"].read())

    def restore(body: bytes) -> None:
        if backend == "local":
            local.write_bytes(body)
        else:
            s3.put_object(Bucket=world.bucket, Key=key, Body=body)

    assert _cli("apply", str(specs), "--state", state, "--dry-run") == 0
    old = save()
    assert json.loads(old)["listings"]  # the old version says the domain was listed in full
    assert _cli("apply", str(specs), "--state", state, "--wait", "--poll-interval", "0.05") == 0
    assert _starts(voiceid_env) == 1
    restore(old)
    voiceid_env.expire_tokens()
    assert _cli("apply", str(specs), "--state", state) == 0
    assert _starts(voiceid_env) == 1


def test_a_selector_does_not_turn_the_other_specs_jobs_into_orphans(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """apply -l team=a after a full apply: the jobs of the specs the selector leaves out are
    neither orphaned nor counted; a spec really removed still is."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    keys = write_specs(world, specs, 3, kinds=("SpeakerEnrollmentJob",))
    first = specs / "spec-0000.yaml"
    first.write_text(
        first.read_text().replace(
            "metadata: {name: spec-0000}", "metadata: {name: spec-0000, labels: {team: a}}"
        )
    )
    voiceid_env.configure(max_active_jobs=3)
    voiceid_env.freeze_clock()
    assert _cli("apply", str(specs), "--state", state.as_posix(), "--max-active", "3") == 0
    assert _starts(voiceid_env) == 3
    voiceid_env.advance_clock(600)  # every job ended: a removed spec's is retired
    voiceid_env.advance()
    (specs / "spec-0002.yaml").unlink()
    capsys.readouterr()
    argv = ["plan", str(specs), "--state", str(state), "-l", "team=a", "--format", "json"]
    assert main([*argv, "--tps", "0"]) == 0
    actions = json.loads(capsys.readouterr().out)["actions"]
    assert sorted((a["action"], a["name"]) for a in actions) == [
        ("in-sync", "spec-0000"),
        ("retired", "spec-0002"),  # its spec file is gone (its job ended): retired
    ]
    assert keys[1] in LocalStateStore(state).read().specs


def test_a_first_apply_on_a_fresh_state_in_an_empty_domain_starts_at_once(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """The default horizon (300 s) does not hold a first-ever deployment: nothing says a state
    was lost and the domain holds no job of ours, so the first run starts."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    argv = ["apply", str(specs), "--state", str(state), "--list-lag-horizon", "300"]
    assert _cli(*argv) == 0
    assert _starts(voiceid_env) == 2  # one per kind: each its own quota
    assert not LocalStateStore(state).read().provisional


@pytest.mark.parametrize("skew", [3600.0, -3600.0])
def test_a_skewed_host_ages_an_unconfirmed_start_by_voice_ids_clock(
    voiceid_env: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    skew: float,
) -> None:
    """A start recorded 5 s ago by one host and never confirmed (the run died before Voice ID
    answered); its token is forgotten and List lags. A host an hour ahead would see the intent
    as an hour old and start it again; one an hour behind would hold it for an hour. Both age
    it by Voice ID's clock (the Date of its answers): held, with the horizon's seconds left."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    assert _starts(voiceid_env) == 1
    store = LocalStateStore(state)
    with store.locked():
        recorded = store.read()
        (entry,) = recorded.specs.values()
        record = entry.jobs[0]
        record.job_id, record.status, record.created_at = None, None, None
        record.intent_at = iso(time.time() - 5)
        store.write(recorded)
    voiceid_env.expire_tokens()
    voiceid_env.configure(list_lag=60.0)
    monkeypatch.setattr(HostClock, "time", lambda self: time.time() + skew)
    capsys.readouterr()
    argv = ("--state", str(state), "--list-lag-horizon", "300")
    assert _cli("apply", str(specs), *argv) == 0
    assert _starts(voiceid_env) == 1
    assert main(["plan", str(specs), *argv, "--tps", "0", "--format", "json"]) == 0
    out = capsys.readouterr().out
    (action,) = json.loads(out[out.index("{\n") :])["actions"]
    assert action["action"] == "queued"
    left = int(re.search(r"\((\d+)s left\)", action["reason"]).group(1))  # type: ignore[union-attr]
    assert 290 <= left <= 296


def _plan_actions(
    capsys: pytest.CaptureFixture[str], specs: Path, state: Path, *extra: str
) -> list[tuple[str, str]]:
    capsys.readouterr()
    argv = ["plan", str(specs), "--state", str(state), "--format", "json", "--tps", "0", *extra]
    assert main(argv) == 0
    out = capsys.readouterr().out
    return sorted((a["action"], a["name"]) for a in json.loads(out)["actions"])


def test_two_states_sharing_a_domain_do_not_see_each_others_jobs_as_orphans(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two repositories (or a test state beside production) in one domain: each lists the
    other's jobs and keeps them (a spec that claims one takes it back), but reports as orphans
    only the jobs of specs it managed, unless --owner widens its scope."""
    world = build_world(voiceid_env)
    ours, theirs = tmp_path / "ours", tmp_path / "theirs"
    for directory, mine in ((ours, {"spec-0000", "spec-0002"}), (theirs, {"spec-0001"})):
        write_specs(world, directory, 3, kinds=("SpeakerEnrollmentJob",))
        for path in directory.glob("*.yaml"):
            if path.stem not in mine:
                path.unlink()
    voiceid_env.configure(max_active_jobs=3)
    ours_state, theirs_state = tmp_path / "ours.json", tmp_path / "theirs.json"
    assert _cli("apply", str(ours), "--state", str(ours_state), "--max-active", "3") == 0
    assert _cli("apply", str(theirs), "--state", str(theirs_state), "--max-active", "3") == 0
    assert _starts(voiceid_env) == 3
    assert _plan_actions(capsys, ours, ours_state) == [
        ("in-sync", "spec-0000"),
        ("in-sync", "spec-0002"),
    ]
    assert _plan_actions(capsys, theirs, theirs_state) == [("in-sync", "spec-0001")]
    assert len(LocalStateStore(theirs_state).read().orphans) == 2  # known, kept, not reported
    assert _plan_actions(capsys, theirs, theirs_state, "--owner", "spec-000[02]") == [
        ("in-sync", "spec-0001"),
        ("orphaned", "spec-0000"),
        ("orphaned", "spec-0002"),
    ]
    voiceid_env.advance_clock(600)  # every job ended (however slow the machine)
    voiceid_env.advance()
    (ours / "spec-0002.yaml").unlink()  # a spec this state managed is removed: retired
    assert _plan_actions(capsys, ours, ours_state) == [
        ("in-sync", "spec-0000"),
        ("retired", "spec-0002"),
    ]


def test_state_rm_forgets_a_removed_spec_and_a_readded_spec_takes_its_job_back(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """state rm quiets the orphan of a removed spec; the tombstone it leaves makes the spec,
    added again with a forgotten token and a state that listed the domain long ago, in sync
    with its old job instead of a second one."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.configure(max_active_jobs=2)
    wait = ("--wait", "--poll-interval", "0.05", "--max-active", "2")
    assert _cli("apply", str(specs), "--state", str(state), *wait) == 0
    spec = specs / "spec-0000.yaml"
    text = spec.read_text()
    spec.unlink()
    assert _plan_actions(capsys, specs, state) == [
        ("in-sync", "spec-0001"),
        ("retired", "spec-0000"),
    ]
    assert main(["state", "rm", "spec-0000", "--state", str(state)]) == 0
    assert "Removed SpeakerEnrollmentJob/spec-0000" in capsys.readouterr().out
    assert _plan_actions(capsys, specs, state) == [("in-sync", "spec-0001")]
    assert main(["state", "rm", "spec-0000", "--state", str(state)]) == EXIT_ERROR
    assert "no spec 'spec-0000' in the state" in capsys.readouterr().err
    spec.write_text(text)
    voiceid_env.expire_tokens()
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    assert _starts(voiceid_env) == 2
    assert _plan_actions(capsys, specs, state) == [
        ("in-sync", "spec-0000"),
        ("in-sync", "spec-0001"),
    ]
    assert not LocalStateStore(state).read().removed


def test_state_mv_records_a_rename_that_also_changed_the_spec(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Renamed and changed in one commit: without state mv the old job is an orphan; with it,
    the old job is the renamed spec's history (superseded) and the new content starts."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    assert _cli("apply", str(specs), "--state", str(state)) == 0
    voiceid_env.advance_clock(600)  # the first job has ended (a running one would queue the
    voiceid_env.advance()  # new content behind it, however slow the machine)
    spec = specs / "spec-0000.yaml"
    spec.write_text(
        spec.read_text()
        .replace("{name: spec-0000}", "{name: renamed}")
        .replace("kind: SpeakerEnrollmentJob\n", "kind: SpeakerEnrollmentJob\n")
        + "  revision: 1\n"
    )
    assert _plan_actions(capsys, specs, state) == [("retired", "spec-0000"), ("start", "renamed")]
    assert main(["state", "mv", "spec-0000", "renamed", "--state", str(state)]) == 0
    assert "Moved SpeakerEnrollmentJob/spec-0000 to SpeakerEnrollmentJob/renamed" in (
        capsys.readouterr().out
    )
    assert _plan_actions(capsys, specs, state) == [("start", "renamed"), ("superseded", "renamed")]
    assert main(["state", "mv", "nothing", "x", "--state", str(state)]) == EXIT_ERROR
    assert "must name exactly one spec entry (found: none)" in capsys.readouterr().err
