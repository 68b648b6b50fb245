"""Fixtures for the sandbox's own tests.

The sandbox fixtures (``voiceid_sandbox`` ...) come from the ``reconciler.sandbox.testing``
plugin, which the top-level ``tests/conftest.py`` registers with ``pytest_plugins``.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from reconciler.core.kinds import JobKind
from reconciler.core.roster import Request, render_manifest
from reconciler.sandbox import DemoWorld, Sandbox

VOICEID_JSON = "application/x-amz-json-1.0"


def raw_call(
    endpoint_url: str, operation: str, body: Any, *, raw: bytes | None = None
) -> tuple[int, dict[str, Any]]:
    """POST one Voice ID request without botocore (so invalid bodies reach the sandbox)."""
    url = urlparse(endpoint_url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=30)
    try:
        payload = raw if raw is not None else json.dumps(body).encode()
        conn.request(
            "POST",
            "/",
            body=payload,
            headers={
                "X-Amz-Target": f"VoiceID.{operation}",
                "Content-Type": VOICEID_JSON,
            },
        )
        response = conn.getresponse()
        data = response.read()
        return response.status, json.loads(data) if data else {}
    finally:
        conn.close()


@dataclass
class Kit:
    """A seeded sandbox with a frozen clock, clients and shortcuts for the tests."""

    sb: Sandbox
    world: DemoWorld
    vid: Any
    s3: Any

    def put(self, key: str, body: Any) -> str:
        """Write an object to the demo bucket (dicts as JSON); returns its S3 URI."""
        data = (
            body
            if isinstance(body, bytes)
            else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        )
        self.s3.put_object(Bucket=self.world.bucket, Key=key, Body=data)
        return f"s3://{self.world.bucket}/{key}"

    def enrollment_manifest(self, count: int, prefix: str = "spk") -> dict[str, Any]:
        """A valid enrollment manifest of ``count`` speakers using the demo audio (written by
        the product's writer, as a dict a test may spoil)."""
        audio = self.world.audio_uris
        requests = [Request(f"{prefix}-{i}", ((audio[i % len(audio)], 0),)) for i in range(count)]
        parsed: dict[str, Any] = json.loads(render_manifest(JobKind.ENROLLMENT, requests))
        return parsed

    def registration_manifest(self, audio_sets: list[list[str]]) -> dict[str, Any]:
        """A registration manifest with one request per audio set (on channel 1)."""
        requests = [Request(None, tuple((uri, 1) for uri in audio)) for audio in audio_sets]
        parsed: dict[str, Any] = json.loads(render_manifest(JobKind.REGISTRATION, requests))
        return parsed

    def start_params(self, manifest_uri: str, **extra: Any) -> dict[str, Any]:
        """Start* parameters for the demo domain."""
        params: dict[str, Any] = {
            "DomainId": self.world.domain_id,
            "DataAccessRoleArn": self.world.role_arn,
            "InputDataConfig": {"S3Uri": manifest_uri},
            "OutputDataConfig": {
                "S3Uri": self.world.output_prefix,
                "KmsKeyId": self.world.kms_key_id,
            },
        }
        params.update(extra)
        return params

    def start_enrollment(self, manifest_uri: str, **extra: Any) -> dict[str, Any]:
        """Start a speaker enrollment job; returns the Job."""
        job: dict[str, Any] = self.vid.start_speaker_enrollment_job(
            **self.start_params(manifest_uri, **extra)
        )["Job"]
        return job

    def start_registration(self, manifest_uri: str, **extra: Any) -> dict[str, Any]:
        """Start a fraudster registration job; returns the Job."""
        job: dict[str, Any] = self.vid.start_fraudster_registration_job(
            **self.start_params(manifest_uri, **extra)
        )["Job"]
        return job

    def finish(self) -> None:
        """Move the frozen clock past the end of every job started so far."""
        self.sb.advance_clock(self.sb.config.job_duration + 0.001)

    def enrollment(self, job_id: str) -> dict[str, Any]:
        """DescribeSpeakerEnrollmentJob."""
        job: dict[str, Any] = self.vid.describe_speaker_enrollment_job(
            DomainId=self.world.domain_id, JobId=job_id
        )["Job"]
        return job

    def registration(self, job_id: str) -> dict[str, Any]:
        """DescribeFraudsterRegistrationJob."""
        job: dict[str, Any] = self.vid.describe_fraudster_registration_job(
            DomainId=self.world.domain_id, JobId=job_id
        )["Job"]
        return job

    def output(self, job_id: str, input_name: str) -> dict[str, Any]:
        """The job's output file, read through the S3 API."""
        key = f"output/{job_id}/{input_name}.out"
        body = self.s3.get_object(Bucket=self.world.bucket, Key=key)["Body"].read()
        data: dict[str, Any] = json.loads(body)
        return data

    def raw(self, operation: str, body: Any) -> tuple[int, dict[str, Any]]:
        """A Voice ID request without botocore."""
        return raw_call(self.sb.endpoint_url, operation, body)


@pytest.fixture
def kit(voiceid_sandbox: Sandbox, voiceid_client: Any, voiceid_s3_client: Any) -> Kit:
    """A fresh, seeded sandbox with its clock frozen (jobs end only by ``Kit.finish``)."""
    world = voiceid_sandbox.seed_demo_world()
    voiceid_sandbox.freeze_clock()
    return Kit(voiceid_sandbox, world, voiceid_client, voiceid_s3_client)


def aws_cli() -> list[str]:
    """The AWS CLI of this virtualenv."""
    sibling = Path(sys.executable).with_name("aws")
    if sibling.exists():
        return [str(sibling)]
    found = shutil.which("aws")
    return [found] if found else [sys.executable, "-m", "awscli"]


@dataclass
class Cli:
    """Runs ``aws voice-id ...`` against the sandbox in a subprocess."""

    env: dict[str, str]
    endpoint_url: str

    def run(self, *args: str, endpoint: bool = True) -> subprocess.CompletedProcess[str]:
        """Run the CLI; ``--endpoint-url`` is added unless ``endpoint`` is False."""
        command = [*aws_cli(), *args, "--output", "json"]
        if endpoint:
            command += ["--endpoint-url", self.endpoint_url]
        return subprocess.run(
            command, env=self.env, capture_output=True, text=True, timeout=60, check=False
        )

    def json(self, *args: str) -> dict[str, Any]:
        """Run the CLI, expect success, return its JSON output."""
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        data: dict[str, Any] = json.loads(result.stdout) if result.stdout.strip() else {}
        return data


@pytest.fixture
def cli(voiceid_sandbox: Sandbox) -> Cli:
    """An AWS CLI runner whose environment has only the sandbox's AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(voiceid_sandbox.env())
    env.update(
        {
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }
    )
    return Cli(env, voiceid_sandbox.endpoint_url)
