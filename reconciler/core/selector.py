"""Label selectors (``--selector``), as Kubernetes reads them.

Parsed into requirements, and the specs whose labels match them all.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from reconciler.core.errors import SelectorError

if TYPE_CHECKING:
    from reconciler.core.spec import LoadedSpec

_REQUIREMENT = re.compile(
    r"^\s*(?:(?P<not>!)\s*(?P<absent>[^\s=!(),]+)"
    r"|(?P<key>[^\s=!(),]+)\s*(?:(?P<op>==|=|!=)\s*(?P<value>[^\s=!(),]*)"
    r"|\s+(?P<set>in|notin)\s*\((?P<values>[^()]*)\))?)\s*$"
)


@dataclass(frozen=True)
class Requirement:
    """One term of a label selector, as Kubernetes reads it."""

    key: str
    op: Literal["=", "!=", "in", "notin", "exists", "!"]
    values: frozenset[str] = frozenset()

    def matches(self, labels: dict[str, str]) -> bool:
        value = labels.get(self.key)
        if self.op == "exists":
            return value is not None
        if self.op == "!":
            return value is None
        if self.op in ("=", "in"):
            return value in self.values
        return value not in self.values  # != and notin also match specs without the label


def _split_terms(selector: str) -> list[str]:
    """The comma-separated terms of a selector (commas inside ``( )`` belong to a set)."""
    terms, depth, start = [], 0, 0
    for i, char in enumerate(selector):
        # A comma inside 'in (a,b)' belongs to the set: only commas outside parentheses split
        # terms.
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(selector[start:i])
            start = i + 1
    terms.append(selector[start:])
    return [t for t in (t.strip() for t in terms) if t]


def parse_selector(selector: str) -> list[Requirement]:
    """A label selector: ``key=value``, ``key!=value``, ``key in (a,b)``, ``key notin (a,b)``,
    ``key`` (the label exists), ``!key`` (it does not), comma-separated (all must match)."""
    requirements = []
    for term in _split_terms(selector):
        match = _REQUIREMENT.match(term)
        if match is None:
            raise SelectorError(
                f"--selector {term!r}: expected key=value, key!=value, 'key in (a,b)', "
                "'key notin (a,b)', key or !key"
            )
        if match["absent"]:
            requirements.append(Requirement(match["absent"], "!"))
        elif match["op"]:
            # '==' is '=', as Kubernetes reads it.
            op: Literal["=", "!="] = "!=" if match["op"] == "!=" else "="
            requirements.append(Requirement(match["key"], op, frozenset({match["value"]})))
        elif match["set"]:
            values = frozenset(v.strip() for v in match["values"].split(","))
            requirements.append(
                Requirement(match["key"], "in" if match["set"] == "in" else "notin", values)
            )
        else:
            requirements.append(Requirement(match["key"], "exists"))
    return requirements


def select(specs: Iterable[LoadedSpec], selectors: Sequence[str]) -> list[LoadedSpec]:
    """The specs whose labels match every term of every selector (see :func:`parse_selector`)."""
    # Every selector is parsed before any spec is matched: a bad one is refused even when no
    # spec would reach it.
    rules = [r for selector in selectors for r in parse_selector(selector)]
    return [s for s in specs if all(r.matches(s.facts.labels) for r in rules)]
