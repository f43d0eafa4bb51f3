"""Remediation branches: fix the Dockerfiles of a commit and commit the result on a new branch.

The user's working tree, index, stash and HEAD are never touched, not even for a moment. The
Dockerfiles are read from the base commit's blobs, the fixed blobs are written into the object
database, and the new commit is built from a temporary index file outside the repository
(``GIT_INDEX_FILE``); only ``refs/heads/<branch>`` is written, with ``update-ref`` and the
value it is expected to have, so a concurrent change of the branch is refused, not clobbered.

GitPython is imported inside the functions so ``fixuser check`` never pays for it.
"""

from __future__ import annotations

import dataclasses
import os
import posixpath
import re
import sys
import tempfile
import urllib.parse
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser import core, review
from fixuser.cli import DEFAULT_BRANCH as DEFAULT_BRANCH  # where it used to live
from fixuser.discover import SKIP_DIRS, is_dockerfile_name
from fixuser.model import DockerfileError, ExtraFile, FixResult
from fixuser.settings import Settings

if TYPE_CHECKING:
    import git

    from fixuser.context import Mount, Note, Override, Port, RepoContext

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
BLOB_MODES = (0o100644, 0o100755)


class RepoError(Exception):
    """fixuser refuses to touch the repository; the message is one line."""


@dataclasses.dataclass(frozen=True)
class FileFix:
    path: str  # repository-relative, posix
    result: FixResult
    # What the repository's compose files do with the image at run time: the mounts its user
    # must be able to write, and the container ports below 1024 it publishes.
    mounts: tuple[Mount, ...] = ()
    low_ports: tuple[Port, ...] = ()


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


def skipped(path: str) -> bool:
    return any(part in SKIP_DIRS for part in path.split("/")[:-1])


def selected(path: str, paths: Sequence[str]) -> bool:
    return not paths or any(p in ("", ".") or path == p or path.startswith(p + "/") for p in paths)


def dockerfile_blobs(tree: git.Tree, paths: Sequence[str]) -> Iterator[tuple[str, git.Blob]]:
    """(path, blob) of each Dockerfile of ``tree``: by name under ``paths``, or named exactly.

    Submodules (gitlinks) are not descended into and symlinks are not followed: the commit
    fixuser makes can only change blobs of this repository.
    """
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
    """The repository context (fixuser.context) of a commit: its compose files, workflows,
    manifests, ... as committed, so what ships is judged on the tree being fixed."""
    import git

    from fixuser.context import context_of_files
    from fixuser.context_names import TOOL_CACHES, is_context_name

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
    settings_for = settings if callable(settings) else (lambda _path: settings)
    context = tree_context(commit.tree)
    findings: list[FileFix] = []
    errors: list[str] = []
    found: set[str] = set()
    for path, blob in dockerfile_blobs(commit.tree, paths):
        found.add(path)
        chosen = settings_for(path)
        targets = tuple(context.targets(path)) if context.builders and chosen.target is None else ()
        try:
            result = core.fix(
                blob.data_stream.read(),
                chosen,
                path=path,
                context=tree_reader(commit.tree, path),
                targets=targets,
            )
        except DockerfileError as e:
            errors.append(f"{path}: {e}")
            continue
        findings.append(
            FileFix(path, result, tuple(context.mounts(path)), tuple(context.low_ports(path)))
        )
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
    """The message of the commit that fixes ``plan`` (see ``fixuser.review``)."""
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


# -- identity -----------------------------------------------------------------------------------


def config_value(repo: git.Repo, key: str) -> str | None:
    import git

    try:
        value: str = repo.git.config("--get", key)
    except git.GitCommandError:
        return None
    return value or None


def configured_identity(repo: git.Repo) -> tuple[str, str] | None:
    """user.name and user.email from git's environment or configuration; None when unset."""
    name = os.environ.get("GIT_COMMITTER_NAME") or config_value(repo, "user.name")
    email = os.environ.get("GIT_COMMITTER_EMAIL") or config_value(repo, "user.email")
    return (name, email) if name and email else None


def parse_identity(value: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([^<>]+?)\s*<([^<>\s]+)>\s*", value)
    if not match:
        raise RepoError(f"--author {value!r} must look like 'Name <email>'")
    return match[1], match[2]


def identity_env(repo: git.Repo, author: str | None) -> dict[str, str]:
    committer = configured_identity(repo)
    fallback = (FALLBACK_NAME, FALLBACK_EMAIL)
    author_ident = parse_identity(author) if author else committer or fallback
    committer_ident = committer or author_ident
    return {
        "GIT_AUTHOR_NAME": author_ident[0],
        "GIT_AUTHOR_EMAIL": author_ident[1],
        "GIT_COMMITTER_NAME": committer_ident[0],
        "GIT_COMMITTER_EMAIL": committer_ident[1],
    }


def signoff_identity(repo: git.Repo, author: str | None) -> str:
    env = identity_env(repo, author)
    return f"{env['GIT_COMMITTER_NAME']} <{env['GIT_COMMITTER_EMAIL']}>"


# -- safety checks ------------------------------------------------------------------------------


def git_path(repo: git.Repo, name: str) -> Path:
    """A per-worktree file of the git directory (right in linked worktrees too)."""
    path = Path(repo.git.rev_parse("--git-path", name))
    return path if path.is_absolute() else Path(repo.working_dir) / path


def refuse_in_progress(repo: git.Repo) -> None:
    for name, what in IN_PROGRESS.items():
        if git_path(repo, name).exists():
            raise RepoError(f"{what} is in progress: finish or abort it first")


def branch_sha(repo: git.Repo, branch: str) -> str | None:
    import git

    try:
        sha: str = repo.git.rev_parse("--verify", "--quiet", f"refs/heads/{branch}^{{commit}}")
    except git.GitCommandError:
        return None
    return sha or None


def is_fixuser_branch(repo_path: Path | git.Repo, branch: str) -> bool:
    """The branch's tip was made by fixuser: its message ends in the ``Fixed-by`` trailer."""
    repo = repo_path if not isinstance(repo_path, Path) else open_repo(repo_path)
    sha = branch_sha(repo, branch)
    if sha is None:
        return False
    message = str(repo.commit(sha).message)
    trailers = message.rstrip("\n").rsplit("\n\n", 1)[-1].splitlines()
    return TRAILER in (t.strip() for t in trailers)


def checked_out_branches(repo: git.Repo) -> set[str]:
    out: str = repo.git.worktree("list", "--porcelain")
    return {
        line.removeprefix("branch refs/heads/")
        for line in out.splitlines()
        if line.startswith("branch refs/heads/")
    }


def refuse_branch(repo: git.Repo, branch: str, force: bool) -> str:
    """The branch's current sha (ZERO_SHA when new), or RepoError when fixuser must not write."""
    import git

    try:
        repo.git.check_ref_format("--branch", branch)
    except git.GitCommandError:
        raise RepoError(f"{branch!r} is not a valid branch name") from None
    old = branch_sha(repo, branch)
    if old is None:
        return ZERO_SHA
    if branch in checked_out_branches(repo):
        raise RepoError(f"branch {branch} exists and is checked out: pick another --branch")
    if not force:
        raise RepoError(f"branch {branch} exists: pick another --branch, or --force to replace it")
    if not is_fixuser_branch(repo, branch):
        raise RepoError(
            f"branch {branch} exists and fixuser did not make it (no {TRAILER!r} trailer at its "
            "tip): not replacing it, even with --force"
        )
    return old


def refuse_uncommitted(repo: git.Repo, paths: Sequence[str]) -> None:
    """A file to fix must match HEAD in the index and the working tree.

    ``--no-optional-locks`` keeps ``git status`` from refreshing (rewriting) the user's index.
    """
    if not paths or repo.bare:
        return
    out: str = repo.git.execute(
        ["git", "--no-optional-locks", "status", "--porcelain=v1", "-z", "--", *paths]
    )
    dirty = sorted({entry[3:] for entry in out.split("\0") if len(entry) > 3})
    if dirty:
        raise RepoError(
            f"{', '.join(dirty)}: uncommitted changes; commit or stash them first "
            "(the fix is made from the committed content)"
        )


# -- writing ------------------------------------------------------------------------------------


def hash_blob(repo: git.Repo, data: bytes, env: dict[str, str]) -> str:
    # --stdin without --path stores the bytes exactly, no filter or end-of-line conversion.
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        sha: str = repo.git.hash_object("-w", "--stdin", istream=f, env=env)
    return sha


def build_commit(repo: git.Repo, plan: RepoPlan, message: str, env: dict[str, str]) -> str:
    base = repo.commit(plan.head)
    with tempfile.TemporaryDirectory(prefix="fixuser-index-") as tmp:
        env = {**env, "GIT_INDEX_FILE": str(Path(tmp, "index"))}
        repo.git.read_tree(plan.head, env=env)
        for f in plan.fixes:
            mode = (base.tree / f.path).mode
            sha = hash_blob(repo, f.result.output, env)
            repo.git.update_index("--add", "--cacheinfo", f"{mode:o},{sha},{f.path}", env=env)
            for path, extra in extra_files(f):  # --strategy entrypoint: its wrapper
                sha = hash_blob(repo, extra.data, env)
                cacheinfo = f"{blob_mode(extra):o},{sha},{path}"
                repo.git.update_index("--add", "--cacheinfo", cacheinfo, env=env)
        tree: str = repo.git.write_tree(env=env)
        with tempfile.TemporaryFile() as msg:
            msg.write(message.encode("utf-8", "surrogateescape"))  # a path as its bytes
            msg.seek(0)
            commit: str = repo.git.commit_tree(
                tree, "-p", plan.head, "-F", "-", istream=msg, env=env
            )
    return commit


def commit_fixes(
    repo_path: Path,
    plan: RepoPlan,
    branch: str,
    message: str,
    *,
    author: str | None = None,
    force: bool = False,
) -> str:
    """Commit ``plan.fixes`` on ``branch`` (based on ``plan.head``); return the new commit's sha."""
    repo = open_repo(repo_path)
    if not plan.fixes:
        raise RepoError("nothing to commit: every Dockerfile is already compliant")
    refuse_in_progress(repo)
    old = refuse_branch(repo, branch, force)
    refuse_uncommitted(repo, [p for f in plan.fixes for p in (f.path, *dict(extra_files(f)))])
    env = identity_env(repo, author)
    sha = build_commit(repo, plan, message, env)
    import git

    try:
        repo.git.update_ref(
            "-m", f"fixuser: {branch} from {plan.head[:12]}", f"refs/heads/{branch}", sha, old
        )
    except git.GitCommandError:
        raise RepoError(f"branch {branch} changed while fixuser was working: not written") from None
    return sha


# -- pushing ------------------------------------------------------------------------------------

SCP_RE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^/:]+):(?P<path>[^/].*)$")


def split_remote_url(remote_url: str) -> tuple[str, str] | None:
    """(host, owner/repo) of an https, ssh or scp-like remote URL; None for local paths."""
    url = remote_url.strip()
    if "://" in url:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https", "ssh", "git", "git+ssh", "ssh+git"):
            return None
        host, path = parts.hostname or "", parts.path
    else:
        match = SCP_RE.match(url)
        if not match:
            return None
        host, path = match["host"], match["path"]
    path = path.strip("/").removesuffix(".git")
    if not host or "/" not in path:
        return None
    return host.lower(), path


def review_url(remote_url: str, branch: str, base_branch: str | None = None) -> str | None:
    """The page a reviewer opens to start a pull/merge request for ``branch``."""
    split = split_remote_url(remote_url)
    if split is None:
        return None
    host, path = split
    source = urllib.parse.quote(branch, safe="/")
    if "github" in host:
        if base_branch:
            target = urllib.parse.quote(base_branch, safe="/")
            return f"https://{host}/{path}/compare/{target}...{source}?expand=1"
        return f"https://{host}/{path}/pull/new/{source}"
    if "gitlab" in host:
        query = {"merge_request[source_branch]": branch}
        if base_branch:
            query["merge_request[target_branch]"] = base_branch
        return f"https://{host}/{path}/-/merge_requests/new?{urllib.parse.urlencode(query)}"
    if "bitbucket" in host:
        query = {"source": branch, "t": "1"}
        if base_branch:
            query["dest"] = base_branch
        return f"https://{host}/{path}/pull-requests/new?{urllib.parse.urlencode(query)}"
    return None


def push_branch(repo_path: Path, remote: str, branch: str, *, force: bool = False) -> str | None:
    import git

    repo = open_repo(repo_path)
    try:
        url = repo.git.remote("get-url", remote)
    except git.GitCommandError:
        raise RepoError(f"no remote named {remote!r}") from None
    refspec = f"{'+' if force else ''}refs/heads/{branch}:refs/heads/{branch}"
    try:
        repo.git.push("--porcelain", remote, refspec)
    except git.GitCommandError as e:
        last = (e.stderr or "").strip().splitlines()
        raise RepoError(f"push to {remote} failed: {last[-1] if last else e}") from None
    return review_url(url, branch, default_branch(repo, remote))


def default_branch(repo: git.Repo, remote: str) -> str | None:
    import git

    try:
        ref: str = repo.git.symbolic_ref("--quiet", f"refs/remotes/{remote}/HEAD")
    except git.GitCommandError:
        return None
    return ref.removeprefix(f"refs/remotes/{remote}/") or None


def remotes(repo_path: Path) -> list[str]:
    return [r.name for r in open_repo(repo_path).remotes]


# -- the `fixuser fix --commit` front-end -------------------------------------------------------


def repo_relative(repo: git.Repo, paths: Sequence[str]) -> list[str]:
    root = Path(repo.working_dir).resolve()
    out = []
    for given in paths:
        try:
            rel = Path(given).resolve().relative_to(root).as_posix()
        except ValueError:
            raise RepoError(f"{given}: outside the repository {root}") from None
        out.append("" if rel == "." else rel)
    return [] if "" in out else out


def summary(repo: git.Repo, sha: str) -> str:
    """Like ``git log -1 --stat``, without the user's pager or colours."""
    out: str = repo.git.log(
        "-1", "--stat", "--format=commit %H%nAuthor: %an <%ae>%n%n%w(0,4,4)%B", sha
    )
    # %w indents the message's blank lines too; drop that and the doubled blank before --stat.
    out = re.sub(r"(?m)^[ \t]+$", "", out)
    return re.sub(r"\n{3,}", "\n\n", out)


def checkout_branch(repo: git.Repo, branch: str, plan: RepoPlan) -> str:
    """Switch to ``branch`` only when HEAD is its base: git then moves the fixed files alone.

    The fixed files have no uncommitted changes (checked before committing), so the switch
    cannot overwrite any work; git keeps every other local change as it is.
    """
    import git

    if repo.head.commit.hexsha != plan.head:
        return f"not switching to {branch}: it is not based on HEAD (git switch {branch})"
    try:
        repo.git.switch("--quiet", branch)
    except git.GitCommandError:
        return f"not switching to {branch}: git refused (git switch {branch})"
    return f"switched to {branch}"


def run_commit(
    paths: Sequence[str],
    settings: Settings,
    *,
    branch: str = DEFAULT_BRANCH,
    base: str = "HEAD",
    signoff: bool = False,
    author: str | None = None,
    force: bool = False,
    checkout: bool = False,
    push: bool = False,
    remote: str = "origin",
) -> int:
    try:
        return commit_command(
            paths or ["."],
            settings,
            branch=branch,
            base=base,
            signoff=signoff,
            author=author,
            force=force,
            checkout=checkout,
            push=push,
            remote=remote,
        )
    except RepoError as e:
        print(f"fixuser: {e}", file=sys.stderr)
        return EXIT_REFUSED


def commit_command(
    paths: Sequence[str],
    settings: Settings,
    *,
    branch: str,
    base: str,
    signoff: bool,
    author: str | None,
    force: bool,
    checkout: bool,
    push: bool,
    remote: str,
) -> int:
    start = Path(paths[0])
    repo = open_repo(start if start.is_dir() else start.parent)
    root = Path(repo.working_dir)
    if author:
        parse_identity(author)
    plan = plan_repository(root, settings, base, repo_relative(repo, paths))
    for error in plan.errors:
        print(f"fixuser: {error}", file=sys.stderr)
    for line in context_lines(plan):
        print(f"fixuser: {line}", file=sys.stderr)
    if not plan.fixes:
        what = review.count(len(plan.findings), "Dockerfile")
        print(f"fixuser: nothing to fix: {what} already compliant, no branch made")
        return EXIT_REFUSED if plan.errors else EXIT_OK
    message = render_commit_message(
        plan, signoff=signoff_identity(repo, author) if signoff else None, branch=branch
    )
    sha = commit_fixes(root, plan, branch, message, author=author, force=force)
    print(f"fixuser: committed on branch {branch}, based on {base} ({plan.head[:12]})")
    print(summary(repo, sha))
    if checkout:
        print(f"fixuser: {checkout_branch(repo, branch, plan)}")
    else:
        print(f"fixuser: your working tree is unchanged; review with: git show {branch}")
    if push:
        url = push_branch(root, remote, branch, force=force)
        print(f"fixuser: pushed {branch} to {remote}")
        if url:
            print(f"fixuser: open a review: {url}")
    return EXIT_REFUSED if plan.errors else EXIT_OK
