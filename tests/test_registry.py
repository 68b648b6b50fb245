"""The one lazy registry: a command imports only its own module, and nothing of the product is
imported inside a function anywhere else."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from reconciler.cli import main, registry
from reconciler.cli.app import parser

ROOT = Path(__file__).resolve().parent.parent
PRODUCT = ROOT / "reconciler"


def _imports_in_functions(path: Path) -> list[str]:
    """``file:line`` of every import of the product made inside a function of ``path``."""
    found = []
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for function in ast.walk(tree):
        if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for node in ast.walk(function):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            if any(name.split(".")[0] == "reconciler" for name in names):
                where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
                found.append(f"{where}:{node.lineno}")
    return found


def test_no_product_import_inside_a_function_outside_the_registry() -> None:
    """Start-up is kept fast in one place (cli/registry.py), not by imports scattered through
    functions (the sandbox, which imports nothing of the product, aside)."""
    scattered = [
        where
        for path in sorted(PRODUCT.rglob("*.py"))
        if "sandbox" not in path.relative_to(PRODUCT).parts and path.name != "registry.py"
        for where in _imports_in_functions(path)
    ]
    assert scattered == []


def test_the_check_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    """The check above is not blind: it finds such an import."""
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import reconciler\ndef f():\n    import json\n    from reconciler.core import errors\n",
        encoding="utf-8",
    )
    assert _imports_in_functions(sample) == ["sample.py:4"]


def test_every_command_is_in_the_registry() -> None:
    """Each command of the parser comes from the registry's table, and each table entry is a
    command the parser knows."""
    top = parser()
    choices = top._subparsers._group_actions[0].choices  # type: ignore[union-attr]
    assert isinstance(choices, dict)
    assert set(choices) == set(registry.COMMANDS)


def _modules_after(argv: list[str]) -> set[str]:
    code = (
        "import sys, contextlib, io\n"
        "from reconciler.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
        "    try:\n"
        f"        main({argv!r})\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(' '.join(m for m in sys.modules if m.startswith('reconciler')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(done.stdout.split())


def test_validate_imports_only_its_own_command_and_no_runner_use_case() -> None:
    """``validate`` imports neither the other commands, the runner's use cases, botocore's
    adapters nor the sandbox (start-up: bench/startup.py)."""
    loaded = _modules_after(["validate", "specs"])
    assert "reconciler.cli.cmd_validate" in loaded
    others = {m for m in loaded if m.startswith("reconciler.cli.cmd_")} - {
        "reconciler.cli.cmd_validate"
    }
    assert others == set()
    heavy = {
        "reconciler.runner.apply",
        "reconciler.runner.usecases",
        "reconciler.runner.notify",
        "reconciler.adapters.voiceid",
        "reconciler.adapters.notify",
        "reconciler.sandbox.options",
    }
    assert loaded & heavy == set()


def test_help_with_every_command_imports_neither_botocore_nor_the_sandbox_server() -> None:
    """``--help`` (and any parse that falls back to every command's parser) imports each
    command's module, but not what only a running command needs: the server and the demo
    come through the registry."""
    loaded = _modules_after(["--help"])
    assert "reconciler.cli.cmd_tools" in loaded
    assert loaded & {"reconciler.sandbox.sandbox", "reconciler.cli.demo"} == set()
    assert "reconciler.runner.apply" not in loaded


def test_an_offline_plan_builds_no_aws_adapter() -> None:
    """``plan --offline`` reads the state; the Voice ID and S3 adapters are never built."""
    loaded = _modules_after(["plan", "--offline", "specs", "--state", "/nonexistent/x.json"])
    assert "reconciler.cli.cmd_plan" in loaded
    assert "reconciler.adapters.voiceid" not in loaded
    assert "reconciler.adapters.aws" not in loaded


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["validate", "specs"], ["reconciler.cli.cmd_validate"]),
        (["--state", "x.json", "plan"], ["reconciler.cli.cmd_plan"]),
        (["sandbox", "serve"], ["reconciler.cli.cmd_tools"]),
        (["--help", "plan"], list(dict.fromkeys(registry.COMMANDS.values()))),
        ([], list(dict.fromkeys(registry.COMMANDS.values()))),
    ],
)
def test_the_command_named_picks_its_module(argv: list[str], expected: list[str]) -> None:
    """The first word that names a command picks its module; help before it, or no command,
    takes every module (the listing of ``--help``)."""
    assert [m.__name__ for m in registry.command_modules(argv)] == expected


def test_an_option_value_that_names_a_command_still_parses(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--state plan validate``: the state file is called 'plan', the command is validate
    (the first parse, with plan's parser alone, fails; the second, with all, runs it)."""
    spec_dir = tmp_path / "none"
    code = main(["--state", "plan", "validate", str(spec_dir)])
    err = capsys.readouterr().err
    assert code == 1
    assert "invalid choice" not in err
    assert str(spec_dir) in err
