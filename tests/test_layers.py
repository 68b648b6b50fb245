"""The import-layer contracts (``[tool.importlinter]`` in pyproject.toml, checked by
``lint-imports`` in CI) name every module they are meant to hold: a module left out of a
layers contract is not checked at all, so a new core module could import anything."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE_LAYERS = "Inside the core: plan and policy over desired jobs over identity over specs"


def _contract(name: str) -> dict[str, object]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    (contract,) = [c for c in config["tool"]["importlinter"]["contracts"] if c["name"] == name]
    return dict(contract)


def test_every_core_module_is_in_the_cores_layers() -> None:
    """Each module and package of reconciler/core (the redaction point included) has its
    layer."""
    layers = _contract(CORE_LAYERS)["layers"]
    assert isinstance(layers, list)
    named = {module.strip() for layer in layers for module in str(layer).split("|")}
    core = ROOT / "reconciler" / "core"
    modules = {
        f"reconciler.core.{path.stem}" for path in core.glob("*.py") if path.stem != "__init__"
    } | {f"reconciler.core.{path.parent.name}" for path in core.glob("*/__init__.py")}
    assert sorted(modules - named) == []
    assert sorted(named - modules) == []
