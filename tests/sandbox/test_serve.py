"""Ways to run the sandbox: the Sandbox lifecycle, its environment, and the foreground server."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from reconciler.sandbox import Sandbox, SandboxAdmin

from .conftest import raw_call

REPO = Path(__file__).resolve().parents[2]


def port_open(port: int) -> bool:
    """True when something accepts connections on 127.0.0.1:port."""
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_sandbox_binds_loopback_and_stops_cleanly() -> None:
    """A Sandbox binds 127.0.0.1 on an ephemeral port and frees it and its thread on stop."""
    sandbox = Sandbox(reset_aws=False)
    with sandbox:
        port = sandbox.port
        assert sandbox.endpoint_url == f"http://127.0.0.1:{port}"
        assert port_open(port)
        thread = sandbox._thread
        assert thread is not None
        assert thread.is_alive()
    assert not sandbox.running
    assert not thread.is_alive()
    assert not port_open(port)
    sandbox.stop()


def test_each_sandbox_has_its_own_voiceid_state(voiceid_sandbox: Sandbox) -> None:
    """Two sandboxes in one process share S3/KMS (moto) but not Voice ID state."""
    voiceid_sandbox.seed_demo_world()
    with Sandbox(reset_aws=False) as other:
        client = other.client("voice-id")
        try:
            assert client.list_domains()["DomainSummaries"] == []
        finally:
            client.close()
        s3 = other.client("s3")
        try:
            names = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        finally:
            s3.close()
    assert names == ["voiceid-sandbox-demo-123456789012"]


def test_env_points_plain_boto3_clients_at_the_sandbox(voiceid_env: Sandbox) -> None:
    """With only env() set, plain boto3 clients reach Voice ID and path-style S3."""
    expected = {
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_VOICE_ID",
        "AWS_ENDPOINT_URL_S3",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
    }
    assert expected <= set(voiceid_env.env())
    assert "AWS_PROFILE" not in os.environ
    s3 = boto3.client("s3")
    voiceid = boto3.client("voice-id")
    try:
        s3.create_bucket(Bucket="plain-client-bucket")
        s3.put_object(Bucket="plain-client-bucket", Key="a/b.txt", Body=b"hello")
        got = s3.get_object(Bucket="plain-client-bucket", Key="a/b.txt")
        assert got["Body"].read() == b"hello"
        assert voiceid.list_domains()["DomainSummaries"] == []
    finally:
        s3.close()
        voiceid.close()
    assert voiceid_env.calls() == {"ListDomains": 1}


def test_path_style_addressing_is_used_for_the_ip_endpoint(voiceid_sandbox: Sandbox) -> None:
    """boto3 addresses S3 path-style on the 127.0.0.1 endpoint (no virtual-host DNS needed)."""
    s3 = voiceid_sandbox.client("s3")
    seen: list[str] = []
    s3.meta.events.register("before-send", lambda request, **_: seen.append(request.url))
    try:
        s3.create_bucket(Bucket="path-style")
        s3.list_objects_v2(Bucket="path-style")
    finally:
        s3.close()
    assert all(url.startswith(f"{voiceid_sandbox.endpoint_url}/path-style") for url in seen)


def read_exports(proc: subprocess.Popen[str], timeout: float = 30.0) -> dict[str, str]:
    """The ``export NAME=VALUE`` lines printed by ``serve`` until its comment line."""
    exports: dict[str, str] = {}
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("export "):
            name, _, value = line[len("export ") :].strip().partition("=")
            exports[name] = value
        if line.startswith("# Voice ID sandbox"):
            return exports
    raise AssertionError(f"serve printed no banner; got {exports}")


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_python_m_sandbox_serves_until_signalled(stop_signal: int) -> None:
    """``python -m reconciler.sandbox --port 0 --seed`` prints exports, serves, stops cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = str(REPO)
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reconciler.sandbox",
            "--port",
            "0",
            "--seed",
            "--job-duration",
            "1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    ) as proc:
        try:
            exports = read_exports(proc)
            url = exports["AWS_ENDPOINT_URL"]
            assert url.startswith("http://127.0.0.1:")
            assert exports["AWS_ENDPOINT_URL_VOICE_ID"] == url
            assert exports["AWS_ENDPOINT_URL_S3"] == url
            admin = SandboxAdmin(url)
            assert admin.config()["job_duration"] == 1.0
            status, body = raw_call(url, "ListDomains", {})
            assert status == 200
            assert body["DomainSummaries"][0]["DomainId"] == exports["VOICEID_SANDBOX_DOMAIN_ID"]
        finally:
            proc.send_signal(stop_signal)
            _, stderr = proc.communicate(timeout=30)
        assert proc.returncode == 0, stderr
    port = int(url.rsplit(":", 1)[1])
    assert not port_open(port)
