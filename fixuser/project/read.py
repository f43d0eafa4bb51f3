"""Each of a repository's context files, to the reader of its kind: the one way in.

Compose files, bake files, CI workflows, Makefiles, justfiles and skaffold configs name the
Dockerfiles they build and the stage (``--target``) of each: those stages ship, so those are
the stages that must not run as root. Compose files and Kubernetes manifests (Helm templates
too) can override at run time the user an image runs as (``user: root``, ``runAsUser: 0``,
``privileged``): findings of their own, with file and line. A compose service's bind mounts and
low ports are what a non-root user trips over, so a caller can say what to chown.

``read_context(files)`` takes the files already read, as (repository-relative path, bytes):
fixuser.tree.context reads them from a work tree, fixuser.branches from a commit's tree. Each
file goes to the reader of its kind (fixuser.project.names.kind_of): compose, kubernetes (and
Helm), ci (GitHub Actions, GitLab CI, skaffold), make (Makefiles, justfiles), bake.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from fixuser.project import bake, ci, compose, devcontainer, kubernetes, make
from fixuser.project.kubernetes import looks_like_manifest
from fixuser.project.model import Found, Note, RepoContext
from fixuser.project.names import (
    BAKE_HCL,
    BAKE_JSON,
    COMPOSE,
    DEVCONTAINER,
    GITLAB,
    HELM,
    JUST,
    MAKE,
    MANIFEST,
    SCRIPT,
    SKAFFOLD,
    WORKFLOW,
    chart_dirs,
    kind_of,
)

# A context file larger than this is generated, not written: skipped with a note, whether it
# comes from a work tree or a commit (a reader of files need read no more than one byte past).
MAX_BYTES = 4 << 20

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
    SCRIPT: make.read_script,
    DEVCONTAINER: devcontainer.read_devcontainer,
}


def read_context(
    files: Iterable[tuple[str, bytes]],
    exists: Callable[[str], bool] | None = None,
    notes: Iterable[Note] = (),
) -> RepoContext:
    """The context of a repository from its files, each (path relative to its root, its bytes;
    a Chart.yaml's may be empty: only its presence matters). ``exists`` answers whether a
    repository-relative file exists: podman, buildah and kaniko look for ``-f`` beside the
    current directory first, then in the context; without it, the current directory wins and
    missing Dockerfiles are not noted. ``notes``: what the caller could not read."""
    given = dict(files)
    charts = chart_dirs(given)
    found = Found(exists)
    skipped = list(notes)
    read: list[str] = []
    for path in sorted(given):
        kind = kind_of(path, charts)
        if kind is None:
            continue
        text = decode(given[path], path, skipped, kind == MANIFEST)
        if text is None or (kind == MANIFEST and not looks_like_manifest(text)):
            continue
        if "fixuser" in text:  # most files: no pragma to look for (Found.pragma)
            found.lines[path] = text.splitlines()
        READERS[kind](path, text, found)
        read.append(path)
    return found.freeze(read, skipped)


def decode(data: bytes, path: str, notes: list[Note], maybe: bool = False) -> str | None:
    """A context file's text, or None with a note; ``maybe``: any YAML file, which may be a
    manifest, and which is dropped without a word when it plainly is not one."""
    if maybe and not looks_like_manifest(data):
        return None
    if len(data) > MAX_BYTES:
        notes.append(Note(path, 0, f"larger than {MAX_BYTES >> 20} MiB, skipped"))
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        notes.append(Note(path, 0, "not UTF-8 text, skipped"))
        return None
