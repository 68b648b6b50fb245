"""Shared test set-up: no test can reach a real AWS account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from reconciler.core.redact import MASK

pytest_plugins = ["reconciler.sandbox.testing"]

_AWS_VARIABLES = (
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_ROLE_ARN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_ENDPOINT_URL",
    "AWS_ENDPOINT_URL_VOICE_ID",
    "AWS_ENDPOINT_URL_S3",
    "VOICEID_RECONCILER_STATE",
    "NO_COLOR",
)


@pytest.fixture(autouse=True)
def _no_real_aws(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Unset credentials and profiles so that nothing can reach a real account."""
    for name in _AWS_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    empty = tmp_path_factory.mktemp("aws-config")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    # The sandbox's List never lags unless a test sets its list_lag knob: trust it at once
    # (tests of the lag guards set the horizon themselves).
    monkeypatch.setenv("VOICEID_RECONCILER_LIST_LAG_HORIZON", "0")


@pytest.fixture(autouse=True)
def _no_rosters_of_other_tests() -> Iterator[None]:
    """The process's redaction mask (``reconciler.core.redact.MASK``) holds no roster when a
    test starts nor after it ends: a test's rosters never redact, or fail to redact, the text
    of another (one that loads no spec would otherwise inherit the last load's rosters)."""
    MASK.clear()
    yield
    MASK.clear()
