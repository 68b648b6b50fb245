"""What git says of a spec file (reconciler.adapters.gitfiles): the commit that last changed it,
in a SHA-1 or a SHA-256 repository, and nothing where git has no commit for it."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from reconciler.adapters.gitfiles import last_commit


def _git(repo: Path, *args: str) -> str:
    command = ["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", "-C", str(repo)]
    done = subprocess.run([*command, *args], check=True, capture_output=True, text=True)
    return done.stdout.strip()


@pytest.mark.parametrize(("object_format", "length"), [("sha1", 40), ("sha256", 64)])
def test_the_last_commit_of_a_file_in_either_object_format(
    tmp_path: Path, object_format: str, length: int
) -> None:
    """The full id of the commit that last changed the file, 40 hex digits in a SHA-1
    repository and 64 in a SHA-256 one (git init --object-format=sha256)."""
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q", f"--object-format={object_format}")
    (repo / "specs").mkdir()
    spec, other = repo / "specs" / "a.yaml", repo / "specs" / "b.yaml"
    spec.write_text("a\n")
    other.write_text("b\n")
    _git(repo, "add", "-A")
    _git(repo, "commit", "-qm", "both")
    first = _git(repo, "rev-parse", "HEAD")
    other.write_text("b, changed\n")
    _git(repo, "commit", "-qam", "only b")
    assert len(first) == length
    assert last_commit(spec) == first
    assert last_commit(other) == _git(repo, "rev-parse", "HEAD") != first


def test_no_commit_for_an_uncommitted_file_or_outside_a_work_tree(tmp_path: Path) -> None:
    """A file git has no commit for, or one in no work tree, has no last commit."""
    outside = tmp_path / "outside.yaml"
    outside.write_text("a\n")
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    (repo / "new.yaml").write_text("a\n")
    assert last_commit(repo / "new.yaml") is None
    # tmp_path is no work tree: the probe repository is below it, not around it.
    assert last_commit(outside) is None
