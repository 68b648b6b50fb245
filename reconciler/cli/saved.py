"""Saved plans: ``plan --out plan.json``, then ``apply plan.json`` (Terraform's ``apply tfplan``).

A saved plan is the JSON plan (:func:`reconciler.cli.render.plan_json`) with two more members:
``inputs`` (the spec paths, selectors, state, shard, owner patterns and ``--max-active`` it
was computed from) and ``intent`` (its review set: ``[key, hash, attempts, domainId]`` for
every start no earlier review approved). ``apply plan.json`` plans again from the same inputs,
approves the intents of the review set now that the saved plan holds, and exits 6 naming the
specs that differ when the review set now holds one it does not (those are not started).
It is a file of the repository's layout, not of one machine: paths are kept as they were
given, so apply from where the plan was made (the repository root in CI).
"""

from __future__ import annotations

import argparse
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.cli import args as shared
from reconciler.cli import flags
from reconciler.cli.args import UsageError
from reconciler.core.plan import Intent
from reconciler.core.state import DEFAULT_PATH

SAVED_PLAN_SUFFIX = ".json"


@dataclass(frozen=True)
class SavedPlan:
    """The reviewed plan ``apply PLAN.json`` acts on."""

    path: Path
    checksum: str
    intent: tuple[Intent, ...]
    paths: list[Path]
    selectors: list[str]
    state: str
    shard: str | None
    owner: tuple[str, ...]
    max_active: int


def inputs(args: argparse.Namespace) -> dict[str, Any]:
    """What a plan was computed from, for the saved plan (``inputs``)."""
    this = flags.shard(args)
    return {
        "paths": [str(p) for p in flags.paths(args)],
        "selectors": list(args.selector),
        "state": str(args.state),
        "shard": f"{this.index}/{this.count}" if this else None,
        "owner": list(flags.owner(args)),
        "maxActive": args.max_active,
    }


def given(args: argparse.Namespace) -> Path | None:
    """The saved plan ``apply`` was given (its one PATH, a ``.json`` file), or None."""
    paths: list[Path] = list(args.paths or [])
    # Specs are YAML: a .json file given as a PATH is a saved plan.
    plans = [p for p in paths if p.suffix == SAVED_PLAN_SUFFIX and p.is_file()]
    if not plans:
        return None
    # A saved plan is its own inputs: anything given beside it would make the apply compute
    # another plan than the one reviewed.
    if len(paths) > 1 or args.selector or args.plan_checksum:
        raise UsageError(
            f"{plans[0]}: a saved plan is applied alone: no other PATH, --selector or "
            "--plan-checksum (it holds its own)"
        )
    return plans[0]


def load(path: Path) -> SavedPlan:
    """Read a saved plan; one line naming the file when it is not one."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        inputs_ = document["inputs"]
        return SavedPlan(
            path=path,
            checksum=str(document["checksum"]),
            intent=tuple(_intent(row) for row in document["intent"]),
            paths=[Path(p) for p in inputs_["paths"]],
            selectors=[str(s) for s in inputs_["selectors"]],
            state=str(inputs_["state"]),
            shard=inputs_["shard"],
            owner=tuple(inputs_["owner"]),
            max_active=int(inputs_["maxActive"]),
        )
    except OSError as err:
        raise UsageError(f"{path}: cannot read the saved plan: {err.strerror or err}") from None
    except (ValueError, KeyError, TypeError) as err:
        raise UsageError(
            f"{path}: not a saved plan of voiceid-reconciler (make one with plan --out FILE): "
            f"{type(err).__name__}: {err}"
        ) from None


def _intent(row: Any) -> Intent:
    """One intent of a saved plan, checked (a plan saved before approvals held five members
    per row: it is refused with what to do)."""
    if isinstance(row, list) and len(row) == 5:
        raise ValueError("it was saved by an earlier voiceid-reconciler (plan again)")
    key, hash_, attempts, domain_id = row
    if not (
        isinstance(key, str)
        and isinstance(hash_, str)
        # type() is, not isinstance: true is an int to Python, and a hand-edited plan must not
        # pass it as an attempt count.
        and type(attempts) is int
        and isinstance(domain_id, str | None)
    ):
        raise ValueError(f"an intent of the wrong shape: {row!r}")
    return Intent(key, hash_, attempts, domain_id)


def adopt(args: argparse.Namespace, saved: SavedPlan) -> None:
    """Make ``args`` the saved plan's inputs. The state is the plan's unless ``--state`` or
    ``$VOICEID_RECONCILER_STATE`` names another (then it is refused: a plan is of one state)."""
    # The default path and no variable: nobody named a state, so the plan's is taken.
    unset = str(args.state) == DEFAULT_PATH and not os.environ.get(shared.STATE_ENV)
    if unset:
        args.state = saved.state
    elif str(args.state) != saved.state:
        raise UsageError(
            f"{saved.path}: the plan was made against the state {saved.state}, "
            f"not {args.state}; give --state {saved.state}"
        )
    args.paths = saved.paths
    args.selector = saved.selectors
    args.shard = saved.shard
    args.owner = list(saved.owner)
    args.max_active = saved.max_active
    # The apply is gated by the reviewed checksum, exactly as apply --plan-checksum would be.
    args.plan_checksum = saved.checksum
