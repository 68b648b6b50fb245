"""docs/specs.md cannot drift: its field table is the spec models', its examples validate, the
manifest it shows is the one rendered from the roster it shows, its output files are read."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from reconciler.cli import main
from reconciler.core.jobs import result_counts
from reconciler.core.loading import load_specs
from reconciler.core.roster import has_roster, load_roster, parts
from reconciler.core.spec import json_schema
from reconciler.sandbox.jobs import parse_manifest
from reconciler.sandbox.state import JobKind

DOC = Path(__file__).resolve().parents[1] / "docs" / "specs.md"
KINDS = ("SpeakerEnrollmentJob", "FraudsterRegistrationJob")
_FENCE = re.compile(r"^```(\w+)(?: (\S+))?\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def _text() -> str:
    return DOC.read_text(encoding="utf-8")


def _blocks(language: str) -> list[tuple[str | None, str]]:
    """The doc's fenced blocks of a language, with the label after it (a path, a role)."""
    return [(label, body) for lang, label, body in _FENCE.findall(_text()) if lang == language]


def _model_fields() -> dict[str, tuple[str, str]]:
    """Every field path of both kinds: (which kinds have it, its default cell)."""
    schema = json_schema()
    defs = schema["$defs"]
    seen: dict[str, tuple[set[str], str]] = {}

    def walk(definition: dict[str, Any], prefix: str, kind: str) -> None:
        required = set(definition.get("required", []))
        for name, prop in definition["properties"].items():
            path = f"{prefix}{name}"
            if name in required:
                cell = "required"
            elif prop.get("default") is None:
                cell = "optional"
            else:
                cell = f"`{prop['default']}`"
            kinds, _ = seen.setdefault(path, (set(), cell))
            kinds.add(kind)
            options = [o for o in prop.get("anyOf", [prop]) if o.get("type") != "null"]
            for option in options:
                item = option.get("items", option)
                for ref in [o["$ref"] for o in item.get("anyOf", [item]) if "$ref" in o]:
                    inner = "[]." if "items" in option else "."
                    walk(defs[ref.rsplit("/", 1)[1]], f"{path}{inner}", kind)

    for kind in KINDS:
        walk(defs[kind], "", kind)
    return {
        path: ("both" if kinds == set(KINDS) else next(iter(kinds)), cell)
        for path, (kinds, cell) in seen.items()
    }


def test_the_field_table_is_the_models() -> None:
    """Every field of both kinds has its row, with the kinds that have it and whether it is
    required or what its default is; no row names a field the models do not have."""
    section = _text().split("### Every field", 1)[1].split("\n### ", 1)[0]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+?) \| ([^|]+?) \|", section, flags=re.MULTILINE)
    documented = {path: (kinds, cell) for path, kinds, cell in rows}
    assert len(documented) == len(rows), "a field has two rows"
    assert documented == _model_fields()


def test_the_example_specs_and_rosters_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The doc's specs and roster files, written where their labels say, pass ``validate``,
    and the manifest rendered from the CSV roster is the doc's first manifest, field for field."""
    files = [(label, body) for lang in ("yaml", "csv") for label, body in _blocks(lang) if label]
    assert len(files) == 5
    for label, body in files:
        path = tmp_path / label
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body, encoding="utf-8")
    (tmp_path / "specs" / "fraud" / "from-file.yaml").write_text(
        "apiVersion: voiceid-reconciler/v1\nkind: FraudsterRegistrationJob\n"
        "metadata: {name: from-file}\nspec:\n  domain: contact-center-prod\n"
        "  dataAccessRoleArn: arn:aws:iam::123456789012:role/VoiceIdBatchDataAccess\n"
        "  input: {fraudstersFile: rosters/known-fraudsters.yaml, stagingUri: 's3://acme-voiceid-input/staging/'}\n"
        "  output: {s3Uri: 's3://acme-voiceid-output/r/', kmsKeyId: alias/k}\n"
    )
    assert main(["validate", str(tmp_path / "specs")]) == 0, capsys.readouterr().err
    specs = {spec.name: spec for spec in load_specs([tmp_path / "specs"])}
    assert sorted(specs) == [
        "confirmed-2026-q4",
        "emea-callers",
        "emea-callers-roster",
        "from-file",
    ]
    assert all(has_roster(specs[n]) for n in ("emea-callers-roster", "from-file"))
    assert len(load_roster(specs["from-file"])) == 2
    roster = specs["emea-callers-roster"]
    (part,) = parts(roster.kind, load_roster(roster))
    (_, first_manifest), *_ = _blocks("json")
    assert json.loads(part.body) == json.loads(first_manifest)


def test_the_example_manifests_are_what_a_job_reads() -> None:
    """Each manifest the doc shows is one Voice ID (the sandbox) takes as a whole."""
    manifests = [body for label, body in _blocks("json") if label == "manifest"]
    assert len(manifests) == 2
    for body in manifests:
        data = json.loads(body)
        kind = JobKind.ENROLLMENT if "SpeakerEnrollmentRequests" in data else JobKind.REGISTRATION
        assert len(parse_manifest(body.encode(), kind, limit=10_000)) == 2


def test_the_example_outputs_give_the_counts_the_doc_says() -> None:
    """The output files shown are read into the counts written above them."""
    outputs = [json.loads(body) for label, body in _blocks("json") if label == "output"]
    assert [result_counts(output) for output in outputs] == [
        {"NEW_ENROLLMENT": 1, "error:400": 1},
        {"DUPLICATE_SKIPPED": 1, "NEW_REGISTRATION": 1},
    ]
