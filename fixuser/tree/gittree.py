"""A commit's tree as a Source (fixuser.tree.source): ``fix --commit``, the session and
``batch`` fix the Dockerfiles of a commit, never the working tree.

Dockerfiles are found by the names discovery looks for (fixuser.tree.discover), below the paths
asked for, or named exactly; submodules (gitlinks) are not descended into and symlinks are not
followed: the commit fixuser makes can only change blobs of this repository. GitPython is
imported inside the functions, so ``fixuser check`` never pays for it.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

from fixuser.tree.discover import SKIP_DIRS, is_dockerfile_name
from fixuser.tree.source import Repository

if TYPE_CHECKING:
    import git

    from fixuser.project.model import RepoContext

BLOB_MODES = (0o100644, 0o100755)


class GitTree:
    """The Dockerfiles of ``tree`` under ``paths`` (repository-relative; none: all of them),
    each by its repository path; its context is the one committed in the same tree."""

    def __init__(self, tree: git.Tree, paths: Sequence[str] = ()) -> None:
        self.tree = tree
        self.paths = paths
        self.blobs: dict[str, git.Blob] = {}
        self.found_context: RepoContext | None = None

    def dockerfiles(self) -> Iterator[str]:
        for path, blob in dockerfile_blobs(self.tree, self.paths):
            self.blobs[path] = blob
            yield path

    def read(self, path: str) -> bytes:
        data: bytes = self.blobs[path].data_stream.read()
        return data

    def context_reader(self, path: str) -> Callable[[str], bytes | None]:
        return tree_reader(self.tree, path)

    @property
    def context(self) -> RepoContext:
        if self.found_context is None:
            self.found_context = tree_context(self.tree)
        return self.found_context

    def repository(self, path: str) -> Repository:
        return Repository(path, self.context)

    def from_root(self, path: str) -> str:
        return path


def skipped(path: str) -> bool:
    return any(part in SKIP_DIRS for part in path.split("/")[:-1])


def selected(path: str, paths: Sequence[str]) -> bool:
    return not paths or any(p in ("", ".") or path == p or path.startswith(p + "/") for p in paths)


def dockerfile_blobs(tree: git.Tree, paths: Sequence[str]) -> Iterator[tuple[str, git.Blob]]:
    """(path, blob) of each Dockerfile of ``tree``: by name under ``paths``, or named exactly."""
    import git

    explicit = {p.strip("/") for p in paths}
    for item in tree.traverse():
        if not isinstance(item, git.Blob) or item.mode not in BLOB_MODES:
            continue
        path = str(item.path)
        if path in explicit or (
            selected(path, paths) and not skipped(path) and is_dockerfile_name(item.name)
        ):
            yield path, item


def tree_reader(tree: git.Tree, dockerfile_path: str) -> Callable[[str], bytes | None]:
    """A ContextReader over the base tree, relative to the Dockerfile's directory."""
    import git

    directory = posixpath.dirname(dockerfile_path)

    def read(relpath: str) -> bytes | None:
        path = posixpath.normpath(posixpath.join(directory, relpath))
        if path.startswith("../") or path in ("..", ".") or posixpath.isabs(path):
            return None
        try:
            item = tree / path
        except KeyError:
            return None
        if not isinstance(item, git.Blob):
            return None
        data: bytes = item.data_stream.read()
        return data

    return read


def tree_context(tree: git.Tree) -> RepoContext:
    """The repository context (fixuser.project.read) of a commit: its compose files, workflows,
    manifests, ... as committed, so what ships is judged on the tree being fixed."""
    import git

    from fixuser.project.names import TOOL_CACHES, is_context_name
    from fixuser.tree.context import context_of_files

    skip = SKIP_DIRS | TOOL_CACHES
    blobs: dict[str, git.Blob] = {}

    def prune(item: object, _depth: int) -> bool:
        return isinstance(item, git.Tree) and item.name in skip

    for item in tree.traverse(prune=prune):
        if isinstance(item, git.Blob) and item.mode in BLOB_MODES and is_context_name(item.name):
            blobs[str(item.path)] = item

    def reader(blob: git.Blob) -> Callable[[], bytes | None]:
        return lambda: blob.data_stream.read()

    def exists(path: str) -> bool:
        try:
            return isinstance(tree / path, git.Blob)
        except KeyError:
            return False

    return context_of_files({path: reader(b) for path, b in blobs.items()}, exists)
