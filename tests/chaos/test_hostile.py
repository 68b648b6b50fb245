"""Scenario 6: hostile inputs, hand-written and generated -- spec files, roster files and state
files that are malformed, enormous, binary, mis-encoded, special files, symlinks or ``..`` paths
out of the repository, specs that collide, states that are newer, truncated or corrupt.

Each one, next to a valid spec that a careless run would start, must give: exit 1, one line per
problem naming the file (``file:line:column`` where there is one), no traceback, no Start* call
to Voice ID, no PutObject of the state, its backup or a staged manifest, and an untouched state.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import hypothesis
import pytest
import yaml
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from reconciler.core.state import SCHEMA_VERSION, JobRecord, SpecEntry, State
from reconciler.core.statefile import parse_state

from .conftest import (
    BASE_SEED_ENV,
    DEFAULT_BASE_SEED,
    ENROLLMENT,
    Chaos,
    Run,
    trials,
)

pytestmark = pytest.mark.chaos

SUMMARY = re.compile(r"^voiceid-reconciler: \d+ errors? in the specs$")
HYPOTHESIS_SEED = int(os.environ.get(BASE_SEED_ENV, DEFAULT_BASE_SEED))
GENERATED = settings(
    max_examples=trials(3),
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
def world(chaos_factory: Callable[[int], Chaos]) -> Chaos:
    """One domain and one valid spec (``chaos-000``): what a careless run would start."""
    return chaos_factory(0).build(domains=1, specs=1)


def _snapshot(c: Chaos) -> bytes | None:
    text = c.state_text()
    return None if text is None else text.encode("utf-8", "surrogateescape")


def refused(
    c: Chaos,
    culprit: str,
    *,
    command: str = "apply",
    one_line: bool = True,
    timeout: float = 60,
    path: Path | None = None,
) -> Run:
    """Run ``command`` (on ``path`` instead of the specs directory, if given) and check the
    refusal: exit 1, every problem line names ``culprit``, no traceback, no Start, no S3 write
    but the lock's, the state untouched."""
    c.sandbox.reset_calls()
    before = _snapshot(c)
    extra = ("--tps", "0") if command in ("apply", "plan") else ()
    args = c.args(command, *extra)
    if path is not None:
        args = (command, str(path), *args[2:])
    run = c.cli(*args, timeout=timeout)
    assert "Traceback" not in run.stderr, f"{c.tag} {culprit}: traceback\n{run.describe()}"
    assert run.returncode == 1, f"{c.tag} {culprit}: expected exit 1\n{run.describe()}"
    lines = [line for line in run.problem_lines if not SUMMARY.match(line)]
    assert lines, f"{c.tag} {culprit}: no error line\n{run.describe()}"
    assert all(culprit in line for line in lines), (
        f"{c.tag}: not every line names {culprit}\n{run.describe()}"
    )
    if one_line:
        assert len(lines) == 1, f"{c.tag} {culprit}: not one line\n{run.describe()}"
    assert c.starts() == 0, f"{c.tag} {culprit}: Start called: {c.sandbox.calls()}"
    writes = [
        r
        for r in c.sandbox.s3_requests()
        if r["method"] in ("PUT", "POST", "DELETE") and not r["path"].endswith(".lock")
    ]
    assert not writes, f"{c.tag} {culprit}: S3 writes {writes}"
    assert _snapshot(c) == before, f"{c.tag} {culprit}: the state changed"
    c.record("refused", command=command)
    return run


# --- spec files ---------------------------------------------------------------------------------

VALID_TAIL = (
    "spec:\n  domain: voiceid-sandbox-demo\n"
    "  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchDataAccess\n"
    "  input: {manifest: 's3://voiceid-sandbox-demo-123456789012/manifests/chaos-000.json'}\n"
    "  output: {s3Uri: 's3://voiceid-sandbox-demo-123456789012/output/', "
    "kmsKeyId: alias/voiceid-sandbox-demo}\n"
)


def _spec(name: str, tail: str = VALID_TAIL, kind: str = ENROLLMENT) -> str:
    return f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n{tail}"


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


SPEC_FILES: dict[str, bytes | str] = {
    "malformed.yaml": "apiVersion: voiceid-reconciler/v1\nkind: [SpeakerEnrollmentJob\n",
    "tab-indented.yaml": "apiVersion: voiceid-reconciler/v1\nspec:\n\tdomain: x\n",
    "alias-bomb.yaml": _bomb(),
    "recursive-alias.yaml": "a: &a [*a]\n",
    "deep-flow.yaml": "x: " + "[" * 5000 + "]" * 5000 + "\n",
    "deep-block.yaml": "".join(f"{'  ' * i}k{i}:\n" for i in range(200)) + "  " * 200 + "v\n",
    "huge.yaml": "# " + "x" * (9 * 1024 * 1024) + "\n",
    "binary.yaml": bytes(range(256)) * 64,
    "png.yaml": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + os.urandom(512),
    "utf16.yaml": _spec("utf16").encode("utf-16"),
    "latin1.yaml": ("# r\xe9sum\xe9\n" + _spec("latin")).encode("latin-1"),
    "control-character.yaml": _spec("ctrl").replace("kind:", "kind:\x07", 1),
    "python-tag.yaml": "!!python/object/apply:os.system ['touch /tmp/voiceid-chaos-pwned']\n",
    "duplicate-keys.yaml": _spec("dup") + "metadata: {name: again}\n",
    "duplicate-name.yaml": _spec("chaos-000"),
    "bidi-name.yaml": _spec("chaos\u202e000"),
    "empty.yaml": "",
    "comments-only.yaml": "# nothing\n---\n# still nothing\n",
    "long-scalar.yaml": _spec("x" * 1_000_000),
    "not-a-mapping.yaml": "- just\n- a list\n",
    "unknown-field.yaml": _spec("unknown", VALID_TAIL + "  surprise: true\n"),
}


NOT_OURS = {
    "alias-bomb.yaml",
    "recursive-alias.yaml",
    "deep-flow.yaml",
    "deep-block.yaml",
    "python-tag.yaml",
    "empty.yaml",
    "comments-only.yaml",
    "not-a-mapping.yaml",
}
"""Hostile files that do not claim to be specs of ours: refused when named as a PATH, skipped
when found in a directory beside the specs (as another tool's YAML is)."""


@pytest.mark.parametrize("name", sorted(SPEC_FILES))
def test_hostile_spec_file_is_refused_before_any_call(world: Chaos, name: str) -> None:
    """A hostile spec file: exit 1, one line naming it, no Start, no state or staging write.
    One that does not claim to be ours is refused when named, and skipped in a directory."""
    content = SPEC_FILES[name]
    path = world.specs_dir / name
    if isinstance(content, str):
        path.write_text(content, encoding="utf-8")
    else:
        path.write_bytes(content)
    if name in NOT_OURS:
        refused(world, name, path=path)
        validated = world.cli(*world.args("validate"))
        assert validated.returncode == 0, f"{world.tag}: {name} not skipped\n{validated.describe()}"
    else:
        refused(world, name)
    assert not Path("/tmp/voiceid-chaos-pwned").exists()


SPECIAL_FILES: dict[str, Callable[[Path], None]] = {
    "fifo.yaml": os.mkfifo,
    "symlink-loop.yaml": lambda p: p.symlink_to(p.name),
    "dangling.yaml": lambda p: p.symlink_to("missing.yaml"),
    "dev-zero.yaml": lambda p: p.symlink_to("/dev/zero"),
    "a-directory.yaml": lambda p: (
        (p / "inner.yaml").parent.mkdir()
        or (p / "inner.yaml").write_text("apiVersion: voiceid-reconciler/v1\nkind: {")
    ),
}


@pytest.mark.parametrize("name", sorted(SPECIAL_FILES))
def test_special_spec_file_is_refused_without_blocking(world: Chaos, name: str) -> None:
    """A FIFO, symlink loop, dangling link or device as a spec file: refused at once, one line."""
    SPECIAL_FILES[name](world.specs_dir / name)
    refused(world, name, timeout=15)


def test_identity_collision_is_refused_with_one_line(world: Chaos) -> None:
    """Two specs differing only in metadata.name: refused with one line naming both files."""
    (world.specs_dir / "twin.yaml").write_text(
        (world.specs_dir / "chaos-000.yaml").read_text().replace("chaos-000}", "twin}", 1)
    )
    run = refused(world, "twin.yaml")
    assert "chaos-000.yaml" in run.problem_lines[0]


def test_identity_collision_by_domain_id_is_refused(world: Chaos) -> None:
    """A spec naming its domain by DomainId and its twin by name: the collision is refused."""
    domain_id = world.domain_id("voiceid-sandbox-demo")
    text = (world.specs_dir / "chaos-000.yaml").read_text()
    (world.specs_dir / "by-id.yaml").write_text(
        text.replace("chaos-000}", "by-id}", 1).replace(
            "domain: voiceid-sandbox-demo", f"domain: {domain_id}"
        )
    )
    refused(world, "by-id.yaml")


def test_colliding_specs_refused_by_plan_too(world: Chaos) -> None:
    """plan refuses two specs that resolve to one job, as apply does."""
    (world.specs_dir / "twin.yaml").write_text(
        (world.specs_dir / "chaos-000.yaml").read_text().replace("chaos-000}", "twin}", 1)
    )
    refused(world, "twin.yaml", command="plan")


# --- roster files -------------------------------------------------------------------------------


def _roster_spec(world: Chaos, reference: str) -> None:
    bucket = world.world.bucket
    (world.specs_dir / "roster.yaml").write_text(
        _spec(
            "roster",
            VALID_TAIL.replace(
                f"{{manifest: 's3://{bucket}/manifests/chaos-000.json'}}",
                f"{{speakersFile: '{reference}', stagingUri: 's3://{bucket}/staging/'}}",
            ),
        )
    )


def _csv(rows: list[str]) -> str:
    return "speakerId,audio,channel\n" + "\n".join(rows) + "\n"


AUDIO = "s3://voiceid-sandbox-demo-123456789012/audio/caller-01.wav"
ROSTERS: dict[str, tuple[str, Callable[[Path], Any]]] = {
    # name: (speakersFile as written in the spec, how to make it next to the spec)
    "dot-dot": ("../outside.csv", lambda d: (d.parent.parent / "outside.csv").write_text(_csv([]))),
    "absolute": ("/etc/passwd", lambda d: None),
    "symlink-out": ("r.csv", lambda d: (d / "r.csv").symlink_to(d.parent.parent / "outside.csv")),
    "symlink-loop": ("r.csv", lambda d: (d / "r.csv").symlink_to("r.csv")),
    "symlink-dev-zero": ("r.csv", lambda d: (d / "r.csv").symlink_to("/dev/zero")),
    "fifo": ("r.csv", lambda d: os.mkfifo(d / "r.csv")),
    "directory": ("r.csv", lambda d: (d / "r.csv").mkdir()),
    "huge-field": (
        "r.csv",
        lambda d: (d / "r.csv").write_text(_csv([f"a,{AUDIO},0", "b," + "x" * 200_000 + ",0"])),
    ),
    "nul-bytes": ("r.csv", lambda d: (d / "r.csv").write_text(_csv([f"a,{AUDIO}\x00,0"]))),
    "latin1": (
        "r.csv",
        lambda d: (d / "r.csv").write_bytes(_csv([f"r\xe9,{AUDIO},0"]).encode("latin-1")),
    ),
    "binary": ("r.csv", lambda d: (d / "r.csv").write_bytes(bytes(range(256)) * 16)),
    "yaml-bomb": ("r.yaml", lambda d: (d / "r.yaml").write_text(_bomb())),
    "yaml-deep": ("r.yaml", lambda d: (d / "r.yaml").write_text("[" * 3000 + "]" * 3000)),
    "duplicate-speakers": (
        "r.csv",
        lambda d: (d / "r.csv").write_text(_csv([f"a,{AUDIO},0", f"a,{AUDIO},1"])),
    ),
}


@pytest.mark.parametrize("case", sorted(ROSTERS))
def test_hostile_roster_file_is_refused_before_any_call(world: Chaos, case: str) -> None:
    """A roster escaping the repository, looping, binary or over a limit: refused, one line."""
    reference, make = ROSTERS[case]
    make(world.specs_dir)
    _roster_spec(world, reference)
    escapes = reference.startswith("/") or ".." in reference  # refused in the spec itself
    refused(world, "roster.yaml" if escapes else Path(reference).name, timeout=30)


# --- state files --------------------------------------------------------------------------------


def _valid_state() -> str:
    state = State()
    h = "ab" * 32
    state.specs[f"{ENROLLMENT}/chaos-000"] = SpecEntry(
        kind=ENROLLMENT,
        name="chaos-000",
        hash=h,
        domain_id="D" * 22,
        jobs=[
            JobRecord(
                hash=h,
                attempt=1,
                client_token=f"{h[:56]}-1",
                job_name=f"chaos-000-{h[:32]}",
                domain_id="D" * 22,
                kind=ENROLLMENT,
                job_id="J" * 22,
                status="COMPLETED",
            )
        ],
    )
    state.serial = 7
    return state.to_json()


def _state_cases() -> dict[str, bytes]:
    valid = _valid_state()
    data = json.loads(valid)
    return {
        "newer-version": json.dumps({**data, "schemaVersion": SCHEMA_VERSION + 1}).encode(),
        "truncated": valid[: len(valid) // 2].encode(),
        "corrupted": valid.replace('"specs"', '"sp\x00cs"').replace("{", "[", 3).encode(),
        "empty": b"",
        "binary": bytes(range(256)) * 8,
        "json-array": b"[1, 2, 3]",
        "no-schema-version": json.dumps(
            {k: v for k, v in data.items() if k != "schemaVersion"}
        ).encode(),
        "bad-field": valid.replace('"attempt":1', '"attempt":"one"').encode(),
        "latin1": valid.replace("chaos-000", "chaos-\xe9").encode("latin-1"),
        "deep-json": b"[" * 100_000 + b"]" * 100_000,
        "huge-number": valid.replace('"serial": 7', '"serial": ' + "9" * 5000).encode(),
    }


STATE_CASES = _state_cases()


def _put_state(c: Chaos, content: bytes) -> None:
    if c.state.startswith("s3://"):
        bucket, _, key = c.state.removeprefix("s3://").partition("/")
        s3 = c.sandbox.client("s3")
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=content)
        finally:
            s3.close()
    else:
        Path(c.state).parent.mkdir(parents=True, exist_ok=True)
        Path(c.state).write_bytes(content)


S3_STATE_CASES = ("newer-version", "truncated", "corrupted", "latin1", "deep-json", "huge-number")


@pytest.mark.parametrize(
    ("backend", "case"),
    [("local", case) for case in sorted(STATE_CASES)] + [("s3", case) for case in S3_STATE_CASES],
)
def test_hostile_state_is_refused_and_left_untouched(
    chaos_factory: Callable[[int], Chaos], backend: str, case: str
) -> None:
    """A newer, truncated or corrupt state (local or S3): exit 1, one line, state untouched."""
    c = chaos_factory(0).build(domains=1, specs=1, backend=backend)
    _put_state(c, STATE_CASES[case])
    refused(c, c.state)


@pytest.mark.parametrize("make", ["fifo", "directory"])
def test_special_local_state_is_refused_without_blocking(world: Chaos, make: str) -> None:
    """A state path that is a FIFO or a directory: refused at once with one line."""
    path = Path(world.state)
    path.parent.mkdir(parents=True, exist_ok=True)
    if make == "fifo":
        os.mkfifo(path)
    else:
        path.mkdir()
    refused(world, world.state, timeout=15)


@pytest.mark.parametrize("command", ["plan", "status"])
def test_newer_state_is_refused_by_plan_and_status(world: Chaos, command: str) -> None:
    """plan and status refuse a state of a newer schema version, as apply does."""
    _put_state(world, STATE_CASES["newer-version"])
    run = refused(world, world.state, command=command)
    assert "upgrade voiceid-reconciler" in run.problem_lines[0]


# --- generated ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _hostile_file(c: Chaos, name: str, content: bytes) -> Iterator[Path]:
    """``content`` as a spec file next to the valid one, for one generated example (named as
    the PATH: found in a directory, a file that does not claim to be ours is skipped)."""
    path = c.specs_dir / name
    path.write_bytes(content)
    try:
        yield path
    finally:
        path.unlink(missing_ok=True)


@hypothesis.seed(HYPOTHESIS_SEED)
@GENERATED
@hypothesis.given(content=st.binary(max_size=4096))
def test_generated_bytes_as_a_spec_file_are_refused(world: Chaos, content: bytes) -> None:
    """Arbitrary bytes as a spec file: refused, every line naming it, nothing started."""
    with _hostile_file(world, "generated.yaml", content) as path:
        refused(world, "generated.yaml", one_line=False, path=path)


@hypothesis.seed(HYPOTHESIS_SEED)
@GENERATED
@hypothesis.given(text=st.text(max_size=2000))
def test_generated_text_as_a_spec_file_is_refused(world: Chaos, text: str) -> None:
    """Arbitrary Unicode text as a spec file: refused, every line naming it, nothing started."""
    with _hostile_file(world, "generated.yaml", text.encode("utf-8", "surrogatepass")) as path:
        refused(world, "generated.yaml", one_line=False, path=path)


_SCALARS = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
_STRUCTURES = st.recursive(
    _SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=40,
)


@hypothesis.seed(HYPOTHESIS_SEED)
@GENERATED
@hypothesis.given(data=_STRUCTURES)
def test_generated_yaml_structures_are_refused(world: Chaos, data: Any) -> None:
    """Random YAML documents as a spec file: refused, every line naming it, nothing started."""
    text = yaml.safe_dump_all([data, data], allow_unicode=True)
    with _hostile_file(world, "generated.yaml", text.encode("utf-8", "surrogatepass")) as path:
        refused(world, "generated.yaml", one_line=False, path=path)


_STRING_FIELDS = [
    ("apiVersion",),
    ("kind",),
    ("metadata", "name"),
    ("spec", "domain"),
    ("spec", "dataAccessRoleArn"),
    ("spec", "input", "manifest"),
    ("spec", "output", "s3Uri"),
    ("spec", "output", "kmsKeyId"),
    ("spec", "enrollment", "existingEnrollmentAction"),
]
_INT_FIELDS = [("spec", "priority"), ("spec", "revision"), ("spec", "maxAttempts")]
_NOT_A_STRING = (
    st.integers()
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False)
    | st.lists(st.integers(), max_size=2)
    | st.dictionaries(st.text(max_size=3), st.integers(), max_size=2)
)
_NOT_AN_INT = (
    st.text(max_size=5)
    | st.booleans()
    | st.none()
    | st.floats(allow_nan=False).filter(lambda f: f != int(f) if abs(f) < 1e300 else True)
    | st.lists(st.integers(), max_size=2)
)


@st.composite
def _mutants(draw: st.DrawFn) -> tuple[str, Any]:
    """A valid spec with one field given a value of the wrong type, deleted, or a stranger."""
    document: dict[str, Any] = yaml.safe_load(_spec("mutant", VALID_TAIL))
    document["spec"].update(
        {
            "priority": 0,
            "revision": 0,
            "maxAttempts": 1,
            "enrollment": {"existingEnrollmentAction": "SKIP"},
        }
    )
    how = draw(st.sampled_from(["string", "int", "delete", "unknown"]))
    fields = _INT_FIELDS if how == "int" else _STRING_FIELDS
    path = draw(st.sampled_from(fields))
    parent = document
    for part in path[:-1]:
        parent = parent[part]
    if how == "string":
        parent[path[-1]] = draw(_NOT_A_STRING)
    elif how == "int":
        parent[path[-1]] = draw(_NOT_AN_INT)
    elif how == "delete" and path[-1] != "existingEnrollmentAction":
        del parent[path[-1]]
    else:
        parent[draw(st.sampled_from(["extra", "Spec", "metadata2", "inputs"]))] = draw(_SCALARS)
    return ".".join(path), document


@hypothesis.seed(HYPOTHESIS_SEED)
@GENERATED
@hypothesis.given(mutant=_mutants())
def test_generated_mutants_of_a_valid_spec_are_refused_with_a_position(
    world: Chaos, mutant: tuple[str, Any]
) -> None:
    """A valid spec with one field mistyped, missing or unknown: refused with file:line:column."""
    _, document = mutant
    text = yaml.safe_dump(document, sort_keys=False)
    with _hostile_file(world, "mutant.yaml", text.encode()):
        run = refused(world, "mutant.yaml", one_line=False)
    lines = [line for line in run.problem_lines if not SUMMARY.match(line)]
    assert all(re.search(r"mutant\.yaml:\d+:\d+: ", line) for line in lines), run.describe()


def _parses(text: bytes) -> bool:
    try:
        parse_state(text.decode("utf-8"), "x")
    except Exception:  # noqa: BLE001 - anything that does not parse is what we want here
        return False
    return True


@hypothesis.seed(HYPOTHESIS_SEED)
@GENERATED
@hypothesis.given(
    cut=st.integers(min_value=0, max_value=2000),
    splice=st.binary(min_size=0, max_size=8),
    length=st.integers(min_value=0, max_value=8),
)
def test_generated_damaged_states_are_refused(
    world: Chaos, cut: int, splice: bytes, length: int
) -> None:
    """A valid state with bytes cut or replaced (unparseable): refused, one line, untouched."""
    valid = _valid_state().encode()
    at = cut % (len(valid) + 1)
    damaged = valid[:at] + splice + valid[at + length :]
    hypothesis.assume(not _parses(damaged))
    _put_state(world, damaged)
    refused(world, world.state)
