"""Renderings of plans: text, JSON and the Markdown pull-request comment (snapshots)."""

from __future__ import annotations

import contextlib
import io
import itertools
import json
import os
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import cmarkgfm
import pytest
from cmarkgfm.cmark import Options

from reconciler.cli.app import main
from reconciler.cli.plancomment import GITHUB_COMMENT_LIMIT, plan_markdown
from reconciler.cli.render import plan_json, plan_text
from reconciler.cli.render import quiet as is_quiet
from reconciler.core.absorb import absorb
from reconciler.core.desired import DesiredJob, did_you_mean
from reconciler.core.errors import Location
from reconciler.core.identity import Resolution, client_token, job_name, start_request
from reconciler.core.jobs import Failure, ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.plan import Action, ActionKind, Plan, risks
from reconciler.core.planner import build_plan
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
    COMPLETED_WITH_ERRORS, a blocked spec with a suggestion; the domain's name is known. The
    jobs of removed specs (one still running: orphaned; one ended: retired) and a start no
    review approved are made as the plan makes them (:func:`_removed_and_unreviewed`)."""
    start = _desired(_spec("new-batch", priority=5))
    queued = _desired(_spec("later-batch"))
    retry = _desired(_spec("flaky-batch", maxAttempts=2, priority=3))
    done = _desired(_spec("done-batch"))
    old = _desired(_spec("changed-batch", revision=0))
    new = _desired(_spec("changed-batch", revision=1))
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
    state = absorb(
        state,
        [done, old, retry, failed, partial, renamed_before, replaced_before],
        [
            _seen(done, "COMPLETED", "JobDone00000000000001", created_at="2026-11-01T10:00:00Z"),
            _seen(old, "COMPLETED", "JobOld000000000000001"),
            _seen(
                retry,
                "FAILED",
                "JobFlaky0000000000001",
                failure=Failure(status_code=500, message="internal"),
            ),
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
    ).applied_to(state)
    desired = [start, queued, retry, done, new, blocked, failed, partial, renamed, risky, replaced]
    state = absorb(state, desired, []).applied_to(state)
    plan = build_plan(desired, state, max_active=2)
    actions = (*plan.actions, *_removed_and_unreviewed())
    return Plan(tuple(sorted(actions, key=Action.sort_key)), max_active=plan.max_active)


def _removed_and_unreviewed() -> list[Action]:
    """The actions of the plan's newest kinds, as :mod:`reconciler.core.plan` makes them: the
    ended job of a removed spec (retired), the running job of another (orphaned), and a
    start whose changed spec no review approved (awaiting review, with a risky setting)."""
    gone = _desired(_spec("removed-batch"))
    running = _desired(_spec("still-running-batch"))
    unreviewed = _desired(
        _spec(
            "unreviewed-batch",
            maxAttempts=2,
            enrollment={"fraudDetection": {"action": "IGNORE", "riskThreshold": 40}},
        )
    )
    assert gone.request
    assert running.request
    assert unreviewed.request
    retired = Action(
        ActionKind.RETIRED,
        spec_kind=gone.kind,
        name=gone.name,
        domain_id=D1,
        hash=gone.request.hash,
        attempt=1,
        job_name=job_name(gone.name, gone.request.hash),
        job_id="JobGone0000000000001A",
        status=JobStatus.COMPLETED,
        reason="its spec was removed; its job ended COMPLETED: apply forgets it",
        code="spec-retired",
        domain_name="contact-center-prod",
    )
    orphaned = replace(
        retired,
        kind=ActionKind.ORPHANED,
        name=running.name,
        hash=running.request.hash,
        job_name=job_name(running.name, running.request.hash),
        job_id="JobRunning00000000001",
        status=JobStatus.IN_PROGRESS,
        percent_complete=40,
        reason="its spec was removed; its job is still running",
        code="spec-removed",
    )
    request = unreviewed.request
    awaiting = Action(
        ActionKind.AWAITING_REVIEW,
        spec_kind=unreviewed.kind,
        name=unreviewed.name,
        domain_id=D1,
        hash=request.hash,
        attempt=1,
        client_token=client_token(request.hash),
        job_name=job_name(unreviewed.name, request.hash),
        reason="awaiting review: no reviewed plan approved this spec (changed on main "
        "without review?)",
        code="not-reviewed",
        risks=risks(request),
        domain_name="contact-center-prod",
        max_attempts=2,
        request=request,
    )
    return [retired, orphaned, awaiting]


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


def _html(text: str) -> str:
    return cmarkgfm.github_flavored_markdown_to_html(text, options=Options.CMARK_OPT_UNSAFE)


def _section(html: str, title: str) -> str:
    """The HTML of one section of the comment: from its heading to the next one."""
    return html.split(f"{title} (")[1].split("<h4>", maxsplit=1)[0]


def test_markdown_renders_every_section_with_cmark_gfm() -> None:
    """GitHub's renderer shows the verdict, the risky settings explained, then in the open
    what needs attention (failed, with errors, blocked, orphaned) and what will start — each
    start's request folded beneath — what awaits a review, the retired and superseded jobs;
    the in-sync jobs folded."""
    text = plan_markdown(every_kind_plan(), offline=True, observed_at=OBSERVED_AT)
    assert text.startswith("<!-- voiceid-reconciler plan -->\n")
    html = _html(text)
    assert html.count("<table>") == 6
    assert (
        "<strong>❌ Needs attention: 1 failed, 1 with errors, 1 blocked, 1 orphaned · "
        "2 to start, 4 queued, 1 awaiting review, 1 retired · 2 with settings to check" in html
    )
    attention = _section(html, "❌ Needs attention")
    for shown in ("broken-batch", "partial-batch", "vip-batch", "still-running-batch"):
        assert shown in attention
    for not_shown in ("removed-batch", "changed-batch", "unreviewed-batch"):
        assert not_shown not in attention
    assert "did you mean 'vip-fraudsters'?" in attention
    assert "failure 400: The output S3 location is not valid; no attempts left" in attention
    starts = _section(html, "To start")
    assert "changed: revision 0 -&gt; 1" in starts
    assert "manifest object replaced (ETag 9b2c0d4e5f60 -&gt; 41fe0a1b2c3d)" in starts
    assert "⏳ queued ⚠️</td>" in starts
    assert "<td>⚠️ <strong>existingEnrollmentAction OVERWRITE</strong>; ⚠️ <strong>" in starts
    assert "Domain: <code>contact-center-prod</code> (<code>Dom1Dom1Dom1Dom1Dom1Do</code>)" in html
    awaiting = _section(html, "⏸️ Awaiting review")
    assert "unreviewed-batch" in awaiting
    assert "no reviewed plan approved this spec" in awaiting
    assert "removed-batch" in _section(html, "Retired")
    assert "apply forgets it" in _section(html, "Retired")
    folded = html.split("<details><summary>In sync (")[1].split("</details>")[0]
    assert "done-batch" in folded
    assert "new-name" in folded  # the rename followed: its job is in sync, nothing starts
    assert "renamed from old-name (its job follows the new name)" in folded
    assert "old-name" not in html.split("In sync (")[0]  # not orphaned
    assert "Offline plan" in html


def _sections(text: str) -> dict[str, int]:
    """``{title: count}`` of the comment's sections (their headings and folds)."""
    found = re.findall(r"^(?:#### |<details><summary>)([^<(\n]+?) \((\d+)", text, re.M)
    return {title: int(n) for title, n in found}


def _sub_plans() -> list[Plan]:
    """Plans of every action of the snapshot plan alone, and of every two of them."""
    actions = every_kind_plan().actions
    subsets = [(a,) for a in actions] + list(itertools.combinations(actions, 2))
    return [Plan(()), every_kind_plan()] + [Plan(s) for s in subsets]


def test_markdown_verdict_agrees_with_the_summary_line_and_every_section() -> None:
    """For a plan of every action alone, of every two and of all: the verdict's counts are
    the summary line's (one tally), ❌ exactly when a "Needs attention" section follows and
    it counts what that section lists, never 🟢 or ✅ above it; "with settings to check"
    exactly when the risk section is there; every action in exactly one section."""
    for plan in _sub_plans():
        text = plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)
        verdict = text.split("\n")[3].strip("*")
        summary = text.split("\n")[5].removeprefix("Plan: ").split(" · checksum")[0]
        counts = {word: int(n) for n, word in re.findall(r"(\d+) ([a-z ]+?)(?=,|$)", summary)}
        assert sum(counts.values()) == len(plan.actions), summary
        for n, word in re.findall(r"(\d+) ([a-z ]+?)(?=,| ·|$)", verdict):
            if word != "with settings to check":
                assert counts[word] == int(n), (verdict, summary)
        sections = _sections(text)
        attention = sum(counts.get(c, 0) for c in ("failed", "with errors", "blocked", "orphaned"))
        assert verdict.startswith("❌") == ("❌ Needs attention" in sections), verdict
        assert sections.get("❌ Needs attention", 0) == attention
        if attention:  # never a green (or a warning) verdict above it
            assert verdict.startswith("❌ Needs attention: ")
        risky = sum(1 for a in plan.actions if a.risks)
        assert ("with settings to check" in verdict) == bool(risky)
        assert ("#### ⚠️ Settings to check" in text) == bool(risky)
        rows = {title: n for title, n in sections.items() if "Settings to check" not in title}
        assert sum(rows.values()) == len(plan.actions)
        if not plan.actions:
            assert verdict == "✅ No changes: no specs"


def test_markdown_has_no_empty_column() -> None:
    """No column is empty in every row (the attempt column was): a start's attempt is in its
    request, a later attempt's in its note; the kind and domain columns only when the plan
    holds two kinds or two domains (one domain is named above the tables)."""
    html = _html(plan_markdown(every_kind_plan(), offline=False, observed_at=OBSERVED_AT))
    for table in html.split("<table>")[1:]:
        rows = re.findall(r"<tr>(.*?)</tr>", table.split("</table>")[0], re.S)
        cells = [re.findall(r"<t[dh][^>]*>(.*?)</t[dh]>", row, re.S) for row in rows]
        for column in range(1, len(cells[0])):
            assert any(row[column].strip() for row in cells[1:]), (cells[0], column)
        assert "attempt" not in cells[0]
    assert "attempt 2" in _section(html, "To start")
    two_kinds = replace(every_kind_plan().actions[0], spec_kind=JobKind.REGISTRATION, name="x")
    mixed = Plan((*every_kind_plan().actions, two_kinds))
    head = plan_markdown(mixed, offline=False, observed_at=None).split("| spec |")[1].split("\n")[0]
    assert head == " kind | note |"
    other_domain = replace(every_kind_plan().actions[0], domain_id="E" * 22, name="y")
    spread = plan_markdown(Plan((*mixed.actions, other_domain)), offline=False, observed_at=None)
    assert "| | spec | kind | domain | note |" in spread
    assert "Domain:" not in spread


def test_markdown_puts_risks_first() -> None:
    """A risky setting is on its row (⚠️ by the label, named first in the note), explained in a
    section right after the summary — above what needs attention — and marked on the setting
    in the start's request."""
    text = plan_markdown(every_kind_plan(), offline=False, observed_at=OBSERVED_AT)
    risk = text.index("#### ⚠️ Settings to check (2 starts)")
    assert risk < text.index("#### ❌ Needs attention") < text.index("#### To start")
    assert (
        "- **fraud detection IGNORE**: enrolls callers even when they match a fraudster — "
        "`overwrite-batch`, `unreviewed-batch`" in text
    )
    (row,) = [line for line in text.splitlines() if line.startswith("| ⏳ queued ⚠️ |")]
    assert row.split(" | ")[2].startswith("⚠️ **existingEnrollmentAction OVERWRITE**")
    request = text.split("<code>overwrite-batch</code>")[1].split("</details>")[0]
    assert '"OVERWRITE"  # ⚠ re-enrolls speakers already enrolled' in request
    assert '"IGNORE"  # ⚠ enrolls callers even when they match a fraudster' in request


def test_markdown_shows_what_each_start_will_send() -> None:
    """Each start, queued start and start awaiting review shows its Start request as
    ``terraform plan`` shows a create's attributes: domain, role, manifest URI and ETag,
    output URI and KMS key, the configuration with defaults, the attempt, JobName and the
    ClientToken's prefix; a plan of many starts keeps the comment under the limit."""
    plan = every_kind_plan()
    text = plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)
    html = _html(text)
    sending = [
        a for a in plan.actions if a.kind.value in ("start", "retry", "queued", "awaiting-review")
    ]
    assert len(sending) == 7
    for action in sending:
        assert action.request is not None
        assert action.client_token
        assert action.job_name
        block = html.split(f"<code>{action.name}</code> · enrollment · contact-center-prod")[1]
        block = block.split("</details>")[0]
        assert f"attempt {action.attempt}</summary>" in block
        assert '<pre lang="diff"><code>' in block
        for shown in (
            "+     domain            = &quot;Dom1Dom1Dom1Dom1Dom1Do&quot;  # contact-center-prod",
            "+     dataAccessRoleArn = &quot;arn:aws:iam::123456789012:role/R&quot;",
            f"+         manifest = &quot;{action.request.input_s3_uri}&quot;",
            "+         s3Uri    = &quot;s3://bucket/out/&quot;",
            "+         kmsKeyId = &quot;alias/k&quot;",
            "existingEnrollmentAction = &quot;",
            "riskThreshold = ",
            "watchlist     = (not set: the domain's default watchlist)",
            f"+     attempt     = {action.attempt}",
            f"+     JobName     = &quot;{action.job_name}&quot;",
            f"+     ClientToken = &quot;{action.client_token[:16]}…-{action.attempt}&quot;",
        ):
            assert shown in block, (action.name, shown)
    assert "# ETag 41fe0a1b2c3d" in text.split("<code>replaced-batch</code>")[1]
    unreviewed = text.split("<code>unreviewed-batch</code>")[1].split("</details>")[0]
    assert "riskThreshold = 40" in unreviewed


def test_markdown_start_request_of_a_roster_shows_counts_never_speakers(tmp_path: Path) -> None:
    """A roster's start shows how many speakers and where apply stages the manifest, never a
    speaker id or an audio URI."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "roster.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        f"metadata: {{name: roster}}\nspec:\n  domain: {D1}\n"
        "  dataAccessRoleArn: arn:aws:iam::123456789012:role/R\n  input:\n    speakers:\n"
        "      - {speakerId: alice-smith-7731, audio: ['s3://audio-bucket/calls/alice.wav']}\n"
        "      - {speakerId: bob-jones-0042, audio: ['s3://audio-bucket/calls/bob.wav']}\n"
        "    stagingUri: s3://bucket/staging/\n"
        "  output: {s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}\n"
    )
    state = tmp_path / "state.json"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            ["plan", "--offline", str(specs), "--state", str(state), "--format", "markdown"]
        )
    assert code == 0
    text = out.getvalue()
    assert '+         roster = (2 speakers, staged under "s3://bucket/staging/")' in text
    for secret in ("alice", "bob", "audio-bucket", ".wav"):
        assert secret not in text


def test_new_action_kinds_in_text_json_and_markdown() -> None:
    """awaiting-review (``*``, its reason, not a problem needing attention), retired (``-``, a
    quiet row) and orphaned (a job still running: needs attention) in every rendering, with
    their codes in the JSON plan."""
    plan = every_kind_plan()
    text = plan_text(plan, offline=False, observed_at=None)
    assert "  * awaiting-review SpeakerEnrollmentJob/unreviewed-batch " in text
    assert "  - retired         SpeakerEnrollmentJob/removed-batch " in text
    assert "  ? orphaned        SpeakerEnrollmentJob/still-running-batch " in text
    assert "IN_PROGRESS 40%; its spec was removed; its job is still running" in text
    document = json.loads(plan_json(plan, offline=False, observed_at=None))
    codes = {a["name"]: (a["action"], a["code"]) for a in document["actions"]}
    assert codes["unreviewed-batch"] == ("awaiting-review", "not-reviewed")
    assert codes["removed-batch"] == ("retired", "spec-retired")
    assert codes["still-running-batch"] == ("orphaned", "spec-removed")
    assert document["summary"]["awaiting-review"] == document["summary"]["retired"] == 1
    markdown = plan_markdown(plan, offline=False, observed_at=None)
    attention = markdown.split("#### ❌ Needs attention")[1].split("####")[0]
    assert "still-running-batch" in attention
    assert "unreviewed-batch" not in attention
    assert "removed-batch" not in attention
    assert "| ⏸️ awaiting review ⚠️ | `unreviewed-batch` |" in markdown
    assert "| 🗄️ retired | `removed-batch` |" in markdown
    alone = Plan(tuple(a for a in plan.actions if a.kind.value == "retired" or is_quiet(a)))
    assert plan_markdown(alone, offline=False, observed_at=None).split("\n")[3] == (
        "**🟢 1 retired**"
    )
    waiting = Plan(tuple(a for a in plan.actions if a.name == "unreviewed-batch"))
    assert plan_markdown(waiting, offline=False, observed_at=None).split("\n")[3] == (
        "**⚠️ 1 awaiting review · 1 with settings to check**"
    )
    calm = Plan(tuple(replace(a, risks=()) for a in waiting.actions))
    assert plan_markdown(calm, offline=False, observed_at=None).split("\n")[3] == (
        "**⏸️ 1 awaiting review**"
    )


def test_markdown_stays_under_the_comment_limit_and_says_what_it_left_out() -> None:
    """A 5,000-spec plan gives a comment under 65,536 characters that counts what it omitted:
    the start requests first, then rows; over several domains, the counts per domain come
    first (over one, the summary line is those counts)."""
    desired = [_desired(_spec(f"batch-{i:05d}", manifest=f"m{i}")) for i in range(5000)]
    plan = build_plan(desired, State(), max_active=1)
    text = plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert re.search(r"^\| … \| \d+ more not shown \| \|$", text, re.M)
    assert "#### By domain" not in text
    assert "To start (5000)" in text
    assert "> ⚠️ 5000 starts pending: over apply's --start-limit of 100" in text
    assert "… 5000 start requests not shown" in text
    assert _html(text).count("<table>") == 1
    assert text == plan_markdown(plan, offline=False, observed_at=OBSERVED_AT)
    two = Plan(
        tuple(replace(a, domain_id="E" * 22) if i % 2 else a for i, a in enumerate(plan.actions))
    )
    text = plan_markdown(two, offline=False, observed_at=OBSERVED_AT)
    assert len(text) <= GITHUB_COMMENT_LIMIT
    assert "#### By domain" in text  # a grouped summary, never an empty block
    assert "| `Dom1Dom1Dom1Dom1Dom1Do` | 1 | 2499 |" in text
    assert "| `EEEEEEEEEEEEEEEEEEEEEE` | 0 | 2500 |" in text
    assert _html(text).count("<table>") == 2  # the counts by domain, and the starts that fit


def test_markdown_keeps_start_requests_when_they_fit() -> None:
    """A plan of a few dozen starts shows every start's request; a longer one cuts the
    requests before any row, saying how many it left out."""
    desired = [_desired(_spec(f"batch-{i:03d}", manifest=f"m{i}")) for i in range(40)]
    text = plan_markdown(build_plan(desired, State()), offline=False, observed_at=None)
    assert text.count("<details><summary>") == 40
    short = plan_markdown(
        build_plan(desired, State()), offline=False, observed_at=None, limit=20_000
    )
    assert short.count("| ⏳ queued |") == 39  # every row kept
    assert re.search(r"… \d+ more start requests not shown", short)


@pytest.mark.parametrize("limit", [2_000, 5_000, 20_000])
def test_markdown_truncation_respects_any_limit(limit: int) -> None:
    """Truncation fits whatever limit it is given."""
    desired = [_desired(_spec(f"batch-{i:04d}", manifest=f"m{i}")) for i in range(300)]
    text = plan_markdown(build_plan(desired, State()), offline=False, observed_at=None, limit=limit)
    assert len(text) <= limit


def test_failed_plan_comment_names_the_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``plan --format markdown`` that fails (a bad spec, an unreadable state) still writes a
    comment — the marker, ❌ Plan failed, the CLI's one-line errors — and exits 1 as before,
    with the errors on stderr too."""
    specs = tmp_path / "specs"
    specs.mkdir()
    (specs / "a.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\nmetadata: {name: a}\n"
        "spec:\n  domain: prod\n  bogus: 1\n"
    )
    state = tmp_path / "state.json"
    assert (
        main(["plan", "--offline", str(specs), "--state", str(state), "--format", "markdown"]) == 1
    )
    out, err = capsys.readouterr()
    assert out.startswith("<!-- voiceid-reconciler plan -->\n### voiceid-reconciler plan\n")
    assert "**❌ Plan failed: nothing was planned**" in out
    assert f"{specs / 'a.yaml'}:6:3: unknown field 'spec.bogus'\n" in out
    assert "4 errors in the specs\n" in out
    assert f"{specs / 'a.yaml'}:6:3: unknown field 'spec.bogus'" in err
    assert "<!-- voiceid-reconciler checksum=" not in out  # no plan, nothing to apply
    (specs / "a.yaml").write_text(
        (specs / "a.yaml")
        .read_text()
        .replace(
            "  bogus: 1\n",
            (
                "  dataAccessRoleArn: arn:aws:iam::123456789012:role/R\n"
                "  input: {manifest: 's3://bucket/m.json'}\n"
                "  output: {s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}\n"
            ),
        )
    )
    state.write_text("not json")
    assert (
        main(["plan", "--offline", str(specs), "--state", str(state), "--format", "markdown"]) == 1
    )
    out, err = capsys.readouterr()
    assert "**❌ Plan failed: nothing was planned**" in out
    assert f"{state}:1:1: state is not valid JSON" in out
    assert f"voiceid-reconciler: {state}:1:1: state is not valid JSON" in err
    assert main(["plan", "--offline", str(specs), "--state", str(state)]) == 1
    assert capsys.readouterr().out == ""  # text and JSON plans print nothing on failure
