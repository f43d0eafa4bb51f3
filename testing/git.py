"""Real git repositories in temporary directories, and proof that fixuser left them alone.

Never a mocked git: every helper runs the git binary. ``isolate_git`` keeps the developer's
own ~/.gitconfig (identity, hooks, signing, autocrlf) out of the tests.
"""

from __future__ import annotations

import dataclasses
import os
import subprocess
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT_DOCKERFILE = (
    b"FROM debian:bookworm-slim\n"
    b"RUN apt-get update && apt-get install -y --no-install-recommends curl"
    b" && rm -rf /var/lib/apt/lists/*\n"
    b"COPY app /app\n"
    b'CMD ["/app/run"]\n'
)
COMPLIANT_DOCKERFILE = ROOT_DOCKERFILE + b"USER 1000\n"
TEST_NAME = "Test Person"
TEST_EMAIL = "test@example.com"


def isolate_git(monkeypatch: pytest.MonkeyPatch, home: Path) -> None:
    """No system or global git configuration, no identity from the environment."""
    home.mkdir(parents=True, exist_ok=True)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    for name in list(os.environ):
        if name.startswith(("GIT_AUTHOR_", "GIT_COMMITTER_", "GIT_DIR", "GIT_WORK_TREE")):
            monkeypatch.delenv(name)
    monkeypatch.delenv("GIT_INDEX_FILE", raising=False)
    # Test repositories commit as somebody; tests about a missing identity unset these.
    (home / ".gitconfig").write_text(
        f"[user]\n\tname = {TEST_NAME}\n\temail = {TEST_EMAIL}\n"
        "[init]\n\tdefaultBranch = main\n"
        '[protocol "file"]\n\tallow = always\n'
    )


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    proc = subprocess.run(
        ["git", "-C", str(cwd), *args], input=input, capture_output=True, check=False
    )
    if proc.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {proc.stderr.decode()}")
    return proc.stdout.decode()


def write_files(root: Path, files: Mapping[str, bytes | str]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)


def commit_all(root: Path, message: str = "change") -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "--no-verify", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()


def make_repo(
    root: Path, files: Mapping[str, bytes | str] | None = None, *, commit: bool = True
) -> Path:
    """A repository on branch ``main`` with ``files`` committed (unborn when ``commit=False``)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    write_files(root, files if files is not None else {"Dockerfile": ROOT_DOCKERFILE})
    if commit:
        commit_all(root, "initial")
    return root


def blob(root: Path, rev: str, path: str) -> bytes:
    proc = subprocess.run(
        ["git", "-C", str(root), "cat-file", "blob", f"{rev}:{path}"],
        capture_output=True,
        check=True,
    )
    return proc.stdout


def branches(root: Path) -> list[str]:
    return git(root, "for-each-ref", "--format=%(refname:short)", "refs/heads").split()


@dataclasses.dataclass(frozen=True)
class FileState:
    content: bytes
    inode: int
    mtime_ns: int
    mode: int


@dataclasses.dataclass(frozen=True)
class RepoState:
    """Everything of a repository that a user would notice fixuser touching."""

    files: dict[str, FileState]  # the working tree, .git excluded
    index: bytes | None  # the index file, byte for byte (stat data included)
    head: str  # what .git/HEAD says (a branch or a sha)
    refs: dict[str, str]  # every ref but the ones fixuser may write

    def without_branch(self, branch: str) -> RepoState:
        refs = {k: v for k, v in self.refs.items() if k != f"refs/heads/{branch}"}
        return dataclasses.replace(self, refs=refs)


def git_path(root: Path, name: str) -> Path:
    path = Path(git(root, "rev-parse", "--git-path", name).strip())
    return path if path.is_absolute() else root / path


def snapshot(root: Path) -> RepoState:
    """Read only: no git command here refreshes the index or writes anything."""
    files = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != ".git"]
        for name in filenames:
            path = Path(dirpath, name)
            if name == ".git":
                continue
            st = path.lstat()
            files[path.relative_to(root).as_posix()] = FileState(
                path.read_bytes() if path.is_file() else b"", st.st_ino, st.st_mtime_ns, st.st_mode
            )
    index_path = git_path(root, "index")
    head = git_path(root, "HEAD").read_text()
    refs_out = subprocess.run(
        ["git", "-C", str(root), "for-each-ref", "--format=%(refname) %(objectname)"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    refs = dict(line.split(" ", 1) for line in refs_out.splitlines())
    return RepoState(
        files=files,
        index=index_path.read_bytes() if index_path.exists() else None,
        head=head,
        refs=refs,
    )


def amend_round_trip(repo: Path, branch: str, worktree: Path) -> tuple[str, str]:
    """``branch``'s tip message, and what ``git commit --amend`` makes of it when the editor
    (``GIT_EDITOR=true``) saves it unchanged: git's strip cleanup drops every line that starts
    with ``#`` as a comment. Done in a detached worktree, so ``branch`` itself stays put (a
    bare repository works too)."""
    before = git(repo, "log", "-1", "--format=%B", branch)
    git(repo, "worktree", "add", "-q", "--detach", str(worktree), branch)
    proc = subprocess.run(
        ["git", "-C", str(worktree), "-c", f"user.name={TEST_NAME}",
         "-c", f"user.email={TEST_EMAIL}", "commit", "-q", "--amend", "--cleanup=strip"],
        env={**os.environ, "GIT_EDITOR": "true"}, capture_output=True, check=False,
    )  # fmt: skip
    if proc.returncode != 0:
        raise AssertionError(f"git commit --amend failed: {proc.stderr.decode()}")
    return before, git(worktree, "log", "-1", "--format=%B", "HEAD")


def comment_lines(message: str) -> list[str]:
    """The lines git's default cleanup would strip from a commit message."""
    return [line for line in message.splitlines() if line.startswith("#")]


def ssh_signing_key(directory: Path, email: str = TEST_EMAIL) -> tuple[Path, Path]:
    """A throwaway ed25519 key made by ssh-keygen, and an allowed-signers file naming it:
    (the public key, for user.signingkey; the allowed signers, for git verify-commit).

    Without ssh-keygen the test is skipped, except in CI (CI=true), where it fails: CI
    installs openssh-client to run these."""
    import shutil

    if shutil.which("ssh-keygen") is None:
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail("CI=true but ssh-keygen is missing (apt-get install openssh-client)")
        pytest.skip("ssh-keygen is missing (apt-get install openssh-client)")
    directory.mkdir(parents=True, exist_ok=True)
    key = directory / "signing"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", email, "-f", str(key)],
        check=True,
        capture_output=True,
    )
    public = key.with_name("signing.pub")
    allowed = directory / "allowed_signers"
    allowed.write_text(f"{email} {public.read_text().strip()}\n")
    return public, allowed


def add_hook(hooks: Path, name: str, script: str) -> Path:
    """An executable ``hooks/name`` shell script (a client-side hook of a repository)."""
    hooks.mkdir(parents=True, exist_ok=True)
    hook = hooks / name
    hook.write_text("#!/bin/sh\n" + script)
    hook.chmod(0o755)
    return hook
