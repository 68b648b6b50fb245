"""The spec cache: a file whose bytes were validated before is not parsed again.

Parsing and validating YAML is most of what a run does when nothing changed, so the loader
(:mod:`reconciler.core.loading`) asks this cache first. An entry is keyed by the **sha256 of a
file's bytes** (and whether the file was named or found in a directory, which changes what
counts as a spec): never by a path or an mtime, so it holds in a fresh CI checkout and for a
renamed or copied file. It keeps what a valid file gave — each spec document as validated, and
where it and its name stand in the file — so a hit rebuilds the same :class:`LoadedSpec`
values without YAML and without validating again: a hit reads the document's
:class:`~reconciler.core.spec.SpecFacts` from the row kept beside it (each value type-checked:
a damaged entry is a miss), and the document itself is validated only if something asks for
it (a roster file's spec). What the loader checks across files (duplicate names, rosters,
colliding jobs) still runs over every spec, cached or not.

Only success is cached: a file with any problem is parsed (and its problems reported) every
time. A document with an inline roster is never cached — speaker ids and audio locations are
personal data and never leave the spec file — nor is its file. The whole cache is stamped with
the product's version and a digest of the loader's own code: a cache written by another
version (or build) is ignored, as is one that cannot be read (a cache is only ever a speed-up;
losing it costs one slower run).

Where it lives is the state store's business (beside the state: ``<state>.cache``); here it is
bytes in, bytes out: gzip-compressed JSON, ``{"format", "stamp", "entries": {key: [[document,
line, column, name line, name column, facts], ...]}}`` — each document as its JSON dump (a
string: a hit keeps that string, not a tree of values) and its facts as a flat list
(``SpecFacts.row``; the manifest it names is looked up before the specs are loaded).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import zlib
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.core.errors import Location
from reconciler.core.spec import FACT_ROW, LoadedSpec, SpecFacts

FORMAT = 3
_MANIFEST = FACT_ROW.index("manifest")
_CODE = ("spec.py", "yamlpos.py", "loading.py", "speccache.py", "identity.py")
"""The modules whose code decides what a file's specs are: a change to any voids the cache."""


@functools.cache
def stamp() -> str:
    """This build's stamp: the version and a digest of the loader's code."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    for name in _CODE:
        try:
            digest.update((here / name).read_bytes())
        except OSError:  # no source at hand (a frozen build): the version alone
            digest.update(name.encode())
    return f"{__version__}+{digest.hexdigest()[:16]}"


def file_key(data: bytes, *, strict: bool) -> str:
    """The cache key of a file's bytes, read as a named file (``strict``) or a found one."""
    return f"{hashlib.sha256(data).hexdigest()}{'' if strict else ':found'}"


def _cacheable(spec: LoadedSpec) -> bool:
    """A spec whose document holds no personal data (no inline roster)."""
    return not spec.facts.inline_roster


class SpecCache:
    """The validated specs of files, by the digest of their bytes (see the module docstring).

    ``changed`` says whether :meth:`to_bytes` would differ from what was read: a new entry was
    remembered, or entries no file of this run used would be pruned."""

    def __init__(self, entries: dict[str, list[list[Any]]] | None = None) -> None:
        self._entries: dict[str, list[list[Any]]] = entries or {}
        self._used: set[str] = set()
        self._added = False
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_bytes(cls, data: bytes | None) -> tuple[SpecCache, str | None]:
        """The cache these bytes hold, and why they were ignored (None: they were not, or
        there was no cache yet)."""
        if not data:
            return cls(), None
        try:
            document = json.loads(gzip.decompress(data))
        except (OSError, EOFError, zlib.error, ValueError, RecursionError):
            return cls(), "unreadable"
        if not isinstance(document, dict) or not isinstance(document.get("entries"), dict):
            return cls(), "unreadable"
        if document.get("format") != FORMAT or document.get("stamp") != stamp():
            return cls(), f"written by another version ({document.get('stamp')})"
        return cls(document["entries"]), None

    def manifests(self) -> set[str]:
        """The external manifests the cached specs name (for a lookup that can start before
        the specs are loaded)."""
        uris: set[str] = set()
        for raw in self._entries.values():
            for item in raw:
                row = item[5] if isinstance(item, list) and len(item) == 6 else None
                manifest = (
                    row[_MANIFEST] if isinstance(row, list) and len(row) > _MANIFEST else None
                )
                if isinstance(manifest, str):
                    uris.add(manifest)
        return uris

    def lookup(self, key: str, path: Path) -> list[LoadedSpec] | None:
        """The specs of the file at ``path`` whose bytes have the key ``key``, or None."""
        raw = self._entries.get(key)
        if raw is None:
            self.misses += 1
            return None
        try:
            specs = [_rebuild(item, path) for item in raw]
        except (KeyError, TypeError, ValueError):  # damaged: parse instead
            del self._entries[key]
            self._added = True  # written again without it
            self.misses += 1
            return None
        self._used.add(key)
        self.hits += 1
        return specs

    def remember(self, key: str, specs: list[LoadedSpec]) -> None:
        """Keep what a file that loaded without any problem gave (unless it holds a roster)."""
        if not all(_cacheable(s) for s in specs):
            return
        self._entries[key] = [
            [
                s.document.model_dump_json(by_alias=True),
                s.location.line,
                s.location.column,
                s.name_location.line,
                s.name_location.column,
                s.facts.row(),
            ]
            for s in specs
        ]
        self._used.add(key)
        self._added = True

    def _kept(self) -> dict[str, list[list[Any]]]:
        """The entries to write: all, unless those no file used outnumber the rest (a cache
        follows one repository; a spec edited many times leaves one stale entry each time)."""
        if len(self._entries) <= 2 * len(self._used) + 100:
            return self._entries
        return {k: v for k, v in self._entries.items() if k in self._used}

    @property
    def changed(self) -> bool:
        return self._added or len(self._kept()) != len(self._entries)

    def to_bytes(self) -> bytes:
        document = {"format": FORMAT, "stamp": stamp(), "entries": self._kept()}
        text = json.dumps(document, separators=(",", ":"), sort_keys=True)
        return gzip.compress(text.encode(), compresslevel=1, mtime=0)


def _rebuild(item: list[Any], path: Path) -> LoadedSpec:
    text, line, column, name_line, name_column, row = item
    if not isinstance(text, str):
        raise TypeError("a cached document is its JSON text")
    return LoadedSpec(
        SpecFacts.from_row(row),
        Location(path, int(line), int(column)),
        Location(path, int(name_line), int(name_column)),
        text,
    )
