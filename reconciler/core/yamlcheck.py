"""YAML documents checked against their models: every error at ``file:line:column``, in words.

pydantic's error locations (``spec.input.speakers[3].speakerId``) are found in the document's
node tree (:func:`reconciler.core.yamlpos.node_at`) and said as a person can act on them: an
unknown field with a "did you mean", a field of the other kind's section, a pattern as the
form it wants, a union's noise left out (:func:`translate_errors`). A roster file is read and
checked whole here too (:func:`load_yaml_list`). Roster data is never quoted
(:mod:`reconciler.core.yamlpos` says why).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import TypeAdapter, ValidationError

from reconciler.core import jobkinds
from reconciler.core.errors import Location, SpecError, SpecErrors
from reconciler.core.yamlpos import (
    EVERYTHING,
    PositionLoader,
    TooBig,
    TooDeep,
    field_names,
    inline_rosters,
    location,
    node_at,
    problem,
    read_text_checked,
    unmarked_yaml_error,
)

_UNION_TAGS = frozenset({"str", "constrained-str", "AudioFile"})
"""How pydantic names the members of ``S3Uri | AudioFile`` in an error location."""
_WRONG_MEMBER = frozenset({"string_type", "model_type"})


def _union_point(detail: Any) -> tuple[Any, ...] | None:
    for i, part in enumerate(detail["loc"]):
        if isinstance(part, str) and part in _UNION_TAGS:
            return tuple(detail["loc"][:i])
    return None


def translate_errors(
    path: Path, root: yaml.Node, kind: str, err: ValidationError
) -> list[SpecError]:
    """Every problem pydantic found in a document, located in its file."""
    details = err.errors(include_url=False, include_input=False)
    return [_translate(path, root, kind, d) for d in _without_union_noise(details)]


def _without_union_noise(details: Sequence[Any]) -> list[Any]:
    """Drop "wrong type" errors of a union member when another member says what is wrong."""
    informative = {
        point
        for d in details
        if d["type"] not in _WRONG_MEMBER and (point := _union_point(d)) is not None
    }
    return [
        d for d in details if not (d["type"] in _WRONG_MEMBER and _union_point(d) in informative)
    ]


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _translate(path: Path, root: yaml.Node, kind: str, detail: Any) -> SpecError:
    """One pydantic error as a ``file:line:column: message`` that a person can act on."""
    loc = [p for p in detail["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
    # pydantic names its validators and a union's Literal members in a location; neither is
    # a field of the document, and node_at must walk fields only.
    loc = [p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "literal[")))]
    node = node_at(root, loc)
    if loc and loc[-1] == "[key]":  # a bad dict key (a label): point at the key, not its value
        loc = loc[:-1]
        node = _key_node(root, loc[:-1], str(loc[-1])) or node
    kind_of_error = detail["type"]
    field_name = _dotted(loc)
    message: str
    if kind_of_error == "extra_forbidden":
        key = loc[-1] if loc else "?"
        parent = loc[:-1]
        node = _key_node(root, parent, str(key)) or node
        other = jobkinds.with_section(str(key))
        close = difflib.get_close_matches(str(key), field_names(), n=1, cutoff=0.7)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        if parent == ["spec"] and other and other.kind != kind:
            message = f"'{key}' belongs to {other.kind}, not to {kind}"
        elif kind == "roster" or _in_inline_roster(loc):  # a key there may be a speaker id
            place = _dotted(parent)
            message = f"{place + ': ' if place else ''}unknown field in a roster (not shown){hint}"
        else:
            message = f"unknown field '{field_name}'{hint}"
    elif kind_of_error == "missing":
        message = f"missing required field '{field_name}'"
    elif kind_of_error == "string_pattern_mismatch":
        message = f"{field_name}: {_pattern_hint(loc)}"
    elif kind_of_error == "literal_error":
        message = f"{field_name}: {detail['msg'].replace('Input should be', 'must be')}"
    elif kind_of_error in ("too_short", "too_long", "string_too_short", "string_too_long"):
        ctx = detail.get("ctx") or {}
        if kind_of_error.endswith("too_short"):
            bound = f"at least {ctx.get('min_length', 1)}"
        else:
            bound = f"at most {ctx.get('max_length', '?')}"
        items = "characters" if kind_of_error.startswith("string") else "items"
        message = f"{field_name}: must have {bound} {items}"
    else:
        text = detail["msg"].replace("Value error, ", "")
        for said, meant in _PYDANTIC_WORDING:
            text = text.replace(said, meant)
        message = f"{field_name}: {text}" if field_name else text
    return SpecError(location(path, node), message)


def _in_inline_roster(loc: Sequence[int | str]) -> bool:
    return any(tuple(loc[: len(path)]) == path for path in inline_rosters())


_PYDANTIC_WORDING = (
    ("Input should be", "must be"),
    ("should be", "must be"),
    ("should have", "must have"),
    (" after validation", ""),
)


def _key_node(root: yaml.Node, parent: Sequence[int | str], key: str) -> yaml.Node | None:
    node = node_at(root, parent)
    if isinstance(node, yaml.MappingNode):
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node
    return None


_HINTS: dict[str, str] = {
    "name": "must be lowercase letters, digits and '-', starting and ending with a letter or digit",
    "dataAccessRoleArn": "must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
    "manifest": "must be an S3 URI such as s3://bucket/key",
    "uri": "must be an S3 URI such as s3://bucket/key",
    "s3Uri": "must be an S3 URI such as s3://bucket/prefix/",
    "stagingUri": "must be an S3 URI such as s3://bucket/prefix/",
    "speakerId": "must be 1-256 letters, digits, '_' or '-', starting with a letter or digit",
    "domain": "must be a domain name or id: letters, digits, '_' or '-'",
    "watchlist": "must be a watchlist name or id: letters, digits, '_' or '-'",
}


def _pattern_hint(loc: Sequence[int | str]) -> str:
    if loc[:2] == ["metadata", "labels"]:  # before _HINTS: a label may be called "name"
        return "label keys and values must be letters, digits, '-', '_' or '.'"
    for part in reversed(loc):
        if isinstance(part, str):
            if part in _HINTS:
                return _HINTS[part]
            if part == "audio" or (loc and "audio" in loc):
                return _HINTS["uri"]
    return "has an invalid format"


def load_yaml_list(
    path: Path, model: Any
) -> tuple[list[Any], Callable[[Sequence[int | str], str], SpecError]]:
    """A YAML roster file validated as a list of ``model``, and a function that turns a
    location in it into a :class:`SpecError` at that node's file:line:column.

    Raises :class:`SpecErrors` with every problem of the file.
    """
    text = read_text_checked(path)
    loader = PositionLoader(text)
    loader.private = EVERYTHING
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(Location(path), "empty roster file")
        # No "&" in the text, no anchor, so no alias: the document is a tree, and its expanded
        # size need not be counted (the depth is checked as it is built).
        data = loader.read(node, aliases="&" in text)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise SpecError(location(path, mark), f"YAML: {problem(err)}") from err
    except yaml.YAMLError as err:
        raise unmarked_yaml_error(path, text, err) from err
    except (TooDeep, TooBig, RecursionError) as err:
        raise SpecError(Location(path), "roster nesting too deep or too large") from err
    finally:
        loader.dispose()
    if not isinstance(data, list):
        raise SpecError(location(path, node), "a roster file must be a list of entries")
    try:
        entries = TypeAdapter(list[model]).validate_python(data)
    except ValidationError as err:
        raise SpecErrors(translate_errors(path, node, "roster", err)) from err

    def locate(loc: Sequence[int | str], message: str) -> SpecError:
        return SpecError(location(path, node_at(node, loc)), f"{_dotted(loc)}: {message}")

    return entries, locate
