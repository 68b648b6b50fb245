"""voiceid-reconciler: a declarative GitOps reconciler for Amazon Connect Voice ID batch jobs."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("voiceid-reconciler")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"
