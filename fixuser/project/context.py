"""What a repository's other files say about its Dockerfiles (issue 11).

Compose files, bake files, CI workflows, Makefiles, justfiles and skaffold configs name the
Dockerfiles they build and the stage (``--target``) of each: those stages ship, so those are
the stages that must not run as root. Compose files and Kubernetes manifests (Helm templates
too) can override at run time the user an image runs as (``user: root``, ``runAsUser: 0``,
``privileged``): findings of their own, with file and line. A compose service's bind mounts and
low ports are what a non-root user trips over, so a caller can say what to chown.

``discover_context(root)`` does the I/O: one directory walk matching names only, so a tree
without such files costs a walk and nothing more (PyYAML is imported only when a YAML file is
read). ``read_context(texts)`` is the pure rest: texts by repository-relative path in, a
``RepoContext`` out, each file read by the reader of its kind (fixuser.project.compose,
kubernetes, ci, make, bake).
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.project import bake, ci, compose, kubernetes, make
from fixuser.project.kubernetes import looks_like_manifest
from fixuser.project.model import Found, Note, RepoContext
from fixuser.project.names import (  # discovery reads them without loading the readers
    BAKE_PREFIX,
    CHART,
    COMPOSE_NAMES,
    COMPOSE_PREFIXES,
    GITLAB_NAMES,
    JUSTFILES,
    MAKEFILES,
    SKAFFOLD_NAMES,
    TOOL_CACHES,
    YAML_SUFFIXES,
    is_context_name,
)
from fixuser.tree import fileio

if TYPE_CHECKING:
    from fixuser.tree.discover import ContextWalk

MAX_BYTES = 4 << 20  # a context file larger than this is generated, not written: skipped


# --- the walk (the only I/O) --------------------------------------------------------------


def repository_root(start: Path, default: Path | None = None) -> Path:
    """The nearest directory at or above ``start`` (a file or a directory) holding ``.git``,
    else ``default`` (else ``start``'s own directory)."""
    from fixuser.tree.discover import git_root

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
    from fixuser.tree.discover import SKIP_DIRS

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


def wanted(paths: Sequence[str]) -> list[str]:
    """The paths among ``paths`` (candidates by name) that some reader reads."""
    charts = chart_dirs(paths)
    return [rel for rel in paths if kind_of(rel, charts) is not None or is_chart(rel)]


def decode(data: bytes, rel: str, notes: list[Note], maybe: bool = False) -> str | None:
    """A context file's text from its first MAX_BYTES + 1 bytes, or None with a note;
    ``maybe``: any YAML file, which may be a manifest, and which is dropped without a word when
    it plainly is not one."""
    if maybe and not looks_like_manifest(data):
        return None
    if len(data) > MAX_BYTES:
        notes.append(Note(rel, 0, f"larger than {MAX_BYTES >> 20} MiB, skipped"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(Note(rel, 0, "not UTF-8 text, skipped"))
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
    charts = chart_dirs(paths)
    notes: list[Note] = []
    texts: dict[str, str] = {}
    for rel in paths:
        if is_chart(rel):
            texts[rel] = ""  # only its presence matters
            continue
        data = files[rel]()
        if data is None:
            continue
        text = decode(data[: MAX_BYTES + 1], rel, notes, kind_of(rel, charts) == MANIFEST)
        if text is not None:
            texts[rel] = text
    return read_context(texts, exists, notes)


def discover_context(root: Path, walked: ContextWalk | None = None) -> RepoContext:
    """Every context file under ``root`` (the repository root), read; ``walked``: what
    ``walk`` finds there, when fixuser.tree.discover has collected it in its own walk of root."""
    from fixuser.tree.discover import git_ignored, inside

    base = str(root)
    found, links = walk(base) if walked is None else (sorted(walked[0]), walked[1])
    charts = chart_dirs(found)
    paths = wanted(found)
    if not paths:
        return RepoContext()
    absolute = {os.path.join(base, rel): rel for rel in paths}
    ignored = {absolute[path] for path in git_ignored(root, list(absolute))}
    notes: list[Note] = []
    texts: dict[str, str] = {}
    linked = set(links)
    for rel in paths:
        if rel in ignored:
            continue
        path = os.path.join(base, rel)
        if rel in linked and not inside(path, root):
            notes.append(Note(rel, 0, "symlink leads outside the repository, skipped"))
            continue
        if is_chart(rel):
            texts[rel] = ""  # only its presence matters
            continue
        text = read_text(path, rel, notes, kind_of(rel, charts) == MANIFEST)
        if text is not None:
            texts[rel] = text

    def exists(rel: str) -> bool:
        found = fileio.inside(base, rel)  # None: it leads out of the repository
        return found is not None and os.path.isfile(found)

    return read_context(texts, exists, notes)


def read_text(path: str, rel: str, notes: list[Note], maybe: bool = False) -> str | None:
    """A context file's text, or None with a note; ``maybe``: any YAML file, which may be a
    manifest, and which is dropped without a word when it plainly is not one. What is not a
    regular file (a FIFO would hang the run) is not opened."""
    try:
        data = fileio.read(path, limit=MAX_BYTES + 1)
    except fileio.FileProblem as problem:
        if not maybe:
            notes.append(Note(rel, 0, f"cannot be read, skipped: {problem}"))
        return None
    return decode(data, rel, notes, maybe)


# --- which reader reads which file --------------------------------------------------------

COMPOSE, BAKE_HCL, BAKE_JSON, WORKFLOW, GITLAB, MAKE, JUST, SKAFFOLD, HELM, MANIFEST = (
    "compose",
    "bake-hcl",
    "bake-json",
    "workflow",
    "gitlab",
    "make",
    "just",
    "skaffold",
    "helm",
    "manifest",
)


def is_chart(path: str) -> bool:
    return path == CHART or path.endswith("/" + CHART)


def chart_dirs(paths: Iterable[str]) -> set[str]:
    """The directories holding a Chart.yaml (as ``dir/``, ``""`` for the root)."""
    return {path[: -len(CHART)] for path in paths if is_chart(path)}


def kind_of(path: str, charts: set[str]) -> str | None:
    directory, name = posixpath.split(path)
    if name == CHART:
        return None
    if name in COMPOSE_NAMES or (
        name.startswith(COMPOSE_PREFIXES) and name.endswith(YAML_SUFFIXES)
    ):
        return COMPOSE
    if name.startswith(BAKE_PREFIX):
        return BAKE_HCL if name.endswith(".hcl") else BAKE_JSON if name.endswith(".json") else None
    if name in GITLAB_NAMES:
        return GITLAB
    if name in MAKEFILES or name.endswith(".mk"):
        return MAKE
    if name in JUSTFILES or name.endswith(".just"):
        return JUST
    if name in SKAFFOLD_NAMES:
        return SKAFFOLD
    if not name.endswith(YAML_SUFFIXES):
        return None
    if directory == ".github/workflows" or directory.endswith("/.github/workflows"):
        return WORKFLOW
    if any(path.startswith(chart + "templates/") for chart in charts):
        return HELM
    return MANIFEST


def read_context(
    texts: Mapping[str, str],
    exists: Callable[[str], bool] | None = None,
    notes: Iterable[Note] = (),
) -> RepoContext:
    """The context of a repository from its files' texts, by path relative to its root.
    ``exists`` answers whether a repository-relative file exists: podman, buildah and kaniko
    look for ``-f`` beside the current directory first, then in the context; without it, the
    current directory wins and missing Dockerfiles are not noted."""
    charts = chart_dirs(texts)
    found = Found(exists)
    read: list[str] = []
    for path in sorted(texts):
        kind = kind_of(path, charts)
        if kind is None:
            continue
        text = texts[path]
        if kind == MANIFEST and not looks_like_manifest(text):
            continue
        READERS[kind](path, text, found)
        read.append(path)
    return found.freeze(read, notes)


READERS: Mapping[str, Callable[[str, str, Found], None]] = {
    COMPOSE: compose.read_compose,
    BAKE_HCL: bake.read_bake_hcl,
    BAKE_JSON: bake.read_bake_json,
    WORKFLOW: ci.read_workflow,
    GITLAB: ci.read_gitlab,
    MAKE: make.read_makefile,
    JUST: make.read_justfile,
    SKAFFOLD: ci.read_skaffold,
    HELM: kubernetes.read_helm,
    MANIFEST: kubernetes.read_manifest,
}
