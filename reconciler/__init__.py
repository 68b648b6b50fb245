"""voiceid-reconciler: a declarative GitOps reconciler for Amazon Connect Voice ID batch jobs."""

__version__ = "0.1.0"
"""The one place the version is written (pyproject.toml reads it: ``[tool.hatch.version]``);
a constant, so that ``--version`` needs no ``importlib.metadata``."""
