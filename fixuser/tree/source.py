"""Where the Dockerfiles a run fixes come from: a Source, and the work tree's one.

A Source answers three questions, and fixuser.tree.pipeline.fix_all asks nothing else of it:
which Dockerfiles to consider (each by a path, or the one-line problem of a path that cannot be
used), how to read one and the files of its build context, and what the repository around it
builds (its compose files, bake files, workflows...: fixuser.project.model.RepoContext). Two
sources exist: WorkTree here, over the directories and files given on the command line
(``check``, ``fix``, ``verify``), and fixuser.tree.gittree.GitTree over a commit's tree
(``fix --commit``, the session, ``batch``).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from fixuser.model import ContextReader, Role, Target
from fixuser.tree import fileio
from fixuser.tree.discover import ContextWalk, DiscoveryError, discover, git_root

if TYPE_CHECKING:  # the context module (and PyYAML with it) loads only when a check reads one
    from fixuser.project.model import Override, RepoContext


class Repository(NamedTuple):
    """The repository a Dockerfile is in: its path there (``/``-separated) and its context."""

    path: str
    context: RepoContext
    root: str = ""  # its directory, when on disk: paths in what it says are shown from here


class Source(Protocol):
    def dockerfiles(self) -> Iterable[str | DiscoveryError]:
        """Each Dockerfile to consider, in the order results are given, or why a path named
        or found cannot be used."""
        ...

    def read(self, path: str) -> bytes:
        """The Dockerfile's bytes; fileio.FileProblem when they cannot be read."""
        ...

    def context_reader(self, path: str) -> ContextReader:
        """Reads the files of the Dockerfile's build context (its directory)."""
        ...

    def repository(self, path: str) -> Repository | None:
        """The repository around the Dockerfile; None when nothing is known of one."""
        ...

    def from_root(self, path: str) -> str:
        """The Dockerfile's path from its repository's root, ``/``-separated: what
        ``--exclude`` globs match (fixuser.tree.exclude)."""
        ...


class WorkTree:
    """The Dockerfiles under ``paths`` (directories are searched, files taken as named), read
    from disk. ``context``: each one's repository context is read (every stage the repository
    ships is then fixed); without it (``--target`` names the stage) nothing else is read.

    A WorkTree goes to worker processes (fixuser.tree.workers) without its contexts: a worker
    only reads Dockerfiles and their build contexts."""

    def __init__(self, paths: Sequence[str], *, context: bool = True) -> None:
        self.paths = list(paths) or ["."]
        self.roots = Contexts(self.paths)  # nothing is read until a context is asked for
        self.contexts = self.roots if context else None

    def dockerfiles(self) -> Iterable[str | DiscoveryError]:
        return discover(self.paths, self.contexts.walked if self.contexts else None)

    def read(self, path: str) -> bytes:
        return fileio.read(path)

    def context_reader(self, path: str) -> ContextReader:
        return fileio.context_reader(path)

    def repository(self, path: str) -> Repository | None:
        if self.contexts is None:
            return None
        root, context = self.contexts.of(path)
        if context is None:  # nothing named like a context file: the path alone says a role
            from fixuser.project.model import RepoContext

            context = RepoContext()
        relative = os.path.relpath(os.path.abspath(path), root)
        return Repository(relative.replace(os.sep, "/"), context, root)

    def from_root(self, path: str) -> str:
        root = self.roots.root(os.path.dirname(os.path.abspath(path)))
        return os.path.relpath(os.path.abspath(path), root).replace(os.sep, "/")

    def overrides(self) -> list[Override]:
        return self.contexts.overrides() if self.contexts else []

    def notes(self) -> list[tuple[str, str]]:
        return self.contexts.notes() if self.contexts else []

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "contexts": None, "roots": None}


def targets_of(source: Source, path: str, target: str | None) -> tuple[Target, ...]:
    """The stages the repository builds of the Dockerfile at ``path``; none when ``target``
    (--target) names one, or nothing in the repository builds anything (the last stage ships)."""
    if target is not None:
        return ()
    found = source.repository(path)
    if found is None or not found.context.builders:
        return ()
    return tuple(found.context.targets(found.path))


def role_of(source: Source, path: str, overrides: Sequence[tuple[str, str]] = ()) -> Role:
    """The role of the Dockerfile at ``path`` from its repository (fixuser.project.roles), by
    its repository path. Nothing is known of a repository with --target (the stage is named):
    then only ``overrides`` (--role, by the path as given) can say a role. The default
    ``service`` when nothing says otherwise (the core may still tell from the Dockerfile)."""
    found = source.repository(path)
    if found is None:
        if not overrides:
            return Role()  # the readers (fixuser.project) stay unloaded
        from fixuser.project.roles import overridden

        return overridden(path.replace(os.sep, "/"), overrides) or Role()
    from fixuser.project.roles import from_context

    role = from_context(found.path, found.context, overrides)
    if found.root and role.evidence and role.evidence != "settings":
        # as the user would type it from here, like the overrides (Contexts.overrides)
        file, colon, line = role.evidence.rpartition(":")
        file, line = (file, colon + line) if colon and line.isdigit() else (role.evidence, "")
        shown = os.path.relpath(os.path.join(found.root, file)).replace(os.sep, "/")
        role = role._replace(evidence=shown + line)
    return role


class Contexts:
    """The repository context of each Dockerfile of a work tree (tree.context), read once per
    repository: the nearest directory with .git at or above the path given on the command line
    (outside git, that path itself, or the current directory)."""

    def __init__(self, paths: Sequence[str] = ()) -> None:
        self.by_root: dict[str, RepoContext] = {}
        self.by_dir: dict[str, str] = {}  # a Dockerfile's directory -> its root
        given = [
            os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".") for p in paths
        ]
        # the deepest given path first: a Dockerfile belongs to the nearest one above it
        self.given = sorted({*given, os.getcwd()}, key=len, reverse=True)
        self.root_of_given: dict[str, str] = {}
        # each directory discovery walked -> the context files it found there (see
        # discover.walk): a root among them is not walked again
        self.walked: dict[str, ContextWalk] = {}

    def root(self, directory: str) -> str:
        """The root for a Dockerfile in ``directory`` (absolute); looked up once per given
        path and once per directory, so a tree of Dockerfiles costs a dictionary lookup each."""
        found = self.by_dir.get(directory)
        if found is None:
            given = next(
                (g for g in self.given if directory == g or directory.startswith(g + os.sep)),
                directory,
            )
            if given not in self.root_of_given:
                self.root_of_given[given] = git_root(given) or given
            found = self.by_dir[directory] = self.root_of_given[given]
        return found

    def of(self, dockerfile: str) -> tuple[str, RepoContext | None]:
        """The root of ``dockerfile`` and its context; None when discovery walked that root and
        found nothing named like a context file: nothing to read, and the readers
        (fixuser.project.read, ~10 ms to load) stay unloaded."""
        key = self.root(os.path.dirname(os.path.abspath(dockerfile)))
        if key in self.by_root:
            return key, self.by_root[key]
        walked = self.walked.get(key)
        if walked is not None and not walked[0]:
            return key, None
        from fixuser.tree.context import discover_context

        found = self.by_root[key] = discover_context(Path(key), walked)
        return key, found

    def overrides(self) -> list[Override]:
        """Every run-time override found, with paths as the user would type them from here."""
        found = []
        for root, context in self.by_root.items():
            for override in context.overrides:
                path = os.path.relpath(os.path.join(root, override.path))
                found.append(override._replace(path=path))
        return found

    def notes(self) -> list[tuple[str, str]]:
        """(path, problem) for each context file read but not understood."""
        return [
            (
                os.path.relpath(os.path.join(root, n.path)),
                f"line {n.line}: {n.message}" if n.line else n.message,
            )
            for root, context in self.by_root.items()
            for n in context.notes
        ]
