"""A client for the sandbox's admin endpoints (``/_sandbox/...``), for out-of-process use.

Tests that run the reconciler CLI as a subprocess, against a sandbox started elsewhere, use it
to read and set knobs: ``SandboxAdmin(os.environ["AWS_ENDPOINT_URL"]).configure(tps=2.0)``.
It uses only the standard library, so it is cheap to import.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.world import WorldFile


class SandboxAdminError(Exception):
    """An admin endpoint answered with an error (``answer``: its JSON body, when it had one)."""

    def __init__(self, message: str, answer: Any = None) -> None:
        super().__init__(message)
        self.answer = answer


class SandboxAdmin:
    """Read and set a running sandbox's knobs over HTTP."""

    def __init__(self, endpoint_url: str, timeout: float = 10.0) -> None:
        self.endpoint_url = endpoint_url.rstrip("/")
        self.timeout = timeout

    def request(self, method: str, name: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Call ``<method> /_sandbox/<name>`` with a JSON body; returns the JSON answer."""
        data = json.dumps(body or {}).encode() if method != "GET" else None
        request = urllib.request.Request(
            f"{self.endpoint_url}/_sandbox/{name}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer: dict[str, Any] = json.loads(response.read())
        except urllib.error.HTTPError as err:
            with err:
                detail = err.read().decode(errors="replace")
            try:
                refusal = json.loads(detail)
            except ValueError:
                refusal = None
            raise SandboxAdminError(
                f"{method} /_sandbox/{name}: {err.code} {detail}", refusal
            ) from err
        return answer

    def health(self) -> dict[str, Any]:
        """``GET /_sandbox/health``."""
        return self.request("GET", "health")

    def config(self) -> dict[str, Any]:
        """The knobs in force."""
        return self.request("GET", "config")

    def configure(self, **knobs: Any) -> dict[str, Any]:
        """Change knobs; returns them all."""
        return self.request("POST", "config", knobs)

    def calls(self) -> dict[str, Any]:
        """``{"calls": {op: n}, "outcomes": {op: {code: n}}, "total": n}``."""
        return self.request("GET", "calls")

    def s3_requests(self) -> list[dict[str, Any]]:
        """The S3 requests made from outside the sandbox (``{"method", "path", "outcome"}``)."""
        requests: list[dict[str, Any]] = self.request("GET", "s3-requests")["requests"]
        return requests

    def reset_calls(self) -> None:
        """Zero the call counters and the S3 request log."""
        self.request("POST", "reset-calls")

    def expire_tokens(
        self, *, client_tokens: bool = True, next_tokens: bool = True
    ) -> dict[str, Any]:
        """Expire ClientTokens and/or NextTokens now."""
        return self.request(
            "POST", "expire-tokens", {"client_tokens": client_tokens, "next_tokens": next_tokens}
        )

    def set_domain_status(self, domain_id: str, status: str) -> dict[str, Any]:
        """Force a domain's status; returns the Domain."""
        return self.request(
            "POST", "domain-status", {"DomainId": domain_id, "DomainStatus": status}
        )

    def advance_clock(self, seconds: float) -> float:
        """Move the sandbox clock forward; returns the new time."""
        return float(self.request("POST", "clock", {"advance": seconds})["now"])

    def freeze_clock(self, frozen: bool = True) -> float:
        """Freeze (or unfreeze) the sandbox clock; returns the time."""
        return float(self.request("POST", "clock", {"freeze": frozen})["now"])

    def advance(self) -> int:
        """Run due jobs now; returns how many ran."""
        return int(self.request("POST", "advance")["finished"])

    def reset(self, *, aws: bool = True) -> None:
        """Forget all Voice ID state (and S3/KMS when ``aws``)."""
        self.request("POST", "reset", {"aws": aws})

    def seed(self) -> dict[str, Any]:
        """Seed the demo world; returns its description."""
        return self.request("POST", "seed")

    def seed_world(self, world: WorldFile) -> dict[str, Any]:
        """Seed a world (read with ``world.read_world``) into the sandbox; returns its
        description. A world the sandbox refuses raises ``WorldError``, located in the file."""
        from reconciler.sandbox.world import WorldError

        try:
            return self.request("POST", "world", world.wire())
        except SandboxAdminError as err:
            problems = err.answer.get("problems") if isinstance(err.answer, dict) else None
            if problems is None:
                raise
            raise WorldError.from_wire(problems, world.positions) from err
