"""Renderings of plans: text, JSON and the Markdown pull-request comment (snapshots)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from reconciler.cli.render import GITHUB_COMMENT_LIMIT, plan_json, plan_markdown, plan_text
from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob
from reconciler.core.errors import Location
from reconciler.core.identity import Resolution, job_name, start_request
from reconciler.core.jobs import Failure, ObservedJob
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
    return LoadedSpec(document, where, where)


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
    """A plan with one action of every kind, built from fixed specs (stable hashes)."""
    start = _desired(_spec("new-batch", priority=5))
    queued = _desired(_spec("later-batch"))
    retry = _desired(_spec("flaky-batch", maxAttempts=2, priority=3))
    done = _desired(_spec("done-batch"))
    old = _desired(_spec("changed-batch", revision=0))
    new = _desired(_spec("changed-batch", revision=1))
    gone = _desired(_spec("removed-batch"))
    blocked = DesiredJob(
        _spec("vip-batch"), None, blocked="watchlist 'vip' not found in domain " + D1
    )
    state = State()
    absorb(
        state,
        [done, old, retry, gone],
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
        ],
    )
    desired = [start, queued, retry, done, new, blocked]
    absorb(state, desired, [])
    return build_plan(desired, state, max_active=2)


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
    """GitHub's renderer turns the comment into a table of starts and a collapsible full plan."""
    html = cmarkgfm.github_flavored_markdown_to_html(
        plan_markdown(every_kind_plan(), offline=True, observed_at=OBSERVED_AT),
        options=Options.CMARK_OPT_UNSAFE,
    )
    assert "<table>" in html
    assert html.count("<tr>") == 1 + 4  # header + start, retry and two queued
    assert "<details><summary>Full plan (8 actions)</summary>" in html
    assert '<pre lang="text"><code>' in html
    assert "Offline plan" in html


def test_markdown_stays_under_the_comment_limit_and_says_what_it_left_out() -> None:
    """A 5,000-spec plan gives a comment under 65,536 characters that counts what it omitted."""
    desired = [_desired(_spec(f"batch-{i:05d}", manifest=f"m{i}")) for i in range(5000)]
    plan = build_plan(desired, State(), max_active=1)
    text = plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "more actions not shown" in text or "more not shown" in text
    assert "5000 actions" in text
    html = cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)
    assert "</details>" in html
    assert text == plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)


@pytest.mark.parametrize("limit", [2_000, 5_000, 20_000])
def test_markdown_truncation_respects_any_limit(limit: int) -> None:
    """Truncation fits whatever limit it is given."""
    desired = [_desired(_spec(f"batch-{i:04d}", manifest=f"m{i}")) for i in range(300)]
    text = plan_markdown(build_plan(desired, State()), offline=False, observed_at=None, limit=limit)
    assert len(text) <= limit
