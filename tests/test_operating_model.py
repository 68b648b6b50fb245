"""The operating model end to end (docs/operating.md), as the example workflows and the CronJob
run it, against the sandbox with its state on (sandbox) S3.

The command lines are read from the files themselves (examples/github/*.yml and
deploy/kubernetes/cronjob.yaml, through tests/test_workflows_cli.py's readers), with only the
spec directory, the checksum, the notification sink and three speed knobs put in: ``--tps 0``
(the sandbox has no 2-calls-a-second quota to respect) and the CronJob's ``--timeout`` and
``--poll-interval`` scaled from minutes to fractions of a second (the sandbox's clock is frozen
and moved by the test, so nothing waits for real).

One story, in order: two pull requests planned at once and merged one after the other, each
merge applied (the second while the schedule runs), a re-run of a merge's apply, the schedule
between and after (a job that runs longer than its period; a queued reviewed job it starts), a
manifest replaced after review (held, never started), a job that fails with a retry coming and
then for good, a spec retired by deletion. Asserted throughout: every reviewed intent started
exactly once, nothing unreviewed started, no run exits non-zero for progress, the merge's apply
does not wait for the schedule's lock, every event reaches the sink by the end of the run that
saw it.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.cli.exits import EXIT_JOB_FAILED, EXIT_OK
from reconciler.sandbox import Sandbox
from tests.support import Receiver, World, all_jobs, build_world, manifest
from tests.test_workflows_cli import ROOT, Command, commands_in_workflow, commands_in_workload

JOB = 1800.0
"""Seconds a sandbox job runs: longer than the schedule's period."""
PERIOD = 900.0
"""The CronJob's period (every 15 minutes)."""
CHECKSUM = re.compile(r"<!-- voiceid-reconciler checksum=([0-9a-f]+) -->")
"""How voiceid-apply.yml reads the reviewed checksum from the plan comment."""


def _command(commands: list[Command], *flags: str) -> tuple[str, ...]:
    """The one command line of ``commands`` that has every flag of ``flags``."""
    found = [c for c in commands if all(c.has(f) for f in flags)]
    assert len(found) == 1, (flags, commands)
    return found[0].argv


def _workflow_commands() -> dict[str, tuple[str, ...]]:
    plan = commands_in_workflow(ROOT / "examples/github/voiceid-plan.yml")
    apply = commands_in_workflow(ROOT / "examples/github/voiceid-apply.yml")
    [cronjob] = commands_in_workload(ROOT / "deploy/kubernetes/cronjob.yaml")
    online = [c for c in plan if c.argv[0] == "plan" and not c.has("--offline")]
    return {
        "plan": _command(online, "--format"),
        "merge": _command(apply, "--plan-checksum"),
        "schedule": cronjob.argv,
    }


def _put(argv: tuple[str, ...], flag: str, value: str) -> list[str]:
    """``argv`` with ``flag``'s value replaced."""
    out = list(argv)
    out[out.index(flag) + 1] = value
    return out


class Team:
    """A repository of specs (main and pull-request checkouts), its state on S3, a webhook."""

    def __init__(self, world: World, root: Path, receiver: Receiver) -> None:
        self.world, self.root, self.receiver = world, root, receiver
        self.main = root / "main"
        (self.main / "specs").mkdir(parents=True)
        self.commands = _workflow_commands()
        self.hook = f"json://127.0.0.1:{receiver.port}/hook"
        self.s3 = world.sandbox.client("s3")
        self.domain = next(iter(world.domains))
        self.bases: dict[Path, dict[str, bytes]] = {}

    # -- the repository --------------------------------------------------------------------

    def spec(
        self, checkout: Path, name: str, kind: str = "SpeakerEnrollmentJob", **extra: Any
    ) -> None:
        """A spec with its own manifest (``manifest=b"..."`` to give its bytes)."""
        body = extra.pop("manifest", None)
        key = f"manifests/{name}.json"
        if body is None:
            body = self.manifest(kind, name)
        self.s3.put_object(Bucket=self.world.bucket, Key=key, Body=body)
        section = (
            "  enrollment: {existingEnrollmentAction: SKIP}\n"
            if kind == "SpeakerEnrollmentJob"
            else "  registration: {duplicateRegistrationAction: SKIP}\n"
        )
        more = "".join(f"  {k}: {v}\n" for k, v in extra.items())
        (checkout / "specs" / f"{name}.yaml").write_text(
            f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
            f"spec:\n  domain: {self.domain}\n"
            f"  dataAccessRoleArn: {self.world.role_arn}\n"
            f"  input: {{manifest: 's3://{self.world.bucket}/{key}'}}\n"
            f"  output: {{s3Uri: 's3://{self.world.bucket}/output/', "
            f"kmsKeyId: {self.world.kms_alias}}}\n{section}{more}"
        )

    def manifest(self, kind: str, name: str, version: str = "1") -> bytes:
        audio = 0 if kind == "SpeakerEnrollmentJob" else len(self.world.audio) - 1
        # enrollments and fraudsters from different audio: the fraud check passes
        uri = self.world.audio[audio]
        return manifest(kind, uri, speaker=f"caller-{name}", offset=int(version))

    def branch(self, name: str) -> Path:
        """A pull request's checkout: main as it is now (its base remembered)."""
        checkout = self.root / name
        shutil.copytree(self.main, checkout)
        self.bases[checkout] = {p.name: p.read_bytes() for p in (checkout / "specs").iterdir()}
        return checkout

    def merge(self, checkout: Path) -> None:
        """Merge the pull request into main as git would: what it added or changed since its
        base, and what it removed."""
        base = self.bases[checkout]
        now = {p.name: p.read_bytes() for p in (checkout / "specs").iterdir()}
        for name, body in now.items():
            if base.get(name) != body:
                (self.main / "specs" / name).write_bytes(body)
        for name in base.keys() - now.keys():
            (self.main / "specs" / name).unlink()

    # -- the workflows -------------------------------------------------------------------------

    def plan(self, checkout: Path, capsys: pytest.CaptureFixture[str]) -> tuple[str, str]:
        """voiceid-plan.yml on a pull request: the comment and the checksum it carries."""
        capsys.readouterr()
        code = self.run(checkout, [*self.commands["plan"], "--tps", "0"])
        comment = capsys.readouterr().out
        assert code == EXIT_OK, comment
        match = CHECKSUM.search(comment)
        assert match, comment
        return comment, match.group(1)

    def merge_apply(self, checksum: str) -> int:
        """voiceid-apply.yml after a merge, with the reviewed checksum."""
        argv = _put(self.commands["merge"], "--plan-checksum", checksum)
        argv = _put(tuple(argv), "--notify", self.hook)
        return self.run(self.main, [*argv, "--tps", "0"])

    def schedule_argv(self) -> list[str]:
        argv = ["specs" if a == "/specs/specs" else a for a in self.commands["schedule"]]
        argv = _put(tuple(argv), "--timeout", "0.5")
        argv = _put(tuple(argv), "--poll-interval", "0.1")
        argv = _put(tuple(argv), "--metrics-file", str(self.root / "voiceid.prom"))
        return [*argv, "--tps", "0", "--notify", self.hook, "--notify-on", "all"]

    def schedule(self) -> int:
        """One run of the CronJob."""
        return self.run(self.main, self.schedule_argv())

    def run(self, checkout: Path, argv: list[str] | tuple[str, ...]) -> int:
        assert argv[0] in ("plan", "apply"), argv
        with contextlib.chdir(checkout):
            return main(list(argv))

    # -- what happened -----------------------------------------------------------------------

    def starts(self) -> Counter[str]:
        """Jobs in Voice ID per JobName: one job per (spec, hash, attempt), and how many."""
        return Counter(j["JobName"] for j in all_jobs(self.world))

    def names(self) -> Counter[str]:
        """Jobs in Voice ID per spec name (its hash and attempt cut off)."""
        return Counter(re.sub(r"-[0-9a-f]{32}(-[0-9]+)?$", "", n) for n in self.starts().elements())

    def told(self) -> list[tuple[str, str]]:
        """(event, spec name) of every event the webhook received."""
        return [
            (e["event"], e["spec"].partition("/")[2])
            for payload in self.receiver.payloads()
            for e in payload["events"]
        ]

    def later(self, seconds: float) -> None:
        self.world.sandbox.advance_clock(seconds)
        self.world.sandbox.advance()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hook = Receiver()
    yield hook
    hook.close()


def test_pull_requests_merges_and_the_schedule_make_one_operating_model(
    voiceid_env: Sandbox,
    tmp_path: Path,
    receiver: Receiver,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    world = build_world(voiceid_env)
    voiceid_env.freeze_clock()
    voiceid_env.configure(job_duration=JOB)
    monkeypatch.setenv("VOICEID_RECONCILER_STATE", f"s3://{world.bucket}/voiceid/state.json")
    team = Team(world, tmp_path, receiver)

    # The first deployment: one spec, planned and applied through a pull request.
    zero = team.branch("pr-0")
    team.spec(zero, "base")
    _, checksum = team.plan(zero, capsys)
    team.merge(zero)
    assert team.merge_apply(checksum) == EXIT_OK
    team.later(JOB + 1)

    # Two pull requests planned at once, against the same main.
    a, b = team.branch("pr-a"), team.branch("pr-b")
    team.spec(a, "a1")
    team.spec(a, "a2")
    team.spec(b, "b1", kind="FraudsterRegistrationJob")
    team.spec(b, "b2", manifest=b"{}", maxAttempts=2)  # every attempt FAILED (a bad manifest)
    team.spec(b, "b3", kind="FraudsterRegistrationJob")
    comment_a, checksum_a = team.plan(a, capsys)
    comment_b, checksum_b = team.plan(b, capsys)
    assert "`a1`" in comment_a
    assert "`b1`" not in comment_a
    assert "`b1`" in comment_b
    assert "`a1`" not in comment_b

    # A merges: its apply starts a1 and queues a2 (one enrollment slot), both approved.
    team.merge(a)
    assert team.merge_apply(checksum_a) == EXIT_OK
    assert team.names() == Counter({"base": 1, "a1": 1})
    # The same apply, re-run (a flaky runner, a re-run button): a success, nothing new.
    assert team.merge_apply(checksum_a) == EXIT_OK
    assert team.names() == Counter({"base": 1, "a1": 1})

    # B merges while the schedule runs: B's apply does not wait on the schedule's lock.
    schedule = subprocess.Popen(
        [sys.executable, "-m", "reconciler", *team.schedule_argv()],
        cwd=team.main,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        team.merge(b)
        began = time.monotonic()
        assert team.merge_apply(checksum_b) == EXIT_OK  # b's review set is b's alone
        merge_took = time.monotonic() - began
    finally:
        _out, err = schedule.communicate(timeout=120)
    assert schedule.returncode == EXIT_OK, err  # jobs progressing: a success
    assert merge_took < 10, f"the merge's apply took {merge_took:.1f}s beside the schedule"
    assert team.names() == Counter({"base": 1, "a1": 1, "b1": 1})

    # A manifest replaced after review: b3's hash changes; nobody reviewed that request.
    team.s3.put_object(
        Bucket=world.bucket,
        Key="manifests/b3.json",
        Body=team.manifest("FraudsterRegistrationJob", "b3", version="2"),
    )

    # One period later a1 still runs (longer than the period): a success, nothing starts.
    team.later(PERIOD)
    assert team.schedule() == EXIT_OK
    assert team.names() == Counter({"base": 1, "a1": 1, "b1": 1})
    assert "voiceid_reconciler_run_success 1" in (tmp_path / "voiceid.prom").read_text()

    # a1 and b1 ended: the schedule starts the queued reviewed a2 (approved first, so first),
    # and holds b3 (awaiting review) although its slot is free.
    team.later(PERIOD + 1)
    capsys.readouterr()
    assert team.schedule() == EXIT_OK
    shown = capsys.readouterr().out
    assert re.search(r"awaiting.review.*b3|b3.*awaiting.review", shown), shown
    assert team.names() == Counter({"base": 1, "a1": 1, "b1": 1, "a2": 1})

    # a2 ended: b2's first attempt. Then it FAILED with a retry coming: the schedule starts
    # attempt 2 (approved with the spec's maxAttempts) and exits 0; the sink is told at once.
    team.later(JOB + 1)
    assert team.schedule() == EXIT_OK
    team.later(JOB + 1)
    assert team.schedule() == EXIT_OK
    assert team.names()["b2"] == 2
    assert ("attempt-failed", "b2") in team.told()
    assert ("failed", "b2") not in team.told()
    # The second attempt fails for good: exit 5 (a verdict), told as the final failure.
    team.later(JOB + 1)
    assert team.schedule() == EXIT_JOB_FAILED
    assert ("failed", "b2") in team.told()

    # Every reviewed intent started exactly once; b3's changed request never.
    starts = team.starts()
    assert all(n == 1 for n in starts.values()), starts
    assert team.names() == Counter({"base": 1, "a1": 1, "a2": 1, "b1": 1, "b2": 2})
    # Every job's end reached the sink by the end of the run that saw it.
    for name in ("base", "a1", "a2", "b1"):
        assert ("completed", name) in team.told(), (name, team.told())

    # Retiring: a pull request deletes base (its job ended long ago). Its plan shows it retired,
    # not red; the merge's apply forgets it; the next plan does not show it.
    retire = team.branch("pr-retire")
    (retire / "specs" / "base.yaml").unlink()
    comment, checksum = team.plan(retire, capsys)
    assert "Retired" in comment
    assert "❌" not in comment.split("\n", 3)[1]
    team.merge(retire)
    assert team.merge_apply(checksum) == EXIT_OK
    comment, _ = team.plan(team.branch("pr-after"), capsys)
    assert "`base`" not in comment
    assert team.names()["base"] == 1  # nothing in Voice ID changed
