"""apply against the sandbox, through boto3's real HTTP path: start only what is missing, once."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_LOCKED, EXIT_OK, EXIT_PLAN_CHANGED, EXIT_UNSAFE, main
from reconciler.sandbox import Sandbox
from tests.support import (
    WAIT_FAST,
    World,
    age_state,
    build_world,
    check_after_crash,
    check_invariants,
    kill_when,
    run_cli,
    spawn_cli,
    wait_all_ok,
    wait_until,
    write_specs,
)

STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")


def _starts(sandbox: Sandbox) -> int:
    calls = sandbox.calls()
    return sum(calls.get(op, 0) for op in STARTS)


def _calls(sandbox: Sandbox) -> int:
    """The calls the sandbox has received so far (every operation)."""
    return sum(sandbox.calls().values())


def _events(capfd: pytest.CaptureFixture[str]) -> list[dict[str, Any]]:
    """The JSON log events the CLI wrote to stderr."""
    err = capfd.readouterr().err
    return [json.loads(line) for line in err.splitlines() if line.startswith("{")]


def _apply(specs: Path, state: Path, *extra: str) -> int:
    return main(
        ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json", *extra]
    )


def test_apply_twice_starts_each_job_exactly_once(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """30 specs over 3 domains: the first run starts 6 (one per domain and kind), --wait the rest,
    and a second run makes no Start call."""
    world = build_world(voiceid_env, domains=3)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    keys = write_specs(world, specs, 30)
    assert _apply(specs, state) == EXIT_OK
    assert _starts(voiceid_env) == 6
    assert _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "60") == EXIT_OK
    jobs, recorded = check_invariants(world, state)
    assert len(jobs) == 30
    assert sorted(recorded.specs) == sorted(keys)
    assert all(
        entry.latest() and entry.latest().status == "COMPLETED" for entry in recorded.specs.values()
    )  # type: ignore[union-attr]
    voiceid_env.reset_calls()
    assert _apply(specs, state) == EXIT_OK
    assert _starts(voiceid_env) == 0
    assert len(check_invariants(world, state)[0]) == 30


def test_steady_state_spends_calls_only_on_what_can_change(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """1,000 specs whose jobs have all ended: at most 1 + domains x kinds + in-flight calls."""
    world = build_world(voiceid_env, domains=3)
    voiceid_env.configure(max_active_jobs=1000)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1000)
    assert _apply(specs, state, "--max-active", "1000", "--force") in (EXIT_OK, 5)
    assert _starts(voiceid_env) == 1000
    voiceid_env.advance_clock(5)
    voiceid_env.advance()
    main(["status", "--state", str(state), "--refresh", "--tps", "0", "--log-format", "json"])
    voiceid_env.reset_calls()
    _apply(specs, state, "--max-active", "1000")
    calls = voiceid_env.calls()
    assert sum(calls.values()) <= 1 + 3 * 2, calls
    assert _starts(voiceid_env) == 0


def test_lost_state_and_expired_tokens_start_nothing_new(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """Deleting the state and expiring every ClientToken: jobs are rediscovered by JobName."""
    world = build_world(voiceid_env, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 8)
    assert _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "60") == EXIT_OK
    before = {r.job_id: r.hash for r in check_invariants(world, state)[1].all_jobs()}
    state.unlink()  # lost with its backup: nothing says a state was there
    state.with_name(state.name + ".backup").unlink()
    voiceid_env.expire_tokens()
    voiceid_env.reset_calls()
    assert _apply(specs, state) == EXIT_OK
    assert _starts(voiceid_env) == 0
    after = {r.job_id: r.hash for r in check_invariants(world, state)[1].all_jobs()}
    assert after == before


def _start_someone_elses_job(sandbox: Sandbox, world: World) -> None:
    """A job not started by the reconciler, in the world's only domain."""
    client = sandbox.client("voice-id", retries={"total_max_attempts": 1})
    (domain_id,) = world.domains.values()
    client.start_speaker_enrollment_job(
        DomainId=domain_id,
        DataAccessRoleArn=world.role_arn,
        InputDataConfig={"S3Uri": f"s3://{world.bucket}/manifests/spec-0000.json"},
        OutputDataConfig={"S3Uri": f"s3://{world.bucket}/output/", "KmsKeyId": world.kms_alias},
        JobName="someone-elses-job",
    )
    client.close()


def test_quota_taken_by_someone_else_queues_instead_of_failing(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A foreign active job takes the slot: our start is queued, not an error."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.freeze_clock()
    _start_someone_elses_job(voiceid_env, world)
    voiceid_env.reset_calls()
    assert _apply(specs, state) == EXIT_OK
    assert _starts(voiceid_env) == 0
    summary = next(e for e in _events(capfd) if e["event"] == "run.summary")
    assert summary["actions"]["queued"] == 1


def test_quota_refused_start_is_queued_in_the_final_plan(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A foreign job List does not show yet: our Start is refused by the quota, and the final
    plan shows the spec queued (not start), counted once; no error."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1, kinds=("SpeakerEnrollmentJob",))
    voiceid_env.freeze_clock()
    voiceid_env.configure(list_lag=3600.0)
    _start_someone_elses_job(voiceid_env, world)
    voiceid_env.reset_calls()
    assert _apply(specs, state) == EXIT_OK
    assert _starts(voiceid_env) == 1  # refused: ServiceQuotaExceeded
    out = capfd.readouterr()
    summary = next(json.loads(line) for line in out.err.splitlines() if '"run.summary"' in line)
    assert summary["actions"]["queued"] == 1
    assert summary["actions"]["start"] == 0
    assert summary["queued"] == 1
    assert (
        "Queued SpeakerEnrollmentJob/spec-0000: the domain's active-job quota is taken" in out.out
    )


def test_blocked_domain_does_not_stop_other_specs(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """A suspended domain blocks its specs with the reason; the others start."""
    world = build_world(voiceid_env, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2, kinds=("SpeakerEnrollmentJob",))
    suspended = world.domains["voiceid-sandbox-demo"]
    voiceid_env.set_domain_status(suspended, "SUSPENDED")
    assert _apply(specs, state) == EXIT_OK
    assert _starts(voiceid_env) == 1
    out = main(["plan", str(specs), "--state", str(state), "--tps", "0", "--format", "json"])
    assert out == EXIT_OK


@pytest.mark.parametrize("wait", [False, True], ids=["one-pass", "wait"])
def test_start_refused_mid_run_is_blocked_once(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str], wait: bool
) -> None:
    """A Start Voice ID refuses (the role) shows as blocked in the final plan, is reported once,
    counted once in run.summary, and is not tried again within the run."""
    world = build_world(voiceid_env, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2, kinds=("SpeakerEnrollmentJob",))
    refused_role = "arn:aws:iam::123456789012:role/Refused"
    spec = specs / "spec-0000.yaml"
    spec.write_text(spec.read_text().replace(world.role_arn, refused_role))
    voiceid_env.configure(refused_role_arns=[refused_role])
    extra = ("--wait", "--poll-interval", "0.05", "--timeout", "60") if wait else ()
    assert _apply(specs, state, *extra) == EXIT_OK
    assert _starts(voiceid_env) == 2  # the refused one once, the other once
    out = capfd.readouterr()
    summary = next(json.loads(line) for line in out.err.splitlines() if '"run.summary"' in line)
    assert summary["blocked"] == 1
    assert summary["actions"]["blocked"] == 1
    assert summary["actions"]["start"] == 0
    assert out.out.count("Blocked SpeakerEnrollmentJob/spec-0000: ") == 1


def test_throttling_and_server_errors_still_converge(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """With 30% of calls throttled and 10% failing with 500, apply --wait converges."""
    world = build_world(voiceid_env, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 8)
    voiceid_env.configure(throttle_error_rate=0.3, internal_error_rate=0.1, seed=7)
    code = _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "120")
    assert code == EXIT_OK
    voiceid_env.configure(throttle_error_rate=0.0, internal_error_rate=0.0)
    jobs, _ = check_invariants(world, state)
    assert len(jobs) == 8
    retries = [e for e in _events(capfd) if e["event"] == "voiceid.retry"]
    assert retries
    assert all(e["operation"] and e["operation"][0].isupper() for e in retries)  # it names it


def test_dry_run_and_max_starts(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """--dry-run starts nothing; --max-starts caps a run."""
    world = build_world(voiceid_env, domains=3)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 6)
    assert _apply(specs, state, "--dry-run") == EXIT_OK
    assert _starts(voiceid_env) == 0
    assert _apply(specs, state, "--max-starts", "2") == EXIT_OK
    assert _starts(voiceid_env) == 2


def test_no_personal_data_in_logs_or_state(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """Speaker ids and audio URIs never reach logs, output or the state file."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 4)
    assert _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "60") == EXIT_OK
    main(["status", "--state", str(state)])
    captured = capfd.readouterr()
    for text in (captured.out, captured.err, state.read_text()):
        assert "caller-0" not in text
        assert "audio/" not in text


@pytest.mark.slow
def test_sigkill_during_apply_wait_never_duplicates(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    """SIGKILL at random moments of apply --wait (20 trials: once the sandbox has had a random
    number of calls), then re-run: never two jobs for one spec hash, and the final state
    records every job."""
    rng = random.Random(20261124)
    env = voiceid_sandbox.env()
    for trial in range(20):
        voiceid_sandbox.reset()
        world = build_world(voiceid_sandbox, domains=2)
        specs, state = tmp_path / f"t{trial}" / "specs", tmp_path / f"t{trial}" / "state.json"
        write_specs(world, specs, 6)
        args = (
            "apply",
            str(specs),
            "--state",
            str(state),
            "--tps",
            "0",
            "--wait",
            "--poll-interval",
            "0.05",
            "--timeout",
            "60",
        )
        process = spawn_cli(*args, env=env, quiet=True)
        calls = rng.randint(1, 28)  # a whole run makes 22 to 32
        kill_when(process, lambda: _calls(voiceid_sandbox) >= calls)  # noqa: B023 - here
        check_after_crash(world, state)
        result = run_cli(*args, env=env)
        assert result.returncode == 0, result.stderr
        jobs, recorded = check_invariants(world, state)
        assert len(jobs) == 6, (trial, len(jobs))
        assert all(entry.latest() and entry.latest().job_id for entry in recorded.specs.values())  # type: ignore[union-attr]


def test_two_concurrent_applies_never_duplicate(voiceid_sandbox: Sandbox, tmp_path: Path) -> None:
    """Two apply processes at once on the same specs and state: no duplicate, every job recorded."""
    world = build_world(voiceid_sandbox, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 8)
    args = ("apply", str(specs), "--state", str(state), *WAIT_FAST, "--lock-timeout", "60")
    wait_all_ok([spawn_cli(*args, env=voiceid_sandbox.env()) for _ in range(2)])
    jobs, _ = check_invariants(world, state)
    assert len(jobs) == 8


def test_lock_timeout_exits_with_its_own_code(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """A run that cannot get the state lock within --lock-timeout exits 4 with a clear message."""

    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    with LocalStateStore(state).locked():
        assert _apply(specs, state, "--lock-timeout", "0.2") == EXIT_LOCKED
    data = json.loads(state.read_text()) if state.exists() else {}
    assert data == {}


def test_plan_checksum_pins_the_reviewed_plan(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """apply --plan-checksum runs the reviewed plan, and refuses (exit 6, no Start) once a spec
    was added after the plan was made."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    assert (
        main(["plan", str(specs), "--state", str(state), "--tps", "0", "--format", "json"])
        == EXIT_OK
    )
    checksum = json.loads(capsys.readouterr().out)["checksum"]
    write_specs(world, tmp_path / "more", 3)
    (tmp_path / "more" / "spec-0002.yaml").rename(specs / "spec-0002.yaml")
    voiceid_env.reset_calls()
    assert _apply(specs, state, "--plan-checksum", checksum) == EXIT_PLAN_CHANGED
    assert _starts(voiceid_env) == 0
    err = capsys.readouterr().err
    assert "does not cover what awaits review now" in err
    assert "SpeakerEnrollmentJob/spec-0002" in err  # the spec no review saw is named
    (specs / "spec-0002.yaml").unlink()
    assert _apply(specs, state, "--plan-checksum", checksum) == EXIT_OK
    assert _starts(voiceid_env) == 2


def test_surprisingly_large_plan_is_refused_without_force(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A plan with more pending starts than --start-limit is refused (exit 7) unless --force."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 6)
    assert _apply(specs, state, "--start-limit", "5") == EXIT_UNSAFE
    assert "over the safety limit of 5" in capsys.readouterr().err
    assert _starts(voiceid_env) == 0
    assert _apply(specs, state, "--start-limit", "5", "--force") == EXIT_OK
    assert _starts(voiceid_env) == 2


def test_metrics_file_holds_the_numbers_of_the_run(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """--metrics-file writes a textfile that Prometheus' parser reads, with this run's numbers."""
    from prometheus_client.parser import text_string_to_metric_families

    world = build_world(voiceid_env, domains=2)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 6)
    metrics = tmp_path / "metrics" / "voiceid.prom"
    metrics.parent.mkdir()
    voiceid_env.reset_calls()
    assert _apply(specs, state, "--metrics-file", str(metrics)) == EXIT_OK
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(metrics.read_text())
        for s in family.samples
    }
    assert samples[("voiceid_reconciler_run_starts", ())] == 4
    assert samples[("voiceid_reconciler_run_success", ())] == 1
    assert samples[("voiceid_reconciler_plan_actions", (("action", "queued"),))] == 2
    calls = voiceid_env.calls()
    for operation, count in calls.items():
        assert samples[("voiceid_reconciler_api_calls", (("operation", operation),))] == count


def test_fresh_state_waits_for_list_to_catch_up_before_starting(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """With a list-lag horizon, the first listing of a fresh state that replaces a lost one (its
    high-water mark remains) starts nothing (it is queued with the reason); once the listing is
    older than the horizon, the group is listed again, then started."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    state.with_name("state.json.mark").write_text('{"lineage": "lost", "serial": 7}\n')
    assert _apply(specs, state, "--list-lag-horizon", "2") == EXIT_OK
    assert _starts(voiceid_env) == 0
    assert "waiting 2s for Voice ID's List to catch up" in capsys.readouterr().out
    voiceid_env.reset_calls()
    age_state(state, 2.1)  # the horizon passes
    assert _apply(specs, state, "--list-lag-horizon", "2") == EXIT_OK
    calls = voiceid_env.calls()
    assert _starts(voiceid_env) == 2
    assert calls.get("ListSpeakerEnrollmentJobs") == 1  # listed in full once more
    assert not LocalStateStore(state).read().provisional


@pytest.mark.parametrize(
    ("command", "stop"),
    [
        ("apply", signal.SIGTERM),
        ("apply --wait", signal.SIGINT),
        ("plan", signal.SIGTERM),
        ("status --refresh", signal.SIGTERM),
        ("state rebuild", signal.SIGTERM),
    ],
)
def test_every_command_stops_cleanly_on_sigterm_and_sigint(
    voiceid_sandbox: Sandbox, tmp_path: Path, command: str, stop: signal.Signals
) -> None:
    """docker stop, a CronJob's deadline, Ctrl-C: whatever the command is doing (here: waiting
    for a slow Voice ID), it stops at once with exit 130 and one line, never a traceback; its
    lock is released (the next run does not wait for it) and the state is whole."""
    world = build_world(voiceid_sandbox)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    env = voiceid_sandbox.env()
    assert (
        run_cli("apply", str(specs), "--state", str(state), "--tps", "0", env=env).returncode == 0
    )
    voiceid_sandbox.configure(latency=5.0)
    words = command.split()
    uses_specs = words[0] in ("apply", "plan") or words[:2] == ["state", "rebuild"]
    argv = [*words, *([str(specs)] if uses_specs else []), "--state", str(state), "--tps", "0"]
    before = _calls(voiceid_sandbox)
    process = spawn_cli(*argv, env=env)
    # once the sandbox has a call, the command waits for Voice ID's answer
    assert wait_until(process, lambda: _calls(voiceid_sandbox) > before, deadline=30)
    assert process.poll() is None, process.communicate()
    stopped = time.monotonic()
    process.send_signal(stop)
    out, err = process.communicate(timeout=20)
    voiceid_sandbox.configure(latency=0.0)
    assert time.monotonic() - stopped < 4.5  # it did not wait for the 5 s answer
    assert process.returncode == 130, (out, err)
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip() and not line.startswith("{")]
    assert lines == [
        "voiceid-reconciler: interrupted; what the run recorded is saved, run again to continue"
    ]
    LocalStateStore(state).read()  # whole
    again = ("plan", str(specs), "--state", str(state), "--tps", "0", "--lock-timeout", "0")
    assert run_cli(*again, env=env).returncode == 0  # the lock was released


@pytest.mark.parametrize("backend", ["local", "s3"])
def test_a_run_that_observed_nothing_new_does_not_rewrite_the_state(
    voiceid_env: Sandbox, tmp_path: Path, backend: str
) -> None:
    """Once every job has ended, a re-run changes nothing: the committed state file keeps its
    bytes (no serial or observedAt bump, no noisy commit), and an S3 state gets no PUT."""
    world = build_world(voiceid_env)
    specs = tmp_path / "specs"
    write_specs(world, specs, 2)
    local = tmp_path / "state.json"
    state = str(local) if backend == "local" else f"s3://{world.bucket}/quiet/state.json"
    argv = ["apply", str(specs), "--state", state, "--tps", "0", "--log-format", "json"]
    assert main([*argv, "--wait", "--poll-interval", "0.05"]) == 0
    assert main(argv) == 0  # the results are read: the last change
    before = local.read_bytes() if backend == "local" else None
    voiceid_env.reset_calls()
    assert main(argv) == 0
    if backend == "local":
        assert local.read_bytes() == before
        assert not list(tmp_path.glob(".state.json.*.tmp"))
    else:
        puts = [r for r in voiceid_env.s3_requests() if r["method"] == "PUT"]
        assert [r["path"].rsplit("/", 1)[-1] for r in puts] == ["state.json.lock"]


def test_apply_warns_when_git_would_commit_the_files_beside_its_state(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """A local state in a git work tree: apply names each side file that `git add -A` would
    commit (one line each, exit 0 still); with the documented .gitignore lines it is quiet."""
    world = build_world(voiceid_env)
    repo = tmp_path / "repo"
    write_specs(world, repo / "specs", 1)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    state = repo / "voiceid-state.json"
    capfd.readouterr()
    assert _apply(repo / "specs", state) == EXIT_OK
    warnings = [line for line in capfd.readouterr().err.splitlines() if "warning:" in line]
    hint = "would commit it; add '*.lock' '*.backup' '*.mark' '*.cache' '*.journal' to .gitignore"
    assert all(hint in w for w in warnings), warnings
    assert [w.split(": ")[2] for w in warnings] == [
        f"{state}.backup",  # the run wrote twice: an intent, then what it observed
        f"{state}.cache",  # the spec cache
        f"{state}.lock",
        f"{state}.mark",
    ]
    (repo / ".gitignore").write_text("*.lock\n*.backup\n*.mark\n*.cache\n*.journal\n")
    assert _apply(repo / "specs", state) == EXIT_OK
    assert "warning:" not in capfd.readouterr().err
