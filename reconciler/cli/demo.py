"""``voiceid-reconciler demo``: the whole product against a local sandbox, in about a minute.

It starts the sandbox in-process with its demo world (a domain, a bucket with audio, a KMS
key), uploads a small manifest for every example spec that points into the demo bucket, points
the standard AWS settings at the sandbox, and runs ``validate``, ``plan``, ``apply --wait`` and
``status`` exactly as a user would, with a state file in a temporary directory.

The demo is the same wherever it runs: its specs are the examples packaged with
voiceid-reconciler, copied into its own temporary directory with its state (never the
``specs/`` of the working directory, which may be a spec repository with its own state), and
it writes nothing outside that directory. Only PATHs given to it (``demo PATH``) are read
where they are.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from reconciler.core.loading import load_specs
from reconciler.core.roster import Request, render_manifest
from reconciler.sandbox import Sandbox
from reconciler.sandbox.options import DEFAULT_JOB_DURATION

SPEAKERS_PER_MANIFEST = 3


def _manifest(kind: str, audio: Sequence[str], offset: int) -> bytes:
    """A demo manifest of ``SPEAKERS_PER_MANIFEST`` callers, in the kind's one format."""
    callers = [
        Request(f"demo-caller-{offset + i + 1:03d}", ((audio[offset + i], 0),))
        for i in range(SPEAKERS_PER_MANIFEST)
    ]
    return render_manifest(kind, callers)


def example_specs() -> Path:
    """The example specs: those packaged with voiceid-reconciler (in a wheel), else the
    repository's (an editable install) — never the working directory's ``specs/``."""
    packaged = Path(__file__).resolve().parent.parent / "examples" / "specs"
    if packaged.is_dir():
        return packaged
    return Path(__file__).resolve().parents[2] / "specs"


def _own_copy(paths: Sequence[Path], tmp: Path) -> list[Path]:
    """The specs the demo runs: the examples (no PATH, or the examples' own directory) copied
    into the demo's temporary directory, so that nothing it runs reads or writes beside them;
    PATHs the user gave, as given."""
    examples = example_specs().resolve()
    if paths and any(Path(p).resolve() != examples for p in paths):
        return list(paths)
    copy = tmp / "specs"
    shutil.copytree(examples, copy)
    return [copy]


def run_demo(
    paths: Sequence[Path] = (),
    *,
    cli: Callable[[list[str]], int],
    job_duration: float = DEFAULT_JOB_DURATION,
    out: TextIO | None = None,
) -> int:
    """Run the demo, each step through ``cli`` (the command line's ``main``); return the exit
    status of the last step that failed, or 0. No ``paths``: the example specs."""
    out = sys.stdout if out is None else out  # the stream as it is now (guarded, captured)
    out.write("== Starting a local Voice ID sandbox (Voice ID + S3 + KMS on 127.0.0.1)\n")
    with (
        Sandbox(profile="fast", job_duration=job_duration) as sandbox,
        tempfile.TemporaryDirectory() as tmp,
    ):
        paths = _own_copy(paths, Path(tmp))
        world = sandbox.seed_demo_world()
        s3 = sandbox.client("s3")
        bucket_prefix = f"s3://{world.bucket}/"
        specs_in_bucket = [
            spec
            for spec in load_specs(paths)
            if (spec.facts.manifest or "").startswith(bucket_prefix)
        ]
        # One recording per speaker or fraudster, so that nobody is enrolled twice.
        audio = []
        for n in range(len(specs_in_bucket) * SPEAKERS_PER_MANIFEST):
            source = world.audio_uris[n % len(world.audio_uris)][len(bucket_prefix) :]
            key = f"audio/demo-{n + 1:03d}.wav"
            s3.copy_object(
                Bucket=world.bucket, Key=key, CopySource={"Bucket": world.bucket, "Key": source}
            )
            audio.append(bucket_prefix + key)
        for index, spec in enumerate(specs_in_bucket):
            offset = index * SPEAKERS_PER_MANIFEST
            manifest = spec.facts.manifest or ""
            if manifest:
                key = manifest[len(bucket_prefix) :]
                s3.put_object(
                    Bucket=world.bucket,
                    Key=key,
                    Body=_manifest(spec.kind, audio, offset),
                )
        out.write(
            f"   domain {world.domain_name} ({world.domain_id}), bucket {world.bucket}" + "\n"
        )
        # The steps run the real command line in this process, which reaches AWS through the
        # standard settings only: pointing those at the sandbox is all it takes.
        os.environ.update(sandbox.env())
        # A profile of the user's may name a region, an endpoint or a role to assume: the demo
        # must reach the sandbox and nothing else.
        os.environ.pop("AWS_PROFILE", None)
        os.environ["VOICEID_RECONCILER_LIST_LAG_HORIZON"] = "0"  # the sandbox's List never lags
        state = str(Path(tmp) / "voiceid-state.json")
        specs = [str(p) for p in paths]
        steps = [
            ("validate", ["validate", *specs]),
            ("plan", ["plan", *specs, "--state", state]),
            (
                "apply --wait",
                [
                    "apply",
                    *specs,
                    "--state",
                    state,
                    "--wait",
                    # The sandbox's jobs last seconds (DEFAULT_JOB_DURATION): a poll a second
                    # shows them move.
                    "--poll-interval",
                    "1",
                    "--timeout",
                    "120",
                ],
            ),
            ("status", ["status", *specs, "--state", state]),
            # The last step shows the point of it all: the same specs, applied again, start
            # nothing.
            ("apply again (nothing to do)", ["apply", *specs, "--state", state]),
        ]
        result = 0
        for title, argv in steps:
            out.write(f"\n== voiceid-reconciler {title}\n")
            out.flush()
            code = cli(argv)
            if code:
                result = code
                out.write(f"   (exit code {code})\n")
        calls = sandbox.calls()
        out.write(f"\n== Voice ID API calls made by the demo: {sum(calls.values())}\n")
        for operation, count in sorted(calls.items()):
            out.write(f"   {operation}: {count}\n")
    return result
