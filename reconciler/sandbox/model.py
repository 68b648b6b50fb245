"""The Voice ID wire contract, read from the botocore model.

Everything the sandbox says on the wire is derived from the ``voice-id`` service model that
botocore ships, so code proven against the sandbox speaks the real protocol (awsJson1_0):

* ``validate_input`` checks a decoded request body against an operation's input shape: JSON
  types, required members, unknown members, enums, string and list lengths, integer ranges and
  the model's (Java-flavoured) regular expressions. It returns every problem at once, worded
  like AWS's own ``ValidationException`` ("N validation error(s) detected: ...").
* ``serialize_output`` walks an operation's output shape and emits only modelled members, with
  timestamps as epoch seconds (JSON numbers), as botocore's JSON serializer and parser expect.
  An internal value that does not fit the shape is a sandbox bug and raises ``TypeError``.
* ``error_status`` gives the HTTP status of an error code. The model carries no
  ``error.httpStatusCode`` for Voice ID errors, so the statuses from the Voice ID API reference
  are used (the model's value wins if a future model adds one).
* ``compile_pattern`` translates the model's Java regular expressions (``\\p{L}``, ``\\p{Z}``,
  ``\\p{N}``, ``\\p{ASCII}``, Java's ``.``) into Python ones matched with ``fullmatch``.
"""

from __future__ import annotations

import functools
import re
import sys
import unicodedata
from datetime import datetime
from typing import Any

import botocore.session
from botocore.model import OperationModel, ServiceModel, Shape, StructureShape

SERVICE_NAME = "voice-id"
TARGET_PREFIX = "VoiceID"
VALIDATION_PREFIX = "validation error"

#: HTTP statuses of the Voice ID errors, from the Voice ID API reference (the model has none).
_REFERENCE_STATUS = {
    "AccessDeniedException": 403,
    "ConflictException": 409,
    "InternalServerException": 500,
    "ResourceNotFoundException": 404,
    "ServiceQuotaExceededException": 402,
    "ThrottlingException": 429,
    "ValidationException": 400,
}

# Java's "." excludes every line terminator, Python's only "\n".
_JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"
_CATEGORY_PREFIXES = {"L": "L", "Z": "Z", "N": "N"}


@functools.cache
def service_model() -> ServiceModel:
    """The botocore ``voice-id`` service model (loaded once; it is immutable)."""
    return botocore.session.get_session().get_service_model(SERVICE_NAME)


def operation_model(name: str) -> OperationModel | None:
    """The model of operation ``name``, or None if Voice ID has no such operation."""
    model = service_model()
    if name not in model.operation_names:
        return None
    return model.operation_model(name)


def error_status(code: str) -> int:
    """The HTTP status for error ``code`` (model first, then the API reference, then 400/500)."""
    model = service_model()
    if code in model.shape_names:
        shape = model.shape_for(code)
        modelled = shape.metadata.get("error", {}).get("httpStatusCode")
        if isinstance(modelled, int):
            return modelled
        if code in _REFERENCE_STATUS:
            return _REFERENCE_STATUS[code]
        return 500 if shape.metadata.get("fault") else 400
    return _REFERENCE_STATUS.get(code, 400)


def error_members(code: str) -> tuple[str, ...]:
    """The modelled members of error ``code`` other than its message."""
    model = service_model()
    if code not in model.shape_names:
        return ()
    shape = model.shape_for(code)
    assert isinstance(shape, StructureShape)
    return tuple(name for name in shape.members if name != "Message")


# --- regular expressions ---------------------------------------------------------------------


@functools.cache
def _category_classes() -> dict[str, str]:
    """Character-class bodies for the Unicode general categories L, Z and N (one pass)."""
    ranges: dict[str, list[tuple[int, int]]] = {prefix: [] for prefix in _CATEGORY_PREFIXES}
    for code in range(sys.maxunicode + 1):
        prefix = unicodedata.category(chr(code))[0]
        if prefix in ranges:
            spans = ranges[prefix]
            if spans and spans[-1][1] == code - 1:
                spans[-1] = (spans[-1][0], code)
            else:
                spans.append((code, code))
    return {
        prefix: "".join(
            f"\\U{lo:08x}" if lo == hi else f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in spans
        )
        for prefix, spans in ranges.items()
    }


def _property_class(name: str) -> str:
    if name == "ASCII":
        return "\\x00-\\x7f"
    if name in _CATEGORY_PREFIXES:
        return _category_classes()[_CATEGORY_PREFIXES[name]]
    raise ValueError(f"unsupported Java character property \\p{{{name}}}")


@functools.cache
def compile_pattern(java_pattern: str) -> re.Pattern[str]:
    """Translate a model (Java) regular expression into a Python one; match with fullmatch."""
    out: list[str] = []
    in_class = False
    i = 0
    while i < len(java_pattern):
        char = java_pattern[i]
        if char == "\\" and java_pattern.startswith("p{", i + 1):
            end = java_pattern.index("}", i)
            body = _property_class(java_pattern[i + 3 : end])
            out.append(body if in_class else f"[{body}]")
            i = end + 1
            continue
        if char == "\\":
            out.append(java_pattern[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif char == "." and not in_class:
            out.append(_JAVA_DOT)
            i += 1
            continue
        out.append(char)
        i += 1
    return re.compile("".join(out), re.DOTALL)


def matches_pattern(java_pattern: str, value: str) -> bool:
    """True when ``value`` satisfies the model pattern as a whole string."""
    return compile_pattern(java_pattern).fullmatch(value) is not None


# --- input validation ------------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_range(shape: Shape, size: float, what: str, path: str, errors: list[str]) -> None:
    low = shape.metadata.get("min")
    high = shape.metadata.get("max")
    if low is not None and size < low:
        errors.append(
            f"Value at '{path}' failed to satisfy constraint: Member must have {what} "
            f"greater than or equal to {low}"
        )
    if high is not None and size > high:
        errors.append(
            f"Value at '{path}' failed to satisfy constraint: Member must have {what} "
            f"less than or equal to {high}"
        )


def _fail(errors: list[str], path: str, constraint: str) -> None:
    errors.append(f"Value at '{path}' failed to satisfy constraint: {constraint}")


def _validate_structure(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    assert isinstance(shape, StructureShape)
    if not isinstance(value, dict):
        _fail(errors, path, "Member must be a structure")
        return
    for name in value:
        if name not in shape.members:
            errors.append(f"Unknown member '{name}' at '{path}'")
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(
                f"Value null at '{path}.{name}' failed to satisfy constraint: "
                "Member must not be null"
            )
    for name, member in shape.members.items():
        if value.get(name) is not None:
            _validate(member, value[name], f"{path}.{name}", errors)


def _validate_list(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, list):
        _fail(errors, path, "Member must be a list")
        return
    _check_range(shape, len(value), "length", path, errors)
    member: Shape = shape.member  # type: ignore[attr-defined]
    for index, item in enumerate(value):
        if item is None:
            errors.append(
                f"Value null at '{path}.{index + 1}' failed to satisfy constraint: "
                "Member must not be null"
            )
        else:
            _validate(member, item, f"{path}.{index + 1}", errors)


def _validate_map(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, dict):
        _fail(errors, path, "Member must be a map")
        return
    _check_range(shape, len(value), "length", path, errors)
    key_shape: Shape = shape.key  # type: ignore[attr-defined]
    value_shape: Shape = shape.value  # type: ignore[attr-defined]
    for key, item in value.items():
        _validate(key_shape, key, f"{path}.key", errors)
        if item is not None:
            _validate(value_shape, item, f"{path}.{key}", errors)


def _validate_string(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        _fail(errors, path, "Member must be a string")
        return
    enum: list[str] = shape.enum  # type: ignore[attr-defined]
    if enum and value not in enum:
        _fail(errors, path, f"Member must satisfy enum value set: [{', '.join(enum)}]")
        return
    _check_range(shape, len(value), "length", path, errors)
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not matches_pattern(pattern, value):
        _fail(errors, path, f"Member must satisfy regular expression pattern: {pattern}")


def _validate_integer(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not _is_int(value):
        _fail(errors, path, "Member must be an integer")
        return
    _check_range(shape, value, "value", path, errors)


def _validate_number(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not (_is_int(value) or isinstance(value, float)):
        _fail(errors, path, "Member must be a number")
        return
    _check_range(shape, value, "value", path, errors)


def _validate_boolean(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, bool):
        _fail(errors, path, "Member must be a boolean")


def _validate_timestamp(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not (_is_int(value) or isinstance(value, float | str)):
        _fail(errors, path, "Member must be a timestamp")


def _validate_blob(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    if not isinstance(value, str):
        _fail(errors, path, "Member must be a base64-encoded blob")


_VALIDATORS = {
    "structure": _validate_structure,
    "list": _validate_list,
    "map": _validate_map,
    "string": _validate_string,
    "integer": _validate_integer,
    "long": _validate_integer,
    "float": _validate_number,
    "double": _validate_number,
    "boolean": _validate_boolean,
    "timestamp": _validate_timestamp,
    "blob": _validate_blob,
}


def _validate(shape: Shape, value: Any, path: str, errors: list[str]) -> None:
    _VALIDATORS[shape.type_name](shape, value, path, errors)


def validate_input(operation: OperationModel, body: Any) -> list[str]:
    """Every way ``body`` breaks the operation's input shape (an empty list when it is valid)."""
    errors: list[str] = []
    shape = operation.input_shape
    if shape is None:
        if body not in ({}, None):
            errors.append("The operation takes no input")
        return errors
    _validate(shape, body, shape.name, errors)
    return errors


def validate_shape(shape: Shape, value: Any) -> list[str]:
    """Every way ``value`` (decoded wire JSON) breaks ``shape``; used to check responses too."""
    errors: list[str] = []
    _validate(shape, value, shape.name, errors)
    return errors


def validation_message(errors: list[str]) -> str:
    """AWS's wording for a failed shape validation."""
    count = len(errors)
    plural = "s" if count != 1 else ""
    return f"{count} {VALIDATION_PREFIX}{plural} detected: " + "; ".join(errors)


# --- output serialisation --------------------------------------------------------------------


def _timestamp(value: Any, path: str) -> float:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            raise TypeError(f"{path}: naive datetime")
        return round(value.timestamp(), 3)
    if _is_int(value) or isinstance(value, float):
        return round(float(value), 3)
    raise TypeError(f"{path}: {value!r} is not a timestamp")


def _serialize(shape: Shape, value: Any, path: str) -> Any:  # noqa: PLR0911
    kind = shape.type_name
    if kind == "structure":
        assert isinstance(shape, StructureShape)
        if not isinstance(value, dict):
            raise TypeError(f"{path}: expected a structure, got {value!r}")
        unknown = set(value) - set(shape.members)
        if unknown:
            raise TypeError(f"{path}: members {sorted(unknown)} are not in the model")
        return {
            name: _serialize(member, value[name], f"{path}.{name}")
            for name, member in shape.members.items()
            if value.get(name) is not None
        }
    if kind == "list":
        if not isinstance(value, list | tuple):
            raise TypeError(f"{path}: expected a list, got {value!r}")
        member = shape.member  # type: ignore[attr-defined]
        return [_serialize(member, item, f"{path}[]") for item in value]
    if kind == "map":
        if not isinstance(value, dict):
            raise TypeError(f"{path}: expected a map, got {value!r}")
        return {
            str(key): _serialize(shape.value, item, f"{path}.{key}")  # type: ignore[attr-defined]
            for key, item in value.items()
        }
    if kind == "timestamp":
        return _timestamp(value, path)
    if kind == "string":
        if not isinstance(value, str):
            raise TypeError(f"{path}: expected a string, got {value!r}")
        return value
    if kind in ("integer", "long"):
        if not _is_int(value):
            raise TypeError(f"{path}: expected an integer, got {value!r}")
        return value
    if kind == "boolean":
        if not isinstance(value, bool):
            raise TypeError(f"{path}: expected a boolean, got {value!r}")
        return value
    if kind in ("float", "double"):
        return float(value)
    raise TypeError(f"{path}: unsupported shape type {kind}")


def serialize_output(operation: OperationModel, result: dict[str, Any]) -> dict[str, Any]:
    """``result`` as the wire JSON object of the operation's output shape."""
    shape = operation.output_shape
    if shape is None:
        return {}
    serialized = _serialize(shape, result, shape.name)
    assert isinstance(serialized, dict)
    return serialized
