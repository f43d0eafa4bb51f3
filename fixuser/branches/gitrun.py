"""Running git: one command's output, or its failure as one line (``RepoError``)."""

from __future__ import annotations

import os
import subprocess

from fixuser.branches.repo import RepoError


def run_git(
    *args: str, cwd: str | os.PathLike[str] | None = None, env: dict[str, str] | None = None
) -> str:
    """``git ARGS`` in ``cwd`` (None: where fixuser runs), ``env`` added to the environment;
    its output, or RepoError with what git said, on one line."""
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise RepoError(git_problem(proc.stderr) or f"git {args[0]} exited {proc.returncode}")
    return proc.stdout


def config_bool(key: str, cwd: str | os.PathLike[str] | None = None) -> bool:
    """A boolean of git's configuration as git reads it in ``cwd`` (None: where fixuser
    runs, the global configuration outside a repository); False when unset."""
    try:
        return run_git("config", "--bool", "--get", key, cwd=cwd).strip() == "true"
    except RepoError:
        return False


def git_problem(stderr: str) -> str:
    """The lines of git's stderr that say what went wrong, on one line.

    The remote's own words (``remote: ...``, e.g. a hook's refusal) come first: they are the
    reason a reviewer can act on; git's ``fatal:``/``error:`` lines follow.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    remote = [line.removeprefix("remote:").strip() for line in lines if line.startswith("remote:")]
    own = [line for line in lines if line.startswith(("fatal:", "error:", "! "))]
    picked = [line for line in remote if line][:3] + own[:2]
    return "; ".join(dict.fromkeys(picked)) or (lines[-1] if lines else "")
