"""What git would commit of the files a local state keeps beside itself.

A local state ``X`` keeps ``X.lock`` (this run's flock), ``X.backup`` (the state as last
written), ``X.mark`` (the high-water mark, which must survive a checkout of ``X``),
``X.cache`` (the spec cache) and, during a run, ``X.journal`` (its starts) beside it.
Committing the state is fine — it is meant to be reviewed — but a committed ``.lock`` makes
every clone fight over one file, a committed ``.backup`` doubles every diff, a committed
``.mark`` is rolled back with the state and can no longer tell that the state went backwards,
a committed ``.cache`` is a binary file that changes with every spec edit (and is rebuilt from
the specs anyway), and a journal belongs to the one run that writes it.

``exposed_side_files`` asks git (when there is one: a container image has none, and a
directory outside a work tree has nothing to commit) which of them are committed or would be
committed by ``git add -A``. A side file is recognised as the state's only when its state ``X``
and the mark ``X.mark`` both exist, so a ``poetry.lock`` is never taken for one.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SIDE_SUFFIXES = (".lock", ".backup", ".mark", ".cache", ".journal")
GITIGNORE_LINES = " ".join(f"'*{suffix}'" for suffix in SIDE_SUFFIXES)
# These checks only warn: a git that hangs (a network filesystem, a lock held by an editor) is
# given up on, never allowed to hold the run.
_GIT_TIMEOUT = 10.0
# 40 hex digits in a SHA-1 repository, 64 in a SHA-256 one (git init --object-format=sha256).
_FULL_COMMIT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


@dataclass(frozen=True)
class Exposed:
    """A side file of a local state that git holds (``tracked``) or would pick up."""

    path: Path
    tracked: bool

    def warning(self) -> str:
        """One line saying what is wrong and what to do."""
        if self.tracked:
            what = f"is committed to git (git rm --cached {self.path})"
        else:
            what = "is not ignored by git, so `git add -A` would commit it"
        return f"{self.path}: {what}; add {GITIGNORE_LINES} to .gitignore"


def _git_ls(directory: Path, *options: str, pathspecs: list[str]) -> list[Path] | None:
    """``git ls-files`` of ``directory``'s work tree, as paths relative to ``directory``;
    None when git is missing, refuses, or ``directory`` is in no work tree."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed git command line, no shell
            # -z: without it git quotes a name with non-ASCII or a newline in it
            # (core.quotePath), and the path read back would not be the file's.
            ["git", "-C", str(directory), "ls-files", "-z", *options, "--", *pathspecs],  # noqa: S607
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return [Path(name) for name in done.stdout.decode("utf-8", "replace").split("\0") if name]


def _is_side_file(path: Path) -> bool:
    for suffix in SIDE_SUFFIXES:
        if path.name.endswith(suffix) and len(path.name) > len(suffix):
            state = path.with_name(path.name[: -len(suffix)])
            return state.is_file() and state.with_name(state.name + ".mark").is_file()
    return False


def exposed_side_files(where: Path, state: Path | None = None) -> list[Exposed]:
    """The side files of the local states in the git work tree around ``where`` (a directory
    or a file in it) that git holds or would pick up — with ``state``, of that state only.
    Empty when there is no git or no work tree."""
    directory = where if where.is_dir() else where.parent
    if state is not None:
        pathspecs = [str(state.resolve()) + suffix for suffix in SIDE_SUFFIXES]
    else:
        pathspecs = [f":(top)*{suffix}" for suffix in SIDE_SUFFIXES]  # the whole work tree
    tracked = _git_ls(directory, "--cached", pathspecs=pathspecs)
    # Untracked and not ignored: exactly what 'git add -A' would add.
    untracked = _git_ls(directory, "--others", "--exclude-standard", pathspecs=pathspecs)
    # Half an answer is none: a warning made from one of the two lists could be wrong.
    if tracked is None or untracked is None:
        return []
    found = [(directory / p, True) for p in tracked] + [(directory / p, False) for p in untracked]
    return sorted(
        (Exposed(_relative(path), is_tracked) for path, is_tracked in found if _is_side_file(path)),
        key=lambda e: str(e.path),
    )


def _relative(path: Path) -> Path:
    """``path`` as the user would type it from the current directory, when it is below it."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def last_commit(path: Path) -> str | None:
    """The commit that last changed ``path`` (the one that introduced a spec's current
    version), or None outside a work tree, for an uncommitted file, or without git."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed git command line, no shell
            ["git", "-C", str(path.parent), "log", "-1", "--format=%H", "--", path.name],  # noqa: S607
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = done.stdout.decode("ascii", "replace").strip()
    # A full commit id or nothing: an uncommitted file gives an empty answer with exit 0, and
    # GitHub's commit statuses are posted to a full commit id.
    return sha if done.returncode == 0 and _FULL_COMMIT_ID.fullmatch(sha) else None


def repo_path(path: Path) -> str | None:
    """``path`` relative to the root of the git checkout that holds it (the nearest parent with
    a ``.git`` entry: a clone, or a worktree like git-sync's), in POSIX form; None when no
    parent is one. Needs no git executable."""
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError):
        return None
    for parent in resolved.parents:
        if (parent / ".git").exists():
            return resolved.relative_to(parent).as_posix()
    return None
