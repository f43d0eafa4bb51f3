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
import os
import posixpath
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches import review
from fixuser.errors import FixuserError
from fixuser.escape import pasted_word, printable
from fixuser.model import ExtraFile, FixResult
from fixuser.settings import DEFAULT_BRANCH as DEFAULT_BRANCH  # callers read it here too
from fixuser.settings import Settings
from fixuser.tree.gittree import GitTree, selected
from fixuser.tree.gittree import dockerfile_blobs as dockerfile_blobs  # batch's
from fixuser.tree.pipeline import fix_all

if TYPE_CHECKING:
    import git

    from fixuser.project.model import Mount, Note, Override, Port

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
        findings.append(FileFix(item.path, item.result, tuple(mounts), tuple(low_ports)))
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
    """Who makes the commit, and when: one date for author and committer. A commit whose two
    dates differ was amended, rebased or cherry-picked after fixuser made it (see
    ``is_fixuser_commit``)."""
    committer = configured_identity(repo)
    fallback = (FALLBACK_NAME, FALLBACK_EMAIL)
    author_ident = parse_identity(author) if author else committer or fallback
    committer_ident = committer or author_ident
    date = os.environ.get("GIT_COMMITTER_DATE") or f"@{int(time.time())} {time.strftime('%z')}"
    return {
        "GIT_AUTHOR_NAME": author_ident[0],
        "GIT_AUTHOR_EMAIL": author_ident[1],
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_NAME": committer_ident[0],
        "GIT_COMMITTER_EMAIL": committer_ident[1],
        "GIT_COMMITTER_DATE": date,
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
    """The branch's tip was made by fixuser and nobody changed it since (``is_fixuser_commit``)."""
    repo = repo_path if not isinstance(repo_path, Path) else open_repo(repo_path)
    sha = branch_sha(repo, branch)
    return sha is not None and is_fixuser_commit(repo.commit(sha))


def is_fixuser_commit(commit: git.Commit) -> bool:
    """fixuser made ``commit`` and nobody amended it: its message ends in the ``Fixed-by``
    trailer, and its author and committer dates are the one date fixuser gives both. An amend,
    a rebase or a cherry-pick keeps the trailer but takes a new committer date: that commit is
    somebody's work, and fixuser never replaces it."""
    message = str(commit.message)
    trailers = message.rstrip("\n").rsplit("\n\n", 1)[-1].splitlines()
    if TRAILER not in (t.strip() for t in trailers):
        return False
    return (commit.authored_date, commit.author_tz_offset) == (
        commit.committed_date,
        commit.committer_tz_offset,
    )


def checked_out_branches(repo: git.Repo) -> set[str]:
    out: str = repo.git.worktree("list", "--porcelain")
    return {
        line.removeprefix("branch refs/heads/")
        for line in out.splitlines()
        if line.startswith("branch refs/heads/")
    }


def check_branch_name(branch: str) -> None:
    """RepoError unless ``branch`` is a branch name git reads as nothing else: not ``HEAD``,
    ``@`` or ``-`` (which name other commits), nor anything that starts with ``-`` (an
    option), nor what ``git check-ref-format`` refuses."""
    if branch in ("HEAD", "@") or branch.startswith("-") or not valid_ref(f"refs/heads/{branch}"):
        raise RepoError(f"{branch!r} is not a valid branch name")


def check_remote_name(remote: str) -> None:
    """RepoError unless ``remote`` is a remote's name (as git decides it): never an option."""
    if remote.startswith("-") or not valid_ref(f"refs/remotes/{remote}/x"):
        raise RepoError(f"{remote!r} is not a valid remote name")


def valid_ref(ref: str) -> bool:
    proc = subprocess.run(
        ["git", "check-ref-format", ref], capture_output=True, check=False, stdin=subprocess.DEVNULL
    )
    return proc.returncode == 0


def refuse_branch(repo: git.Repo, branch: str, force: bool) -> str:
    """The branch's current sha (ZERO_SHA when new), or RepoError when fixuser must not write.

    The advice names --force only for a branch fixuser made and nobody changed since: the one
    kind --force replaces (and a push then replaces only the remote tip fixuser saw)."""
    check_branch_name(branch)
    old = branch_sha(repo, branch)
    if old is None:
        return ZERO_SHA
    if branch in checked_out_branches(repo):
        raise RepoError(f"branch {branch} exists and is checked out: pick another --branch")
    if not is_fixuser_branch(repo, branch):
        raise RepoError(
            f"branch {branch} exists and fixuser did not make it (its tip has no {TRAILER!r} "
            "trailer, or was changed since): pick another --branch"
            + (" (not replacing it, even with --force)" if force else "")
        )
    if not force:
        raise RepoError(
            f"branch {branch} exists (fixuser made it): pick another --branch, or --force to "
            "replace it"
        )
    return old


def refuse_uncommitted(repo: git.Repo, paths: Sequence[str]) -> None:
    """A file to fix must match HEAD in the index and the working tree.

    ``--no-optional-locks`` keeps ``git status`` from refreshing (rewriting) the user's index;
    ``--literal-pathspecs`` makes each path the file of that name (``:(exclude)svc`` is a
    directory, not an order to leave svc/ out). ``git status`` trusts the skip-worktree and
    assume-unchanged bits; fixuser compares those files with the working tree itself.
    """
    if not paths or repo.bare:
        return
    out: str = repo.git.execute(
        ["git", "--literal-pathspecs", "--no-optional-locks", "status", "--porcelain=v1", "-z",
         "--", *paths]
    )  # fmt: skip
    found = {entry[3:] for entry in out.split("\0") if len(entry) > 3}
    dirty = sorted(found.union(hidden_edits(repo, paths)))
    if dirty:
        raise RepoError(
            f"{', '.join(dirty)}: uncommitted changes; commit or stash them first "
            "(the fix is made from the committed content)"
        )


def hidden_edits(repo: git.Repo, paths: Sequence[str]) -> list[str]:
    """The files of ``paths`` marked skip-worktree or assume-unchanged whose working-tree
    content is not what the index holds. A marked file absent from the working tree (outside
    a sparse checkout) holds no work, so it is no edit."""
    listing: str = repo.git.execute(
        ["git", "--literal-pathspecs", "ls-files", "-v", "-s", "-z", "--", *paths]
    )
    marked: dict[str, str] = {}
    for entry in listing.split("\0"):
        # "<tag> <mode> <sha> <stage>\t<path>": a lowercase tag is assume-unchanged, S skip.
        head, _, path = entry.partition("\t")
        fields = head.split()
        hidden = len(fields) == 4 and (fields[0] == "S" or fields[0].islower())
        if hidden and os.path.lexists(Path(repo.working_dir, path)):
            marked[path] = fields[2]
    if not marked:
        return []
    # The working tree's content as git would store it (clean filters, end-of-line rules).
    hashed: str = repo.git.execute(["git", "--literal-pathspecs", "hash-object", "--", *marked])
    return [path for path, sha in zip(marked, hashed.split(), strict=True) if sha != marked[path]]


# -- writing ------------------------------------------------------------------------------------


def hash_blob(repo: git.Repo, data: bytes, env: dict[str, str]) -> str:
    # --stdin without --path stores the bytes exactly, no filter or end-of-line conversion.
    with tempfile.TemporaryFile() as f:
        f.write(data)
        f.seek(0)
        sha: str = repo.git.hash_object("-w", "--stdin", istream=f, env=env)
    return sha


def build_commit(
    repo: git.Repo, plan: RepoPlan, message: str, env: dict[str, str], *, verify: bool = True
) -> str:
    """The commit of ``plan.fixes`` on ``plan.head``, written to the object database only.

    As ``git commit`` would make it: signed when ``commit.gpgsign`` asks for it (by git
    itself, so the user's gpg.format, gpg.program and user.signingkey are used; a commit that
    cannot be signed is not made), and unless ``verify`` is False (``--no-verify``) after the
    repository's commit hooks have passed (``run_commit_hooks``).
    """
    base = repo.commit(plan.head)
    with tempfile.TemporaryDirectory(prefix="fixuser-index-") as tmp:
        index_env = {**env, "GIT_INDEX_FILE": str(Path(tmp, "index"))}
        repo.git.read_tree(plan.head, env=index_env)
        for f in plan.fixes:
            mode = (base.tree / f.path).mode
            sha = hash_blob(repo, f.result.output, index_env)
            cacheinfo = f"{mode:o},{sha},{f.path}"
            repo.git.update_index("--add", "--cacheinfo", cacheinfo, env=index_env)
            for path, extra in extra_files(f):  # --strategy entrypoint: its wrapper
                sha = hash_blob(repo, extra.data, index_env)
                cacheinfo = f"{blob_mode(extra):o},{sha},{path}"
                repo.git.update_index("--add", "--cacheinfo", cacheinfo, env=index_env)
        tree: str = repo.git.write_tree(env=index_env)
    if verify:
        tree, message = run_commit_hooks(repo, plan.head, tree, message, env)
    sign = config_bool(repo, "commit.gpgsign")
    return commit_tree(repo.git_dir, tree, plan.head, message, env, sign=sign)


def commit_tree(
    git_dir: str | os.PathLike[str],
    tree: str,
    parent: str,
    message: str,
    env: dict[str, str],
    *,
    sign: bool,
) -> str:
    """``git commit-tree``: the commit object of ``tree`` on ``parent``; its sha. With
    ``sign`` git signs it (``-S``: gpg.format, gpg.program and user.signingkey as the user set
    them up), and a commit that cannot be signed is not made (RepoError, one line)."""
    proc = subprocess.run(
        ["git", "commit-tree", *(["-S"] if sign else []), "-p", parent, "-F", "-", tree],
        cwd=git_dir,
        input=message.encode("utf-8", "surrogateescape"),  # a path as its bytes
        capture_output=True,
        env={**os.environ, **env},
        check=False,
    )
    if proc.returncode != 0:
        why = git_problem(proc.stderr.decode(errors="replace"))
        if sign:
            raise RepoError(f"commit.gpgsign is set and git could not sign the commit: {why}")
        raise RepoError(f"git commit-tree failed: {why}")
    return proc.stdout.decode().strip()


def config_bool(repo: git.Repo, key: str) -> bool:
    import git

    try:
        value: str = repo.git.config("--bool", "--get", key)
    except git.GitCommandError:
        return False
    return value.strip() == "true"


def run_git_in(cwd: Path | str, *args: str, env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
    )
    if proc.returncode != 0:
        raise RepoError(git_problem(proc.stderr) or f"git {args[0]} exited {proc.returncode}")
    return proc.stdout


def git_problem(stderr: str) -> str:
    """The lines of git's stderr that say what went wrong, on one line.

    The remote's own words (``remote: ...``, e.g. a hook's refusal) come first: they are the
    reason a reviewer can act on; git's ``fatal:``/``error:`` lines follow.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    remote = [line.removeprefix("remote:").strip() for line in lines if line.startswith("remote:")]
    own = [line for line in lines if line.startswith(("fatal:", "error:", "! "))]
    picked = [line for line in remote if line][:3] + own[:2]
    return "; ".join(dict.fromkeys(picked)) or (lines[-1] if lines else "")


# -- hooks --------------------------------------------------------------------------------------

# The hooks git commit runs before it makes the commit, in its order; each with its arguments
# (MSG: the message file). fixuser's --no-verify runs none of them (git commit's skips
# pre-commit and commit-msg).
COMMIT_HOOKS = (
    ("pre-commit", ()),
    ("prepare-commit-msg", ("MSG", "message")),
    ("commit-msg", ("MSG",)),
)


def hooks_dir(repo: git.Repo) -> Path:
    """Where git looks for the hooks (core.hooksPath honoured; a relative one is relative to
    the user's working tree, as for ``git commit`` run there)."""
    path = Path(repo.git.rev_parse("--git-path", "hooks"))
    return path if path.is_absolute() else Path(repo.working_dir, path)


def active_hooks(directory: Path) -> list[str]:
    return [
        name
        for name, _ in COMMIT_HOOKS
        if (directory / name).is_file() and os.access(directory / name, os.X_OK)
    ]


def run_commit_hooks(
    repo: git.Repo, parent: str, tree: str, message: str, env: dict[str, str]
) -> tuple[str, str]:
    """Run the repository's commit hooks as ``git commit`` would; the tree and the message
    they leave (what a hook stages or writes into the message is kept, as git keeps it).

    A hook sees the change as in ``git commit``: it runs in a temporary worktree of its own
    (``git worktree add --detach`` at the base commit, in the system's temp directory) whose
    index holds the fixed tree and whose files are that tree: HEAD is the base, ``git diff
    --cached`` is the fix, nothing is unstaged, and GIT_INDEX_FILE names that index. The
    user's working tree, index, stash and HEAD are not touched; the worktree is removed
    afterwards. A failing pre-commit or commit-msg hook refuses the commit with its output.
    """
    directory = hooks_dir(repo)
    hooks = active_hooks(directory)
    if not hooks:
        return tree, message
    tmp = Path(tempfile.mkdtemp(prefix="fixuser-hooks-"))
    worktree = tmp / "worktree"
    try:
        # --no-checkout: no post-checkout hook runs; the files are written below.
        run_git_in(str(repo.git_dir), "worktree", "add", "--quiet", "--no-checkout", "--detach",
                   "--", str(worktree), parent)  # fmt: skip
        run_git_in(worktree, "read-tree", tree)
        # A hook needs the files, not the large ones a smudge filter would fetch (git-lfs).
        run_git_in(worktree, "checkout-index", "--all", "--force", env={"GIT_LFS_SKIP_SMUDGE": "1"})
        git_dir = Path(run_git_in(worktree, "rev-parse", "--absolute-git-dir").strip())
        message_file = git_dir / "COMMIT_EDITMSG"
        message_file.write_text(message, encoding="utf-8")
        index = str(git_dir / "index")
        hook_env = {**os.environ, **env, "GIT_INDEX_FILE": index, "GIT_EDITOR": ":"}
        for name in ("GIT_DIR", "GIT_WORK_TREE", "GIT_PREFIX"):
            hook_env.pop(name, None)
        for hook, args in COMMIT_HOOKS:
            if hook not in hooks:
                continue
            argv = [str(message_file) if a == "MSG" else a for a in args]
            run_hook(directory, hook, argv, worktree, hook_env)
            if hook == "pre-commit":  # as git commit does: the index as the hook left it
                tree = run_git_in(worktree, "write-tree").strip()
        message = message_file.read_text(encoding="utf-8")
    finally:
        # Only this worktree's entry goes: no `git worktree prune`, which would also drop the
        # user's own worktrees that are merely absent (an unmounted disk).
        subprocess.run(
            ["git", "worktree", "remove", "--force", "--", str(worktree)],
            cwd=repo.git_dir, capture_output=True, check=False, stdin=subprocess.DEVNULL,
        )  # fmt: skip
        shutil.rmtree(tmp, ignore_errors=True)
    return tree, message


def run_hook(directory: Path, hook: str, args: list[str], cwd: Path, env: dict[str, str]) -> None:
    """``git hook run`` (git's own hook runner) with ``directory`` as core.hooksPath; its
    output (stdout and stderr, as git commit shows both) goes to stderr; RepoError when the
    hook fails."""
    proc = subprocess.run(
        ["git", "-c", f"core.hooksPath={directory}", "hook", "run", "--ignore-missing", hook,
         "--", *args],
        cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip
    said = proc.stdout.decode(errors="replace").rstrip()
    if proc.returncode != 0:
        raise RepoError(
            f"the {hook} hook refused the commit (exit {proc.returncode}); --no-verify skips it"
            + (f":\n{said}" if said else "")
        )
    if said:
        print(said, file=sys.stderr)


def commit_fixes(
    repo_path: Path,
    plan: RepoPlan,
    branch: str,
    message: str,
    *,
    author: str | None = None,
    force: bool = False,
    verify: bool = True,
    expected: str | None = None,
) -> str:
    """Commit ``plan.fixes`` on ``branch`` (based on ``plan.head``); return the new commit's sha.

    ``expected``: the branch's sha (ZERO_SHA: no branch) the caller decided on, e.g. after
    comparing it with the remote's; the branch must still be at it.
    """
    repo = open_repo(repo_path)
    if not plan.fixes:
        raise RepoError("nothing to commit: every Dockerfile is already compliant")
    refuse_in_progress(repo)
    old = refuse_branch(repo, branch, force)
    if expected is not None and old != expected:
        raise RepoError(f"branch {branch} changed while fixuser was working: not written")
    refuse_uncommitted(repo, [p for f in plan.fixes for p in (f.path, *dict(extra_files(f)))])
    env = identity_env(repo, author)
    sha = build_commit(repo, plan, message, env, verify=verify)
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


def push_url(repo: git.Repo, remote: str) -> str:
    """The URL a push to ``remote`` goes to (pushurl and pushInsteadOf applied)."""
    import git

    check_remote_name(remote)
    try:
        url: str = repo.git.remote("get-url", "--push", "--", remote)
    except git.GitCommandError:
        raise RepoError(f"no remote named {remote!r}") from None
    return url.strip()


def remote_tip(repo: git.Repo, url: str, branch: str) -> str | None:
    """The sha of ``branch`` where a push goes (None: no such branch there), asked of the
    remote itself: a remote-tracking ref may be old."""
    ref = f"refs/heads/{branch}"
    try:
        out = run_git_in(str(repo.working_dir), "ls-remote", "--", url, ref)
    except RepoError as e:
        raise RepoError(f"cannot read {branch} from {url}: {e}") from None
    for line in out.splitlines():
        sha, _, name = line.partition("\t")
        if name == ref:
            return sha
    return None


def lease_push(
    cwd: Path | str,
    remote: str,
    branch: str,
    expect: str | None,
    *,
    verify: bool = True,
    push_options: Sequence[str] = (),
) -> subprocess.CompletedProcess[str]:
    """Push ``branch`` only if the remote's branch is still ``expect`` (None: it must not
    exist): ``--force-with-lease`` with the value fixuser saw, never a plain force push. A
    branch somebody pushed to since is refused by git, not overwritten."""
    lease = f"--force-with-lease=refs/heads/{branch}:{expect or ''}"
    options = [arg for option in push_options for arg in ("-o", option)]
    return subprocess.run(
        ["git", "push", "--porcelain", *([] if verify else ["--no-verify"]), lease, *options,
         "--", remote, f"refs/heads/{branch}:refs/heads/{branch}"],
        cwd=cwd, capture_output=True, text=True, check=False, stdin=subprocess.DEVNULL,
    )  # fmt: skip


STALE = "(stale info)"  # git's words for a lease that did not hold


def push_problem(proc: subprocess.CompletedProcess[str]) -> str:
    """Why a push failed: the remote's or hook's own words, then git's verdict on the ref
    (``[rejected] (stale info)``, ``[remote rejected] (pre-receive hook declined)``)."""
    verdicts = [
        line.split("\t")[-1].strip()
        for line in proc.stdout.splitlines()
        if line.startswith("!") and "\t" in line
    ]
    parts = [git_problem(proc.stderr), *verdicts]
    return "; ".join(p for p in dict.fromkeys(parts) if p) or f"git push exited {proc.returncode}"


def commit_and_push(
    repo_path: Path,
    plan: RepoPlan,
    branch: str,
    message: str,
    *,
    author: str | None = None,
    force: bool = False,
    verify: bool = True,
    remote: str | None = None,
) -> tuple[str, str | None]:
    """Commit ``plan.fixes`` on ``branch`` and, with ``remote``, push it there: the new sha
    and the page to open a review at (None when unknown or not pushed).

    Before anything is written, the remote's own branch is read: it must be absent, or the
    very commit this repository's branch is at (the one ``--force`` may replace). Anything
    else there is somebody's work, and nothing is committed. The push carries a lease on
    what was read, and a refused push puts the local branch back as it was.
    """
    if remote is None:
        sha = commit_fixes(repo_path, plan, branch, message, author=author, force=force,
                           verify=verify)  # fmt: skip
        return sha, None
    repo = open_repo(repo_path)
    check_branch_name(branch)
    url = push_url(repo, remote)
    local = branch_sha(repo, branch) or ZERO_SHA
    seen = remote_tip(repo, url, branch)
    if seen is not None and seen != local:
        here = "has no such branch" if local == ZERO_SHA else f"has it at {local[:12]}"
        raise RepoError(
            f"branch {branch} on {remote} is at {seen[:12]} and this repository {here}: "
            "somebody's work, not replacing it, even with --force; fetch it to look, or pick "
            "another --branch"
        )
    sha = commit_fixes(repo_path, plan, branch, message, author=author, force=force,
                       verify=verify, expected=local)  # fmt: skip
    proc = lease_push(str(repo.working_dir), remote, branch, seen, verify=verify)
    if proc.returncode != 0:
        why = push_problem(proc)
        if local == ZERO_SHA:
            repo.git.update_ref("-d", f"refs/heads/{branch}", sha)
            kept = f"no branch {branch} kept"
        else:
            repo.git.update_ref(f"refs/heads/{branch}", local, sha)
            kept = f"branch {branch} is back at {local[:12]}"
        if STALE in why:
            why = f"{branch} on {remote} changed while fixuser was working ({why})"
        raise RepoError(f"push to {remote} failed: {why}; {kept}")
    page = review_url(
        str(repo.git.remote("get-url", "--", remote)), branch, default_branch(repo, remote)
    )
    return sha, page


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
        return (
            f"not switching to {branch}: it is not based on HEAD (git switch {pasted_word(branch)})"
        )
    try:
        repo.git.switch("--quiet", "--", branch)
    except git.GitCommandError:
        return f"not switching to {branch}: git refused (git switch {pasted_word(branch)})"
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
    no_verify: bool = False,
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
            verify=not no_verify,
        )
    except RepoError as e:
        print(printable(f"fixuser: {e}"), file=sys.stderr)
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
    verify: bool = True,
) -> int:
    start = Path(paths[0])
    repo = open_repo(start if start.is_dir() else start.parent)
    root = Path(repo.working_dir)
    if author:
        parse_identity(author)
    plan = plan_repository(root, settings, base, repo_relative(repo, paths))
    for error in plan.errors:
        print(printable(f"fixuser: {error}"), file=sys.stderr)
    for line in context_lines(plan):
        print(printable(f"fixuser: {line}"), file=sys.stderr)
    if not plan.fixes:
        what = review.count(len(plan.findings), "Dockerfile")
        print(f"fixuser: nothing to fix: {what} already compliant, no branch made")
        return EXIT_REFUSED if plan.errors else EXIT_OK
    message = render_commit_message(
        plan, signoff=signoff_identity(repo, author) if signoff else None, branch=branch
    )
    sha, url = commit_and_push(
        root, plan, branch, message, author=author, force=force, verify=verify,
        remote=remote if push else None,
    )  # fmt: skip
    print(f"fixuser: committed on branch {branch}, based on {base} ({plan.head[:12]})")
    print(summary(repo, sha))
    if push:
        print(f"fixuser: pushed {branch} to {remote}")
        if url:
            print(f"fixuser: open a review: {url}")
    if checkout:
        print(f"fixuser: {checkout_branch(repo, branch, plan)}")
    else:
        print(
            f"fixuser: your working tree is unchanged; review with: git show {pasted_word(branch)}"
        )
    return EXIT_REFUSED if plan.errors else EXIT_OK
