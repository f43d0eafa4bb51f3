"""fixuser's bare clones in its cache: one per repository, made in a temporary directory and
renamed into place, fetched again (pruned) when present, locked while a repository is worked
on, and read in Python (refs, the base commit, the push URL) without a git process.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches import repo
from fixuser.branches.gitrun import run_git

if TYPE_CHECKING:
    import git

URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/:]+@[^/:]+:")  # scheme:// or scp-like user@host:


def is_url(spec: str) -> bool:
    return bool(URL_RE.match(spec))


def cache_dir(workdir: Path, source: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", source.rstrip("/").removesuffix(".git"))[-60:]
    return workdir / "repos" / f"{slug.strip('-.') or 'repo'}-{sha(source)[:12]}"


def sha(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()


@dataclasses.dataclass(frozen=True)
class Source:
    """Where a repository comes from and where its clone lives in the cache."""

    spec: str  # as given
    url: str  # what is cloned and fetched
    checkout: bool  # a user's checkout: cloned, and its own remote receives the push
    clone: Path  # the bare clone in the cache


def source_of(spec: str, workdir: Path) -> Source:
    """A checkout is cloned and its own remote receives the push, so the checkout itself is
    never written to."""
    if is_url(spec):
        return Source(spec, spec, False, cache_dir(workdir, spec))
    path = Path(spec).expanduser()
    if not path.is_dir():
        raise repo.RepoError(f"{spec}: no such repository")
    path = path.resolve()
    # Bare: HEAD and objects/ at the top. Told from the files, as git does, without a process.
    if (path / "HEAD").is_file() and (path / "objects").is_dir() and not (path / ".git").exists():
        return Source(spec, str(path), False, cache_dir(workdir, str(path)))
    top = run_git("rev-parse", "--show-toplevel", cwd=path).strip()
    return Source(spec, top, True, cache_dir(workdir, top))


LOCK_WAIT = 600.0  # seconds another batch may hold a clone before this one gives up on it


@contextlib.contextmanager
def locked(clone: Path) -> Iterator[None]:
    """Hold the clone for one repository's whole run (fetch, commit, push): another batch
    process on the same --workdir (or another thread given the same repository twice) waits
    for it, so nobody deletes or rewrites a clone somebody else is using. The kernel drops
    the lock of a process that dies, so a leftover never blocks."""
    locks = clone.parent.parent / "locks"
    locks.mkdir(parents=True, exist_ok=True)
    with open(locks / f"{clone.name}.lock", "a+b") as f:
        deadline = time.monotonic() + LOCK_WAIT
        while True:
            try:
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise repo.RepoError(
                        f"{clone} is in use by another fixuser batch (waited {LOCK_WAIT:.0f} s)"
                    ) from None
                time.sleep(0.1)
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def prepare(source: Source, remote: str, branch: str, *, push: bool) -> Path:
    """A bare clone of ``source`` in the cache, up to date with it (``locked`` held).

    The fetch prunes: a branch deleted at the source is gone from the clone too, so "the
    branch exists" is what the source says. For a checkout, the fix branch is then taken
    from the checkout's remote, where it is pushed: that is the tip a push may replace.
    """
    target = source.clone
    push_url = checkout_push_url(source, remote, push=push)
    if push and is_checkout_url(push_url or source.url):
        raise repo.RepoError(
            f"{source.spec}: the push would go to {push_url or source.url}, a checkout with a "
            "working tree: fixuser never pushes into a checkout (give its remote's URL)"
        )
    if target.exists():
        run_git("fetch", "--quiet", "--force", "--prune", "--", remote,
                "+refs/heads/*:refs/heads/*", cwd=target)  # fmt: skip
    else:
        clone_into(source, target, remote)
    if push_url is not None:
        run_git("remote", "set-url", "--push", "--", remote, push_url, cwd=target)
        branch_from_push_remote(target, push_url, branch)
    return target


def clone_into(source: Source, target: Path, remote: str) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # A clone killed part-way: under the lock, no live batch is making one for this target.
    for leftover in target.parent.glob(f".{target.name}.*"):
        shutil.rmtree(leftover, ignore_errors=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
    try:
        run_git("clone", "--quiet", "--bare", "--origin", remote, "--", source.url, str(tmp))
        # A rename is atomic: an interrupted clone never looks like a finished one.
        tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def checkout_push_url(source: Source, remote: str, *, push: bool) -> str | None:
    """Where the fix of a checkout is pushed: its own remote's URL. A checkout without that
    remote is an error when pushing: fixuser never pushes into a checkout itself."""
    if not source.checkout:
        return None
    url = local_remote_url(Path(source.url), remote)
    if url is not None and (path := local_path(url, Path(source.url))) is not None:
        url = str(path)  # a relative URL is relative to the checkout, not to the clone
    if url is None and push:
        raise repo.RepoError(
            f"{source.spec} is a checkout without a remote named {remote}: fixuser "
            "pushes to a checkout's remote, never into the checkout (give the remote's URL, or "
            "--remote NAME)"
        )
    return url


def local_remote_url(checkout: Path, remote: str) -> str | None:
    try:
        return run_git("remote", "get-url", "--", remote, cwd=checkout).strip() or None
    except repo.RepoError:
        return None


def branch_from_push_remote(clone: Path, url: str, branch: str) -> None:
    """The clone's ``branch`` as the remote at ``url`` has it (deleted when it has none)."""
    ref = f"refs/heads/{branch}"
    listed = run_git("ls-remote", "--", url, ref, cwd=clone)
    if any(line.split("\t")[-1] == ref for line in listed.splitlines()):
        run_git("fetch", "--quiet", "--force", "--", url, f"+{ref}:{ref}", cwd=clone)
    else:
        run_git("update-ref", "-d", ref, cwd=clone)  # a no-op when there is none


def local_path(url: str, cwd: Path) -> Path | None:
    """The directory a local URL (a path, or file://) names, relative ones from ``cwd``;
    None for a remote one (a scheme, or scp-like host:path)."""
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        return Path(urllib.parse.unquote(parts.path)) if parts.scheme == "file" else None
    if re.match(r"^[^/]*:", url):
        return None
    return (cwd / url).resolve()


def is_checkout_url(url: str) -> bool:
    """``url`` (where a push goes) is a local repository with a working tree: a checkout."""
    path = local_path(url, Path.cwd())
    if path is None:
        return False
    if (path / ".git").exists():
        return True
    config = path / "config"
    if not config.is_file():
        return False
    from git.config import GitConfigParser

    try:  # read in Python: one process less per repository
        reader = GitConfigParser(str(config), read_only=True)
        return not reader.getboolean("core", "bare", fallback=True)
    except (ValueError, OSError, KeyError) as e:
        raise repo.RepoError(f"{config}: cannot read it: {e}") from None


def intact(clone: Path) -> bool:
    """Every object the clone's refs reach is there (``git fsck --connectivity-only``)."""
    proc = subprocess.run(
        ["git", "fsck", "--connectivity-only", "--no-dangling", "--no-progress"],
        cwd=clone, capture_output=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    return proc.returncode == 0


def commit_at(clone: git.Repo, ref: str) -> git.Commit:
    """The commit ``ref`` names, resolved from the ref files in Python. ``Repo.commit()`` would
    also ask ``cat-file --batch-check`` for its type: one more process per repository."""
    import git

    try:
        sha = git.SymbolicReference.dereference_recursive(clone, ref)
    except ValueError:
        raise repo.RepoError(f"{ref.removeprefix('refs/heads/')}: no such branch") from None
    return git.Commit(clone, bytes.fromhex(sha))


def default_branch(clone: git.Repo) -> str | None:
    """The branch HEAD names in the bare clone: the remote's default branch."""
    try:
        return str(clone.head.reference.path).removeprefix("refs/heads/") or None
    except (TypeError, ValueError):  # a detached HEAD
        return None


def branch_tip(clone: git.Repo, branch: str) -> str | None:
    """Read from the ref files in Python: no ``git rev-parse`` per repository."""
    import git

    try:
        return str(git.Head(clone, f"refs/heads/{branch}").commit.hexsha)
    except ValueError:
        return None


def configured_push_url(clone: git.Repo, remote: str) -> str:
    """The URL as configured, before ``insteadOf`` rewriting: the forge's name for the project."""
    reader = clone.config_reader()
    section = f'remote "{remote}"'
    url = reader.get_value(section, "pushurl", "") or reader.get_value(section, "url", "")
    return str(url)
