"""The AWS CLI (a separate process, set up by the standard AWS settings) against the sandbox."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from .conftest import Cli, Kit


def test_cli_domain_and_watchlist_operations(kit: Kit, cli: Cli) -> None:
    """create/describe/update/list domains and create/describe/list watchlists via the CLI."""
    key = kit.world.kms_key_arn
    created = cli.json(
        "voice-id",
        "create-domain",
        "--name",
        "cli-domain",
        "--server-side-encryption-configuration",
        f"KmsKeyId={key}",
    )["Domain"]
    domain_id = created["DomainId"]
    watchlist = cli.json(
        "voice-id", "create-watchlist", "--domain-id", domain_id, "--name", "cli-watchlist"
    )["Watchlist"]
    commands = {
        "describe": ("voice-id", "describe-domain", "--domain-id", domain_id),
        "update": (
            "voice-id",
            "update-domain",
            "--domain-id",
            domain_id,
            "--name",
            "renamed",
            "--server-side-encryption-configuration",
            f"KmsKeyId={key}",
        ),
        "list": ("voice-id", "list-domains", "--page-size", "1"),
        "watchlist": (
            "voice-id",
            "describe-watchlist",
            "--domain-id",
            domain_id,
            "--watchlist-id",
            watchlist["WatchlistId"],
        ),
        "watchlists": ("voice-id", "list-watchlists", "--domain-id", domain_id),
    }
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        results = dict(
            zip(commands, pool.map(lambda c: cli.json(*c), commands.values()), strict=True)
        )
    assert results["describe"]["Domain"]["DomainId"] == domain_id
    assert results["update"]["Domain"]["Name"] == "renamed"
    assert len(results["list"]["DomainSummaries"]) == 2
    assert results["watchlist"]["Watchlist"]["Name"] == "cli-watchlist"
    assert len(results["watchlists"]["WatchlistSummaries"]) == 2
    assert kit.sb.calls()["ListDomains"] == 2


def test_cli_job_operations_speakers_and_pagination(kit: Kit, cli: Cli) -> None:
    """Start/describe/list both job kinds, list/describe speakers and paginate via the CLI."""
    kit.sb.configure(max_active_jobs=10)
    enroll_uri = kit.put("manifests/cli.json", kit.enrollment_manifest(3))
    fraud_uri = kit.put(
        "manifests/cli-fraud.json", kit.registration_manifest([kit.world.audio_uris[4:]])
    )
    common = [
        "--domain-id",
        kit.world.domain_id,
        "--data-access-role-arn",
        kit.world.role_arn,
        "--output-data-config",
        json.dumps({"S3Uri": kit.world.output_prefix, "KmsKeyId": kit.world.kms_key_id}),
    ]

    def start(kind: str, uri: str, name: str) -> dict[str, Any]:
        job: dict[str, Any] = cli.json(
            "voice-id",
            f"start-{kind}-job",
            *common,
            "--job-name",
            name,
            "--input-data-config",
            json.dumps({"S3Uri": uri}),
        )["Job"]
        return job

    with ThreadPoolExecutor(max_workers=4) as pool:
        enrollments = list(
            pool.map(lambda n: start("speaker-enrollment", enroll_uri, n), ["e1", "e2", "e3"])
        )
        registration = pool.submit(start, "fraudster-registration", fraud_uri, "f1").result()
    assert {j["JobStatus"] for j in [*enrollments, registration]} == {"SUBMITTED"}
    kit.finish()
    kit.sb.reset_calls()
    domain = ["--domain-id", kit.world.domain_id]
    commands = {
        "enrollment": (
            "voice-id",
            "describe-speaker-enrollment-job",
            *domain,
            "--job-id",
            enrollments[0]["JobId"],
        ),
        "registration": (
            "voice-id",
            "describe-fraudster-registration-job",
            *domain,
            "--job-id",
            registration["JobId"],
        ),
        "jobs": ("voice-id", "list-speaker-enrollment-jobs", *domain, "--page-size", "1"),
        "first-two": ("voice-id", "list-speaker-enrollment-jobs", *domain, "--max-items", "2"),
        "fraud-jobs": (
            "voice-id",
            "list-fraudster-registration-jobs",
            *domain,
            "--job-status",
            "COMPLETED",
        ),
        "speakers": ("voice-id", "list-speakers", *domain),
        "speaker": ("voice-id", "describe-speaker", *domain, "--speaker-id", "spk-2"),
    }
    with ThreadPoolExecutor(max_workers=len(commands)) as pool:
        results = dict(
            zip(commands, pool.map(lambda c: cli.json(*c), commands.values()), strict=True)
        )
    assert results["enrollment"]["Job"]["JobStatus"] == "COMPLETED"
    assert results["registration"]["Job"]["JobStatus"] == "COMPLETED"
    assert sorted(j["JobName"] for j in results["jobs"]["JobSummaries"]) == ["e1", "e2", "e3"]
    assert len(results["first-two"]["JobSummaries"]) == 2
    assert "NextToken" in results["first-two"]
    assert len(results["fraud-jobs"]["JobSummaries"]) == 1
    assert sorted(s["CustomerSpeakerId"] for s in results["speakers"]["SpeakerSummaries"]) == [
        "spk-0",
        "spk-1",
        "spk-2",
    ]
    assert results["speaker"]["Speaker"]["Status"] == "ENROLLED"
    assert kit.sb.calls()["ListSpeakerEnrollmentJobs"] >= 3 + 1


def test_cli_errors_and_env_only_configuration(kit: Kit, cli: Cli) -> None:
    """The CLI sees the modelled errors, and finds the sandbox from AWS_ENDPOINT_URL alone."""
    uri = kit.put("manifests/one.json", kit.enrollment_manifest(1))
    start = (
        "voice-id",
        "start-speaker-enrollment-job",
        "--domain-id",
        kit.world.domain_id,
        "--data-access-role-arn",
        kit.world.role_arn,
        "--input-data-config",
        json.dumps({"S3Uri": uri}),
        "--output-data-config",
        json.dumps({"S3Uri": kit.world.output_prefix}),
    )
    assert cli.run(*start).returncode == 0
    commands = {
        "quota": start,
        "missing-job": (
            "voice-id",
            "describe-fraudster-registration-job",
            "--domain-id",
            kit.world.domain_id,
            "--job-id",
            "Z" * 22,
        ),
        "bad-pattern": ("voice-id", "list-speakers", "--domain-id", "!" * 22),
        "missing-domain": ("voice-id", "list-fraudster-registration-jobs", "--domain-id", "Z" * 22),
    }
    with ThreadPoolExecutor(max_workers=len(commands) + 1) as pool:
        results = dict(
            zip(commands, pool.map(lambda c: cli.run(*c), commands.values()), strict=True)
        )
        env_only = pool.submit(cli.run, "voice-id", "list-domains", endpoint=False).result()
    expected = {
        "quota": "ServiceQuotaExceededException",
        "missing-job": "ResourceNotFoundException",
        "bad-pattern": "ValidationException",
        "missing-domain": "ResourceNotFoundException",
    }
    for name, code in expected.items():
        assert results[name].returncode != 0, name
        assert f"({code})" in results[name].stderr, results[name].stderr
    assert env_only.returncode == 0, env_only.stderr
    assert json.loads(env_only.stdout)["DomainSummaries"][0]["DomainId"] == kit.world.domain_id
