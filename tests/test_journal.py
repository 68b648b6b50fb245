"""The state journal: a Start costs an append, not a rewrite of every spec, and loses nothing.

Each store (a local file, an S3 object) keeps the journal beside the state; a read replays
the one that follows it, a write takes it in and removes it, and the high-water mark counts
its records, so a journal that lost some makes the state distrusted, as a state that went
backwards does.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.adapters.s3store import S3StateStore
from reconciler.cli import main
from reconciler.core.errors import StateError
from reconciler.core.journal import JournalChange, replay_journal
from reconciler.core.kinds import JobStatus
from reconciler.core.state import JobRecord, SpecEntry, State
from reconciler.core.statefile import parse_state
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

KEY = "SpeakerEnrollmentJob/spec-a"
HASH = "a" * 64


def _state() -> State:
    state = State()
    state.specs[KEY] = SpecEntry(
        kind="SpeakerEnrollmentJob", name="spec-a", hash=HASH, domain_id="D" * 22
    )
    return state


def _intent(attempt: int = 1) -> JobRecord:
    return JobRecord(
        hash=HASH,
        attempt=attempt,
        client_token=f"token-{attempt}",
        job_name=f"spec-a-{HASH[:32]}",
        domain_id="D" * 22,
        kind="SpeakerEnrollmentJob",
        intent_at="2026-12-01T00:00:00Z",
    )


Store = LocalStateStore | S3StateStore
MakeStore = Callable[[], Store]


@pytest.fixture(params=["local", "s3"])
def make_store(
    request: pytest.FixtureRequest, tmp_path: Path, voiceid_sandbox: Sandbox
) -> MakeStore:
    if request.param == "local":
        return lambda: LocalStateStore(tmp_path / "state.json")
    client = voiceid_sandbox.client("s3")
    client.create_bucket(Bucket="journal-state")
    return lambda: S3StateStore("s3://journal-state/voiceid/state.json", client)


def _journal_text(store: Store) -> str | None:
    if isinstance(store, LocalStateStore):
        path = store.journal_path
        return path.read_text() if path.exists() else None
    try:
        body = store.client.get_object(Bucket=store.bucket, Key=store.journal_key)["Body"]
    except store.client.exceptions.NoSuchKey:
        return None
    return str(body.read().decode())


def _state_text(store: Store) -> str:
    if isinstance(store, LocalStateStore):
        return store.path.read_text()
    body = store.client.get_object(Bucket=store.bucket, Key=store.key)["Body"]
    return str(body.read().decode())


def _remove_journal(store: Store) -> None:
    if isinstance(store, LocalStateStore):
        store.journal_path.unlink()
    else:
        store.client.delete_object(Bucket=store.bucket, Key=store.journal_key)


def _written_with_intent(store: Store) -> tuple[State, JobRecord]:
    """Write a state holding the spec ``KEY``, then journal its first intent."""
    state = store.read()
    state.specs.update(_state().specs)
    store.write(state)
    return state, _journal_intent(store, state, 1)


def _journal_intent(store: Store, state: State, attempt: int) -> JobRecord:
    record = _intent(attempt)
    state.specs[KEY].jobs.append(record)
    store.journal(state, [JournalChange(KEY, record)])
    return record


def test_a_start_is_appended_to_the_journal_and_the_state_is_left_alone(
    make_store: MakeStore,
) -> None:
    """An intent and its JobId are journal lines; the state object is not rewritten; a run
    that dies then leaves both for the next read to replay, and the next write takes them in
    and removes the journal."""
    store = make_store()
    with store.locked():
        state = store.read()
        state.specs.update(_state().specs)
        store.write(state)
        written = _state_text(store)
        record = _intent()
        state.specs[KEY].jobs.append(record)
        store.journal(state, [JournalChange(KEY, record)])
        record.job_id, record.status = "J" * 22, JobStatus.SUBMITTED
        store.journal(state, [JournalChange(KEY, record)])
        assert _state_text(store) == written  # no rewrite for either
    journal = _journal_text(store)
    assert journal is not None
    assert len(journal.splitlines()) == 3  # the header and two records
    assert json.loads(journal.splitlines()[0])["serial"] == state.serial
    # a run that died here: the next read has the job, and its write takes the journal in
    again = make_store()
    with again.locked():
        replayed = again.read()
        (job,) = replayed.specs[KEY].jobs
        assert (job.job_id, job.status) == ("J" * 22, "SUBMITTED")
        assert replayed.untrusted is None
        again.write(replayed)
    assert _journal_text(again) is None
    assert parse_state(_state_text(again), "x").specs[KEY].jobs[0].job_id == "J" * 22


def test_a_dropped_intent_is_gone_after_the_replay(make_store: MakeStore) -> None:
    store = make_store()
    with store.locked():
        state, record = _written_with_intent(store)
        state.specs[KEY].jobs.remove(record)
        store.journal(state, [JournalChange(KEY, record, dropped=True)])
    with make_store().locked() as again:
        assert again.read().specs[KEY].jobs == []


def test_a_journal_that_lost_records_makes_the_state_distrusted(make_store: MakeStore) -> None:
    """The high-water mark counts the journal's records: a journal deleted (or restored from
    an older copy) is a state that lost starts, so every domain is listed again before
    anything starts there — exactly as for a state that went backwards."""
    store = make_store()
    with store.locked():
        _written_with_intent(store)
    _remove_journal(store)
    with make_store().locked() as again:
        read = again.read()
        assert read.untrusted is not None
        assert "journal lost records: 0 of the 1" in read.untrusted


def test_a_journal_that_follows_an_older_write_is_ignored_and_removed(
    make_store: MakeStore,
) -> None:
    """A run that died between writing the state and removing the journal: the state already
    holds what the journal says (the journal names the serial it followed)."""
    store = make_store()
    with store.locked():
        state, _ = _written_with_intent(store)
        stale = _journal_text(store)
        store.write(state)  # takes it in
    assert stale is not None
    if isinstance(store, LocalStateStore):
        store.journal_path.write_text(stale)
    else:
        store.client.put_object(Bucket=store.bucket, Key=store.journal_key, Body=stale.encode())
    with make_store().locked() as again:
        read = again.read()
        assert len(read.specs[KEY].jobs) == 1
        assert read.untrusted is None
        again.write(read)  # unchanged, but the stale journal goes
    assert _journal_text(store) is None


def test_replay_ignores_a_torn_last_line_and_refuses_a_damaged_one() -> None:
    state = _state()
    header = json.dumps({"journal": 1, "lineage": state.lineage, "serial": state.serial})
    from reconciler.core.journal import Journal

    line = Journal.line(state, JournalChange(KEY, _intent()))
    assert replay_journal(_state_copy(state), f"{header}\n{line}\n{line[:20]}", "j") == 1
    with pytest.raises(StateError, match=r"j:2: the state's journal is damaged"):
        replay_journal(_state_copy(state), f"{header}\n{line[:20]}\n{line}\n", "j")
    with pytest.raises(StateError, match="cannot be read"):
        replay_journal(_state_copy(state), "not a journal\n", "j")
    other = json.dumps({"journal": 1, "lineage": "other", "serial": state.serial})
    assert replay_journal(_state_copy(state), f"{other}\n{line}\n", "j") is None


def _state_copy(state: State) -> State:
    return parse_state(state.to_json(), "copy")


def test_an_apply_writes_the_state_once_however_many_jobs_it_starts(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """Four Starts in one run (S3 state): four journal records plus the intents, and the state
    object itself written only to take in the observation and, at the end, the journal."""
    world = build_world(voiceid_env, domains=2)
    specs = tmp_path / "specs"
    write_specs(world, specs, 4)
    voiceid_env.configure(max_active_jobs=4)
    state = f"s3://{world.bucket}/journal/state.json"
    voiceid_env.reset_calls()
    argv = ["apply", str(specs), "--state", state, "--tps", "0", "--log-format", "json"]
    assert main(argv) == 0
    assert sum(n for op, n in voiceid_env.calls().items() if op.startswith("Start")) == 4
    puts = _puts(voiceid_env.s3_requests())
    assert puts["journal/state.json"] <= 2  # the observation, then the starts taken in
    assert puts["journal/state.json.journal"] == 5  # the intents (one PUT), then each JobId
    s3 = voiceid_env.client("s3")
    listed = s3.list_objects_v2(Bucket=world.bucket, Prefix="journal/")["Contents"]
    assert "journal/state.json.journal" not in {o["Key"] for o in listed}
    body = s3.get_object(Bucket=world.bucket, Key="journal/state.json")["Body"].read()
    jobs = [r for r in parse_state(body.decode(), "s3").all_jobs() if r.job_id]
    assert len(jobs) == 4


def _puts(requests: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for request in requests:
        if request["method"] == "PUT":
            key = request["path"].split("/", 2)[-1]
            counts[key] = counts.get(key, 0) + 1
    return counts


def test_a_run_that_lost_its_lock_cannot_replace_or_remove_the_new_holders_journal(
    voiceid_sandbox: Sandbox,
) -> None:
    """S3: every journal write and removal is conditional on the journal this run read or
    wrote. A run whose lock was taken over (it stalled past the TTL) is refused, so it can
    neither overwrite the new holder's records nor move the mark back."""
    client = voiceid_sandbox.client("s3")
    client.create_bucket(Bucket="journal-takeover")
    url = "s3://journal-takeover/voiceid/state.json"
    old = S3StateStore(url, client)
    state, _ = _written_with_intent(old)
    new = S3StateStore(url, client)  # took the lock over: replays, writes, journals its own
    taken = new.read()
    new.write(taken)
    _journal_intent(new, taken, 2)
    late = _intent(3)
    state.specs[KEY].jobs.append(late)
    with pytest.raises(StateError, match="journal changed since this run wrote it"):
        old.journal(state, [JournalChange(KEY, late)])
    journal = _journal_text(new)
    assert journal is not None
    assert "token-2" in journal
    assert "token-3" not in journal
    with S3StateStore(url, client).locked() as reader:
        attempts = {r.attempt for r in reader.read().specs[KEY].jobs}
    assert attempts == {1, 2}


def test_a_journal_not_removed_does_not_swallow_the_next_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state was written but its journal could not be removed: the next record starts a
    journal of the new write (not lines under the old header, which a replay would ignore)."""
    store = LocalStateStore(tmp_path / "state.json")
    real_unlink = Path.unlink
    failing = {"on": True}

    def unlink(self: Path, missing_ok: bool = False) -> None:
        if failing["on"] and self == store.journal_path:
            raise PermissionError("journal busy")
        real_unlink(self, missing_ok=missing_ok)

    monkeypatch.setattr(Path, "unlink", unlink)
    with store.locked():
        state, _ = _written_with_intent(store)
        store.write(state)  # takes it in; the removal fails (a warning)
        _journal_intent(store, state, 2)
    failing["on"] = False
    header = json.loads(store.journal_path.read_text().splitlines()[0])
    assert header["serial"] == state.serial
    with LocalStateStore(tmp_path / "state.json").locked() as again:
        read = again.read()
    assert {r.attempt for r in read.specs[KEY].jobs} == {1, 2}
    assert read.untrusted is None


@pytest.mark.parametrize("text", ["", '{"journal": 1, "lin'])
def test_a_journal_cut_short_in_its_first_line_holds_nothing(text: str) -> None:
    """A crash while a journal was created: no record in it was ever acknowledged."""
    assert replay_journal(_state(), text, "j") == 0
