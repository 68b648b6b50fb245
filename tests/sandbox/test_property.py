"""Property: the sandbox accepts exactly the requests that fit the botocore input shapes.

Requests are generated from the model's shapes (types, required members, enums, lengths,
ranges, patterns), then either sent as they are or broken in exactly one way (unknown member,
missing required member, wrong JSON type, too long/short, pattern, enum, range, list size).
They go over raw HTTP, since botocore would refuse most broken ones before sending them.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from botocore.model import Shape, StructureShape
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reconciler.sandbox.model import VALIDATION_PREFIX, compile_pattern, matches_pattern
from reconciler.sandbox.model import operation_model as model_of

from .conftest import Kit

OPERATIONS = sorted(
    [
        "StartSpeakerEnrollmentJob",
        "StartFraudsterRegistrationJob",
        "DescribeSpeakerEnrollmentJob",
        "DescribeFraudsterRegistrationJob",
        "ListSpeakerEnrollmentJobs",
        "ListFraudsterRegistrationJobs",
        "CreateDomain",
        "DescribeDomain",
        "UpdateDomain",
        "ListDomains",
        "CreateWatchlist",
        "DescribeWatchlist",
        "ListWatchlists",
        "DescribeSpeaker",
        "ListSpeakers",
    ]
)
# Patterns with Unicode classes: hypothesis's from_regex is slow on the translated classes.
_UNICODE_TEXT = st.characters(categories=["L", "Z", "N"])
_FAST_PATTERNS: dict[str, st.SearchStrategy[str]] = {
    r"^([\p{L}\p{Z}\p{N}_.:/=+\-%@]*)$": st.text(
        alphabet=st.one_of(_UNICODE_TEXT, st.sampled_from("_.:/=+-%@")), max_size=30
    ),
    r"^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$": st.text(
        alphabet=st.one_of(_UNICODE_TEXT, st.sampled_from("_.:/=+-@")), max_size=30
    ),
    r"^\p{ASCII}{0,8192}$": st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
}
_WRONG_TYPE = {
    "string": 12345,
    "integer": "12",
    "boolean": "true",
    "list": {"a": 1},
    "structure": ["x"],
    "map": ["x"],
}


def valid_value(
    shape: Shape, overrides: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[Any]:
    """Values that satisfy ``shape``."""
    if shape.name in overrides:
        return overrides[shape.name]
    meta = shape.metadata
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        required = {
            n: valid_value(m, overrides)
            for n, m in shape.members.items()
            if n in shape.required_members
        }
        optional = {
            n: valid_value(m, overrides)
            for n, m in shape.members.items()
            if n not in shape.required_members
        }
        return st.fixed_dictionaries(required, optional=optional)
    if kind == "list":
        low = meta.get("min", 0)
        return st.lists(
            valid_value(shape.member, overrides),  # type: ignore[attr-defined]
            min_size=low,
            max_size=min(meta.get("max", 3), low + 2),
        )
    if kind == "string":
        enum = shape.enum  # type: ignore[attr-defined]
        if enum:
            return st.sampled_from(enum)
        low, high = meta.get("min", 0), meta.get("max", 64)
        if meta.get("pattern") in _FAST_PATTERNS:
            strings = _FAST_PATTERNS[meta["pattern"]]
        elif "pattern" in meta:
            strings = st.from_regex(compile_pattern(meta["pattern"]), fullmatch=True)
        else:
            strings = st.text(min_size=low, max_size=min(high, 40))
        return strings.filter(lambda s: low <= len(s) <= high)
    if kind == "integer":
        return st.integers(meta.get("min", -(2**31)), meta.get("max", 2**31 - 1))
    if kind == "boolean":
        return st.booleans()
    raise AssertionError(f"no strategy for {kind}")


@functools.cache
def requests(operation: str, domain_id: str, kms_key_id: str) -> st.SearchStrategy[Any]:
    """Valid requests of ``operation``, often naming the seeded domain and KMS key."""
    model = model_of(operation)
    assert model is not None
    assert model.input_shape is not None
    overrides: dict[str, st.SearchStrategy[Any]] = {
        "DomainId": st.one_of(
            st.just(domain_id), st.from_regex(r"[a-zA-Z0-9]{22}", fullmatch=True)
        ),
        "KmsKeyId": st.one_of(st.just(kms_key_id), st.text(min_size=1, max_size=20)),
    }
    return valid_value(model.input_shape, overrides)


def sites(
    shape: Shape, value: Any, path: tuple[Any, ...] = ()
) -> list[tuple[tuple[Any, ...], Shape, Any]]:
    """Every (path, shape, value) inside a request, the request itself included."""
    found = [(path, shape, value)]
    if shape.type_name == "structure":
        assert isinstance(shape, StructureShape)
        for name, item in value.items():
            found += sites(shape.members[name], item, (*path, name))
    elif shape.type_name == "list":
        for index, item in enumerate(value):
            found += sites(shape.member, item, (*path, index))  # type: ignore[attr-defined]
    return found


def breakages(shape: Shape, value: Any, *, root: bool) -> list[tuple[str, Any]]:
    """The ways to make ``value`` invalid for ``shape``: (name, replacement).

    A body that is not a JSON object at all is a SerializationException, not a validation
    error (see test_operations), so the root keeps its type.
    """
    meta = shape.metadata
    out: list[tuple[str, Any]] = [] if root else [("wrong-type", _WRONG_TYPE[shape.type_name])]
    if shape.type_name == "structure":
        assert isinstance(shape, StructureShape)
        out.append(("unknown-member", {**value, "NotAMember": 1}))
        for name in shape.required_members:
            out.append(("missing-required", {k: v for k, v in value.items() if k != name}))
    elif shape.type_name == "string":
        if shape.enum:  # type: ignore[attr-defined]
            out.append(("enum", "NOT_IN_THE_ENUM"))
        if "max" in meta:
            out.append(("too-long", "a" * (meta["max"] + 1)))
        if meta.get("min", 0) >= 1:
            out.append(("too-short", ""))
        if "pattern" in meta:
            size = max(1, min(meta.get("min", 1), meta.get("max", 1)))
            bad = next(
                c * size
                for c in ("!", "\u00e9", "\x00")
                if not matches_pattern(meta["pattern"], c * size)
            )
            out.append(("pattern", bad))
    elif shape.type_name == "integer":
        if "max" in meta:
            out.append(("above-max", meta["max"] + 1))
        if "min" in meta:
            out.append(("below-min", meta["min"] - 1))
    elif shape.type_name == "list":
        if "max" in meta:
            out.append(
                (
                    "list-too-long",
                    [*value, *value, "x"][: meta["max"] + 1]
                    if value
                    else ["x"] * (meta["max"] + 1),
                )
            )
        if meta.get("min", 0) >= 1:
            out.append(("list-too-short", []))
    return out


def replace(request: dict[str, Any], path: tuple[Any, ...], new: Any) -> Any:
    """``request`` with the value at ``path`` replaced by ``new``."""
    if not path:
        return new
    broken = copy.deepcopy(request)
    target = broken
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = new
    return broken


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(data=st.data())
def test_sandbox_accepts_exactly_the_valid_requests(kit: Kit, data: st.DataObject) -> None:
    """A request is refused with a shape ValidationException iff it breaks the input shape."""
    operation = data.draw(st.sampled_from(OPERATIONS), label="operation")
    model = model_of(operation)
    assert model is not None
    assert model.input_shape is not None
    overrides: dict[str, st.SearchStrategy[Any]] = {
        "DomainId": st.one_of(
            st.just(kit.world.domain_id), st.from_regex(r"[a-zA-Z0-9]{22}", fullmatch=True)
        ),
        "KmsKeyId": st.one_of(st.just(kit.world.kms_key_id), st.text(min_size=1, max_size=20)),
    }
    request = data.draw(valid_value(model.input_shape, overrides), label="valid request")
    broken = data.draw(st.booleans(), label="break it")
    if broken:
        path, shape, value = data.draw(
            st.sampled_from(sites(model.input_shape, request)), label="site"
        )
        _how, new = data.draw(
            st.sampled_from(breakages(shape, value, root=not path)), label="breakage"
        )
        request = replace(request, path, new)
    status, body = kit.raw(operation, request)
    refused = (
        status == 400
        and body.get("__type") == "ValidationException"
        and (VALIDATION_PREFIX in body.get("message", ""))
    )
    assert refused == broken, (operation, request, status, body)
    assert status != 500, body
