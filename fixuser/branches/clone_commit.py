"""The fix commit in fixuser's own bare clone, its objects written in Python and published by one
``update-ref``; the leased push of it; and whether a branch already there is this very fix.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches import repo
from fixuser.branches.clones import branch_tip
from fixuser.branches.commit import commit_tree
from fixuser.branches.gitrun import run_git
from fixuser.branches.identity import Identity
from fixuser.branches.push import STALE, lease_push, push_problem
from fixuser.branches.safety import is_fixuser_branch

if TYPE_CHECKING:
    import git


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


def same_fix(clone: git.Repo, branch: str, plan: repo.RepoPlan) -> bool:
    """The existing branch is exactly this fix: one commit on the same base, the same files."""
    tip_sha = branch_tip(clone, branch)
    if tip_sha is None or not is_fixuser_branch(clone, branch):
        return False
    tip = clone.commit(tip_sha)
    if [p.hexsha for p in tip.parents] != [plan.head]:
        return False
    changed = {str(d.b_path or d.a_path) for d in tip.parents[0].diff(tip)}
    wanted = {f.path: f.result.output for f in plan.fixes}
    wanted |= {path: e.data for f in plan.fixes for path, e in repo.extra_files(f)}
    if changed != set(wanted):
        return False
    return all((tip.tree / path).hexsha == blob_sha(data) for path, data in wanted.items())


def store(clone: git.Repo, kind: bytes, data: bytes) -> bytes:
    """Write one loose object into the clone, in Python; its binary id. (``clone.odb.store``
    would run ``git hash-object`` for each object.)"""
    import io

    from gitdb import LooseObjectDB  # type: ignore[import-untyped]
    from gitdb.base import IStream  # type: ignore[import-untyped]

    loose = LooseObjectDB(os.path.join(clone.git_dir, "objects"))
    return bytes(loose.store(IStream(kind, len(data), io.BytesIO(data))).binsha)


def rewrite_tree(
    clone: git.Repo,
    tree: bytes,
    prefix: str,
    blobs: dict[str, bytes],
    new_modes: dict[str, int] | None = None,
) -> bytes:
    """``tree`` with the blobs at ``blobs``' paths replaced, subtrees rewritten as needed;
    a path of ``new_modes`` (a file the fix adds beside a Dockerfile) that the tree does not
    hold yet is added with its mode.

    Names and modes stay as they are, so the entries keep git's sort order (re-sorted, as git
    sorts them, only when a file was added).
    """
    import io

    from git.objects.fun import tree_entries_from_data, tree_to_stream

    entries = []
    for sha, mode, name in tree_entries_from_data(clone.odb.stream(tree).read()):
        path = f"{prefix}{name}"
        if path in blobs:
            sha = blobs[path]
        elif mode == 0o040000 and any(p.startswith(path + "/") for p in blobs):
            sha = rewrite_tree(clone, sha, path + "/", blobs, new_modes)
        entries.append((sha, mode, name))
    present = {f"{prefix}{name}" for _, _, name in entries}
    added = [
        (blobs[path], mode, path[len(prefix) :])
        for path, mode in (new_modes or {}).items()
        if path.startswith(prefix) and "/" not in path[len(prefix) :] and path not in present
    ]
    # A name that is not UTF-8 (read with surrogateescape) goes back as its bytes, in git's
    # order of bytes.
    named = [(sha, mode, name.encode("utf-8", "surrogateescape")) for sha, mode, name in entries]
    if added:
        added_named = [(s, m, n.encode("utf-8", "surrogateescape")) for s, m, n in added]
        named = sorted(named + added_named, key=lambda e: e[2] + (b"/" if e[1] == 0o40000 else b""))
    out = io.BytesIO()
    tree_to_stream(named, out.write)  # type: ignore[arg-type]  # it takes bytes names too
    return store(clone, b"tree", out.getvalue())


def commit_in_clone(
    clone: git.Repo,
    plan: repo.RepoPlan,
    branch: str,
    message: str,
    identity: Identity,
    old: str | None,
    *,
    sign: bool = False,
) -> str:
    """Commit ``plan.fixes`` on ``branch`` of fixuser's own bare clone; the new commit's sha.

    ``branches.commit.commit_fixes`` guards a user's repository (work in progress, uncommitted
    changes, checked-out branches) and spends some twenty git processes doing it; none of
    that can apply to a bare clone only fixuser uses. Here the objects are written in Python
    and one ``update-ref``, with the value the branch must still have, publishes the commit.
    With ``sign`` (commit.gpgsign) git makes the commit object, signed (``commit.commit_tree``).
    """
    blobs = {f.path: store(clone, b"blob", f.result.output) for f in plan.fixes}
    extras = [(path, e) for f in plan.fixes for path, e in repo.extra_files(f)]
    blobs |= {path: store(clone, b"blob", e.data) for path, e in extras}
    new_modes = {path: repo.blob_mode(e) for path, e in extras}
    import git

    head_tree = git.Commit(clone, bytes.fromhex(plan.head)).tree.binsha
    tree = rewrite_tree(clone, head_tree, "", blobs, new_modes)
    stamp = f"{int(time.time())} {time.strftime('%z')}"
    (an, ae), (cn, ce) = identity.author, identity.committer
    if sign:
        env = {
            "GIT_AUTHOR_NAME": an, "GIT_AUTHOR_EMAIL": ae, "GIT_AUTHOR_DATE": stamp,
            "GIT_COMMITTER_NAME": cn, "GIT_COMMITTER_EMAIL": ce, "GIT_COMMITTER_DATE": stamp,
        }  # fmt: skip
        sha = commit_tree(clone.git_dir, tree.hex(), plan.head, message, env, sign=True)
    else:
        body = (
            f"tree {tree.hex()}\nparent {plan.head}\n"
            f"author {an} <{ae}> {stamp}\ncommitter {cn} <{ce}> {stamp}\n\n{message}"
        )
        sha = store(clone, b"commit", body.encode("utf-8", "surrogateescape")).hex()
    expected = old or repo.ZERO_SHA
    try:
        run_git(
            "update-ref", "-m", f"fixuser batch: {branch}", f"refs/heads/{branch}", sha, expected,
            cwd=Path(clone.git_dir),
        )  # fmt: skip
    except repo.RepoError:
        raise repo.RepoError(f"branch {branch} changed while fixuser was working") from None
    return sha


class Conflict(repo.RepoError):
    """The remote's branch is not the one fixuser saw: somebody's work, never replaced."""


def push(
    clone_path: Path,
    remote: str,
    branch: str,
    *,
    expect: str | None,
    push_options: Sequence[str] = (),
) -> str:
    """Push ``branch`` with a lease on ``expect``, the remote tip fixuser saw when it fetched
    (None: the branch must not exist there), never a plain force push; what the remote said
    (GitLab names the merge request it made there). ``prepare`` made sure it is no checkout.

    Conflict when the remote's branch changed since; RepoError with the remote's own reason
    for any other refusal (a hook's message, a protected branch)."""
    proc = lease_push(clone_path, remote, branch, expect, push_options=push_options)
    if proc.returncode != 0:
        why = push_problem(proc)
        if STALE in why:
            raise Conflict(
                f"branch {branch} on {remote} changed while fixuser was working: not replaced"
            )
        raise repo.RepoError(f"push to {remote} failed: {why}")
    return proc.stderr
