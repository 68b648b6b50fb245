"""Canonical JSON text (sorted keys, no whitespace, UTF-8 as it is): the pieces the spec hash's
text and the state's lines are made of.

Not their only writer: :attr:`~reconciler.core.identity.StartRequest.canonical` writes the hash's
text by hand from :data:`string` and :func:`compact` (``tests/test_identity.py`` proves it the
very bytes :func:`compact` writes of the same request), and the state's spec entries and job
records are written by pydantic's encoder (:mod:`reconciler.core.state`, the fields declared in
sorted order; ``tests/test_state_layout.py`` checks them against ``json.dumps``). The spec hash
depends on this text byte for byte."""

from __future__ import annotations

import json
from typing import Any

# json's own string encoder (the C one when built), exposed for the hand-written canonical text
# of a Start request: through json.dumps(sort_keys=True) that text cost 10 us a spec; written out
# directly, each string through this encoder, byte for byte the same (a property test) in a
# fifth of the time (desire at 10,000 specs 0.22 -> 0.16 s: 88c68af, bench/README.md).
string = json.encoder.encode_basestring
"""A string as JSON text, exactly as ``json.dumps(..., ensure_ascii=False)`` writes it."""


def compact(value: Any) -> str:
    """``value`` as canonical JSON text."""
    # These settings are part of every spec hash: changing one (ensure_ascii, a separator) would
    # make every spec look changed, and an apply would start every job again.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
