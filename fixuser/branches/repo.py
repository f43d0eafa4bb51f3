"""Remediation branches: fix the Dockerfiles of a commit and commit the result on a new branch.

The user's working tree, index, stash and HEAD are never touched, not even for a moment. The
Dockerfiles are read from the base commit's blobs, the fixed blobs are written into the object
database, and the new commit is built from a temporary index file outside the repository
(``GIT_INDEX_FILE``); only ``refs/heads/<branch>`` is written, with ``update-ref`` and the
value it is expected to have, so a concurrent change of the branch is refused, not clobbered.
The repository's commit hooks run in a temporary worktree of their own (``run_commit_hooks``)
and the commit is signed by git when ``commit.gpgsign`` says so. A push carries a lease on the
remote branch fixuser saw (never a plain force push), and a refused push takes the branch back.
Every value from the user or the repository reaches git after ``--`` or as a literal pathspec.

GitPython is imported inside the functions so ``fixuser check`` never pays for it.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches import review
from fixuser.branches.review import FileFix as FileFix  # a repository's fixed file
from fixuser.core import Build, builds
from fixuser.errors import FixuserError
from fixuser.model import ExtraFile
from fixuser.settings import DEFAULT_BRANCH as DEFAULT_BRANCH  # callers read it here too
from fixuser.settings import Settings
from fixuser.tree.gittree import GitTree, selected
from fixuser.tree.gittree import dockerfile_blobs as dockerfile_blobs  # batch's
from fixuser.tree.pipeline import fix_all

if TYPE_CHECKING:
    import git

    from fixuser.project.model import Note, Override

FORMAT = "--format=commit %H%nAuthor: %an <%ae>%n%n%w(0,4,4)%B"
TRAILER = "Fixed-by: fixuser"
FALLBACK_NAME = "fixuser"
FALLBACK_EMAIL = "fixuser@localhost"
ZERO_SHA = "0" * 40
EXIT_OK = 0
EXIT_REFUSED = 2
# Per-worktree state files that mean the user is in the middle of something.
IN_PROGRESS = {
    "MERGE_HEAD": "a merge",
    "rebase-merge": "a rebase",
    "rebase-apply": "a rebase or am",
    "CHERRY_PICK_HEAD": "a cherry-pick",
    "REVERT_HEAD": "a revert",
}


class RepoError(FixuserError):
    """fixuser refuses to touch the repository; the message is one line."""


def extra_files(f: FileFix) -> list[tuple[str, ExtraFile]]:
    """The files the fix of ``f`` adds (the entrypoint wrapper), each by its repository path:
    beside the Dockerfile, whose directory is taken to be the build context."""
    directory = posixpath.dirname(f.path)
    return [(posixpath.join(directory, e.path), e) for e in f.result.extra_files]


def blob_mode(extra: ExtraFile) -> int:
    return 0o100755 if extra.mode & 0o111 else 0o100644


@dataclasses.dataclass(frozen=True)
class RepoPlan:
    head: str  # the commit the fixes are based on
    fixes: tuple[FileFix, ...]  # the Dockerfiles that changed
    findings: tuple[FileFix, ...]  # every Dockerfile found, changed or not
    errors: tuple[str, ...]  # "path: problem"
    overrides: tuple[Override, ...] = ()  # run-time settings that undo USER (compose, k8s)
    notes: tuple[Note, ...] = ()  # context files read but not understood


def open_repo(path: Path) -> git.Repo:
    import git

    try:
        return git.Repo(path, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise RepoError(f"{path}: not a git repository") from None


def resolve_commit(repo: git.Repo, base: str) -> git.Commit:
    import git

    try:
        return repo.commit(base)
    except (git.BadName, ValueError):
        if base == "HEAD":
            raise RepoError("HEAD is unborn: commit something first") from None
        raise RepoError(f"{base}: no such commit") from None


def plan_repository(
    repo_path: Path,
    settings: Settings | Callable[[str], Settings],
    base: str = "HEAD",
    paths: Sequence[str] = (),
) -> RepoPlan:
    """Fix every Dockerfile of ``base``'s tree in memory (the working tree is never read),
    every stage the repository ships (its compose files, workflows, ... in that tree)."""
    repo = open_repo(repo_path)
    commit = resolve_commit(repo, base)
    tree = GitTree(commit.tree, paths)
    context = tree.context
    findings: list[FileFix] = []
    errors: list[str] = []
    found: set[str] = set()
    for item in fix_all(tree, settings):
        found.add(item.path)
        if item.result is None:
            errors.append(f"{item.path}: {item.error}")
            continue
        mounts, low_ports = context.mounts(item.path), context.low_ports(item.path)
        proofs: tuple[Build, ...] = ()
        if item.result.changed:  # what batch --verify and fix --commit --verify build
            chosen = settings(item.path) if callable(settings) else settings
            reader = tree.context_reader(item.path)
            proofs = tuple(builds(item.path, item.source, item.result, chosen, reader))
        findings.append(FileFix(item.path, item.result, tuple(mounts), tuple(low_ports), proofs))
    for p in paths:
        p = p.strip("/")
        if p not in ("", ".") and not any(selected(f, [p]) for f in found):
            errors.append(f"{p}: no Dockerfile there in {base} ({commit.hexsha[:7]})")
    return RepoPlan(
        head=commit.hexsha,
        fixes=tuple(f for f in findings if f.result.changed),
        findings=tuple(findings),
        errors=tuple(errors),
        overrides=context.overrides,
        notes=context.notes,
    )


def base_blob(repo_path: Path, commit: str, path: str) -> bytes:
    """The content of ``path`` in ``commit`` (what a fix started from)."""
    data: bytes = (open_repo(repo_path).commit(commit).tree / path).data_stream.read()
    return data


def render_commit_message(
    plan: RepoPlan, *, signoff: str | None = None, branch: str | None = None
) -> str:
    """The message of the commit that fixes ``plan`` (see ``fixuser.branches.review``)."""
    return review.commit_message(
        plan.fixes, branch=branch, signoff=signoff, overrides=override_texts(plan)
    )


def override_texts(plan: RepoPlan) -> list[str]:
    """``compose.yaml:10: service worker runs as root (user: root)`` for each override."""
    return [o.text for o in plan.overrides]


def context_lines(plan: RepoPlan) -> list[str]:
    """What the repository's context says that the fix does not change, one line each: its
    run-time overrides, and the context files it could not read."""
    return [
        *(f"{text} (a USER in the image does not change that)" for text in override_texts(plan)),
        *(f"warning: {note.text}" for note in plan.notes),
    ]


def shipped_line(f: FileFix) -> str | None:
    """``ships: prod (compose.yaml:5), dev (Makefile:3)`` when the repository says what it
    builds of ``f``; None when only the last stage ships."""
    targets = f.result.analysis.targets
    if not targets:
        return None
    return "ships: " + ", ".join(f"{t.stage} ({t.source})" for t in targets)
