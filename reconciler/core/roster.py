"""Rosters kept in git: inline lists or CSV/YAML files of speakers or fraudsters.

A roster becomes one or more manifests, rendered here deterministically (no network):

* **Loading.** ``spec.input.speakers`` / ``fraudsters`` inline, or ``speakersFile`` /
  ``fraudstersFile``: a CSV or YAML file whose path is relative to the spec file (to the file a
  symlinked spec leads to) and must resolve inside the repository (:func:`repository_root`: the
  nearest directory holding ``.git`` above the spec *as it was found*, else that directory;
  symlinks resolved on both sides).
  CSV columns: ``speakerId,audio,channel`` for speakers, ``audio,channel`` for fraudsters;
  ``audio`` holds 1-10 S3 URIs separated by spaces or ``;``, ``channel`` is 0 (default) or 1.
  Column names are exact and each given once; spaces around a name or a value are not part of
  it (a quoted field may follow ``, ``), nor is a BOM.
  A YAML file is a list of the same entries as the inline form. Every Voice ID limit is checked
  with ``file:line`` errors; a value of a roster (a speaker id, an audio URI) is never echoed in
  an error, only the product's own words (column and field names). A roster file's errors
  name it relative to the working directory when it is inside it (:func:`shown`), as the
  specs found under a relative PATH are named: ``validate --format github`` annotates its lines.
* **Chunking.** Above the per-job limits (10,000 speakers, 500 fraudsters) a roster becomes
  ordered parts ``<name>-part-001``, ``-part-002``, ... by position, each its own job and hash,
  so editing one part's entries starts only that part again. A spec may not be named as
  another spec's part (:func:`part_names`; :mod:`reconciler.core.loading` refuses it).
* **Rendering.** The manifest of a part is canonical JSON (sorted keys, no whitespace) with
  RequestIds ``req-<position>`` that are stable and carry no personal data; its SHA-256 is the
  manifest digest in the spec hash and in the staged object's name.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.core import jobkinds
from reconciler.core.errors import Location, SpecError, SpecErrors
from reconciler.core.spec import LoadedSpec
from reconciler.core.specsections import (
    MAX_AUDIO_PER_REQUEST,
    S3_URI_PATTERN,
    VOICEID_NAME_PATTERN,
    AudioFile,
    Fraudster,
    Speaker,
)
from reconciler.core.yamlcheck import load_yaml_list
from reconciler.core.yamlpos import read_text_checked

# A bound of ours, not Voice ID's: a million speakers is a hundred jobs, far past any real
# roster; a file beyond it (a mistake, or hostile) is refused before its parts are rendered and
# held in memory whole.
MAX_ROSTER_ENTRIES = 1_000_000

# The CSV rows are checked by hand against the very patterns and limits the YAML roster's models
# use (specsections): both forms of a roster must refuse the same values.
_S3 = re.compile(S3_URI_PATTERN)
_NAME = re.compile(VOICEID_NAME_PATTERN)


@dataclass(frozen=True)
class Request:
    """One enrollment or registration request (a speaker id only for enrollment)."""

    speaker_id: str | None
    audio: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Part:
    """One manifest of a roster: its name suffix, rendered body and digest."""

    index: int | None  # None when the roster fits in one job
    body: bytes
    digest: str
    count: int

    def name(self, base: str) -> str:
        return base if self.index is None else f"{base}-part-{self.index:03d}"


def roster_source(spec: LoadedSpec) -> tuple[Sequence[Speaker | Fraudster] | None, str | None]:
    """The inline roster or the roster file path of a spec (both None for a manifest input),
    by the members its kind names."""
    return jobkinds.of(spec.kind).roster_of(spec.document)


def has_roster(spec: LoadedSpec) -> bool:
    return spec.facts.inline_roster or spec.facts.roster_file is not None


def load_roster(spec: LoadedSpec) -> list[Request]:
    """The requests of a spec's roster; raises :class:`SpecError` with a file:line."""
    inline, relative = roster_source(spec)
    if inline is not None:
        return [_request(entry) for entry in inline]
    assert relative is not None
    path = _inside_repository(spec, relative)
    if path.suffix.lower() == ".csv":
        return _load_csv(path, speakers=jobkinds.of(spec.kind).speaker_ids)
    if path.suffix.lower() in (".yaml", ".yml"):
        return _load_yaml(path, speakers=jobkinds.of(spec.kind).speaker_ids)
    raise SpecError(spec.location, f"roster file {relative!r} must be .csv, .yaml or .yml")


def _request(entry: Speaker | Fraudster) -> Request:
    audio = tuple((a.uri, a.channel) if isinstance(a, AudioFile) else (a, 0) for a in entry.audio)
    return Request(getattr(entry, "speaker_id", None), audio)


def repository_root(directory: Path | str) -> Path:
    """The repository of a spec found in ``directory`` (as it was found: a relative path is
    made absolute, no symlink is followed), resolved: the nearest directory at or above it
    that holds ``.git``, else ``directory`` itself. Files are read only inside it: a symlink
    (a spec, a roster, a directory) whose target is elsewhere is refused, so that a tree never
    makes the product read or upload what its repository does not hold."""
    start = Path(os.path.abspath(directory))  # noqa: PTH100 - resolve() would follow links
    for candidate in (start, *start.parents):
        if (candidate / ".git").exists():
            return candidate.resolve()
    return start.resolve()


def outside_repository(path: Path | str, root: Path | None = None) -> Path | None:
    """Where ``path`` leads (all symlinks resolved) when that is outside ``root`` (by default
    the repository of the directory it was found in), else None."""
    where = root if root is not None else repository_root(Path(path).parent)
    real = Path(os.path.realpath(path))
    return None if real.is_relative_to(where) else real


def shown(path: Path) -> Path:
    """A file the loader found by itself (``path``: absolute, resolved), as its problems name
    it: relative to the working directory when inside it, else as it is. The file is read
    through this path too (the working directory does not change during a run)."""
    try:
        return path.relative_to(Path.cwd())
    except (ValueError, OSError):  # outside it; or the working directory was removed
        return path


def _inside_repository(spec: LoadedSpec, relative: str) -> Path:
    base = spec.location.path.resolve().parent  # a symlinked spec's: next to its target
    root = repository_root(spec.location.path.parent)  # the repository it was found in
    try:
        # Resolved before the check: '../' or a symlink inside the repository may lead out of
        # it, and the file read (and its audio URIs uploaded into a manifest) must be one the
        # repository holds.
        path = (base / relative).resolve(strict=True)
    except FileNotFoundError:
        raise SpecError(spec.location, f"roster file {relative!r} does not exist") from None
    except (OSError, RuntimeError) as err:  # a symlink loop, a permission problem
        raise SpecError(spec.location, f"roster file {relative!r}: {err}") from err
    if not path.is_relative_to(root):
        raise SpecError(spec.location, f"roster file {relative!r} is outside the repository")
    # A directory or a FIFO inside the repository is no roster: reading a FIFO would block the
    # run.
    if not path.is_file():
        raise SpecError(spec.location, f"roster file {relative!r} does not exist")
    return shown(path)


def _load_csv(path: Path, *, speakers: bool) -> list[Request]:
    text = read_text_checked(path)  # size, NUL bytes, UTF-8, a regular file: as for specs
    try:
        return _parse_csv(path, text, speakers=speakers)
    except csv.Error as err:
        raise SpecError(Location(path), f"not a valid CSV roster: {err}") from err


def _parse_csv(path: Path, text: str, *, speakers: bool) -> list[Request]:
    # The spaces after a comma are not part of the field, in the header as in the rows: a
    # hand-written 'speakerId, audio' names its columns, and ', "s3://..."' is a quoted field
    # (without it the quotes would be part of the value). Every column's values are stripped
    # anyway, so a field read otherwise began with spaces and a quote, which no column accepts:
    # no roster that loaded reads otherwise, and no spec hash changes.
    reader = csv.DictReader(io.StringIO(text), skipinitialspace=True)
    given = [c.strip() for c in reader.fieldnames or []]
    columns = set(given)
    required = {"speakerId", "audio"} if speakers else {"audio"}
    allowed = required | {"channel"}
    problem = None
    if not required <= columns or not columns <= allowed:
        problem = _header(given, allowed)
    elif len(columns) < len(given):
        # csv.DictReader would keep the last of two columns of one name, and drop the other's
        # values without a word.
        twice = sorted({c for c in given if given.count(c) > 1})
        problem = f"got {','.join(twice)} more than once"
    if problem:
        raise SpecError(
            Location(path, 1, 1),
            f"CSV header must be {','.join(sorted(required))}[,channel]; {problem}",
        )
    # The rows are read under the names as checked: under ' channel' (a space after the comma),
    # every row's channel would otherwise be missing and read as 0.
    reader.fieldnames = given
    requests: list[Request] = []
    errors: list[SpecError] = []
    seen: dict[str, int] = {}
    for row in reader:
        line = reader.line_num
        where = Location(path, line, 1)
        problem = _check_row(row, speakers=speakers)
        if problem:
            errors.append(SpecError(where, problem))
            continue
        request = _row_request(row, speakers=speakers)
        if request.speaker_id is not None:
            # One speaker twice in a roster is two requests for one speaker in one job: which of
            # them Voice ID keeps is its choice, not the roster's. Refused naming the first
            # line, never the id.
            first = seen.setdefault(request.speaker_id, line)
            if first != line:
                errors.append(SpecError(where, f"same speakerId as line {first}"))
                continue
        requests.append(request)
        # Stop reading at the bound: a file of ten million lines is one error, not ten million
        # rows.
        if len(requests) > MAX_ROSTER_ENTRIES:
            errors.append(SpecError(where, f"more than {MAX_ROSTER_ENTRIES:,} entries"))
            break
    if errors:
        raise _Many(errors)
    # An empty roster renders no part and so no desired job: the spec would drop out of the plan
    # silently and its recorded jobs show as orphaned. Refused instead.
    if not requests:
        raise SpecError(Location(path, 1, 1), "roster has no entries")
    return requests


def _header(given: list[str], allowed: set[str]) -> str:
    """What a wrong header line holds, in the product's words: its column names, and how many
    other fields it has (never their text: a roster without its header line starts with a
    speaker id and an audio URI)."""
    if not given:
        return "got nothing"
    # A name that is a column's in another case is shown as written (its text is the product's
    # word), with the spelling to use: names are matched exactly, as a YAML roster's keys are.
    spelling = {c.casefold(): c for c in allowed}
    known = [c for c in given if c.casefold() in spelling]
    others = len(given) - len(known)
    if not known:
        return (
            f"the first line has no column name ({others} field{'s' if others != 1 else ''}, "
            "not shown: a roster without its header line?)"
        )
    more = f" and {others} other field{'s' if others != 1 else ''}" if others else ""
    miscased = [spelling[c.casefold()] for c in known if c not in allowed]
    case = f"; write {','.join(miscased)} (names are case-sensitive)" if miscased else ""
    return f"got {','.join(known)}{more}{case}"


def _check_row(row: dict[str, Any], *, speakers: bool) -> str | None:
    # csv.DictReader puts the fields beyond the header under the key None.
    if None in row:
        return "more columns than the header"
    # Spaces or ';' between a request's URIs, not commas: a comma would end the CSV field and
    # the next URI would read as a column of its own.
    audio = (row.get("audio") or "").replace(";", " ").split()
    if not 1 <= len(audio) <= MAX_AUDIO_PER_REQUEST:
        return f"audio: {len(audio)} files; 1 to {MAX_AUDIO_PER_REQUEST} are allowed"
    if any(not _S3.match(uri) or len(uri) > 1024 for uri in audio):
        return "audio: must be S3 URIs such as s3://bucket/key"
    if _channel(row) not in ("0", "1"):
        return "channel: must be 0 or 1"
    if speakers:
        speaker = (row.get("speakerId") or "").strip()
        if not speaker or len(speaker) > 256 or not _NAME.match(speaker):
            return (
                "speakerId: must be 1-256 letters, digits, '_' or '-', "
                "starting with a letter or digit"
            )
    return None


def _channel(row: dict[str, Any]) -> str:
    # Blank is the default, with or without spaces, as an empty field is.
    return (row.get("channel") or "").strip() or "0"


def _row_request(row: dict[str, Any], *, speakers: bool) -> Request:
    channel = int(_channel(row))
    audio = tuple((uri, channel) for uri in (row.get("audio") or "").replace(";", " ").split())
    return Request((row["speakerId"] or "").strip() if speakers else None, audio)


class _Many(SpecError):
    """Several problems in one roster file (raised as one, unpacked by the loader)."""

    def __init__(self, errors: list[SpecError]) -> None:
        super().__init__(errors[0].location, errors[0].message)
        self.errors = errors


def _load_yaml(path: Path, *, speakers: bool) -> list[Request]:
    try:
        entries, locate = load_yaml_list(path, Speaker if speakers else Fraudster)
    except SpecErrors as err:
        raise _Many(err.errors) from err
    requests = [_request(e) for e in entries]
    if speakers:
        seen: dict[str, int] = {}
        for i, request in enumerate(requests):
            assert request.speaker_id is not None
            first = seen.setdefault(request.speaker_id, i)
            if first != i:
                raise locate([i, "speakerId"], f"same speakerId as entry {first + 1}")
    if not requests:
        raise SpecError(Location(path), "roster has no entries")
    return requests


def roster_errors(err: SpecError) -> list[SpecError]:
    """Every problem a roster error stands for."""
    return err.errors if isinstance(err, _Many) else [err]


def part_names(spec: LoadedSpec) -> list[str]:
    """The names of the parts a spec's loaded roster is chunked into (none when it fits in
    one job, or has no roster): ``<name>-part-001``, ... — the names of state entries."""
    if spec.roster is None:
        return []
    size = jobkinds.of(spec.kind).per_job
    # Ceiling division: the number of parts parts() makes, without rendering them.
    count = -(-len(spec.roster) // size)
    if count <= 1:
        return []
    return [f"{spec.name}-part-{number:03d}" for number in range(1, count + 1)]


def parts(kind: str, requests: Sequence[Request], *, limit: int | None = None) -> list[Part]:
    """The manifests of a roster, in order; one part when it fits in one job."""
    size = limit or jobkinds.of(kind).per_job
    chunks = [requests[i : i + size] for i in range(0, len(requests), size)]
    out = []
    for number, chunk in enumerate(chunks, start=1):
        # RequestIds number the roster's entries across parts ('req-<position>'), so each part's
        # body, and so its digest and hash, depends only on its own entries and where they
        # stand: editing one part starts that part again, and no other.
        offset = (number - 1) * size
        body = render_manifest(kind, chunk, offset=offset)
        out.append(
            Part(
                # A roster that fits in one job is the spec's own job under the spec's own name;
                # only a chunked roster's jobs are named as parts.
                None if len(chunks) == 1 else number,
                body,
                hashlib.sha256(body).hexdigest(),
                len(chunk),
            )
        )
    return out


def render_manifest(kind: str, requests: Sequence[Request], *, offset: int = 0) -> bytes:
    """The manifest JSON of ``requests``, in the format of ``kind``
    (:meth:`reconciler.core.jobkinds.base.KindDef.manifest`: the format's one writer)."""
    return jobkinds.of(kind).manifest(requests, offset=offset)
