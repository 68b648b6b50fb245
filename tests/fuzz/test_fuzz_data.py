"""Fuzz: hostile data — rosters with planted personal data, Voice ID failure texts naming it,
output files of any shape, and state files whose times are broken.

Each target draws a roster whose speaker ids and audio locations are *planted* (values the
product must never print, store or send), and puts them where a parser or Voice ID could echo
them: malformed CSV rows and headers, YAML keys (duplicated, unknown), values YAML cannot read,
bad channels and audio, a failure message, an output file's fields. The invariants, whatever
is drawn: the command returns (no exception, no traceback), exits 0 or 1 (with a failed job: 5),
an exit 1 is one located line per problem (or one line), and no planted value is in stdout,
stderr, the state file or a webhook payload (tests/support.Receiver).

Sizes in CI (``VOICEID_FUZZ_EXAMPLES=N`` sets every target's): the parsers 200 examples (three
formats each), output documents 300, state times 200 (two commands each), failure texts
offline 200 (three commands each), and against the sandbox 40 (a FAILED job's message through
apply with a webhook, plan and status) and 15 (an output file of any shape through ``apply
--wait``): about a minute on two cores.
"""

from __future__ import annotations

import json
import re
import string
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, seed
from hypothesis import strategies as st

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_ERROR, EXIT_OK, main
from reconciler.cli.exits import EXIT_JOB_FAILED
from reconciler.core.desired import OfflineResolver, desire
from reconciler.core.identity import job_name
from reconciler.core.jobs import OUTCOMES, UNKNOWN, MalformedOutput, check_output, failed_requests
from reconciler.core.loading import load
from reconciler.core.redact import MASK
from reconciler.core.roster import Request
from reconciler.core.state import JobRecord, SpecEntry, State
from reconciler.sandbox import Sandbox
from tests.support import Receiver, World, build_world

from .conftest import fuzz_settings
from .conftest import seed as fuzz_seed

pytestmark = pytest.mark.fuzz

ROLE = "arn:aws:iam::123456789012:role/R"
LOCATED = r"^\S+?(:\d+:\d+)?: "


# --- planted values -------------------------------------------------------------------------

SPEAKERS = st.from_regex(r"[a-z]{2}[0-9]{4}-[a-z0-9]{5}", fullmatch=True)
"""Speaker ids no word of the product's contains (two letters, four digits, five more)."""
KEYS = st.builds(
    lambda folder, name, ext: f"{folder}/{name}.{ext}",
    st.from_regex(r"calls/[a-z]{3}[0-9]{2}", fullmatch=True),
    st.from_regex(r"[a-z]{4}-[0-9]{5}", fullmatch=True),
    st.sampled_from(["wav", "WAV", "wav.gz"]),
)
"""Audio keys: a folder and a file name, both of them personal."""
BUCKET = "planted-audio"
"""The bucket of the planted audio (a bucket is kept by design: it is not planted)."""


@dataclass(frozen=True)
class Roster:
    speakers: tuple[str, ...]
    keys: tuple[str, ...]
    gone: tuple[str, ...] = ()
    """Keys of recordings no longer in the roster (a job of an earlier version of it): only
    the patterns know them."""

    @property
    def uris(self) -> tuple[str, ...]:
        return tuple(f"s3://{BUCKET}/{key}" for key in self.keys)

    @property
    def planted(self) -> tuple[str, ...]:
        """What must never leave: the speaker ids, the keys and the file names."""
        keys = (*self.keys, *self.gone)
        return (*self.speakers, *keys, *(k.rpartition("/")[2] for k in keys))

    def requests(self) -> list[Request]:
        return [Request(s, ((u, 0),)) for s, u in zip(self.speakers, self.uris, strict=True)]


@st.composite
def rosters(draw: st.DrawFn, size: int = 4) -> Roster:
    speakers = draw(st.lists(SPEAKERS, min_size=1, max_size=size, unique=True))
    keys = draw(st.lists(KEYS, min_size=len(speakers) + 2, max_size=len(speakers) + 2, unique=True))
    return Roster(tuple(speakers), tuple(keys[: len(speakers)]), tuple(keys[len(speakers) :]))


def _clean(roster: Roster, *texts: str) -> None:
    for text in texts:
        assert "Traceback" not in text, text[-3000:]
        for value in roster.planted:
            assert value not in text, f"{value!r} leaked in: {text[-3000:]}"


def _spec_text(name: str, input_yaml: str, *, domain: str = "d", bucket: str = "bkt") -> str:
    return (
        "apiVersion: voiceid-reconciler/v1\nkind: SpeakerEnrollmentJob\n"
        f"metadata: {{name: {name}}}\n"
        f"spec:\n  domain: {domain}\n  dataAccessRoleArn: {ROLE}\n"
        f"  input:\n{input_yaml}"
        f"  output: {{s3Uri: 's3://{bucket}/output/', kmsKeyId: alias/voiceid-sandbox-demo}}\n"
    )


_examples = iter(range(10**9))


def _fresh(root: Path) -> Path:
    """A new repository under ``root`` for one example (examples share the test's tmp_path)."""
    path = root / f"example-{next(_examples)}"
    (path / ".git").mkdir(parents=True)
    (path / "specs").mkdir()
    return path


# --- target 1: what parsers say ---------------------------------------------------------------


@st.composite
def csv_rosters(draw: st.DrawFn, roster: Roster) -> str:
    """A CSV roster with the planted values in its header and rows, often malformed."""
    header = draw(
        st.sampled_from(
            [
                "speakerId,audio,channel",
                "speakerId,audio",
                "",  # no header line: the first row is data
                f"speakerId,audio,{roster.speakers[0]}",
                f"{roster.speakers[0]},audio",
                "audio,speakerId",
            ]
        )
    )
    rows = []
    for speaker, uri in zip(roster.speakers, roster.uris, strict=True):
        shape = draw(st.integers(0, 9))
        cells = [speaker, uri, "0"]
        if shape == 1:
            cells[2] = speaker  # a bad channel
        elif shape == 2:
            cells.append(uri)  # more columns than the header
        elif shape == 3:
            cells[1] = speaker  # audio that is not a URI
        elif shape == 4:
            cells[0] = f"{speaker} {speaker}"  # a speaker id with a space
        elif shape == 5:
            cells = [f'"{speaker}', uri]  # an open quote
        elif shape == 6:
            cells[1] = " ".join([uri] * draw(st.integers(11, 12)))  # too many recordings
        elif shape == 7:
            cells[1] = f"s3://{BUCKET}/" + "x" * 1100 + speaker  # an over-long URI
        rows.append(",".join(cells))
    if draw(st.booleans()):
        rows.append(rows[0])  # a speaker twice
    return "\n".join([header, *rows] if header else rows) + "\n"


@st.composite
def yaml_entries(draw: st.DrawFn, roster: Roster) -> list[str]:
    """YAML roster entries (flow style, one per line) with the planted values in keys and
    values YAML or the model refuses."""
    entries = []
    for speaker, uri in zip(roster.speakers, roster.uris, strict=True):
        shape = draw(st.integers(0, 10))
        entry = f"{{speakerId: {speaker}, audio: ['{uri}']}}"
        if shape == 1:
            entry = f"{{{speaker}: {{audio: ['{uri}']}}}}"  # keyed by the speaker id
        elif shape == 2:
            entry = f"{{speakerId: {speaker}, audio: ['{uri}'], {speaker}: 1}}"  # unknown key
        elif shape == 3:
            entry = f"{{speakerId: {speaker}, {speaker}: 1, {speaker}: 2, audio: ['{uri}']}}"
        elif shape == 4:
            entry = f"{{speakerId: !!int {speaker}, audio: ['{uri}']}}"  # unreadable value
        elif shape == 5:
            entry = f"{{speakerId: {speaker}, audio: [{{uri: '{uri}', channel: {speaker}}}]}}"
        elif shape == 6:
            entry = f"{{speakerId: *{speaker}, audio: ['{uri}']}}"  # an undefined alias
        elif shape == 7:
            entry = f"{{speakerId: !{speaker} x, audio: ['{uri}']}}"  # an unknown tag
        elif shape == 8:
            entry = f"{{speakerId: '{speaker}', audio: ['{speaker}']}}"  # audio not a URI
        elif shape == 9:
            entry = f"{{speakerId: {speaker}, audio: ['{uri}'], audio: []}}"  # a field twice
        elif shape == 10:
            entry = f"'{speaker},{uri}'"  # a CSV line in a YAML roster
        entries.append(entry)
    if draw(st.booleans()):
        entries.append(entries[0])
    return entries


@st.composite
def hostile_trees(draw: st.DrawFn) -> tuple[Roster, dict[str, str]]:
    """A spec and its roster (a CSV file, a YAML file or inline) holding planted values."""
    roster = draw(rosters())
    form = draw(st.sampled_from(["csv", "yaml", "yaml-mapping", "inline"]))
    staging = "    stagingUri: s3://bkt/staging/\n"
    files: dict[str, str] = {}
    if form == "csv":
        files["specs/r.csv"] = draw(csv_rosters(roster))
        files["specs/a.yaml"] = _spec_text("a", f"    speakersFile: r.csv\n{staging}")
    elif form == "yaml":
        entries = draw(yaml_entries(roster))
        files["specs/r.yaml"] = "".join(f"- {e}\n" for e in entries)
        files["specs/a.yaml"] = _spec_text("a", f"    speakersFile: r.yaml\n{staging}")
    elif form == "yaml-mapping":
        speaker = roster.speakers[0]
        files["specs/r.yaml"] = f"{speaker}: {{audio: ['{roster.uris[0]}']}}\n" * draw(
            st.integers(1, 2)
        )
        files["specs/a.yaml"] = _spec_text("a", f"    speakersFile: r.yaml\n{staging}")
    else:
        entries = draw(yaml_entries(roster))
        inline = "".join(f"      - {e}\n" for e in entries)
        files["specs/a.yaml"] = _spec_text("a", f"    speakers:\n{inline}{staging}")
    return roster, files


@seed(fuzz_seed())
@fuzz_settings(ci=200)
@given(tree=hostile_trees())
def test_validate_never_quotes_a_roster(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tree: tuple[Roster, dict[str, str]],
) -> None:
    """validate (text, JSON, GitHub annotations) of a roster with planted values: exit 0, or
    exit 1 with one located line per problem; no planted value in its output."""
    roster, files = tree
    root = _fresh(tmp_path)
    for name, text in files.items():
        (root / name).write_text(text)
    monkeypatch.chdir(root)
    for form in ("text", "json", "github"):
        capsys.readouterr()
        code = main(["validate", "specs", "--format", form])
        out, err = capsys.readouterr()
        assert code in (EXIT_OK, EXIT_ERROR), (code, err)
        _clean(roster, out, err)
        if form == "text" and code == EXIT_ERROR:
            lines = err.splitlines()
            assert all(re.match(LOCATED, line) for line in lines), lines


# --- target 2: Voice ID's failure text, offline ------------------------------------------------

SEPARATORS = st.sampled_from([*" ,;:()[]'\"=/\n\t|<>", ". ", " - ", "\\"])
FILLER = st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=12).filter(
    lambda t: not t[-1:].isalnum()
)


@st.composite
def failure_texts(draw: st.DrawFn, roster: Roster) -> str:
    """Voice ID's words around the planted values, in every form a message could name them:
    the id; the URI; bucket/key; the key; the file name; an https or ARN location; and the
    locations (with their scheme) of recordings the roster no longer has."""
    parts = []
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(roster.speakers) - 1))
        key = roster.keys[index]
        gone = draw(st.sampled_from(roster.gone))
        value = draw(
            st.sampled_from(
                [
                    roster.speakers[index],
                    roster.uris[index],
                    f"{BUCKET}/{key}",
                    key,
                    key.rpartition("/")[2],
                    f"https://{BUCKET}.s3.us-east-1.amazonaws.com/{key}",
                    f"arn:aws:s3:::{BUCKET}/{key}",
                    f"S3://{BUCKET}/{key}",
                    f"s3://{BUCKET}/{gone}",
                    f"s3://other-bucket/{gone}",
                    f"https://s3.eu-west-1.amazonaws.com/{BUCKET}/{gone}",
                    f"arn:aws:s3:::{BUCKET}/{gone}",
                ]
            )
        )
        parts += [draw(FILLER), draw(SEPARATORS), value, draw(SEPARATORS)]
    text = "".join(parts)
    if draw(st.integers(0, 9)) == 0:
        text = "x " * draw(st.integers(900, 1200)) + text  # beyond the text's cut, or not
    return text


def _desired_hash(specs: Path) -> str:
    """The hash of the one spec under ``specs`` (its domain given by id: no lookup)."""
    (spec,) = load([specs])
    (job,) = desire([spec], OfflineResolver(State()))
    assert job.request is not None, job.blocked
    return job.request.hash


@seed(fuzz_seed())
@fuzz_settings(ci=200)
@given(roster=rosters(), data=st.data())
def test_a_failure_text_is_redacted_in_every_offline_output(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    roster: Roster,
    data: st.DataObject,
) -> None:
    """A state whose FAILED job's message (as Voice ID said it, written by any version) names
    the roster's speakers and recordings: plan --offline (text, JSON, Markdown), status (text,
    JSON) and the state the run writes hold none of them."""
    message = data.draw(failure_texts(roster), label="message")
    root = _fresh(tmp_path)
    domain = "D" * 22
    inline = "".join(
        f"      - {{speakerId: {s}, audio: ['{u}']}}\n"
        for s, u in zip(roster.speakers, roster.uris, strict=True)
    )
    specs = root / "specs"
    (specs / "a.yaml").write_text(
        _spec_text(
            "a", f"    speakers:\n{inline}    stagingUri: s3://bkt/staging/\n", domain=domain
        )
    )
    digest = _desired_hash(specs)
    record = JobRecord(
        hash=digest,
        attempt=1,
        job_name=job_name("a", digest),
        domain_id=domain,
        kind="SpeakerEnrollmentJob",
        job_id="J" * 22,
        status="FAILED",
        created_at="2026-12-01T00:00:00Z",
        ended_at="2026-12-01T00:10:00Z",
    )
    state = State()
    state.specs["SpeakerEnrollmentJob/a"] = SpecEntry(
        kind="SpeakerEnrollmentJob", name="a", hash=digest, domain_id=domain, jobs=[record]
    )
    text = state.to_json()
    data_ = json.loads(text)
    data_["specs"]["SpeakerEnrollmentJob/a"]["jobs"][0]["failure"] = {
        "statusCode": 400,
        "message": message,  # verbatim: as an earlier version wrote it
    }
    path = root / "state.json"
    path.write_text(json.dumps(data_))
    outputs = []
    for argv in (
        ["plan", str(specs), "--offline", "--format", "text"],
        ["plan", str(specs), "--offline", "--format", "markdown"],
        ["status", str(specs), "--format", "json"],
    ):
        capsys.readouterr()
        code = main([*argv, "--state", str(path)])
        out, err = capsys.readouterr()
        assert code in (EXIT_OK, 2, EXIT_JOB_FAILED), (argv, code, err)
        outputs += [out, err]
    _clean(roster, *outputs)
    assert any("failure 400" in out for out in outputs)


# --- target 3: output documents of any shape -----------------------------------------------------


def _json(planted: st.SearchStrategy[str]) -> st.SearchStrategy[Any]:
    """Any JSON value, planted strings among the texts and the keys."""
    leaves = (
        st.none()
        | st.booleans()
        | st.integers(-(2**66), 2**66)
        | st.floats(allow_nan=True)
        | st.text(max_size=10)
        | planted
        | st.sampled_from([*sorted(OUTCOMES), "400", "error"])
    )
    return st.recursive(
        leaves,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=6) | planted, inner, max_size=3)
        ),
        max_leaves=8,
    )


@st.composite
def output_documents(draw: st.DrawFn, planted: st.SearchStrategy[str]) -> Any:
    """An output file: mostly of the documented shape, with planted values in every field
    and, now and then, any JSON in any place (or as the whole file)."""
    anything = _json(planted)
    if draw(st.integers(0, 9)) == 0:
        return draw(anything)

    def field(*good: Any) -> Any:
        choice = draw(st.integers(0, 5))
        if choice <= 2 and good:
            return draw(st.sampled_from(good))
        return draw(planted) if choice <= 4 else draw(anything)

    def item(status: str, values: tuple[str, ...]) -> Any:
        if draw(st.integers(0, 19)) == 0:
            return draw(anything)
        entry = {
            "RequestId": field("req-0000001", "req-0000002"),
            status: field(*values),
            "CustomerSpeakerId": draw(planted),
        }
        return {k: v for k, v in entry.items() if draw(st.integers(0, 9)) > 0}

    def error() -> Any:
        if draw(st.integers(0, 19)) == 0:
            return draw(anything)
        message = f"no audio in {draw(planted)} for {draw(planted)}"
        return {
            "RequestId": field("req-0000003"),
            "ErrorCode": field(400, 402, 409, 500, "400"),
            "ErrorMessage": field(message, message),
        }

    document: dict[Any, Any] = {"Version": "1.0"}
    members = {
        "SuccessfulEnrollments": lambda: item("EnrollmentStatus", tuple(sorted(OUTCOMES))),
        "SuccessfulRegistrations": lambda: item("RegistrationStatus", tuple(sorted(OUTCOMES))),
        "Errors": error,
    }
    for name, make in members.items():
        shape = draw(st.integers(0, 9))
        if shape <= 6:
            document[name] = [make() for _ in range(draw(st.integers(0, 4)))]
        elif shape == 7:
            document[name] = draw(anything)
    return document


@seed(fuzz_seed())
@fuzz_settings(ci=300)
@given(roster=rosters(), data=st.data())
def test_an_output_document_of_any_shape_is_counted_or_refused(
    roster: Roster, data: st.DataObject
) -> None:
    """Any JSON as an output file: MalformedOutput (naming where, never a value) or counts
    keyed by the product's words only; failed requests redacted against the roster."""
    planted = st.sampled_from([*roster.speakers, *roster.uris])
    document = data.draw(output_documents(planted), label="document")
    MASK.use([roster.requests()])
    try:
        checked = check_output(document)
    except MalformedOutput as err:
        _clean(roster, str(err))
        assert failed_requests(document) == []
        return
    counts = checked.counts()
    allowed = {*OUTCOMES, UNKNOWN}
    for key in counts:
        code = key.removeprefix("error:")
        assert key in allowed or (code != key and (code == UNKNOWN or code.isdigit())), key
    for failed in failed_requests(document):
        _clean(roster, failed.request_id, str(failed.error_code), failed.message)


# --- target 4: state files with broken times -----------------------------------------------------

TIME_FIELDS = (
    "observedAt",
    "listings",
    "provisional",
    "intentAt",
    "createdAt",
    "endedAt",
    "approvals",
    "lastSent",
)
NEAR_MISSES = st.sampled_from(
    [
        "2026-02-29T00:00:00Z",
        "2026-04-31T12:00:00Z",
        "2026-12-01T24:00:00Z",
        "2026-12-01T09:60:00Z",
        "2026-12-01T09:00:60Z",
        "0000-01-01T00:00:00Z",
        "2026-12-01T09:00:00",
        "2026-12-01 09:00:00Z",
        "2026-12-01T09:00:00+00:00",
        " 2026-12-01T09:00:00Z",
        "2026-12-01T09:00:00Z\n",
        "\uff12\uff10\uff12\uff16-12-01T09:00:00Z",  # fullwidth digits
        "12026-12-01T09:00:00Z",
        "2026-1-01T09:00:00Z",
        "not-a-date",
        "",
    ]
)
VALID_TIMES = st.integers(0, 253402300799).map(
    lambda s: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(s))
)


def _is_time(value: Any) -> bool:
    """Whether ``value`` is an ISO-8601 UTC time on a day the calendar has (an oracle apart
    from the product's check)."""
    if not isinstance(value, str):
        return False
    match = re.fullmatch(
        r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})Z", value, re.ASCII
    )
    if match is None:
        return False
    try:
        datetime(*map(int, match.groups()))  # only the calendar is asked
    except ValueError:
        return False
    return True


OPTIONAL = frozenset({"observedAt", "intentAt", "createdAt", "endedAt", "lastSent"})


def _state_with(field: str, value: Any) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(State(lineage="l", serial=1).to_json())
    record: dict[str, Any] = {
        "attempt": 1,
        "domainId": "D" * 22,
        "hash": "a" * 64,
        "jobName": "a-" + "a" * 32,
        "kind": "SpeakerEnrollmentJob",
        "jobId": "J" * 22,
        "status": "IN_PROGRESS",
        "createdAt": "2026-12-01T00:00:00Z",
    }
    data["specs"] = {
        "SpeakerEnrollmentJob/a": {
            "domainId": "D" * 22,
            "hash": "a" * 64,
            "kind": "SpeakerEnrollmentJob",
            "name": "a",
            "jobs": [record],
            "history": [],
            "request": None,
        }
    }
    slot = f"{'D' * 22}/SpeakerEnrollmentJob"
    if field in ("listings", "provisional"):
        data[field] = {slot: value}
    elif field == "observedAt":
        data[field] = value
    elif field == "approvals":
        data[field] = {
            "SpeakerEnrollmentJob/a": {
                "hash": "a" * 64,
                "maxAttempts": 1,
                "review": "x",
                "at": value,
            }
        }
    elif field == "lastSent":
        data["notified"] = {"sink": {"delivered": [], "failures": 0, "lastSent": value}}
    else:
        record[field] = value
    return data


@seed(fuzz_seed())
@fuzz_settings(ci=200)
@given(
    field=st.sampled_from(TIME_FIELDS),
    value=NEAR_MISSES
    | VALID_TIMES
    | st.text(string.digits + "-T:Z .+", max_size=24)
    | st.text(max_size=24)
    | st.integers()
    | st.none(),
)
def test_a_state_with_any_time_is_read_or_refused_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: Any
) -> None:
    """A state whose time field holds anything: plan --offline and status read it (a time
    the calendar has, or null where the field may be) or refuse it in one line naming the
    file and the field."""
    root = _fresh(tmp_path)
    (root / "specs" / "a.yaml").write_text(
        _spec_text("a", "    manifest: s3://bkt/m.json\n", domain="D" * 22)
    )
    path = root / "state.json"
    path.write_text(json.dumps(_state_with(field, value)))
    for argv in (["plan", str(root / "specs"), "--offline"], ["status"]):
        capsys.readouterr()
        code = main([*argv, "--state", str(path)])
        out, err = capsys.readouterr()
        assert "Traceback" not in out + err
        if code == EXIT_ERROR:
            (line,) = err.splitlines()
            assert line.startswith(f"voiceid-reconciler: {path}: state "), line
            assert not _is_time(value), line
        else:
            assert code in (EXIT_OK, 2), (code, err)
            assert _is_time(value) or (value is None and field in OPTIONAL), (field, value)


# --- the sandbox: a FAILED job's message, and an output file, end to end ------------------------


@dataclass
class Scene:
    world: World
    root: Path
    receiver: Receiver

    @property
    def domain_id(self) -> str:
        (domain_id,) = self.world.domains.values()
        return domain_id


@pytest.fixture
def scene(voiceid_env: Sandbox, tmp_path: Path) -> Iterator[Scene]:
    receiver = Receiver()
    try:
        yield Scene(build_world(voiceid_env), tmp_path, receiver)
    finally:
        receiver.close()


def _seed(scene: Scene, job: dict[str, Any]) -> dict[str, Any]:
    world = scene.world
    seeded = world.sandbox.seed_world(
        {
            "apiVersion": "voiceid-sandbox/v1",
            "kmsKeys": [{"aliases": [world.kms_alias]}],
            "domains": [{"name": "voiceid-sandbox-demo", "jobs": [job]}],
        }
    )
    (found,) = [j for d in seeded["domains"] for j in d["jobs"] if j["name"] == job["name"]]
    return dict(found)


@seed(fuzz_seed())
@fuzz_settings(ci=40)
@given(roster=rosters(size=3), data=st.data())
def test_a_failed_jobs_message_never_leaves_through_any_output(
    scene: Scene, capsys: pytest.CaptureFixture[str], roster: Roster, data: st.DataObject
) -> None:
    """Voice ID fails a job of ours with a message naming the roster: apply (with a webhook),
    plan (text, JSON, Markdown), status and the state file never hold a planted value."""
    message = data.draw(failure_texts(roster), label="message")
    root = _fresh(scene.root)
    world = scene.world
    inline = "".join(
        f"      - {{speakerId: {s}, audio: ['{u}']}}\n"
        for s, u in zip(roster.speakers, roster.uris, strict=True)
    )
    name = f"f{next(_examples)}"
    specs = root / "specs"
    (specs / "a.yaml").write_text(
        _spec_text(
            name,
            f"    speakers:\n{inline}    stagingUri: s3://{world.bucket}/staging/\n",
            domain=scene.domain_id,
            bucket=world.bucket,
        ).replace(ROLE, world.role_arn)
    )
    digest = _desired_hash(specs)
    _seed(
        scene,
        {
            "kind": "SpeakerEnrollmentJob",
            "name": job_name(name, digest),
            "status": "FAILED",
            "failure": {"statusCode": 400, "message": message},
        },
    )
    state = root / "state.json"
    hook = f"json://127.0.0.1:{scene.receiver.port}/{name}"
    outputs = []
    for argv in (
        ["apply", str(specs), "--notify", hook, "--notify-on", "all"],
        ["plan", str(specs), "--format", "json"],
        ["plan", str(specs), "--format", "markdown"],
        ["status", str(specs), "--format", "text"],
    ):
        capsys.readouterr()
        code = main([*argv, "--state", str(state), "--tps", "0"])
        out, err = capsys.readouterr()
        assert code in (EXIT_OK, 2, EXIT_JOB_FAILED), (argv, code, err[-2000:])
        outputs += [out, err]
    payloads = [r["body"].decode() for r in scene.receiver.requests if r["path"] == f"/{name}"]
    assert payloads, "the failure was not sent"
    _clean(roster, state.read_text(), *payloads, *outputs)


@seed(fuzz_seed())
@fuzz_settings(ci=15)
@given(roster=rosters(size=2), data=st.data())
def test_apply_wait_reads_an_output_file_of_any_shape(
    scene: Scene, capsys: pytest.CaptureFixture[str], roster: Roster, data: st.DataObject
) -> None:
    """A watched job ends with an output file of any shape (planted values in it): apply
    --wait exits 0, with results or one warning; no planted value anywhere it writes."""
    planted = st.sampled_from([*roster.speakers, *roster.uris])
    document = data.draw(output_documents(planted), label="document")
    root = _fresh(scene.root)
    world = scene.world
    sandbox = world.sandbox
    name = f"o{next(_examples)}"
    specs = root / "specs"
    s3 = sandbox.client("s3")
    sandbox.freeze_clock()  # the job runs until the clock is moved: the first run sees it so
    try:
        s3.put_object(Bucket=world.bucket, Key=f"manifests/{name}.json", Body=b"{}")
        (specs / "a.yaml").write_text(
            _spec_text(
                name,
                f"    manifest: s3://{world.bucket}/manifests/{name}.json\n",
                domain="voiceid-sandbox-demo",
                bucket=world.bucket,
            ).replace(ROLE, world.role_arn)
        )
        state = root / "state.json"
        capsys.readouterr()
        assert main(
            ["plan", str(specs), "--state", str(state), "--format", "json", "--tps", "0"]
        ) in (0, 2)
        (action,) = json.loads(capsys.readouterr().out)["actions"]
        job = _seed(
            scene,
            {
                "kind": "SpeakerEnrollmentJob",
                "name": action["jobName"],
                "status": "IN_PROGRESS",
                "ends": "in 10s",
            },
        )
        s3.put_object(
            Bucket=world.bucket,
            Key=f"output/{job['jobId']}/{name}.json.out",
            Body=json.dumps(document).encode(),
        )
        argv = ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json"]
        assert main(argv) == EXIT_OK  # the job found running: watched from now on
        sandbox.advance_clock(20)
    finally:
        s3.close()
        sandbox.freeze_clock(False)
    capsys.readouterr()
    code = main([*argv, "--wait", "--poll-interval", "0.05", "--timeout", "30"])
    out, err = capsys.readouterr()
    assert code in (EXIT_OK, 8), (code, err[-2000:])
    _clean(roster, out, err, state.read_text())
    (record,) = LocalStateStore(state).read().specs[f"SpeakerEnrollmentJob/{name}"].jobs
    warned = err.count('"manifests.output_malformed"')
    assert record.status == "COMPLETED"
    assert warned <= 1  # once per file, however many polls read it
    # results unknown: exactly when the S3 adapter warned of a file of another shape (JSON
    # null included: once taken for a file it could not fetch, with no warning)
    assert (record.results is None) == bool(warned)
