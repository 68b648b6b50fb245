"""YAML with positions: a safe loader that keeps node marks and refuses what is hostile.

Inputs are untrusted: files over :data:`MAX_FILE_BYTES`, files that are not UTF-8 or are
binary, alias-expansion bombs, absurd nesting and duplicate keys are refused with one line
each, never a traceback. Roster data — a roster file, a spec's inline roster (its kind's
member: ``speakers``, ``fraudsters``; :func:`roster_ranges`) — is never quoted in a message: a
duplicate key, a value that cannot be read or an unknown field there is named by its place and
the product's own words, since a key or value of a roster may be a speaker id or an audio
location (elsewhere in a spec, the key or value at fault is quoted: it is a setting, reviewed
in git). libyaml (the C loader when PyYAML has it) composes the node tree; only when something
is wrong is the tree walked to find the position of an error. A document's errors against its
model are said at their ``file:line:column`` by :mod:`reconciler.core.yamlcheck`.
"""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from reconciler.core import jobkinds
from reconciler.core.errors import Location, SpecError
from reconciler.core.spec import json_schema

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Spec files larger than this are refused before parsing (8 MiB holds a 10,000-speaker roster)."""
MAX_NODES = 1_000_000
"""A file whose documents expand (through aliases) to more nodes than this is refused."""
MAX_DEPTH = 64
"""Deeper nesting than this is refused; a spec needs fewer than ten levels."""

# libyaml's C scanner and parser where PyYAML was built with it; the pure-Python one otherwise
# (their error positions differ: see unmarked_yaml_error()).
_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class PositionLoader(_Loader):  # type: ignore[misc,valid-type]
    """The safe loader, refusing duplicate keys (which YAML would silently overwrite)."""

    private: tuple[tuple[int, int], ...] = ()
    """Character ranges of the text that hold roster data (:func:`roster_ranges`; a roster
    file: all of it): a message about a node there does not quote it."""

    def quotes(self, node: yaml.Node) -> bool:
        """Whether a message about ``node`` may quote its text (it is not roster data)."""
        index = node.start_mark.index
        return not any(start <= index < end for start, end in self.private)

    def duplicate(self, key_node: yaml.Node) -> yaml.constructor.ConstructorError:
        """The error of a key given twice in a mapping."""
        key = key_node.value
        quoted = self.quotes(key_node) or key in field_names()  # the product's own words
        shown = repr(key) if quoted else "in a roster (not shown)"
        return Said(None, None, f"duplicate key {shown}", key_node.start_mark)

    def resolve(self, kind: type[yaml.Node], value: Any, implicit: Any) -> Any:
        """The tag of a node (the composer asks for every node): PyYAML's answer, remembered
        for plain scalars. Without path resolvers (this loader has none) a plain scalar's tag
        depends on its text alone, and the texts of specs repeat (keys, kinds, domains): the
        regular expressions are not run again for each of them."""
        if kind is not yaml.ScalarNode or self.yaml_path_resolvers:
            return super().resolve(kind, value, implicit)
        if not implicit[0]:  # quoted, or tagged: what the resolver says of any such scalar
            return self.DEFAULT_SCALAR_TAG
        # Memoised: the resolver's regular expressions for every plain scalar were 0.4 s of
        # a cold start; loading 10,000 specs without the cache 2.95 s -> 2.3-2.6 s (aae8e9f,
        # bench/README.md). A property test holds the answers to PyYAML's own.
        tag = _RESOLVED.get(value)
        if tag is None:
            tag = super().resolve(kind, value, implicit)
            if len(value) <= _RESOLVED_TEXT and len(_RESOLVED) < _RESOLVED_MAX:
                _RESOLVED[value] = tag
        return tag

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            # A merge key ("<<") is not data: the constructor folds it in, however many.
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise self.duplicate(key_node)
                seen.add(key_node.value)
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        with _marked(node, self):
            return super().construct_object(node, deep=deep)

    def read(self, node: yaml.Node, *, aliases: bool) -> Any:
        """A document's data, refused when too deep (:class:`TooDeep`) or, when it may hold
        ``aliases``, too large once they are expanded (:class:`TooBig`). Without aliases the
        document is a tree: its depth is checked as it is built, in the one walk."""
        if aliases:
            _expanded_size(node)  # the depth too
        # A tree's depth is checked inside the one walk that builds it, not in a pass of its
        # own first: 4% fewer instructions to load a spec file (d96d774).
        return self.to_python(node, 0 if not aliases else -_UNCHECKED)

    def to_python(self, node: yaml.Node, depth: int = -1_000_000) -> Any:
        """Construct a document's data; a fast path for the plain nodes specs are made of.

        Strings, lists and mappings without merge keys are built directly (the generic
        constructor's bookkeeping costs more than the parse); any other node goes through the
        safe constructor, so the result is what ``yaml.safe_load`` gives. ``depth``: the
        node's, for a tree whose depth is checked here (negative: checked before).
        """
        if depth > MAX_DEPTH:
            raise TooDeep(node)
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:  # most of a spec: its text as it is, no constructor called
                return node.value
            construct = self.yaml_constructors.get(node.tag)
            with _marked(node, self):
                return self.construct_document(node) if construct is None else construct(self, node)
        deeper = depth + 1
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            return [self.to_python(child, deeper) for child in node.value]
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    return self._generic(node, depth)
                key = self.to_python(key_node, deeper)
                if key in result:
                    raise self.duplicate(key_node)
                result[key] = self.to_python(value_node, deeper)
            return result
        return self._generic(node, depth)

    def _generic(self, node: yaml.Node, depth: int) -> Any:
        """A node through the safe constructor, its depth checked first (if it is to be)."""
        if depth >= 0:
            _check_depth(node, depth)
        return self.construct_document(node)


class Said(yaml.constructor.ConstructorError):
    """A YAML error in the product's own words (careful about roster data as it was made)."""


_QUOTED = re.compile(r"'([^']*)'|\"([^\"]*)\"")


def problem(err: yaml.MarkedYAMLError) -> str:
    """What a YAML error says, as a message may show it. PyYAML's own words quote an alias,
    an anchor, a tag or a character where they found it — which in a roster may be a speaker
    id: a quoted fragment is kept only when it is a field name, a token's name (``'<scalar>'``)
    or a character or two; the product's own errors (:class:`Said`) are as they were made."""
    text = err.problem or err.context or "invalid YAML"
    return text if isinstance(err, Said) else quiet(text)


def quiet(text: str) -> str:
    """``text`` with each quoted fragment that could be data replaced by ``'…'``."""

    def keep(match: re.Match[str]) -> str:
        fragment = match[1] if match[1] is not None else match[2]
        if len(fragment) <= 2 or fragment.startswith("<") or fragment in field_names():
            return match[0]
        return "'…'"

    return _QUOTED.sub(keep, text)


@contextmanager
def _marked(node: yaml.Node, loader: PositionLoader) -> Iterator[None]:
    """Turn the plain errors of scalar constructors (``2024-13-01``, ``!!int x``) into marks
    (in a roster neither the value nor the error, which may quote it, is shown)."""
    try:
        yield
    except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError) as err:
        value = str(node.value)
        tag = node.tag.rsplit(":", 1)[-1]
        if loader.quotes(node):
            shown = value if len(value) <= 40 else value[:37] + "..."
            message = f"cannot read {shown!r} as {tag} ({err})"
        else:
            message = f"cannot read a roster value (not shown) as {tag}; quote it if it is text"
        raise Said(None, None, message, node.start_mark) from err


_RESOLVED: dict[str, str] = {}
"""The tags of plain scalars resolved so far (:meth:`PositionLoader.resolve`)."""
_RESOLVED_TEXT = 200
_RESOLVED_MAX = 100_000
"""At most this many texts of at most :data:`_RESOLVED_TEXT` characters are remembered: the
memo lives as long as the process, and a hostile file of a million different scalars must not
grow it without end (long texts seldom repeat; keys and kinds are short)."""

_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (iterative, memoised).

    Iterative, so that hostile nesting cannot exhaust the stack before :data:`MAX_DEPTH` is
    seen; memoised by node, so that an alias bomb (each level nine aliases of the one before)
    costs one visit per distinct node: its expanded size is added up, never walked."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise TooDeep(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done or not children:
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise TooBig(node)
            sizes[id(node)] = total
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


_UNCHECKED = 1_000_000
"""Subtracted from the depth of a document checked before it is built (never too deep)."""


def _check_depth(root: yaml.Node, depth: int = 0) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` in a tree whose root is at ``depth``."""
    level = [root]
    while level:
        if depth > MAX_DEPTH:
            raise TooDeep(level[0])
        children: list[yaml.Node] = []
        for node in level:
            if isinstance(node, yaml.SequenceNode):
                children.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                children.extend(n for pair in node.value for n in pair)
        level = children
        depth += 1


def is_empty_document(node: yaml.Node) -> bool:
    """A document with no content (a trailing ``---``, or only comments after one)."""
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and node.value == ""
        and not node.style  # plain (None in PyYAML, "" in libyaml), not ''
    )


def inline_rosters() -> tuple[tuple[str, str, str], ...]:
    """Where a spec document holds an inline roster: the input's member of each kind the
    registry holds (``spec.input.speakers``), asked when a document is read, so that a kind
    registered later keeps its roster's data out of messages too."""
    return tuple(("spec", "input", kind.roster[0]) for kind in jobkinds.KINDS.values())


EVERYTHING = ((0, 1 << 62),)
"""The private ranges of a roster file: all of it."""


def roster_ranges(document: yaml.Node) -> tuple[tuple[int, int], ...]:
    """The character ranges of a spec document's inline rosters (``PositionLoader.private``)."""
    ranges = []
    for path in inline_rosters():
        node: yaml.Node | None = document
        for part in path:
            node = _child(node, part)
        if node is not None:
            ranges.append((node.start_mark.index, node.end_mark.index))
    return tuple(ranges)


def _child(node: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
            child: yaml.Node = value_node
            return child
    return None


class TooDeep(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def location(path: Path, node_or_mark: Any) -> Location:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return Location(path)
    return Location(path, mark.line + 1, mark.column + 1)


def node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
    """The node a pydantic error location points at.

    A location that runs past the tree (a missing field) gives its deepest existing parent.
    """
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = [
                (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode) and k.value == part
            ]
            if not match:
                return node
            node = match[-1][1]
        elif (
            isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value)
        ):
            node = node.value[part]
        else:
            return node
    return node


def read_text_checked(path: Path) -> str:
    """A spec or roster file's text; refuses huge, binary, non-UTF-8 and special files."""
    return decode_checked(path, read_bytes_checked(path))


def read_bytes_checked(path: Path | str) -> bytes:
    """A spec or roster file's bytes; refuses huge and special files."""
    try:  # opened without blocking (a FIFO), then judged by what was opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as err:
        raise SpecError(Location(path), f"cannot read file: {err.strerror or err}") from err
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(Location(path), "not a regular file")
        data = _read_upto(fd, info.st_size) if info.st_size <= MAX_FILE_BYTES else b""
        size = max(info.st_size, len(data))  # a file that grew meanwhile is read no further
        if size > MAX_FILE_BYTES:
            raise SpecError(
                Location(path), f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit"
            )
        return data
    except OSError as err:
        raise SpecError(Location(path), f"cannot read file: {err.strerror or err}") from err
    finally:
        os.close(fd)


def _read_upto(fd: int, size: int) -> bytes:
    """The bytes of an open file: ``size`` as ``fstat`` said and one more (to see that it grew),
    read straight from the descriptor (no file object for a spec of a few hundred bytes); on
    to the end of the file, or just past :data:`MAX_FILE_BYTES`, when the first read is short
    or the file grew."""
    # Straight from the descriptor: a file object's read(MAX + 1) allocated 8 MiB for each file
    # (10,000 spec files: 0.27 s of CPU; now 0.05 s: 00cc867, bench/README.md).
    data = os.read(fd, size + 1)
    if len(data) == size:  # what fstat said: at the end (a file growing now is read no further)
        return data
    chunks = [data]
    total = len(data)
    while total <= MAX_FILE_BYTES and (chunk := os.read(fd, MAX_FILE_BYTES + 1 - total)):
        chunks.append(chunk)
        total += len(chunk)
    return b"".join(chunks)


def decode_checked(path: Path, data: bytes) -> str:
    """The text of a file's bytes; refuses binary, non-UTF-8 and empty files."""
    if b"\0" in data:  # binary: said so, not as YAML's "unacceptable character"
        raise SpecError(Location(path), "binary file (contains NUL bytes), not YAML")
    try:
        text = data.decode("utf-8-sig")  # a BOM (some Windows editors write one) is dropped
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError(
            Location(path, line, 0), f"not UTF-8 (invalid byte 0x{data[err.start]:02x})"
        ) from err
    if not text.strip():
        raise SpecError(Location(path), "empty file: expected at least one spec document")
    return text


def unmarked_yaml_error(path: Path, text: str, err: yaml.YAMLError) -> SpecError:
    """A YAML error without a mark (a ReaderError: a control character) as one located line."""
    message = quiet(str(err).splitlines()[0]) if str(err) else "invalid YAML"
    position = getattr(err, "position", None)
    if not isinstance(position, int):
        return SpecError(Location(path), f"YAML: {message}")
    # libyaml counts bytes of the UTF-8 text; the pure-Python reader counts characters
    before = (
        text[:position]
        if _Loader is yaml.SafeLoader
        else text.encode("utf-8")[:position].decode("utf-8", "ignore")
    )
    line = before.count("\n") + 1
    column = len(before) - (before.rfind("\n") + 1) + 1
    return SpecError(Location(path, line, column), f"YAML: {message}")


def field_names() -> tuple[str, ...]:
    """Every field name a spec document of a registered kind can have (for "did you mean")."""
    return _field_names(tuple(jobkinds.KINDS))


# The schema is fixed for a build: walked once per process, not per message. Keyed by the kinds
# registered, so a kind a test registers later has its own fields' names too.
@functools.cache
def _field_names(kinds: tuple[str, ...]) -> tuple[str, ...]:
    del kinds  # only the cache's key: json_schema() asks the registry itself
    names: set[str] = set()

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            properties = value.get("properties")
            if isinstance(properties, dict):
                names.update(properties)
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(json_schema())
    return tuple(sorted(names))
