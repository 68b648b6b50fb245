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
bytes in, bytes out: gzip-compressed JSON lines, read and written a line at a time: a header
``{"format", "stamp"}``, an entry a line ``[key, [[line, column, name line, name column,
facts], ...]]`` (each spec's facts as a flat list, ``SpecFacts.row``: the manifests they name
are looked up before the specs are loaded), then ``[null, "documents"]`` and the documents of
each entry, ``[key, [document, ...]]``, as their JSON dumps — read only when one is asked for,
or when the cache is written again (a hit keeps where its text is, not the text).
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import itertools
import json
import os
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from reconciler import __version__
from reconciler.core.errors import Location
from reconciler.core.spec import FACT_ROW, LoadedSpec, SpecFacts

FORMAT = 6
"""The cache file's format: 6 keeps a kind's own settings as one fact (``SpecFacts.settings``),
where 5 had a column for each setting of either kind."""
_CHUNK = 1 << 20
_ROSTER_FILE = FACT_ROW.index("roster_file")
_CODE = (
    "spec.py",
    "specsections.py",  # the section models validate what spec.py's documents hold
    "kinds.py",  # the kinds' wire strings, a fact of every spec
    "yamlpos.py",
    "yamlcheck.py",  # a document checked against its model: its errors are what a file says
    "loading.py",
    "speccache.py",
    "identity.py",
)
"""The modules whose code decides what a file's specs are: a change to any voids the cache."""
_CODE_PACKAGES = ("jobkinds",)
"""Packages every module of which counts as one of :data:`_CODE`: each kind's module decides
its specs' document model and its own facts, and a kind added is a module added."""


@functools.cache
def stamp() -> str:
    """This build's stamp: the version and a digest of the loader's code."""
    digest = hashlib.sha256()
    here = Path(__file__).parent
    found = [
        f"{package}/{p.name}" for package in _CODE_PACKAGES for p in here.glob(f"{package}/*.py")
    ]
    for name in (*_CODE, *sorted(found)):
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

    An entry read is kept as read until a file of this run looks it up; from then on it is the
    specs it gave, from which it is written again: a cache of 50,000 specs is held once, not
    twice. The documents' texts stay in the bytes read until one is asked for (a spec with a
    roster file: its roster is read next) or the cache is written again. ``changed`` says
    whether :meth:`to_bytes` would differ from what was read: a new entry was remembered, or
    entries no file of this run used would be pruned."""

    def __init__(
        self, entries: dict[str, list[list[Any]]] | None = None, data: bytes = b""
    ) -> None:
        self._entries: dict[str, list[list[Any]]] = entries or {}
        """Entries as read, not (yet) used by a file of this run."""
        self._data = data
        """The bytes read (compressed): where the documents' texts are read when asked for."""
        self._texts: dict[str, list[str]] = {}
        self._some_read = False
        self._used: dict[str, list[LoadedSpec]] = {}
        """Entries used or remembered in this run: the specs they gave."""
        self._added = False
        self.hits = 0
        self.misses = 0

    @classmethod
    def from_bytes(cls, data: bytes | None) -> tuple[SpecCache, str | None]:
        """The cache these bytes hold, and why they were ignored (None: they were not, or
        there was no cache yet). Read a line (an entry) at a time, up to the documents."""
        if not data:
            return cls(), None
        entries: dict[str, list[list[Any]]] = {}
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as lines:
                header = json.loads(lines.readline())
                if not isinstance(header, dict):
                    return cls(), "unreadable"
                if header.get("format") != FORMAT or header.get("stamp") != stamp():
                    return cls(), f"written by another version ({header.get('stamp')})"
                for line in lines:
                    key, items = json.loads(line)
                    if key is None:  # the documents follow: read when asked for, but known
                        while lines.read(_CHUNK):  # now to be all there (gzip's length and CRC)
                            pass
                        return cls(entries, data), None
                    if not isinstance(key, str) or not isinstance(items, list):
                        break
                    entries[key] = items
        except (OSError, EOFError, zlib.error, ValueError, TypeError, RecursionError):
            pass
        return cls(), "unreadable"

    def lookup(self, key: str, path: Path | str) -> list[LoadedSpec] | None:
        """The specs of the file at ``path`` whose bytes have the key ``key``, or None."""
        used = self._used.get(key)
        if used is not None:  # another file with the same bytes
            self.hits += 1
            return [_moved(spec, path) for spec in used]
        raw = self._entries.pop(key, None)
        if raw is None:
            self.misses += 1
            return None
        try:
            where = os.fspath(path)
            specs = [self._rebuild(key, index, item, where) for index, item in enumerate(raw)]
        except (KeyError, TypeError, ValueError, IndexError):  # damaged: parse instead
            self._added = True  # written again without it
            self.misses += 1
            return None
        self._used[key] = specs
        self.hits += 1
        return specs

    def remember(self, key: str, specs: list[LoadedSpec]) -> None:
        """Keep what a file that loaded without any problem gave (unless it holds a roster)."""
        if not all(_cacheable(s) for s in specs):
            return
        self._entries.pop(key, None)
        self._used[key] = specs
        self._added = True

    def _rebuild(self, key: str, index: int, item: list[Any], path: str) -> LoadedSpec:
        line, column, name_line, name_column, row = item
        facts = SpecFacts.from_row(row)
        return LoadedSpec(
            facts,
            Location.of_text(path, int(line), int(column)),
            Location.of_text(path, int(name_line), int(name_column)),
            self.text(key, index) if facts.roster_file else _Text(self, key, index),
        )

    def text(self, key: str, index: int) -> str:
        """The document text of an entry, read from the bytes read: first those of the
        entries that name a roster file (the first is asked for as it is looked up), then, for
        any other, all of them (a run that changes nothing asks for none)."""
        if key not in self._texts:
            wanted = None
            if not self._some_read:  # the first time: those needed for their rosters
                self._some_read = True
                wanted = {key} | {
                    k
                    for k, raw in self._entries.items()
                    if any(_fact(i, _ROSTER_FILE) is not None for i in raw)
                }
            self._texts.update(self._read_texts(wanted))
        text = self._texts[key][index]
        if not isinstance(text, str):
            raise TypeError("a cached document is its JSON text")
        return text

    def _read_texts(self, wanted: set[str] | None) -> dict[str, list[str]]:
        """The documents' texts of the ``wanted`` entries (None: all) in the bytes read."""
        found: dict[str, list[str]] = {}
        if not self._data:
            return found
        with gzip.GzipFile(fileobj=io.BytesIO(self._data)) as lines:
            lines.readline()
            documents = False
            for line in lines:
                if not documents:
                    documents = line.startswith(b"[null,")
                    continue
                key, texts = json.loads(line)
                if wanted is None or key in wanted:
                    found[key] = texts
        return found

    def _pruned(self) -> bool:
        """Whether the entries no file used are left out (a cache follows one repository; a
        spec edited many times leaves one stale entry each time): once they outnumber the rest."""
        return len(self._entries) + len(self._used) > 2 * len(self._used) + 100

    @property
    def changed(self) -> bool:
        return self._added or (self._pruned() and bool(self._entries))

    def to_bytes(self) -> bytes:
        kept = {} if self._pruned() else self._entries
        held = self._texts
        self._texts = {**self._read_texts(None), **held}  # every text, read once for this
        try:
            texts = {key: self._texts[key] for key in kept if key in self._texts}
            texts.update((key, [s.text for s in specs]) for key, specs in self._used.items())
        finally:
            self._texts = held  # and let go again
        entries: dict[str, list[list[Any]]] = {k: v for k, v in kept.items() if k in texts}
        entries.update((key, [_item(s) for s in specs]) for key, specs in self._used.items())
        keys = sorted(entries)
        lines = itertools.chain(
            [{"format": FORMAT, "stamp": stamp()}],
            ([key, entries[key]] for key in keys),
            [[None, "documents"]],
            ([key, texts[key]] for key in keys),
        )
        buffer = io.BytesIO()
        with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=1, mtime=0) as out:
            while chunk := b"".join(map(_line, itertools.islice(lines, 1000))):
                out.write(chunk)  # a write per thousand lines
        return buffer.getvalue()


def _fact(item: Any, at: int) -> Any:
    """One fact of an entry's item as read (None when the item is not as written)."""
    row = item[4] if isinstance(item, list) and len(item) == 5 else None
    return row[at] if isinstance(row, list) and len(row) > at else None


_ENCODE = json.JSONEncoder(separators=(",", ":"), sort_keys=True).encode


def _line(value: Any) -> bytes:
    return f"{_ENCODE(value)}\n".encode()


class _Text:
    """Where a hit's document text is (:meth:`SpecCache.text`): a spec keeps this, not the
    text (a few hundred bytes of each of 50,000 specs)."""

    __slots__ = ("cache", "index", "key")

    def __init__(self, cache: SpecCache, key: str, index: int) -> None:
        self.cache, self.key, self.index = cache, key, index

    def text(self) -> str:
        return self.cache.text(self.key, self.index)


def _item(spec: LoadedSpec) -> list[Any]:
    """What the cache keeps of a spec beside its document's text: where it and its name
    stand, and its facts."""
    location, name = spec.location, spec.name_location
    return [location.line, location.column, name.line, name.column, spec.facts.row()]


def _moved(spec: LoadedSpec, path: Path | str) -> LoadedSpec:
    """A spec as found in another file with the same bytes (at the same places)."""
    location, name = spec.location, spec.name_location
    return replace(
        spec,
        location=Location(path, location.line, location.column),
        name_location=Location(path, name.line, name.column),
        roster=None,
    )
