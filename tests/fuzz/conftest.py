"""Fuzz targets (Hypothesis): malformed Voice ID answers served by the sandbox, and hostile
environment and flag values, each checked against the product's promises.

``VOICEID_FUZZ_EXAMPLES=N`` sets the examples per target (the CI size is each target's
``ci`` count: the whole run fits in about a minute on two cores); ``VOICEID_FUZZ_SEED`` the
seed (the default is fixed, so that CI is repeatable; a soak passes a new one each time).
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

EXAMPLES_ENV = "VOICEID_FUZZ_EXAMPLES"
SEED_ENV = "VOICEID_FUZZ_SEED"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"fuzz: Hypothesis fuzz targets (${EXAMPLES_ENV}=N for a larger run)"
    )


def examples(ci: int) -> int:
    """The examples of a target: ``$VOICEID_FUZZ_EXAMPLES``, else its CI size."""
    given = os.environ.get(EXAMPLES_ENV, "").strip()
    return int(given) if given else ci


def fuzz_settings(ci: int) -> settings:
    """Hypothesis settings of a target: no deadline (the sandbox is a real server), no example
    database (a run depends on its seed only), health checks that do not fit a stateful
    server off."""
    return settings(
        max_examples=examples(ci),
        deadline=None,
        database=None,
        derandomize=False,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )


def seed() -> int:
    """The seed of every target (``$VOICEID_FUZZ_SEED``, else fixed)."""
    return int(os.environ.get(SEED_ENV, "31"))
