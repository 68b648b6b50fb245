"""The sandbox's single WSGI application: Voice ID, the admin API, and moto's S3 and KMS.

A request is routed by what it is, not by host name (the endpoint is one ``127.0.0.1`` port):

* path ``/_sandbox/...`` -> the admin API (JSON in, JSON out; see ``AdminApi``);
* header ``X-Amz-Target: VoiceID.<Operation>`` -> the Voice ID emulator (awsJson1_0);
* anything else -> moto's ``DomainDispatcherApplication``, which picks the backend (S3, KMS, ...)
  from the SigV4 credential scope. Before forwarding, jobs that have reached their end are run
  (unless the request comes from a job itself, see ``storage.INTERNAL_HEADER``), and the
  ``x-moto-account-id`` header pins moto to the sandbox's account.

Fault knobs at the connection level (see ``SandboxConfig``): ``connection_reset_rate`` and
``lost_response_rate`` for Voice ID, ``s3_connection_reset_rate``, ``s3_lost_response_rate``,
``s3_internal_error_rate`` and ``s3_latency`` for S3 requests from outside the sandbox (never
for a job's own S3 access, never for KMS), narrowed by ``s3_fault_filter`` (a regular
expression on ``"<METHOD> /<bucket>/<key>"``) and ``s3_fault_limit`` (that many faults, then
none). A dropped request gets no response at all: the
socket is shut down and reset, which botocore reports as a closed connection. S3 requests
from outside are logged (method, path, outcome) for ``GET /_sandbox/s3-requests``. Their
ListObjectsV2 requests are answered from moto's backend by ``s3list`` (moto's serializer is
the slow part), after the same fault knobs and with the same log entry.

Admin endpoints (all return JSON; errors are ``{"error": "..."}`` with status 400 or 404):

=====================================  =========================================================
``GET  /_sandbox/health``              ``{"ok": true, "endpoint_url", "account_id", "region"}``
``GET  /_sandbox/config``              the knobs, ``{"job_duration": 2.0, ...}``
``POST /_sandbox/config``              body ``{knob: value, ...}`` (and ``"profile"``); the knobs
``GET  /_sandbox/calls``               ``{"calls": {op: n}, "outcomes": {op: {code: n}},
                                       "total": n}`` (outcome ``OK``, an error code,
                                       ``ConnectionReset`` for a reset request, or
                                       ``MalformedAnswer`` for an answer emptied by the
                                       ``malformed_operations`` knob, or
                                       ``AnswerFault`` for one an ``answer_faults``
                                       knob mutated)
``GET  /_sandbox/s3-requests``         ``{"requests": [{"method", "path", "outcome"}]}``: the
                                       S3 requests from outside, oldest first (outcome: the
                                       HTTP status, ``reset`` or ``lost``)
``POST /_sandbox/reset-calls``         zero the counters and the S3 log; ``{"ok": true}``
``POST /_sandbox/expire-tokens``       body ``{"client_tokens": true, "next_tokens": true}``
                                       (both default true); ``{"client_tokens_expired": n,
                                       "next_tokens_expired": bool}``
``POST /_sandbox/domain-status``       body ``{"DomainId", "DomainStatus"}``; the Domain
``GET  /_sandbox/clock``               ``{"now": epoch seconds}``
``POST /_sandbox/clock``               body ``{"freeze": bool, "advance": seconds}`` (both
                                       optional); ``{"now": ...}``
``POST /_sandbox/advance``             run due jobs now; ``{"finished": n}``
``POST /_sandbox/reset``               body ``{"aws": true}``; forget Voice ID state (and the
                                       account's S3/KMS when ``aws``); ``{"ok": true}``
``POST /_sandbox/seed``                seed the demo world; its description (see ``DemoWorld``)
``POST /_sandbox/world``               body: a world (``world.py``; JSON, ``file:`` bodies sent
                                       as ``base64:``); seed it; its description (see
                                       ``seed.seed_world``), or 400 ``{"error", "problems":
                                       [{"where": [path], "message", "atKey"}]}``
=====================================  =========================================================
"""

from __future__ import annotations

import contextlib
import io
import json
import socket
import struct
import time
import uuid
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

from reconciler.sandbox.faults import Raw, body_of
from reconciler.sandbox.model import TARGET_PREFIX
from reconciler.sandbox.s3list import list_objects_v2
from reconciler.sandbox.storage import INTERNAL_HEADER
from reconciler.sandbox.world import WorldError, WorldFile

if TYPE_CHECKING:
    from reconciler.sandbox.sandbox import Sandbox

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_JSON_1_0 = "application/x-amz-json-1.0"
_INTERNAL_ENVIRON_KEY = "HTTP_" + INTERNAL_HEADER.upper().replace("-", "_")
_MAX_BODY = 64 * 1024 * 1024


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length <= 0:
        return b""
    body: bytes = environ["wsgi.input"].read(min(length, _MAX_BODY))
    return body


def _respond(
    start_response: StartResponse,
    status: int,
    body: dict[str, Any] | Raw,
    content_type: str,
    extra_headers: list[tuple[str, str]] | None = None,
) -> list[bytes]:
    payload = body_of(body)
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(payload))),
        *(extra_headers or []),
    ]
    start_response(f"{status} {_REASONS.get(status, 'Unknown')}", headers)
    return [payload]


_REASONS = {
    200: "OK",
    400: "Bad Request",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    429: "Too Many Requests",
    500: "Internal Server Error",
}


class _Dropped(ConnectionResetError):
    """Raised out of the application after a fault knob dropped the connection; werkzeug
    treats it as a connection the client closed and sends nothing."""


def _signed_for(environ: dict[str, Any]) -> str:
    """The service a request was signed for (its SigV4 credential scope), or ""."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    _, found, scope = authorization.partition("Credential=")
    parts = scope.split(",", 1)[0].split("/") if found else []
    return parts[3] if len(parts) > 3 else ""


def _drop_connection(environ: dict[str, Any], *, unread_body: bool = False) -> None:
    """Close the request's connection without a response (an abortive close: RST).

    ``unread_body``: the request's body has not been read yet; read it first, so that the
    server does not take it for the next request on the connection.
    """
    if unread_body:
        stream = environ["wsgi.input"]
        if environ.get("wsgi.input_terminated"):
            stream.read()
        else:
            _read_body(environ)
    sock = environ.get("werkzeug.socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
    raise _Dropped("the sandbox dropped the connection (fault injection)")


_S3_INTERNAL_ERROR = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code>'
    b"<Message>We encountered an internal error. Please try again.</Message>"
    b"<RequestId>SANDBOXFAULT</RequestId></Error>"
)


class SandboxApp:
    """Route each request to the admin API, the Voice ID emulator or moto."""

    fast_listing = True
    """Answer S3 ListObjectsV2 from moto's backend without moto's slow serializer (see
    ``reconciler.sandbox.s3list``); False sends every listing to moto itself."""

    def __init__(self, sandbox: Sandbox, moto_app: WsgiApp) -> None:
        self._sandbox = sandbox
        self._moto_app = moto_app
        self._admin = AdminApi(sandbox)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path.startswith("/_sandbox/"):
            return self._admin(environ, start_response)
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target.startswith(f"{TARGET_PREFIX}."):
            return self._voiceid(target, environ, start_response)
        outside = not environ.get(_INTERNAL_ENVIRON_KEY)
        if outside:
            self._sandbox.service.advance()
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = self._sandbox.account_id
        service = _signed_for(environ)
        if outside and not target and service in ("s3", ""):
            return self._s3(environ, start_response)  # KMS, SQS: JSON with X-Amz-Target
        if outside and service == "sns":
            self._log_sns(environ)
        return self._moto_app(environ, start_response)

    def _log_sns(self, environ: dict[str, Any]) -> None:
        """Log what IAM authorizes of an SNS request (its Action and TopicArn); the body is
        read and put back for moto."""
        body = _read_body(environ)
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        form = parse_qs(body.decode("utf-8", "replace"))
        self._sandbox.service.counters.sns_request(
            form.get("Action", ["?"])[0], form.get("TopicArn", [None])[0]
        )

    def _s3(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """An S3 request from outside: the S3 fault knobs, then moto; logged."""
        service = self._sandbox.service
        config = service.config
        method = str(environ.get("REQUEST_METHOD", ""))
        path = str(environ.get("PATH_INFO", ""))
        if config.s3_latency:
            time.sleep(config.s3_latency)
        if service.s3_fault(config.s3_connection_reset_rate, method, path):
            service.counters.s3_request(method, path, "reset")
            _drop_connection(environ, unread_body=True)
        if service.s3_fault(config.s3_internal_error_rate, method, path):
            service.counters.s3_request(method, path, "500")
            body = b"" if method == "HEAD" else _S3_INTERNAL_ERROR
            start_response(
                "500 Internal Server Error",
                [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))],
            )
            return [body]
        statuses: list[str] = []
        query = str(environ.get("QUERY_STRING", ""))
        kms_key = environ.get("HTTP_X_AMZ_SERVER_SIDE_ENCRYPTION_AWS_KMS_KEY_ID")

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            nonlocal kms_key
            statuses.append(status.split(" ", 1)[0])
            for name, value in headers:
                if name.lower() == "x-amz-server-side-encryption-aws-kms-key-id":
                    kms_key = kms_key or value
            return start_response(status, headers, exc_info)

        listing = list_objects_v2(environ, self._sandbox.account_id) if self.fast_listing else None
        if listing is not None:
            capture(*listing[:2])
            result: Iterable[bytes] = [listing[2]]
        else:
            result = self._moto_app(environ, capture)
        if service.s3_fault(config.s3_lost_response_rate, method, path):
            try:  # the request has had its effect; the caller never hears of it
                for _ in result:
                    pass
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()
            service.counters.s3_request(method, path, "lost")
            _drop_connection(environ)
        outcome = statuses[0] if statuses else "?"
        service.counters.s3_request(method, path, outcome, query=query, kms_key=kms_key)
        return result

    def _voiceid(
        self, target: str, environ: dict[str, Any], start_response: StartResponse
    ) -> list[bytes]:
        operation = target.split(".", 1)[1]
        service = self._sandbox.service
        if service.chance(service.config.connection_reset_rate):
            service.counters.received(operation)
            service.counters.finished(operation, "ConnectionReset")
            _drop_connection(environ, unread_body=True)
        body = _read_body(environ)
        result: dict[str, Any] | Raw
        if environ.get("REQUEST_METHOD") != "POST":
            status, result = (
                400,
                {
                    "__type": "UnknownOperationException",
                    "message": "Voice ID takes POST requests only",
                },
            )
        else:
            status, result = service.handle(operation, body)
        if service.chance(service.config.lost_response_rate):
            _drop_connection(environ)
        return _respond(
            start_response,
            status,
            result,
            _JSON_1_0,
            [("x-amzn-RequestId", str(uuid.uuid4()))],
        )


class AdminApi:
    """The ``/_sandbox/`` endpoints (see the module docstring)."""

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET")
        name = environ.get("PATH_INFO", "")[len("/_sandbox/") :].strip("/")
        route = self._routes().get((method, name))
        if route is None:
            return _respond(
                start_response,
                404,
                {"error": f"no admin endpoint {method} /_sandbox/{name}"},
                "application/json",
            )
        raw = _read_body(environ)
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ValueError("the body must be a JSON object")
            result = route(body)
        except WorldError as err:
            answer = {"error": str(err), "problems": err.to_wire()}
            return _respond(start_response, 400, answer, "application/json")
        except KeyError as err:
            return _respond(start_response, 404, {"error": f"not found: {err}"}, "application/json")
        except (ValueError, TypeError) as err:
            return _respond(start_response, 400, {"error": str(err)}, "application/json")
        return _respond(start_response, 200, result, "application/json")

    def _routes(self) -> dict[tuple[str, str], Callable[[dict[str, Any]], dict[str, Any]]]:
        sb = self._sandbox
        return {
            ("GET", "health"): lambda _: {
                "ok": True,
                "endpoint_url": sb.endpoint_url,
                "account_id": sb.account_id,
                "region": sb.region,
            },
            ("GET", "config"): lambda _: sb.config.to_dict(),
            ("POST", "config"): lambda body: sb.configure(**body).to_dict(),
            ("GET", "calls"): lambda _: self._calls(),
            ("GET", "s3-requests"): lambda _: {"requests": sb.s3_requests()},
            ("POST", "reset-calls"): lambda _: self._reset_calls(),
            ("POST", "expire-tokens"): self._expire_tokens,
            ("POST", "domain-status"): lambda body: sb.set_domain_status(
                _required(body, "DomainId"), _required(body, "DomainStatus")
            ),
            ("GET", "clock"): lambda _: {"now": sb.now()},
            ("POST", "clock"): self._clock,
            ("POST", "advance"): lambda _: {"finished": sb.service.advance()},
            ("POST", "reset"): self._reset,
            ("POST", "seed"): lambda _: sb.seed_demo_world().to_dict(),
            ("POST", "world"): lambda body: sb.seed_world(
                WorldFile.of_data(body, source="POST /_sandbox/world")
            ),
        }

    def _calls(self) -> dict[str, Any]:
        calls, outcomes = self._sandbox.service.counters.snapshot()
        return {"calls": calls, "outcomes": outcomes, "total": sum(calls.values())}

    def _reset_calls(self) -> dict[str, Any]:
        self._sandbox.reset_calls()
        return {"ok": True}

    def _expire_tokens(self, body: dict[str, Any]) -> dict[str, Any]:
        client_tokens = body.get("client_tokens", True)
        next_tokens = body.get("next_tokens", True)
        expired = self._sandbox.expire_tokens(
            client_tokens=bool(client_tokens), next_tokens=bool(next_tokens)
        )
        return {"client_tokens_expired": expired, "next_tokens_expired": bool(next_tokens)}

    def _clock(self, body: dict[str, Any]) -> dict[str, Any]:
        if "freeze" in body:
            self._sandbox.freeze_clock(bool(body["freeze"]))
        if "advance" in body:
            self._sandbox.advance_clock(_seconds(body))
        return {"now": self._sandbox.now()}

    def _reset(self, body: dict[str, Any]) -> dict[str, Any]:
        self._sandbox.reset(aws=bool(body.get("aws", True)))
        return {"ok": True}


def _required(body: dict[str, Any], name: str) -> str:
    value = body.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name} is required")
    return value


def _seconds(body: dict[str, Any]) -> float:
    value = body.get("advance")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError("advance must be a number of seconds")
    return float(value)
