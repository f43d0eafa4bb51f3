"""What a reviewer reads about a fix: the commit message and the PR/MR description.

Both are rendered from the same values (``file_values``): the commit message as plain text
(``templates/commit-message.j2``), the description as Markdown (``templates/pull-request.md.j2``).
A commit message has no line starting with ``#``: git's default cleanup, on every
``git commit --amend``, ``rebase -i`` reword or squash that opens an editor, strips such lines
as comments, so a Markdown heading would silently vanish from the history.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from fixuser.model import Change, FixResult
from fixuser.render import render

if TYPE_CHECKING:
    from fixuser.repo import FileFix

NUMERIC_RE = re.compile(r"^(\d+)(?::\d*)?$")
# No /proc/1/status to `docker exec cat` in: the PID 1 check reads it on the host instead.
SHELL_LESS = frozenset({"distroless", "scratch"})
COMMENT_START_RE = re.compile(r"^#", re.MULTILINE)


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``1 file``, ``2 files``, ``1 repository``, ``3 repositories``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def title(n: int) -> str:
    """The commit subject (and review title) for a fix of ``n`` Dockerfiles."""
    return f"Run {'container' if n == 1 else 'containers'} as a non-root user (CIS Docker 4.1)"


def uid_of(change: Change) -> int | None:
    """The UID the fixed image runs as: the one fixuser chose for its USER (a base image's
    node 1000, distroless 65532, scratch 65534, a reused user's own, the created one), or the
    number USER names; None when USER is a name whose number fixuser does not know."""
    if change.uid is not None:
        return change.uid
    match = NUMERIC_RE.match(change.user)
    return int(match[1]) if match else None


def values(path: str, result: FixResult) -> dict[str, Any]:
    analysis, change = result.analysis, result.change
    assert change is not None
    return {
        "path": path,
        "context": os.path.dirname(path) or ".",
        "path_sh": shlex.quote(path),
        "context_sh": shlex.quote(os.path.dirname(path) or "."),
        # A named runtime stage is built by name: with --target it is not the last stage, and
        # naming the last one builds the same image.
        "target": None if analysis.stage.isdigit() else analysis.stage,
        "family": analysis.family,
        "base_image": analysis.base_image,
        "evidence": analysis.evidence,
        "before": analysis.user,
        "user": change.user,
        "uid": uid_of(change),
        "name": change.user.split(":")[0],
        "windows": analysis.family == "windows",
        "shell_less": analysis.family in SHELL_LESS,
        "created_user": change.created_user,
        "chowned": change.chowned,
        "notes": change.notes,
        "warnings": analysis.warnings,
    }


def file_values(fix: FileFix) -> dict[str, Any]:
    """The values of one fixed file both templates use."""
    return values(fix.path, fix.result)


def description(fixes: Sequence[FileFix], branch: str) -> str:
    """The PR/MR description (Markdown)."""
    files = [file_values(f) for f in fixes]
    return render("pull-request.md.j2", files=files, branch=branch, count=count)


def commit_message(
    fixes: Sequence[FileFix],
    *,
    branch: str | None = None,
    remote: bool = False,
    batch: bool = False,
    signoff: str | None = None,
) -> str:
    """The commit message: plain text, ending in the ``Fixed-by`` trailer (and sign-off).

    ``branch``: the verify steps switch to it (``remote``: fetch it from origin first).
    """
    files = [file_values(f) for f in fixes]
    text = render(
        "commit-message.j2",
        title=title(len(files)),
        files=files,
        branch=branch,
        remote=remote,
        batch=batch,
        signoff=signoff,
        count=count,
    )
    # The template starts no line with "#"; a value might (a directory named "#ops"): one
    # space in front keeps that line through git's cleanup.
    return COMMENT_START_RE.sub(" #", text)
