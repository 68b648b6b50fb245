"""Offline plans (``plan --offline``, every fork's pull request): a mistyped domain is blocked,
not a start, and the risky settings of a start show though its hash is known online only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from reconciler.cli.app import main
from reconciler.cli.exits import EXIT_FAIL_ON, EXIT_OK
from reconciler.cli.plancomment import plan_markdown
from reconciler.cli.render import plan_json, plan_text
from reconciler.core.desired import OfflineResolver, Unresolved
from reconciler.core.kinds import JobKind
from reconciler.core.plan import Action, ActionKind, Plan
from reconciler.core.state import State

D1 = "Dom1Dom1Dom1Dom1Dom1Do"
OBSERVED_AT = "2026-11-24T12:00:00Z"
ROLE = "arn:aws:iam::123456789012:role/R"


def _write_spec(directory: Path, name: str, domain: str, manifest: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{name}.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        f"metadata: {{name: {name}}}\nspec:\n  domain: {domain}\n  dataAccessRoleArn: {ROLE}\n"
        f"  input: {{manifest: 's3://bucket/{manifest}.json'}}\n"
        "  output: {s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}\n"
    )


def _state(path: Path) -> Path:
    path.write_text(State(domains={"contact-center-prod": D1}, observed_at=OBSERVED_AT).to_json())
    return path


def test_a_domain_the_state_does_not_know_is_blocked_offline() -> None:
    """Offline, a domain name not among the state's known domains is blocked
    (domain-not-found), saying it is the state's knowledge and as of when, with the closest
    known name; a known name and a DomainId resolve."""
    resolver = OfflineResolver(State(domains={"contact-center-prod": D1}, observed_at=OBSERVED_AT))
    with pytest.raises(Unresolved) as info:
        resolver.domain_id("contact-centre-prod")
    assert info.value.code == "domain-not-found"
    assert info.value.reason == (
        "domain 'contact-centre-prod' is not among the domains the state knows (as of "
        f"{OBSERVED_AT}; an offline plan knows only the domains earlier online runs resolved)"
        "; did you mean 'contact-center-prod'?"
    )
    assert resolver.domain_id("contact-center-prod") == D1
    assert resolver.domain_id("Other1Other1Other1Othe") == "Other1Other1Other1Othe"


def test_a_state_that_knows_no_domain_cannot_judge_a_name() -> None:
    """A state no online run resolved a domain into says nothing about a name: the spec is a
    new start whose hash is known online only, as before."""
    with pytest.raises(Unresolved) as info:
        OfflineResolver(State()).domain_id("contact-center-prod")
    assert info.value.code == "offline"


def test_offline_plan_blocks_a_mistyped_domain_and_fails_on_blocked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan --offline``: a new spec with a mistyped domain is blocked (not ``+ start``) in
    text, JSON and Markdown, so ``--fail-on blocked`` fails the pull request (exit 9); a new
    spec in a known domain whose manifest the state has not seen is still a start."""
    specs = tmp_path / "specs"
    _write_spec(specs, "typo", "contact-centre-prod", "typo")
    _write_spec(specs, "fine", "contact-center-prod", "fine")
    state = _state(tmp_path / "state.json")
    args = ["plan", "--offline", str(specs), "--state", str(state)]
    assert main([*args, "--format", "json"]) == EXIT_OK
    document = json.loads(capsys.readouterr().out)
    actions = {a["name"]: a for a in document["actions"]}
    assert (actions["typo"]["action"], actions["typo"]["code"]) == ("blocked", "domain-not-found")
    assert "did you mean 'contact-center-prod'?" in actions["typo"]["reason"]
    assert (actions["fine"]["action"], actions["fine"]["code"]) == ("start", "new-offline")
    assert main(args) == EXIT_OK
    text = capsys.readouterr().out
    assert (
        "  ! blocked    SpeakerEnrollmentJob/typo  domain 'contact-centre-prod' is not among"
        in (text)
    )
    assert main([*args, "--format", "markdown"]) == EXIT_OK
    markdown = capsys.readouterr().out
    assert markdown.split("\n")[3] == "**❌ Needs attention: 1 blocked · 1 to start**"
    attention = markdown.split("#### ❌ Needs attention (1)")[1].split("####")[0]
    assert "| ⛔ blocked | `typo` |" in attention
    assert main([*args, "--fail-on", "blocked"]) == EXIT_FAIL_ON


def _risky_offline_start() -> Action:
    """A new spec offline: its hash is known online only, its risky settings from the spec."""
    return Action(
        ActionKind.START,
        spec_kind=JobKind.ENROLLMENT,
        name="brand-new",
        domain_id=D1,
        reason="new spec; its hash is known online only (the manifest's ETag is not in the "
        "state yet)",
        code="new-offline",
        risks=(
            "existingEnrollmentAction OVERWRITE: re-enrolls speakers already enrolled",
            "fraud detection IGNORE: enrolls callers even when they match a fraudster",
        ),
        domain_name="contact-center-prod",
    )


def test_renderings_show_the_risks_of_a_start_with_no_hash() -> None:
    """A start with no hash (an offline plan's new spec) shows its risky settings in every
    rendering: text ⚠ lines, the JSON ``risks``, and in Markdown the verdict, the risk section,
    the ⚠️ on its row and the ⚠ lines of its (unknown) request."""
    plan = Plan((_risky_offline_start(),))
    text = plan_text(plan, offline=True, observed_at=OBSERVED_AT)
    assert (
        "      ⚠ existingEnrollmentAction OVERWRITE: re-enrolls speakers already enrolled\n" in text
    )
    assert (
        "      ⚠ fraud detection IGNORE: enrolls callers even when they match a fraudster\n" in text
    )
    (action,) = json.loads(plan_json(plan, offline=True, observed_at=OBSERVED_AT))["actions"]
    assert action["hash"] is None
    assert len(action["risks"]) == 2
    markdown = plan_markdown(plan, offline=True, observed_at=OBSERVED_AT)
    assert markdown.split("\n")[3] == "**⚠️ 1 to start · 1 with settings to check**"
    assert "- **existingEnrollmentAction OVERWRITE**: re-enrolls speakers already enrolled" in (
        markdown
    )
    (row,) = [line for line in markdown.splitlines() if line.startswith("| 🟢 start ⚠️ |")]
    assert "⚠️ **existingEnrollmentAction OVERWRITE**; ⚠️ **fraud detection IGNORE**" in row
    request = markdown.split("<code>brand-new</code>")[1].split("</details>")[0]
    assert "known online only" in request
    assert "# ⚠ existingEnrollmentAction OVERWRITE: re-enrolls speakers already enrolled" in (
        request
    )
