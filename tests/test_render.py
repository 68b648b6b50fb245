"""Renderings of plans: text, JSON and the Markdown pull-request comment (snapshots)."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from reconciler.cli.render import GITHUB_COMMENT_LIMIT, plan_json, plan_markdown, plan_text
from reconciler.cli.render import quiet as is_quiet
from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob, did_you_mean
from reconciler.core.errors import Location
from reconciler.core.identity import Resolution, job_name, start_request
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobStatus
from reconciler.core.plan import ActionKind, Plan, build_plan
from reconciler.core.spec import LoadedSpec, SpeakerEnrollmentJob
from reconciler.core.state import State

SNAPSHOTS = Path(__file__).parent / "snapshots"
D1 = "Dom1Dom1Dom1Dom1Dom1Do"
OBSERVED_AT = "2026-11-24T12:00:00Z"


def _spec(name: str, **spec: Any) -> LoadedSpec:
    body: dict[str, Any] = {
        "domain": D1,
        "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
        "input": {"manifest": f"s3://bucket/{spec.pop('manifest', name)}.json"},
        "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
        **spec,
    }
    document = SpeakerEnrollmentJob.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": "SpeakerEnrollmentJob",
            "metadata": {"name": name},
            "spec": body,
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), 1, 1)
    return LoadedSpec.of(document, where, where)


def _desired(spec: LoadedSpec) -> DesiredJob:
    return DesiredJob(spec, start_request(spec.document, Resolution(D1)), domain_id=D1)


def _seen(job: DesiredJob, status: str, job_id: str, attempt: int = 1, **kw: Any) -> ObservedJob:
    assert job.request is not None
    return ObservedJob(
        kind=job.spec.kind,
        domain_id=D1,
        job_id=job_id,
        job_name=job_name(job.spec.name, job.request.hash, attempt),
        status=status,
        **kw,
    )


def every_kind_plan() -> Plan:
    """A plan with one action of every kind, built from fixed specs (stable hashes), and what
    a reviewer must be told about: a field-level change (revision), a manifest object
    replaced (ETag), a rename, a risky setting, a job FAILED with no attempts left, one
    COMPLETED_WITH_ERRORS, a blocked spec with a suggestion; the domain's name is known."""
    start = _desired(_spec("new-batch", priority=5))
    queued = _desired(_spec("later-batch"))
    retry = _desired(_spec("flaky-batch", maxAttempts=2, priority=3))
    done = _desired(_spec("done-batch"))
    old = _desired(_spec("changed-batch", revision=0))
    new = _desired(_spec("changed-batch", revision=1))
    gone = _desired(_spec("removed-batch"))
    failed = _desired(_spec("broken-batch"))
    partial = _desired(_spec("partial-batch"))
    renamed_before = _desired(_spec("old-name", manifest="renamed"))
    renamed = _desired(_spec("new-name", manifest="renamed"))
    risky = _desired(
        _spec(
            "overwrite-batch",
            enrollment={
                "existingEnrollmentAction": "OVERWRITE",
                "fraudDetection": {"action": "IGNORE"},
            },
        )
    )
    replaced_before = _manifest_job("replaced-batch", '"9b2c0d4e5f60718293a4b5c6d7e8f901"')
    replaced = _manifest_job("replaced-batch", '"41fe0a1b2c3d4e5f60718293a4b5c6d7"')
    blocked = DesiredJob(
        _spec("vip-batch"),
        None,
        blocked="watchlist 'vip-fraudster' not found in domain "
        + D1
        + did_you_mean("vip-fraudster", ["vip-fraudsters", "default"]),
        blocked_code="watchlist-not-found",
        domain_id=D1,
    )
    state = State(domains={"contact-center-prod": D1})
    absorb(
        state,
        [done, old, retry, gone, failed, partial, renamed_before, replaced_before],
        [
            _seen(done, "COMPLETED", "JobDone00000000000001", created_at="2026-11-01T10:00:00Z"),
            _seen(old, "COMPLETED", "JobOld000000000000001"),
            _seen(
                retry,
                "FAILED",
                "JobFlaky0000000000001",
                failure=Failure(status_code=500, message="internal"),
            ),
            _seen(gone, "COMPLETED", "JobGone0000000000001A"),
            _seen(
                failed,
                "FAILED",
                "JobBroken000000000001",
                failure=Failure(status_code=400, message="The output S3 location is not valid"),
            ),
            _seen(partial, "COMPLETED_WITH_ERRORS", "JobPartial00000000001"),
            _seen(renamed_before, "COMPLETED", "JobRenamed00000000001"),
            _seen(replaced_before, "COMPLETED", "JobReplaced0000000001"),
        ],
    )
    desired = [start, queued, retry, done, new, blocked, failed, partial, renamed, risky, replaced]
    absorb(state, desired, [])
    return build_plan(desired, state, max_active=2)


def _manifest_job(name: str, etag: str) -> DesiredJob:
    spec = _spec(name)
    request = start_request(spec.document, Resolution(D1), manifest_digest=f"etag:{etag}")
    return DesiredJob(spec, request, domain_id=D1)


def _check(name: str, text: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(text, encoding="utf-8")
    assert text == path.read_text(encoding="utf-8"), f"{name} changed; UPDATE_SNAPSHOTS=1 to accept"


def test_every_action_kind_is_present() -> None:
    """The snapshot plan really holds every action kind."""
    assert {a.kind for a in every_kind_plan().actions} == set(ActionKind)


def test_text_snapshot() -> None:
    """The plain-text rendering is pinned."""
    _check("plan.txt", plan_text(every_kind_plan(), offline=True, observed_at=OBSERVED_AT))


def test_text_lists_what_changed_and_counts_the_quiet_in_sync_specs() -> None:
    """By default (``plan`` and ``apply`` without --show-unchanged) an in-sync spec whose
    job ended well, with nothing else to tell, is counted, not listed; a rename, a failure,
    a job with errors or one still running is listed, as every other action is."""
    plan = every_kind_plan()
    text = plan_text(plan, offline=True, observed_at=OBSERVED_AT, unchanged=False)
    _check("plan-changes.txt", text)
    quiet = [a for a in plan.actions if is_quiet(a)]
    assert [a.name for a in quiet] == ["done-batch"]
    assert "done-batch" not in text
    assert "  = 1 spec in sync, not listed (--show-unchanged lists them)\n" in text
    for action in plan.actions:
        if action not in quiet:
            assert f" {action.key} " in text
    running = replace(quiet[0], status=JobStatus.IN_PROGRESS, percent_complete=40)
    assert not is_quiet(running)
    assert plan_text(Plan(()), offline=False, observed_at=None, unchanged=False).startswith(
        "No specs.\n"
    )


def test_json_snapshot() -> None:
    """The JSON rendering (formatVersion 1) is pinned."""
    text = plan_json(every_kind_plan(), offline=False, observed_at=OBSERVED_AT)
    _check("plan.json", text)
    document = json.loads(text)
    assert document["formatVersion"] == 1
    assert set(document["summary"]) == {k.value for k in ActionKind}


def test_markdown_snapshot() -> None:
    """The Markdown comment is pinned."""
    _check("plan.md", plan_markdown(every_kind_plan(), offline=False, observed_at=OBSERVED_AT))


def test_markdown_renders_table_and_details_with_cmark_gfm() -> None:
    """GitHub's renderer shows the verdict, then in the open what needs attention (the
    failures, the blocked spec, the orphaned and superseded jobs) and the starts, grouped by
    domain; the in-sync jobs folded."""
    text = plan_markdown(every_kind_plan(), offline=True, observed_at=OBSERVED_AT)
    assert text.startswith("<!-- voiceid-reconciler plan -->\n")
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert html.count("<table>") == 3
    assert (
        "<strong>❌ Needs attention: 1 failed, 1 completed with errors, 1 blocked, 1 orphaned"
        in html
    )
    attention = html.split("Needs attention (")[1].split("</table>")[0]
    for shown in ("broken-batch", "partial-batch", "vip-batch", "removed-batch", "changed-batch"):
        assert shown in attention
    assert "did you mean 'vip-fraudsters'?" in attention
    assert "failure 400: The output S3 location is not valid; no attempts left" in attention
    starts = html.split("To start (")[1].split("</table>")[0]
    assert "changed: revision 0 -&gt; 1" in starts
    assert "manifest object replaced (ETag 9b2c0d4e5f60 -&gt; 41fe0a1b2c3d)" in starts
    assert "⚠️ existingEnrollmentAction OVERWRITE" in starts
    assert "<code>contact-center-prod (Dom1Dom1Dom1Dom1Dom1Do)</code>" in starts
    folded = html.split("<details><summary>In sync and unchanged (")[1].split("</details>")[0]
    assert "done-batch" in folded
    assert "new-name" in folded  # the rename followed: its job is in sync, nothing starts
    assert "renamed from old-name (its job follows the new name)" in folded
    assert "old-name" not in html.split("In sync and unchanged")[0]  # not orphaned
    assert "Offline plan" in html


def test_markdown_stays_under_the_comment_limit_and_says_what_it_left_out() -> None:
    """A 5,000-spec plan gives a comment under 65,536 characters that counts what it omitted."""
    desired = [_desired(_spec(f"batch-{i:05d}", manifest=f"m{i}")) for i in range(5000)]
    plan = build_plan(desired, State(), max_active=1)
    text = plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "more not shown" in text
    assert "#### By domain" in text  # a grouped summary, never an empty block
    assert "| `Dom1Dom1Dom1Dom1Dom1Do` | 1 | 4999 | 0 |" in text
    assert "To start (5000)" in text
    assert "> ⚠️ 5000 starts pending: over apply's --start-limit of 100" in text
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert html.count("<table>") == 2  # the counts by domain, and the starts that fit
    assert text == plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)


@pytest.mark.parametrize("limit", [2_000, 5_000, 20_000])
def test_markdown_truncation_respects_any_limit(limit: int) -> None:
    """Truncation fits whatever limit it is given."""
    desired = [_desired(_spec(f"batch-{i:04d}", manifest=f"m{i}")) for i in range(300)]
    text = plan_markdown(build_plan(desired, State()), offline=False, observed_at=None, limit=limit)
    assert len(text) <= limit
