"""``Sandbox``: a local Voice ID, S3 and KMS on one loopback port.

The sandbox serves ``SandboxApp`` with werkzeug's threaded server on ``127.0.0.1`` (port 0
picks a free port) in a daemon thread. Clients reach it through the standard AWS settings
only (``env()``): ``AWS_ENDPOINT_URL`` and the per-service ``AWS_ENDPOINT_URL_VOICE_ID`` /
``_S3`` / ``_KMS``, fake credentials and a region. boto3 addresses S3 path-style for an IP
endpoint, so a plain client works.

State. Each ``Sandbox`` owns its Voice ID state (``VoiceIdService``). S3 and KMS are moto's
backends, which are process-global: every sandbox in one process sees the same buckets and
keys. Starting a sandbox with ``reset_aws=True`` (the default), and ``reset(aws=True)``, wipe
moto's S3 and KMS state for the whole process, so tests always start from an empty S3. Run one
sandbox per process (pytest-xdist workers are processes), or start further ones with
``reset_aws=False`` and different bucket names. Moto is pinned to ``account_id`` with the
``x-moto-account-id`` header, so KMS ARNs carry the sandbox's account.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any

from botocore.config import Config

from reconciler.sandbox.config import DEFAULT_ACCOUNT_ID, DEFAULT_REGION, SandboxConfig
from reconciler.sandbox.seed import DemoWorld, seed_demo_world, seed_world
from reconciler.sandbox.service import VoiceIdService
from reconciler.sandbox.storage import (
    FAKE_ACCESS_KEY_ID,
    FAKE_SECRET_ACCESS_KEY,
    Storage,
    make_session,
)
from reconciler.sandbox.world import WorldError, WorldFile, read_world

LOOPBACK = "127.0.0.1"


def reset_moto_s3_and_kms() -> None:
    """Wipe moto's S3 and KMS state, for every account, in this process."""
    from moto.kms.models import kms_backends
    from moto.s3.models import s3_backends

    for backends in (s3_backends, kms_backends):
        for account_id in list(backends.keys()):
            backends[account_id].reset()


class Sandbox:
    """A running local Voice ID (with S3 and KMS); use as a context manager or start/stop."""

    def __init__(  # noqa: PLR0913 - the sandbox's knobs, all keyword options
        self,
        *,
        port: int = 0,
        profile: str = "fast",
        job_duration: float | None = None,
        account_id: str = DEFAULT_ACCOUNT_ID,
        region: str = DEFAULT_REGION,
        clock: Callable[[], float] | None = None,
        reset_aws: bool = True,
        log_requests: bool = False,
        **knobs: Any,
    ) -> None:
        moto_account = os.environ.get("MOTO_ACCOUNT_ID")
        if moto_account and moto_account != account_id:
            raise ValueError(
                f"MOTO_ACCOUNT_ID={moto_account} overrides the sandbox account {account_id}"
            )
        if job_duration is not None:
            knobs["job_duration"] = job_duration
        self._initial_config = SandboxConfig().with_knobs(profile=profile, **knobs)
        self.account_id = account_id
        self.region = region
        self._port = port
        self._reset_aws = reset_aws
        self._log_requests = log_requests
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._storage: Storage | None = None
        self._storage_lock = threading.Lock()
        self.service = VoiceIdService(
            config=self._initial_config,
            clock=clock or time.time,
            account_id=account_id,
            region=region,
            storage=self._get_storage,
        )

    # --- lifecycle ---------------------------------------------------------------------------

    def start(self) -> Sandbox:
        """Bind ``127.0.0.1:<port>`` and serve in a background thread."""
        if self._server is not None:
            return self
        from moto.moto_server.werkzeug_app import (
            DomainDispatcherApplication,
            MotoRequestHandler,
            create_backend_app,
        )
        from werkzeug.serving import make_server

        from reconciler.sandbox.app import SandboxApp

        log_requests = self._log_requests

        class RequestHandler(MotoRequestHandler):
            """Moto's handler (keeps underscored S3 headers), quiet unless asked."""

            def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
                if log_requests:
                    super().log_request(code, size)

        moto_app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(
            LOOPBACK,
            self._port,
            SandboxApp(self, moto_app),
            threaded=True,
            request_handler=RequestHandler,
        )
        if self._reset_aws:
            reset_moto_s3_and_kms()
        server = self._server
        self._thread = threading.Thread(
            target=lambda: server.serve_forever(poll_interval=0.05),
            name=f"voiceid-sandbox-{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close the listening socket and join the server thread."""
        server, thread = self._server, self._thread
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=10)
        with self._storage_lock:
            if self._storage is not None:
                self._storage.close()
                self._storage = None
        self._server = None
        self._thread = None

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        """True between start() and stop()."""
        return self._server is not None

    @property
    def port(self) -> int:
        """The bound port."""
        if self._server is None:
            raise RuntimeError("the sandbox is not started")
        return int(self._server.server_address[1])

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>``, the one endpoint for Voice ID, S3 and KMS."""
        return f"http://{LOOPBACK}:{self.port}"

    def env(self) -> dict[str, str]:
        """The environment variables that point AWS SDKs and the CLI at this sandbox."""
        url = self.endpoint_url
        return {
            "AWS_ENDPOINT_URL": url,
            "AWS_ENDPOINT_URL_VOICE_ID": url,
            "AWS_ENDPOINT_URL_S3": url,
            "AWS_ENDPOINT_URL_KMS": url,
            "AWS_REGION": self.region,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ACCESS_KEY_ID": FAKE_ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": FAKE_SECRET_ACCESS_KEY,
        }

    def client(self, service_name: str, **config: Any) -> Any:
        """A boto3 client for this sandbox (fake credentials, no profile); close it after use.

        ``config`` goes to ``botocore.config.Config`` (e.g. ``retries={"total_max_attempts": 1}``).
        """
        session: Any = make_session(self.region)
        return session.client(service_name, endpoint_url=self.endpoint_url, config=Config(**config))

    def _get_storage(self) -> Storage:
        with self._storage_lock:
            if self._storage is None:
                self._storage = Storage(self.endpoint_url, self.region)
            return self._storage

    # --- knobs and state ---------------------------------------------------------------------

    @property
    def config(self) -> SandboxConfig:
        """The knobs in force."""
        return self.service.config

    def configure(self, **knobs: Any) -> SandboxConfig:
        """Change knobs at run time (see ``SandboxConfig``; ``profile=`` too)."""
        return self.service.configure(**knobs)

    def calls(self) -> dict[str, int]:
        """Voice ID calls received per operation (throttled and failed ones included)."""
        return self.service.counters.snapshot()[0]

    def call_outcomes(self) -> dict[str, dict[str, int]]:
        """Voice ID calls per operation and outcome (``OK`` or the error code)."""
        return self.service.counters.snapshot()[1]

    def s3_requests(self) -> list[dict[str, Any]]:
        """The S3 requests made from outside the sandbox, oldest first: ``{"method", "path",
        "outcome"}`` with the path ``/bucket/key`` and the HTTP status (or ``reset``/``lost``)."""
        return self.service.counters.s3_requests()

    def voiceid_requests(self) -> list[dict[str, Any]]:
        """The Voice ID requests received, oldest first: ``{"operation", "domain_id",
        "role_arn"}`` (what IAM authorizes; no speaker ids, no audio locations)."""
        return self.service.counters.voiceid_requests()

    def sns_requests(self) -> list[dict[str, Any]]:
        """The SNS requests made from outside, oldest first: ``{"action", "topic_arn"}``."""
        return self.service.counters.sns_requests()

    def role_accesses(self) -> list[dict[str, Any]]:
        """What jobs accessed as their data access role, oldest first: ``{"role_arn",
        "action", "uri", "kms_key"}`` (the manifest and every audio file read, the output
        written; the bucket and KMS key checks the sandbox makes first are its own)."""
        return self.service.counters.role_accesses()

    def reset_calls(self) -> None:
        """Zero the call counters (and forget the S3 request log)."""
        self.service.counters.reset()

    def expire_tokens(self, *, client_tokens: bool = True, next_tokens: bool = True) -> int:
        """Expire ClientTokens and/or NextTokens now; returns the ClientTokens forgotten."""
        expired = self.service.expire_client_tokens() if client_tokens else 0
        if next_tokens:
            self.service.expire_next_tokens()
        return expired

    def set_domain_status(self, domain_id: str, status: str) -> dict[str, Any]:
        """Force a domain to ACTIVE, PENDING or SUSPENDED (the real API cannot)."""
        return self.service.set_domain_status(domain_id, status)

    def now(self) -> float:
        """The sandbox clock (epoch seconds)."""
        return self.service.now()

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward (jobs, tokens, throttling all follow it)."""
        return self.service.advance_clock(seconds)

    def freeze_clock(self, frozen: bool = True) -> float:
        """Freeze the sandbox clock (``advance_clock`` still moves it), or unfreeze it."""
        return self.service.freeze_clock(frozen)

    def advance(self) -> int:
        """Run every job that has reached its end now; returns how many."""
        return self.service.advance()

    def output_uri(self, job_id: str) -> str | None:
        """The S3 URI of a finished job's output file."""
        return self.service.output_uri(job_id)

    def reset(self, *, aws: bool = True) -> None:
        """Back to a fresh sandbox: no Voice ID state, initial knobs, zero counters, clock
        offset 0 and a running clock; with ``aws``, also empty moto's S3 and KMS (process-wide)."""
        self.service.reset(self._initial_config)
        if aws:
            reset_moto_s3_and_kms()

    def seed_demo_world(self) -> DemoWorld:
        """Create (or find) the demo domain, bucket, KMS key and audio; describe them."""
        return seed_demo_world(self.service, self._get_storage())

    def seed_world(self, world: WorldFile | Path | str | dict[str, Any]) -> dict[str, Any]:
        """Create what a world declares (a world file, its ``WorldFile``, or its data as a
        dict), its times taken relative to the sandbox's clock; describe what is there (see
        ``seed.seed_world``). Raises ``WorldError``, located in the file when there is one."""
        if isinstance(world, Path | str):
            world = read_world(world)
        elif not isinstance(world, WorldFile):
            world = WorldFile.of_data(world)
        try:
            return seed_world(world.parse(now=self.now()), self.service, self._get_storage())
        except WorldError as err:
            raise err.located(world.positions) from err
