"""The fix commit in a user's repository: blobs and a tree from a temporary index file outside
the repository, the hooks, ``git commit-tree`` (signed when ``commit.gpgsign`` says so) and one
``update-ref`` with the value the branch must still have. The working tree, index, stash and
HEAD are never touched.
"""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches.gitrun import config_bool, git_problem
from fixuser.branches.hooks import run_commit_hooks
from fixuser.branches.identity import Identity
from fixuser.branches.repo import RepoError, RepoPlan, blob_mode, extra_files, open_repo
from fixuser.branches.safety import refuse_branch, refuse_in_progress, refuse_uncommitted

if TYPE_CHECKING:
    import git


def hash_blob(repo: git.Repo, data: bytes, env: dict[str, str]) -> str:
    # --stdin without --path stores the bytes exactly, no filter or end-of-line conversion.
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        sha: str = repo.git.hash_object("-w", "--stdin", istream=f, env=env)
    return sha


def build_commit(
    repo: git.Repo, plan: RepoPlan, message: str, env: dict[str, str], *, verify: bool = True
) -> str:
    """The commit of ``plan.fixes`` on ``plan.head``, written to the object database only.

    As ``git commit`` would make it: signed when ``commit.gpgsign`` asks for it (by git
    itself, so the user's gpg.format, gpg.program and user.signingkey are used; a commit that
    cannot be signed is not made), and unless ``verify`` is False (``--no-verify``) after the
    repository's commit hooks have passed (``run_commit_hooks``).
    """
    base = repo.commit(plan.head)
    with tempfile.TemporaryDirectory(prefix="fixuser-index-") as tmp:
        index_env = {**env, "GIT_INDEX_FILE": str(Path(tmp, "index"))}
        repo.git.read_tree(plan.head, env=index_env)
        for f in plan.fixes:
            mode = (base.tree / f.path).mode
            sha = hash_blob(repo, f.result.output, index_env)
            cacheinfo = f"{mode:o},{sha},{f.path}"
            repo.git.update_index("--add", "--cacheinfo", cacheinfo, env=index_env)
            for path, extra in extra_files(f):  # --strategy entrypoint: its wrapper
                sha = hash_blob(repo, extra.data, index_env)
                cacheinfo = f"{blob_mode(extra):o},{sha},{path}"
                repo.git.update_index("--add", "--cacheinfo", cacheinfo, env=index_env)
        tree: str = repo.git.write_tree(env=index_env)
    if verify:
        tree, message = run_commit_hooks(repo, plan.head, tree, message, env)
    sign = config_bool("commit.gpgsign", cwd=repo.working_dir)
    return commit_tree(repo.git_dir, tree, plan.head, message, env, sign=sign)


def commit_tree(
    git_dir: str | os.PathLike[str],
    tree: str,
    parent: str,
    message: str,
    env: dict[str, str],
    *,
    sign: bool,
) -> str:
    """``git commit-tree``: the commit object of ``tree`` on ``parent``; its sha. With
    ``sign`` git signs it (``-S``: gpg.format, gpg.program and user.signingkey as the user set
    them up), and a commit that cannot be signed is not made (RepoError, one line)."""
    proc = subprocess.run(
        ["git", "commit-tree", *(["-S"] if sign else []), "-p", parent, "-F", "-", tree],
        cwd=git_dir,
        input=message.encode("utf-8", "surrogateescape"),  # a path as its bytes
        capture_output=True,
        env={**os.environ, **env},
        check=False,
    )
    if proc.returncode != 0:
        why = git_problem(proc.stderr.decode(errors="replace"))
        if sign:
            raise RepoError(f"commit.gpgsign is set and git could not sign the commit: {why}")
        raise RepoError(f"git commit-tree failed: {why}")
    return proc.stdout.decode().strip()


def commit_fixes(
    repo_path: Path,
    plan: RepoPlan,
    branch: str,
    message: str,
    *,
    author: str | None = None,
    force: bool = False,
    verify: bool = True,
    expected: str | None = None,
) -> str:
    """Commit ``plan.fixes`` on ``branch`` (based on ``plan.head``); return the new commit's sha.

    ``expected``: the branch's sha (ZERO_SHA: no branch) the caller decided on, e.g. after
    comparing it with the remote's; the branch must still be at it.
    """
    repo = open_repo(repo_path)
    if not plan.fixes:
        raise RepoError("nothing to commit: every Dockerfile is already compliant")
    refuse_in_progress(repo)
    old = refuse_branch(repo, branch, force)
    if expected is not None and old != expected:
        raise RepoError(f"branch {branch} changed while fixuser was working: not written")
    refuse_uncommitted(repo, [p for f in plan.fixes for p in (f.path, *dict(extra_files(f)))])
    env = Identity.resolve(author, repo.working_dir).env()
    sha = build_commit(repo, plan, message, env, verify=verify)
    import git

    try:
        repo.git.update_ref(
            "-m", f"fixuser: {branch} from {plan.head[:12]}", f"refs/heads/{branch}", sha, old
        )
    except git.GitCommandError:
        raise RepoError(f"branch {branch} changed while fixuser was working: not written") from None
    return sha


def summary(repo: git.Repo, sha: str) -> str:
    """Like ``git log -1 --stat``, without the user's pager or colours."""
    out: str = repo.git.log(
        "-1", "--stat", "--format=commit %H%nAuthor: %an <%ae>%n%n%w(0,4,4)%B", sha
    )
    # %w indents the message's blank lines too; drop that and the doubled blank before --stat.
    out = re.sub(r"(?m)^[ \t]+$", "", out)
    return re.sub(r"\n{3,}", "\n\n", out)
