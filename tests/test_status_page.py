"""status --format html: the status page as a document (self-contained, one section per domain
and kind, one bar per job, what waits and why, failures, results, escaped, redacted), the
command around it (--out), the benchmark script, and the page in a real browser: Debian's
headless Chromium lays it out (its DOM after load, at a desktop's and at a phone's width) and
takes a screenshot that is checked not to be blank. The browser tests skip only where chromium
is not installed (CI installs it: .ci/run). ``VOICEID_SCREENSHOT_DIR=DIR`` keeps the
screenshots and their page (docs/status-page.md: how to look at them)."""

from __future__ import annotations

import html
import json
import os
import re
import shlex
import shutil
import struct
import subprocess
import zlib
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path

import pytest
import yaml

from bench.status_page import (
    OBSERVED_AT,
    REALISTIC_SPECS,
    large_state,
    realistic_state,
    spec_files,
)
from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_ERROR, EXIT_OK, main, statuspage_text
from reconciler.cli.statuspage import status_page
from reconciler.cli.statuspage_model import LOOKS
from reconciler.cli.statuspage_svg import LABELLED
from reconciler.core import jobkinds, jobs
from reconciler.core.jobs import Failure
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.state import Approval, JobRecord, State
from reconciler.sandbox import Sandbox
from tests.support import build_world, write_specs

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed")

BAR_COLOURS = {"completed": "1a7f37", "in progress": "0969da", "with errors": "9a6700"}
"""The solid colour of three bar patterns (statuspage's), as a screenshot holds them."""
PLANTED_SPEAKER = "PLANTED-SPEAKER-4711"
PLANTED_AUDIO = "audio/PLANTED-AUDIO-4711.wav"
ROLE = "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"


# -- the page as a document ---------------------------------------------------------------------


class Page(HTMLParser):
    """What a test reads of a page: its sections with their job groups, the texts, the
    attributes that may point elsewhere, the style and the scripts."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: list[dict[str, str]] = []
        self.jobs: Counter[str] = Counter()
        """Job groups (``<g class="job ...">``) per section id."""
        self.bars: Counter[str] = Counter()
        """Job groups that hold a bar (``<rect class="bar">``), per section id."""
        self.job_titles: list[str] = []
        self.labelled: int = 0
        """Job groups with a text of their own (a labelled row)."""
        self.references: list[str] = []
        self.tags: Counter[str] = Counter()
        self.style = ""
        self.scripts: list[str] = []
        self.lang: str | None = None
        self.title = ""
        self._section = ""
        self._in: list[str] = []
        self._job_depth: int | None = None
        self._job_has_bar = False
        self._job_title: str | None = None
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        self.tags[tag] += 1
        if tag == "html":
            self.lang = a.get("lang")
        if tag == "section" and "data-kind" in a:
            self._section = a["id"]
            self.sections.append(a)
        for name in ("src", "href", "xlink:href", "action", "srcset"):
            if name in a:
                self.references.append(a[name])
        classes = a.get("class", "").split()
        if tag == "g" and "job" in classes:
            self.jobs[self._section] += 1
            self._job_depth, self._job_has_bar, self._job_title = len(self._in), False, ""
        elif self._job_depth is not None:
            if tag == "rect" and "bar" in classes and not self._job_has_bar:
                self._job_has_bar = True
                self.bars[self._section] += 1
            if tag == "text":
                self.labelled += 1
        if tag not in ("rect", "line", "circle", "meta", "br", "path"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("rect", "line", "circle", "meta", "br", "path"):
            return
        while self._in and self._in.pop() != tag:
            pass
        if tag == "g" and self._job_depth is not None and len(self._in) == self._job_depth:
            self.job_titles.append(self._job_title or "")
            self._job_depth = None

    def handle_data(self, data: str) -> None:
        where = self._in[-1] if self._in else ""
        if where == "style":
            self.style += data
        elif where == "script":
            self.scripts.append(data)
        elif where == "title" and self._job_depth is not None and len(self._in) > 1:
            self._job_title = (self._job_title or "") + data
        elif where == "title" and "head" in self._in:
            self.title += data


def _records(state: State) -> list[JobRecord]:
    """Every job a page shows: each spec's attempts and superseded jobs, and the unclaimed."""
    records = [r for e in state.specs.values() for r in (*e.history, *e.jobs)]
    return [*records, *state.orphans]


def _cli_page(tmp_path: Path, state: State, *, specs: bool = True, extra: str = "") -> str:
    """The page ``status [SPECS] --format html --out`` writes for ``state`` (its specs written
    beside it, with the realistic world's specs that have no job yet, and ``extra``: one
    spec's YAML, instead of the one written for it if any)."""
    path = tmp_path / "state.json"
    LocalStateStore(path).write(state)
    argv = ["status", "--state", str(path), "--format", "html", "--out", str(tmp_path / "s.html")]
    if specs:
        spec_files(state, tmp_path / "specs", extra=REALISTIC_SPECS)
        if extra:  # in the file of the spec of that kind and name, if the state has one
            found = re.search(r"kind: (\w+)\nmetadata: \{name: ([\w-]+)", extra)
            assert found is not None
            name = f"{found.group(1)}-{found.group(2)}.yaml"
            (tmp_path / "specs" / name).write_text(extra, encoding="utf-8")
        argv.insert(1, str(tmp_path / "specs"))
    assert main([*argv, "--quiet"]) == EXIT_OK
    return (tmp_path / "s.html").read_text(encoding="utf-8")


PLANTED_SPEC = f"""apiVersion: voiceid-reconciler/v1
kind: SpeakerEnrollmentJob
metadata: {{name: planted-roster}}
spec:
  domain: contact-center-prod
  dataAccessRoleArn: {ROLE}
  input:
    speakers: [{{speakerId: {PLANTED_SPEAKER}, audio: ['s3://acme-voiceid-input/{PLANTED_AUDIO}']}}]
    stagingUri: s3://acme-voiceid-input/staging/
  output: {{s3Uri: 's3://acme-voiceid-output/', kmsKeyId: alias/acme-voiceid}}
"""
"""A spec with an inline roster: its speaker id and audio must never reach the page."""


def test_the_page_is_one_self_contained_document(tmp_path: Path) -> None:
    """A document with its language, a title and a phone's viewport, that fetches nothing: no
    reference leaves the page (only #anchors and the SVG patterns' url(#...)), no link,
    stylesheet import, image, frame or external script."""
    text = _cli_page(tmp_path, realistic_state())
    page = Page(text)
    assert text.startswith("<!doctype html>")
    assert page.lang == "en"
    assert (
        page.title
        == "Voice ID jobs (1 failed, 2 running, 1 blocked) · observed 2026-12-07 14:20 UTC"
    )
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in text
    assert page.references
    assert all(ref.startswith("#") for ref in page.references)
    assert set(re.findall(r"url\(([^)]*)\)", text)) <= {
        f"#{look.pattern}" for look in LOOKS.values()
    }
    assert not {"link", "img", "iframe", "object", "embed", "base"} & set(page.tags)
    assert "@import" not in page.style
    assert "http" not in text.lower()
    assert page.tags["script"] == 1
    assert "src=" not in text.split("<script", 1)[1].split(">")[0]


def test_one_section_per_domain_and_kind_and_one_bar_per_job(tmp_path: Path) -> None:
    """A section for each domain and kind that has a job or a wait (fraudsters before
    enrollments, domains by name), and in it one group with a bar per job of that domain and
    kind — superseded jobs and earlier attempts included — each telling its status in words
    (its tooltip and its row), not by colour alone."""
    state = realistic_state()
    page = Page(_cli_page(tmp_path, state))
    names = {v: k for k, v in state.domains.items()}
    shown = [(s["data-domain"], s["data-kind"]) for s in page.sections]
    assert shown == [
        ("contact-center-eu", JobKind.REGISTRATION),
        ("contact-center-eu", JobKind.ENROLLMENT),
        ("contact-center-prod", JobKind.REGISTRATION),
        ("contact-center-prod", JobKind.ENROLLMENT),
        ("contact-center-staging", JobKind.ENROLLMENT),  # a blocked spec, no job yet
    ]
    expected = Counter((names[r.domain_id], str(r.kind)) for r in _records(state))
    got = {(s["data-domain"], s["data-kind"]): page.jobs[s["id"]] for s in page.sections}
    assert {k: v for k, v in got.items() if v} == expected
    assert {(s["data-domain"], s["data-kind"]): page.bars[s["id"]] for s in page.sections} == got
    assert sum(page.jobs.values()) == len(_records(state)) == 11
    words = Counter(
        next(look.word for look in LOOKS.values() if f"{look.symbol} {look.word}" in title)
        for title in page.job_titles
    )
    assert words == {"completed": 6, "failed": 2, "in progress": 2, "completed with errors": 1}
    assert page.labelled == 11  # a row of text per job: the section is small


def test_a_large_section_is_packed_into_lanes_and_keeps_a_bar_per_job() -> None:
    """Beyond LABELLED jobs a timeline packs its bars into lanes (the jobs of one domain and
    kind run one at a time: a few lanes) with each job's words in its tooltip, so that a
    section of hundreds of jobs stays a few lines high; every job keeps its bar."""
    state = large_state(600)
    text = status_page(state, rendered_at=OBSERVED_AT)
    page = Page(text)
    assert sum(page.jobs.values()) == sum(page.bars.values()) == len(_records(state)) == 600
    assert min(n for n in page.jobs.values() if n) > LABELLED
    assert page.labelled == 0
    heights = [int(h) for h in re.findall(r'<svg class="tl" width="100%" height="(\d+)"', text)]
    assert heights
    assert max(heights) < 100, heights
    assert all(LOOKS[s].word in " ".join(page.job_titles) for s in ("COMPLETED", "FAILED"))


def _section_text(text: str, domain: str, kind: str) -> str:
    match = re.search(
        rf'<section [^>]*data-domain="{re.escape(domain)}" data-kind="{kind}">(.*?)</section>',
        text,
        re.S,
    )
    assert match is not None, (domain, kind)
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def test_what_waits_and_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """From the state and the specs alone: a blocked spec with its reason and since when; the
    starts a review approved that have no job yet, in the queue's order (priority, then when
    approved); a spec with no job and no approval awaiting review; an approved retry of a
    failed attempt; a retry already running does not wait."""
    state = realistic_state()
    failed = state.specs["SpeakerEnrollmentJob/benelux-callers"]
    state.approvals[failed.kind + "/benelux-callers"] = Approval(
        hash=failed.hash, max_attempts=3, review="0123456789abcdef", at="2026-12-05T10:00:00Z"
    )
    text = _cli_page(tmp_path, state)
    prod = _section_text(text, "contact-center-prod", JobKind.ENROLLMENT)
    waits = re.findall(r"(queued|awaiting review|blocked|retry queued) (\S+):", prod)
    assert waits == [
        ("queued", "emea-callers-wave-4"),
        ("queued", "emea-callers-wave-5"),
        ("awaiting review", "vip-callers"),
    ]
    assert "approved by review 3f2a9c41d0e8 on 2026-12-06 16:02 UTC" in prod
    staging = _section_text(text, "contact-center-staging", JobKind.ENROLLMENT)
    assert (
        "blocked staging-smoke-test: domain contact-center-staging is SUSPENDED, not ACTIVE "
        "(since 2026-12-07 10:00 UTC)" in staging
    )
    eu = _section_text(text, "contact-center-eu", JobKind.ENROLLMENT)
    assert "retry queued benelux-callers: attempt 2 of the 3 approved by review" in eu
    fraud = _section_text(text, "contact-center-prod", JobKind.REGISTRATION)
    assert "Waiting" not in fraud  # attempt 2 of fraud-ring-2026 runs: nothing waits
    (tmp_path / "alone").mkdir()
    monkeypatch.chdir(tmp_path / "alone")  # no specs/ here
    alone = _cli_page(tmp_path / "alone", state, specs=False)
    assert "vip-callers" not in alone  # without the specs, a spec never started is unknown
    assert "No specs were given" in alone
    assert "No specs were given" not in text


def test_the_queue_order_is_priority_then_approval(tmp_path: Path) -> None:
    """Approved starts waiting in one domain and kind are listed as the queue serves them:
    higher priority first, then the first approved."""
    state = realistic_state()
    state.approvals["SpeakerEnrollmentJob/emea-callers-wave-4"] = Approval(
        hash="4" * 64, max_attempts=1, review="3f2a9c41d0e8b7a6", at="2026-12-06T18:00:00Z"
    )
    extra = PLANTED_SPEC.replace("planted-roster", "urgent").replace(
        "  output:", "  priority: 5\n  output:"
    )
    state.approvals["SpeakerEnrollmentJob/urgent"] = Approval(
        hash="6" * 64, max_attempts=1, review="3f2a9c41d0e8b7a6", at="2026-12-07T09:00:00Z"
    )
    text = _cli_page(tmp_path, state, extra=extra)
    prod = _section_text(text, "contact-center-prod", JobKind.ENROLLMENT)
    order = re.findall(r"queued (\S+):", prod)
    assert order == ["urgent", "emea-callers-wave-5", "emea-callers-wave-4"]


def test_failures_with_their_reasons_and_the_results_of_each_job(tmp_path: Path) -> None:
    """A failed job's status code and message as the state holds them (earlier attempts
    too), a job with errors with its error counts, and every job's results in its table: the
    new ones first, errors last."""
    text = _cli_page(tmp_path, realistic_state())
    fraud = _section_text(text, "contact-center-prod", JobKind.REGISTRATION)
    assert (
        "fraud-ring-2026 (attempt 1), 2026-12-06 22:04 UTC: 400 Voice ID could not read the "
        "input manifest: Access Denied (s3:GetObject)" in fraud
    )
    prod = _section_text(text, "contact-center-prod", JobKind.ENROLLMENT)
    assert "emea-callers-wave-2, 2026-12-05 05:06 UTC: 41 with error 400, 3 with error 402" in prod
    assert (
        "emea-callers-wave-2 · ⚠ completed with errors · 19h36m · 11,902 new · 88 duplicates"
        in prod
    )
    assert "new: 11,902duplicates skipped: 88error 400: 41error 402: 3" in prod  # the table
    assert "in progress 71%" in prod
    assert "29h05m so far" in prod
    eu = _section_text(text, "contact-center-eu", JobKind.ENROLLMENT)
    assert "new: 20,113duplicates skipped: 1,270overwritten: 4" in eu


def test_the_pages_outcomes_are_the_kinds() -> None:
    """The page words every outcome a kind's output file is counted by (and UNKNOWN), no
    other, and the short form counts each under a group of its own, never as 'other'."""
    assert set(statuspage_text._OUTCOMES) == jobs.OUTCOMES | {jobs.UNKNOWN}
    for kind in jobkinds.KINDS.values():
        for outcome in kind.outcomes:
            assert "other" not in statuspage_text.results_short({outcome: 1}), outcome
            assert statuspage_text.results_full({outcome: 1}) != f"{outcome}: 1", outcome


def test_no_speaker_id_or_recording_of_a_spec_reaches_the_page(tmp_path: Path) -> None:
    """A spec with an inline roster that no review approved yet waits on the page by its name
    alone: neither its speaker id nor its recording is written."""
    text = _cli_page(tmp_path, realistic_state(), extra=PLANTED_SPEC)
    assert "awaiting review planted-roster:" in _section_text(
        text, "contact-center-prod", JobKind.ENROLLMENT
    )
    assert PLANTED_SPEAKER not in text
    assert "PLANTED" not in text
    assert "acme-voiceid-input" not in text


def test_every_text_from_the_world_is_escaped() -> None:
    """A failure message that holds markup is shown as text: the page has one script, ours."""
    state = realistic_state()
    record = state.specs["SpeakerEnrollmentJob/benelux-callers"].jobs[0]
    record.failure = Failure(status_code=400, message='<script>alert("x")</script> & <b>')
    text = status_page(state)
    assert "<script>alert" not in text
    assert "<b>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &lt;b&gt;" in text
    assert Page(text).tags["script"] == 1


def test_an_empty_state_says_so() -> None:
    """No job and nothing waiting: one sentence, still a whole document."""
    text = status_page(State())
    assert "No jobs recorded in the state yet, and nothing waits." in text
    assert text.rstrip().endswith("</html>")
    assert Page(text).sections == []


def _luminance(colour: str) -> float:
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(a: str, b: str) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def test_every_colour_has_enough_contrast() -> None:
    """WCAG 2.1: each badge's text against its tint, the muted text against the page and its
    tint >= 4.5:1; each bar's colour against the page >= 3:1 (graphics)."""
    text = status_page(realistic_state())
    style = Page(text).style
    badges = re.findall(
        r"\.([bw]-[\w-]+)[^{]*\{ color: (#[0-9a-f]{6}); background: (#[0-9a-f]{6})", style
    )
    assert len(badges) >= 8, badges
    for name, colour, background in badges:
        assert _contrast(colour, background) >= 4.5, (name, colour, background)
    variables = dict(re.findall(r"--(\w+): (#[0-9a-f]{6})", style))
    for background in ("#ffffff", variables["tint"]):
        assert _contrast(variables["muted"], background) >= 4.5
        assert _contrast(variables["fg"], background) >= 7
    fills = re.findall(
        r'<pattern id="(p-\w+)"[^>]*>(?:<rect width="6" height="6" fill="(#[0-9a-f]{6})")', text
    )
    strong = {p: c for p, c in fills if p in ("p-completed", "p-errors", "p-failed", "p-running")}
    assert len(strong) == 4
    for pattern, colour in strong.items():
        assert _contrast(colour, "#ffffff") >= 3, pattern


# -- the command --------------------------------------------------------------------------------


def test_out_replaces_the_file_whole_and_says_where(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out writes the page (or the JSON or text status) to the file and one line saying so
    on stdout, leaving nothing beside it; a directory that does not exist is one line naming
    --out and exit 1; --watch refuses html and --out."""
    state = tmp_path / "state.json"
    LocalStateStore(state).write(realistic_state())
    out = tmp_path / "site" / "status.html"
    out.parent.mkdir()
    out.write_text("an older page", encoding="utf-8")
    base = ["status", "--state", str(state), "--quiet"]
    capsys.readouterr()
    assert main([*base, "--format", "html", "--out", str(out)]) == EXIT_OK
    assert capsys.readouterr().out == f"Wrote the status (html) to {out}.\n"
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    assert [p.name for p in out.parent.iterdir()] == ["status.html"]
    assert main([*base, "--format", "json", "--out", str(out.with_suffix(".json"))]) == EXIT_OK
    assert json.loads(out.with_suffix(".json").read_text())["observedAt"] == OBSERVED_AT
    capsys.readouterr()
    missing = tmp_path / "nowhere" / "status.html"
    assert main([*base, "--format", "html", "--out", str(missing)]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert f"--out {missing}: cannot write the status" in err[0], err
    assert main([*base, "--watch", "--format", "html"]) == EXIT_ERROR
    assert main([*base, "--watch", "--out", str(out)]) == EXIT_ERROR
    assert "no --out" in capsys.readouterr().err


def test_out_to_s3_publishes_an_object_a_browser_opens(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--out s3://BUCKET/KEY puts the page as one object, text/html in UTF-8 and not to be
    cached, through the sandbox's S3; a bucket that does not exist is one line naming --out
    and S3's error code, exit 1; an S3 URI without a key is refused before anything runs."""
    world = build_world(voiceid_env)
    state = tmp_path / "state.json"
    LocalStateStore(state).write(realistic_state())
    uri = f"s3://{world.bucket}/voiceid/status.html"
    base = ["status", "--state", str(state), "--quiet", "--format", "html", "--out"]
    capsys.readouterr()
    assert main([*base, uri]) == EXIT_OK
    assert capsys.readouterr().out == f"Wrote the status (html) to {uri}.\n"
    s3 = voiceid_env.client("s3")
    try:
        answer = s3.get_object(Bucket=world.bucket, Key="voiceid/status.html")
        body = answer["Body"].read().decode()
    finally:
        s3.close()
    assert answer["ContentType"] == "text/html; charset=utf-8"
    assert answer["CacheControl"] == "no-store"
    assert body.startswith("<!doctype html>")
    assert "emea-callers-wave-3" in body
    assert main([*base, "s3://no-such-bucket-here/status.html"]) == EXIT_ERROR
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [
        "voiceid-reconciler: --out s3://no-such-bucket-here/status.html: cannot write the "
        "status: NoSuchBucket"
    ], err
    assert main([*base, f"s3://{world.bucket}/"]) == EXIT_ERROR
    assert "s3://BUCKET/KEY" in capsys.readouterr().err


def test_nothing_of_a_speaker_reaches_the_page_of_a_sandbox_world(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """End to end on the sandbox: jobs from manifests and from an inline roster (one of its
    recordings missing: the job ends with errors) applied and waited for, then status
    --refresh --format html: every job of the state has its bar, the job with errors its
    counts, and no speaker id or audio location of the manifests or the roster is on the
    page."""
    world = build_world(voiceid_env)
    specs, state = tmp_path / "specs", tmp_path / "state.json"
    write_specs(world, specs, 2)
    audio = world.audio[0]
    (specs / "roster.yaml").write_text(
        f"apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        f"metadata: {{name: planted-roster}}\nspec:\n  domain: {next(iter(world.domains))}\n"
        f"  dataAccessRoleArn: {world.role_arn}\n  input:\n"
        f"    speakers:\n      - {{speakerId: {PLANTED_SPEAKER}, audio: ['{audio}']}}\n"
        f"      - {{speakerId: {PLANTED_SPEAKER}-2, audio: ['s3://{world.bucket}/{PLANTED_AUDIO}']}}\n"
        f"    stagingUri: s3://{world.bucket}/staging/\n"
        f"  output: {{s3Uri: 's3://{world.bucket}/output/', kmsKeyId: {world.kms_alias}}}\n",
        encoding="utf-8",
    )
    args = ["--state", str(state), "--tps", "0", "--log-format", "json"]
    assert main(
        ["apply", str(specs), *args, "--max-active", "3", "--wait", "--poll-interval", "0.05"]
    ) in (
        EXIT_OK,
        8,  # the roster's job ended COMPLETED_WITH_ERRORS in this run
    )
    out = tmp_path / "status.html"
    capsys.readouterr()
    assert (
        main(["status", str(specs), *args, "--refresh", "--format", "html", "--out", str(out)]) == 0
    )
    text = out.read_text(encoding="utf-8")
    recorded = LocalStateStore(state).read()
    page = Page(text)
    assert sum(page.bars.values()) == len(_records(recorded)) == 3
    roster = recorded.specs["SpeakerEnrollmentJob/planted-roster"].jobs[-1]
    assert roster.status == JobStatus.COMPLETED_WITH_ERRORS
    assert roster.results
    assert "1 error" in text
    assert html.escape(roster.job_id or "?") in text
    for secret in (
        PLANTED_SPEAKER,
        PLANTED_AUDIO,
        "PLANTED",
        audio,
        audio.rpartition("/")[2],
        "caller-0",
    ):
        assert secret not in text, secret


def test_the_benchmark_script_runs(capsys: pytest.CaptureFixture[str]) -> None:
    """bench/status_page.py prints its figures as label : value lines, a ratio and the
    verdict of its target (its times are measured, never asserted)."""
    from bench.status_page import main as bench_main

    bench_main(["--jobs", "60", "--repeat", "1"])
    lines = capsys.readouterr().out.splitlines()
    figures = dict(line.split(" : ", 1) for line in lines)
    assert {k.rstrip() for k in figures} >= {
        "status-page jobs",
        "status-page render s",
        "status-page status-json render s",
        "status-page command wall s",
        "status-page ratio html/json",
        "target status-page render < 1 s",
    }
    values = {k.rstrip(): v for k, v in figures.items()}
    assert values["status-page jobs"] == "60"
    assert float(values["status-page ratio html/json"]) > 0
    assert values["target status-page render < 1 s"] in ("PASS", "FAIL")


def test_every_command_line_of_the_doc_parses_with_the_real_cli() -> None:
    """docs/status-page.md: each voiceid-reconciler command of its sh blocks, and the
    container args of its CronJob, parse with the CLI's own parser; the CronJob's writes the
    page beside the state (voiceid/*, which the reconciler's role may write)."""
    from reconciler.cli.app import parser

    doc = (Path(__file__).resolve().parents[1] / "docs" / "status-page.md").read_text()
    commands = [
        shlex.split(line.split(" #", 1)[0])[1:]
        for block in re.findall(r"^```sh\n(.*?)^```", doc, re.M | re.S)
        for line in block.replace("\\\n", " ").splitlines()
        if line.startswith("voiceid-reconciler ")
    ]
    [manifest] = re.findall(r"^```yaml\n(.*?)^```", doc, re.M | re.S)
    [container] = yaml.safe_load(manifest)["containers"]
    commands.append(container["args"])
    assert len(commands) == 4
    for argv in commands:
        parsed = parser().parse_args(argv)
        assert parsed.format == "html"
    out = container["args"][container["args"].index("--out") + 1]
    assert re.fullmatch(r"s3://[a-z0-9-]+/voiceid/status\.html", out)


# -- in a real browser --------------------------------------------------------------------------


def _chromium(tmp_path: Path, url: str, *action: str, size: str = "1280,1600") -> str:
    assert CHROMIUM is not None
    done = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",  # fresh: nothing of another run
            "--hide-scrollbars",
            f"--window-size={size}",
            *action,
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.fixture
def planted_page(tmp_path: Path) -> tuple[Path, State]:
    """The realistic world's page, its specs holding an inline roster with a planted speaker
    id and recording (they must not reach the page)."""
    state = realistic_state()
    _cli_page(tmp_path, state, extra=PLANTED_SPEC)
    page = tmp_path / "s.html"
    assert PLANTED_SPEAKER not in page.read_text(encoding="utf-8")
    return page, state


@needs_chromium
def test_chromium_lays_out_a_section_per_domain_and_kind_and_a_bar_per_job(
    tmp_path: Path, planted_page: tuple[Path, State]
) -> None:
    """The DOM Chromium holds after loading the page: the same sections and job groups, every
    bar laid out with a width (a measuring script appended to a copy of the page), nothing
    wider than the window, and no planted speaker id or recording anywhere."""
    page, state = planted_page
    measure = """<script>
var jobs = [].slice.call(document.querySelectorAll('section[data-kind]')).map(function (s) {
  return [s.dataset.domain, s.dataset.kind, s.querySelectorAll('g.job').length,
    [].slice.call(s.querySelectorAll('g.job rect.bar')).filter(function (r) {
      return r.getBoundingClientRect().width > 0 || r.nextElementSibling.getBoundingClientRect().width > 0;
    }).length];
});
var out = document.createElement('pre'); out.id = 'measured';
out.textContent = JSON.stringify({jobs: jobs, scroll: document.documentElement.scrollWidth,
  width: innerWidth, lang: document.documentElement.lang});
document.body.appendChild(out);
</script>"""
    measured_page = tmp_path / "measured.html"
    measured_page.write_text(
        page.read_text(encoding="utf-8").replace("</body>", measure + "</body>")
    )
    dom = _chromium(tmp_path, measured_page.as_uri(), "--dump-dom", "--virtual-time-budget=2000")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    measured = json.loads(html.unescape(found.group(1)))
    names = {v: k for k, v in state.domains.items()}
    expected = Counter((names[r.domain_id], str(r.kind)) for r in _records(state))
    sections = {(d, k): (n, laid) for d, k, n, laid in measured["jobs"]}
    assert len(sections) == len(measured["jobs"]) == 5
    assert {key: n for key, (n, _) in sections.items() if n} == expected
    assert all(n == laid for n, laid in sections.values())
    assert measured["scroll"] <= measured["width"]
    assert measured["lang"] == "en"
    assert PLANTED_SPEAKER not in dom
    assert "PLANTED" not in dom


@needs_chromium
def test_at_a_phone_width_nothing_is_wider_than_the_screen(
    tmp_path: Path, planted_page: tuple[Path, State]
) -> None:
    """In a frame 390 CSS pixels wide (a phone; headless windows are at least 500 wide), every
    table open, the page is no wider than its frame: tables scroll in their box, long names
    wrap, the timelines take the width they have. The framed page reports to the page around
    it."""
    page, _ = planted_page
    report = """<script>
addEventListener('load', function () {
  [].forEach.call(document.querySelectorAll('details'), function (d) { d.open = true; });
  var wide = [].slice.call(document.querySelectorAll('body *')).filter(function (e) {
    return !e.closest('.scroll') && !e.closest('svg') && e.getBoundingClientRect().right > innerWidth + 1;
  }).map(function (e) { return e.tagName + '.' + e.className; });
  parent.postMessage(JSON.stringify({width: innerWidth, scroll: document.documentElement.scrollWidth,
    wide: wide.slice(0, 5), svg: document.querySelector('svg.tl').getBoundingClientRect().width}), '*');
});
</script>"""
    framed = tmp_path / "framed.html"
    framed.write_text(page.read_text(encoding="utf-8").replace("</body>", report + "</body>"))
    phone = tmp_path / "phone.html"
    phone.write_text(
        '<!doctype html><html><body style="margin:0"><pre id="measured"></pre>'
        f'<iframe src="{framed.name}" width="390" height="844" style="border:0"></iframe>'
        "<script>addEventListener('message', function (e) {"
        "document.getElementById('measured').textContent = e.data; });</script></body></html>"
    )
    dom = _chromium(
        tmp_path, phone.as_uri(), "--dump-dom", "--virtual-time-budget=3000", size="500,900"
    )
    found = re.search(r'<pre id="measured">(.+?)</pre>', dom, re.S)
    assert found is not None, dom[-2000:]
    measured = json.loads(html.unescape(found.group(1)))
    assert measured["width"] == 390
    assert measured["scroll"] <= 390, measured
    assert measured["wide"] == [], measured
    assert 300 <= measured["svg"] <= 390


def _pixels(data: bytes) -> tuple[int, int, int, list[bytes]]:
    """A PNG's width, height, bytes per pixel and rows (zlib and struct: no imaging library).
    Only what Chromium writes: 8-bit RGB or RGBA, not interlaced."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, chunks, header = 8, [], b""
    while position < len(data):
        length, kind = struct.unpack(">I4s", data[position : position + 8])
        body = data[position + 8 : position + 8 + length]
        if kind == b"IHDR":
            header = body
        elif kind == b"IDAT":
            chunks.append(body)
        position += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8
    assert colour in (2, 6)
    assert interlace == 0
    bpp = 3 if colour == 2 else 4
    raw, stride = zlib.decompress(b"".join(chunks)), width * bpp
    previous, rows = bytearray(stride), []
    for r in range(height):
        kind, line = (
            raw[r * (stride + 1)],
            bytearray(raw[r * (stride + 1) + 1 : (r + 1) * (stride + 1)]),
        )
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 255
        elif kind == 2:
            line = bytearray((a + b) & 255 for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                line[i] = (line[i] + ((line[i - bpp] if i >= bpp else 0) + previous[i]) // 2) & 255
        elif kind == 4:
            for i in range(stride):
                a, b = (line[i - bpp] if i >= bpp else 0), previous[i]
                c = previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        previous = line
    return width, height, bpp, rows


@needs_chromium
def test_a_screenshot_of_the_page_is_not_blank(
    tmp_path: Path, planted_page: tuple[Path, State]
) -> None:
    """Chromium's screenshot of the whole page (1280 x 2200) is the window's size and not
    blank (nor an error page): a good part of it is not white, and the bars are drawn in
    their colours, more than twice of each what its legend swatch holds. Set
    VOICEID_SCREENSHOT_DIR to keep it, with its page."""
    page, _ = planted_page
    png = tmp_path / "status-page.png"
    _chromium(tmp_path, page.as_uri(), f"--screenshot={png}", size="1280,2200")
    width, height, bpp, rows = _pixels(png.read_bytes())
    assert (width, height) == (1280, 2200)
    pixels: Counter[bytes] = Counter()
    for row in rows:
        pixels.update(row[i : i + 3] for i in range(0, len(row), bpp))
    white = pixels[b"\xff\xff\xff"]
    assert 0.05 < 1 - white / (width * height) < 0.9
    swatch = 28 * 10  # a legend's swatch: what a page without timelines would hold
    counts = {name: pixels[bytes.fromhex(colour)] for name, colour in BAR_COLOURS.items()}
    assert all(n > 2 * swatch for n in counts.values()), counts
    keep = os.environ.get("VOICEID_SCREENSHOT_DIR")
    if keep:
        shutil.copy(png, Path(keep) / "status-page.png")
        shutil.copy(page, Path(keep) / "status-page.html")
