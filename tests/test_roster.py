"""Rosters in git: loading with file:line errors, chunking into parts, deterministic manifests,
staging, results, and privacy (no speaker id or audio URI in any output)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from reconciler.adapters.localstore import LocalStateStore
from reconciler.cli import EXIT_OK, main
from reconciler.core.errors import SpecErrors
from reconciler.core.loading import load
from reconciler.core.roster import Request, parts, render_manifest
from reconciler.sandbox import Sandbox
from tests.support import World, build_world

ROLE = "arn:aws:iam::123456789012:role/R"


def _spec(
    directory: Path,
    input_yaml: str,
    *,
    kind: str = "SpeakerEnrollmentJob",
    name: str = "roster",
    domain: str = "D" * 22,
    bucket: str = "bucket",
) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.yaml"
    path.write_text(
        f"apiVersion: voiceid-reconciler/v1\nkind: {kind}\nmetadata: {{name: {name}}}\n"
        f"spec:\n  domain: {domain}\n  dataAccessRoleArn: {ROLE}\n"
        f"  input:\n{input_yaml}"
        f"  output: {{s3Uri: 's3://{bucket}/output/', kmsKeyId: alias/voiceid-sandbox-demo}}\n"
    )
    return path


def _csv(path: Path, rows: list[str], header: str = "speakerId,audio,channel") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n")


def _errors(paths: list[Path]) -> list[str]:
    with pytest.raises(SpecErrors) as info:
        load(paths)
    return [str(e) for e in info.value.errors]


def test_csv_roster_loads_with_channels_and_several_audio(tmp_path: Path) -> None:
    """A CSV roster gives one request per row; audio holds several URIs; channel defaults to 0."""
    _csv(tmp_path / "r.csv", ["a1,s3://bucket/x.wav;s3://bucket/y.wav,1", "a2,s3://bucket/z.wav,"])
    _spec(tmp_path, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (spec,) = load([tmp_path])
    assert spec.roster == (
        Request("a1", (("s3://bucket/x.wav", 1), ("s3://bucket/y.wav", 1))),
        Request("a2", (("s3://bucket/z.wav", 0),)),
    )


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        (["bad id!,s3://bucket/x.wav,0"], "r.csv:2:1: speakerId: must be"),
        (["a,https://x/y.wav,0"], "r.csv:2:1: audio: must be S3 URIs"),
        (["a,s3://bucket/x.wav,2"], "r.csv:2:1: channel: must be 0 or 1"),
        (["a,,0"], "r.csv:2:1: audio: 0 files; 1 to 10 are allowed"),
        (
            ["a," + ";".join(f"s3://bucket/{i}.wav" for i in range(11)) + ",0"],
            "r.csv:2:1: audio: 11 files",
        ),
        (["a,s3://bucket/x.wav,0", "a,s3://bucket/y.wav,0"], "r.csv:3:1: same speakerId as line 2"),
        (["a,s3://bucket/x.wav,0,extra"], "r.csv:2:1: more columns than the header"),
    ],
)
def test_csv_roster_errors_name_file_and_line(
    tmp_path: Path, rows: list[str], expected: str
) -> None:
    """Every Voice ID limit is checked at load time with a file:line error, no speaker id echoed."""
    _csv(tmp_path / "r.csv", rows)
    _spec(tmp_path, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (error,) = _errors([tmp_path])
    assert error.startswith(str(tmp_path / "r.csv"))
    assert expected in error
    assert "bad id!" not in error


def test_csv_header_is_checked(tmp_path: Path) -> None:
    """A CSV without the expected header says which columns it needs."""
    _csv(tmp_path / "r.csv", ["s3://bucket/x.wav"], header="audio")
    _spec(tmp_path, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (error,) = _errors([tmp_path])
    assert "CSV header must be audio,speakerId[,channel]" in error


_ROWS = ["a1, s3://bucket/x.wav;s3://bucket/y.wav, 1", 'a2, "s3://bucket/z.wav", 0']
_READ = (
    Request("a1", (("s3://bucket/x.wav", 1), ("s3://bucket/y.wav", 1))),
    Request("a2", (("s3://bucket/z.wav", 0),)),
)


@pytest.mark.parametrize(
    "header",
    [
        "speakerId,audio,channel",
        "speakerId, audio, channel",  # a space after each comma
        " speakerId , audio ,channel  ",  # before and after the names
        "speakerId,\taudio,channel ",
        '"speakerId", "audio", "channel"',  # quoted names after a space
        "\ufeffspeakerId,audio,channel",  # a BOM, as some Windows editors write
    ],
)
def test_spaces_around_csv_column_names_are_not_part_of_them(tmp_path: Path, header: str) -> None:
    """Spaces around a column name are ignored, the rows read under it (channel honoured), and
    a field quoted after ', ' is read as quoted, in the header as in the rows."""
    (tmp_path / "r.csv").write_text("\n".join([header, *_ROWS]) + "\n", encoding="utf-8")
    _spec(tmp_path, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (spec,) = load([tmp_path])
    assert spec.roster == _READ


def test_a_spaced_header_gives_the_same_hash_as_a_plain_one(tmp_path: Path) -> None:
    """Only how the header is written differs: the manifests (so the spec hashes) are the same."""
    plain, spaced = tmp_path / "plain", tmp_path / "spaced"
    _csv(plain / "r.csv", ["a1,s3://bucket/x.wav,1"])
    _csv(spaced / "r.csv", ["a1, s3://bucket/x.wav, 1"], header="speakerId, audio, channel")
    for where in (plain, spaced):
        _spec(where, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (one,), (other,) = load([plain]), load([spaced])
    assert one.roster == other.roster == (Request("a1", (("s3://bucket/x.wav", 1),)),)
    assert one.roster is not None
    assert other.roster is not None
    kind = "SpeakerEnrollmentJob"
    assert parts(kind, one.roster) == parts(kind, other.roster)


def test_a_channel_column_named_after_a_space_is_read(tmp_path: Path) -> None:
    """' channel' in the header is the channel column: its 1s are not read as the default 0;
    a blank channel, spaces or not, is 0."""
    _csv(
        tmp_path / "r.csv",
        ["a1,s3://bucket/x.wav,1", "a2,s3://bucket/y.wav,\t", "a3,s3://bucket/z.wav, "],
        header="speakerId,audio, channel",
    )
    _spec(tmp_path, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (spec,) = load([tmp_path])
    assert spec.roster == (
        Request("a1", (("s3://bucket/x.wav", 1),)),
        Request("a2", (("s3://bucket/y.wav", 0),)),
        Request("a3", (("s3://bucket/z.wav", 0),)),
    )


@pytest.mark.parametrize(
    ("header", "problem"),
    [
        # csv.DictReader would keep the last of two columns of one name and drop the other's
        # values without a word.
        ("speakerId,audio,audio", "got audio more than once"),
        ("speakerId,audio, audio ,channel,channel", "got audio,channel more than once"),
        (
            "speakerid,Audio",
            "got speakerid,Audio; write speakerId,audio (names are case-sensitive)",
        ),
        (
            "speakerId,audio,Channel,x",
            "got speakerId,audio,Channel and 1 other field; write channel (names are "
            "case-sensitive)",
        ),
    ],
)
def test_a_csv_header_names_each_column_once_as_spelt(
    tmp_path: Path, header: str, problem: str
) -> None:
    """A column named twice, or spelt in another case, is refused at the header's line."""
    _csv(tmp_path / "r.csv", ["a1,s3://bucket/x.wav,s3://bucket/y.wav"], header=header)
    _spec(tmp_path, "    speakersFile: r.csv\n    stagingUri: s3://bucket/staging/\n")
    (error,) = _errors([tmp_path])
    assert error == (
        f"{tmp_path / 'r.csv'}:1:1: CSV header must be audio,speakerId[,channel]; {problem}"
    )


def test_yaml_roster_errors_point_at_the_entry(tmp_path: Path) -> None:
    """A YAML roster file's errors carry the line and column of the bad entry."""
    (tmp_path / "rosters").mkdir()
    (tmp_path / "rosters" / "r.yaml").write_text(
        "- speakerId: ok\n  audio: [s3://bucket/a.wav]\n- speakerId: ok2\n  audio: [nope]\n"
    )
    _spec(tmp_path, "    speakersFile: rosters/r.yaml\n    stagingUri: s3://bucket/staging/\n")
    (error,) = _errors([tmp_path])
    assert error.startswith(f"{tmp_path / 'rosters' / 'r.yaml'}:4:")


def test_roster_file_outside_the_repository_is_refused(tmp_path: Path) -> None:
    """A roster path leading out of the repository (via a symlink) is refused."""
    outside = tmp_path / "outside"
    _csv(outside / "r.csv", ["a,s3://bucket/x.wav,0"])
    repo = tmp_path / "repo"
    (repo / ".git").mkdir(parents=True)
    (repo / "link.csv").symlink_to(outside / "r.csv")
    _spec(repo, "    speakersFile: link.csv\n    stagingUri: s3://bucket/staging/\n")
    (error,) = _errors([repo])
    assert "outside the repository" in error


def test_inline_fraudsters_and_duplicate_speakers(tmp_path: Path) -> None:
    """Inline fraudsters load; two inline speakers with one id are refused by position only."""
    _spec(
        tmp_path / "f",
        "    fraudsters: [{audio: [s3://bucket/f.wav]}]\n    stagingUri: s3://bucket/s/\n",
        kind="FraudsterRegistrationJob",
    )
    (spec,) = load([tmp_path / "f"])
    assert spec.roster == (Request(None, (("s3://bucket/f.wav", 0),)),)
    _spec(
        tmp_path / "d",
        "    speakers:\n      - {speakerId: same, audio: [s3://bucket/1.wav]}\n      - {speakerId: same, audio: [s3://bucket/2.wav]}\n    stagingUri: s3://bucket/s/\n",
    )
    (error,) = _errors([tmp_path / "d"])
    assert "speakers[1] has the same speakerId as speakers[0]" in error
    assert "same," not in error


def test_parts_are_ordered_and_editing_one_entry_changes_one_part() -> None:
    """25,000 speakers make 3 ordered parts; changing one entry changes only its part's digest."""
    requests = [Request(f"c{i}", ((f"s3://bucket/{i}.wav", 0),)) for i in range(25_000)]
    before = parts("SpeakerEnrollmentJob", requests)
    assert [(p.index, p.count) for p in before] == [(1, 10_000), (2, 10_000), (3, 5_000)]
    assert before[1].name("big") == "big-part-002"
    requests[12_345] = Request("c12345", (("s3://bucket/other.wav", 0),))
    after = parts("SpeakerEnrollmentJob", requests)
    assert [a.digest == b.digest for a, b in zip(before, after, strict=True)] == [True, False, True]


def test_rendering_is_deterministic_and_request_ids_are_positions() -> None:
    """The same roster renders to the same bytes; RequestIds are positions, not speaker ids."""
    requests = [Request("c1", (("s3://bucket/a.wav", 1),))]
    body = render_manifest("SpeakerEnrollmentJob", requests, offset=10_000)
    assert body == render_manifest("SpeakerEnrollmentJob", list(requests), offset=10_000)
    document = json.loads(body)
    assert document == {
        "Version": "1.0",
        "SpeakerEnrollmentRequests": [
            {
                "RequestId": "req-0010001",
                "SpeakerId": "c1",
                "AudioSpecifications": [{"S3Uri": "s3://bucket/a.wav", "ChannelId": 1}],
            }
        ],
    }
    assert (
        len(parts("FraudsterRegistrationJob", [Request(None, (("s3://bucket/a.wav", 0),))] * 501))
        == 2
    )


# --- against the sandbox ------------------------------------------------------------------------


def _roster_world(sandbox: Sandbox) -> World:
    return build_world(sandbox)


def _apply(specs: Path, state: Path, *extra: str) -> int:
    return main(
        ["apply", str(specs), "--state", str(state), "--tps", "0", "--log-format", "json", *extra]
    )


def test_25000_speaker_roster_runs_as_three_parts(voiceid_env: Sandbox, tmp_path: Path) -> None:
    """A 25,000-speaker roster file becomes 3 parts run one after another; ListSpeakers then
    shows all 25,000 speakers; changing one speaker in part 2 re-runs only part 2."""
    world = _roster_world(voiceid_env)
    audio = world.audio
    rows = [f"caller-{i:05d},{audio[i % len(audio)]},0" for i in range(25_000)]
    specs = tmp_path / "specs"
    _csv(specs / "rosters" / "big.csv", rows)
    _spec(
        specs,
        f"    speakersFile: rosters/big.csv\n    stagingUri: s3://{world.bucket}/staging/\n",
        name="big",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
    )
    state = tmp_path / "state.json"
    assert _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "300") == EXIT_OK
    recorded = LocalStateStore(state).read()
    assert sorted(recorded.specs) == [f"SpeakerEnrollmentJob/big-part-00{i}" for i in (1, 2, 3)]
    assert {e.latest().status for e in recorded.specs.values()} == {"COMPLETED"}  # type: ignore[union-attr]
    assert recorded.specs["SpeakerEnrollmentJob/big-part-003"].jobs[0].results == {
        "NEW_ENROLLMENT": 5000
    }
    client = voiceid_env.client("voice-id")
    speakers = sum(
        len(page["SpeakerSummaries"])
        for page in client.get_paginator("list_speakers").paginate(
            DomainId=world.domains["voiceid-sandbox-demo"]
        )
    )
    assert speakers == 25_000
    rows[15_000] = f"caller-15000,{audio[(15_000 + 1) % len(audio)]},0"
    _csv(specs / "rosters" / "big.csv", rows)
    voiceid_env.reset_calls()
    assert _apply(specs, state) == EXIT_OK
    assert voiceid_env.calls().get("StartSpeakerEnrollmentJob") == 1
    after = LocalStateStore(state).read()
    assert after.specs["SpeakerEnrollmentJob/big-part-002"].jobs[0].job_id is not None
    assert len(after.specs["SpeakerEnrollmentJob/big-part-002"].history) == 1
    for unchanged in ("big-part-001", "big-part-003"):
        assert not after.specs[f"SpeakerEnrollmentJob/{unchanged}"].history


def test_replacing_an_external_manifest_changes_the_plan(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A new object at the same manifest URI is a changed spec; --offline uses the recorded ETag."""
    world = _roster_world(voiceid_env)
    s3 = voiceid_env.client("s3")
    s3.put_object(
        Bucket=world.bucket,
        Key="manifests/m.json",
        Body=b'{"Version": "1.0", "SpeakerEnrollmentRequests": []}',
    )
    specs = tmp_path / "specs"
    _spec(
        specs,
        f"    manifest: s3://{world.bucket}/manifests/m.json\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
    )
    state = tmp_path / "state.json"
    assert _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "60") in (
        EXIT_OK,
        5,
    )
    capsys.readouterr()
    assert (
        main(["plan", str(specs), "--state", str(state), "--tps", "0", "--detailed-exitcode"])
        == EXIT_OK
    )
    assert (
        main(["plan", "--offline", str(specs), "--state", str(state), "--detailed-exitcode"])
        == EXIT_OK
    )
    s3.put_object(
        Bucket=world.bucket,
        Key="manifests/m.json",
        Body=b'{"Version": "1.0", "SpeakerEnrollmentRequests": [ ]}',
    )
    capsys.readouterr()
    assert (
        main(["plan", str(specs), "--state", str(state), "--tps", "0", "--detailed-exitcode"]) == 2
    )
    out = capsys.readouterr().out
    assert "start" in out
    assert "superseded" in out


def test_no_speaker_id_or_audio_uri_in_any_output(
    voiceid_env: Sandbox, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """After a run with inline rosters, logs (JSON and console), plan text/JSON/Markdown, status
    and the state file hold no speaker id and no audio URI."""
    world = _roster_world(voiceid_env)
    secret_ids = ["alice-smith-7731", "bob-jones-0042"]
    speakers = "".join(
        f"      - {{speakerId: {sid}, audio: ['{world.audio[i]}']}}\n"
        for i, sid in enumerate(secret_ids)
    )
    specs = tmp_path / "specs"
    _spec(
        specs,
        f"    speakers:\n{speakers}    stagingUri: s3://{world.bucket}/staging/\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
    )
    _spec(
        specs,
        f"    fraudsters:\n      - {{audio: ['{world.audio[3]}']}}\n    stagingUri: s3://{world.bucket}/staging/\n",
        kind="FraudsterRegistrationJob",
        name="fraud",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
    )
    state = tmp_path / "state.json"
    outputs: list[str] = []
    for fmt in ("json", "console"):
        assert (
            main(
                [
                    "apply",
                    str(specs),
                    "--state",
                    str(state),
                    "--tps",
                    "0",
                    "--log-format",
                    fmt,
                    "--wait",
                    "--poll-interval",
                    "0.05",
                    "--timeout",
                    "60",
                ]
            )
            == EXIT_OK
        )
        captured = capfd.readouterr()
        outputs += [captured.out, captured.err]
    for args in (["--format", "text"], ["--format", "json"], ["--format", "markdown"]):
        main(["plan", str(specs), "--state", str(state), "--tps", "0", *args])
        main(["plan", "--offline", str(specs), "--state", str(state), *args])
    main(["status", "--state", str(state)])
    main(["status", "--state", str(state), "--format", "json"])
    captured = capfd.readouterr()
    outputs += [captured.out, captured.err, state.read_text()]
    text = "\n".join(outputs)
    assert "COMPLETED" in text
    for secret in [*secret_ids, *world.audio, "audio/"]:
        assert secret not in text, secret


def test_results_and_completed_with_errors_exit_code(
    voiceid_env: Sandbox, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A roster with a missing audio object ends COMPLETED_WITH_ERRORS: counts per outcome and
    error code in the state, exit code 8, and status --details lists the failed RequestIds."""
    world = _roster_world(voiceid_env)
    speakers = f"      - {{speakerId: ok-1, audio: ['{world.audio[0]}']}}\n      - {{speakerId: gone-2, audio: ['s3://{world.bucket}/audio/missing.wav']}}\n"
    specs = tmp_path / "specs"
    _spec(
        specs,
        f"    speakers:\n{speakers}    stagingUri: s3://{world.bucket}/staging/\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
    )
    state, metrics = tmp_path / "state.json", tmp_path / "voiceid.prom"
    waiting = ("--wait", "--poll-interval", "0.05", "--timeout", "60")
    assert _apply(specs, state, *waiting, "--metrics-file", str(metrics)) == 8
    text = metrics.read_text()
    assert "voiceid_reconciler_run_success 0.0" in text  # exit 8 is not a success
    assert "last_success_timestamp" not in text
    record = LocalStateStore(state).read().specs["SpeakerEnrollmentJob/roster"].jobs[0]
    assert record.status == "COMPLETED_WITH_ERRORS"
    assert record.results == {"NEW_ENROLLMENT": 1, "error:400": 1}
    capsys.readouterr()
    assert main(["status", "--state", str(state), "--details", "--tps", "0"]) == EXIT_OK
    out = capsys.readouterr().out
    assert "COMPLETED_WITH_ERRORS" in out
    assert "results: NEW_ENROLLMENT 1, error:400 1" in out
    assert "details are shown on a terminal only" in out


def test_status_details_lists_failed_requests_on_a_terminal(
    voiceid_env: Sandbox, tmp_path: Path
) -> None:
    """On a terminal, status --details prints each failed request's RequestId, code and message."""
    import pty
    import subprocess
    import sys

    world = _roster_world(voiceid_env)
    speakers = f"      - {{speakerId: ok-1, audio: ['{world.audio[0]}']}}\n      - {{speakerId: gone-2, audio: ['s3://{world.bucket}/audio/missing.wav']}}\n"
    specs = tmp_path / "specs"
    _spec(
        specs,
        f"    speakers:\n{speakers}    stagingUri: s3://{world.bucket}/staging/\n",
        domain="voiceid-sandbox-demo",
        bucket=world.bucket,
    )
    state = tmp_path / "state.json"
    assert _apply(specs, state, "--wait", "--poll-interval", "0.05", "--timeout", "60") == 8
    primary, secondary = pty.openpty()
    try:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "reconciler",
                "status",
                "--state",
                str(state),
                "--details",
                "--tps",
                "0",
            ],
            env={**os.environ, **voiceid_env.env(), "NO_COLOR": "1"},
            stdout=secondary,
            stderr=subprocess.DEVNULL,
        )
        assert process.wait(timeout=60) == EXIT_OK
        os.close(secondary)
        output = b""
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(primary)
    text = output.decode()
    assert "SpeakerEnrollmentJob/roster: 1 failed request(s)" in text
    assert "req-0000002  400" in text
