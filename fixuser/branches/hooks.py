"""The repository's commit hooks, run as ``git commit`` would run them: in a temporary worktree
of their own, never in the user's.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches.gitrun import run_git
from fixuser.branches.repo import RepoError

if TYPE_CHECKING:
    import git

# The hooks git commit runs before it makes the commit, in its order; each with its arguments
# (MSG: the message file). fixuser's --no-verify runs none of them (git commit's skips
# pre-commit and commit-msg).
COMMIT_HOOKS = (
    ("pre-commit", ()),
    ("prepare-commit-msg", ("MSG", "message")),
    ("commit-msg", ("MSG",)),
)


def hooks_dir(repo: git.Repo) -> Path:
    """Where git looks for the hooks (core.hooksPath honoured; a relative one is relative to
    the user's working tree, as for ``git commit`` run there)."""
    path = Path(repo.git.rev_parse("--git-path", "hooks"))
    return path if path.is_absolute() else Path(repo.working_dir, path)


def active_hooks(directory: Path) -> list[str]:
    return [
        name
        for name, _ in COMMIT_HOOKS
        if (directory / name).is_file() and os.access(directory / name, os.X_OK)
    ]


def run_commit_hooks(
    repo: git.Repo, parent: str, tree: str, message: str, env: dict[str, str]
) -> tuple[str, str]:
    """Run the repository's commit hooks as ``git commit`` would; the tree and the message
    they leave (what a hook stages or writes into the message is kept, as git keeps it).

    A hook sees the change as in ``git commit``: it runs in a temporary worktree of its own
    (``git worktree add --detach`` at the base commit, in the system's temp directory) whose
    index holds the fixed tree and whose files are that tree: HEAD is the base, ``git diff
    --cached`` is the fix, nothing is unstaged, and GIT_INDEX_FILE names that index. The
    user's working tree, index, stash and HEAD are not touched; the worktree is removed
    afterwards. A failing pre-commit or commit-msg hook refuses the commit with its output.
    """
    directory = hooks_dir(repo)
    hooks = active_hooks(directory)
    if not hooks:
        return tree, message
    tmp = Path(tempfile.mkdtemp(prefix="fixuser-hooks-"))
    worktree = tmp / "worktree"
    try:
        # --no-checkout: no post-checkout hook runs; the files are written below.
        run_git("worktree", "add", "--quiet", "--no-checkout", "--detach", "--", str(worktree),
                parent, cwd=repo.git_dir)  # fmt: skip
        run_git("read-tree", tree, cwd=worktree)
        # A hook needs the files, not the large ones a smudge filter would fetch (git-lfs).
        lfs = {"GIT_LFS_SKIP_SMUDGE": "1"}
        run_git("checkout-index", "--all", "--force", cwd=worktree, env=lfs)
        git_dir = Path(run_git("rev-parse", "--absolute-git-dir", cwd=worktree).strip())
        message_file = git_dir / "COMMIT_EDITMSG"
        message_file.write_text(message, encoding="utf-8")
        index = str(git_dir / "index")
        hook_env = {**os.environ, **env, "GIT_INDEX_FILE": index, "GIT_EDITOR": ":"}
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX"):
            hook_env.pop(name, None)
        for hook, args in COMMIT_HOOKS:
            if hook not in hooks:
                continue
            argv = [str(message_file) if a == "MSG" else a for a in args]
            run_hook(directory, hook, argv, worktree, hook_env)
            if hook == "pre-commit":  # as git commit does: the index as the hook left it
                tree = run_git("write-tree", cwd=worktree).strip()
        message = message_file.read_text(encoding="utf-8")
    finally:
        # Only this worktree's entry goes: no `git worktree prune`, which would also drop the
        # user's own worktrees that are merely absent (an unmounted disk).
        subprocess.run(
            ["git", "worktree", "remove", "--force", "--", str(worktree)],
            cwd=repo.git_dir, capture_output=True, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)
    return tree, message


def run_hook(directory: Path, hook: str, args: list[str], cwd: Path, env: dict[str, str]) -> None:
    """``git hook run`` (git's own hook runner) with ``directory`` as core.hooksPath; its
    output (stdout and stderr, as git commit shows both) goes to stderr; RepoError when the
    hook fails."""
    proc = subprocess.run(
        ["git", "-c", f"core.hooksPath={directory}", "hook", "run", "--ignore-missing", hook,
         "--", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    said = proc.stdout.decode(errors="replace").rstrip()
    if proc.returncode != 0:
        raise RepoError(
            f"the {hook} hook refused the commit (exit {proc.returncode}); --no-verify skips it"
            + (f":\n{said}" if said else "")
        )
    if said:
        print(said, file=sys.stderr)
