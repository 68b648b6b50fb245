"""Loading specs: discover the files, parse and validate every document, load the rosters.

Which YAML is a spec. A spec repository also holds ``.pre-commit-config.yaml``, ``mkdocs.yml``,
CI workflows and YAML rosters, so in a directory given as a PATH only documents that **claim to
be ours** are specs: a mapping whose ``apiVersion`` is in our group (``voiceid-reconciler/...``)
or whose ``kind`` is one of ours. Everything else found there is skipped — another tool's YAML,
a list (a roster), an empty file, and a file that does not parse unless its text names our
group or one of our kinds — and so are hidden files and directories. A document that claims to
be ours and is broken is an error, as is every problem of a file named as a PATH itself.

A directory without any spec is an empty set of desired jobs, not an error: deleting the last
spec of a tree is a change to plan (every job of the state then belongs to a removed spec),
not a broken input. A PATH that does not exist is an error.

Files are read only inside the repository (:func:`~reconciler.core.roster.repository_root`: the
nearest directory holding ``.git`` above where a file was found, else that directory), as
rosters are: a spec file that is a symbolic link is read when its target is inside the
repository and refused otherwise (one error naming it), and so is a PATH that leads outside
through a link. Directories inside a PATH that are symbolic links are not walked (as before);
one that leads outside the repository is an error, so that a tree never silently drops specs
it cannot read. Only links pay for the check: a walk reads each entry's type from its directory.

A spec may not be named as a part of another spec's chunked roster (``big-part-001`` beside a
roster ``big`` of more than one job): the two would share one state entry.

Loading also sets the rosters that text from the world is redacted against
(:data:`reconciler.core.redact.MASK`): those :func:`check` loaded, or — :func:`load_specs`
loads none — those of its specs, read when a text first needs them.

Loading is one pass per file: the node tree is composed with positions
(:mod:`reconciler.core.yamlpos`), the documents are constructed from it and validated by
pydantic, and every problem of every file is collected and raised together as
:class:`~reconciler.core.errors.SpecErrors`. Names must be unique per kind. This module reads
files but talks to no network.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from reconciler.core import order
from reconciler.core.errors import Location, SpecError, SpecErrors
from reconciler.core.redact import MASK
from reconciler.core.roster import (
    has_roster,
    load_roster,
    outside_repository,
    part_names,
    repository_root,
    roster_errors,
)
from reconciler.core.selector import select
from reconciler.core.spec import KINDS, MODELS, LoadedSpec
from reconciler.core.speccache import SpecCache, file_key
from reconciler.core.yamlcheck import translate_errors
from reconciler.core.yamlpos import (
    MAX_DEPTH,
    MAX_NODES,
    PositionLoader,
    TooBig,
    TooDeep,
    decode_checked,
    is_empty_document,
    location,
    node_at,
    problem,
    read_bytes_checked,
    read_text_checked,
    roster_ranges,
    unmarked_yaml_error,
)

SPEC_SUFFIXES = (".yaml", ".yml")
API_GROUP = "voiceid-reconciler/"
"""Every apiVersion of ours starts with this."""


def claims_ours(data: Any) -> bool:
    """Whether a YAML document says it is a spec of ours (see the module's docstring)."""
    if not isinstance(data, dict):
        return False
    version, kind = data.get("apiVersion"), data.get("kind")
    return (isinstance(version, str) and version.startswith(API_GROUP)) or kind in MODELS


def _mentions_ours(text: str) -> bool:
    # A file that does not parse has no document to ask; the words of ours in its text are the
    # only sign it was meant to be a spec, and then its errors are ours to report.
    return API_GROUP in text or any(kind in text for kind in KINDS)


def discover(paths: Sequence[Path]) -> list[Path]:
    """Every spec file under ``paths`` (files as given, directories recursively), sorted.

    Hidden files and directories (``.git``, ``.pre-commit-config.yaml``) are skipped inside
    directories. A path that does not exist is an error, and so is a link that leads outside
    the repository.
    """
    found, outside = _discover(paths)
    if outside:
        raise SpecErrors(outside)
    return [Path(f) for f in found]


def _discover(paths: Sequence[Path]) -> tuple[list[str], list[SpecError]]:
    """:func:`discover`, each path as its text (``str`` of the ``Path``: a run of 50,000
    specs makes no ``Path`` for a file it finds), and the links that lead outside the
    repository (problems reported with the specs' own)."""
    found: set[str] = set()
    missing: list[SpecError] = []
    outside: list[SpecError] = []
    for path in paths:
        if path.is_dir():
            root = repository_root(path)
            if (target := outside_repository(path, root)) is not None:
                outside.append(_outside(path, "directory", target))
                continue
            _walk(path, root, found, outside)
        elif path.exists():
            target = outside_repository(path)  # as named: a file, or a link to one
            if target is None:
                found.add(os.fspath(path))
            else:
                outside.append(_outside(path, "file", target))
        else:
            missing.append(SpecError(Location(path), "no such file or directory"))
    if missing:
        raise SpecErrors(missing)
    # Sorted: the files, and so the specs, the plan's order and which of two duplicate names is
    # the 'first', are the same whatever order the filesystem lists them in.
    return sorted(found), outside


def _walk(top: Path, root: Path, found: set[str], problems: list[SpecError]) -> None:
    """The spec files under ``top`` (in ``found``), as ``os.walk`` finds them without
    following links; a link (to a file or a directory) that leads outside the repository
    ``root`` is a problem. Each entry's type comes from its directory's listing, so a tree
    without links costs no call per file."""
    pending = [os.fspath(top)]
    while pending:
        directory = pending.pop()
        here = os.fspath(Path(directory))  # as a Path writes it ("./a" is "a")
        # Children named by joining text, as Path(directory) / name would write them (a test
        # holds them equal): a Path made, hashed and sorted per file found was 0.07 s at 10,000
        # specs.
        prefix = "" if here == "." else here if here.endswith("/") else f"{here}/"
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError:  # as os.walk: a directory that cannot be listed is passed over
            continue
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            link = entry.is_symlink()
            try:
                is_dir = entry.is_dir()  # through a link, as os.walk sorts them
            except OSError:
                is_dir = False
            if is_dir:
                # A link to a directory is not walked (os.walk's followlinks=False): a link loop
                # cannot make the walk endless, and a tree linked twice is not loaded twice as
                # duplicate names.
                if not link:
                    pending.append(prefix + name)
                elif (target := outside_repository(entry.path, root)) is not None:
                    problems.append(_outside(Path(prefix + name), "directory", target))
            elif name.endswith(SPEC_SUFFIXES):
                if link and (target := outside_repository(entry.path, root)) is not None:
                    problems.append(_outside(Path(prefix + name), "file", target))
                else:
                    found.add(prefix + name)


def _outside(path: Path, what: str, target: Path) -> SpecError:
    return SpecError(
        Location(path),
        f"a symbolic link to a {what} outside the repository ({target}); not read",
    )


@dataclass
class _FileResult:
    specs: list[LoadedSpec] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)


def load_file(
    path: Path | str, *, found: bool = False, cache: SpecCache | None = None
) -> tuple[list[LoadedSpec], list[SpecError]]:
    """Every valid spec document of one file, and every problem found in it. ``found``: the
    file was found in a directory, so only documents that claim to be ours count (and a file
    without any is no problem). ``cache``: a file whose bytes loaded without a problem before
    comes from it (:mod:`reconciler.core.speccache`), and one that loads so now goes into it."""
    data: bytes | None = None
    key = ""
    if cache is not None:
        try:
            # The bytes are read once: their digest is the cache's key, and on a miss the same
            # bytes are parsed (no second read of the file).
            data = read_bytes_checked(path)
        except SpecError:
            data = None  # reported by the parse below
        else:
            # strict in the key: a file named as a PATH is judged on every problem, one found in
            # a directory only on the documents that claim to be ours; the two judgements are
            # cached apart.
            key = file_key(data, strict=not found)
            cached = cache.lookup(key, path)
            # A hit parses no YAML and validates nothing: its bytes were validated before, by
            # this code (the cache's stamp covers the code that judged them).
            if cached is not None:
                return cached, []
    path = Path(path)
    specs, errors = _load_file(path, strict=not found, data=data)
    if found and errors:
        text = _text_or_none(path)
        if text is not None and not _mentions_ours(text):
            errors = []  # another tool's broken YAML: not ours to judge
    # Only a file that loaded without a problem is remembered: a broken file is parsed again at
    # every run, so its errors are reported at every run.
    if cache is not None and data is not None and not errors:
        cache.remember(key, specs)
    return specs, errors


def _text_or_none(path: Path) -> str | None:
    """The text of a file, "" for an empty one, None when it cannot be read as text."""
    try:
        if path.is_file() and path.stat().st_size == 0:
            return ""
        return read_text_checked(path)
    except (SpecError, OSError):
        return None


def _load_file(
    path: Path, *, strict: bool, data: bytes | None = None
) -> tuple[list[LoadedSpec], list[SpecError]]:
    result = _FileResult()
    try:
        text = read_text_checked(path) if data is None else decode_checked(path, data)
    except SpecError as err:
        return [], [err]
    check_aliases = "&" in text  # no anchor, no alias: the expansion check is skipped
    loader = PositionLoader(text)
    try:
        documents = 0
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                if node is None or is_empty_document(node):
                    continue
                documents += 1
                loader.private = roster_ranges(node)  # messages do not quote roster data
                data = loader.read(node, aliases=check_aliases)
            except yaml.MarkedYAMLError as err:
                mark = err.problem_mark or err.context_mark
                said = problem(err)  # no roster data quoted
                result.errors.append(SpecError(location(path, mark), f"YAML: {said}"))
                return result.specs, result.errors  # the parser cannot continue after this
            except yaml.YAMLError as err:
                result.errors.append(unmarked_yaml_error(path, text, err))
                return result.specs, result.errors
            except (TooDeep, RecursionError) as err:
                where = location(path, err.node) if isinstance(err, TooDeep) else Location(path)
                result.errors.append(SpecError(where, f"nesting deeper than {MAX_DEPTH} levels"))
                return result.specs, result.errors
            except TooBig as err:
                result.errors.append(
                    SpecError(
                        location(path, err.node),
                        f"document expands to more than {MAX_NODES:,} nodes (alias bomb?)",
                    )
                )
                return result.specs, result.errors
            if strict or claims_ours(data):
                _validate_document(path, node, data, result)
        if documents == 0 and strict:
            result.errors.append(SpecError(Location(path), "no spec documents in file"))
    finally:
        loader.dispose()
    return result.specs, result.errors


def _validate_document(path: Path, node: yaml.Node, data: Any, result: _FileResult) -> None:
    where = location(path, node)
    if not isinstance(data, dict):
        shape = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        result.errors.append(SpecError(where, f"a spec document must be a mapping, not {shape}"))
        return
    kind = data.get("kind")
    model = MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        target = node_at(node, ["kind"])
        message = (
            "missing 'kind'"
            if kind is None
            else f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}"
        )
        result.errors.append(SpecError(location(path, target), message))
        return
    try:
        document = model.model_validate(data)
    except ValidationError as err:
        result.errors.extend(translate_errors(path, node, str(kind), err))
        return
    name_node = node_at(node, ["metadata", "name"])
    result.specs.append(LoadedSpec.of(document, where, location(path, name_node)))


def load_specs(paths: Iterable[Path]) -> list[LoadedSpec]:
    """Load and validate every spec under ``paths``; raise :class:`SpecErrors` listing all problems.

    Beyond each document's own validity, names must be unique per kind.
    """
    specs, errors = _specs_and_errors(list(paths))
    if errors:
        raise SpecErrors(errors)
    rostered = [s for s in specs if has_roster(s)]
    # Rosters are read only if a text from the world needs redacting against them: plan and
    # apply load no roster otherwise, and a run with nothing to redact never reads them.
    MASK.use((), [lambda: [load_roster(s) for s in rostered]] if rostered else [])
    return specs


def _specs_and_errors(
    paths: list[Path], cache: SpecCache | None = None
) -> tuple[list[LoadedSpec], list[SpecError]]:
    """The valid specs under ``paths`` and every problem found, in one pass (a broken file
    does not hide the problems of the others, nor their duplicate names)."""
    files, outside = _discover(paths)
    named = {os.fspath(p) for p in paths if not p.is_dir()}
    specs: list[LoadedSpec] = []
    errors: list[SpecError] = []
    for path in files:
        loaded, problems = load_file(path, found=path not in named, cache=cache)
        specs.extend(loaded)
        errors.extend(problems)
    rosters = {_roster_path(spec) for spec in specs} - {None}
    if rosters:  # YAML roster files next to the specs are not specs themselves
        # By the resolved path: a spec names its roster relative to itself, the walk by the PATH
        # given; only the real paths compare.
        specs = [s for s in specs if s.location.path.resolve() not in rosters]
        errors = [e for e in errors if e.location.path.resolve() not in rosters]
    errors.extend(outside)
    seen: dict[str, LoadedSpec] = {}
    for spec in specs:
        first = seen.setdefault(spec.key, spec)
        if first is not spec:
            errors.append(
                SpecError(
                    spec.name_location,
                    f"duplicate {spec.kind} name {spec.name!r} "
                    f"(first defined at {first.name_location})",
                )
            )
    return specs, errors


def _roster_path(spec: LoadedSpec) -> Path | None:
    relative = spec.facts.roster_file
    if not relative:
        return None
    try:
        return (spec.location.path.parent / str(relative)).resolve()
    except (OSError, RuntimeError):  # a symlink loop: reported when the roster is read
        return None


def load(
    paths: Sequence[Path], selectors: Sequence[str] = (), *, cache: SpecCache | None = None
) -> list[LoadedSpec]:
    """Every spec under ``paths`` and its roster (all validated together), then narrowed by
    the selectors; ``cache`` spares parsing files validated before."""
    loaded, errors = check(paths, cache=cache)
    if errors:
        raise SpecErrors(errors)
    return select(loaded, selectors) if selectors else loaded


def check(
    paths: Sequence[Path], *, cache: SpecCache | None = None
) -> tuple[list[LoadedSpec], list[SpecError]]:
    """Every valid spec under ``paths`` with its roster, and every problem of the specs and
    the rosters at once (``validate`` shows them all in one go, never in stages)."""
    specs, errors = _specs_and_errors(list(paths), cache)
    loaded: list[LoadedSpec] = []
    for spec in specs:
        if has_roster(spec):
            try:
                spec = replace(spec, roster=tuple(load_roster(spec)))  # noqa: PLW2901
            except SpecError as err:
                errors.extend(roster_errors(err))
                continue
        loaded.append(spec)
    MASK.use(s.roster for s in loaded if s.roster is not None)
    errors.extend(_part_collisions(loaded))
    errors.extend(order.problems(specs))  # dependsOn: unknown names, cycles
    # By file and position: validate lists the problems in the order a reader meets them, the
    # same order at every run.
    return loaded, sorted(errors, key=SpecError.sort_key)


def _part_collisions(specs: Sequence[LoadedSpec]) -> list[SpecError]:
    """A spec named as a part of another spec's chunked roster: both would be one state
    entry (``<kind>/<name>-part-NNN``), so the spec is refused, naming the roster's spec."""
    by_key = {s.key: s for s in specs}
    errors = []
    for spec in specs:
        for part in part_names(spec):
            other = by_key.get(f"{spec.kind}/{part}")
            if other is not None:
                errors.append(
                    SpecError(
                        other.name_location,
                        f"{other.kind} name {part!r} is the name of a part of {spec.name!r} "
                        f"(defined at {spec.name_location}: its roster of "
                        f"{len(spec.roster or ()):,} entries is {len(part_names(spec))} jobs); "
                        "rename one of them",
                    )
                )
    return errors


def load_selected(
    paths: Sequence[Path], selectors: Sequence[str], *, cache: SpecCache | None = None
) -> tuple[list[LoadedSpec], frozenset[str]]:
    """The specs the selectors choose, and the keys of those they leave out (which still
    exist: their records are not this run's to report as orphans)."""
    # Every spec is loaded and validated, not only the selected: a selector never hides a broken
    # spec, and the keys left out must be known to keep their jobs from being reported orphaned.
    every = load(paths, cache=cache)
    chosen = select(every, selectors) if selectors else every
    return chosen, frozenset(s.key for s in every) - {s.key for s in chosen}
