"""A small AST mutation tester: do the tests notice when a rule of the core is changed?

``python -m tools.mutate [--module reconciler/core/hold.py ...] [--tests tests/... ] [--jobs N]``

Each mutant (one small change: a comparison flipped, ``and`` for ``or``, a statement removed,
``return x`` made ``return None``...) is written to a *copy* of the package in a temporary
directory, first on the ``PYTHONPATH`` of a pytest subprocess that runs the tests mapped to
the module (:data:`MAPPING`). A failing test kills the mutant; a passing run means it survived.
Survivors judged equivalent (no behaviour can tell them apart) are listed, with the reason, in
``tools/mutants-equivalent.txt`` and left out of the score. The working tree is never edited.
docs/mutation.md describes the mapping, the timings and the scores.
"""

from __future__ import annotations

import argparse
import ast
import copy
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = ROOT / "tools" / "mutants-equivalent.txt"
PACKAGE = "reconciler"

MAPPING: dict[str, tuple[str, ...]] = {
    # The fast tests that cover each module (found by grepping the tests' imports), the new
    # pinned-rule tests first so that most mutants die in the first second. The slow histories
    # (tests/runner/test_histories.py, two minutes) are left out.
    "reconciler/core/hold.py": (
        "tests/core/test_pinned_rules_hold.py",
        "tests/test_hold.py",
        "tests/runner/test_negative_knowledge.py",
    ),
    "reconciler/core/identity.py": (
        "tests/core/test_pinned_rules_identity.py",
        "tests/test_identity.py",
        "tests/test_plan.py",
    ),
    "reconciler/core/plan.py": (
        "tests/core/test_pinned_rules_plan.py",
        "tests/test_plan.py",
        "tests/test_order.py",
        "tests/runner/test_apply_loop.py",
        "tests/runner/test_approvals.py",
        "tests/runner/test_negative_knowledge.py",
    ),
    "reconciler/core/planner.py": (
        "tests/core/test_pinned_rules_plan.py",
        "tests/test_plan.py",
        "tests/test_order.py",
        "tests/runner/test_apply_loop.py",
        "tests/runner/test_approvals.py",
        "tests/runner/test_negative_knowledge.py",
    ),
    "reconciler/core/review.py": (
        "tests/core/test_pinned_rules_plan.py",
        "tests/test_plan.py",
        "tests/test_order.py",
        "tests/runner/test_apply_loop.py",
        "tests/runner/test_approvals.py",
        "tests/runner/test_negative_knowledge.py",
    ),
    "reconciler/core/absorb.py": (
        "tests/core/test_pinned_rules_absorb.py",
        "tests/test_plan.py",
        "tests/test_order.py",
        "tests/test_render.py",
    ),
    # Each kind's own Start parameter and risk notes (issue 32, item 1).
    **{
        f"reconciler/core/jobkinds/{kind}.py": (
            "tests/core/test_pinned_rules_jobkinds.py",
            "tests/core/test_pinned_rules_identity.py",
            "tests/core/test_pinned_rules_plan.py",
            "tests/test_jobkinds.py",
            "tests/test_identity.py",
        )
        for kind in ("enrollment", "registration")
    },
    "reconciler/core/selector.py": (
        "tests/core/test_pinned_rules_selector.py",
        "tests/test_spec.py",
    ),
    "reconciler/core/times.py": (
        "tests/core/test_pinned_rules_times.py",
        "tests/core/test_pinned_rules_hold.py",
        "tests/test_hold.py",
    ),
    "reconciler/core/s3uri.py": (
        "tests/core/test_pinned_rules_s3uri.py",
        "tests/test_plan.py",
    ),
    "reconciler/core/canonjson.py": (
        "tests/core/test_pinned_rules_canonjson.py",
        "tests/test_identity.py",
        "tests/test_state_layout.py",
    ),
    "reconciler/core/kinds.py": (
        "tests/core/test_pinned_rules_kinds.py",
        "tests/test_jobkinds.py",
    ),
    "reconciler/core/errors.py": (
        "tests/core/test_pinned_rules_errors.py",
        "tests/test_spec.py",
    ),
    "reconciler/core/desired.py": (
        "tests/core/test_pinned_rules_desired.py",
        "tests/test_plan.py",
        "tests/test_offline_plan.py",
    ),
    "reconciler/core/order.py": (
        "tests/core/test_pinned_rules_order.py",
        "tests/test_order.py",
    ),
    "reconciler/core/redact.py": (
        "tests/core/test_pinned_rules_redact.py",
        "tests/test_mask_isolation.py",
        "tests/test_hostile_data.py",
    ),
    "reconciler/core/jobs.py": (
        "tests/core/test_pinned_rules_jobs.py",
        "tests/test_jobkinds.py",
    ),
    "reconciler/core/loading.py": (
        "tests/core/test_pinned_rules_loading.py",
        "tests/test_spec.py",
        "tests/test_spec_cache.py",
    ),
    "reconciler/core/events.py": (
        "tests/core/test_pinned_rules_events.py",
        "tests/test_notify_events.py",
    ),
    "reconciler/core/roster.py": (
        "tests/core/test_pinned_rules_roster.py",
        "tests/test_roster.py",
    ),
    "reconciler/core/state.py": (
        "tests/core/test_pinned_rules_state.py",
        "tests/test_state_layout.py",
    ),
    "reconciler/core/journal.py": (
        "tests/core/test_pinned_rules_journal.py",
        "tests/test_journal.py",
    ),
    "reconciler/core/statepatch.py": (
        "tests/core/test_pinned_rules_statepatch.py",
        "tests/core/test_state_patch.py",
    ),
    "reconciler/core/statefile.py": (
        "tests/core/test_pinned_rules_statefile.py",
        "tests/test_state_layout.py",
    ),
    "reconciler/core/specsections.py": (
        "tests/core/test_pinned_rules_specsections.py",
        "tests/test_spec.py",
    ),
    "reconciler/core/yamlcheck.py": (
        "tests/core/test_pinned_rules_yamlcheck.py",
        "tests/test_spec.py",
    ),
    "reconciler/core/speccache.py": (
        "tests/core/test_pinned_rules_speccache.py",
        "tests/test_spec_cache.py",
    ),
}

_COMPARE: dict[type[ast.cmpop], tuple[type[ast.cmpop], ...]] = {
    ast.Lt: (ast.LtE, ast.Gt),
    ast.LtE: (ast.Lt, ast.Gt),
    ast.Gt: (ast.GtE, ast.Lt),
    ast.GtE: (ast.Gt, ast.Lt),
    ast.Eq: (ast.NotEq,),
    ast.NotEq: (ast.Eq,),
    ast.In: (ast.NotIn,),
    ast.NotIn: (ast.In,),
    ast.Is: (ast.IsNot,),
    ast.IsNot: (ast.Is,),
}
_BINOP: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub,
    ast.Sub: ast.Add,
    ast.BitOr: ast.BitAnd,
    ast.BitAnd: ast.BitOr,
}
_SWAP_CALLS = {"min": "max", "max": "min", "any": "all", "all": "any"}


@dataclass(frozen=True)
class Mutant:
    """One change: the ``index``-th node of ``ast.walk`` replaced by what ``variant`` makes."""

    path: str
    index: int
    variant: int
    line: int
    original: str
    mutated: str

    @property
    def key(self) -> str:
        """How the mutant is named in reports and in the equivalents file."""
        return f"{self.path}:{self.line}: {self.original} → {self.mutated}"


def _short(node: ast.AST) -> str:
    text = " ".join(ast.unparse(node).split())
    return text if len(text) <= 70 else text[:67] + "..."


def _variants(node: ast.AST, parent: ast.AST | None) -> Iterator[ast.AST]:
    """The mutated copies of ``node`` (each a replacement for it), in a stable order."""
    if isinstance(node, ast.Compare):
        for i, op in enumerate(node.ops):
            for new in _COMPARE.get(type(op), ()):
                flipped = copy.deepcopy(node)
                flipped.ops[i] = new()
                yield flipped
    elif isinstance(node, ast.BoolOp):
        yield ast.BoolOp(
            op=ast.Or() if isinstance(node.op, ast.And) else ast.And(), values=node.values
        )
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield node.operand
    elif isinstance(node, ast.BinOp) and type(node.op) in _BINOP:
        yield ast.BinOp(left=node.left, op=_BINOP[type(node.op)](), right=node.right)
    elif isinstance(node, ast.AugAssign) and type(node.op) in _BINOP:
        yield ast.AugAssign(target=node.target, op=_BINOP[type(node.op)](), value=node.value)
    elif isinstance(node, ast.Constant) and not isinstance(parent, ast.Expr):
        value = node.value
        if isinstance(value, bool):
            yield ast.Constant(value=not value)
        elif isinstance(value, int | float):  # an index or a slice's bound too: off by one
            yield ast.Constant(value=1 if value == 0 else 0 if value == 1 else value + 1)
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _SWAP_CALLS
    ):
        name = ast.Name(id=_SWAP_CALLS[node.func.id], ctx=ast.Load())
        yield ast.Call(func=name, args=node.args, keywords=node.keywords)
    if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call | ast.Await):
        yield ast.Pass()
    elif isinstance(node, ast.Assign | ast.AugAssign) or (
        isinstance(node, ast.AnnAssign) and node.value is not None
    ):
        if not isinstance(parent, ast.ClassDef | ast.Module):
            yield ast.Pass()
    elif isinstance(node, ast.Return) and not _is_none(node.value):
        yield ast.Return(value=ast.Constant(value=None))


def _is_none(node: ast.expr | None) -> bool:
    return node is None or (isinstance(node, ast.Constant) and node.value is None)


def _skipped(tree: ast.Module) -> set[int]:
    """Ids of nodes never mutated: annotations, ``TYPE_CHECKING`` blocks, ``__all__``."""
    skip: set[int] = set()

    def hide(node: ast.AST | None) -> None:
        if node is not None:
            skip.update(id(sub) for sub in ast.walk(node))

    for node in ast.walk(tree):
        if isinstance(node, ast.arg | ast.AnnAssign):
            hide(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            hide(node.returns)
            hide(node.args)
            for default in [*node.args.defaults, *node.args.kw_defaults]:
                if default is not None:
                    skip.difference_update(id(sub) for sub in ast.walk(default))
        elif (isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)) or (
            isinstance(node, ast.Assign) and "__all__" in ast.unparse(node.targets[0])
        ):
            hide(node)
    return skip


def _parents(tree: ast.AST) -> dict[int, ast.AST]:
    return {id(child): node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}


def mutants(path: str, source: str) -> list[Mutant]:
    """Every mutant of one module's source."""
    tree = ast.parse(source)
    skip, parents = _skipped(tree), _parents(tree)
    found = []
    for index, node in enumerate(ast.walk(tree)):
        if id(node) in skip:
            continue
        parent = parents.get(id(node))
        for variant, new in enumerate(_variants(node, parent)):
            line = getattr(node, "lineno", 0)
            original, mutated = _short(node), _short(new)
            if isinstance(node, ast.Constant) and isinstance(new, ast.Constant) and parent:
                # A bare ``0 → 1`` says too little: name it by the expression around it.
                value, node.value = node.value, new.value
                mutated = _short(parent)
                node.value = value
                original = _short(parent)
            found.append(Mutant(path, index, variant, line, original, mutated))
    return found


def apply(source: str, mutant: Mutant) -> str:
    """The module's source with one mutant applied."""
    tree = ast.parse(source)
    nodes = list(ast.walk(tree))
    target = nodes[mutant.index]
    parent = _parents(tree).get(id(target))
    new = list(_variants(target, parent))[mutant.variant]

    class Replace(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> ast.AST:
            return new if node is target else self.generic_visit(node)

    return ast.unparse(ast.fix_missing_locations(Replace().visit(tree)))


def run_tests(tree: Path, tests: list[str], timeout: float) -> str:
    """``killed``, ``survived`` or ``timeout``: ``tests`` run with ``tree`` first on the path."""
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    # -P: the working tree's package must not come first; hypothesis's plugin alone is four
    # fifths of a small run's start-up (the mapped tests use no hypothesis).
    command = [sys.executable, "-P", "-m", "pytest", "-x", "-q"]
    for plugin in ("randomly", "cacheprovider", "hypothesispytest", "xdist"):
        command += ["-p", f"no:{plugin}"]
    command += tests
    try:
        done = subprocess.run(  # noqa: S603 (our own interpreter and test paths)
            command, cwd=ROOT, env=env, capture_output=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return "timeout"
    return "survived" if done.returncode == 0 else "killed"


def load_equivalents(path: Path) -> dict[str, str]:
    """``key  # reason`` lines (``#`` lines and blank lines are comments)."""
    if not path.exists():
        return {}
    found = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        if raw.strip() and not raw.startswith("#"):
            key, _, reason = raw.partition("  # ")
            found[key.strip()] = reason.strip()
    return found


def _copy_package(root: Path) -> Path:
    tree = Path(tempfile.mkdtemp(prefix="mutate-"))
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(root / PACKAGE, tree / PACKAGE, ignore=ignore)
    return tree


def run_module(  # noqa: PLR0913 - root and only are keyword-only options
    path: str,
    tests: list[str],
    jobs: int,
    log: Callable[[str], None],
    *,
    root: Path = ROOT,
    only: set[str] | None = None,
) -> dict[Mutant, str]:
    """Every mutant of ``path`` (or those whose key is in ``only``) and what the tests made
    of it."""
    source = (root / path).read_text(encoding="utf-8")
    found = [m for m in mutants(path, source) if only is None or m.key in only]
    trees = [_copy_package(root) for _ in range(jobs)]
    try:
        started = time.monotonic()
        if run_tests(trees[0], tests, timeout=600) != "survived":
            raise SystemExit(f"mutate: the tests fail before any mutation: {' '.join(tests)}")
        timeout = max(20.0, 3 * (time.monotonic() - started))
        log(f"{path}: {len(found)} mutants, tests take {time.monotonic() - started:.1f}s")
        free = list(trees)

        def one(mutant: Mutant) -> tuple[Mutant, str]:
            tree = free.pop()
            try:
                target = tree / path
                target.write_text(apply(source, mutant), encoding="utf-8")
                # The first test file alone first (the pinned rules: most mutants die there,
                # without collecting the rest), then the others.
                outcome = run_tests(tree, tests[:1], timeout)
                if outcome == "survived" and len(tests) > 1:
                    outcome = run_tests(tree, tests[1:], timeout)
                return mutant, outcome
            finally:
                (tree / path).write_text(source, encoding="utf-8")
                free.append(tree)

        results: dict[Mutant, str] = {}
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            for done, (mutant, outcome) in enumerate(pool.map(one, found), 1):
                results[mutant] = outcome
                if done % 25 == 0:
                    log(f"  {done}/{len(found)} mutants")
                if outcome != "killed":
                    log(f"  {outcome}: {mutant.key}")
        return results
    finally:
        for tree in trees:
            shutil.rmtree(tree, ignore_errors=True)


def report(results: dict[Mutant, str], equivalents: dict[str, str]) -> str:
    """The score table, then the survivors, then the equivalents that were met."""
    lines = [f"{'module':40} {'mutants':>7} {'killed':>6} {'survived':>8} {'timeout':>7} score"]
    modules = sorted({m.path for m in results})
    total = [0, 0, 0, 0]
    for module in modules:
        own = {m: o for m, o in results.items() if m.path == module and m.key not in equivalents}
        counts = [len(own), *(sum(o == k for o in own.values()) for k in _OUTCOMES)]
        total = [a + b for a, b in zip(total, counts, strict=True)]
        lines.append(_row(module, counts))
    if len(modules) > 1:
        lines.append(_row("total", total))
    for outcome, title in (("survived", "survivors"), ("timeout", "timeouts, counted as killed")):
        found = [m for m, o in results.items() if o == outcome and m.key not in equivalents]
        found.sort(key=lambda m: (m.path, m.line))
        lines.append(f"\n{title} ({len(found)}):")
        lines += [f"  {m.key}" for m in found]
    met = [m for m in results if m.key in equivalents]
    lines.append(f"\nequivalent, not scored ({len(met)}):")
    lines += [f"  {m.key}  # {equivalents[m.key]}" for m in met]
    return "\n".join(lines)


_OUTCOMES = ("killed", "survived", "timeout")


def _row(name: str, counts: list[int]) -> str:
    total, killed, survived, timeout = counts
    # A timeout counts as killed in the score (the mutant made the tests hang: noticed).
    score = f"{100 * (killed + timeout) / total:.1f}%" if total else "-"
    return f"{name:40} {total:>7} {killed:>6} {survived:>8} {timeout:>7} {score}"


def main(argv: list[str] | None = None) -> int:
    """Run the mutants of the named modules (all mapped ones by default) and print the table."""
    parser = argparse.ArgumentParser(prog="python -m tools.mutate", description=__doc__)
    parser.add_argument("--module", action="append", help="a module path (repeatable)")
    parser.add_argument("--tests", action="append", help="test paths instead of the mapping")
    parser.add_argument("--jobs", type=int, default=1, help="mutants run at once (default 1)")
    parser.add_argument("--list", action="store_true", help="only list the mutants")
    parser.add_argument(
        "--only", type=Path, help="a file of mutant keys to run alone (an earlier run's survivors)"
    )
    options = parser.parse_args(argv)
    modules = options.module or list(MAPPING)

    def log(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    results: dict[Mutant, str] = {}
    for module in modules:
        if options.list:
            source = (ROOT / module).read_text(encoding="utf-8")
            sys.stdout.writelines(f"{m.key}\n" for m in mutants(module, source))
            continue
        tests = options.tests or [t for t in MAPPING.get(module, ()) if (ROOT / t).exists()]
        if not tests:
            raise SystemExit(f"mutate: no tests mapped to {module}: pass --tests")
        only = None if options.only is None else set(load_equivalents(options.only))
        results.update(run_module(module, tests, max(1, options.jobs), log, only=only))
    if results:
        sys.stdout.write(report(results, load_equivalents(EQUIVALENTS)) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
