"""Answer faults: a successful Voice ID answer served mutated (the ``answer_faults`` knob).

A hostile service, a broken proxy or a truncated body answers HTTP 200 with something that is
not of the operation's shape. Each fault names an operation, a member path into its answer and
what to do there; the operation is handled as usual (a Start does start the job) and its answer
is mutated on the way out:

==========  ===========================================================================
``drop``    remove the member (``path`` ``[]``: answer ``{}``)
``set``     replace the member with ``value`` (any JSON value; ``path`` ``[]``: the whole
            answer, which need not be an object)
``raw``     replace the member with ``value``, a JSON text written as it is: it may be
            deeper or larger than Python's ``json`` writes (200,000 nested lists), or not
            JSON at all (``path`` ``[]``: the whole body)
``loop``    replace the answer's ``NextToken`` with one that leads back to the first page
            (a request carrying it is served as one without a token): ``value`` ``"same"``
            gives the same token every time, ``"fresh"`` a new one every time (the same
            pages again, under tokens never seen before)
==========  ===========================================================================

``path`` is a list of member names and list indexes (``["JobSummaries", 0, "CreatedAt"]``); a
path that does not resolve in an answer (an empty page) leaves it as it is. ``times`` says how
many answers of the operation to mutate (0: every one). Served faults are counted as the
outcome ``AnswerFault`` (``GET /_sandbox/calls``). The fuzz tests (``tests/fuzz/``) draw
faults with Hypothesis.
"""

from __future__ import annotations

import copy
import json
import secrets
from dataclasses import dataclass
from typing import Any

ACTIONS = ("drop", "set", "raw", "loop")
LOOP_TOKEN = "sandbox-loop"
"""The prefix of the NextTokens a ``loop`` fault hands out."""
_SENTINEL = "\x00sandbox-raw-answer\x00"


@dataclass(frozen=True)
class Raw:
    """An answer's body as bytes, written as it is."""

    payload: bytes


@dataclass(frozen=True)
class AnswerFault:
    """One mutation of the answers of one operation (see the module)."""

    operation: str
    action: str
    path: tuple[str | int, ...] = ()
    value: Any = None
    times: int = 0

    @classmethod
    def of(cls, data: Any) -> AnswerFault:
        """A fault from its JSON form; ValueError saying what is wrong."""
        if isinstance(data, AnswerFault):
            return data
        if not isinstance(data, dict):
            raise ValueError(f"an answer fault must be an object, got {data!r}")
        unknown = set(data) - {"operation", "action", "path", "value", "times"}
        if unknown:
            raise ValueError(f"an answer fault has unknown members {sorted(unknown)}")
        operation, action = data.get("operation"), data.get("action")
        path, times = data.get("path", []), data.get("times", 0)
        if not isinstance(operation, str) or not operation:
            raise ValueError("an answer fault needs an operation (a string)")
        if action not in ACTIONS:
            raise ValueError(f"an answer fault's action must be one of {ACTIONS}, got {action!r}")
        if not isinstance(path, list | tuple) or not all(
            isinstance(p, str) or (isinstance(p, int) and not isinstance(p, bool)) for p in path
        ):
            raise ValueError("an answer fault's path must be a list of names and indexes")
        if isinstance(times, bool) or not isinstance(times, int) or times < 0:
            raise ValueError("an answer fault's times must be an integer >= 0")
        value = data.get("value")
        if action == "raw" and not isinstance(value, str):
            raise ValueError("a raw answer fault's value must be a string (JSON text)")
        if action == "loop" and value not in ("same", "fresh"):
            raise ValueError("a loop answer fault's value must be 'same' or 'fresh'")
        return cls(operation, action, tuple(path), value, times)

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation": self.operation,
            "action": self.action,
            "path": list(self.path),
            "value": self.value,
            "times": self.times,
        }

    def apply(self, answer: dict[str, Any], request: dict[str, Any]) -> dict[str, Any] | Raw:
        """``answer`` mutated (a copy; ``request``: the request's parameters, for ``loop``)."""
        if self.action == "loop":
            return _loop(answer, request, fresh=self.value == "fresh")
        if not self.path:
            return self._whole()
        return self._at_path(answer)

    def _whole(self) -> dict[str, Any] | Raw:
        if self.action == "drop":
            return {}
        if self.action == "raw":
            return Raw(str(self.value).encode("utf-8", "surrogatepass"))
        return {"__sandbox_whole__": self.value}

    def _at_path(self, answer: dict[str, Any]) -> dict[str, Any] | Raw:
        mutated = copy.deepcopy(answer)
        parent: Any = mutated
        for part in self.path[:-1]:
            parent = _child(parent, part)
            if parent is None:
                return answer
        last = self.path[-1]
        if _child(parent, last) is None and self.action == "drop":
            return answer
        if not _settable(parent, last):
            return answer
        if self.action == "drop":
            del parent[last]
            return mutated
        if self.action == "set":
            parent[last] = self.value
            return mutated
        parent[last] = _SENTINEL
        text = json.dumps(mutated)
        return Raw(
            text.replace(json.dumps(_SENTINEL), str(self.value), 1).encode("utf-8", "surrogatepass")
        )


def body_of(answer: dict[str, Any] | Raw) -> bytes:
    """The bytes an answer is served as (a whole-answer ``set`` may be any JSON value)."""
    if isinstance(answer, Raw):
        return answer.payload
    if set(answer) == {"__sandbox_whole__"}:
        return json.dumps(answer["__sandbox_whole__"]).encode()
    return json.dumps(answer).encode()


def _child(parent: Any, part: str | int) -> Any:
    if isinstance(parent, dict) and isinstance(part, str):
        return parent.get(part)
    if isinstance(parent, list) and isinstance(part, int) and -len(parent) <= part < len(parent):
        return parent[part]
    return None


def _settable(parent: Any, part: str | int) -> bool:
    if isinstance(parent, dict):
        return isinstance(part, str)
    return isinstance(parent, list) and isinstance(part, int) and -len(parent) <= part < len(parent)


def _loop(answer: dict[str, Any], request: dict[str, Any], *, fresh: bool) -> dict[str, Any]:
    """The answer with a NextToken back to the first page (see :func:`request_of`)."""
    del request
    token = f"{LOOP_TOKEN}-{secrets.token_hex(8)}" if fresh else LOOP_TOKEN
    return {**answer, "NextToken": token}


def request_of(params: dict[str, Any]) -> dict[str, Any]:
    """A request as the service handles it: a NextToken a ``loop`` fault handed out asks for
    the first page again."""
    token = params.get("NextToken")
    if isinstance(token, str) and token.startswith(LOOP_TOKEN):
        return {name: value for name, value in params.items() if name != "NextToken"}
    return params
