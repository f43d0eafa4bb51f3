"""``fixuser batch``: fix many repositories, one remediation branch each, and say what happened.

Per repository: a bare clone in fixuser's own cache (fetched again when present, pruned),
the fixes planned from the base commit's blobs and committed by ``branches.repo`` (index-free,
one ``update-ref``), then optionally pushed and offered for review. A bare clone because
nothing here needs a working tree: cloning is cheaper, and the remote's branches are the
clone's branches, so "the branch is already there" is one ref lookup.

Safety: the clone is made in a temporary directory and renamed into place, a commit appears
only through ``update-ref`` and a push is atomic on the remote, so a repository interrupted
at any point (Ctrl-C or kill -9) is untouched or has a complete branch. Each push carries a
lease on the remote tip fixuser fetched (never a plain force push): a commit somebody pushed
meanwhile makes the repository a ``skipped-conflict``. Nothing is pushed into a checkout.
A clone is locked while a repository is worked on, so batch processes sharing a --workdir
wait for each other; a corrupt clone is cloned again. The state file is rewritten atomically
after every repository; ``--resume`` continues from it. A rerun that finds its own earlier
branch (same parent, same fixed files) on the remote says ``unchanged`` and pushes nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import difflib
import fcntl
import functools
import hashlib
import os
import posixpath
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from types import FrameType
from typing import IO, TYPE_CHECKING, Any

from fixuser.branches import forge, repo, review
from fixuser.branches.batch_report import (
    EXIT_ERROR,
    OUTCOMES,
    FileRecord,
    Record,
    counts,
    exit_code,
    markdown_path,
    read_report,
    summary_line,
    write_atomically,
    write_report,
)
from fixuser.branches.batch_report import to_json as report_json
from fixuser.commands import options as cli
from fixuser.errors import FixuserError
from fixuser.escape import printable
from fixuser.model import Verdict
from fixuser.settings import Settings, SettingsError, build_settings, read_table
from fixuser.tree.config import load_settings
from fixuser.tree.fileio import FileProblem, atomic_write, probe

if TYPE_CHECKING:
    import git

GITLAB_PUSH = "gitlab-push"
TITLE = "Run containers as a non-root user (CIS Docker 4.1)"
URL_RE = re.compile(r"^[a-z][a-z0-9+.-]*://|^[^/:]+@[^/:]+:")  # scheme:// or scp-like user@host:


class StartError(FixuserError):
    """The run cannot start (exit 2); the message is one line."""


@dataclasses.dataclass(frozen=True)
class Identity:
    """Author and committer, decided once per run (as ``repo.identity_env`` does)."""

    author: tuple[str, str]
    committer: tuple[str, str]

    @classmethod
    def resolve(cls, author: str | None) -> Identity:
        committer = configured_identity()
        fallback = (repo.FALLBACK_NAME, repo.FALLBACK_EMAIL)
        chosen = repo.parse_identity(author) if author else committer or fallback
        return cls(chosen, committer or chosen)


def configured_identity() -> tuple[str, str] | None:
    """user.name/email from the environment or git's global configuration: a cache clone has
    no configuration of its own, so one lookup serves every repository."""

    def value(key: str, env: str) -> str:
        if os.environ.get(env):
            return os.environ[env]
        try:
            return run_git("config", "--get", key).strip()
        except repo.RepoError:
            return ""

    name, email = (
        value("user.name", "GIT_COMMITTER_NAME"),
        value("user.email", "GIT_COMMITTER_EMAIL"),
    )
    return (name, email) if name and email else None


def configured_signing() -> bool:
    """commit.gpgsign from git's configuration; one lookup serves every cache clone, which
    has no configuration of its own (as ``configured_identity``)."""
    try:
        return run_git("config", "--bool", "--get", "commit.gpgsign").strip() == "true"
    except repo.RepoError:
        return False


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything a worker needs, built once from the command line."""

    flags: dict[str, Any]  # the settings flags actually given
    base_settings: Settings  # defaults < [tool.fixuser] of the directory fixuser runs in
    workdir: Path
    branch: str
    base: str | None
    remote: str
    push: bool
    dry_run: bool
    conflict: str
    identity: Identity
    forge: forge.Forge | None
    open_pr: str | None
    # --verify: the problems that keep a repository's fixes from being committed (none: go on).
    verify: Callable[[git.Repo, repo.RepoPlan], list[str]] | None = None
    sign: bool = False  # commit.gpgsign: git signs each commit, as git commit would


# -- the list of repositories -------------------------------------------------------------------


COMMENT_RE = re.compile(r"(?:^|\s)#.*$")  # '#' starts a comment at a line's start or after a space


def parse_list(lines: Iterator[str] | Sequence[str]) -> list[str]:
    out = []
    for line in lines:
        line = COMMENT_RE.sub("", line).strip()
        if line:
            out.append(line)
    return out


def repositories(given: Sequence[str], repos_file: str | None, stdin: IO[str]) -> list[str]:
    """In the order given, each once: arguments (``-`` reads stdin), then ``--repos-file``."""
    out: list[str] = []
    for item in given:
        out.extend(parse_list(stdin) if item == "-" else [item])
    if repos_file is not None:
        try:
            text = stdin.read() if repos_file == "-" else Path(repos_file).read_text()
        except OSError as e:
            raise StartError(f"--repos-file {repos_file}: {e.strerror}") from None
        out.extend(parse_list(text.splitlines()))
    return list(dict.fromkeys(out))


def parse_shard(value: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", value)
    if not match or not 1 <= int(match[1]) <= int(match[2]):
        raise argparse.ArgumentTypeError(f"--shard wants K/N with 1 <= K <= N, not {value!r}")
    return int(match[1]), int(match[2])


def in_shard(spec: str, shard: tuple[int, int]) -> bool:
    """By a hash of the repository as given, not its position in the list: a repository stays
    on its shard when the list is edited or reordered, so each shard's state file stays valid
    for ``--resume``. SHA-256 rather than ``hash()``, which is salted per process."""
    k, n = shard
    return int.from_bytes(hashlib.sha256(os.fsencode(spec)).digest()[:8], "big") % n == k - 1


# -- one repository -----------------------------------------------------------------------------


def is_url(spec: str) -> bool:
    return bool(URL_RE.match(spec))


def cache_dir(workdir: Path, source: str) -> Path:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", source.rstrip("/").removesuffix(".git"))[-60:]
    return workdir / "repos" / f"{slug.strip('-.') or 'repo'}-{sha(source)[:12]}"


def sha(text: str) -> str:
    return hashlib.sha256(os.fsencode(text)).hexdigest()


def run_git(*args: str, cwd: Path | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode != 0:
        raise repo.RepoError(git_problem(proc.stderr) or f"git {args[0]} exited {proc.returncode}")
    return proc.stdout


git_problem = repo.git_problem


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


def prepare(source: Source, options: Options) -> Path:
    """A bare clone of ``source`` in the cache, up to date with it (``locked`` held).

    The fetch prunes: a branch deleted at the source is gone from the clone too, so "the
    branch exists" is what the source says. For a checkout, the fix branch is then taken
    from the checkout's remote, where it is pushed: that is the tip a push may replace.
    """
    target, remote = source.clone, options.remote
    push_url = checkout_push_url(source, options)
    if options.push and is_checkout_url(push_url or source.url):
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
        branch_from_push_remote(target, push_url, options.branch)
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


def checkout_push_url(source: Source, options: Options) -> str | None:
    """Where the fix of a checkout is pushed: its own remote's URL. A checkout without that
    remote is an error when pushing: fixuser never pushes into a checkout itself."""
    if not source.checkout:
        return None
    url = local_remote_url(Path(source.url), options.remote)
    if url is not None and (path := local_path(url, Path(source.url))) is not None:
        url = str(path)  # a relative URL is relative to the checkout, not to the clone
    if url is None and options.push:
        raise repo.RepoError(
            f"{source.spec} is a checkout without a remote named {options.remote}: fixuser "
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


def repo_settings(clone: git.Repo, base: git.Commit, options: Options) -> Settings:
    """Explicit flags > the repository's own ``[tool.fixuser]`` > where fixuser runs > defaults."""
    try:
        data = (base.tree / "pyproject.toml").data_stream.read()
    except KeyError:
        return build_settings(options.flags, None, options.base_settings)
    own = options.base_settings.replace(**read_table(data, "pyproject.toml"))
    return build_settings(options.flags, None, own)


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


def file_values(fix: repo.FileFix) -> dict[str, Any]:
    return review.file_values(fix)


class Description(str):
    """The PR/MR description (Markdown), carrying the commit message of the same fix: the
    two are rendered apart (a Markdown heading starts with "#", which git's cleanup strips
    from a commit message on amend), and ``commit_message`` is handed the description."""

    commit: str


def description(plan: repo.RepoPlan, settings: Settings, branch: str) -> str:
    """``settings`` made the fix: each file's UID comes from the fix itself (``--uid`` or
    the user fixuser reused), so nothing else of them is needed here."""
    overrides = repo.override_texts(plan)
    text = Description(review.description(plan.fixes, branch, overrides))
    text.commit = review.commit_message(
        plan.fixes, branch=branch, remote=True, batch=True, overrides=overrides
    )
    return text


def commit_message(body: str) -> str:
    """The commit message of the fix ``body`` (from ``description``) describes. Its trailer
    stays the last paragraph: ``repo.is_fixuser_branch`` looks for it there."""
    if isinstance(body, Description):
        return body.commit
    # A description from elsewhere (a state file): kept whole, headings made plain.
    plain = re.sub(r"(?m)^#+[ \t]*(.*)$", lambda m: f"{m[1]}\n{'-' * len(m[1])}", body.rstrip())
    return f"{TITLE}\n\n{plain}\n\n{repo.TRAILER}\n"


def diff_stat(plan: repo.RepoPlan, clone: git.Repo) -> str:
    import git

    parts = []
    for f in plan.fixes:
        old = (git.Commit(clone, bytes.fromhex(plan.head)).tree / f.path).data_stream.read()
        matcher = difflib.SequenceMatcher(None, old.splitlines(), f.result.output.splitlines())
        added = removed = 0
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                removed += i2 - i1
                added += j2 - j1
        parts.append(f"{f.path} +{added} -{removed}")
        parts += [f"{path} +{len(e.data.splitlines())} -0" for path, e in repo.extra_files(f)]
    return ", ".join(parts)


def blob_sha(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()  # git's object id


def same_fix(clone: git.Repo, branch: str, plan: repo.RepoPlan) -> bool:
    """The existing branch is exactly this fix: one commit on the same base, the same files."""
    tip_sha = branch_tip(clone, branch)
    if tip_sha is None or not repo.is_fixuser_branch(clone, branch):
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

    ``fixuser.branches.repo.commit_fixes`` guards a user's repository (work in progress, uncommitted
    changes, checked-out branches) and spends some twenty git processes doing it; none of
    that can apply to a bare clone only fixuser uses. Here the objects are written in Python
    and one ``update-ref``, with the value the branch must still have, publishes the commit.
    With ``sign`` (commit.gpgsign) git makes the commit object, signed (``repo.commit_tree``).
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
        sha = repo.commit_tree(clone.git_dir, tree.hex(), plan.head, message, env, sign=True)
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
    proc = repo.lease_push(clone_path, remote, branch, expect, push_options=push_options)
    if proc.returncode != 0:
        why = repo.push_problem(proc)
        if repo.STALE in why:
            raise Conflict(
                f"branch {branch} on {remote} changed while fixuser was working: not replaced"
            )
        raise repo.RepoError(f"push to {remote} failed: {why}")
    return proc.stderr


GITLAB_MR_URL_RE = re.compile(r"^remote:\s+(https?://\S+/-/merge_requests/\d+)\s*$", re.MULTILINE)


def gitlab_push_options(base_name: str | None, title: str = TITLE) -> list[str]:
    """GitLab opens the draft merge request while it receives the push; no token needed.

    Push options cannot hold a newline, so the description is not sent: for a merge request of
    one commit GitLab takes the commit message, which carries it.
    """
    options = ["merge_request.create", "merge_request.draft", f"merge_request.title={title}"]
    if base_name:
        options.append(f"merge_request.target={base_name}")
    return options


def file_records(plan: repo.RepoPlan, base: git.Commit) -> tuple[FileRecord, ...]:
    """Every Dockerfile of the base commit and what happened to it, by path."""
    out = []
    for f in plan.findings:
        analysis, change = f.result.analysis, f.result.change
        out.append(
            FileRecord(
                path=f.path,
                verdict=str(analysis.verdict),
                family=analysis.family,
                user=change.user if change is not None else analysis.user,
                warnings=analysis.warnings,
                changed=change is not None,
                reason=analysis.reason,
                targets=tuple((t.stage, t.source) for t in analysis.targets),
            )
        )
    if plan.errors:  # rare: only then walk the tree again for the files that could not be read
        judged = {f.path for f in plan.findings}
        unread = [p for p, _ in repo.dockerfile_blobs(base.tree, ()) if p not in judged]
        unread.sort(key=len, reverse=True)  # the longest path the message starts with
        for error in plan.errors:  # "path: problem"
            path = next((p for p in unread if error.startswith(f"{p}: ")), None)
            if path is not None:
                out.append(FileRecord(path, "error", reason=error[len(path) + 2 :]))
    return tuple(sorted(out, key=lambda f: f.path))


def outcome_without_fixes(spec: str, plan: repo.RepoPlan, files: tuple[FileRecord, ...]) -> Record:
    record = functools.partial(
        Record, spec, files=files, base_sha=plan.head, overrides=tuple(repo.override_texts(plan))
    )
    if plan.errors:
        return record("failed", reason="; ".join(plan.errors))
    if not plan.findings:
        return record("no-dockerfile")
    by_verdict: dict[Verdict, list[str]] = {}
    for f in plan.findings:
        by_verdict.setdefault(f.result.analysis.verdict, []).append(f.path)
    for verdict, outcome in (
        (Verdict.ROOT, "failed"),
        (Verdict.INVALID_USER, "failed"),
        (Verdict.ROOT_BY_DESIGN, "root-by-design"),
        (Verdict.NEEDS_ROOT, "needs-root"),
        (Verdict.DROPS_PRIVILEGES, "drops-privileges"),
    ):
        if verdict in by_verdict:
            paths = by_verdict[verdict]
            reasons = [f.result.analysis.reason for f in plan.findings if f.path in paths]
            reason = "; ".join(r for r in reasons if r)
            if verdict is Verdict.ROOT:
                reason = f"runs as root and fixuser could not fix it: {reason or 'unknown'}"
            elif verdict is Verdict.INVALID_USER:
                reason = f"a Dockerfile does not start: {reason}"
            return record(outcome, reason=reason)
    # Files fixuser was told to ignore, or could not judge, are named: not proven compliant.
    unsure = [
        f"{f.path}: {f.result.analysis.verdict}"
        for f in plan.findings
        if f.result.analysis.verdict in (Verdict.IGNORED, Verdict.UNKNOWN)
    ]
    return record("compliant", reason="; ".join(unsure))


def process(spec: str, options: Options) -> Record:
    """One repository, start to end; a problem becomes a ``failed`` record, never an exception.

    The record of a step that failed keeps what was known by then (the base commit, the
    files, the fix commit when a push failed)."""
    known: dict[str, Any] = {}
    try:
        source = source_of(spec, options.workdir)
        with locked(source.clone):
            return process_clone(source, options, known)
    except (repo.RepoError, SettingsError, forge.ForgeError, OSError) as e:
        return Record(spec, "failed", branch=None, reason=str(e) or type(e).__name__, **known)
    except Exception as e:  # a bug in one repository must not stop the fleet
        return Record(spec, "failed", reason=f"internal error: {type(e).__name__}: {e}", **known)


def process_clone(source: Source, options: Options, known: dict[str, Any]) -> Record:
    """``process_unguarded``, once more from a new clone when the cached one turns out to be
    corrupt (objects its refs need are missing: a disk that filled up, a clone cut short by
    hand). Checked only when something failed, so a sound cache costs nothing."""
    try:
        return process_unguarded(source, options, known)
    except Exception:
        if not source.clone.exists() or intact(source.clone):
            raise
    shutil.rmtree(source.clone)
    known.clear()
    return process_unguarded(source, options, known)


def process_unguarded(source: Source, options: Options, known: dict[str, Any]) -> Record:
    import git

    spec = source.spec
    clone_path = prepare(source, options)
    clone = git.Repo(clone_path)
    try:
        base_ref = f"refs/heads/{options.base}" if options.base else "HEAD"
        base_name = options.base or default_branch(clone)
        base = commit_at(clone, base_ref)
        known["base_sha"] = base.hexsha
        settings = repo_settings(clone, base, options)
        plan = repo.plan_repository(clone_path, settings, base=base.hexsha)
        known["files"] = files = file_records(plan, base)
        known["overrides"] = overrides = tuple(repo.override_texts(plan))
        if not plan.fixes:
            return outcome_without_fixes(spec, plan, files)
        body = description(plan, settings, options.branch)
        record = functools.partial(
            Record, spec, branch=options.branch, files=files, base_sha=plan.head,
            description=body, overrides=overrides,
        )  # fmt: skip
        notes = list(plan.errors)
        if options.dry_run:
            return record("would-fix", reason="; ".join([diff_stat(plan, clone), *notes]))
        if options.verify is not None:
            problems = options.verify(clone, plan)
            if problems:
                return record("failed", reason="--verify: " + "; ".join(problems))
        return publish(clone, plan, body, base_name, options, record, notes, known)
    finally:
        clone.close()


def publish(
    clone: git.Repo,
    plan: repo.RepoPlan,
    body: str,
    base_name: str | None,
    options: Options,
    record: Callable[..., Record],
    notes: list[str],
    known: dict[str, Any],
) -> Record:
    """Commit (or find this very fix's branch already there), push, open the review request.

    The clone's branch is the remote's, as fetched (``prepare``): the tip fixuser saw. It is
    replaced only under ``--conflict replace``, only when fixuser made it and nobody changed
    it since (``repo.is_fixuser_commit``), and the push carries a lease on it: a commit
    pushed meanwhile makes the repository a ``skipped-conflict``, never lost work."""
    branch = options.branch
    title = review.title(len(plan.fixes))  # the commit's own subject: one container or more
    push_url = configured_push_url(clone, options.remote)
    old = branch_tip(clone, branch)
    if old is not None and same_fix(clone, branch, plan):
        known["commit_sha"] = old
        record = functools.partial(record, commit_sha=old)
        return already_there(record, plan, body, base_name, options, push_url, notes)
    if old is not None:
        if options.conflict == "skip":
            why = f"branch {branch} exists (--conflict replace replaces a branch fixuser made)"
            return record("skipped-conflict", reason=why)
        if not repo.is_fixuser_branch(clone, branch):
            why = (
                f"branch {branch} exists and fixuser did not make it, or somebody changed it "
                "since: not replacing it"
            )
            return record("skipped-conflict", reason=why)
    tip = commit_in_clone(
        clone, plan, branch, commit_message(body), options.identity, old, sign=options.sign
    )
    known["commit_sha"] = tip
    record = functools.partial(record, commit_sha=tip)
    clone_path = Path(clone.git_dir)
    if not options.push:
        return record("committed", reason="; ".join(notes or [f"in {clone_path}"]))
    by_push = options.open_pr == GITLAB_PUSH
    try:
        said = push(
            clone_path, options.remote, branch, expect=old,
            push_options=gitlab_push_options(base_name, title) if by_push else (),
        )  # fmt: skip
    except Conflict as e:
        return record("skipped-conflict", reason=str(e), commit_sha=None)
    url = repo.review_url(push_url, branch, base_name)
    if by_push and (opened := GITLAB_MR_URL_RE.search(said)):
        url = opened[1]
    if options.forge is not None:
        request = forge.Request(push_url, branch, base_name or "main", title, body)
        try:
            url = options.forge.open(request)
        except forge.ForgeError as e:
            why = f"pushed {branch}, but the review request was not opened: {e}"
            return record("failed", reason=why, url=url)
    return record("pushed", reason="; ".join(notes), url=url)


def already_there(
    record: Callable[..., Record],
    plan: repo.RepoPlan,
    body: str,
    base_name: str | None,
    options: Options,
    push_url: str,
    notes: list[str],
) -> Record:
    """The remote's branch is exactly this fix (an earlier run's): nothing is committed or
    pushed, and the repository is ``unchanged``. With --open-pr the review request is asked
    for again (an earlier run may have pushed and failed to open it); a forge that already
    has one says so, and that is no failure."""
    branch = options.branch
    url = repo.review_url(push_url, branch, base_name)
    reason = [*notes, f"branch {branch} is this fix already"]
    if options.push and options.forge is not None:
        title = review.title(len(plan.fixes))
        request = forge.Request(push_url, branch, base_name or "main", title, body)
        try:
            url = options.forge.open(request)
            reason.append("review request opened")
        except forge.ForgeError as e:
            if "already exists" not in str(e):
                why = f"{branch} is there, but the review request was not opened: {e}"
                return record("failed", reason=why, url=url)
    return record("unchanged", reason="; ".join(reason), url=url)


def verifier(engine_name: str | None) -> Callable[[git.Repo, repo.RepoPlan], list[str]]:
    """``--verify``: build each Dockerfile before and after with ``proof.prove`` (the
    same proof as ``fixuser verify``) from its directory of the base commit; the problems.

    Raises StartError when no container engine answers: a run that promised proof and cannot
    give it does not start.
    """
    from fixuser.containers import proof as verify
    from fixuser.containers.engine import EngineError, find_engine

    try:
        engine = find_engine(engine_name)
    except EngineError as e:
        raise StartError(f"--verify: {e}") from None

    def check_plan(clone: git.Repo, plan: repo.RepoPlan) -> list[str]:
        problems = []
        for f in plan.fixes:
            with tempfile.TemporaryDirectory(prefix="fixuser-context-") as context:
                directory = os.path.dirname(f.path)
                extract(clone, f"{plan.head}:{directory}" if directory else plan.head, context)
                original = (Path(context) / os.path.basename(f.path)).read_bytes()
                change = f.result.change
                try:
                    for extra in f.result.extra_files:  # the wrapper the fixed file COPYs
                        wrapper = Path(context) / extra.path  # never through a committed link
                        atomic_write(wrapper, extra.data, extra.mode, follow=False, root=context)
                except FileProblem as e:
                    problems.append(f"{posixpath.join(directory, extra.path)}: {e}")
                    continue
                try:
                    proof = verify.prove(
                        Path(f.path), original, f.result.output, Path(context), engine=engine,
                        expected_user=change.user if change else None,
                        family=f.result.analysis.family,
                    )  # fmt: skip
                except EngineError as e:
                    problems.append(f"{f.path}: {e}")
                    continue
            if not proof.ok:
                problems.append(f"{f.path}: {proof.status}: {'; '.join(proof.reasons)}")
        return problems

    return check_plan


def extract(clone: git.Repo, treeish: str, target: str) -> None:
    """The files of ``treeish`` into ``target`` (a build context), through ``git archive``."""
    import tarfile

    proc = subprocess.Popen(
        ["git", "archive", "--format=tar", treeish],
        cwd=clone.git_dir,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdout is not None
    with tarfile.open(fileobj=proc.stdout, mode="r|") as tar:
        # No links or paths out of the context. By hand rather than extractall(filter="data"),
        # which Python 3.11 has only from 3.11.4 on (Debian 12 ships 3.11.2).
        for member in tar:
            name = posixpath.normpath(member.name)
            if name.startswith(("/", "../")) or name == "..":
                continue
            if member.issym() or member.islnk():
                link = posixpath.normpath(posixpath.join(posixpath.dirname(name), member.linkname))
                if member.linkname.startswith("/") or link.startswith("../") or link == "..":
                    continue
            elif not (member.isfile() or member.isdir()):
                continue
            tar.extract(member, target)
    if proc.wait() != 0:
        raise repo.RepoError(f"git archive {treeish} failed")


# -- state, progress, the run -------------------------------------------------------------------


class State:
    """The records of this run, rewritten atomically after every repository.

    The state file holds the report's records; each PR description (a few KB) is written once
    to a file of its own beside it (``STATE.d/``), so rewriting the state stays cheap however
    large the fleet grows.

    A dry run keeps its records in memory only (``persist=False``): the state file says what
    was done to the repositories, for ``--resume``, and a dry run does nothing to them. Kept
    apart in a file of its own they would only be something else to clean up or confuse with
    the real one; a dry run stopped part-way is simply run again (its clones are cached). So a
    dry run never hides a repository from a later ``--push --resume``, nor empties the state
    of a real run it is given with ``--state``; with ``--resume`` it reads that state and shows
    what the resumed run would still do.
    """

    def __init__(self, path: Path, records: dict[str, Record], *, persist: bool = True) -> None:
        self.path = path
        self.records = records
        self.persist = persist
        self.descriptions = path.with_name(path.name + ".d")
        self._lock = threading.Lock()
        # why the state file holds less than the records, when it does (see unsaved)
        self.behind = self.lost = ""
        self.said = False

    @classmethod
    def load(cls, path: Path, *, persist: bool = True) -> State:
        try:
            records = read_report(path)
        except FileNotFoundError:
            records = []
        except (OSError, ValueError) as e:
            raise StartError(f"--state {path}: cannot read it: {e}") from None
        state = cls(path, {}, persist=persist)
        for r in records:
            try:
                text = state.description_path(r.repo).read_text(encoding="utf-8")
            except OSError:
                text = ""
            state.records[r.repo] = dataclasses.replace(r, description=text)
        return state

    def description_path(self, spec: str) -> Path:
        return self.descriptions / f"{sha(spec)[:20]}.md"

    def save(self) -> None:
        if self.persist:
            records = report_json(self.records.values(), compact=True)
            write_atomically(self.path, records, durable=False)

    def record(self, record: Record) -> None:
        """Keep ``record`` and save the state. A state that cannot be written (a full disk)
        does not stop the run: the records stay here for the report, and the run says so."""
        with self._lock:
            if record.description and self.persist:
                path = self.description_path(record.repo)
                try:
                    write_atomically(path, record.description, durable=False)
                except OSError as e:  # lost for good: a later save does not write it
                    self.lost = self.lost or f"cannot write {path}: {e.strerror or e}"
            self.records[record.repo] = record
            try:
                self.save()
                self.behind = ""  # all of it is in the file again
            except OSError as e:
                self.behind = f"cannot write the state {self.path}: {e.strerror or e}"
            if self.unsaved and not self.said:  # once: a disk full now stays full a while
                print(f"fixuser batch: {self.unsaved}; the run goes on", file=sys.stderr)
                self.said = True

    @property
    def unsaved(self) -> str:
        """Why the state file holds less than the records ("" when it holds them all)."""
        return self.behind or self.lost


class Progress:
    """A one-line bar with counts per outcome on a terminal; one plain line per repo otherwise."""

    def __init__(self, total: int, stream: IO[str]) -> None:
        self.total, self.done, self.stream = total, 0, stream
        self.tty = stream.isatty()
        self.tally: dict[str, int] = {}

    def update(self, record: Record) -> None:
        self.done += 1
        self.tally[record.outcome] = self.tally.get(record.outcome, 0) + 1
        if not self.tty:
            detail = f": {record.reason}" if record.reason else ""
            url = f" {record.url}" if record.url else ""
            line = f"[{self.done}/{self.total}] {record.repo}: {record.outcome}{url}{detail}"
            print(printable(line), file=self.stream, flush=True)
            return
        width = 24
        filled = width * self.done // max(self.total, 1)
        tally = " ".join(f"{o} {self.tally[o]}" for o in OUTCOMES if o in self.tally)
        bar = "#" * filled + "-" * (width - filled)
        self.stream.write(f"\r\x1b[K[{bar}] {self.done}/{self.total} {tally}")
        self.stream.flush()

    def close(self) -> None:
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()


def to_run(
    specs: Sequence[str],
    state: State,
    resume: bool,
    retry_failed: bool,
    options: Options | None = None,
) -> list[str]:
    def wanted(spec: str) -> bool:
        record = state.records.get(spec)
        # A dry run's would-fix did nothing: as if never reached. Dry runs record no state any
        # more, but an older fixuser's state file may hold such records. Nor did a record
        # answer this run's question when it was made for another one: a commit in the cache
        # is not a push, a branch of another name is not this one.
        if record is None or record.outcome == "would-fix" or asked_otherwise(record, options):
            return resume or not retry_failed
        if record.outcome == "failed":
            return retry_failed
        return not (resume or retry_failed)

    return [s for s in specs if wanted(s)]


def asked_otherwise(record: Record, options: Options | None) -> bool:
    if options is None:
        return False
    if options.push and record.outcome == "committed":
        return True
    return record.branch is not None and record.branch != options.branch


def run_all(
    specs: Sequence[str],
    options: Options,
    state: State,
    jobs: int,
    on_done: Callable[[Record], None],
) -> bool:
    """Process ``specs`` on ``jobs`` threads; False when interrupted.

    After Ctrl-C no new repository starts and no result is recorded any more: the git commands
    that were running got the signal too, and their failure says nothing about the repository.
    """
    stopping = threading.Event()
    previous = signal.getsignal(signal.SIGINT)

    def interrupt(signum: int, frame: FrameType | None) -> None:
        stopping.set()
        raise KeyboardInterrupt

    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGINT, interrupt)
    pool = ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="fixuser-batch")
    try:
        futures: dict[Future[Record], str] = {}
        pending = iter(specs)

        def submit_next() -> None:
            spec = next(pending, None)
            if spec is not None and not stopping.is_set():
                futures[pool.submit(process, spec, options)] = spec

        for _ in range(max(1, jobs)):
            submit_next()
        # Submitting one repository per finished one (not all at once) keeps memory flat and
        # lets Ctrl-C stop without a queue of work to cancel.
        while futures:
            done = next(iter_completed(futures))
            del futures[done]
            record = done.result()
            if stopping.is_set():
                break
            submit_next()  # first: a worker never waits for the state file to be written
            state.record(record)
            on_done(record)
        return not stopping.is_set()
    except KeyboardInterrupt:
        stopping.set()
        return False
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, previous)


def iter_completed(futures: dict[Future[Record], str]) -> Iterator[Future[Record]]:
    from concurrent.futures import FIRST_COMPLETED, wait

    while True:
        done, _ = wait(list(futures), timeout=0.5, return_when=FIRST_COMPLETED)
        yield from done
        if done:
            return


# -- the command line ---------------------------------------------------------------------------


def default_workdir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "fixuser" / "batch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "repos", nargs="*", metavar="REPO", help="local path or clone URL; '-' reads stdin"
    )
    parser.add_argument("--repos-file", metavar="FILE", help="one repository a line, # comments")
    parser.add_argument(
        "--workdir", type=Path, default=None, help=f"clone cache (default {default_workdir()})"
    )
    parser.add_argument("--branch", default=repo.DEFAULT_BRANCH, help="default: %(default)s")
    parser.add_argument(
        "--base", default=None, help="branch to fix (default: the remote's default)"
    )
    parser.add_argument("--push", action="store_true", help="push each branch to --remote")
    parser.add_argument("--remote", default="origin", help="default: %(default)s")
    parser.add_argument(
        "--author", default=None, help="'Name <email>' (default: git, else fixuser)"
    )
    parser.add_argument(
        "--conflict",
        choices=("skip", "replace"),
        default="skip",
        help="branch already there: skip the repository, or replace a branch fixuser made "
        "(default %(default)s)",
    )
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change, write nothing"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N repositories")
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="K/N")
    parser.add_argument(
        "--state", type=Path, default=None, help="state file (default: in --workdir)"
    )
    parser.add_argument("--resume", action="store_true", help="skip repositories already done")
    parser.add_argument("--retry-failed", action="store_true", help="rerun only the failures")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (and FILE.md)")
    parser.add_argument(
        "--open-pr",
        choices=(*forge.KINDS, GITLAB_PUSH),
        default=None,
        help="open a draft PR/MR through the REST API (token in $GITHUB_TOKEN / $GITLAB_TOKEN), "
        f"or {GITLAB_PUSH}: with GitLab's push options, no token",
    )
    parser.add_argument("--forge-url", default=None, help="API base (GitHub Enterprise, GitLab)")
    parser.add_argument("--pr-delay", type=float, default=1.0, help="seconds between PR requests")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="prove each fix with a container build (as `fixuser verify`) before committing",
    )
    parser.add_argument("--engine", choices=("docker", "podman", "buildah"), default=None)
    cli.add_settings_arguments(parser)


def build_options(args: argparse.Namespace) -> Options:
    given = cli.given_settings(args)
    try:
        # Where fixuser runs counts as for `fixuser fix`; each repository's own table beats it.
        base_settings = load_settings({}, cli.project_dir(Path.cwd()))
        build_settings(given, None, base_settings)  # fail before cloning anything
        if args.author:
            repo.parse_identity(args.author)
        repo.check_branch_name(args.branch)
        repo.check_remote_name(args.remote)
    except (SettingsError, repo.RepoError) as e:
        raise StartError(str(e)) from None
    if args.open_pr and not args.push:
        raise StartError("--open-pr needs --push: a review request needs the pushed branch")
    try:
        made = (
            forge.from_options(args.open_pr, args.forge_url, args.pr_delay)
            if args.open_pr in forge.KINDS
            else None
        )
    except forge.ForgeError as e:
        raise StartError(str(e)) from None
    return Options(
        flags=given,
        base_settings=base_settings,
        workdir=(args.workdir or default_workdir()).expanduser().resolve(),
        branch=args.branch,
        base=args.base.removeprefix(f"{args.remote}/") if args.base else None,
        remote=args.remote,
        push=args.push and not args.dry_run,
        dry_run=args.dry_run,
        conflict=args.conflict,
        identity=Identity.resolve(args.author),
        forge=made,
        open_pr=args.open_pr,
        verify=verifier(args.engine) if args.verify and not args.dry_run else None,
        sign=configured_signing(),
    )


def select(args: argparse.Namespace) -> list[str]:
    specs = repositories(args.repos, args.repos_file, sys.stdin)
    if not specs:
        raise StartError("no repositories: name them, or use --repos-file FILE or '-'")
    if args.shard:
        specs = [s for s in specs if in_shard(s, args.shard)]
    if args.limit is not None:
        specs = specs[: max(0, args.limit)]
    return specs


def run(args: argparse.Namespace) -> int:
    try:
        options = build_options(args)
        specs = select(args)
        # Keyed by what was asked: runs on another branch, base or remote do not resume each
        # other. A push and a commit-only run share their state (a dry run shows what a
        # resumed push would still do), and ``to_run`` redoes a commit when a push is asked.
        refuse_unwritable(args.report)
        asked = (specs, args.shard, options.branch, options.base, options.remote)
        state_path = args.state or options.workdir / f"state-{sha(repr(asked))[:12]}.json"
        persist = not options.dry_run  # see State
        state = (
            State.load(state_path, persist=persist)
            if args.resume or args.retry_failed
            else State(state_path, {}, persist=persist)
        )
        state.records = {k: v for k, v in state.records.items() if k in set(specs)}
        state.save()
    except (StartError, OSError) as e:
        print(printable(f"fixuser batch: {e}"), file=sys.stderr)
        return EXIT_ERROR
    todo = to_run(specs, state, args.resume, args.retry_failed, options)
    kept = len(specs) - len(todo)
    if kept:
        done = review.count(kept, "repository", "repositories")
        print(f"fixuser batch: {done} already done in {state.path}", file=sys.stderr)
    progress = Progress(len(todo), sys.stderr if sys.stderr.isatty() else sys.stdout)
    finished = run_all(todo, options, state, args.jobs, progress.update)
    progress.close()
    records = [state.records[s] for s in specs if s in state.records]
    problems = write_report(args.report, records) if args.report is not None else []
    if state.unsaved:
        problems.append(f"{state.unsaved}: a --resume would miss what it does not hold")
    print_summary(records)
    for problem in problems:
        print(f"fixuser batch: {problem}", file=sys.stderr)
    if not finished:
        again = (
            "a dry run records no state: run it again"
            if options.dry_run
            else f"continue with --resume (state {state.path})"
        )
        print(f"fixuser batch: interrupted; {again}", file=sys.stderr)
        return 130
    return EXIT_ERROR if problems else exit_code(records)


def refuse_unwritable(report: Path | None) -> None:
    """A --report that cannot be written stops the run before any repository is touched."""
    for path in (report, markdown_path(report)) if report is not None else ():
        try:
            probe(path)
        except OSError as e:
            raise StartError(f"--report {path}: cannot write it: {e.strerror or e}") from None


def print_summary(records: Sequence[Record]) -> None:
    tally = counts(records)
    for outcome in OUTCOMES:
        if tally[outcome]:
            print(f"{outcome} ({tally[outcome]}):")
            for r in records:
                if r.outcome == outcome:
                    extra = " ".join(x for x in (r.url or "", r.reason) if x)
                    print(printable(f"  {r.repo}" + (f"  {extra}" if extra else "")))
    print(summary_line(records))
