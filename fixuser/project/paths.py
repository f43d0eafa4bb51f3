"""Paths as the readers write them: strings relative to the repository root, ``/``-separated.

Pure: nothing here asks the file system; a path that leads outside the repository (or is
absolute, or remote) is None, and whether a file exists is the caller's question.
"""

from __future__ import annotations

import posixpath

# Stands for the repository root in a path ($CI_PROJECT_DIR, ${{ github.workspace }}): a
# private-use character no real path holds.
ROOT = "\ue000"


def normal(path: str) -> str:
    """A repository-relative path as the readers write them: ``./a//b`` is ``a/b``."""
    return posixpath.normpath(path).removeprefix("./")


def join(base: str, path: str) -> str | None:
    """``path`` (as written in a file in ``base``) relative to the repository root, ``.`` for
    the root itself; None when it is absolute or leads outside."""
    if path.startswith(ROOT):
        base, path = ".", path[len(ROOT) :].lstrip("/")
    if path.startswith(("/", "~")) or is_remote(path):
        return None
    joined = posixpath.normpath(posixpath.join(base or ".", path or "."))
    if joined == ".." or joined.startswith("../"):
        return None
    return joined


def resolve(cwd: str | None, path: str) -> str | None:
    """A path a command names, from its current directory (None: not known)."""
    if path.startswith(ROOT):
        return join(".", path)
    if cwd is None:
        return None
    return join(cwd, path)


def is_remote(context: str) -> bool:
    return "://" in context or context.startswith(("git@", "github.com/"))
