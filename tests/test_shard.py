"""Sharding by domain: every spec in exactly one shard; shards in parallel never duplicate."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reconciler.core.desired import Shard
from reconciler.core.errors import ReconcilerError
from reconciler.core.statefile import parse_state
from reconciler.sandbox import Sandbox
from tests.support import WAIT_FAST, all_jobs, build_world, spawn_cli, wait_all_ok, write_specs


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(min_size=1, max_size=30), min_size=1, max_size=50), st.integers(1, 16))
def test_every_domain_belongs_to_exactly_one_shard(domains: list[str], count: int) -> None:
    """For any domains and any shard count, each domain is owned by exactly one shard."""
    for domain in domains:
        owners = [i for i in range(count) if Shard(i, count).owns(domain)]
        assert len(owners) == 1


@pytest.mark.parametrize("text", ["4/4", "-1/4", "a/b", "1", "1/0", ""])
def test_bad_shard_is_a_clear_error(text: str) -> None:
    """--shard values outside 0 <= INDEX < COUNT are refused with a message."""
    with pytest.raises(ReconcilerError, match="shard"):
        Shard.parse(text)


def test_each_shard_keeps_its_own_state() -> None:
    """Shards write separate state objects, so they never contend for one lock."""
    assert (
        Shard(1, 4).state_location("s3://b/voiceid/state.json")
        == "s3://b/voiceid/state.shard-1-of-4.json"
    )
    assert Shard(0, 2).state_location("voiceid-state.json") == "voiceid-state.shard-0-of-2.json"
    assert Shard(0, 1).state_location("s.json") == "s.json"


def test_four_shards_in_parallel_start_every_job_exactly_once(
    voiceid_sandbox: Sandbox, tmp_path: Path
) -> None:
    """4 shard processes at once, 40 specs over 8 domains, S3 state: every job started once and
    every spec recorded by exactly one shard."""
    voiceid_sandbox.configure(max_domains=8)
    world = build_world(voiceid_sandbox, domains=8)
    specs = tmp_path / "specs"
    keys = write_specs(world, specs, 40)
    env = {**voiceid_sandbox.env(), "VOICEID_RECONCILER_SHARD_COUNT": "4"}
    state = f"s3://{world.bucket}/voiceid/state.json"
    args = ("apply", str(specs), "--state", state, *WAIT_FAST)
    wait_all_ok([spawn_cli(*args, env={**env, "JOB_COMPLETION_INDEX": str(i)}) for i in range(4)])
    jobs = all_jobs(world)
    assert len(jobs) == 40
    assert len({j["JobName"] for j in jobs}) == 40
    s3 = voiceid_sandbox.client("s3")
    recorded: list[str] = []
    for index in range(4):
        body = s3.get_object(Bucket=world.bucket, Key=f"voiceid/state.shard-{index}-of-4.json")[
            "Body"
        ].read()
        recorded.extend(parse_state(body.decode(), "shard").specs)
    assert sorted(recorded) == sorted(keys)
