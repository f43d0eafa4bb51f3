"""``fix --commit``: nobody's commits are lost, no value becomes an option, and the commit
honours what the repository asks of every commit (signing, hooks). Real repositories, real
bare remotes, real pushes and real hooks in temp dirs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixuser import core
from fixuser.branches.fix_commit import run_commit
from fixuser.branches.repo import DEFAULT_BRANCH
from fixuser.branches.safety import is_fixuser_branch
from fixuser.settings import Settings
from testing.git import (
    ROOT_DOCKERFILE,
    TEST_EMAIL,
    add_hook,
    branches,
    commit_all,
    git,
    isolate_git,
    make_repo,
    snapshot,
    ssh_signing_key,
    write_files,
)

SETTINGS = Settings()
BRANCH = DEFAULT_BRANCH


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
            "README.md": "hello\n",
        },
    )


@pytest.fixture
def remote(repo: Path, tmp_path: Path) -> Path:
    """A bare ``origin`` that has the repository's main."""
    bare = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return bare


def commit(repo: Path, *args: str, **kwargs: object) -> int:
    return run_commit([str(repo), *args], SETTINGS, **kwargs)  # type: ignore[arg-type]


def tip(repo: Path, branch: str = BRANCH) -> str:
    return git(repo, "rev-parse", f"refs/heads/{branch}").strip()


def reviewer_pushes_a_tweak(remote: Path, tmp_path: Path, *, amend: bool = False) -> str:
    """Somebody clones the remote, changes the fix branch (a new commit, or an amend that
    keeps fixuser's message and trailer) and pushes it; the remote's new tip."""
    work = tmp_path / "reviewer"
    git(tmp_path, "clone", "-q", "-b", BRANCH, str(remote), str(work))
    write_files(work, {"Dockerfile": (work / "Dockerfile").read_text() + "# reviewed\n"})
    git(work, "add", "Dockerfile")
    ident = ["-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com"]
    if amend:  # a later committer date than fixuser's own, as a real amend has
        subprocess.run(
            ["git", "-C", str(work), *ident, "commit", "-q", "--amend", "--no-edit"],
            env={**os.environ, "GIT_COMMITTER_DATE": "2035-01-01T00:00:00"},
            check=True,
        )
    else:
        git(work, *ident, "commit", "-q", "-m", "review: note")
    git(work, "push", "-q", "--force", "origin", BRANCH)
    return git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip()


# -- 13: never a plain force push ---------------------------------------------------------------


@pytest.mark.parametrize("amend", [False, True], ids=["new-commit", "amend"])
def test_force_push_never_throws_away_a_reviewers_commit_on_the_remote(
    repo: Path, remote: Path, tmp_path: Path, amend: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commit(repo, push=True) == 0
    mine = tip(repo)
    theirs = reviewer_pushes_a_tweak(remote, tmp_path, amend=amend)
    write_files(repo, {"README.md": "main moves on\n"})
    commit_all(repo, "second")
    capsys.readouterr()

    assert commit(repo, push=True, force=True) == 2

    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip() == theirs
    assert tip(repo) == mine  # the local branch is as it was, not a new commit
    err = capsys.readouterr().err
    assert f"{BRANCH} on origin" in err
    assert "--force" not in err.replace("even with --force", "")


def test_force_push_replaces_its_own_branch_on_the_remote(
    repo: Path, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commit(repo, push=True) == 0
    old = tip(repo)
    write_files(repo, {"README.md": "main moves on\n"})
    head = commit_all(repo, "second")

    assert commit(repo, push=True, force=True) == 0

    new = git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip()
    assert new == tip(repo) != old
    assert git(remote, "rev-parse", f"{BRANCH}^").strip() == head


def test_force_push_refuses_a_remote_branch_it_never_saw(
    repo: Path, remote: Path, tmp_path: Path
) -> None:
    """The remote has the branch (someone else's run, someone's work) and this repository has
    no such branch: --force has nothing of fixuser's to replace, so nothing is replaced."""
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(remote), str(other))
    git(other, "push", "-q", "origin", f"main:refs/heads/{BRANCH}")
    theirs = git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip()

    assert commit(repo, push=True, force=True) == 2

    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip() == theirs
    assert BRANCH not in branches(repo)


def test_advice_for_an_existing_branch_never_suggests_force_over_someone_elses_work(
    repo: Path, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "branch", BRANCH)  # somebody's own branch of that name
    assert commit(repo, push=True) == 2
    err = capsys.readouterr().err
    assert "exists" in err
    assert "--force" not in err


# -- 14: a refused push leaves nothing behind and says why ------------------------------------


def test_refused_push_leaves_no_branch_and_prints_the_hooks_reason(
    repo: Path, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_hook(
        remote / "hooks", "pre-receive", "echo 'protected: ask the release team' >&2\nexit 1\n"
    )
    before = snapshot(repo)

    assert commit(repo, push=True) == 2

    assert BRANCH not in branches(repo)
    assert snapshot(repo) == before
    out, err = capsys.readouterr()
    assert "protected: ask the release team" in err
    assert f"no branch {BRANCH} kept" in err
    assert "committed on branch" not in out


def test_refused_forced_push_puts_the_old_branch_back(
    repo: Path, remote: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert commit(repo, push=True) == 0
    old = tip(repo)
    write_files(repo, {"README.md": "main moves on\n"})
    commit_all(repo, "second")
    add_hook(remote / "hooks", "pre-receive", "echo 'frozen: no pushes today' >&2\nexit 1\n")

    assert commit(repo, push=True, force=True) == 2

    assert tip(repo) == old
    assert git(remote, "rev-parse", f"refs/heads/{BRANCH}").strip() == old
    assert "frozen: no pushes today" in capsys.readouterr().err


def test_refused_push_on_the_command_line_switches_nothing(repo: Path, remote: Path) -> None:
    add_hook(remote / "hooks", "pre-receive", "echo 'no new branches' >&2\nexit 1\n")
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--commit", "--push", "--checkout"],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "no new branches" in proc.stderr
    assert git(repo, "symbolic-ref", "HEAD").strip() == "refs/heads/main"
    assert BRANCH not in branches(repo)


# -- 15: values are data, never options; paths are literal ------------------------------------


def test_a_remote_named_like_an_option_runs_nothing(repo: Path, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for option in ("--receive-pack", "--exec", "--upload-pack"):
        assert commit(repo, push=True, remote=f"{option}=touch {marker}", force=True) == 2
    assert not marker.exists()


def test_a_directory_named_like_pathspec_magic_does_not_hide_an_uncommitted_edit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``:(exclude)svc/Dockerfile`` is a file's path, not an order to leave svc/ out."""
    repo = make_repo(
        tmp_path / "magic",
        {"svc/Dockerfile": ROOT_DOCKERFILE, ":(exclude)svc/Dockerfile": ROOT_DOCKERFILE},
    )
    (repo / "svc" / "Dockerfile").write_bytes(ROOT_DOCKERFILE + b"EXPOSE 80\n")

    assert commit(repo) == 2

    assert BRANCH not in branches(repo)
    assert "svc/Dockerfile: uncommitted changes" in capsys.readouterr().err


def test_paths_that_start_with_a_dash_are_paths(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "dash", {"-rf/Dockerfile": ROOT_DOCKERFILE, "--all": "x\n"})
    assert commit(repo) == 0
    assert git(repo, "diff", "--name-only", "main", BRANCH).split() == ["-rf/Dockerfile"]
    (repo / "-rf" / "Dockerfile").write_bytes(b"edited\n")
    assert commit(repo, branch="second") == 2
    assert "second" not in branches(repo)


@pytest.mark.parametrize("flag", ["--skip-worktree", "--assume-unchanged"])
def test_hidden_files_are_compared_with_the_working_tree(
    repo: Path, flag: str, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "update-index", flag, "Dockerfile")
    (repo / "Dockerfile").write_bytes(ROOT_DOCKERFILE + b"EXPOSE 80\n")
    before = snapshot(repo)

    assert commit(repo) == 2

    assert snapshot(repo) == before
    assert BRANCH not in branches(repo)
    assert "Dockerfile: uncommitted changes" in capsys.readouterr().err


def test_an_unchanged_skip_worktree_file_and_a_sparse_one_are_not_edits(repo: Path) -> None:
    git(repo, "update-index", "--skip-worktree", "Dockerfile")
    git(repo, "update-index", "--skip-worktree", "svc/Containerfile")
    (repo / "svc" / "Containerfile").unlink()  # outside a sparse checkout: not on disk at all
    assert commit(repo) == 0
    assert git(repo, "diff", "--name-only", "main", BRANCH).split() == [
        "Dockerfile",
        "svc/Containerfile",
    ]


@pytest.mark.parametrize("name", ["HEAD", "-", "-rf", "@", "--force", "a..b", "x@{-1}"])
def test_branch_names_git_would_misread_are_refused(
    repo: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    before = snapshot(repo)
    assert commit(repo, branch=name) == 2
    assert snapshot(repo) == before
    assert "not a valid branch name" in capsys.readouterr().err


# -- 17: signing and hooks, as git commit would ---------------------------------------------


def test_commit_gpgsign_signs_through_gits_own_signing_setup(repo: Path, tmp_path: Path) -> None:
    public, allowed = ssh_signing_key(tmp_path / "keys")
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(public))
    git(repo, "config", "commit.gpgsign", "true")

    assert commit(repo) == 0

    proc = subprocess.run(
        ["git", "-C", str(repo), "-c", f"gpg.ssh.allowedSignersFile={allowed}",
         "verify-commit", BRANCH],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert f'Good "git" signature for {TEST_EMAIL}' in proc.stderr


def test_commit_gpgsign_that_cannot_sign_refuses_in_one_line(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    git(repo, "config", "gpg.format", "ssh")
    git(repo, "config", "user.signingkey", str(tmp_path / "no-such-key.pub"))
    git(repo, "config", "commit.gpgsign", "true")
    before = snapshot(repo)

    assert commit(repo) == 2

    assert snapshot(repo) == before
    assert BRANCH not in branches(repo)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "commit.gpgsign" in err[0]
    assert "no-such-key.pub" in err[0]


LOGGING_PRE_COMMIT = """\
log={log}
{{
  echo "cwd=$(pwd)"
  echo "head=$(git rev-parse HEAD)"
  echo "staged=$(git diff --cached --name-only | tr '\\n' ' ')"
  echo "unstaged=$(git diff --name-only | tr '\\n' ' ')"
}} > "$log"
cp Dockerfile "$log.Dockerfile"
"""


def test_pre_commit_hook_sees_the_fix_staged_in_a_worktree_of_its_own(
    repo: Path, tmp_path: Path
) -> None:
    log = tmp_path / "hook.log"
    add_hook(repo / ".git" / "hooks", "pre-commit", LOGGING_PRE_COMMIT.format(log=log))
    # git commit runs no post-checkout hook, and neither does the hooks' worktree.
    add_hook(repo / ".git" / "hooks", "post-checkout", f"touch {tmp_path / 'checked-out'}\n")
    (repo / "README.md").write_text("an uncommitted edit\n")
    git(repo, "stash", "list")
    before = snapshot(repo)
    head = git(repo, "rev-parse", "HEAD").strip()

    assert commit(repo) == 0

    assert snapshot(repo).without_branch(BRANCH) == before
    seen = dict(line.split("=", 1) for line in log.read_text().splitlines())
    assert Path(seen["cwd"]) != repo
    assert seen["head"] == head
    assert seen["staged"].split() == ["Dockerfile", "svc/Containerfile"]
    assert seen["unstaged"] == ""
    fixed = core.fix(ROOT_DOCKERFILE, SETTINGS, path="Dockerfile").output
    assert Path(f"{log}.Dockerfile").read_bytes() == fixed
    assert not Path(seen["cwd"]).exists()  # the hook's worktree is gone
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1
    assert not (tmp_path / "checked-out").exists()


def test_a_failing_pre_commit_hook_refuses_with_its_output(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_hook(
        repo / ".git" / "hooks",
        "pre-commit",
        "echo 'lint: Dockerfile:3 pin your versions'\necho 'lint failed' >&2\nexit 1\n",
    )
    before = snapshot(repo)

    assert commit(repo) == 2

    assert snapshot(repo) == before
    assert BRANCH not in branches(repo)
    err = capsys.readouterr().err
    assert "pre-commit hook" in err
    assert "lint: Dockerfile:3 pin your versions" in err
    assert "lint failed" in err
    assert git(repo, "worktree", "list", "--porcelain").count("worktree ") == 1


def test_no_verify_skips_the_hooks(repo: Path) -> None:
    add_hook(repo / ".git" / "hooks", "pre-commit", "exit 1\n")
    add_hook(repo / ".git" / "hooks", "commit-msg", "exit 1\n")
    assert commit(repo) == 2
    assert commit(repo, no_verify=True) == 0
    assert is_fixuser_branch(repo, BRANCH)


def test_commit_msg_hook_edits_the_message_as_git_commit_would(repo: Path) -> None:
    add_hook(
        repo / ".git" / "hooks",
        "commit-msg",
        'git interpret-trailers --in-place --trailer "Change-Id: I0123abcd" "$1"\n',
    )
    assert commit(repo) == 0
    message = git(repo, "log", "-1", "--format=%B", BRANCH)
    assert "Change-Id: I0123abcd" in message
    assert is_fixuser_branch(repo, BRANCH)


def test_a_failing_commit_msg_hook_refuses_with_its_output(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    add_hook(
        repo / ".git" / "hooks",
        "commit-msg",
        'grep -q "^JIRA-" "$1" || { echo "commit-msg: name a JIRA ticket" >&2; exit 1; }\n',
    )
    assert commit(repo) == 2
    assert BRANCH not in branches(repo)
    assert "commit-msg: name a JIRA ticket" in capsys.readouterr().err


def test_hooks_come_from_core_hooks_path_of_the_users_checkout(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A relative core.hooksPath is relative to the user's working tree, as for git commit:
    here the hooks directory is not even committed."""
    git(repo, "config", "core.hooksPath", ".githooks")
    add_hook(repo / ".githooks", "pre-commit", "echo 'from .githooks' >&2\nexit 1\n")
    add_hook(repo / ".git" / "hooks", "pre-commit", "exit 0\n")  # not the hooks git uses

    assert commit(repo) == 2

    assert "from .githooks" in capsys.readouterr().err


def test_no_verify_on_the_command_line(repo: Path) -> None:
    add_hook(repo / ".git" / "hooks", "pre-commit", "echo 'nope' >&2\nexit 1\n")
    base = [sys.executable, "-m", "fixuser", "fix", "--commit"]
    refused = subprocess.run(base, cwd=repo, capture_output=True, text=True)
    assert refused.returncode == 2
    assert "nope" in refused.stderr
    done = subprocess.run([*base, "--no-verify"], cwd=repo, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert is_fixuser_branch(repo, BRANCH)


def test_the_hooks_worktree_leaves_the_users_absent_worktrees_registered(
    repo: Path, tmp_path: Path
) -> None:
    """A worktree on a disk that is not mounted now is the user's: only fixuser's own
    temporary worktree is removed, nothing is pruned."""
    away = tmp_path / "usb" / "feature"
    git(repo, "worktree", "add", "-q", "-b", "feature", str(away))
    shutil.rmtree(tmp_path / "usb")
    add_hook(repo / ".git" / "hooks", "pre-commit", "exit 0\n")

    assert commit(repo) == 0

    listed = git(repo, "worktree", "list", "--porcelain")
    assert f"worktree {away}" in listed
    assert listed.count("worktree ") == 2
