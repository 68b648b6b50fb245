"""Canonical JSON text, as the state and the spec hash write it: sorted keys, no whitespace,
UTF-8 as it is (``ensure_ascii=False``). One place, because the spec hash depends on it byte
for byte (``tests/test_identity.py`` pins it) and the state file's lines with it."""

from __future__ import annotations

import json
from typing import Any

string = json.encoder.encode_basestring
"""A string as JSON text, exactly as ``json.dumps(..., ensure_ascii=False)`` writes it."""


def compact(value: Any) -> str:
    """``value`` as canonical JSON text."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
