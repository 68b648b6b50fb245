"""A local, faithful Amazon Connect Voice ID (with S3 and KMS) for the demo, tests and benchmarks.

Voice ID is end-of-life and moto does not implement it, so this sandbox is the only Voice ID we
can run against. It follows the botocore ``voice-id`` model exactly (awsJson1_0 on ``POST /``
with ``X-Amz-Target: VoiceID.<Operation>``; errors as ``{"__type", "message", ...}``) so code
proven against it works against the real wire protocol. S3 and KMS are moto's real backends
on the same port, so manifests and output files are real S3 objects.

Layout (nothing here imports the rest of the reconciler, and the reconciler's core must never
import this package):

* ``model``    the wire contract read from the botocore model: validation, serialisation;
* ``errors``   Voice ID errors and their wire form;
* ``config``   the knobs (``SandboxConfig``) and profiles;
* ``state``    domains, watchlists, speakers, fraudsters, jobs (one set per sandbox);
* ``jobs``     what a batch job does when it ends (manifest, enrollment, output file);
* ``storage``  S3 and KMS as jobs see them (boto3 against the sandbox itself);
* ``service``  the Voice ID emulator: operations, quotas, idempotency, pagination, throttling;
* ``app``      the WSGI router (Voice ID / admin API / moto) and the admin endpoints;
* ``sandbox``  ``Sandbox``: the server on ``127.0.0.1``, its lifecycle and Python knobs API;
* ``world``    a world of your own: the YAML file, read with positions and checked;
* ``seed``     the demo world, and seeding a ``world``; ``serve`` the foreground server
  (``python -m reconciler.sandbox``);
* ``admin``    a small client for the admin endpoints (for tests that run the CLI in a
  subprocess); ``testing`` the pytest fixtures.

Quick start::

    with Sandbox(profile="fast", job_duration=0.5) as sb:
        world = sb.seed_demo_world()
        os.environ.update(sb.env())
        ...
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.admin import SandboxAdmin
    from reconciler.sandbox.config import PROFILES, SandboxConfig
    from reconciler.sandbox.sandbox import Sandbox
    from reconciler.sandbox.seed import DemoWorld

__all__ = ["PROFILES", "DemoWorld", "Sandbox", "SandboxAdmin", "SandboxConfig"]
_HOMES = {
    "PROFILES": "config",
    "DemoWorld": "seed",
    "Sandbox": "sandbox",
    "SandboxAdmin": "admin",
    "SandboxConfig": "config",
}


def __getattr__(name: str) -> Any:
    """Import on first use, so that ``reconciler.sandbox.options`` (the CLI's serve options)
    does not pull in moto and the server."""
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOMES[name]}"), name)
