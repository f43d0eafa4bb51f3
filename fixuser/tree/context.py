"""The repository's context files, found and read: the I/O of fixuser.project's readers.

One directory walk matching names only (fixuser.project.names), so a tree without such files
costs a walk and nothing more: the readers (fixuser.project.read) and PyYAML load only when a
file is there to read. What git ignores is not read, nor a symlink that leads out of the
repository, nor what is not a regular file (a FIFO would hang the run: fixuser.tree.fileio
refuses it), and no file past fixuser.project.read.MAX_BYTES.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

from fixuser.project.model import Note, RepoContext
from fixuser.project.names import (
    MANIFEST,
    TOOL_CACHES,
    chart_dirs,
    is_chart,
    is_context_name,
    kind_of,
    wanted,
)
from fixuser.tree import fileio
from fixuser.tree.discover import SKIP_DIRS, ContextWalk, git_ignored, git_root, inside


def repository_root(start: Path, default: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (a file or a directory) holding ``.git``,
    else ``default`` (else ``start``'s own directory)."""
    directory = start if start.is_dir() else start.parent
    found = git_root(str(directory.absolute()))
    if found is not None:
        return Path(found)
    return default if default is not None else directory


def walk(root: str) -> tuple[list[str], list[str]]:
    """The candidate context files below ``root`` (relative, ``/``-separated), sorted, and the
    symlinks among them. Skips what discover.py skips (.git, node_modules, vendor, ...) and,
    like os.walk, never enters a symlinked directory. Listings are not sorted (only the few
    files found are): on a tree without context files the walk is all discovery costs."""
    skip = SKIP_DIRS | TOOL_CACHES

    found: list[str] = []
    links: list[str] = []
    pending = [("", root)]
    while pending:
        prefix, directory = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = list(listing)
        except OSError:
            continue
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            if is_dir:
                if entry.name not in skip and not entry.is_symlink():
                    pending.append((f"{prefix}{entry.name}/", entry.path))
            elif is_context_name(entry.name):
                found.append(prefix + entry.name)
                if entry.is_symlink():
                    links.append(prefix + entry.name)
    return sorted(found), links


def discover_context(root: Path, walked: ContextWalk | None = None) -> RepoContext:
    """Every context file under ``root`` (the repository root), read; ``walked``: what
    ``walk`` finds there, when fixuser.tree.discover has collected it in its own walk of root."""
    base = str(root)
    found, links = walk(base) if walked is None else (sorted(walked[0]), walked[1])
    charts = chart_dirs(found)
    paths = wanted(found)
    if not paths:
        return RepoContext()
    from fixuser.project.read import MAX_BYTES, read_context  # the readers: only now

    absolute = {os.path.join(base, rel): rel for rel in paths}
    ignored = {absolute[path] for path in git_ignored(root, list(absolute))}
    notes: list[Note] = []
    files: list[tuple[str, bytes]] = []
    linked = set(links)
    for rel in paths:
        if rel in ignored:
            continue
        path = os.path.join(base, rel)
        if rel in linked and not inside(path, root):
            notes.append(Note(rel, 0, "symlink leads outside the repository, skipped"))
            continue
        if is_chart(rel):
            files.append((rel, b""))  # only its presence matters
            continue
        data = read_file(path, rel, notes, MAX_BYTES + 1, kind_of(rel, charts) == MANIFEST)
        if data is not None:
            files.append((rel, data))

    def exists(rel: str) -> bool:
        found = fileio.inside(base, rel)  # None: it leads out of the repository
        return found is not None and os.path.isfile(found)

    return read_context(files, exists, notes)


def read_file(path: str, rel: str, notes: list[Note], limit: int, maybe: bool) -> bytes | None:
    """A context file's first ``limit`` bytes, or None with a note; ``maybe``: any YAML file,
    which may be a manifest, and which is dropped without a word when it cannot be read. What
    is not a regular file is not opened."""
    try:
        return fileio.read(path, limit=limit)
    except fileio.FileProblem as problem:
        if not maybe:
            notes.append(Note(rel, 0, f"cannot be read, skipped: {problem}"))
        return None


def context_of_files(
    files: Mapping[str, Callable[[], bytes | None]], exists: Callable[[str], bool]
) -> RepoContext:
    """The context of a repository whose candidate files (by name, repository-relative) are
    read by the callables of ``files``: a commit's tree rather than the working tree. A reader
    returns None for what is not a regular file."""
    paths = wanted(sorted(files))
    if not paths:
        return RepoContext()
    from fixuser.project.read import MAX_BYTES, read_context  # the readers: only now

    contents: list[tuple[str, bytes]] = []
    for rel in paths:
        if is_chart(rel):
            contents.append((rel, b""))  # only its presence matters
            continue
        data = files[rel]()
        if data is not None:
            contents.append((rel, data[: MAX_BYTES + 1]))
    return read_context(contents, exists)
