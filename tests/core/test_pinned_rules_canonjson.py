"""Rules of the canonical JSON text the spec hash and the state are made of
(reconciler.core.canonjson)."""

from __future__ import annotations

import json

from reconciler.core.canonjson import compact, string


def test_compact_sorts_keys_and_has_no_whitespace() -> None:
    """Keys sorted at every depth, no space after ',' or ':' (the hash's bytes)."""
    assert compact({"b": 1, "a": [1, {"d": None, "c": True}]}) == (
        '{"a":[1,{"c":true,"d":null}],"b":1}'
    )


def test_compact_keeps_unicode_as_it_is() -> None:
    """Text beyond ASCII is written as itself, not as \\u escapes (the hash would change)."""
    assert compact({"name": "Zoë ☎"}) == '{"name":"Zoë ☎"}'


def test_string_is_json_dumps_of_a_string() -> None:
    """The string encoder writes exactly what json.dumps(ensure_ascii=False) writes."""
    for text in ("plain", 'quote " and \\ slash', "tab\tnew\nline", "Zoë ☎", "\x00\x1f"):
        assert string(text) == json.dumps(text, ensure_ascii=False)
        assert compact(text) == string(text)
