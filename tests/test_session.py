"""The interactive session, end to end in a real pseudo-terminal (pexpect), on real git repos."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pexpect
import pytest

from fixuser.branches.repo import DEFAULT_BRANCH
from fixuser.branches.safety import is_fixuser_branch
from fixuser.commands.interactive import coloured_diff, free_branch_name, uid_warnings
from testing.git import (
    COMPLIANT_DOCKERFILE,
    ROOT_DOCKERFILE,
    amend_round_trip,
    blob,
    branches,
    comment_lines,
    git,
    isolate_git,
    make_repo,
    snapshot,
)

FIXUSER = [sys.executable, "-m", "fixuser"]
ENTER, DOWN, SPACE, CTRL_C = "\r", "\x1b[B", " ", "\x03"


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {
            "Dockerfile": ROOT_DOCKERFILE,
            "svc/Containerfile": ROOT_DOCKERFILE,
            "ok/Dockerfile": COMPLIANT_DOCKERFILE,
            "README.md": "hello\n",
        },
    )


def spawn_fixuser(cwd: Path, *args: str) -> pexpect.spawn:
    """`fixuser` (with no arguments, or ``args``) on a real pseudo-terminal."""
    env = {
        **os.environ,
        "TERM": "xterm",
        # prompt_toolkit asks the terminal for the cursor position; pexpect never answers.
        "PROMPT_TOOLKIT_NO_CPR": "1",
    }
    return pexpect.spawn(
        FIXUSER[0],
        [*FIXUSER[1:], *args],
        cwd=str(cwd),
        env=env,
        dimensions=(50, 140),
        encoding="utf-8",
        timeout=20,
    )


@pytest.fixture
def spawn(repo: Path) -> Iterator[pexpect.spawn]:
    child = spawn_fixuser(repo)
    yield child
    child.close(force=True)


def answer(child: pexpect.spawn, prompt: str, *keys: str) -> None:
    child.expect_exact(prompt)
    for key in keys:
        child.send(key)


def finish(child: pexpect.spawn) -> int:
    child.expect(pexpect.EOF)
    child.close()
    status: int = child.exitstatus
    return status


def test_enter_at_every_prompt_ends_in_the_fix_branch(repo: Path, spawn: pexpect.spawn) -> None:
    before = snapshot(repo)
    for prompt in (
        "Which Dockerfiles",
        "User name",
        "UID",
        "GID",
        "Become that user with",
        "Write USER as",
        "owned by",
        "Apply this change to Dockerfile?",
        "Apply this change to svc/Containerfile?",
        "Branch:",
        "Commit subject:",
    ):
        answer(spawn, prompt, ENTER)
    assert finish(spawn) == 0

    assert snapshot(repo).without_branch(DEFAULT_BRANCH) == before
    assert is_fixuser_branch(repo, DEFAULT_BRANCH)
    changed = git(repo, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split()
    assert changed == ["Dockerfile", "svc/Containerfile"]


def test_arrow_keys_and_space_drive_it_to_a_commit(repo: Path, spawn: pexpect.spawn) -> None:
    # ok/Dockerfile is listed but disabled (the cursor skips it); it starts on Dockerfile.
    answer(spawn, "Which Dockerfiles", DOWN, SPACE, ENTER)  # untick svc/Containerfile
    answer(spawn, "User name", "\b" * 3, "web", ENTER)
    answer(spawn, "UID", "\b" * 5, "20000", ENTER)
    answer(spawn, "GID", ENTER)
    answer(spawn, "Become that user with", ENTER)
    answer(spawn, "Write USER as", DOWN, ENTER)  # the user name
    answer(spawn, "owned by", ENTER)
    answer(spawn, "Apply this change to Dockerfile?", ENTER)
    answer(spawn, "Branch:", "\b" * len(DEFAULT_BRANCH), "sec/non-root", ENTER)
    answer(spawn, "Commit subject:", ENTER)
    assert finish(spawn) == 0

    assert git(repo, "diff", "--name-only", "HEAD", "sec/non-root").split() == ["Dockerfile"]
    fixed = blob(repo, "sec/non-root", "Dockerfile")
    assert b"\nUSER web\n" in fixed
    assert b"20000" in fixed


def test_commit_message_gives_the_chosen_uid_and_survives_amend(
    repo: Path, spawn: pexpect.spawn, tmp_path: Path
) -> None:
    answer(spawn, "Which Dockerfiles", DOWN, SPACE, ENTER)  # Dockerfile only
    answer(spawn, "User name", "\b" * 3, "web", ENTER)
    answer(spawn, "UID", "\b" * 5, "20000", ENTER)
    answer(spawn, "GID", ENTER)
    answer(spawn, "Become that user with", ENTER)
    answer(spawn, "Write USER as", DOWN, ENTER)  # USER web: a name, whose number is known
    answer(spawn, "owned by", ENTER)
    answer(spawn, "Apply this change to Dockerfile?", ENTER)
    answer(spawn, "Branch:", "\b" * len(DEFAULT_BRANCH), "sec/non-root", ENTER)
    answer(spawn, "Commit subject:", ENTER)
    assert finish(spawn) == 0

    before, after = amend_round_trip(repo, "sec/non-root", tmp_path / "amend")
    assert comment_lines(before) == []
    assert after == before
    assert before.splitlines()[0] == "Run container as a non-root user (CIS Docker 4.1)"
    assert "fixuser rewrote 1 Dockerfile so its" in before
    assert "- Runs as: USER web, UID 20000\n" in before
    assert "- Created user: web (20000:20000)\n" in before
    assert "    git switch sec/non-root\n" in before
    assert "fixuser-check-1   # expect web\n" in before
    assert "grep '^Uid:'   # expect 20000, not 0\n" in before
    assert "10001" not in before


def test_the_entrypoint_strategy_commits_its_wrapper_beside_each_dockerfile(
    repo: Path, spawn: pexpect.spawn
) -> None:
    for prompt in ("Which Dockerfiles", "User name", "UID", "GID"):
        answer(spawn, prompt, ENTER)
    answer(spawn, "Become that user with", DOWN, ENTER)  # the entrypoint wrapper
    answer(spawn, "owned by", ENTER)  # "Write USER as" is not asked: there is no USER
    answer(spawn, "+++ b/fixuser-entrypoint.sh", "")  # the wrapper's diff is shown too
    for prompt in ("Apply this change to Dockerfile?", "Apply this change to svc/Containerfile?"):
        answer(spawn, prompt, ENTER)
    answer(spawn, "Branch:", ENTER)
    answer(spawn, "Commit subject:", ENTER)
    assert finish(spawn) == 0

    changed = git(repo, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split()
    assert changed == [
        "Dockerfile",
        "fixuser-entrypoint.sh",
        "svc/Containerfile",
        "svc/fixuser-entrypoint.sh",
    ]
    fixed = blob(repo, DEFAULT_BRANCH, "Dockerfile")
    assert b"\nUSER " not in fixed
    assert b'ENTRYPOINT ["/usr/local/bin/fixuser-entrypoint"]\n' in fixed
    tree = git(repo, "ls-tree", DEFAULT_BRANCH, "fixuser-entrypoint.sh").split()
    assert tree[0] == "100755"
    assert b"exec setpriv" in blob(repo, DEFAULT_BRANCH, "fixuser-entrypoint.sh")
    message = git(repo, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert "Why an entrypoint and not USER" in message


def test_skip_and_edit_per_file(repo: Path, spawn: pexpect.spawn) -> None:
    for prompt in (
        "Which Dockerfiles",
        "User name",
        "UID",
        "GID",
        "Become that user with",
        "Write USER as",
        "owned by",
    ):
        answer(spawn, prompt, ENTER)
    answer(spawn, "Apply this change to Dockerfile?", DOWN, ENTER)  # skip
    answer(spawn, "Apply this change to svc/Containerfile?", DOWN, DOWN, ENTER)  # edit
    answer(spawn, "User name for svc/Containerfile", ENTER)
    answer(spawn, "UID for svc/Containerfile", "\b" * 5, "30000", ENTER)
    answer(spawn, "GID for svc/Containerfile", ENTER)
    answer(spawn, "30000", "")  # the new diff is shown before the question comes back
    answer(spawn, "Apply this change to svc/Containerfile?", ENTER)
    answer(spawn, "Branch:", ENTER)
    answer(spawn, "Commit subject:", ENTER)
    assert finish(spawn) == 0

    assert git(repo, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split() == ["svc/Containerfile"]
    assert b"30000" in blob(repo, DEFAULT_BRANCH, "svc/Containerfile")


def test_keep_as_root_commits_the_pragma_and_check_then_accepts_it(
    repo: Path, spawn: pexpect.spawn
) -> None:
    for prompt in (
        "Which Dockerfiles",
        "User name",
        "UID",
        "GID",
        "Become that user with",
        "Write USER as",
        "owned by",
    ):
        answer(spawn, prompt, ENTER)
    answer(spawn, "Apply this change to Dockerfile?", DOWN, DOWN, DOWN, ENTER)  # keep as root
    answer(spawn, "Apply this change to svc/Containerfile?", ENTER)
    answer(spawn, "Branch:", ENTER)
    answer(spawn, "Commit subject:", ENTER)
    assert finish(spawn) == 0

    kept = blob(repo, DEFAULT_BRANCH, "Dockerfile")
    assert kept == b"# fixuser: ignore: kept as root on purpose\n" + ROOT_DOCKERFILE
    assert b"USER" in blob(repo, DEFAULT_BRANCH, "svc/Containerfile")
    message = git(repo, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert "Kept as root on purpose" in message
    assert "- Dockerfile (runs as root" in message
    git(repo, "switch", "-q", DEFAULT_BRANCH)
    check = subprocess.run([*FIXUSER, "check"], cwd=repo, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert "Dockerfile: ignored" in check.stdout


@pytest.mark.parametrize("at", ["Which Dockerfiles", "UID", "Apply this change", "Commit subject:"])
def test_ctrl_c_leaves_the_repository_as_it_was(repo: Path, spawn: pexpect.spawn, at: str) -> None:
    (repo / "README.md").write_text("uncommitted\n")
    before = snapshot(repo)
    prompts = [
        "Which Dockerfiles",
        "User name",
        "UID",
        "GID",
        "Become that user with",
        "Write USER as",
        "owned by",
        "Apply this change",
        "Apply this change",
        "Branch:",
        "Commit subject:",
    ]
    for prompt in prompts[: prompts.index(at)]:
        answer(spawn, prompt, ENTER)
    answer(spawn, at, CTRL_C)
    assert finish(spawn) == 130
    assert snapshot(repo) == before
    assert branches(repo) == ["main"]


def test_push_offered_when_a_remote_exists(
    repo: Path, tmp_path: Path, spawn: pexpect.spawn
) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", "https://gitlab.com/acme/shop.git")
    git(repo, "config", "remote.origin.pushurl", str(bare))
    for prompt in (
        "Which Dockerfiles",
        "User name",
        "UID",
        "GID",
        "Become that user with",
        "Write USER as",
        "owned by",
        "Apply this change",
        "Apply this change",
        "Branch:",
        "Commit subject:",
    ):
        answer(spawn, prompt, ENTER)
    answer(spawn, "Push", "y")
    spawn.expect_exact("merge_requests/new")
    assert finish(spawn) == 0
    assert git(bare, "rev-parse", DEFAULT_BRANCH) == git(repo, "rev-parse", DEFAULT_BRANCH)


def test_quit_commits_nothing(repo: Path, spawn: pexpect.spawn) -> None:
    before = snapshot(repo)
    for prompt in (
        "Which Dockerfiles",
        "User name",
        "UID",
        "GID",
        "Become that user with",
        "Write USER as",
        "owned by",
    ):
        answer(spawn, prompt, ENTER)
    answer(spawn, "Apply this change to Dockerfile?", DOWN, DOWN, DOWN, DOWN, ENTER)
    assert finish(spawn) == 0
    assert snapshot(repo) == before


def test_invalid_uid_is_asked_again(repo: Path, spawn: pexpect.spawn) -> None:
    answer(spawn, "Which Dockerfiles", ENTER)
    answer(spawn, "User name", ENTER)
    answer(spawn, "UID", "\b" * 5, "0", ENTER)
    spawn.expect_exact("a whole number from 1 to")
    spawn.send(CTRL_C)
    assert finish(spawn) == 130


def test_nothing_to_fix_asks_nothing(tmp_path: Path) -> None:
    child = spawn_fixuser(make_repo(tmp_path / "ok", {"Dockerfile": COMPLIANT_DOCKERFILE}))
    child.expect_exact("nothing to fix: 1 Dockerfile already compliant")
    assert finish(child) == 0


def test_the_session_leaves_out_what_exclude_and_the_table_name(tmp_path: Path) -> None:
    files = {
        "Dockerfile": ROOT_DOCKERFILE,
        "svc/Containerfile": ROOT_DOCKERFILE,
        "pyproject.toml": '[tool.fixuser]\nexclude = ["/Dockerfile"]\n',
    }
    child = spawn_fixuser(make_repo(tmp_path / "repo", files), "interactive", "--exclude", "svc")
    child.expect_exact("nothing to fix: 0 Dockerfiles already compliant")
    assert finish(child) == 0


def test_unborn_head_is_refused(tmp_path: Path) -> None:
    child = spawn_fixuser(make_repo(tmp_path / "unborn", commit=False))
    child.expect_exact("unborn")
    assert finish(child) == 2


def test_merge_in_progress_is_refused_before_any_question(repo: Path) -> None:
    merge_head = Path(git(repo, "rev-parse", "--git-path", "MERGE_HEAD").strip())
    (repo / merge_head).write_text(git(repo, "rev-parse", "HEAD"))
    child = spawn_fixuser(repo)
    child.expect_exact("merge is in progress")
    assert finish(child) == 2


def test_without_a_terminal_prints_help(repo: Path) -> None:
    proc = subprocess.run(FIXUSER, cwd=repo, stdin=subprocess.DEVNULL, capture_output=True)
    assert proc.returncode == 2
    assert b"fixuser check" in proc.stderr
    proc = subprocess.run(
        [*FIXUSER, "interactive"], cwd=repo, stdin=subprocess.DEVNULL, capture_output=True
    )
    assert proc.returncode == 2
    assert b"fixuser check" in proc.stderr


@pytest.mark.parametrize(
    ("uid", "image", "warned"),
    [
        (1000, "ubuntu:24.04", True),
        (1000, "docker.io/library/ubuntu:noble", True),
        (1000, "ubuntu:22.04", False),
        (10001, "ubuntu:24.04", False),
        (11211, "memcached:1.6", True),
        (1000, "debian:bookworm", False),
    ],
)
def test_uid_warnings_from_the_image_table(uid: int, image: str, warned: bool) -> None:
    assert bool(uid_warnings(uid, {"Dockerfile": image})) is warned


def test_uid_1000_on_ubuntu_asks_before_using_it(tmp_path: Path) -> None:
    ubuntu = ROOT_DOCKERFILE.replace(b"debian:bookworm-slim", b"ubuntu:24.04")
    child = spawn_fixuser(make_repo(tmp_path / "ubuntu", {"Dockerfile": ubuntu}))
    answer(child, "Which Dockerfiles", ENTER)
    answer(child, "User name", ENTER)
    answer(child, "UID", "\b" * 5, "1000", ENTER)
    answer(child, "already has user ubuntu with UID 1000", "")
    answer(child, "Use this UID anyway?", ENTER)  # default no: asked again
    answer(child, "UID", CTRL_C)
    assert finish(child) == 130


def test_free_branch_name() -> None:
    taken = {DEFAULT_BRANCH, f"{DEFAULT_BRANCH}-2"}
    assert free_branch_name(taken.__contains__) == f"{DEFAULT_BRANCH}-3"


def test_coloured_diff_keeps_text_and_drops_carriage_returns() -> None:
    diff = coloured_diff("Dockerfile", b"FROM a\r\n", b"FROM a\r\nUSER 1\r\n", colour=False)
    assert diff.splitlines()[-1] == "+USER 1"
    assert "\r" not in diff
    assert "\033[32m+B\033[0m" in coloured_diff("D", b"A\n", b"A\nB\n", colour=True)


def test_shipped_stages_and_overrides_are_shown_before_the_diff(tmp_path: Path) -> None:
    root = make_repo(
        tmp_path / "ctx",
        {
            "Dockerfile": b'FROM debian:bookworm-slim AS prod\nCMD ["sleep", "1"]\n\n'
            b"FROM prod AS dev\nRUN true\n",
            "compose.yaml": "services:\n  web:\n    build: {context: ., target: prod}\n"
            "  worker:\n    image: x\n    user: root\n",
        },
    )
    child = spawn_fixuser(root)
    try:
        child.expect_exact("compose.yaml:6: service worker runs as root (user: root)")
        answer(child, "Which Dockerfiles", ENTER)
        # every question up to the review (each answered once, however often it is redrawn)
        questions = ["User name", "UID", "GID", "Become that user", "Write USER as", "owned by"]
        answered: set[int] = set()
        while (seen := child.expect_exact(["ships: prod (compose.yaml:3)", *questions])) > 0:
            if seen not in answered:
                answered.add(seen)
                child.send(ENTER)
        child.expect_exact("+USER 10001:10001")  # the diff comes after the targets
        answer(child, "Apply this change to Dockerfile?", "\x03")
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)


def test_coloured_diff_quotes_a_name_as_git_does() -> None:
    diff = coloured_diff("a\n::error::x\x1b[2J", b"A\n", b"A\nB\n", colour=False)
    assert diff.splitlines()[:2] == [
        '--- "a/a\\n::error::x\\033[2J"',
        '+++ "b/a\\n::error::x\\033[2J"',
    ]
    assert "\x1b" not in diff and not any(line.startswith("::") for line in diff.splitlines())
