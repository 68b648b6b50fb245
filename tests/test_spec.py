"""The spec loader: every problem of every file at once, each with its file:line:column."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from reconciler.core.errors import Location, SelectorError, SpecError, SpecErrors
from reconciler.core.kinds import JobKind
from reconciler.core.loading import discover, load_file, load_specs
from reconciler.core.selector import select
from reconciler.core.spec import (
    FraudsterRegistrationJob,
    LoadedSpec,
    SpeakerEnrollmentJob,
    json_schema,
)
from reconciler.core.specsections import AudioFile
from reconciler.core.yamlpos import MAX_FILE_BYTES, PositionLoader, TooDeep, read_bytes_checked

ENROLLMENT, REGISTRATION = JobKind.ENROLLMENT, JobKind.REGISTRATION

FIXTURES = Path(__file__).parent / "fixtures" / "specs"
BAD = FIXTURES / "bad"
GOOD = FIXTURES / "good"

# file name -> every error it must yield: (line, column, message fragment); line 0 = no position
EXPECTED: dict[str, list[tuple[int, int, str]]] = {
    "alias-bomb.yaml": [(8, 4, "expands to more than 1,000,000 nodes (alias bomb?)")],
    "bad-audio.yaml": [
        (13, 13, "spec.input.speakers[0].audio[0]: must be an S3 URI"),
        (14, 71, "spec.input.speakers[0].audio[1].channel: must be 0 or 1"),
    ],
    "bad-enum.yaml": [(14, 31, "existingEnrollmentAction: must be 'SKIP' or 'OVERWRITE'")],
    "bad-explicit-tag.yaml": [(6, 13, "YAML: cannot read 'ten' as int")],
    "bad-label.yaml": [
        (6, 5, "metadata.labels.Fraud Ops: label keys and values must be"),
        (7, 11, "metadata.labels.name: label keys and values must be"),
    ],
    "bad-name.yaml": [(4, 9, "metadata.name: must be lowercase letters, digits and '-'")],
    "bad-role-arn.yaml": [(7, 22, "spec.dataAccessRoleArn: must be an IAM role ARN")],
    "bad-s3-uri.yaml": [(9, 15, "spec.input.manifest: must be an S3 URI")],
    "bad-timestamp.yaml": [(6, 15, "YAML: cannot read '2026-13-01' as timestamp")],
    "comments-only.yaml": [(0, 0, "no spec documents in file")],
    "control-character.yaml": [(4, 14, "YAML: unacceptable character #x001b")],
    "deep-nesting.yaml": [(1, 71, "nesting deeper than 64 levels")],
    "duplicate-key.yaml": [(13, 3, "YAML: duplicate key 'domain'")],
    "duplicate-name.yaml": [
        (17, 9, "duplicate FraudsterRegistrationJob name 'duplicate-name' (first defined at ")
    ],
    "empty.yaml": [(0, 0, "empty file")],
    "missing-kind.yaml": [(1, 1, "missing 'kind'")],
    "missing-required.yaml": [(11, 5, "missing required field 'spec.output.kmsKeyId'")],
    "multi-doc-one-bad.yaml": [
        (28, 22, "spec.enrollment.fraudDetection.riskThreshold: must be greater than or equal to 0")
    ],
    "name-too-long.yaml": [(4, 9, "metadata.name: must have at most 63 characters")],
    "no-input-source.yaml": [(9, 5, "exactly one of manifest, speakers, speakersFile is required")],
    "not-a-mapping.yaml": [(1, 1, "a spec document must be a mapping, not a list")],
    "python-tag.yaml": [(4, 9, "could not determine a constructor for the tag")],
    "scalar-document.yaml": [(1, 1, "a spec document must be a mapping, not a str")],
    "score-out-of-range.yaml": [
        (14, 35, "fraudsterSimilarityThreshold: must be less than or equal to 100")
    ],
    "section-for-other-kind.yaml": [
        (13, 3, "'enrollment' belongs to SpeakerEnrollmentJob, not to FraudsterRegistrationJob")
    ],
    "separators-only.yaml": [(0, 0, "no spec documents in file")],
    "speakers-file-escapes.yaml": [
        (9, 5, "speakersFile must be a relative path inside the repository")
    ],
    "staging-without-roster.yaml": [(9, 5, "stagingUri only applies to a roster")],
    "too-many-audio.yaml": [(13, 11, "spec.input.speakers[0].audio: must have at most 10 items")],
    "two-input-sources.yaml": [(9, 5, "is required (got manifest, speakersFile)")],
    "unknown-field.yaml": [(13, 5, "unknown field 'spec.output.kmsKeyArn'")],
    "unknown-kind.yaml": [(2, 7, "unknown kind 'SpeakerEnrolmentJob': expected one of")],
    "wrong-api-version.yaml": [(1, 13, "apiVersion: must be 'voiceid-reconciler/v1'")],
    "wrong-type.yaml": [
        (13, 13, "spec.priority: must be a valid integer"),
        (14, 13, "spec.revision: must be a valid integer"),
    ],
    "yaml-syntax.yaml": [(6, 5, "YAML: did not find expected ',' or '}'")],
}


def _write_latin1(path: Path) -> None:
    path.write_bytes(b"apiVersion: voiceid-reconciler/v1\nkind: x\nmetadata:\n  name: caf\xe9\n")


def _write_binary(path: Path) -> None:
    path.write_bytes(b"apiVersion: voiceid-reconciler/v1\n\x00\x01\x02\xff")


def _write_too_large(path: Path) -> None:
    with path.open("wb") as f:  # sparse: over the limit without writing 8 MiB
        f.truncate(MAX_FILE_BYTES + 1)


def _write_dangling_symlink(path: Path) -> None:
    path.symlink_to(path.with_name("does-not-exist.yaml"))


# generated files (binary content, or too big to commit): writer, line, column, fragment
GENERATED = {
    "latin1.yaml": (_write_latin1, 4, 0, "not UTF-8 (invalid byte 0xe9)"),
    "binary.yaml": (_write_binary, 0, 0, "binary file (contains NUL bytes), not YAML"),
    "too-large.yaml": (_write_too_large, 0, 0, "over the 8,388,608-byte limit"),
    "dangling-symlink.yaml": (_write_dangling_symlink, 0, 0, "cannot read file"),
}


def _errors(paths: list[Path]) -> list[SpecError]:
    with pytest.raises(SpecErrors) as info:
        load_specs(paths)
    assert type(info.value) is SpecErrors
    return info.value.errors


def _assert_errors(
    path: Path, expected: list[tuple[int, int, str]], *, load: Path | None = None
) -> None:
    errors = _errors([load or path])
    assert [(e.location.path, e.location.line, e.location.column) for e in errors] == [
        (path, line, column) for line, column, _ in expected
    ], [str(e) for e in errors]
    for error, (line, column, fragment) in zip(errors, expected, strict=True):
        assert fragment in error.message
        prefix = f"{path}:{line}:{column}: " if line else f"{path}: "
        assert str(error) == prefix + error.message


@pytest.fixture(scope="module")
def good() -> list[LoadedSpec]:
    return load_specs([GOOD])


def _by_key(specs: list[LoadedSpec]) -> dict[str, LoadedSpec]:
    return {s.key: s for s in specs}


# --- bad specs ----------------------------------------------------------------------------------


def test_every_bad_fixture_has_expectations() -> None:
    """Each file in fixtures/specs/bad is pinned in EXPECTED, and each pinned file exists."""
    assert sorted(p.name for p in BAD.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) + len(GENERATED) >= 22


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_bad_fixture_reports_exact_errors(name: str) -> None:
    """A broken spec file yields exactly its errors, each at the offending node's line:column."""
    _assert_errors(BAD / name, EXPECTED[name])


@pytest.mark.parametrize("name", sorted(GENERATED))
def test_generated_bad_file_reports_one_error(name: str, tmp_path: Path) -> None:
    """Undecodable, binary, oversized and unreadable files are refused with one line each."""
    write, line, column, fragment = GENERATED[name]
    path = tmp_path / name
    write(path)
    _assert_errors(path, [(line, column, fragment)], load=tmp_path)


@pytest.mark.parametrize("size", [0, 1, 4095, 4096, 70_000])
def test_a_file_is_read_whole(tmp_path: Path, size: int) -> None:
    data = bytes(range(256)) * (size // 256) + b"x" * (size % 256)
    path = tmp_path / "spec.yaml"
    path.write_bytes(data)
    assert read_bytes_checked(path) == data


def test_a_file_larger_than_its_size_says_is_read_to_its_end() -> None:
    # /proc files say they are empty (st_size 0) and are not: the first read is not the end
    path = Path("/proc/self/status")
    if not path.exists():
        pytest.skip("no /proc on this system")
    data = read_bytes_checked(path)
    assert path.stat().st_size == 0
    assert data.startswith(b"Name:")
    assert data.endswith(b"\n")
    assert len(data) > 100


def test_duplicate_name_points_at_first_definition() -> None:
    """The duplicate-name error names the first definition's file:line:column."""
    path = BAD / "duplicate-name.yaml"
    [error] = _errors([path])
    assert error.message.endswith(f"(first defined at {path}:4:9)")


def test_multi_doc_file_keeps_good_document_valid() -> None:
    """In a multi-document file, only the bad document is reported; load_file keeps the good one."""
    specs, errors = load_file(BAD / "multi-doc-one-bad.yaml")
    assert [s.key for s in specs] == [f"{REGISTRATION}/multi-doc-good"]
    assert [e.location.line for e in errors] == [28]


def test_duplicate_names_across_files(tmp_path: Path) -> None:
    """The same kind and name in two files is reported at the later file's name."""
    source = GOOD / "fraud" / "known-fraudsters.yml"
    first, second = tmp_path / "a.yaml", tmp_path / "b" / "c.yaml"
    second.parent.mkdir()
    shutil.copy(source, first)
    shutil.copy(source, second)
    [error] = _errors([tmp_path])
    assert error.location == Location(second, 5, 9)
    assert error.message == (
        f"duplicate {REGISTRATION} name 'known-fraudsters' (first defined at {first}:5:9)"
    )


NOT_OURS = {
    "alias-bomb.yaml",
    "comments-only.yaml",
    "deep-nesting.yaml",
    "empty.yaml",
    "not-a-mapping.yaml",
    "scalar-document.yaml",
    "separators-only.yaml",
}
"""Bad fixtures that are errors when named, and skipped when found in a directory."""


def test_all_errors_of_all_files_in_one_pass() -> None:
    """Loading the bad directory reports every fixture's errors together, sorted by file:line
    — but for the files that do not claim to be ours (no apiVersion of ours, no kind of
    ours, not even in their text), which a directory may hold beside the specs."""
    errors = _errors([BAD])
    expected = sorted(
        (str(BAD / name), line, column)
        for name, found in EXPECTED.items()
        for line, column, _ in found
        if name not in NOT_OURS
    )
    assert [(str(e.location.path), e.location.line, e.location.column) for e in errors] == expected
    assert errors == sorted(errors, key=SpecError.sort_key)


def test_errors_from_several_paths_are_merged_and_sorted(tmp_path: Path) -> None:
    """Errors from several path arguments (files and directories) come in one sorted list."""
    _write_binary(tmp_path / "binary.yaml")
    paths = [BAD / "wrong-type.yaml", GOOD, tmp_path, BAD / "bad-audio.yaml"]
    expected = [
        (tmp_path / "binary.yaml", 0, 0, "binary file (contains NUL bytes), not YAML"),
        (BAD / "wrong-type.yaml", 13, 13, "spec.priority: must be a valid integer"),
        (BAD / "wrong-type.yaml", 14, 13, "spec.revision: must be a valid integer"),
        (
            BAD / "bad-audio.yaml",
            13,
            13,
            "spec.input.speakers[0].audio[0]: must be an S3 URI such as s3://bucket/key",
        ),
        (BAD / "bad-audio.yaml", 14, 71, "spec.input.speakers[0].audio[1].channel: must be 0 or 1"),
    ]
    expected.sort(key=lambda e: (str(e[0]), e[1], e[2]))
    errors = _errors(paths)
    assert [(e.location, e.message) for e in errors] == [
        (Location(path, line, column), message) for path, line, column, message in expected
    ]


def test_missing_path_is_an_error(tmp_path: Path) -> None:
    """A missing path is one 'no such file or directory' error, even beside good paths."""
    missing = tmp_path / "nope"
    [error] = _errors([GOOD, missing])
    assert str(error) == f"{missing}: no such file or directory"


def test_a_directory_without_specs_is_an_empty_set_and_a_missing_one_an_error(
    tmp_path: Path,
) -> None:
    """A directory holding no spec is no desired job (a plan of it retires every job); a PATH
    that does not exist is reported."""
    (tmp_path / "notes.txt").write_text("kind: x\n", encoding="utf-8")
    assert load_specs([tmp_path]) == []
    [error] = _errors([tmp_path / "nope"])
    assert "no such file or directory" in str(error)


def test_load_specs_accepts_a_generator(tmp_path: Path) -> None:
    """load_specs takes any iterable of paths, including a one-shot generator."""
    assert len(load_specs(p for p in [GOOD])) == 5
    [error] = _errors(p for p in [tmp_path / "nope"])  # type: ignore[arg-type]
    assert "no such file or directory" in error.message


# --- good specs ---------------------------------------------------------------------------------


def test_discover_skips_hidden_directories_and_other_suffixes() -> None:
    """Discovery recurses, keeps .yaml and .yml, skips hidden directories and other files."""
    assert discover([GOOD]) == [
        GOOD / "enrollment" / "emea.yaml",
        GOOD / "fraud" / "known-fraudsters.yml",
        GOOD / "nested" / "deeper" / "still" / "roster-file.yaml",
    ]


def test_discover_takes_an_explicit_file_as_given() -> None:
    """A file named on the command line is loaded whatever its suffix or directory."""
    hidden = GOOD / ".hidden" / "ignored.yaml"
    assert discover([hidden, GOOD / "fraud" / "known-fraudsters.yml", hidden]) == [
        hidden,
        GOOD / "fraud" / "known-fraudsters.yml",
    ]


@pytest.mark.parametrize("given", [".", "./", "specs", "specs/", "./specs/../specs", "ABS"])
def test_discover_names_files_as_their_paths_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, given: str
) -> None:
    """Found files are named as ``Path(directory) / name`` names them (the texts are joined
    without making a Path per file): the same file found twice is one file."""
    (tmp_path / "specs" / "deep").mkdir(parents=True)
    for name in ("specs/a.yaml", "specs/deep/b.yml"):
        (tmp_path / name).write_text("x")
    monkeypatch.chdir(tmp_path)
    root = Path(str(tmp_path) if given == "ABS" else given)
    expected = sorted((Path(r) / f for r, _, files in os.walk(root) for f in files), key=str)
    assert discover([root]) == expected
    assert [str(p) for p in discover([root, expected[0]])] == [str(p) for p in expected]


def test_good_fixtures_load(good: list[LoadedSpec]) -> None:
    """The good directory loads five specs of both kinds, in file then document order."""
    assert [s.key for s in good] == [
        f"{ENROLLMENT}/emea-branch-migration",
        f"{ENROLLMENT}/apac-inline-roster",
        f"{REGISTRATION}/known-fraudsters",
        f"{ENROLLMENT}/roster-file",
        f"{REGISTRATION}/roster-file",
    ]
    assert [type(s.document) for s in good] == [
        SpeakerEnrollmentJob,
        SpeakerEnrollmentJob,
        FraudsterRegistrationJob,
        SpeakerEnrollmentJob,
        FraudsterRegistrationJob,
    ]


def test_good_locations(good: list[LoadedSpec]) -> None:
    """Each spec records where its document and its name start (skipping separators, comments)."""
    emea = GOOD / "enrollment" / "emea.yaml"
    specs = _by_key(good)
    assert specs[f"{ENROLLMENT}/emea-branch-migration"].location == Location(emea, 3, 1)
    assert specs[f"{ENROLLMENT}/apac-inline-roster"].location == Location(emea, 22, 1)
    assert specs[f"{ENROLLMENT}/apac-inline-roster"].name_location == Location(emea, 25, 9)


def test_defaults_are_filled(good: list[LoadedSpec]) -> None:
    """A minimal registration spec gets every documented default."""
    document = _by_key(good)[f"{REGISTRATION}/known-fraudsters"].document
    assert isinstance(document, FraudsterRegistrationJob)
    assert document.metadata.labels == {}
    spec = document.spec
    assert (spec.priority, spec.revision, spec.max_attempts) == (0, 0, 1)
    assert spec.registration.duplicate_registration_action == "SKIP"
    assert spec.registration.fraudster_similarity_threshold is None
    assert spec.registration.watchlist is None


def test_enrollment_defaults_and_values(good: list[LoadedSpec]) -> None:
    """Enrollment config defaults to SKIP without a fraud check; given values are kept."""
    specs = _by_key(good)
    apac = specs[f"{ENROLLMENT}/apac-inline-roster"].document
    emea = specs[f"{ENROLLMENT}/emea-branch-migration"].document
    assert isinstance(apac, SpeakerEnrollmentJob)
    assert isinstance(emea, SpeakerEnrollmentJob)
    assert apac.spec.enrollment.existing_enrollment_action == "SKIP"
    assert apac.spec.enrollment.fraud_detection is None
    assert apac.spec.max_attempts == 3
    assert emea.spec.enrollment.existing_enrollment_action == "OVERWRITE"
    fraud = emea.spec.enrollment.fraud_detection
    assert fraud is not None
    assert (fraud.action, fraud.risk_threshold, fraud.watchlist) == ("IGNORE", 40, "default")
    assert emea.spec.priority == 10
    assert emea.spec.data_access_role_arn == "arn:aws:iam::123456789012:role/VoiceIdBatchAccess"


def test_merge_keys_and_anchors(good: list[LoadedSpec]) -> None:
    """A merge key copies the anchored mapping and a local key overrides the merged one."""
    spec = _by_key(good)[f"{ENROLLMENT}/apac-inline-roster"]
    document = spec.document
    assert isinstance(document, SpeakerEnrollmentJob)
    first, second = document.spec.input.speakers or []
    assert first.speaker_id == "caller-0001"
    assert first.audio == [
        AudioFile(uri="s3://voiceid-demo/audio/caller-0001/1.wav", channel=1),
        AudioFile(uri="s3://voiceid-demo/audio/caller-0001/2.wav", channel=1),
    ]
    assert second.audio == ["s3://voiceid-demo/audio/caller-0002/1.wav"]


def test_same_name_different_kind_and_labels(good: list[LoadedSpec]) -> None:
    """One name may be used once per kind; labels (incl. prefixed keys) are kept as written."""
    specs = _by_key(good)
    enrollment = specs[f"{ENROLLMENT}/roster-file"].document
    assert isinstance(enrollment, SpeakerEnrollmentJob)
    assert enrollment.metadata.labels == {
        "team": "fraud-ops",
        "region": "amer",
        "example.com/tier": "gold",
    }
    assert enrollment.spec.input.speakers_file == "rosters/amer.csv"
    assert enrollment.spec.revision == 2
    registration = specs[f"{REGISTRATION}/roster-file"].document
    assert isinstance(registration, FraudsterRegistrationJob)
    assert registration.spec.priority == -5
    assert registration.spec.registration.fraudster_similarity_threshold == 0


def test_documents_are_frozen(good: list[LoadedSpec]) -> None:
    """A loaded spec cannot be changed after validation."""
    with pytest.raises(ValidationError):
        good[0].document.metadata.name = "other"  # type: ignore[misc]


# --- selectors ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("selectors", "keys"),
    [
        ([], None),
        (
            ["team=fraud-ops"],
            [
                f"{ENROLLMENT}/emea-branch-migration",
                f"{ENROLLMENT}/roster-file",
                f"{REGISTRATION}/roster-file",
            ],
        ),
        (
            ["team!=fraud-ops"],
            [f"{ENROLLMENT}/apac-inline-roster", f"{REGISTRATION}/known-fraudsters"],
        ),
        (
            ["team=fraud-ops,region=amer"],
            [f"{ENROLLMENT}/roster-file", f"{REGISTRATION}/roster-file"],
        ),
        (["team=fraud-ops", "region!=amer"], [f"{ENROLLMENT}/emea-branch-migration"]),
        ([" team = fraud-ops , region=emea ,"], [f"{ENROLLMENT}/emea-branch-migration"]),
        (["example.com/tier=gold"], [f"{ENROLLMENT}/roster-file"]),
        (["team=nobody"], []),
        (["region=emea", "region=apac"], []),
        (
            ["team in (fraud-ops, nobody)"],
            [
                f"{ENROLLMENT}/emea-branch-migration",
                f"{ENROLLMENT}/roster-file",
                f"{REGISTRATION}/roster-file",
            ],
        ),
        (
            ["team in (fraud-ops,nobody),region=amer"],
            [f"{ENROLLMENT}/roster-file", f"{REGISTRATION}/roster-file"],
        ),
        (
            ["team notin (fraud-ops)"],
            [f"{ENROLLMENT}/apac-inline-roster", f"{REGISTRATION}/known-fraudsters"],
        ),
        (
            ["region"],
            [
                f"{ENROLLMENT}/emea-branch-migration",
                f"{ENROLLMENT}/apac-inline-roster",
                f"{ENROLLMENT}/roster-file",
                f"{REGISTRATION}/roster-file",
            ],
        ),
        (["!region"], [f"{REGISTRATION}/known-fraudsters"]),
        (["team==fraud-ops", "!region"], []),
    ],
)
def test_select(good: list[LoadedSpec], selectors: list[str], keys: list[str] | None) -> None:
    """Selectors: k=v, k!=v and notin (true when the label is absent), in, exists (k), absent
    (!k), comma-separated (commas inside a set belong to it) and repeated: all must match."""
    expected = [s.key for s in good] if keys is None else keys
    assert [s.key for s in select(good, selectors)] == expected


# --- JSON schema --------------------------------------------------------------------------------


def test_json_schema_covers_both_kinds() -> None:
    """The schema is a oneOf over both kinds, discriminated on 'kind', and serialisable."""
    schema = json.loads(json.dumps(json_schema()))
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["discriminator"]["propertyName"] == "kind"
    assert set(schema["discriminator"]["mapping"]) == {ENROLLMENT, REGISTRATION}
    refs = {one["$ref"] for one in schema["oneOf"]}
    assert refs == {f"#/$defs/{ENROLLMENT}", f"#/$defs/{REGISTRATION}"}
    for kind in (ENROLLMENT, REGISTRATION):
        definition = schema["$defs"][kind]
        assert definition["properties"]["kind"]["const"] == kind
        assert definition["additionalProperties"] is False


def test_json_schema_uses_camel_case_aliases() -> None:
    """Property names are the YAML spellings (camelCase), not the Python attribute names."""
    defs = json_schema()["$defs"]
    assert "dataAccessRoleArn" in defs["EnrollmentSpec"]["properties"]
    assert "data_access_role_arn" not in defs["EnrollmentSpec"]["properties"]
    assert {"maxAttempts", "priority", "revision"} <= set(defs["RegistrationSpec"]["properties"])
    assert "apiVersion" in defs[ENROLLMENT]["properties"]
    assert {"speakersFile", "stagingUri"} <= set(defs["EnrollmentInput"]["properties"])
    assert {"s3Uri", "kmsKeyId"} == set(defs["Output"]["required"])


# --- untrusted input never escapes as anything but SpecErrors -----------------------------------

_TOKENS = [
    "apiVersion: voiceid-reconciler/v1\n",
    "kind: SpeakerEnrollmentJob\n",
    "kind: FraudsterRegistrationJob\n",
    "metadata: {name: x}\n",
    "spec:\n",
    "  ",
    "\n",
    "---\n",
    "...\n",
    "- ",
    ": ",
    "? ",
    "&a ",
    "*a",
    "<<: ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "#",
    "'",
    '"',
    "|\n",
    ">\n",
    "~",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!timestamp ",
    "!!binary ",
    "!!set ",
    "!!omap ",
    "!!python/name:os.system ",
    "!local ",
    "%YAML 1.1\n",
    "%TAG ! tag:x,2000:\n",
    "2026-13-01",
    "0x1F",
    "1e400",
    "9" * 5000,
    "yes",
    "\t",
    "\ufeff",
    "é",
]

_SPEC_TEXT = (GOOD / "enrollment" / "emea.yaml").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("fuzz")


def _load_only_spec_errors(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    try:
        load_specs([path])
    except SpecErrors as err:
        for error in err.errors:
            assert error.location.path == path
            assert "\n" not in str(error)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=2048))
def test_random_bytes_raise_only_spec_errors(fuzz_dir: Path, data: bytes) -> None:
    """Arbitrary bytes are loaded or refused with SpecErrors, never another exception."""
    _load_only_spec_errors(fuzz_dir / "bytes.yaml", data)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=2048))
def test_random_text_raises_only_spec_errors(fuzz_dir: Path, text: str) -> None:
    """Arbitrary Unicode text is loaded or refused with SpecErrors, never another exception."""
    _load_only_spec_errors(fuzz_dir / "text.yaml", text.encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(tokens=st.lists(st.sampled_from(_TOKENS), max_size=60))
def test_yaml_like_text_raises_only_spec_errors(fuzz_dir: Path, tokens: list[str]) -> None:
    """Text stitched from YAML syntax, tags and odd scalars never escapes as another exception."""
    _load_only_spec_errors(fuzz_dir / "tokens.yaml", "".join(tokens).encode("utf-8"))


@settings(max_examples=200, deadline=None)
@given(
    cut=st.integers(0, len(_SPEC_TEXT)),
    length=st.integers(0, 40),
    insert=st.sampled_from(["", *_TOKENS]),
)
def test_mangled_spec_raises_only_spec_errors(
    fuzz_dir: Path, cut: int, length: int, insert: str
) -> None:
    """A valid spec with a slice replaced by YAML syntax is loaded or refused with SpecErrors."""
    text = _SPEC_TEXT[:cut] + insert + _SPEC_TEXT[cut + length :]
    _load_only_spec_errors(fuzz_dir / "mangled.yaml", text.encode("utf-8"))


@pytest.mark.parametrize("selector", ["team in fraud-ops", "=x", "team in (a", "a b", "team=(x)"])
def test_a_selector_that_cannot_be_read_is_an_error(selector: str) -> None:
    """A malformed term is refused (one line naming it) instead of silently matching nothing."""
    with pytest.raises(SelectorError, match="expected key=value"):
        select([], [selector])


def test_fifo_named_like_a_spec_is_refused_without_blocking(tmp_path: Path) -> None:
    """A named pipe called *.yaml is reported, never opened (reading it would block)."""
    fifo = tmp_path / "pipe.yaml"
    os.mkfifo(fifo)
    specs, errors = load_file(fifo)
    assert specs == []
    assert [e.message for e in errors] == ["not a regular file"]


@settings(max_examples=500, deadline=None)
@given(
    st.one_of(
        st.text(max_size=30),
        st.sampled_from(["", "~", "null", "yes", "No", "0x1F", "1_000", "1e3", ".inf", "12:30"]),
        st.from_regex(r"[-+]?[0-9][0-9_.:eE+-]{0,12}", fullmatch=True),
        st.from_regex(r"20[0-9]{2}-[0-9]{1,2}-[0-9]{1,2}([Tt ][0-9:.]{0,12})?", fullmatch=True),
    ),
    st.tuples(st.booleans(), st.booleans()),
)
def test_the_remembered_scalar_tags_are_pyyamls(value: str, implicit: tuple[bool, bool]) -> None:
    """The loader remembers the tags of plain scalars: always the safe loader's own answer,
    asked a first time or again."""
    # PyYAML's stubs leave Resolver.resolve untyped.
    expected = yaml.SafeLoader.resolve(yaml.SafeLoader(""), yaml.ScalarNode, value, implicit)  # type: ignore[no-untyped-call]
    ours = PositionLoader("")
    try:
        assert ours.resolve(yaml.ScalarNode, value, implicit) == expected
        assert ours.resolve(yaml.ScalarNode, value, implicit) == expected  # remembered
    finally:
        ours.dispose()


def _nested(levels: int, inner: str) -> str:
    return "a: " + "{b: " * levels + inner + "}" * levels + "\n"


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (_nested(63, "1"), False),  # the deepest a document may be (64 levels below its root)
        (_nested(64, "1"), True),
        (_nested(58, "{<<: {c: {d: {e: 1}}}}"), False),  # built by the safe constructor
        (_nested(62, "{<<: {c: {d: {e: 1}}}}"), True),  # and its depth counted from where it is
        ("a: &x " + _nested(64, "1")[3:] + "b: *x\n", True),  # with aliases: counted before
    ],
)
def test_nesting_is_refused_below_64_levels_however_it_is_built(text: str, deep: bool) -> None:
    loader = PositionLoader(text)
    try:
        node = loader.get_single_node()
        if deep:
            with pytest.raises(TooDeep):
                loader.read(node, aliases="&" in text)
        else:
            assert loader.read(node, aliases="&" in text) == yaml.safe_load(text)
    finally:
        loader.dispose()
