"""Order between jobs (``spec.dependsOn``): fraudsters registered before the enrollment that
checks callers against them, across kinds and domains.

The rule in the plan, with values (tests/test_plan.py's helpers); validation through the real
loader; and end to end against the sandbox: the PR's plan, the merge's apply and ``--wait``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.core.absorb import absorb
from reconciler.core.errors import SpecErrors
from reconciler.core.loading import load
from reconciler.core.plan import ActionKind
from reconciler.core.planner import build_plan
from reconciler.core.state import State
from reconciler.sandbox import Sandbox
from tests.support import build_world, manifest
from tests.test_plan import D1, D2, _desired, _observed, _spec

FRAUD = "FraudsterRegistrationJob"
ENROLL = "SpeakerEnrollmentJob"


def _pair() -> tuple[object, object]:
    fraud = _desired(_spec("known-fraudsters", kind=FRAUD), D1)
    enroll = _desired(
        _spec("emea-callers", dependsOn=[f"{FRAUD}/known-fraudsters"], domain="other"), D2
    )
    return fraud, enroll


def _action(plan: object, name: str) -> object:
    return next(a for a in plan.actions if a.name == name)  # type: ignore[attr-defined]


def test_a_dependent_waits_until_its_dependency_completed() -> None:
    """Not started, running (with its progress), COMPLETED: the dependent waits (queued, no
    slot taken), then starts."""
    fraud, enroll = _pair()
    state = State()
    plan = build_plan([fraud, enroll], state)  # type: ignore[list-item]
    waiting = _action(plan, "emea-callers")
    assert (waiting.kind, waiting.code) == (ActionKind.QUEUED, "waiting-for-dependency")
    assert waiting.reason == f"waiting for {FRAUD}/known-fraudsters (not started yet)"
    assert _action(plan, "known-fraudsters").kind is ActionKind.START
    state = absorb(
        state,
        [fraud, enroll],  # type: ignore[list-item]
        [_observed(fraud, "IN_PROGRESS", percent_complete=40)],
    ).applied_to(state)
    plan = build_plan([fraud, enroll], state)  # type: ignore[list-item]
    assert _action(plan, "emea-callers").reason == (
        f"waiting for {FRAUD}/known-fraudsters (IN_PROGRESS 40%)"
    )
    state = absorb(state, [fraud, enroll], [_observed(fraud, "COMPLETED")]).applied_to(state)  # type: ignore[list-item]
    plan = build_plan([fraud, enroll], state)  # type: ignore[list-item]
    assert _action(plan, "emea-callers").kind is ActionKind.START


@pytest.mark.parametrize("ended", ["FAILED", "COMPLETED_WITH_ERRORS"])
def test_a_dependency_that_ended_badly_blocks_its_dependent_with_the_reason(ended: str) -> None:
    fraud, enroll = _pair()
    state = State()
    state = absorb(state, [fraud, enroll], [_observed(fraud, ended)]).applied_to(state)  # type: ignore[list-item]
    blocked = _action(build_plan([fraud, enroll], state), "emea-callers")  # type: ignore[list-item]
    assert (blocked.kind, blocked.code) == (ActionKind.BLOCKED, "dependency-failed")
    assert f"dependency {FRAUD}/known-fraudsters ended {ended}" in blocked.reason


def test_a_waiting_spec_is_reviewed_like_a_queued_one_and_order_is_not_identity() -> None:
    """The review set holds the waiting start (approving it approves the start once its
    dependencies completed); adding the dependency changes neither its hash nor the
    checksum."""
    fraud, enroll = _pair()
    alone = _desired(_spec("emea-callers", domain="other"), D2)
    assert alone.hash == enroll.hash  # type: ignore[attr-defined]
    ordered = build_plan([fraud, enroll], State())  # type: ignore[list-item]
    unordered = build_plan([fraud, alone], State())  # type: ignore[list-item]
    assert {i.key for i in ordered.intent()} == {
        f"{FRAUD}/known-fraudsters",
        f"{ENROLL}/emea-callers",
    }
    assert ordered.checksum() == unordered.checksum()


def test_a_dependency_outside_the_run_is_read_from_the_state() -> None:
    """A selector left the dependency out: its job, as the state records it, decides."""
    fraud, enroll = _pair()
    state = State()
    state = absorb(state, [fraud], [_observed(fraud, "COMPLETED")]).applied_to(state)  # type: ignore[list-item]
    assert _action(build_plan([enroll], state), "emea-callers").kind is ActionKind.START  # type: ignore[list-item]
    fresh = State()
    assert "no job of it yet" in _action(build_plan([enroll], fresh), "emea-callers").reason  # type: ignore[list-item]


def _write(directory: Path, name: str, kind: str, depends: str = "") -> None:
    directory.mkdir(parents=True, exist_ok=True)
    section = "enrollment: {}" if kind == ENROLL else "registration: {}"
    (directory / f"{name}.yaml").write_text(
        f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
        "spec:\n  domain: d\n  dataAccessRoleArn: arn:aws:iam::123456789012:role/R\n"
        f"  input: {{manifest: 's3://bucket/{name}.json'}}\n"
        "  output: {s3Uri: 's3://bucket/o/', kmsKeyId: alias/k}\n"
        f"  {section}\n" + (f"  dependsOn: {depends}\n" if depends else "")
    )


def test_unknown_names_self_and_cycles_are_one_line_each(tmp_path: Path) -> None:
    _write(tmp_path, "a", ENROLL, f"[{ENROLL}/b]")
    _write(tmp_path, "b", ENROLL, f"[{{kind: {ENROLL}, name: c}}]")
    _write(tmp_path, "c", ENROLL, f"[{ENROLL}/a]")
    _write(tmp_path, "d", ENROLL, f"[{FRAUD}/knwon-fraudsters, {ENROLL}/d]")
    _write(tmp_path, "known-fraudsters", FRAUD)
    with pytest.raises(SpecErrors) as info:
        load([tmp_path])
    messages = [str(e) for e in info.value.errors]
    assert any(
        m.endswith(
            f"a cycle of dependencies: {ENROLL}/a -> {ENROLL}/b ({tmp_path}/a.yaml:1:1), "
            f"{ENROLL}/b -> {ENROLL}/c ({tmp_path}/b.yaml:1:1), "
            f"{ENROLL}/c -> {ENROLL}/a ({tmp_path}/c.yaml:1:1)"
        )
        for m in messages
    ), messages
    assert any(
        f"depends on {FRAUD}/knwon-fraudsters: no such spec; did you mean "
        f"'{FRAUD}/known-fraudsters'?" in m
        for m in messages
    ), messages
    assert any(f"{ENROLL}/d depends on itself" in m for m in messages), messages
    assert len(messages) == 3


def test_the_schema_has_depends_on(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == EXIT_OK
    assert "dependsOn" in capsys.readouterr().out


def test_fraudsters_then_enrollment_across_two_domains_with_wait(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The enrollment in a second domain waits for the fraudster registration of the first;
    the PR's plan shows it waiting and its checksum approves it; the merge's apply --wait
    starts it as the registration ends; a failed dependency blocks with the reason."""
    world = build_world(voiceid_env, domains=2)
    voiceid_env.configure(job_duration=0.3, max_active_jobs=10)
    first, second = sorted(world.domains)
    s3 = voiceid_env.client("s3")
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    specs.mkdir()
    for name, kind, domain, depends in (
        ("known-fraudsters", FRAUD, first, ""),
        ("emea-callers", ENROLL, second, f"  dependsOn: [{FRAUD}/known-fraudsters]\n"),
    ):
        s3.put_object(
            Bucket=world.bucket,
            Key=f"manifests/{name}.json",
            Body=manifest(kind, world.audio[0 if kind == FRAUD else 1], speaker="caller-1"),
        )
        section = "enrollment: {}" if kind == ENROLL else "registration: {}"
        (specs / f"{name}.yaml").write_text(
            f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
            f"spec:\n  domain: {domain}\n  dataAccessRoleArn: {world.role_arn}\n"
            f"  input: {{manifest: 's3://{world.bucket}/manifests/{name}.json'}}\n"
            f"  output: {{s3Uri: 's3://{world.bucket}/output/', kmsKeyId: {world.kms_alias}}}\n"
            f"  {section}\n{depends}"
        )
    s3.close()
    capsys.readouterr()
    argv = ["--state", str(state), "--tps", "0"]
    assert main(["plan", str(specs), *argv, "--format", "json"]) == EXIT_OK
    plan = json.loads(capsys.readouterr().out)
    rows = {a["name"]: a for a in plan["actions"]}
    assert rows["emea-callers"]["action"] == "queued"
    assert rows["emea-callers"]["reason"].startswith(f"waiting for {FRAUD}/known-fraudsters")
    assert len(plan["intent"]) == 2  # both reviewed: the waiting start too
    wait = ["--wait", "--poll-interval", "0.05", "--timeout", "60"]
    assert main(["apply", str(specs), *argv, *wait, "--plan-checksum", plan["checksum"]]) == 0
    calls = voiceid_env.calls()
    assert calls.get("StartFraudsterRegistrationJob") == 1
    assert calls.get("StartSpeakerEnrollmentJob") == 1
    client = voiceid_env.client("voice-id")
    try:
        fraud_job = client.list_fraudster_registration_jobs(DomainId=world.domains[first])
        enroll_job = client.list_speaker_enrollment_jobs(DomainId=world.domains[second])
    finally:
        client.close()
    (f,) = fraud_job["JobSummaries"]
    (e,) = enroll_job["JobSummaries"]
    assert e["CreatedAt"] >= f["EndedAt"]  # started only once the registration had ended
    assert main(["validate", str(specs)]) == EXIT_OK
    (specs / "known-fraudsters.yaml").unlink()
    assert main(["validate", str(specs)]) == EXIT_ERROR
    assert "no such spec" in capsys.readouterr().err
