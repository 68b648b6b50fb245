"""docs/architecture.md is true to the code where a claim can be checked.

The module map and the list of import contracts are generated (``python -m tools.architecture
--write``) and must be up to date; the layer diagram follows the layers contract; the ports the
document names are the runner's protocols; the modules it says import the sandbox are the ones
that do; and every file, flag and ``reconciler`` name it mentions outside the intended shape
(which describes what is not built yet) exists.
"""

from __future__ import annotations

import ast
import importlib
import re
import textwrap
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from tools import architecture

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "architecture.md"
FUTURE = "## The intended shape"
LAYERS = ("core", "adapters", "runner", "cli")  # bottom-up, as the map lists them


def _doc() -> str:
    return DOC.read_text(encoding="utf-8")


def _checked_text() -> str:
    """The document without its generated blocks and the section on what is not built yet."""
    text = re.sub(r"<!-- (\w+):begin -->.*?<!-- \1:end -->", "", _doc(), flags=re.S)
    start = text.index(FUTURE)
    stop = text.index("\n## ", start + len(FUTURE))
    return text[:start] + text[stop:]


def _paragraph(starting: str) -> str:
    (paragraph,) = [p for p in _doc().split("\n\n") if p.startswith(starting)]
    return paragraph


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def _protocols(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        and any(isinstance(b, ast.Name) and b.id == "Protocol" for b in node.bases)
    }


def test_the_generated_blocks_are_up_to_date() -> None:
    """The module map and the contracts are what ``tools.architecture`` makes of the code."""
    diff = architecture.check()
    assert diff == "", f"run: python -m tools.architecture --write\n{diff}"


def test_every_product_module_is_in_the_map() -> None:
    """A row per module of the four layers (an empty ``__init__`` aside), one for the sandbox."""
    table = _doc().split("<!-- modules:begin -->")[1].split("<!-- modules:end -->")[0]
    listed = re.findall(r"^\| `([^`]+)` \| (\d+) \|", table, flags=re.M)
    package = ROOT / "reconciler"
    expected = [
        p.relative_to(directory).as_posix()
        for directory, files in [
            (package, package.glob("*.py")),
            *((package / layer, (package / layer).rglob("*.py")) for layer in LAYERS),
        ]
        for p in sorted(files)
        if p.name != "__init__.py" or architecture.holds_code(p)
    ]
    assert [name for name, _ in listed] == expected
    assert "| **sandbox/** |" in table
    assert not any(name.startswith(("sandbox", "service")) for name, _ in listed)


# The tool, on a package of its own: each way the map goes stale is found, and --write fixes it.

PYPROJECT = """
[[tool.importlinter.contracts]]
name = "Layers: top over low"
type = "layers"
layers = ["pkg.top", "pkg.low"]
"""


def _package(root: Path) -> Path:
    (root / "docs").mkdir()
    (root / "pyproject.toml").write_text(PYPROJECT.replace("pkg", "reconciler"))
    (root / "docs" / "architecture.md").write_text(
        "intro\n<!-- contracts:begin -->\n<!-- contracts:end -->\n"
        "map\n<!-- modules:begin -->\n<!-- modules:end -->\nend\n"
    )
    for name, text in {
        "reconciler/__init__.py": '"""The package."""\n',
        "reconciler/low/__init__.py": '"""The low layer."""\n',
        "reconciler/low/rules.py": '"""Rules: the first sentence.\n\nMore."""\nX = 1\n',
        "reconciler/top/__init__.py": '"""The top layer."""\n\n\ndef main() -> None:\n    pass\n',
        "reconciler/top/face.py": '"""The face of it (``--flag``, :class:`~a.b.Thing`)."""\n',
        "reconciler/sandbox/__init__.py": '"""A sandbox apart."""\n',
        "reconciler/sandbox/inner.py": '"""Not listed."""\n',
    }.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    assert architecture.main(["--write"], root=root) == 0
    return root


def test_the_map_is_written_bottom_up_from_the_docstrings(tmp_path: Path) -> None:
    text = (_package(tmp_path) / "docs" / "architecture.md").read_text()
    assert text == textwrap.dedent(
        """\
        intro
        <!-- contracts:begin -->
        * Layers: top over low (`layers`)
        <!-- contracts:end -->
        map
        <!-- modules:begin -->
        | module | lines | owns |
        | --- | ---: | --- |
        | **reconciler/** | 1 | The package. |
        | **low/** | 5 | The low layer. |
        | `rules.py` | 4 | Rules: the first sentence. |
        | **top/** | 6 | The top layer. |
        | `__init__.py` | 5 | defines `main` |
        | `face.py` | 1 | The face of it (`--flag`, `Thing`). |
        | **sandbox/** | 2 | A sandbox apart. |
        <!-- modules:end -->
        end
        """
    )
    assert architecture.main(["--check"], root=tmp_path) == 0


@pytest.mark.parametrize(
    ("change", "shows"),
    [
        (lambda r: (r / "reconciler/low/new.py").write_text('"""A new module."""\n'), "new.py"),
        (lambda r: (r / "reconciler/top/face.py").unlink(), "face.py"),
        (lambda r: (r / "reconciler/low/rules.py").write_text('"""Rules."""\nX = 1\nY = 2\n'), "3"),
        (lambda r: (r / "reconciler/low/rules.py").write_text('"""Other rules."""\n'), "Other"),
        (
            lambda r: (r / "pyproject.toml").write_text(PYPROJECT.replace("top over", "high over")),
            "high",
        ),
    ],
    ids=[
        "module-added",
        "module-removed",
        "lines-changed",
        "docstring-changed",
        "contract-renamed",
    ],
)
def test_a_stale_map_fails_the_check_with_a_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], change: Callable[[Path], object], shows: str
) -> None:
    root = _package(tmp_path)
    capsys.readouterr()
    change(root)
    assert architecture.main(["--check"], root=root) == 1
    out, err = capsys.readouterr()
    assert any(line.startswith(("+", "-")) and shows in line for line in out.splitlines()), out
    assert "stale" in err
    assert architecture.main(["--write"], root=root) == 0
    assert architecture.main(["--check"], root=root) == 0


def test_a_module_without_a_docstring_stops_the_tool(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _package(tmp_path)
    (root / "reconciler/low/bare.py").write_text("X = 1\n")
    assert architecture.main(["--check"], root=root) == 1
    assert "reconciler/low/bare.py: no module docstring" in capsys.readouterr().err


# The claims the text makes.


def test_the_layer_diagram_follows_the_layers_contract() -> None:
    """The diagram's layers, top to bottom, are the layers contract's."""
    diagram = _doc().split("```\n", 2)[1]
    drawn = re.findall(r"^reconciler/(\w+)/", diagram, flags=re.M)
    contracts = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    (layers,) = [
        c["layers"] for c in contracts["contracts"] if c["name"].startswith("Layers: the face")
    ]
    assert drawn == [layer.removeprefix("reconciler.") for layer in layers]


def test_the_ports_the_document_names_are_the_runners_protocols() -> None:
    """The ports named are the protocols of runner/ports.py (those another port returns aside:
    a Voice ID ``Domain``), the map's ports row names every one, and ``Sink`` is the protocol of
    adapters/notify.py."""
    source = (ROOT / "reconciler" / "runner" / "ports.py").read_text(encoding="utf-8")
    ports = _protocols(ROOT / "reconciler" / "runner" / "ports.py")
    classes = {
        node.name: ast.get_source_segment(source, node)
        for node in ast.parse(source).body
        if isinstance(node, ast.ClassDef)
    }
    returned = {
        p for p in ports if any(re.search(rf"\b{p}\b", classes[q] or "") for q in ports - {p})
    }
    paragraph = " ".join(_paragraph("The runner sees the world").split())
    (listed,) = re.findall(r"`runner/ports\.py`: ([^)]*)\)", paragraph)
    assert set(_spans(listed)) == ports - returned
    assert re.search(
        r"the `Sink` protocol, which lives with the sinks in `adapters/notify\.py`", paragraph
    )
    assert "Sink" in _protocols(ROOT / "reconciler" / "adapters" / "notify.py")
    (row,) = [line for line in _doc().splitlines() if line.startswith("| `ports.py` |")]
    assert ports <= set(_spans(row))


def test_the_modules_said_to_import_the_sandbox_are_the_ones_that_do() -> None:
    said = {s for s in _spans(_paragraph("`reconciler/sandbox/`")) if s.endswith(".py")}
    package = ROOT / "reconciler"
    importing = set()
    for path in package.rglob("*.py"):
        if "sandbox" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom)
                else []
            )
            if any(n == "reconciler.sandbox" or n.startswith("reconciler.sandbox.") for n in names):
                importing.add(path.relative_to(package).as_posix())
    assert importing == said


def _resolves(dotted: str) -> bool:
    parts = dotted.removeprefix("reconciler.").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            value = importlib.import_module(".".join(["reconciler", *parts[:cut]]))
        except ModuleNotFoundError:
            continue
        for name in parts[cut:]:
            if not hasattr(value, name):
                return False
            value = getattr(value, name)
        return True
    return False


def test_every_name_the_document_mentions_exists() -> None:
    """Files and directories, ``reconciler`` names (``core.plan.build_plan`` too) and flags."""
    text = _checked_text()
    spans = _spans(text)
    paths = [s for s in spans if "/" in s and re.fullmatch(r"[\w./-]+", s) and "://" not in s]
    missing = [
        s for s in paths if not (ROOT / s).exists() and not (ROOT / "reconciler" / s).exists()
    ]
    dotted = set(re.findall(r"\b(?:reconciler\.)?(?:core|adapters|runner|cli)(?:\.\w+)+", text))
    missing += sorted(d for d in dotted if not _resolves(d))
    flags = {f for s in spans for f in re.findall(r"(?<![\w-])--[a-z][a-z-]+", s)}
    flags |= set(re.findall(r"(?<![\w-])--[a-z][a-z-]+", text))
    sources = [*(ROOT / "reconciler" / "cli").glob("*.py"), ROOT / "tools" / "architecture.py"]
    cli = "".join(p.read_text() for p in sources)  # the product's flags, and this tool's
    missing += sorted(f for f in flags if f'"{f}"' not in cli)
    assert missing == []
    assert len(paths) > 5  # the checks saw the text
    assert len(dotted) > 10
    assert len(flags) > 5
