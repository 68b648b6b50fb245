"""Rules of label selectors as Kubernetes reads them (reconciler.core.selector)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from reconciler.core.errors import Location, SelectorError
from reconciler.core.selector import Requirement, parse_selector, select
from reconciler.core.spec import LoadedSpec, SpeakerEnrollmentJob


def _spec(name: str, labels: dict[str, str]) -> LoadedSpec:
    document = SpeakerEnrollmentJob.model_validate(
        {
            "apiVersion": "voiceid-reconciler/v1",
            "kind": "SpeakerEnrollmentJob",
            "metadata": {"name": name, "labels": labels},
            "spec": {
                "domain": "prod",
                "dataAccessRoleArn": "arn:aws:iam::123456789012:role/R",
                "input": {"manifest": f"s3://bucket/{name}.json"},
                "output": {"s3Uri": "s3://bucket/out/", "kmsKeyId": "alias/k"},
            },
        }
    )
    where = Location(Path(f"specs/{name}.yaml"), 1, 1)
    return LoadedSpec.of(document, where, where)


def test_each_form_of_term() -> None:
    """key=value and key==value, key!=value, in and notin sets, key alone, !key."""
    assert parse_selector("a=1,b==2,c!=3,d in (x, y),e notin (z),f,!g") == [
        Requirement("a", "=", frozenset({"1"})),
        Requirement("b", "=", frozenset({"2"})),
        Requirement("c", "!=", frozenset({"3"})),
        Requirement("d", "in", frozenset({"x", "y"})),
        Requirement("e", "notin", frozenset({"z"})),
        Requirement("f", "exists"),
        Requirement("g", "!"),
    ]


def test_spaces_and_empty_terms() -> None:
    """Spaces around keys, operators and values are ignored, and so are empty terms."""
    assert parse_selector(" a = 1 ,, ! b , c  notin ( x ,y ) ,") == [
        Requirement("a", "=", frozenset({"1"})),
        Requirement("b", "!"),
        Requirement("c", "notin", frozenset({"x", "y"})),
    ]
    assert parse_selector("") == []
    assert parse_selector(" , ") == []


def test_an_empty_value_is_a_value() -> None:
    """key= matches the label set to the empty string, not a missing label."""
    (requirement,) = parse_selector("a=")
    assert requirement == Requirement("a", "=", frozenset({""}))
    assert requirement.matches({"a": ""})
    assert not requirement.matches({})


def test_commas_inside_a_set_belong_to_it() -> None:
    """A comma between parentheses separates a set's values, not terms."""
    assert parse_selector("a in (x,y),b") == [
        Requirement("a", "in", frozenset({"x", "y"})),
        Requirement("b", "exists"),
    ]


@pytest.mark.parametrize(
    ("term", "labels", "expected"),
    [
        ("a=1", {"a": "1"}, True),
        ("a=1", {"a": "2"}, False),
        ("a=1", {}, False),
        ("a!=1", {"a": "1"}, False),
        ("a!=1", {"a": "2"}, True),
        ("a!=1", {}, True),
        ("a in (1,2)", {"a": "2"}, True),
        ("a in (1,2)", {"a": "3"}, False),
        ("a in (1,2)", {}, False),
        ("a notin (1,2)", {"a": "2"}, False),
        ("a notin (1,2)", {"a": "3"}, True),
        ("a notin (1,2)", {}, True),
        ("a", {"a": ""}, True),
        ("a", {"b": "1"}, False),
        ("!a", {"a": ""}, False),
        ("!a", {"b": "1"}, True),
    ],
)
def test_what_each_term_matches(term: str, labels: dict[str, str], expected: bool) -> None:
    """= and in need the label with a listed value; != and notin also match it absent; key
    needs it present (even empty), !key absent."""
    (requirement,) = parse_selector(term)
    assert requirement.matches(labels) is expected


def test_a_term_that_cannot_be_read_is_named() -> None:
    """The error quotes the one term that cannot be read and lists the accepted forms."""
    with pytest.raises(SelectorError) as caught:
        parse_selector("a=1, b c ,d")
    assert str(caught.value) == (
        "--selector 'b c': expected key=value, key!=value, 'key in (a,b)', "
        "'key notin (a,b)', key or !key"
    )


def test_select_keeps_the_specs_matching_every_term_of_every_selector() -> None:
    """All terms of all selectors must match; the specs keep their order; none selects all."""
    specs = [
        _spec("one", {"team": "a", "tier": "gold"}),
        _spec("two", {"team": "b", "tier": "gold"}),
        _spec("three", {"team": "a"}),
    ]
    names = [s.name for s in select(specs, ["team=a", "tier"])]
    assert names == ["one"]
    assert [s.name for s in select(specs, ["tier=gold"])] == ["one", "two"]
    assert [s.name for s in select(specs, ["team=a,tier=gold"])] == ["one"]
    assert [s.name for s in select(specs, [])] == ["one", "two", "three"]
    assert select(specs, ["team=a", "team=b"]) == []


def test_a_requirement_is_an_immutable_value() -> None:
    """A requirement cannot be changed once parsed, and equal ones hash alike (set members)."""
    requirement = Requirement("a", "=", frozenset({"1"}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        requirement.key = "b"  # type: ignore[misc]
    assert len({requirement, *parse_selector("a=1")}) == 1
