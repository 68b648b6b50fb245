"""pytest fixtures for the Voice ID sandbox.

Register with ``pytest_plugins = ["reconciler.sandbox.testing"]`` in the top-level conftest.

* ``voiceid_sandbox_server`` (session): one running ``Sandbox`` per test process (fast
  profile, 0.2 s jobs). Use it directly only for read-mostly tests that tolerate shared state.
* ``voiceid_sandbox`` (function): the same server, reset to a fresh state first: no Voice ID
  state, empty S3/KMS, initial knobs, zero counters, a running clock with no offset.
* ``voiceid_env`` (function): ``voiceid_sandbox``'s ``env()`` set in ``os.environ`` with
  ``AWS_PROFILE`` and config/credential files unset, for code and subprocesses that read the
  standard AWS settings; returns the sandbox.
* ``voiceid_client`` / ``voiceid_s3_client`` (function): boto3 clients bound to
  ``voiceid_sandbox`` with retries off (one attempt). They are created once per session (client
  creation costs ~0.1 s) and closed at its end; do not register events on them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from reconciler.sandbox.sandbox import Sandbox

TEST_JOB_DURATION = 0.2


@pytest.fixture(scope="session")
def voiceid_sandbox_server() -> Iterator[Sandbox]:
    """One running sandbox for the whole test process."""
    with Sandbox(profile="fast", job_duration=TEST_JOB_DURATION) as sandbox:
        yield sandbox


@pytest.fixture
def voiceid_sandbox(voiceid_sandbox_server: Sandbox) -> Sandbox:
    """The session's sandbox, reset to a fresh state (fast profile, 0.2 s jobs)."""
    voiceid_sandbox_server.reset(aws=True)
    return voiceid_sandbox_server


@pytest.fixture
def voiceid_env(voiceid_sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    """``voiceid_sandbox`` with its settings in ``os.environ`` and no AWS profile."""
    for name in ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name, value in voiceid_sandbox.env().items():
        monkeypatch.setenv(name, value)
    return voiceid_sandbox


@pytest.fixture(scope="session")
def _voiceid_session_clients(voiceid_sandbox_server: Sandbox) -> Iterator[dict[str, Any]]:
    """The session's boto3 clients, one per service, closed at the end."""
    clients = {
        name: voiceid_sandbox_server.client(name, retries={"total_max_attempts": 1})
        for name in ("voice-id", "s3")
    }
    yield clients
    for client in clients.values():
        client.close()


@pytest.fixture
def voiceid_client(voiceid_sandbox: Sandbox, _voiceid_session_clients: dict[str, Any]) -> Any:
    """A boto3 ``voice-id`` client on ``voiceid_sandbox``, one attempt per call."""
    return _voiceid_session_clients["voice-id"]


@pytest.fixture
def voiceid_s3_client(voiceid_sandbox: Sandbox, _voiceid_session_clients: dict[str, Any]) -> Any:
    """A boto3 ``s3`` client on ``voiceid_sandbox`` (path-style by default for an IP)."""
    return _voiceid_session_clients["s3"]
