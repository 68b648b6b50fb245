"""The reviewed plan and the apply on merge: a checksum of intent, saved plans, offline = online.

A plan is reviewed in a pull request and applied on merge, minutes or hours later. What the
reviewer approved is which specs, which hashes and which action class — not the queue position
or a job's progress — so a plan taken while a domain was busy must still apply once its job
ended, while an edited spec must refuse (exit 6) and say which one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, EXIT_PLAN_CHANGED, main
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")
ONE_KIND = ("SpeakerEnrollmentJob",)


def _starts(sandbox: Sandbox) -> int:
    calls = sandbox.calls()
    return sum(calls.get(op, 0) for op in STARTS)


def _plan(capsys: pytest.CaptureFixture[str], specs: Path, state: Path, *extra: str) -> Any:
    capsys.readouterr()
    argv = ["plan", str(specs), "--state", str(state), "--tps", "0", "--format", "json"]
    assert main([*argv, *extra]) == EXIT_OK
    return json.loads(capsys.readouterr().out)


def _apply(*argv: str) -> int:
    return main(["apply", *argv, "--tps", "0", "--log-format", "json"])


def _wait_for_jobs_to_end(sandbox: Sandbox, seconds: float) -> None:
    """Let ``seconds`` pass on the sandbox's frozen clock (no test races a real job)."""
    sandbox.advance_clock(seconds)
    sandbox.advance()


def test_a_plan_taken_while_the_domain_was_busy_applies_once_its_job_ended(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two specs, one domain, one slot: the first runs, the second is queued when the plan
    is made. After the first job ended the plan would start the second at once, not queue
    it — the same intent: the old checksum (and the saved plan) apply it."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2, kinds=ONE_KIND)
    assert _apply(str(specs), "--state", str(state)) == EXIT_OK  # starts spec-0000 only
    assert _starts(voiceid_env) == 1
    saved = tmp_path / "plan.json"
    reviewed = _plan(capsys, specs, state, "--out", str(saved))
    assert {a["name"]: a["action"] for a in reviewed["actions"]} == {
        "spec-0000": "in-sync",
        "spec-0001": "queued",
    }
    _wait_for_jobs_to_end(voiceid_env, 61)
    now = _plan(capsys, specs, state)
    assert {a["name"]: a["action"] for a in now["actions"]}["spec-0001"] == "start"
    assert now["checksum"] == reviewed["checksum"]  # queued then, startable now: one intent
    assert _apply(str(saved)) == EXIT_OK
    assert _starts(voiceid_env) == 2


def test_an_edited_spec_refuses_the_old_plan_and_names_the_spec(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec edited after review: apply with the old checksum or the saved plan exits 6 and
    starts nothing; the saved plan's refusal names the spec and its old and new hash, the bare
    checksum's names what would start now."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    saved = tmp_path / "plan.json"
    reviewed = _plan(capsys, specs, state, "--out", str(saved))
    edited = specs / "spec-0001.yaml"
    edited.write_text(edited.read_text().replace("spec:\n", "spec:\n  revision: 1\n", 1))
    voiceid_env.reset_calls()
    assert _apply(str(saved)) == EXIT_PLAN_CHANGED
    err = capsys.readouterr().err
    old_hash = next(a["hash"] for a in reviewed["actions"] if a["name"] == "spec-0001")
    assert "does not cover what awaits review now" in err
    assert (
        f"FraudsterRegistrationJob/spec-0001: changed since review (hash {old_hash[:12]} ->" in err
    )
    assert "spec-0000" not in err  # the unchanged spec is not named
    assert _apply(str(specs), "--state", str(state), "--plan-checksum", reviewed["checksum"]) == (
        EXIT_PLAN_CHANGED
    )
    assert "awaiting review now: FraudsterRegistrationJob/spec-0001" in capsys.readouterr().err
    assert _starts(voiceid_env) == 0
    edited.write_text(edited.read_text().replace("  revision: 1\n", "", 1))
    assert _apply(str(saved)) == EXIT_OK  # edited back: the reviewed plan again
    assert _starts(voiceid_env) == 2


def test_offline_and_online_plans_of_an_unchanged_repository_agree(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Manifest specs and rosters, their domains and manifests in the state: plan --offline
    and plan give one checksum, before and after the jobs end. A new manifest spec an offline
    plan cannot hash is marked so, and the checksums then differ (honestly)."""
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=60, max_active_jobs=10)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 4)
    assert _apply(str(specs), "--state", str(state), "--max-active", "5") == EXIT_OK
    for _ in range(2):
        online = _plan(capsys, specs, state, "--max-active", "5")
        offline = _plan(capsys, specs, state, "--max-active", "5", "--offline")
        assert offline["offline"]
        assert not online["offline"]
        assert offline["intent"] == online["intent"]
        assert offline["checksum"] == online["checksum"]
        _wait_for_jobs_to_end(voiceid_env, 61)
    write_specs(world, tmp_path / "more", 5)
    (tmp_path / "more" / "spec-0004.yaml").rename(specs / "spec-0004.yaml")
    offline = _plan(capsys, specs, state, "--offline")
    new = [row for row in offline["intent"] if row[0].endswith("/spec-0004")]
    assert new == [["SpeakerEnrollmentJob/spec-0004", "unknown-offline", 1, new[0][3]]]
    assert _plan(capsys, specs, state)["checksum"] != offline["checksum"]


def test_a_saved_plan_is_applied_alone_and_against_its_own_state(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line and exit 1 (no Start) for a saved plan with other paths, another state, or a
    JSON file that is not a saved plan."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    saved = tmp_path / "plan.json"
    _plan(capsys, specs, state, "--out", str(saved))
    voiceid_env.reset_calls()
    cases = {
        (str(saved), str(specs)): "a saved plan is applied alone",
        (str(saved), "--state", str(tmp_path / "other.json")): "the plan was made against",
    }
    not_a_plan = tmp_path / "other-plan.json"
    not_a_plan.write_text('{"checksum": "x"}\n')
    cases[(str(not_a_plan),)] = "not a saved plan of voiceid-reconciler"
    for argv, message in cases.items():
        assert _apply(*argv) == EXIT_ERROR
        err = capsys.readouterr().err
        assert message in err, err
        assert len([line for line in err.splitlines() if not line.startswith("{")]) == 1
    assert _starts(voiceid_env) == 0


def test_a_changed_spec_says_which_fields_changed(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a start the state keeps the request (no speaker data); an edit of the revision and
    the output location is shown field by field, in JSON and text, offline and online; a
    roster's new speaker list is "roster changed", never the speakers."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    roster = specs / "roster.yaml"
    roster.write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        "metadata: {name: roster}\n"
        f"spec:\n  domain: voiceid-sandbox-demo\n  dataAccessRoleArn: {world.role_arn}\n"
        f"  input:\n    speakers: [{{speakerId: caller-secret-1, audio: ['{world.audio[0]}']}}]\n"
        f"    stagingUri: s3://{world.bucket}/voiceid-staging/\n"
        f"  output: {{s3Uri: 's3://{world.bucket}/output/', kmsKeyId: {world.kms_alias}}}\n"
    )
    assert _apply(str(specs), "--state", str(state), "--max-active", "5") == EXIT_OK
    text = state.read_text()
    assert '"request":' in text
    assert "caller-secret" not in text
    assert world.audio[0] not in text
    spec = specs / "spec-0000.yaml"
    spec.write_text(
        spec.read_text()
        .replace("spec:\n", "spec:\n  revision: 1\n", 1)
        .replace(f"s3://{world.bucket}/output/", f"s3://{world.bucket}/output-v2/")
    )
    roster.write_text(roster.read_text().replace("caller-secret-1", "caller-secret-2"))
    for offline in ((), ("--offline",)):
        plan = _plan(capsys, specs, state, "--max-active", "5", *offline)
        actions = {a["name"]: a for a in plan["actions"] if a["action"] == "start"}
        assert actions["spec-0000"]["code"] == "changed"
        assert actions["spec-0000"]["changes"] == [
            f"output.s3Uri s3://{world.bucket}/output/ -> s3://{world.bucket}/output-v2/",
            "revision 0 -> 1",
        ]
        assert actions["roster"]["changes"] == ["roster changed"]
    capsys.readouterr()
    assert main(["plan", str(specs), "--state", str(state), "--tps", "0"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "changed: output.s3Uri" in out
    assert "caller-secret" not in out


def test_fail_on_turns_blocked_and_failed_into_an_exit_code(
    voiceid_env: Sandbox,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A mistyped domain is blocked with a did-you-mean; exit 0 by default, exit 9 and one line
    naming the spec with --fail-on blocked (or $VOICEID_RECONCILER_FAIL_ON), on plan and on
    apply; a mistyped class is one line with its own did-you-mean."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 1)
    spec = specs / "spec-0000.yaml"
    spec.write_text(spec.read_text().replace("voiceid-sandbox-demo", "voiceid-sandbox-dmeo"))
    plan = _plan(capsys, specs, state)
    [action] = plan["actions"]
    assert action["action"] == "blocked"
    assert action["code"] == "domain-not-found"
    assert (
        action["reason"]
        == "domain 'voiceid-sandbox-dmeo' not found; did you mean 'voiceid-sandbox-demo'?"
    )
    assert plan["problems"] == {"blocked": 1}
    argv = ["plan", str(specs), "--state", str(state), "--tps", "0"]
    assert main([*argv, "--fail-on", "blocked,failed"]) == 9
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == (
        "voiceid-reconciler: --fail-on: 1 blocked (SpeakerEnrollmentJob/spec-0000)"
    )
    assert main([*argv, "--fail-on", "failed"]) == EXIT_OK
    assert _apply(str(specs), "--state", str(state), "--fail-on", "blocked") == 9
    monkeypatch.setenv("VOICEID_RECONCILER_FAIL_ON", "blocked")
    assert main(argv) == 9
    monkeypatch.setenv("VOICEID_RECONCILER_FAIL_ON", "blokced")
    assert main(argv) == EXIT_ERROR
    assert "did you mean 'blocked'?" in capsys.readouterr().err
    monkeypatch.delenv("VOICEID_RECONCILER_FAIL_ON")
    assert main([*argv, "--fail-on", "blokced"]) == EXIT_ERROR
    assert "unknown class 'blokced'; did you mean 'blocked'?" in capsys.readouterr().err
