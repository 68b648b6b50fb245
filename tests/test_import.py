"""``voiceid-reconciler import``: jobs started without the reconciler brought under review.

End to end against the sandbox through boto3's real HTTP path, with jobs started by the
``aws voice-id`` CLI of this virtualenv (awscli is in the ``test`` extra): import, then plan
shows every imported job in sync and apply starts nothing; a second import writes nothing new;
a later full listing, a running job's end, a state rebuilt or an apply of main before the
import's pull request merged never make a second job. The rules of
:mod:`reconciler.core.adoption` (names, what a manifest's times prove, the request check) are
pinned without a network.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.cli.cmd_import import _since
from reconciler.core.adoption import (
    IMPORT_REVIEW,
    IMPORTED_FROM,
    IMPORTED_HASH,
    Draft,
    settle_notifications,
    spec_name,
    spec_text,
)
from reconciler.core.foreignjob import (
    JobSettings,
    ManifestHead,
    ObjectState,
    Proof,
    differences,
    manifest_proof,
)
from reconciler.core.identity import Resolution, start_request
from reconciler.core.jobs import ObservedJob
from reconciler.core.kinds import JobKind, JobStatus
from reconciler.core.spec import SpeakerEnrollmentJob
from reconciler.core.state import SinkLedger, State
from reconciler.core.times import epoch, iso
from reconciler.sandbox import Sandbox

ROLE = "arn:aws:iam::123456789012:role/VoiceIdBatchDataAccess"
SPEAKER = "cust-7731-planted"
"""A speaker id in a manifest: it must never reach the output, a spec or the state."""
AUDIO = "s3://acme-in/audio/caller-7731.wav"
STARTS = ("StartSpeakerEnrollmentJob", "StartFraudsterRegistrationJob")
DESCRIBES = ("DescribeSpeakerEnrollmentJob", "DescribeFraudsterRegistrationJob")
OUR_NAMING = "emea-callers-0123456789abcdef0123456789abcdef"


def _world(jobs: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A contact centre before the reconciler came: a key, buckets, recordings, manifests, a
    domain with a watchlist besides its default, and ``jobs`` seeded as already there."""
    return {
        "apiVersion": "voiceid-sandbox/v1",
        "kmsKeys": [{"aliases": ["alias/acme"]}],
        "buckets": ["acme-in", "acme-out"],
        "audio": [AUDIO, "s3://acme-in/audio/fraud-1.wav"],
        "manifests": [
            {
                "uri": "s3://acme-in/manifests/callers.json",
                "speakers": [{"speakerId": SPEAKER, "audio": [AUDIO]}],
            },
            {
                "uri": "s3://acme-in/manifests/fraud.json",
                "fraudsters": [{"audio": ["s3://acme-in/audio/fraud-1.wav"]}],
            },
            {
                "uri": "s3://acme-in/manifests/pilot.json",
                "speakers": [{"speakerId": "cust-0002", "audio": [AUDIO]}],
            },
            {
                "uri": "s3://acme-in/manifests/next.json",
                "speakers": [{"speakerId": "cust-0003", "audio": [AUDIO]}],
            },
        ],
        "domains": [{"name": "prod", "watchlists": ["ring"], "jobs": jobs or []}],
    }


def _aws() -> list[str]:
    """The AWS CLI of this virtualenv (awscli is in the test extra)."""
    sibling = Path(sys.executable).with_name("aws")
    if sibling.exists():
        return [str(sibling)]
    found = shutil.which("aws")
    return [found] if found else [sys.executable, "-m", "awscli"]


@dataclass
class Acme:
    """The seeded sandbox, and how the tests drive it."""

    sandbox: Sandbox
    domain_id: str
    watchlists: dict[str, str]
    tmp: Path

    @property
    def state(self) -> Path:
        return self.tmp / "state.json"

    @property
    def specs(self) -> Path:
        return self.tmp / "specs"

    @property
    def out(self) -> Path:
        return self.specs / "imported"

    def aws(self, *args: str) -> dict[str, Any]:
        """``aws voice-id ...`` against the sandbox, as someone did before the reconciler."""
        env = {**os.environ, "AWS_PAGER": "", "AWS_MAX_ATTEMPTS": "1"}
        done = subprocess.run(
            [*_aws(), "voice-id", *args, "--output", "json"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        answer: dict[str, Any] = json.loads(done.stdout)
        return answer

    def enroll_by_hand(self, name: str, manifest: str = "callers.json") -> str:
        """An enrollment started with the AWS CLI: OVERWRITE, a risk threshold, a watchlist."""
        config = {
            "ExistingEnrollmentAction": "OVERWRITE",
            "FraudDetectionConfig": {
                "FraudDetectionAction": "FAIL",
                "RiskThreshold": 40,
                "WatchlistIds": [self.watchlists["ring"]],
            },
        }
        return str(
            self.aws(
                "start-speaker-enrollment-job", "--job-name", name, "--domain-id", self.domain_id,
                "--data-access-role-arn", ROLE,
                "--input-data-config", f"S3Uri=s3://acme-in/manifests/{manifest}",
                "--output-data-config", "S3Uri=s3://acme-out/out/,KmsKeyId=alias/acme",
                "--enrollment-config", json.dumps(config),
            )["Job"]["JobId"]
        )  # fmt: skip

    def register_by_hand(self, name: str) -> str:
        """A fraudster registration started with the AWS CLI: a similarity threshold only."""
        return str(
            self.aws(
                "start-fraudster-registration-job", "--job-name", name,
                "--domain-id", self.domain_id, "--data-access-role-arn", ROLE,
                "--input-data-config", "S3Uri=s3://acme-in/manifests/fraud.json",
                "--output-data-config", "S3Uri=s3://acme-out/out/,KmsKeyId=alias/acme",
                "--registration-config", json.dumps({"FraudsterSimilarityThreshold": 80}),
            )["Job"]["JobId"]
        )  # fmt: skip

    def end_jobs(self) -> None:
        self.sandbox.advance_clock(5)
        self.sandbox.advance()

    def run(self, *argv: str) -> int:
        return main([*argv, "--state", str(self.state), "--tps", "0", "--log-format", "json"])

    def import_(self, *extra: str) -> int:
        return self.run("import", "--domain", "prod", "--out", str(self.out), *extra)

    def plan(self, capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
        capsys.readouterr()
        code = self.run("plan", str(self.specs), "--format", "json", *extra)
        assert code == EXIT_OK
        plan: dict[str, Any] = json.loads(capsys.readouterr().out)
        return plan

    def starts(self) -> int:
        calls = self.sandbox.calls()
        return sum(calls.get(op, 0) for op in STARTS)


@pytest.fixture
def acme(voiceid_env: Sandbox, tmp_path: Path) -> Acme:
    """The world seeded; the sandbox's clock then moved on 5 s, so that a job started from now
    on is created after its manifest was written (S3 keeps times to the second)."""
    seeded = voiceid_env.seed_world(_world())
    (domain,) = seeded["domains"]
    voiceid_env.advance_clock(5)
    return Acme(voiceid_env, domain["domainId"], domain["watchlists"], tmp_path)


def _actions(plan: dict[str, Any]) -> dict[str, tuple[str, str | None]]:
    return {f"{a['kind']}/{a['name']}": (a["action"], a.get("jobId")) for a in plan["actions"]}


# --- the workflow end to end ----------------------------------------------------------------


def test_import_then_plan_is_in_sync_apply_starts_nothing_and_import_again_writes_nothing(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two jobs started with the AWS CLI (and one of our naming): the dry run prints the files
    it would write and writes nothing; --write writes one spec per job and records each job
    as its spec's (attempt 1, the real JobId, approved as review 'import'); plan shows both
    in sync with their JobIds and 0 starts; apply makes no Start call; a second import
    Describes nothing and writes nothing new."""
    enrolled = acme.enroll_by_hand("Pilot_Enrollment")
    registered = acme.register_by_hand("fraud-import")
    acme.aws(
        "start-speaker-enrollment-job", "--job-name", OUR_NAMING, "--domain-id", acme.domain_id,
        "--data-access-role-arn", ROLE, "--input-data-config", "S3Uri=s3://acme-in/manifests/next.json",
        "--output-data-config", "S3Uri=s3://acme-out/out/,KmsKeyId=alias/acme",
    )  # fmt: skip
    acme.end_jobs()
    capsys.readouterr()

    assert acme.import_() == EXIT_OK
    dry = capsys.readouterr().out
    assert not acme.out.exists()
    assert not acme.state.exists()
    assert f"{acme.out / 'pilot-enrollment.yaml'}  SpeakerEnrollmentJob/pilot-enrollment" in dry
    assert f"{acme.out / 'fraud-import.yaml'}  FraudsterRegistrationJob/fraud-import" in dry
    assert "3 job(s) listed, 1 of our naming (already the reconciler's: not offered)" in dry
    assert "Dry run: nothing was written" in dry
    assert SPEAKER not in dry
    assert AUDIO not in dry
    assert "s3://" not in dry

    acme.sandbox.reset_calls()
    assert acme.import_("--write") == EXIT_OK
    written = capsys.readouterr().out
    assert "Import complete: 2 spec(s) and 0 record(s)" in written
    assert sorted(p.name for p in acme.out.iterdir()) == [
        "fraud-import.yaml",
        "pilot-enrollment.yaml",
    ]
    calls = acme.sandbox.calls()
    assert sum(calls.get(op, 0) for op in DESCRIBES) == 2  # the two offered, not ours
    spec = (acme.out / "pilot-enrollment.yaml").read_text()
    assert f'{IMPORTED_FROM}: "{enrolled}"' in spec
    assert 'existingEnrollmentAction: "OVERWRITE"' in spec
    assert "riskThreshold: 40" in spec
    assert 'watchlist: "ring"' in spec  # the watchlist by its name
    assert 'domain: "prod"' in spec
    assert SPEAKER not in spec
    assert AUDIO not in spec

    state = LocalStateStore(acme.state).read()
    entry = state.specs["SpeakerEnrollmentJob/pilot-enrollment"]
    (record,) = entry.jobs
    assert (record.job_id, record.attempt, record.job_name) == (enrolled, 1, "Pilot_Enrollment")
    assert record.status is JobStatus.COMPLETED
    assert record.hash == entry.hash
    assert record.created_at
    assert record.ended_at
    assert record.client_token is None
    assert record.results is not None  # its output file read, as a run reads one
    assert sum(record.results.values()) == 1
    assert state.approvals[entry.kind + "/pilot-enrollment"].review == IMPORT_REVIEW
    assert state.approvals["SpeakerEnrollmentJob/pilot-enrollment"].hash == entry.hash
    assert f'{IMPORTED_HASH}: "{entry.hash[:32]}"' in spec
    assert SPEAKER not in acme.state.read_text()
    assert AUDIO not in acme.state.read_text()

    assert main(["validate", str(acme.specs)]) == EXIT_OK
    expected = {
        "SpeakerEnrollmentJob/pilot-enrollment": ("in-sync", enrolled),
        "FraudsterRegistrationJob/fraud-import": ("in-sync", registered),
    }
    assert _actions(acme.plan(capsys, "--offline")) == expected  # a fork's plan, too
    acme.sandbox.reset_calls()
    plan = acme.plan(capsys)
    assert _actions(plan) == expected
    assert acme.run("apply", str(acme.specs), "--auto-approve") == EXIT_OK
    assert acme.starts() == 0

    before = {p.name: p.read_text() for p in acme.out.iterdir()}
    serial = LocalStateStore(acme.state).read().serial
    acme.sandbox.reset_calls()
    capsys.readouterr()
    assert acme.import_("--write") == EXIT_OK
    again = capsys.readouterr().out
    assert "Nothing new to import." in again
    assert "already imported as SpeakerEnrollmentJob/pilot-enrollment" in again
    assert {p.name: p.read_text() for p in acme.out.iterdir()} == before
    assert LocalStateStore(acme.state).read().serial == serial
    assert sum(acme.sandbox.calls().get(op, 0) for op in DESCRIBES) == 0


def test_a_later_full_listing_keeps_imported_jobs_theirs_and_starts_only_the_new_spec(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """After the import, a new spec in the same domain and kind is applied with
    --token-lifetime 0 (its start lists the domain in full first): exactly one Start, the new
    spec's; the imported job stays its spec's (no orphan, no second job of its request)."""
    enrolled = acme.enroll_by_hand("pilot")
    acme.end_jobs()
    assert acme.import_("--write") == EXIT_OK
    (acme.specs / "next.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        "metadata: {name: next-wave}\nspec:\n  domain: prod\n"
        f"  dataAccessRoleArn: {ROLE}\n  input: {{manifest: 's3://acme-in/manifests/next.json'}}\n"
        "  output: {s3Uri: 's3://acme-out/out/', kmsKeyId: alias/acme}\n"
    )
    acme.sandbox.reset_calls()
    capsys.readouterr()
    assert acme.run("apply", str(acme.specs), "--auto-approve", "--token-lifetime", "0") == EXIT_OK
    assert acme.starts() == 1
    assert acme.sandbox.calls().get("ListSpeakerEnrollmentJobs", 0) >= 1  # listed in full
    state = LocalStateStore(acme.state).read()
    assert state.orphans == []
    assert [r.job_id for r in state.specs["SpeakerEnrollmentJob/pilot"].jobs] == [enrolled]
    acme.end_jobs()
    plan = acme.plan(capsys, "--token-lifetime", "0")
    assert {k: a for k, (a, _) in _actions(plan).items()} == {
        "SpeakerEnrollmentJob/pilot": "in-sync",
        "SpeakerEnrollmentJob/next-wave": "in-sync",
    }


def test_a_running_imported_job_is_followed_to_its_end_by_its_jobid(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """A job still running when imported is in sync and running; when it ends, the next apply
    records its end (found by its JobId: its JobName has no hash) and starts nothing."""
    acme.sandbox.freeze_clock()
    enrolled = acme.enroll_by_hand("still-running")
    assert acme.import_("--write") == EXIT_OK
    plan = acme.plan(capsys)
    (action,) = plan["actions"]
    assert (action["action"], action["jobId"], action["status"]) == (
        "in-sync",
        enrolled,
        "SUBMITTED",
    )
    acme.end_jobs()
    acme.sandbox.reset_calls()
    assert acme.run("apply", str(acme.specs), "--auto-approve") == EXIT_OK
    assert acme.starts() == 0
    (record,) = LocalStateStore(acme.state).read().specs["SpeakerEnrollmentJob/still-running"].jobs
    assert record.status is JobStatus.COMPLETED
    assert record.ended_at


def test_an_apply_of_main_before_the_pull_request_merged_never_starts_the_imported_jobs(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """import --write records the jobs at once; until the specs are merged, an apply of main
    (without them) retires the ended jobs as tombstones; once merged, the specs take them back:
    in sync, and no Start ever."""
    acme.enroll_by_hand("pilot")
    acme.end_jobs()
    assert acme.import_("--write") == EXIT_OK
    main_branch = acme.tmp / "main-specs"
    main_branch.mkdir()
    acme.sandbox.reset_calls()
    capsys.readouterr()
    assert acme.run("apply", str(main_branch), "--auto-approve") == EXIT_OK
    assert "SpeakerEnrollmentJob/pilot" not in LocalStateStore(acme.state).read().specs
    plan = acme.plan(capsys)
    assert [(a["name"], a["action"]) for a in plan["actions"]] == [("pilot", "in-sync")]
    assert acme.run("apply", str(acme.specs), "--auto-approve") == EXIT_OK
    assert acme.starts() == 0


def test_after_a_state_rebuild_import_records_the_jobs_again_from_their_specs(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state rebuilt from Voice ID alone does not know imported jobs (no hash in their
    JobName): import --write records them again from the spec files' labels, after the same
    checks, and plan is in sync again with 0 starts."""
    enrolled = acme.enroll_by_hand("pilot")
    acme.end_jobs()
    assert acme.import_("--write") == EXIT_OK
    assert acme.run("state", "rebuild", str(acme.specs)) == EXIT_OK
    rebuilt = LocalStateStore(acme.state).read().specs.get("SpeakerEnrollmentJob/pilot")
    assert rebuilt is None or not rebuilt.jobs + rebuilt.history  # the job is not known
    capsys.readouterr()
    assert acme.import_("--write") == EXIT_OK
    out = capsys.readouterr().out
    assert "the state did not record the job: recorded again" in out
    state = LocalStateStore(acme.state).read()
    assert [r.job_id for r in state.specs["SpeakerEnrollmentJob/pilot"].jobs] == [enrolled]
    acme.sandbox.reset_calls()
    plan = acme.plan(capsys)
    assert [(a["name"], a["action"]) for a in plan["actions"]] == [("pilot", "in-sync")]


def test_after_a_lost_state_apply_finds_an_imported_job_by_its_spec_and_starts_nothing(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """The state is rebuilt (or lost) and nobody runs import again: the next apply describes
    the job the spec's imported-from label names, records it as the spec's, and starts
    nothing — the spec file is the proof, Voice ID the truth. One Describe, once."""
    enrolled = acme.enroll_by_hand("pilot")
    acme.end_jobs()
    assert acme.import_("--write") == EXIT_OK
    assert acme.run("state", "rebuild", str(acme.specs)) == EXIT_OK
    acme.sandbox.reset_calls()
    assert acme.run("apply", str(acme.specs), "--state", str(acme.state), "--tps", "0") == EXIT_OK
    calls = acme.sandbox.calls()
    assert not calls.get("StartSpeakerEnrollmentJob")
    assert calls.get("DescribeSpeakerEnrollmentJob") == 1
    state = LocalStateStore(acme.state).read()
    assert [r.job_id for r in state.specs["SpeakerEnrollmentJob/pilot"].jobs] == [enrolled]
    acme.sandbox.reset_calls()
    assert acme.run("apply", str(acme.specs), "--state", str(acme.state), "--tps", "0") == EXIT_OK
    assert not acme.sandbox.calls().get("DescribeSpeakerEnrollmentJob")  # recorded: no call


def test_an_imported_spec_changed_since_is_not_recorded_again_as_its_job(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """A spec bumped to revision 1 after its import, then a rebuilt state: import does not
    record the old job as the changed spec's (that would hide the change); it says why."""
    acme.enroll_by_hand("pilot")
    acme.end_jobs()
    assert acme.import_("--write") == EXIT_OK
    path = acme.out / "pilot.yaml"
    path.write_text(path.read_text() + "  revision: 1\n")
    assert acme.run("state", "rebuild", str(acme.specs)) == EXIT_OK
    capsys.readouterr()
    assert acme.import_("--write") == EXIT_OK
    out = capsys.readouterr().out
    assert "changed since it was imported" in out
    assert "not recorded again" in out
    entry = LocalStateStore(acme.state).read().specs.get("SpeakerEnrollmentJob/pilot")
    assert entry is None or not entry.jobs + entry.history


# --- what can be proven about the manifest; what cannot be imported --------------------------


def test_manifests_replaced_since_or_gone_and_outputs_without_a_key(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Jobs seeded as run a month ago: one whose manifest was written since (imported, in
    sync, its spec's comment and the report say the job read earlier content and what running
    it again would read); one whose manifest is gone (a record only: every line a comment, no
    state entry, not a spec to any plan); one whose output has no KMS key (not importable,
    said why). Plan: the one spec in sync, nothing to start."""
    jobs = [
        {
            "kind": "SpeakerEnrollmentJob", "name": "console-pilot", "status": "COMPLETED",
            "created": "30d ago", "ended": "30d ago",
            "manifest": "s3://acme-in/manifests/pilot.json", "output": "s3://acme-out/out/",
            "kmsKey": "alias/acme", "role": ROLE,
        },
        {
            "kind": "SpeakerEnrollmentJob", "name": "gone_manifest", "status": "FAILED",
            "created": "20d ago", "ended": "20d ago",
            "manifest": "s3://acme-in/manifests/deleted.json", "output": "s3://acme-out/out/",
            "kmsKey": "alias/acme", "role": ROLE,
        },
        {
            "kind": "FraudsterRegistrationJob", "name": "no-key", "status": "COMPLETED",
            "created": "10d ago", "ended": "10d ago",
            "manifest": "s3://acme-in/manifests/fraud.json", "output": "s3://acme-out/out/",
            "role": ROLE,
        },
    ]  # fmt: skip
    voiceid_env.seed_world(_world(jobs))
    acme = Acme(voiceid_env, "", {}, tmp_path)
    capsys.readouterr()
    assert acme.import_("--write") == EXIT_OK
    out = capsys.readouterr().out
    assert "its manifest was replaced after the job was created" in out
    assert "record only: the manifest is gone" in out
    assert "! job 'no-key'" in out
    assert "no KMS key of its own" in out
    assert SPEAKER not in out
    assert "s3://" not in out
    spec = (acme.out / "console-pilot.yaml").read_text()
    assert "The manifest was replaced after the job was created" in spec
    assert "running the spec again would read that, not what the job read" in spec
    record = (acme.out / "gone-manifest.yaml").read_text()
    assert record.startswith("# voiceid-reconciler import of job ")
    assert all(line.startswith("#") for line in record.splitlines())
    assert "NOT A SPEC: the manifest is gone" in record
    assert sorted(p.name for p in acme.out.iterdir()) == [
        "console-pilot.yaml",
        "gone-manifest.yaml",
    ]
    state = LocalStateStore(acme.state).read()
    assert sorted(state.specs) == ["SpeakerEnrollmentJob/console-pilot"]
    plan = acme.plan(capsys)
    assert [(a["name"], a["action"]) for a in plan["actions"]] == [("console-pilot", "in-sync")]
    capsys.readouterr()
    assert acme.import_("--write") == EXIT_OK
    again = capsys.readouterr().out
    assert "Nothing new to import." in again
    assert "recorded only, in" in again


def test_two_jobs_of_one_request_become_two_specs_told_apart_by_revision(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same request run twice by hand: one hash cannot stand for two jobs, so the second
    spec has revision 1 (said in its comment); both in sync, nothing starts."""
    first = acme.enroll_by_hand("weekly")
    acme.end_jobs()
    second = acme.enroll_by_hand("weekly")
    acme.end_jobs()
    assert acme.import_("--write") == EXIT_OK
    later = (acme.out / "weekly-2.yaml").read_text()
    assert "  revision: 1\n" in later
    assert "1 earlier job(s) of this domain" in later
    assert "revision" not in (acme.out / "weekly.yaml").read_text().split("apiVersion")[1]
    acme.sandbox.reset_calls()
    plan = acme.plan(capsys)
    assert _actions(plan) == {
        "SpeakerEnrollmentJob/weekly": ("in-sync", first),
        "SpeakerEnrollmentJob/weekly-2": ("in-sync", second),
    }
    assert acme.run("apply", str(acme.specs), "--auto-approve") == EXIT_OK
    assert acme.starts() == 0


# --- selection: --job-id, --kind, --since ------------------------------------------------------


def test_job_id_describes_only_that_job_and_one_of_our_naming_is_said_so(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """--job-id imports that job alone (no listing: one Describe per kind tried); a JobId of
    our naming is named as already ours, never offered."""
    enrolled = acme.enroll_by_hand("pilot")
    acme.register_by_hand("other")
    ours = acme.aws(
        "start-fraudster-registration-job", "--job-name", OUR_NAMING, "--domain-id",
        acme.domain_id, "--data-access-role-arn", ROLE,
        "--input-data-config", "S3Uri=s3://acme-in/manifests/fraud.json",
        "--output-data-config", "S3Uri=s3://acme-out/out/,KmsKeyId=alias/acme",
    )["Job"]["JobId"]  # fmt: skip
    acme.end_jobs()
    acme.sandbox.reset_calls()
    capsys.readouterr()
    assert acme.import_("--write", "--job-id", enrolled, "--job-id", ours) == EXIT_OK
    out = capsys.readouterr().out
    assert "of our naming: already FraudsterRegistrationJob/emea-callers's job" in out
    assert [p.name for p in acme.out.iterdir()] == ["pilot.yaml"]
    calls = acme.sandbox.calls()
    assert not any(op.startswith("List") and op.endswith("Jobs") for op in calls), calls


def test_kind_and_since_select_the_jobs_listed(
    acme: Acme, capsys: pytest.CaptureFixture[str]
) -> None:
    """--kind lists one kind only; --since leaves out jobs created before it, and says so."""
    acme.enroll_by_hand("old")
    acme.end_jobs()
    since = iso(acme.sandbox.now() + 3600)
    acme.sandbox.advance_clock(7200)
    acme.enroll_by_hand("new")
    acme.register_by_hand("fraud")
    acme.end_jobs()
    capsys.readouterr()
    assert acme.import_("--kind", "SpeakerEnrollmentJob", "--since", since) == EXIT_OK
    out = capsys.readouterr().out
    assert "2 job(s) listed; 1 created before --since left out" in out
    assert "new.yaml" in out
    assert "old.yaml" not in out
    assert "fraud" not in out


def test_since_takes_a_time_or_an_age() -> None:
    """--since: an ISO date or time (UTC when it names no zone), or an age with a unit."""
    assert _since("2026-01-31") == (epoch("2026-01-31T00:00:00Z"), None)
    assert _since("2026-01-31T09:00:00Z") == (epoch("2026-01-31T09:00:00Z"), None)
    assert _since("2026-01-31T10:00:00+01:00") == (epoch("2026-01-31T09:00:00Z"), None)
    assert _since("90m") == (None, 5400.0)
    assert _since("30d") == (None, 30 * 86400.0)


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--domain", "prd"], "--domain prd: domain 'prd' not found; did you mean 'prod'?"),
        (["--job-id", "nope"], "argument --job-id: expected a JobId (22 letters and digits)"),
        (["--since", "yesterday"], "argument --since: expected a time (2026-01-31"),
        (["--job-id", "A" * 22], f"--job-id {'A' * 22}: no SpeakerEnrollmentJob or"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    acme: Acme, capsys: pytest.CaptureFixture[str], argv: list[str], said: str
) -> None:
    """A domain not found, a malformed JobId or time, a JobId the domain does not have: one
    line naming the flag, exit 1, nothing written."""
    argv = ["--domain", "prod", *argv] if argv[0] != "--domain" else argv
    capsys.readouterr()
    code = main(["import", *argv, "--out", str(acme.out), "--state", str(acme.state), "--write"])
    assert code == EXIT_ERROR
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err
    assert not acme.out.exists()
    assert not acme.state.exists()


def test_out_that_is_a_file_is_refused(acme: Acme, capsys: pytest.CaptureFixture[str]) -> None:
    """--out naming a file is one line and exit 1."""
    acme.specs.mkdir()
    acme.out.write_text("")
    assert acme.import_() == EXIT_ERROR
    assert f"--out {acme.out}: not a directory" in capsys.readouterr().err


# --- the rules, without a network --------------------------------------------------------------


def _job(**fields: Any) -> ObservedJob:
    base: dict[str, Any] = {
        "kind": JobKind.ENROLLMENT,
        "domain_id": "D" * 22,
        "job_id": "J" * 22,
        "job_name": "Pilot_Enrollment",
        "status": JobStatus.COMPLETED,
        "created_at": "2026-11-01T09:00:00Z",
    }
    return ObservedJob(**{**base, **fields})


def test_spec_names_follow_the_jobname_within_the_pattern_and_unique() -> None:
    """A JobName becomes a metadata.name: lower case, '_' and the rest as '-', at most 63,
    unique (-2, -3, ... within 63); no JobName: kind and JobId."""
    assert spec_name(_job(), set()) == "pilot-enrollment"
    assert spec_name(_job(), {"pilot-enrollment"}) == "pilot-enrollment-2"
    assert spec_name(_job(), {"pilot-enrollment", "pilot-enrollment-2"}) == "pilot-enrollment-3"
    long = spec_name(_job(job_name="A" * 100 + "_x"), set())
    assert long == "a" * 63
    assert spec_name(_job(job_name="A" * 100), {"a" * 63}) == "a" * 61 + "-2"
    assert spec_name(_job(job_name="__x__"), set()) == "x"
    assert spec_name(_job(job_name=None, job_id="AbC" + "d" * 19), set()) == (
        "enrollment-abc" + "d" * 19
    )
    for name in ("pilot-enrollment", long, "x"):
        SpeakerEnrollmentJob.model_validate(
            {
                "apiVersion": "voiceid-reconciler/v1",
                "kind": "SpeakerEnrollmentJob",
                "metadata": {"name": name},
                "spec": {
                    "domain": "d",
                    "dataAccessRoleArn": ROLE,
                    "input": {"manifest": "s3://bkt/m.json"},
                    "output": {"s3Uri": "s3://bkt/o/", "kmsKeyId": "k"},
                },
            }
        )


@pytest.mark.parametrize(
    ("written", "state", "proof"),
    [
        (-1.0, ObjectState.FOUND, Proof.UNCHANGED),  # a whole second before: the job read it
        (-0.5, ObjectState.FOUND, Proof.UNKNOWN),  # the same second: cannot tell
        (0.0, ObjectState.FOUND, Proof.UNKNOWN),
        (0.5, ObjectState.FOUND, Proof.REPLACED),  # after the job was created
        (None, ObjectState.FOUND, Proof.UNKNOWN),
        (None, ObjectState.GONE, Proof.GONE),
    ],
)
def test_what_a_manifests_lastmodified_proves(
    written: float | None, state: ObjectState, proof: Proof
) -> None:
    """LastModified (to the second) against CreatedAt: unchanged only when written a whole
    second before the job was created; replaced when written after; else unknown; gone."""
    created = "2026-11-01T09:00:00Z"
    at = None if written is None else epoch(created) + written
    assert manifest_proof(created, ManifestHead(state, at)).proof is proof


def test_the_request_check_names_each_field_the_spec_would_send_otherwise() -> None:
    """A spec's request is compared with the job's, Voice ID's defaults filled in: equal when
    the job left the configuration out; each differing field named by its path."""
    job = _job()
    settings = JobSettings(
        data_access_role_arn=ROLE,
        input_s3_uri="s3://bkt/m.json",
        output_s3_uri="s3://bkt/o/",
        kms_key_id="alias/k",
    )
    draft = Draft(job, settings, "pilot", "D" * 22, None)
    text = spec_text(draft, domain_name=None, notes=(), spec_hash=None)
    import yaml

    document = SpeakerEnrollmentJob.model_validate(yaml.safe_load(text))
    request = start_request(document, Resolution("D" * 22), manifest_digest="etag:e")
    assert differences(request, job, settings) == []
    other = start_request(document, Resolution("D" * 22, "W" * 22), manifest_digest="etag:e")
    assert differences(other, job, settings) == [
        "EnrollmentConfig.FraudDetectionConfig.WatchlistIds"
    ]
    assert differences(request, _job(domain_id="E" * 22), settings) == ["DomainId"]


def test_imported_jobs_events_count_as_delivered_to_every_sink_known() -> None:
    """The started and ended events of an imported job are history: marked delivered in every
    sink's ledger, so that no sink is told of a month-old job as news."""
    state = State()
    state.notified["sink"] = SinkLedger(delivered=["started/other"])
    job = _job(job_id="J" * 22)
    settings = JobSettings(ROLE, "s3://bkt/m.json", "s3://bkt/o/", "alias/k")
    document = SpeakerEnrollmentJob.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": "SpeakerEnrollmentJob",
            "metadata": {"name": "pilot"},
            "spec": {
                "domain": "D" * 22,
                "dataAccessRoleArn": ROLE,
                "input": {"manifest": "s3://bkt/m.json"},
                "output": {"s3Uri": "s3://bkt/o/", "kmsKeyId": "alias/k"},
            },
        }
    )
    from reconciler.core.adoption import record

    request = start_request(document, Resolution("D" * 22), manifest_digest="etag:e")
    assert differences(request, job, settings) == []
    record(
        state,
        key="SpeakerEnrollmentJob/pilot",
        name="pilot",
        job=job,
        request=request,
        max_attempts=1,
        at="2026-12-01T00:00:00Z",
    )
    ids = settle_notifications(state, [job.job_id])
    assert ids == [f"ended/{'J' * 22}/COMPLETED", f"started/{'J' * 22}"]
    assert state.notified["sink"].delivered == sorted(["started/other", *ids])


def test_a_manifest_replaced_while_importing_is_refused(acme: Acme, tmp_path: Path) -> None:
    """The object whose LastModified was read must be the one the hash is of: when the ETag
    resolved under the lock is another (the object replaced meanwhile), the job is refused,
    nothing recorded."""
    from reconciler.adapters.adoption import ObjectHeads, SettingsReader
    from reconciler.adapters.aws import make_client
    from reconciler.adapters.objects import Manifests
    from reconciler.adapters.voiceid import VoiceId
    from reconciler.runner.adopt import import_jobs
    from reconciler.runner.adopt_values import ImportOptions, Outcome, Sources

    acme.enroll_by_hand("pilot")
    acme.end_jobs()
    voiceid = VoiceId(make_client("voice-id"), tps=0)
    objects = Manifests(make_client("s3"))
    heads = ObjectHeads(objects.client)

    class Replaced:
        def heads(self, uris: Any) -> dict[str, ManifestHead]:
            return {
                uri: ManifestHead(head.state, head.last_modified, "another-etag")
                for uri, head in heads.heads(uris).items()
            }

    store = LocalStateStore(acme.state)
    sources = Sources(voiceid, SettingsReader(voiceid), objects, Replaced())
    report = import_jobs(store, sources, ImportOptions("prod", acme.out, write=True))
    (item,) = report.items
    assert (item.outcome, item.said) == (
        Outcome.REFUSED,
        "its manifest was replaced while importing",
    )
    assert store.read().specs == {}
    assert list(acme.out.iterdir()) == []


DOCS = Path(__file__).resolve().parent.parent / "docs" / "import.md"


def test_docs_import_command_lines_parse_and_every_option_has_its_row() -> None:
    """Every ``voiceid-reconciler`` line of docs/import.md is one the CLI's parser takes, and
    each option of ``import`` has its row in the page's table."""
    import re
    import shlex

    from reconciler.cli.app import parser

    text = DOCS.read_text(encoding="utf-8")
    lines = [
        line.split("#", 1)[0]
        for block in re.findall(r"```sh\n(.*?)```", text, flags=re.DOTALL)
        for line in block.splitlines()
        if line.startswith("voiceid-reconciler ")
    ]
    assert len(lines) >= 4
    for line in lines:
        args = parser().parse_args(shlex.split(line)[1:])
        assert args.command in ("import", "plan")
    (command,) = [
        action
        for action in parser()._subparsers._group_actions  # type: ignore[union-attr]
        if hasattr(action, "choices") and "import" in (action.choices or {})
    ]
    options = {
        flag
        for action in command.choices["import"]._actions
        for flag in action.option_strings
        if flag.startswith("--") and flag != "--help"
    }
    rows = "\n".join(line.split(" | ")[0] for line in text.splitlines() if line.startswith("| `"))
    common = {"--debug", "--quiet", "--log-format", "--lock-ttl"}
    missing = {flag for flag in options - common if f"`{flag}" not in rows}
    assert missing == set(), "options of import without a row in docs/import.md"


def test_the_settings_read_of_a_describe_answer_are_the_botocore_models() -> None:
    """Each member the settings reader takes from a Describe answer exists in botocore's
    voice-id model of both kinds' jobs (the other kind's configuration aside) with its enum,
    bounds and pattern; the comparison fails on a model that drifted."""
    import typing
    from typing import Annotated, Literal

    import annotated_types
    import botocore.session
    from pydantic import BaseModel, StringConstraints

    from reconciler.adapters.adoption import _Settings

    def unwrap(annotation: Any) -> tuple[Any, list[Any]]:
        found: list[Any] = []
        while True:
            args = typing.get_args(annotation)
            if type(None) in args:
                (annotation,) = [a for a in args if a is not type(None)]
            elif typing.get_origin(annotation) is Annotated:
                annotation, *more = args
                for item in more:
                    found.extend(getattr(item, "metadata", None) or [item])
            else:
                return annotation, found

    def compare(model: type[BaseModel], shape: Any, where: str) -> list[str]:
        problems = []
        for name, field in model.model_fields.items():
            member = shape.members.get(name)
            if member is None:
                problems.append(f"{where}.{name}: not in {shape.name}")
                continue
            annotation, constraints = unwrap(field.annotation)
            constraints += field.metadata
            meta = member.metadata
            if member.type_name == "structure":
                problems += compare(annotation, member, f"{where}.{name}")
            elif member.type_name == "list":
                high = [c.max_length for c in constraints if isinstance(c, annotated_types.MaxLen)]
                if high != [meta.get("max")]:
                    problems.append(f"{where}.{name}: at most {high}, the model's {meta}")
            elif member.type_name == "integer":
                low = [c.ge for c in constraints if isinstance(c, annotated_types.Ge)]
                high = [c.le for c in constraints if isinstance(c, annotated_types.Le)]
                if (low, high) != ([meta["min"]], [meta["max"]]):
                    problems.append(f"{where}.{name}: {low}..{high}, the model's {meta}")
            elif "enum" in meta:
                if set(typing.get_args(annotation)) != set(meta["enum"]):
                    problems.append(f"{where}.{name}: not the model's enum")
            else:
                strings = [c for c in constraints if isinstance(c, StringConstraints)]
                ours = [(s.min_length, s.max_length, s.pattern) for s in strings]
                theirs = [(meta.get("min"), meta.get("max"), meta.get("pattern"))]
                if ours != theirs:
                    problems.append(f"{where}.{name}: {ours}, the model's {theirs}")
        return problems

    model = botocore.session.get_session().get_service_model("voice-id")
    other = {
        "SpeakerEnrollmentJob": "RegistrationConfig",
        "FraudsterRegistrationJob": "EnrollmentConfig",
    }
    for kind, not_its in other.items():
        problems = compare(_Settings, model.shape_for(kind), kind)
        assert problems == [f"{kind}.{not_its}: not in {kind}"]

    class Drifted(BaseModel):
        ExistingEnrollmentAction: Literal["SKIP", "MERGE"] | None = None

    assert compare(Drifted, model.shape_for("EnrollmentConfig"), "x") == [
        "x.ExistingEnrollmentAction: not the model's enum"
    ]
