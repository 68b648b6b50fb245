"""Scenario 8: the state lies, or disagrees with the world.

In a GitOps repository the state is what people restore, roll back, rebuild, merge, symlink,
clean and copy; hosts' clocks drift; answers arrive broken; specs are renamed and manifests
replaced. Voice ID is the truth and the state a cache: each trial makes the state (or what the
reconciler reads) wrong in one of those ways — usually with the ClientTokens forgotten and
List lagging, so that nothing but the product's own checks stands between the lie and a second
job — and then checks the invariants: no second job for any hash right after, and all four
(with (b) in its strict form: every job recorded by its spec's entry, under the spec's current
name) once the world is calm and ``apply --wait`` has converged.

Every trial asserts that its fault really fired (the restored version was older than the one
it replaced, the lock was deleted while its run was alive, the manifest was replaced while its
spec was still queued, the malformed answers were served, ...), so a trial that missed its
moment fails instead of passing for nothing.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.core.identity import parse_job_name
from reconciler.core.statefile import parse_state

from .conftest import ENROLLMENT, FAST, Chaos, assert_clean_exit, backend_of, seeded

pytestmark = pytest.mark.chaos

LAG = 30.0
"""List lag of the re-runs: far longer than they take, so a new job stays invisible."""
HORIZON = "300"
"""The product's default --list-lag-horizon, which the re-runs use."""


def _build(c: Chaos, seed: int, **kw: object) -> None:
    defaults: dict[str, object] = {
        "domains": 1,
        "specs": c.rng.randint(2, 4),
        "backend": backend_of(seed),
        "job_duration": 0.2,
    }
    c.build(**{**defaults, **kw})  # type: ignore[arg-type]


def _serial(body: bytes | None) -> int:
    return int(json.loads(body or b"{}").get("serial", -1))


def _rerun_with_lagging_list(c: Chaos, *, clock_skew: float | None = None) -> bool:
    """apply (no --wait) under a List lagging LAG s, with the default horizon: starts nothing
    twice, whatever it decides. Whether it held a domain."""
    c.sandbox.configure(list_lag=LAG)
    run = c.cli(*c.apply("--list-lag-horizon", HORIZON, wait=False), clock_skew=clock_skew)
    assert run.returncode == 0, run.describe()
    assert "Traceback" not in run.stderr, run.describe()
    c.check(final=False)  # (a)
    return "waiting" in run.stdout


def _applied(c: Chaos, *extra: str, wait: bool = False) -> None:
    run = c.cli(*c.apply(*extra, wait=wait))
    assert run.returncode == 0, run.describe()
    time.sleep(0.4)  # the jobs (0.2 s) have ended: a quota slot would not stop a second job


@seeded("restored-backup", ci=1)
def test_restoring_the_backup_as_the_recovery_hint_says_starts_nothing_twice(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Runs start the jobs one at a time; the backup is copied over the state (the recovery
    the error messages suggest); tokens are forgotten; a re-run under a lagging List."""
    c = chaos_factory(seed)
    _build(c, seed)
    _applied(c, "--max-starts", "1")
    _applied(c)
    backup = c.stored(".backup")
    assert backup is not None, f"{c.tag}: no backup beside the state"
    current = c.state_text()
    assert backup == (current or "").encode(), f"{c.tag}: the backup is not the last write"
    c.put_state(backup)
    how = c.forget_tokens()
    held = _rerun_with_lagging_list(c)
    c.record(
        "lie",
        what="backup restored",
        older=_serial(backup) < _serial((current or "").encode()),
        forgotten=how,
        held=held,
        backend=backend_of(seed),
    )
    c.converge()


@seeded("rolled-back", ci=1)
def test_a_rolled_back_state_starts_nothing_twice(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """An older committed version is checked out again (it lacks the jobs started since but
    says the domain was listed in full); tokens forgotten; a re-run under a lagging List."""
    c = chaos_factory(seed)
    _build(c, seed)
    first = c.cli(*c.apply("--dry-run", wait=False))
    assert first.returncode == 0, first.describe()
    old = (c.state_text() or "").encode()
    _applied(c, wait=True)
    newer = _serial((c.state_text() or "").encode())
    assert _serial(old) < newer, f"{c.tag}: the rollback would not go back"
    c.put_state(old)
    how = c.forget_tokens()
    held = _rerun_with_lagging_list(c)
    c.record(
        "lie",
        what="rolled back",
        serials=[newer, _serial(old)],
        forgotten=how,
        held=held,
        backend=backend_of(seed),
    )
    c.converge()


@seeded("merged-twice", ci=1)
def test_a_state_with_a_spec_twice_from_a_union_merge_is_refused(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """A union merge left one spec's line twice (the later copy without its jobs): refused with
    one line, no Start call, the file untouched; the state put right converges."""
    c = chaos_factory(seed)
    _build(c, seed)
    _applied(c)
    good = c.state_text() or ""
    lines = good.splitlines()
    index = next(i for i, line in enumerate(lines) if line.startswith('    "') and '"jobs"' in line)
    line = lines[index].rstrip(",")
    data = json.loads("{" + line + "}")
    (entry,) = data.values()
    entry["jobs"] = []
    copy = json.dumps(data, sort_keys=True, separators=(",", ":"))[1:-1]
    lines.insert(index + 1, copy + ",")
    if not lines[index].endswith(","):
        lines[index] += ","
        lines[index + 1] = copy
    merged = "\n".join(lines) + "\n"
    c.put_state(merged.encode())
    before = c.starts()
    run = c.cli(*c.apply(wait=False))
    assert_clean_exit(run, c.tag, allowed=(1,))
    assert "twice" in run.problem_lines[0], run.describe()
    assert c.starts() == before, f"{c.tag}: a Start after a refused state"
    assert c.state_text() == merged, f"{c.tag}: the refused state was rewritten"
    c.record("lie", what="a spec's line twice: refused", backend=backend_of(seed))
    c.put_state(good.encode())
    c.converge()


@seeded("rebuilt-in-lag", ci=1)
def test_a_rebuild_inside_the_list_lag_starts_nothing_twice(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """The state is lost moments after its jobs started and rebuilt from a List that does not
    show them yet; tokens forgotten; the next apply (default horizon) holds, then finds them."""
    c = chaos_factory(seed)
    _build(c, seed)
    _applied(c)
    c.delete_state()
    how = c.forget_tokens()
    c.sandbox.configure(list_lag=LAG)
    rebuild = c.cli("state", "rebuild", str(c.specs_dir), "--state", c.state, "--tps", "0")
    assert rebuild.returncode == 0, rebuild.describe()
    rebuilt = parse_state(c.state_text() or "", c.state)
    missed = not any(r.job_id for r in rebuilt.all_jobs())
    assert missed, f"{c.tag}: the rebuild saw the jobs: the List did not lag"
    held = _rerun_with_lagging_list(c)
    c.record(
        "lie", what="rebuilt inside the lag", forgotten=how, held=held, backend=backend_of(seed)
    )
    c.converge()


@seeded("deleted-lock", ci=1)
def test_a_lock_deleted_under_a_live_run_never_loses_an_update(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """`git clean -fdx` (or someone following the lock-timeout message) deletes the lock while
    apply --wait runs; a second apply --wait takes a new lock at once. Neither overwrites the
    other: each ends with exit 0, or 1 with one line; nothing is started twice or lost."""
    c = chaos_factory(seed)
    _build(c, seed, specs=c.rng.randint(3, 5), job_duration=0.6)
    first = c.spawn(*c.apply("--lock-ttl", "5"))
    assert c.wait_until(first, lambda: c.starts() >= 1, deadline=60), f"{c.tag}: no Start"
    time.sleep(c.rng.uniform(0.0, 0.5))
    alive = first.poll() is None
    deleted = c.delete_stored(".lock")
    assert alive, f"{c.tag}: the run ended before its lock was deleted"
    assert deleted, f"{c.tag}: the run's lock was not there to delete"
    second = c.spawn(*c.apply("--lock-ttl", "5"))
    runs = [c.finish(first), c.finish(second)]
    for run in runs:
        assert_clean_exit(run, c.tag)
    c.check(final=False)
    c.record(
        "lie",
        what="lock deleted under a live run",
        refused=sum(r.returncode == 1 for r in runs),
        backend=backend_of(seed),
    )
    c.converge()


@seeded("symlinked", ci=1)
def test_runs_through_a_symlinked_state_and_its_target_exclude_each_other(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """The state path is a symbolic link (a shared volume, a dotfiles repository): runs through
    the link and on its target at once lock one file and write through to the target."""
    c = chaos_factory(seed)
    _build(c, seed, specs=c.rng.randint(3, 5), backend="local", job_duration=0.3)
    target = Path(c.state).parent / "real" / "state.json"
    target.parent.mkdir()
    link = Path(c.state)
    link.symlink_to(target)
    c.state = str(link)
    through_link = c.spawn(*c.apply())
    time.sleep(c.rng.uniform(0.0, 0.3))
    c.state = str(target)
    on_target = c.spawn(*c.apply())
    runs = [c.finish(through_link), c.finish(on_target)]
    for run in runs:
        assert run.returncode == 0, f"{c.tag}: a run failed\n{run.describe()}"
    assert link.is_symlink(), f"{c.tag}: the link was replaced by a file"
    c.record("lie", what="state through a symlink and on its target", backend="local")
    c.state = str(link)
    c.converge()
    c.state = str(target)
    c.check(final=True)


@seeded("manifest-replaced", ci=1)
def test_a_manifest_replaced_while_its_spec_is_queued_never_starts_under_the_old_hash(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """apply --wait works through a queue (one job at a time); the manifest of a spec still
    queued is replaced. That spec starts under its new hash only: no job of the old one, and
    the next run starts nothing for it again."""
    c = chaos_factory(seed)
    _build(c, seed, specs=c.rng.randint(3, 4), job_duration=0.8)
    for spec in c.specs:
        spec.kind = ENROLLMENT
        spec.roster = False
    c.write_specs()
    planned = c.cli(*c.args("plan", "--format", "json", "--tps", "0"))
    actions = json.loads(planned.stdout)["actions"]
    queued = [a for a in actions if a["action"] == "queued"]
    assert queued, f"{c.tag}: nothing queued\n{planned.describe()}"
    victim = c.rng.choice(queued)
    old_hash = victim["hash"]
    process = c.spawn(*c.apply())
    assert c.wait_until(process, lambda: c.starts() >= 1, deadline=60), c.tag
    index = next(i for i, s in enumerate(c.specs) if s.name == victim["name"])
    key = f"manifests/{victim['name']}.json"
    s3 = c.sandbox.client("s3")
    try:
        body = json.loads(s3.get_object(Bucket=c.world.bucket, Key=key)["Body"].read())
        body["SpeakerEnrollmentRequests"][0]["RequestId"] = f"replaced-{index}"
        s3.put_object(Bucket=c.world.bucket, Key=key, Body=json.dumps(body).encode())
    finally:
        s3.close()
    still_queued = victim["name"] not in _spec_names(c)
    assert still_queued, f"{c.tag}: the spec had started before its manifest was replaced"
    run = c.finish(process)
    assert run.returncode == 0, run.describe()
    c.converge()
    theirs = [
        parts.hash_prefix
        for j in c.jobs()
        if (parts := parse_job_name(j.get("JobName"))) and parts.name == victim["name"]
    ]
    assert len(theirs) == 1, f"{c.tag}: {victim['name']} has {len(theirs)} jobs"
    assert theirs[0] != old_hash[:32], f"{c.tag}: started under the old manifest's hash"
    c.record("lie", what="manifest replaced while queued", backend=backend_of(seed))


def _spec_names(c: Chaos) -> set[str]:
    """The spec names of the jobs of our naming that exist."""
    return {parts.name for j in c.jobs() if (parts := parse_job_name(j.get("JobName")))}


@seeded("skewed-host", ci=1)
def test_a_host_with_a_skewed_clock_starts_nothing_twice(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """A run dies right after its Start (an intent on disk), or the state is lost; tokens are
    forgotten; the re-run comes from a host whose clock is minutes to hours ahead or behind. It
    ages the intent (and records its first listing) by Voice ID's clock: it holds the domain."""
    c = chaos_factory(seed)
    _build(c, seed)
    intent = c.kill_right_after_a_start()
    lost = not intent or c.rng.random() < 0.3
    if lost:
        c.delete_state()
    how = c.forget_tokens()
    skew = c.rng.choice([-1, 1]) * c.rng.uniform(600, 7200)
    held = _rerun_with_lagging_list(c, clock_skew=skew)
    assert held, f"{c.tag}: the skewed host did not hold the domain"
    c.record(
        "lie",
        what=f"clock {'ahead' if skew > 0 else 'behind'}, {'state lost' if lost else 'intent'}",
        forgotten=how,
        held=held,
        backend=backend_of(seed),
    )
    c.converge()


MALFORMABLE = (
    "ListDomains",
    "ListWatchlists",
    "ListSpeakerEnrollmentJobs",
    "ListFraudsterRegistrationJobs",
    "DescribeSpeakerEnrollmentJob",
    "DescribeFraudsterRegistrationJob",
    "StartSpeakerEnrollmentJob",
    "StartFraudsterRegistrationJob",
)


@seeded("malformed", ci=1)
def test_malformed_answers_are_never_taken_as_an_empty_truth(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """HTTP 200 answers without the fields the model requires (a broken proxy), for a while or
    for good, on random operations during apply --wait: retried, then one line; never "no jobs"
    (a second Start) or "no domains" (everything blocked), never a traceback."""
    c = chaos_factory(seed)
    _build(c, seed, specs=c.rng.randint(2, 5), job_duration=0.3)
    first_calls = ("ListDomains", "ListSpeakerEnrollmentJobs", "ListFraudsterRegistrationJobs")
    chosen = sorted({c.rng.choice(first_calls), *c.rng.sample(MALFORMABLE, c.rng.randint(0, 2))})
    forever = c.rng.random() < 0.4
    c.sandbox.configure(malformed_operations=chosen)  # before the run: its first calls meet it
    process = c.spawn(*c.apply("--lock-ttl", "5", timeout=90))
    if not forever:  # broken from the run's first call for a while
        assert c.wait_until(process, lambda: bool(c.sandbox.calls()), deadline=60), c.tag
        time.sleep(c.rng.uniform(0.3, 1.5))
        c.sandbox.configure(malformed_operations=[])
    run = c.finish(process, timeout=180)
    c.sandbox.configure(malformed_operations=[])
    assert_clean_exit(run, c.tag)
    served = sum(c.sandbox.call_outcomes().get(op, {}).get("MalformedAnswer", 0) for op in chosen)
    assert served, f"{c.tag}: no malformed answer was served ({chosen})\n{run.describe()}"
    if forever:
        assert run.returncode == 1, f"{c.tag}: a run on broken answers succeeded\n{run.describe()}"
        assert "malformed answer" in run.problem_lines[0], run.describe()
    c.check(final=False)
    c.record(
        "lie",
        what="malformed answers " + ("for good" if forever else "for a while"),
        served=served,
        exit=run.returncode,
        backend=backend_of(seed),
    )
    c.converge()


@seeded("renamed", ci=1)
def test_renamed_specs_are_recorded_under_their_new_names(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Specs are renamed (metadata.name only) after their jobs started — the state kept, lost,
    or its run killed mid-way — and tokens forgotten: the jobs move to the new names (no
    orphan, no second job), and (b) finds each one under its spec's current name."""
    c = chaos_factory(seed)
    _build(c, seed, specs=c.rng.randint(2, 5), rosters=0.3)
    how_run = c.rng.choice(["finished", "killed", "lost"])
    if how_run == "killed":
        process = c.spawn(*c.apply("--lock-ttl", "2"))
        assert c.wait_until(process, lambda: c.starts() >= 1, deadline=60), c.tag
        c.kill(process)
        c.calm()
        time.sleep(0.4)
    else:
        _applied(c, wait=True)
        if how_run == "lost":
            c.delete_state()
    renamed = c.rng.sample(c.specs, c.rng.randint(1, len(c.specs)))
    for spec in renamed:
        spec.origin = spec.base
        spec.name = f"{spec.base}-renamed"
    for path in c.specs_dir.glob("*.yaml"):
        path.unlink()
    c.write_specs()
    how = c.forget_tokens()
    run = c.cli(*c.apply(wait=False))
    assert run.returncode == 0, run.describe()
    c.check(final=False)
    c.record(
        "lie",
        what=f"renamed after the run {how_run}",
        renamed=len(renamed),
        forgotten=how,
        backend=backend_of(seed),
    )
    c.converge()
    plan = c.cli(*c.args("plan", "--format", "json", *FAST[:2]))
    orphaned = [a["name"] for a in json.loads(plan.stdout)["actions"] if a["action"] == "orphaned"]
    assert not orphaned, f"{c.tag}: renamed specs left orphans: {orphaned}"


@seeded("shared-domain", ci=1)
def test_two_states_sharing_a_domain_each_record_their_own_jobs(
    chaos_factory: Callable[[int], Chaos], seed: int
) -> None:
    """Two repositories (two states, no lock between them) apply disjoint specs to one domain
    at once: each converges, records its own jobs by their specs, and reports none of the
    other's as orphaned."""
    c = chaos_factory(seed)
    _build(c, seed, specs=c.rng.randint(4, 6), job_duration=0.3)
    half = len(c.specs) // 2
    ours, theirs = c.specs[:half], c.specs[half:]
    other_dir = c.specs_dir.parent / "other-specs"
    other_dir.mkdir()
    for spec in theirs:
        (c.specs_dir / f"{spec.name}.yaml").rename(other_dir / f"{spec.name}.yaml")
    mine_state, other_state = c.state, c.state.replace("state.json", "other-state.json")
    first = c.spawn(*c.apply())
    time.sleep(c.rng.uniform(0.0, 0.3))
    second = c.spawn(
        "apply", str(other_dir), "--state", other_state, *FAST, "--wait", "--timeout", "60"
    )
    for run in (c.finish(first), c.finish(second)):
        assert run.returncode == 0, f"{c.tag}: a run failed\n{run.describe()}"
    for state, specs, directory in (
        (mine_state, ours, c.specs_dir),
        (other_state, theirs, other_dir),
    ):
        c.state, c.specs, c.specs_dir = state, specs, directory
        c.check(final=True, foreign_ok=True)
        plan = c.cli(*c.args("plan", "--format", "json", *FAST[:2]))
        actions = json.loads(plan.stdout)["actions"]
        orphaned = [a["name"] for a in actions if a["action"] == "orphaned"]
        assert not orphaned, f"{c.tag}: the other state's jobs reported orphaned: {orphaned}"
    c.record("lie", what="two states in one domain", backend=backend_of(seed))
