"""Running git: one command's output, or its failure as one line (``RepoError``)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from fixuser.branches.repo import RepoError


def run_git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise RepoError(git_problem(proc.stderr) or f"git {args[0]} exited {proc.returncode}")
    return proc.stdout


def run_git_in(cwd: Path | str, *args: str, env: dict[str, str] | None = None) -> str:
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
