"""Hypothesis strategies: malformed Voice ID answers (as sandbox answer faults), hostile values.

An answer fault (``reconciler/sandbox/faults.py``) names an operation, a member path and what to
do there. The paths come from the product's own answer models (every member it reads, at
every depth, list items included) plus members it does not know; the values are any JSON,
values of the wrong type, oversize ones, and raw text no JSON writer makes (200,000 levels
deep, lone surrogates, ``NaN``, truncated).
"""

from __future__ import annotations

import typing
from typing import Any

from hypothesis import strategies as st
from pydantic import BaseModel

from reconciler.adapters import shapes

PLANTED = "PLANTED-VALUE-31"
"""A value the generators put in answers: an error message must never quote it."""


def _member_paths(model: type[BaseModel], prefix: tuple[str | int, ...]) -> list[tuple[Any, ...]]:
    paths: list[tuple[Any, ...]] = []
    for name, field in model.model_fields.items():
        path = (*prefix, name)
        paths.append(path)
        annotation = field.annotation
        for _ in range(3):  # | None, Annotated
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if typing.get_origin(annotation) is list:
                paths.append((*path, 0))
                inner = args[0]
                if isinstance(inner, type) and issubclass(inner, BaseModel):
                    paths.extend(_member_paths(inner, (*path, 0)))
                break
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                paths.extend(_member_paths(annotation, path))
                break
            if args:
                annotation = args[0]
    return paths


PATHS: dict[str, list[tuple[Any, ...]]] = {
    operation: [(), *_member_paths(model, ())] for operation, model in shapes.ANSWERS.items()
}
"""Every member path the product reads, per operation (``()``: the whole answer)."""


def json_values() -> st.SearchStrategy[Any]:
    """Any JSON value, a planted string among the texts; floats include NaN and infinities
    (which the sandbox writes as ``NaN`` / ``Infinity``: not JSON)."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(2**70), max_value=2**70)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=40)
        | st.just(PLANTED)
        | st.sampled_from(["not-a-date", "", "COMPLETED", "a" * 22, "s3://b/k", "2026-12-01"])
    )
    return st.recursive(
        leaves,
        lambda children: (
            st.lists(children, max_size=4)
            | st.dictionaries(st.text(max_size=12) | st.just("JobId"), children, max_size=4)
        ),
        max_leaves=12,
    )


def oversize() -> st.SearchStrategy[Any]:
    """Values far larger than any answer holds (a 9 MiB one beyond the answer bound)."""
    return st.sampled_from(
        [
            "x" * 100_000,
            [PLANTED] * 5_000,
            {f"k{i}": i for i in range(5_000)},
            "y" * (9 * 1024 * 1024),
        ]
    )


def raw_texts() -> st.SearchStrategy[str]:
    """JSON text (or not) written as it is: deep nesting around the parser's limit and far
    beyond, numbers out of range, broken literals, lone surrogates."""
    depth = st.sampled_from([150, 199, 200, 201, 1_000, 200_000])
    return st.one_of(
        depth.map(lambda n: "[" * n + "]" * n),
        depth.map(lambda n: '{"a":' * n + "1" + "}" * n),
        depth.map(lambda n: "[" * n),
        st.sampled_from(
            [
                "",
                "   ",
                "{",
                "nul",
                "NaN",
                "-Infinity",
                "1e99999",
                "9" * 5_000,
                '"\\ud800"',
                '"\ud800"',
                f'"{PLANTED}',
                '{"__proto__": 1}',
                "[1,]",
            ]
        ),
    )


ACTIONS = ("drop", "set", "set", "set", "raw", "loop")
"""The actions drawn, and how often (a value set is where the shapes are)."""


@st.composite
def answer_faults(
    draw: st.DrawFn, operations: tuple[str, ...], actions: tuple[str, ...] = ACTIONS
) -> dict[str, Any]:
    """One answer fault on one of ``operations``: drop, retype, nest, loop or oversize any
    member the product reads (or one it does not)."""
    operation = draw(st.sampled_from(operations))
    action = draw(st.sampled_from(actions))
    path = list(draw(st.sampled_from(PATHS[operation])))
    if draw(st.integers(0, 9)) == 0:  # now and then a member the product does not know
        path.append(draw(st.text(min_size=1, max_size=8)))
    fault: dict[str, Any] = {"operation": operation, "action": action, "path": path}
    if action == "set":
        fault["value"] = draw(json_values() | oversize())
    elif action == "raw":
        fault["value"] = draw(raw_texts())
    elif action == "loop":
        fault["value"] = draw(st.sampled_from(["same", "fresh"]))
    fault["times"] = draw(st.sampled_from([0, 0, 1, 2]))
    return fault
