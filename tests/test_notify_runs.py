"""Every event of a run reaches every sink by the end of that run.

The grouping that keeps a sink from a flood is per run (``--notify-interval`` between two
messages of one ``apply --wait``); nothing it held is left for the next run. A FAILED attempt
with a retry coming is ``attempt-failed``; the failure with no attempts left is ``failed``.
Everything goes through the product's real paths to the sandbox and a local webhook receiver;
each test counts the messages and the jobs each one names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_OK, main
from reconciler.core import events as ev
from reconciler.sandbox import Sandbox
from tests.support import WAIT_FAST, Receiver, World, build_world, write_specs

ENROLLMENT = ("SpeakerEnrollmentJob",)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    yield server
    server.close()


def _apply(specs: Path, state: Path, *extra: str) -> int:
    argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
    return main([*argv, *extra])


def _told(payload: dict[str, Any]) -> list[tuple[str, str]]:
    """(event, spec name) of every event of one message, in its order."""
    return [(e["event"], e["spec"].partition("/")[2]) for e in payload["events"]]


def _failing(world: World, specs: Path, max_attempts: int) -> None:
    """Every spec of ``specs`` writes to a bucket that does not exist (each attempt FAILED),
    with ``max_attempts`` attempts."""
    for path in specs.glob("*.yaml"):
        text = path.read_text().replace(f"s3://{world.bucket}/output/", "s3://no-such-bucket-x/o/")
        path.write_text(text.replace("spec:\n", f"spec:\n  maxAttempts: {max_attempts}\n", 1))


def test_four_applies_in_a_row_tell_both_jobs_each_in_the_run_that_saw_it(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """Two specs, one slot, --notify-on all, four applies 20 s apart (inside the default
    interval): each run's events reach the sink in that run: A started; A completed and B
    started; B completed; the fourth run has nothing new and sends nothing."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=15, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2, kinds=ENROLLMENT)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h", "--notify-on", "all"]
    notify += ["--max-active", "1"]
    for _ in range(4):
        assert _apply(specs, state, *notify) == EXIT_OK
        voiceid_env.advance_clock(20)
        voiceid_env.advance()
    assert [_told(p) for p in receiver.payloads()] == [
        [("started", "spec-0000")],
        [("completed", "spec-0000"), ("started", "spec-0001")],
        [("completed", "spec-0001")],
    ]


def test_a_wait_run_groups_its_polls_and_sends_what_it_held_at_its_end(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """apply --wait of three specs through one slot, the default interval (60 s) far longer
    than the run: its first poll's message (the first start), then one message at the end with
    every event the interval held (two more starts, three completions)."""
    world = build_world(voiceid_env)
    voiceid_env.configure(job_duration=0.3, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 3, kinds=ENROLLMENT)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h", "--notify-on", "all"]
    assert _apply(specs, state, *WAIT_FAST, "--max-active", "1", *notify) == EXIT_OK
    first, last = receiver.payloads()
    assert _told(first) == [("started", "spec-0000")]
    assert sorted(_told(last)) == [
        ("completed", "spec-0000"),
        ("completed", "spec-0001"),
        ("completed", "spec-0002"),
        ("started", "spec-0001"),
        ("started", "spec-0002"),
    ]
    assert last["title"] == "voiceid-reconciler: 3 completed, 2 started"


def test_a_wait_that_times_out_sends_what_it_held_before_it_ends(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """apply --wait --timeout that ends with a job still running (a success: progress), jobs
    ending and starting between its polls within the interval: every event the written state
    holds was sent before the process ended, none left for the next run."""
    world = build_world(voiceid_env)
    voiceid_env.configure(job_duration=0.4, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 4, kinds=ENROLLMENT)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h", "--notify-on", "all"]
    wait = ["--tps", "0", "--wait", "--poll-interval", "0.05", "--timeout", "1.0"]
    assert _apply(specs, state, *wait, *notify, "--max-active", "1") == EXIT_OK
    sent = {e["id"] for payload in receiver.payloads() for e in payload["events"]}
    written = LocalStateStore(state).read()
    assert any(r.active for r in written.all_jobs())  # the timeout ended the wait
    assert len(receiver.payloads()) >= 2  # the interval held some of them within the run
    assert sent == {e.id for e in ev.derive(written, None)}


def test_a_failed_attempt_with_a_retry_then_the_final_failure_are_two_events(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """maxAttempts 2, every attempt FAILED, the default --notify-on (failures): the run that
    sees attempt 1 fail and starts attempt 2 sends attempt-failed (attempt 2 started), the run
    that sees attempt 2 fail sends failed (no attempts left); one message each, none again."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=10, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=ENROLLMENT)
    _failing(world, specs, 2)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h"]
    codes = []
    for _ in range(4):
        codes.append(_apply(specs, state, *notify))
        voiceid_env.advance_clock(11)
        voiceid_env.advance()
    assert codes == [EXIT_OK, EXIT_OK, 5, EXIT_OK]  # only the final failure fails a run
    first, second = receiver.payloads()
    [retried] = first["events"]
    assert (retried["event"], retried["attempt"]) == ("attempt-failed", 1)
    assert (retried["nextAttempt"], retried["retry"]) == (2, "started")
    assert first["title"] == "voiceid-reconciler: 1 attempt-failed"
    # "attempt 1 of 2" where the notifier is given the specs' maxAttempts (cli.session)
    said = re.fullmatch(
        r"• SpeakerEnrollmentJob/spec-0000 attempt 1( of 2)? FAILED in voiceid-sandbox-demo: "
        r"failure 400: The output S3 location is not accessible: [^;]*; attempt 2 started",
        first["text"],
    )
    assert said, first["text"]
    [final] = second["events"]
    assert (final["event"], final["attempt"], final["nextAttempt"]) == ("failed", 2, None)
    assert final["id"] != retried["id"]
    assert second["title"] == "voiceid-reconciler: 1 failed"


def test_a_retry_queued_behind_another_job_is_told_queued_and_each_failure_once(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """One slot: spec-0000 (maxAttempts 2) fails its first attempt while spec-0001 (priority
    10, maxAttempts 1) arrives and takes the slot: attempt-failed says attempt 2 is queued and
    why; then spec-0001's failure and spec-0000's final failure, each in the run that saw it."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=10, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, tmp_path / "all", 2, kinds=ENROLLMENT)
    _failing(world, tmp_path / "all", 2)
    specs.mkdir()
    first_spec = (tmp_path / "all" / "spec-0000.yaml").read_text()
    (specs / "spec-0000.yaml").write_text(first_spec)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h", "--max-active", "1"]
    assert _apply(specs, state, *notify) == EXIT_OK
    later = (tmp_path / "all" / "spec-0001.yaml").read_text()
    later = later.replace("maxAttempts: 2", "maxAttempts: 1\n  priority: 10")
    (specs / "spec-0001.yaml").write_text(later)
    for _ in range(3):
        voiceid_env.advance_clock(11)
        voiceid_env.advance()
        _apply(specs, state, *notify)
    told = [
        [(e["event"], e["spec"], e["attempt"]) for e in p["events"]] for p in receiver.payloads()
    ]
    assert told == [
        [("attempt-failed", "SpeakerEnrollmentJob/spec-0000", 1)],
        [("failed", "SpeakerEnrollmentJob/spec-0001", 1)],
        [("failed", "SpeakerEnrollmentJob/spec-0000", 2)],
    ]
    queued = receiver.payloads()[0]["events"][0]
    assert (queued["nextAttempt"], queued["retry"]) == (2, "queued")
    assert (
        "attempt 2 is queued (domain busy: 1 active job(s) of this kind)"
        in (receiver.payloads()[0]["text"])
    )


def test_a_failed_attempt_whose_retry_no_review_approved_says_it_awaits_review(
    voiceid_env: Sandbox, tmp_path: Path, receiver: Receiver
) -> None:
    """Reviewed with maxAttempts 1, raised to 2 on main without a review: the schedule's run
    (--require-approval) that sees attempt 1 fail holds attempt 2 as awaiting-review, and
    tells attempt-failed ("attempt 2 awaits review"), once; nothing is started."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=10, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=ENROLLMENT)
    _failing(world, specs, 1)
    notify = ["--notify", f"json://127.0.0.1:{receiver.port}/h"]
    assert _apply(specs, state, *notify) == EXIT_OK  # approves its plan: attempts 1 to 1
    for path in specs.glob("*.yaml"):
        path.write_text(path.read_text().replace("maxAttempts: 1", "maxAttempts: 2"))
    voiceid_env.advance_clock(11)
    voiceid_env.advance()
    starts = voiceid_env.calls().get("StartSpeakerEnrollmentJob", 0)
    for _ in range(2):
        _apply(specs, state, "--require-approval", *notify)
    assert voiceid_env.calls().get("StartSpeakerEnrollmentJob", 0) == starts
    [message] = receiver.payloads()
    [event] = message["events"]
    assert (event["event"], event["attempt"]) == ("attempt-failed", 1)
    assert (event["nextAttempt"], event["retry"]) == (2, "awaiting-review")
    assert message["text"].endswith(
        "; attempt 2 awaits review (attempt 2 is beyond the 1 attempt(s) its review approved)"
    ), message["text"]
