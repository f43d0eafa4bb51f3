"""What fixuser checks before it writes a branch: nothing in progress, no uncommitted change to
a file it fixes, a valid branch and remote name, and a branch it may replace (one it made,
unchanged since: ``is_fixuser_commit``).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches.repo import IN_PROGRESS, TRAILER, ZERO_SHA, RepoError, open_repo

if TYPE_CHECKING:
    import git


def git_path(repo: git.Repo, name: str) -> Path:
    """A per-worktree file of the git directory (right in linked worktrees too)."""
    path = Path(repo.git.rev_parse("--git-path", name))
    return path if path.is_absolute() else Path(repo.working_dir) / path


def refuse_in_progress(repo: git.Repo) -> None:
    for name, what in IN_PROGRESS.items():
        if git_path(repo, name).exists():
            raise RepoError(f"{what} is in progress: finish or abort it first")


def branch_sha(repo: git.Repo, branch: str) -> str | None:
    import git

    try:
        sha: str = repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    except git.GitCommandError:
        return None
    return sha or None


def is_fixuser_branch(repo_path: Path | git.Repo, branch: str) -> bool:
    """The branch's tip was made by fixuser and nobody changed it since (``is_fixuser_commit``)."""
    repo = repo_path if not isinstance(repo_path, Path) else open_repo(repo_path)
    sha = branch_sha(repo, branch)
    return sha is not None and is_fixuser_commit(repo.commit(sha))


def is_fixuser_commit(commit: git.Commit) -> bool:
    """fixuser made ``commit`` and nobody amended it: its message ends in the ``Fixed-by``
    trailer, and its author and committer dates are the one date fixuser gives both. An amend,
    a rebase or a cherry-pick keeps the trailer but takes a new committer date: that commit is
    somebody's work, and fixuser never replaces it."""
    message = str(commit.message)
    trailers = message.rstrip("\n").rsplit("\n\n", 1)[-1].splitlines()
    if TRAILER not in (t.strip() for t in trailers):
        return False
    return (commit.authored_date, commit.author_tz_offset) == (
        commit.committed_date,
        commit.committer_tz_offset,
    )


def checked_out_branches(repo: git.Repo) -> set[str]:
    out: str = repo.git.worktree("list", "--porcelain")
    return {
        line.removeprefix("branch refs/heads/")
        for line in out.splitlines()
        if line.startswith("branch refs/heads/")
    }


def check_branch_name(branch: str) -> None:
    """RepoError unless ``branch`` is a branch name git reads as nothing else: not ``HEAD``,
    ``@`` or ``-`` (which name other commits), nor anything that starts with ``-`` (an
    option), nor what ``git check-ref-format`` refuses."""
    if branch in ("HEAD", "@") or branch.startswith("-") or not valid_ref(f"refs/heads/{branch}"):
        raise RepoError(f"{branch!r} is not a valid branch name")


def check_remote_name(remote: str) -> None:
    """RepoError unless ``remote`` is a remote's name (as git decides it): never an option."""
    if remote.startswith("-") or not valid_ref(f"refs/remotes/{remote}/x"):
        raise RepoError(f"{remote!r} is not a valid remote name")


def valid_ref(ref: str) -> bool:
    proc = subprocess.run(
        ["git", "check-ref-format", ref], capture_output=True, check=False, stdin=subprocess.DEVNULL
    )
    return proc.returncode == 0


def refuse_branch(repo: git.Repo, branch: str, force: bool) -> str:
    """The branch's current sha (ZERO_SHA when new), or RepoError when fixuser must not write.

    The advice names --force only for a branch fixuser made and nobody changed since: the one
    kind --force replaces (and a push then replaces only the remote tip fixuser saw)."""
    check_branch_name(branch)
    old = branch_sha(repo, branch)
    if old is None:
        return ZERO_SHA
    if branch in checked_out_branches(repo):
        raise RepoError(f"branch {branch} exists and is checked out: pick another --branch")
    if not is_fixuser_branch(repo, branch):
        raise RepoError(
            f"branch {branch} exists and fixuser did not make it (its tip has no {TRAILER!r} "
            "trailer, or was changed since): pick another --branch"
            + (" (not replacing it, even with --force)" if force else "")
        )
    if not force:
        raise RepoError(
            f"branch {branch} exists (fixuser made it): pick another --branch, or --force to "
            "replace it"
        )
    return old


def refuse_uncommitted(repo: git.Repo, paths: Sequence[str]) -> None:
    """A file to fix must match HEAD in the index and the working tree.

    ``--no-optional-locks`` keeps ``git status`` from refreshing (rewriting) the user's index;
    ``--literal-pathspecs`` makes each path the file of that name (``:(exclude)svc`` is a
    directory, not an order to leave svc/ out). ``git status`` trusts the skip-worktree and
    assume-unchanged bits; fixuser compares those files with the working tree itself.
    """
    if not paths or repo.bare:
        return
    out: str = repo.git.execute(
        ["git", "--literal-pathspecs", "--no-optional-locks", "status", "--porcelain=v1", "-z",
         "--", *paths]
    )  # fmt: skip
    found = {entry[3:] for entry in out.split("\0") if len(entry) > 3}
    dirty = sorted(found.union(hidden_edits(repo, paths)))
    if dirty:
        raise RepoError(
            f"{', '.join(dirty)}: uncommitted changes; commit or stash them first "
            "(the fix is made from the committed content)"
        )


def hidden_edits(repo: git.Repo, paths: Sequence[str]) -> list[str]:
    """The files of ``paths`` marked skip-worktree or assume-unchanged whose working-tree
    content is not what the index holds. A marked file absent from the working tree (outside
    a sparse checkout) holds no work, so it is no edit."""
    listing: str = repo.git.execute(
        ["git", "--literal-pathspecs", "ls-files", "-v", "-s", "-z", "--", *paths]
    )
    marked: dict[str, str] = {}
    for entry in listing.split("\0"):
        # "<tag> <mode> <sha> <stage>\t<path>": a lowercase tag is assume-unchanged, S skip.
        head, _, path = entry.partition("\t")
        fields = head.split()
        hidden = len(fields) == 4 and (fields[0] == "S" or fields[0].islower())
        if hidden and os.path.lexists(Path(repo.working_dir, path)):
            marked[path] = fields[2]
    if not marked:
        return []
    # The working tree's content as git would store it (clean filters, end-of-line rules).
    hashed: str = repo.git.execute(["git", "--literal-pathspecs", "hash-object", "--", *marked])
    return [path for path, sha in zip(marked, hashed.split(), strict=True) if sha != marked[path]]
