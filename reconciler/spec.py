"""Spec documents: the pydantic models and the YAML loader that reports file:line:column.

A spec file holds one or more Kubernetes-style YAML documents (separated by ``---``)::

    apiVersion: voiceid-reconciler/v1
    kind: SpeakerEnrollmentJob            # or FraudsterRegistrationJob
    metadata: {name: emea-branch-migration, labels: {team: fraud-ops}}
    spec: {domain: ..., dataAccessRoleArn: ..., input: {...}, output: {...}, ...}

Loading is one pass per file: libyaml (the C loader when PyYAML has it) composes the node
tree, which keeps the position of every node; the documents are constructed from it and
validated by pydantic; and only when something is wrong do we walk the node tree to turn
pydantic's error location into a ``file:line:column``. Every problem of every file is
collected and raised together as :class:`~reconciler.errors.SpecErrors`.

Inputs are untrusted: files over :data:`MAX_FILE_BYTES`, files that are not UTF-8 or are
binary, alias-expansion bombs, absurd nesting and duplicate keys are refused with one line
each, never a traceback. This module reads files but talks to no network.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, Self, TypeAlias

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic.alias_generators import to_camel

from reconciler.errors import Location, SpecError, SpecErrors

API_VERSION = "voiceid-reconciler/v1"
ENROLLMENT = "SpeakerEnrollmentJob"
REGISTRATION = "FraudsterRegistrationJob"
KINDS = (ENROLLMENT, REGISTRATION)

MAX_FILE_BYTES = 8 * 1024 * 1024
"""Spec files larger than this are refused before parsing (8 MiB holds a 10,000-speaker roster)."""
MAX_NODES = 1_000_000
"""A file whose documents expand (through aliases) to more nodes than this is refused."""
MAX_DEPTH = 64
"""Deeper nesting than this is refused; a spec needs fewer than ten levels."""
SPEC_SUFFIXES = (".yaml", ".yml")
MAX_AUDIO_PER_REQUEST = 10

_Loader: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

# --- field types (the Voice ID model's constraints) -------------------------------------------

S3_URI_PATTERN = r"^s3://[a-z0-9][\.\-a-z0-9]{1,61}[a-z0-9](/.*)?$"
NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
VOICEID_NAME_PATTERN = r"^[a-zA-Z0-9][a-zA-Z0-9_-]*$"
ROLE_ARN_PATTERN = r"^arn:aws(-[^:]+)?:iam::[0-9]{12}:role/.+$"
LABEL_KEY_PATTERN = r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?$"
LABEL_VALUE_PATTERN = r"^([a-zA-Z0-9]([-_.a-zA-Z0-9]*[a-zA-Z0-9])?)?$"

S3Uri: TypeAlias = Annotated[str, StringConstraints(pattern=S3_URI_PATTERN, max_length=1024)]
S3Prefix: TypeAlias = Annotated[
    str, StringConstraints(pattern=S3_URI_PATTERN, max_length=900)
]  # room for "<JobId>/<file>.out"
VoiceIdName: TypeAlias = Annotated[
    str, StringConstraints(pattern=VOICEID_NAME_PATTERN, min_length=1, max_length=256)
]
Score: TypeAlias = Annotated[int, Field(ge=0, le=100)]
LabelKey: TypeAlias = Annotated[str, StringConstraints(pattern=LABEL_KEY_PATTERN, max_length=317)]
LabelValue: TypeAlias = Annotated[
    str, StringConstraints(pattern=LABEL_VALUE_PATTERN, max_length=63)
]


class _Model(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, strict=True, alias_generator=to_camel, populate_by_name=True
    )


class Metadata(_Model):
    """Who the spec is: its name (unique per kind) and labels for ``--selector``."""

    name: Annotated[str, StringConstraints(pattern=NAME_PATTERN, max_length=63)] = Field(
        description="Unique per kind; lowercase letters, digits and '-'; at most 63 characters."
    )
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict)


class AudioFile(_Model):
    """One audio file of a speaker, with the channel that holds the speaker's voice."""

    uri: S3Uri
    channel: Literal[0, 1] = 0


class Speaker(_Model):
    """One speaker of an inline roster. Speaker ids identify people: never logged."""

    speaker_id: VoiceIdName
    audio: Annotated[list[S3Uri | AudioFile], Field(min_length=1, max_length=MAX_AUDIO_PER_REQUEST)]


class Fraudster(_Model):
    """One fraudster of an inline roster: the audio of their voice."""

    audio: Annotated[list[S3Uri | AudioFile], Field(min_length=1, max_length=MAX_AUDIO_PER_REQUEST)]


_RosterPath: TypeAlias = Annotated[str, StringConstraints(min_length=1, max_length=1024)]


class _Input(_Model):
    manifest: S3Uri | None = Field(default=None, description="An existing manifest in S3.")
    staging_uri: S3Prefix | None = Field(
        default=None, description="Where the rendered manifest of a roster is uploaded."
    )

    _sources: ClassVar[tuple[str, str, str]]

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        inline, file_field, file_alias = self._sources
        given = [
            alias
            for attr, alias in (
                ("manifest", "manifest"),
                (inline, inline),
                (file_field, file_alias),
            )
            if getattr(self, attr) is not None
        ]
        if len(given) != 1:
            raise ValueError(
                f"exactly one of manifest, {inline}, {file_alias} is required"
                + (f" (got {', '.join(given)})" if given else "")
            )
        if self.manifest is None and self.staging_uri is None:
            raise ValueError("stagingUri is required with a roster")
        if self.manifest is not None and self.staging_uri is not None:
            raise ValueError("stagingUri only applies to a roster, not to manifest")
        relative = getattr(self, file_field)
        if relative is not None:
            p = Path(relative)
            if p.is_absolute() or ".." in p.parts:
                raise ValueError(f"{file_alias} must be a relative path inside the repository")
        return self


class EnrollmentInput(_Input):
    """Where the enrollment requests come from: exactly one of the three sources."""

    speakers: Annotated[list[Speaker], Field(min_length=1)] | None = None
    speakers_file: _RosterPath | None = Field(
        default=None, description="A CSV or YAML roster next to the spec (relative path)."
    )
    _sources = ("speakers", "speakers_file", "speakersFile")

    @model_validator(mode="after")
    def _unique_speakers(self) -> Self:
        if self.speakers:
            seen: dict[str, int] = {}
            for i, speaker in enumerate(self.speakers):
                first = seen.setdefault(speaker.speaker_id, i)
                if first != i:  # the id itself is personal data: say where, not what
                    raise ValueError(f"speakers[{i}] has the same speakerId as speakers[{first}]")
        return self


class RegistrationInput(_Input):
    """Where the registration requests come from: exactly one of the three sources."""

    fraudsters: Annotated[list[Fraudster], Field(min_length=1)] | None = None
    fraudsters_file: _RosterPath | None = Field(
        default=None, description="A CSV or YAML roster next to the spec (relative path)."
    )
    _sources = ("fraudsters", "fraudsters_file", "fraudstersFile")


class Output(_Model):
    """Where Voice ID writes the job's output file, and the KMS key it encrypts it with."""

    s3_uri: S3Prefix
    kms_key_id: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Required: the Voice ID guide says the output must be encrypted."
    )


class FraudDetection(_Model):
    """The fraud check run on each speaker before enrollment."""

    action: Literal["IGNORE", "FAIL"] = "FAIL"
    risk_threshold: Score | None = None
    watchlist: VoiceIdName | None = Field(
        default=None, description="Watchlist name or id; the domain's default when absent."
    )


class Enrollment(_Model):
    """EnrollmentConfig of StartSpeakerEnrollmentJob; every field optional."""

    existing_enrollment_action: Literal["SKIP", "OVERWRITE"] = "SKIP"
    fraud_detection: FraudDetection | None = None


class Registration(_Model):
    """RegistrationConfig of StartFraudsterRegistrationJob; every field optional."""

    duplicate_registration_action: Literal["SKIP", "REGISTER_AS_NEW"] = "SKIP"
    fraudster_similarity_threshold: Score | None = None
    watchlist: VoiceIdName | None = None


class _JobSpec(_Model):
    domain: VoiceIdName = Field(description="Voice ID domain name or 22-character DomainId.")
    data_access_role_arn: Annotated[
        str, StringConstraints(pattern=ROLE_ARN_PATTERN, min_length=20, max_length=2048)
    ]
    output: Output
    priority: int = Field(default=0, description="Higher starts first when a domain queues jobs.")
    revision: Annotated[int, Field(ge=0, le=999_999)] = Field(
        default=0, description="Bump to deliberately run the same job again."
    )
    max_attempts: Annotated[int, Field(ge=1, le=10)] = Field(
        default=1,
        description="How many times a FAILED job is started again (as a new attempt).",
    )


class EnrollmentSpec(_JobSpec):
    """The ``spec`` of a SpeakerEnrollmentJob."""

    input: EnrollmentInput
    enrollment: Enrollment = Field(default_factory=Enrollment)


class RegistrationSpec(_JobSpec):
    """The ``spec`` of a FraudsterRegistrationJob."""

    input: RegistrationInput
    registration: Registration = Field(default_factory=Registration)


class _Document(_Model):
    api_version: Literal["voiceid-reconciler/v1"]
    metadata: Metadata


class SpeakerEnrollmentJob(_Document):
    """A speaker enrollment batch job that should exist."""

    kind: Literal["SpeakerEnrollmentJob"]
    spec: EnrollmentSpec


class FraudsterRegistrationJob(_Document):
    """A fraudster registration batch job that should exist."""

    kind: Literal["FraudsterRegistrationJob"]
    spec: RegistrationSpec


SpecDocument: TypeAlias = SpeakerEnrollmentJob | FraudsterRegistrationJob
_MODELS: dict[str, type[SpeakerEnrollmentJob] | type[FraudsterRegistrationJob]] = {
    ENROLLMENT: SpeakerEnrollmentJob,
    REGISTRATION: FraudsterRegistrationJob,
}
_OTHER_SECTION = {"enrollment": ENROLLMENT, "registration": REGISTRATION}


@dataclass(frozen=True)
class LoadedSpec:
    """A validated spec document and where it came from."""

    document: SpecDocument
    location: Location
    name_location: Location
    roster: tuple[Any, ...] | None = None
    """The requests of a roster input (``reconciler.roster.Request``), once loaded."""

    @property
    def kind(self) -> str:
        return self.document.kind

    @property
    def name(self) -> str:
        return self.document.metadata.name

    @property
    def key(self) -> str:
        """``<kind>/<name>``: the spec's identity in the state and in plans."""
        return f"{self.document.kind}/{self.document.metadata.name}"


# --- discovery --------------------------------------------------------------------------------


def discover(paths: Sequence[Path]) -> list[Path]:
    """Every spec file under ``paths`` (files as given, directories recursively), sorted.

    Hidden directories (``.git``) are skipped. A path that does not exist is an error.
    """
    found: set[Path] = set()
    missing: list[SpecError] = []
    for path in paths:
        if path.is_dir():
            for root, dirs, files in os.walk(path, followlinks=False):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                found.update(Path(root, f) for f in files if f.endswith(SPEC_SUFFIXES))
        elif path.exists():
            found.add(path)
        else:
            missing.append(SpecError(Location(path), "no such file or directory"))
    if missing:
        raise SpecErrors(missing)
    return sorted(found, key=str)


# --- YAML with positions ----------------------------------------------------------------------


class _PositionLoader(_Loader):  # type: ignore[misc,valid-type]
    """The safe loader, refusing duplicate keys (which YAML would silently overwrite)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value != "<<":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                seen.add(key_node.value)
        result: dict[Any, Any] = super().construct_mapping(node, deep=deep)
        return result

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        with _marked(node):
            return super().construct_object(node, deep=deep)

    def to_python(self, node: yaml.Node) -> Any:
        """Construct a document's data; a fast path for the plain nodes specs are made of.

        Strings, lists and mappings without merge keys are built directly (the generic
        constructor's bookkeeping costs more than the parse); any other node goes through the
        safe constructor, so the result is what ``yaml.safe_load`` gives.
        """
        if isinstance(node, yaml.ScalarNode):
            if node.tag == _STR:
                return node.value
            construct = self.yaml_constructors.get(node.tag)
            with _marked(node):
                return self.construct_document(node) if construct is None else construct(self, node)
        if isinstance(node, yaml.SequenceNode) and node.tag == _SEQ:
            return [self.to_python(child) for child in node.value]
        if isinstance(node, yaml.MappingNode) and node.tag == _MAP:
            result: dict[Any, Any] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == _MERGE:
                    return self.construct_document(node)
                key = self.to_python(key_node)
                if key in result:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key {key_node.value!r}", key_node.start_mark
                    )
                result[key] = self.to_python(value_node)
            return result
        return self.construct_document(node)


@contextmanager
def _marked(node: yaml.Node) -> Iterator[None]:
    """Turn the plain errors of scalar constructors (``2024-13-01``, ``!!int x``) into marks."""
    try:
        yield
    except (ValueError, LookupError, AttributeError, TypeError, ArithmeticError) as err:
        value = str(node.value)
        shown = value if len(value) <= 40 else value[:37] + "..."
        tag = node.tag.rsplit(":", 1)[-1]
        raise yaml.constructor.ConstructorError(
            None, None, f"cannot read {shown!r} as {tag} ({err})", node.start_mark
        ) from err


_STR = "tag:yaml.org,2002:str"
_SEQ = "tag:yaml.org,2002:seq"
_MAP = "tag:yaml.org,2002:map"
_MERGE = "tag:yaml.org,2002:merge"


def _expanded_size(root: yaml.Node) -> int:
    """How many nodes the document has once every alias is expanded (iterative, memoised)."""
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, int, bool]] = [(root, 0, False)]
    while stack:
        node, depth, done = stack.pop()
        if id(node) in sizes:
            continue
        if depth > MAX_DEPTH:
            raise _TooDeep(node)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        if done or not children:
            total = 1 + sum(sizes[id(c)] for c in children)
            if total > MAX_NODES:
                raise _TooBig(node)
            sizes[id(node)] = total
            continue
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children if id(c) not in sizes)
    return sizes[id(root)]


def _check_depth(root: yaml.Node) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` in a document without aliases (a tree)."""
    level = [root]
    depth = 0
    while level:
        if depth > MAX_DEPTH:
            raise _TooDeep(level[0])
        children: list[yaml.Node] = []
        for node in level:
            if isinstance(node, yaml.SequenceNode):
                children.extend(node.value)
            elif isinstance(node, yaml.MappingNode):
                children.extend(n for pair in node.value for n in pair)
        level = children
        depth += 1


def _is_empty_document(node: yaml.Node) -> bool:
    """A document with no content (a trailing ``---``, or only comments after one)."""
    return (
        isinstance(node, yaml.ScalarNode)
        and node.tag == "tag:yaml.org,2002:null"
        and node.value == ""
        and not node.style  # plain (None in PyYAML, "" in libyaml), not ''
    )


class _TooDeep(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


class _TooBig(Exception):
    def __init__(self, node: yaml.Node) -> None:
        self.node = node


def _location(path: Path, node_or_mark: Any) -> Location:
    mark = getattr(node_or_mark, "start_mark", node_or_mark)
    if mark is None:
        return Location(path)
    return Location(path, mark.line + 1, mark.column + 1)


def _node_at(root: yaml.Node, loc: Sequence[int | str]) -> yaml.Node:
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
    try:
        info = path.stat()
        if not stat.S_ISREG(info.st_mode):
            raise SpecError(Location(path), "not a regular file")
        size = info.st_size
        if size > MAX_FILE_BYTES:
            raise SpecError(
                Location(path), f"file is {size:,} bytes, over the {MAX_FILE_BYTES:,}-byte limit"
            )
        data = path.read_bytes()
    except OSError as err:
        raise SpecError(Location(path), f"cannot read file: {err.strerror or err}") from err
    if b"\0" in data:
        raise SpecError(Location(path), "binary file (contains NUL bytes), not YAML")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise SpecError(
            Location(path, line, 0), f"not UTF-8 (invalid byte 0x{data[err.start]:02x})"
        ) from err
    if not text.strip():
        raise SpecError(Location(path), "empty file: expected at least one spec document")
    return text


@dataclass
class _FileResult:
    specs: list[LoadedSpec] = field(default_factory=list)
    errors: list[SpecError] = field(default_factory=list)


def load_file(path: Path) -> tuple[list[LoadedSpec], list[SpecError]]:
    """Every valid spec document of one file, and every problem found in it."""
    result = _FileResult()
    try:
        text = read_text_checked(path)
    except SpecError as err:
        return [], [err]
    check_aliases = "&" in text  # no anchor, no alias: the expansion check is skipped
    loader = _PositionLoader(text)
    try:
        documents = 0
        while True:
            try:
                if not loader.check_node():
                    break
                node = loader.get_node()
                if node is None or _is_empty_document(node):
                    continue
                documents += 1
                if check_aliases:
                    _expanded_size(node)
                else:
                    _check_depth(node)
                data = loader.to_python(node)
            except yaml.MarkedYAMLError as err:
                mark = err.problem_mark or err.context_mark
                problem = err.problem or err.context or "invalid YAML"
                result.errors.append(SpecError(_location(path, mark), f"YAML: {problem}"))
                return result.specs, result.errors  # the parser cannot continue after this
            except yaml.YAMLError as err:
                result.errors.append(_unmarked_yaml_error(path, text, err))
                return result.specs, result.errors
            except (_TooDeep, RecursionError) as err:
                where = _location(path, err.node) if isinstance(err, _TooDeep) else Location(path)
                result.errors.append(SpecError(where, f"nesting deeper than {MAX_DEPTH} levels"))
                return result.specs, result.errors
            except _TooBig as err:
                result.errors.append(
                    SpecError(
                        _location(path, err.node),
                        f"document expands to more than {MAX_NODES:,} nodes (alias bomb?)",
                    )
                )
                return result.specs, result.errors
            _validate_document(path, node, data, result)
        if documents == 0:
            result.errors.append(SpecError(Location(path), "no spec documents in file"))
    finally:
        loader.dispose()
    return result.specs, result.errors


def _unmarked_yaml_error(path: Path, text: str, err: yaml.YAMLError) -> SpecError:
    """A YAML error without a mark (a ReaderError: a control character) as one located line."""
    message = str(err).splitlines()[0] if str(err) else "invalid YAML"
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


def _validate_document(path: Path, node: yaml.Node, data: Any, result: _FileResult) -> None:
    where = _location(path, node)
    if not isinstance(data, dict):
        shape = "a list" if isinstance(data, list) else f"a {type(data).__name__}"
        result.errors.append(SpecError(where, f"a spec document must be a mapping, not {shape}"))
        return
    kind = data.get("kind")
    model = _MODELS.get(kind) if isinstance(kind, str) else None
    if model is None:
        target = _node_at(node, ["kind"])
        message = (
            "missing 'kind'"
            if kind is None
            else f"unknown kind {kind!r}: expected one of {', '.join(KINDS)}"
        )
        result.errors.append(SpecError(_location(path, target), message))
        return
    try:
        document = model.model_validate(data)
    except ValidationError as err:
        details = err.errors(include_url=False, include_input=False)
        for detail in _without_union_noise(details):
            result.errors.append(_translate(path, node, str(kind), detail))
        return
    name_node = _node_at(node, ["metadata", "name"])
    result.specs.append(LoadedSpec(document, where, _location(path, name_node)))


_UNION_TAGS = frozenset({"str", "constrained-str", "AudioFile"})
"""How pydantic names the members of ``S3Uri | AudioFile`` in an error location."""
_WRONG_MEMBER = frozenset({"string_type", "model_type"})


def _union_point(detail: Any) -> tuple[Any, ...] | None:
    for i, part in enumerate(detail["loc"]):
        if isinstance(part, str) and part in _UNION_TAGS:
            return tuple(detail["loc"][:i])
    return None


def _without_union_noise(details: Sequence[Any]) -> list[Any]:
    """Drop "wrong type" errors of a union member when another member says what is wrong."""
    informative = {
        point
        for d in details
        if d["type"] not in _WRONG_MEMBER and (point := _union_point(d)) is not None
    }
    return [
        d for d in details if not (d["type"] in _WRONG_MEMBER and _union_point(d) in informative)
    ]


def _dotted(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _translate(path: Path, root: yaml.Node, kind: str, detail: Any) -> SpecError:
    """One pydantic error as a ``file:line:column: message`` that a person can act on."""
    loc = [p for p in detail["loc"] if not (isinstance(p, str) and p in _UNION_TAGS)]
    loc = [p for p in loc if not (isinstance(p, str) and p.startswith(("function-", "literal[")))]
    node = _node_at(root, loc)
    if loc and loc[-1] == "[key]":  # a bad dict key (a label): point at the key, not its value
        loc = loc[:-1]
        node = _key_node(root, loc[:-1], str(loc[-1])) or node
    kind_of_error = detail["type"]
    field_name = _dotted(loc)
    message: str
    if kind_of_error == "extra_forbidden":
        key = loc[-1] if loc else "?"
        parent = loc[:-1]
        node = _key_node(root, parent, str(key)) or node
        other = _OTHER_SECTION.get(str(key))
        if parent == ["spec"] and other and other != kind:
            message = f"'{key}' belongs to {other}, not to {kind}"
        else:
            message = f"unknown field '{field_name}'"
    elif kind_of_error == "missing":
        message = f"missing required field '{field_name}'"
    elif kind_of_error == "string_pattern_mismatch":
        message = f"{field_name}: {_pattern_hint(loc)}"
    elif kind_of_error == "literal_error":
        message = f"{field_name}: {detail['msg'].replace('Input should be', 'must be')}"
    else:
        text = detail["msg"].replace("Input should be", "must be").replace("Value error, ", "")
        message = f"{field_name}: {text}" if field_name else text
    return SpecError(_location(path, node), message)


def _key_node(root: yaml.Node, parent: Sequence[int | str], key: str) -> yaml.Node | None:
    node = _node_at(root, parent)
    if isinstance(node, yaml.MappingNode):
        for key_node, _value in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.value == key:
                return key_node
    return None


_HINTS: dict[str, str] = {
    "name": "must be lowercase letters, digits and '-', starting and ending with a letter or digit",
    "dataAccessRoleArn": "must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
    "manifest": "must be an S3 URI such as s3://bucket/key",
    "uri": "must be an S3 URI such as s3://bucket/key",
    "s3Uri": "must be an S3 URI such as s3://bucket/prefix/",
    "stagingUri": "must be an S3 URI such as s3://bucket/prefix/",
    "speakerId": "must be 1-256 letters, digits, '_' or '-', starting with a letter or digit",
    "domain": "must be a domain name or id: letters, digits, '_' or '-'",
    "watchlist": "must be a watchlist name or id: letters, digits, '_' or '-'",
}


def _pattern_hint(loc: Sequence[int | str]) -> str:
    if loc[:2] == ["metadata", "labels"]:  # before _HINTS: a label may be called "name"
        return "label keys and values must be letters, digits, '-', '_' or '.'"
    for part in reversed(loc):
        if isinstance(part, str):
            if part in _HINTS:
                return _HINTS[part]
            if part == "audio" or (loc and "audio" in loc):
                return _HINTS["uri"]
    return "has an invalid format"


# --- the whole set ----------------------------------------------------------------------------


def load_specs(paths: Iterable[Path]) -> list[LoadedSpec]:
    """Load and validate every spec under ``paths``; raise :class:`SpecErrors` listing all problems.

    Beyond each document's own validity, names must be unique per kind.
    """
    paths = list(paths)  # read twice below: a generator would be empty the second time
    files = discover(paths)
    specs: list[LoadedSpec] = []
    errors: list[SpecError] = []
    for path in files:
        loaded, problems = load_file(path)
        specs.extend(loaded)
        errors.extend(problems)
    if not files:
        raise SpecErrors([SpecError(Location(Path(str(p))), "no spec files found") for p in paths])
    rosters = {_roster_path(spec) for spec in specs} - {None}
    if rosters:  # YAML roster files next to the specs are not specs themselves
        specs = [s for s in specs if s.location.path.resolve() not in rosters]
        errors = [e for e in errors if e.location.path.resolve() not in rosters]
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
    if errors:
        raise SpecErrors(errors)
    return specs


def _roster_path(spec: LoadedSpec) -> Path | None:
    source = spec.document.spec.input
    relative = getattr(source, "speakers_file", None) or getattr(source, "fraudsters_file", None)
    if not relative:
        return None
    try:
        return (spec.location.path.parent / str(relative)).resolve()
    except (OSError, RuntimeError):  # a symlink loop: reported when the roster is read
        return None


def select(specs: Iterable[LoadedSpec], selectors: Sequence[str]) -> list[LoadedSpec]:
    """The specs whose labels match every ``key=value`` (or ``key!=value``) selector."""
    rules: list[tuple[str, str, bool]] = []
    for selector in selectors:
        for term in filter(None, (t.strip() for t in selector.split(","))):
            negate = "!=" in term
            key, sep, value = term.partition("!=" if negate else "=")
            if not sep or not key.strip():
                raise SpecErrors(
                    [
                        SpecError(
                            Location(Path("--selector")),
                            f"{term!r}: expected KEY=VALUE or KEY!=VALUE",
                        )
                    ]
                )
            rules.append((key.strip(), value.strip(), negate))
    return [
        s
        for s in specs
        if all((s.document.metadata.labels.get(k) == v) != neg for k, v, neg in rules)
    ]


def load_yaml_list(
    path: Path, model: Any
) -> tuple[list[Any], Callable[[Sequence[int | str], str], SpecError]]:
    """A YAML roster file validated as a list of ``model``, and a function that turns a
    location in it into a :class:`SpecError` at that node's file:line:column.

    Raises :class:`SpecErrors` with every problem of the file.
    """
    text = read_text_checked(path)
    loader = _PositionLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise SpecError(Location(path), "empty roster file")
        if "&" in text:
            _expanded_size(node)
        else:
            _check_depth(node)
        data = loader.to_python(node)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise SpecError(_location(path, mark), f"YAML: {err.problem or err.context}") from err
    except yaml.YAMLError as err:
        raise SpecError(Location(path), f"YAML: {err}") from err
    except (_TooDeep, _TooBig, RecursionError) as err:
        raise SpecError(Location(path), "roster nesting too deep or too large") from err
    finally:
        loader.dispose()
    if not isinstance(data, list):
        raise SpecError(_location(path, node), "a roster file must be a list of entries")
    from pydantic import TypeAdapter

    try:
        entries = TypeAdapter(list[model]).validate_python(data)
    except ValidationError as err:
        details = err.errors(include_url=False, include_input=False)
        raise SpecErrors(
            [_translate(path, node, "roster", d) for d in _without_union_noise(details)]
        ) from err

    def locate(loc: Sequence[int | str], message: str) -> SpecError:
        return SpecError(_location(path, _node_at(node, loc)), f"{_dotted(loc)}: {message}")

    return entries, locate


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a spec document (either kind), for editors and yaml-language-server."""
    from pydantic import TypeAdapter

    adapter: TypeAdapter[SpecDocument] = TypeAdapter(
        Annotated[SpecDocument, Field(discriminator="kind")]
    )
    schema = adapter.json_schema(by_alias=True)
    schema["title"] = "voiceid-reconciler spec document"
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return schema
