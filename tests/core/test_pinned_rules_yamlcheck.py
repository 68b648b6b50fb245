"""Rules of the errors of a document checked against its model: each at file:line:column, in
words a person can act on, never quoting roster data (reconciler.core.yamlcheck)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.core.errors import SpecError, SpecErrors
from reconciler.core.loading import load_file
from reconciler.core.specsections import Fraudster, Speaker
from reconciler.core.yamlcheck import load_yaml_list

A = "'s3://bucket/a.wav'"
BASE = """apiVersion: voiceid-reconciler/v1
kind: {kind}
metadata: {{name: {name}, labels: {labels}}}
spec:
  domain: {domain}
  dataAccessRoleArn: arn:aws:iam::123456789012:role/R
  input: {input}
  output: {{s3Uri: 's3://bucket/out/', kmsKeyId: alias/k}}
{extra}"""


def _doc(
    *,
    kind: str = "SpeakerEnrollmentJob",
    name: str = "n",
    labels: str = "{}",
    domain: str = "prod",
    source: str = "{manifest: 's3://bucket/m.json'}",
    extra: str = "",
) -> str:
    return BASE.format(
        kind=kind, name=name, labels=labels, domain=domain, input=source, extra=extra
    )


def _roster(entries: str) -> str:
    return f"{{speakers: [{entries}], stagingUri: 's3://bucket/s/'}}"


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    return [f"{e.location.line}:{e.location.column}: {e.message}" for e in load_file(path)[1]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            _doc(extra="  prority: 3\n"),
            "9:3: unknown field 'spec.prority'; did you mean 'priority'?",
        ),
        (_doc(extra="  zzzqqq: 3\n"), "9:3: unknown field 'spec.zzzqqq'"),
        (
            _doc(kind="FraudsterRegistrationJob", extra="  enrollment: {}\n"),
            "9:3: 'enrollment' belongs to SpeakerEnrollmentJob, not to FraudsterRegistrationJob",
        ),
        (_doc().replace("  domain: prod\n", ""), "5:3: missing required field 'spec.domain'"),
        (
            _doc(name="Bad_Name"),
            "3:18: metadata.name: must be lowercase letters, digits and '-', starting and ending "
            "with a letter or digit",
        ),
        (
            _doc(labels="{'bad key!': v}"),
            "3:30: metadata.labels.bad key!: label keys and values must be letters, digits, '-', "
            "'_' or '.'",
        ),
        (
            _doc(labels="{name: 'bad value!'}"),
            "3:36: metadata.labels.name: label keys and values must be letters, digits, '-', "
            "'_' or '.'",
        ),
        (
            _doc(extra="  enrollment: {existingEnrollmentAction: MAYBE}\n"),
            "9:42: spec.enrollment.existingEnrollmentAction: must be 'SKIP' or 'OVERWRITE'",
        ),
        (
            _doc(source=_roster("{speakerId: s, audio: [" + ",".join([A] * 11) + "]}")),
            "7:44: spec.input.speakers[0].audio: must have at most 10 items",
        ),
        (
            _doc(source=_roster("{speakerId: s, audio: []}")),
            "7:44: spec.input.speakers[0].audio: must have at least 1 items",
        ),
        (
            _doc().replace("kmsKeyId: alias/k", "kmsKeyId: ''"),
            "8:49: spec.output.kmsKeyId: must have at least 1 characters",
        ),
        (
            _doc(source=_roster("{speakerId: s, audio: [nope]}")),
            "7:45: spec.input.speakers[0].audio[0]: must be an S3 URI such as s3://bucket/key",
        ),
        (
            _doc(source=_roster("{speakerId: s, audio: [{uri: nope}]}")),
            "7:51: spec.input.speakers[0].audio[0].uri: must be an S3 URI such as s3://bucket/key",
        ),
        (
            _doc(source="{speakersFile: /abs.csv, stagingUri: 's3://bucket/s/'}"),
            "7:10: spec.input: speakersFile must be a relative path inside the repository",
        ),
        (_doc(extra="  priority: high\n"), "9:13: spec.priority: must be a valid integer"),
        (
            _doc(extra="  maxAttempts: 11\n"),
            "9:16: spec.maxAttempts: must be less than or equal to 10",
        ),
        (
            _doc(extra="  enrollment: {fraudDetection: {watchlist: 'bad wl'}}\n"),
            "9:44: spec.enrollment.fraudDetection.watchlist: must be a watchlist name or id: "
            "letters, digits, '_' or '-'",
        ),
        (
            _doc(domain="'bad domain'"),
            "5:11: spec.domain: must be a domain name or id: letters, digits, '_' or '-'",
        ),
        (
            _doc(source=_roster(f"{{speakerId: 'bad id', audio: [{A}]}}")),
            "7:34: spec.input.speakers[0].speakerId: must be 1-256 letters, digits, '_' or '-', "
            "starting with a letter or digit",
        ),
        (
            _doc(source="{speakersFile: r.csv, stagingUri: nope}"),
            "7:44: spec.input.stagingUri: must be an S3 URI such as s3://bucket/prefix/",
        ),
        (
            _doc(source="{manifest: nope}"),
            "7:21: spec.input.manifest: must be an S3 URI such as s3://bucket/key",
        ),
        (
            _doc().replace("s3Uri: 's3://bucket/out/'", "s3Uri: nope"),
            "8:19: spec.output.s3Uri: must be an S3 URI such as s3://bucket/prefix/",
        ),
        (
            _doc()
            .replace("role/R", "role/R\n  x: 1")
            .replace("arn:aws:iam::123456789012:role/R", "nope-nope-nope-nope-nope"),
            "6:22: spec.dataAccessRoleArn: must be an IAM role ARN (arn:aws:iam::<12 digits>:role/<name>)",
        ),
    ],
)
def test_each_error_in_words_at_its_place(tmp_path: Path, text: str, expected: str) -> None:
    """Unknown fields with a did-you-mean, the other kind's section, missing fields, each
    pattern as the form it wants, literals, lengths and bounds in words, at the node."""
    found = _problems(tmp_path, text)
    assert expected in found
    assert len(found) <= 2


def test_a_union_says_what_is_wrong_once(tmp_path: Path) -> None:
    """An audio entry that is neither a URI nor an object: one error per member, nothing
    else; one that is a bad URI: only the URI's error (not the object member's)."""
    bad_uri = _problems(tmp_path, _doc(source=_roster("{speakerId: s, audio: [nope]}")))
    assert bad_uri == [
        "7:45: spec.input.speakers[0].audio[0]: must be an S3 URI such as s3://bucket/key"
    ]
    bad_type = _problems(tmp_path, _doc(source=_roster("{speakerId: s, audio: [5]}")))
    assert bad_type == [
        "7:45: spec.input.speakers[0].audio[0]: must be a valid string",
        "7:45: spec.input.speakers[0].audio[0]: must be a valid dictionary or instance of "
        "AudioFile",
    ]


def test_an_unknown_field_in_an_inline_roster_is_not_quoted(tmp_path: Path) -> None:
    """A key in an inline roster may be personal data: the error names where, not the key."""
    text = _doc(source=_roster(f"{{speakerId: s, audio: [{A}], cust-42: x}}"))
    assert _problems(tmp_path, text) == [
        "7:67: spec.input.speakers[0]: unknown field in a roster (not shown)"
    ]


def test_every_error_of_a_document(tmp_path: Path) -> None:
    """All problems of one document are reported, each at its own place."""
    text = _doc(name="Bad_Name", extra="  priority: high\n  prority: 1\n")
    found = _problems(tmp_path, text)
    assert [f.split(": ")[1] for f in found] == [
        "metadata.name",
        "spec.priority",
        "unknown field 'spec.prority'; did you mean 'priority'?",
    ]


# --- roster files ---------------------------------------------------------------------------


def _roster_file(tmp_path: Path, text: str, model: type = Speaker) -> list[str]:
    path = tmp_path / "r.yaml"
    path.write_text(text)
    with pytest.raises((SpecError, SpecErrors)) as caught:
        load_yaml_list(path, model)
    err = caught.value
    errors = err.errors if isinstance(err, SpecErrors) else [err]
    assert all(isinstance(e, SpecError) for e in errors)
    return [str(e).removeprefix(f"{path}:") for e in errors]


def test_a_roster_file_as_a_list_of_entries(tmp_path: Path) -> None:
    """A list of the inline form's entries, and a locator of positions in it."""
    path = tmp_path / "r.yaml"
    path.write_text(f"- speakerId: s1\n  audio: [{A}]\n- speakerId: s2\n  audio: [{A}]\n")
    entries, locate = load_yaml_list(path, Speaker)
    assert [e.speaker_id for e in entries] == ["s1", "s2"]
    error = locate([1, "speakerId"], "same speakerId as entry 1")
    assert (error.location.line, error.location.column) == (3, 14)
    assert error.message == "[1].speakerId: same speakerId as entry 1"
    fraud = tmp_path / "f.yaml"
    fraud.write_text(f"- audio: [{A}]\n")
    assert len(load_yaml_list(fraud, Fraudster)[0]) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("# nothing but a comment\n", [" empty roster file"]),
        ("speakerId: s1\n", ["1:1: a roster file must be a list of entries"]),
        ("- [unclosed\n", ["2:1: YAML: did not find expected ',' or ']'"]),
        ("- " + "[" * 70 + "]" * 70 + "\n", [" roster nesting too deep or too large"]),
        (
            f"- speakerId: s1\n  audio: [{A}]\n  cust-42: x\n- speakerId: 'bad id'\n  audio: [{A}]\n",
            [
                "3:3: [0]: unknown field in a roster (not shown)",
                "4:14: [1].speakerId: must be 1-256 letters, digits, '_' or '-', starting with a "
                "letter or digit",
            ],
        ),
        ("- speakerId: s1\n  audio: [\x07]\n", None),
    ],
)
def test_a_roster_files_problems(tmp_path: Path, text: str, expected: list[str] | None) -> None:
    """Empty, not a list, broken YAML, too deep, and every invalid entry (never quoted)."""
    found = _roster_file(tmp_path, text)
    if expected is None:  # a character YAML cannot read: one located error
        assert len(found) == 1
    else:
        assert found == expected
    assert all("cust-42" not in f for f in found)


def test_a_pattern_without_a_hint_is_an_invalid_format(tmp_path: Path) -> None:
    """A field whose pattern has no words of its own is said to have an invalid format."""
    found = _problems(tmp_path, _doc(extra="  dependsOn: [nope]\n"))
    assert "9:15: spec.dependsOn[0]: has an invalid format" in found


def test_a_wrong_type_outside_a_union_is_always_said(tmp_path: Path) -> None:
    """A wrong type is only dropped as a union's noise: a field of one type that has it is
    reported beside the document's other problems."""
    found = _problems(tmp_path, _doc(name="Bad_Name", domain="5"))
    assert [f.split(": ")[1] for f in found] == ["metadata.name", "spec.domain"]


def test_a_duplicate_key_in_a_roster_file_is_not_quoted(tmp_path: Path) -> None:
    """Everything in a roster file may be personal data: a key given twice is not named."""
    found = _roster_file(tmp_path, f"- {{speakerId: s1, cust-42: 1, cust-42: 2, audio: [{A}]}}\n")
    assert len(found) == 1
    assert "cust-42" not in found[0]
    assert "in a roster (not shown)" in found[0]


def test_an_alias_bomb_in_a_roster_file_is_refused(tmp_path: Path) -> None:
    """Aliases that expand beyond the node limit are refused, not expanded."""
    lines = ["- &a [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"- &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(6)]
    assert _roster_file(tmp_path, "\n".join(lines) + "\n") == [
        " roster nesting too deep or too large"
    ]
