"""``fixuser batch``: nobody's commits are lost, no value becomes an option, nothing is pushed
into a user's checkout, and the clone cache stays honest. Real bare remotes, real pushes,
real hooks and real concurrent processes in temp dirs."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from fixuser.branches import batch
from fixuser.branches.repo import DEFAULT_BRANCH
from fixuser.main import main
from testing.fleet import ROOT, add_hook, git, make_remote, remote_branches
from testing.git import isolate_git, snapshot, ssh_signing_key

BRANCH = DEFAULT_BRANCH


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    # No identity: batch commits as fixuser <fixuser@localhost>.
    (tmp_path / "home" / ".gitconfig").write_text('[protocol "file"]\n\tallow = always\n')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    return make_remote(tmp_path / "remotes", "svc", {"Dockerfile": ROOT})


def run_batch(tmp_path: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    report = tmp_path / "report.json"
    report.unlink(missing_ok=True)
    code = main(["batch", "--jobs", "2", "--report", str(report), *args])
    if not report.exists():
        return code, {}
    return code, {r["repo"]: r for r in json.loads(report.read_text())["repositories"]}


def main_moves_on(remote: Path, tmp_path: Path) -> str:
    """A new commit on the remote's main (the earlier fix branch is then stale)."""
    work = tmp_path / "remotes" / "work" / remote.name.removesuffix(".git")
    (work / "README.md").write_text(f"more {time.time()}\n")
    git(work, "add", "README.md")
    git(work, "-c", "user.name=A", "-c", "user.email=a@b", "commit", "-q", "-m", "more")
    git(work, "push", "-q", str(remote), "main")
    return git(remote, "rev-parse", "main").strip()


def reviewer_changes_the_branch(remote: Path, tmp_path: Path, *, amend: bool) -> str:
    """Somebody pushes to the fix branch: a commit on top, or an amend of fixuser's commit
    (which keeps its message and trailer); the remote's new tip."""
    work = tmp_path / f"reviewer-{time.monotonic_ns()}"
    git(tmp_path, "clone", "-q", "-b", BRANCH, str(remote), str(work))
    (work / "Dockerfile").write_text((work / "Dockerfile").read_text() + "# reviewed\n")
    git(work, "add", "Dockerfile")
    ident = ["-c", "user.name=Reviewer", "-c", "user.email=reviewer@example.com"]
    extra = ["--amend", "--no-edit"] if amend else ["-m", "review: tweak"]
    subprocess.run(
        ["git", "-C", str(work), *ident, "commit", "-q", *extra],
        env={**os.environ, "GIT_COMMITTER_DATE": "2035-01-01T00:00:00"},
        check=True,
    )
    git(work, "push", "-q", "--force", "origin", BRANCH)
    return remote_branches(remote)[BRANCH]


def cache_clone(tmp_path: Path, name: str = "svc", workdir: Path | None = None) -> Path:
    repos = (workdir or tmp_path / "cache" / "fixuser" / "batch") / "repos"
    return next(p for p in repos.glob(f"*-{name}-*") if p.is_dir() and not p.name.startswith("."))


# -- 13: never a plain force push ---------------------------------------------------------------


@pytest.mark.parametrize("amend", [False, True], ids=["commit-on-top", "amend"])
def test_replace_never_throws_away_a_reviewers_change(
    tmp_path: Path, remote: Path, amend: bool
) -> None:
    spec = str(remote)
    assert run_batch(tmp_path, "--push", spec)[0] == 0
    theirs = reviewer_changes_the_branch(remote, tmp_path, amend=amend)
    main_moves_on(remote, tmp_path)

    code, report = run_batch(tmp_path, "--push", "--conflict", "replace", spec)

    assert (code, report[spec]["outcome"]) == (0, "skipped-conflict")
    assert remote_branches(remote)[BRANCH] == theirs


def test_replace_leases_the_tip_it_saw_so_a_push_meanwhile_survives(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reviewer pushes after fixuser fetched and before it pushes: git refuses the lease,
    the reviewer's commit stays, and the repository is a conflict, not a failure."""
    spec = str(remote)
    assert run_batch(tmp_path, "--push", spec)[0] == 0
    main_moves_on(remote, tmp_path)
    pushed: list[str] = []
    real_prepare = batch.prepare

    def prepare_then_a_reviewer_pushes(*args: Any, **kwargs: Any) -> Any:
        clone = real_prepare(*args, **kwargs)
        pushed.append(reviewer_changes_the_branch(remote, tmp_path, amend=False))
        return clone

    monkeypatch.setattr(batch, "prepare", prepare_then_a_reviewer_pushes)

    code, report = run_batch(tmp_path, "--push", "--conflict", "replace", spec)

    assert (code, report[spec]["outcome"]) == (0, "skipped-conflict")
    assert "changed while fixuser was working" in report[spec]["reason"]
    assert remote_branches(remote)[BRANCH] == pushed[0]


def test_a_new_branch_is_never_pushed_over_one_made_meanwhile(
    tmp_path: Path, remote: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = str(remote)
    real_prepare = batch.prepare
    theirs: list[str] = []

    def prepare_then_somebody_makes_the_branch(*args: Any, **kwargs: Any) -> Any:
        clone = real_prepare(*args, **kwargs)
        git(remote, "branch", BRANCH, "main")
        theirs.append(remote_branches(remote)[BRANCH])
        return clone

    monkeypatch.setattr(batch, "prepare", prepare_then_somebody_makes_the_branch)

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (0, "skipped-conflict")
    assert remote_branches(remote)[BRANCH] == theirs[0]


# -- 15: values are data, never options -------------------------------------------------------


@pytest.mark.parametrize("option", ["--upload-pack", "--receive-pack", "--exec"])
def test_a_remote_named_like_an_option_runs_nothing(
    tmp_path: Path, remote: Path, option: str, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = str(remote)
    assert run_batch(tmp_path, spec)[0] == 0  # the clone is in the cache: a fetch comes next
    marker = tmp_path / "pwned"

    code, _ = run_batch(tmp_path, "--push", f"--remote={option}=touch {marker}", spec)

    assert code == 2
    assert not marker.exists()
    assert "not a valid remote name" in capsys.readouterr().err


# -- 16: batch never pushes into a checkout; its cache and state stay honest ----------------


@pytest.mark.parametrize("given", ["path", "file-url"])
def test_a_checkout_without_the_remote_is_an_error_not_a_push_into_it(
    tmp_path: Path, given: str
) -> None:
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    (checkout / "Dockerfile").write_bytes(ROOT)
    git(checkout, "init", "-q", "-b", "main")
    git(checkout, "add", "-A")
    git(checkout, "-c", "user.name=U", "-c", "user.email=u@x", "commit", "-q", "-m", "init")
    marker = tmp_path / "receive-hook-ran"
    for hook in ("pre-receive", "post-receive", "update"):
        add_hook(checkout / ".git", hook, f"touch {marker}\n")
    before = snapshot(checkout)
    spec = str(checkout) if given == "path" else f"file://{checkout}"

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (1, "failed")
    assert "checkout" in report[spec]["reason"]
    assert snapshot(checkout) == before
    assert not marker.exists()


@pytest.mark.parametrize("name", ["HEAD", "-", "-rf", "@", "a..b"])
def test_branch_names_fix_commit_refuses_are_refused(
    tmp_path: Path, remote: Path, name: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, report = run_batch(tmp_path, "--push", f"--branch={name}", str(remote))
    assert (code, report) == (2, {})
    assert "not a valid branch name" in capsys.readouterr().err
    assert set(remote_branches(remote)) == {"main"}


@pytest.mark.parametrize("explicit_state", [False, True], ids=["default-state", "--state"])
def test_push_resume_after_a_run_without_push_pushes(
    tmp_path: Path, remote: Path, explicit_state: bool
) -> None:
    spec = str(remote)
    state = ["--state", str(tmp_path / "state.json")] if explicit_state else []
    code, report = run_batch(tmp_path, *state, spec)
    assert (code, report[spec]["outcome"]) == (0, "committed")

    code, report = run_batch(tmp_path, *state, "--push", "--resume", spec)

    assert (code, report[spec]["outcome"]) == (0, "pushed")
    assert BRANCH in remote_branches(remote)


def test_a_branch_deleted_on_the_remote_is_not_an_existing_branch(
    tmp_path: Path, remote: Path
) -> None:
    spec = str(remote)
    assert run_batch(tmp_path, "--push", spec)[0] == 0
    git(remote, "branch", "-D", BRANCH)  # merged and deleted, say
    head = main_moves_on(remote, tmp_path)

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (0, "pushed")
    assert git(remote, "rev-parse", f"{BRANCH}^").strip() == head
    assert BRANCH not in remote_branches(cache_clone(tmp_path)) or (
        remote_branches(cache_clone(tmp_path))[BRANCH] == remote_branches(remote)[BRANCH]
    )


def test_a_second_identical_run_says_unchanged(tmp_path: Path, remote: Path) -> None:
    spec = str(remote)
    code, report = run_batch(tmp_path, "--push", spec)
    assert (code, report[spec]["outcome"]) == (0, "pushed")
    first = remote_branches(remote)[BRANCH]
    add_hook(remote, "pre-receive", "exit 1\n")  # a second push would fail

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (0, "unchanged")
    assert report[spec]["commit_sha"] == first
    assert remote_branches(remote)[BRANCH] == first


@pytest.mark.parametrize("relative", [False, True], ids=["absolute-url", "relative-url"])
def test_a_checkout_with_a_remote_is_unchanged_on_a_second_run(
    tmp_path: Path, remote: Path, relative: bool
) -> None:
    checkout = tmp_path / "checkout"
    git(tmp_path, "clone", "-q", str(remote), str(checkout))
    if relative:  # relative to the checkout, where git reads it
        git(checkout, "remote", "set-url", "origin", os.path.relpath(remote, checkout))
    spec = str(checkout)
    assert run_batch(tmp_path, "--push", spec)[1][spec]["outcome"] == "pushed"
    first = remote_branches(remote)[BRANCH]

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (0, "unchanged")
    assert remote_branches(remote)[BRANCH] == first
    assert BRANCH not in remote_branches(checkout / ".git")


def slow_clone_git(tmp_path: Path) -> dict[str, str]:
    """An environment whose ``git clone`` waits 3 s before it starts (the real git then)."""
    real = shutil.which("git")
    assert real is not None
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "git"
    wrapper.write_text(f'#!/bin/sh\n[ "$1" = clone ] && sleep 3\nexec {real} "$@"\n')
    wrapper.chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}


def test_two_batch_processes_on_one_workdir_keep_each_others_clones(
    tmp_path: Path, remote: Path
) -> None:
    workdir = tmp_path / "shared"
    repos = workdir / "repos"

    def start(name: str, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        report = tmp_path / f"{name}.json"
        return subprocess.Popen(
            [sys.executable, "-m", "fixuser", "batch", "--workdir", str(workdir),
             "--state", str(tmp_path / f"{name}-state.json"), "--report", str(report),
             str(remote)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip

    first = start("first", slow_clone_git(tmp_path))
    deadline = time.monotonic() + 20
    while not (repos.is_dir() and any(p.name.startswith(".") for p in repos.iterdir())):
        assert time.monotonic() < deadline, "the first run never started its clone"
        time.sleep(0.05)
    second = start("second")
    for proc in (first, second):
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    for name in ("first", "second"):
        record = json.loads((tmp_path / f"{name}.json").read_text())["repositories"][0]
        assert record["outcome"] in ("committed", "unchanged"), record
    clone = cache_clone(tmp_path, workdir=workdir)
    subprocess.run(["git", "-C", str(clone), "fsck", "--connectivity-only"], check=True)


def test_a_corrupt_clone_is_detected_and_cloned_again(tmp_path: Path, remote: Path) -> None:
    spec = str(remote)
    assert run_batch(tmp_path, spec)[1][spec]["outcome"] == "committed"
    clone = cache_clone(tmp_path)
    for path in (clone / "objects").rglob("*"):  # every object gone, the refs left behind
        if path.is_file():
            path.unlink()

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (0, "pushed"), report[spec].get("reason")
    subprocess.run(["git", "-C", str(cache_clone(tmp_path)), "fsck"], check=True)


# -- 17: commits honour commit.gpgsign ----------------------------------------------------------


def sign_everything(tmp_path: Path, key: Path) -> None:
    with (tmp_path / "home" / ".gitconfig").open("a") as config:
        config.write(f"[gpg]\n\tformat = ssh\n[user]\n\tsigningkey = {key}\n")
        config.write("[commit]\n\tgpgsign = true\n")


def test_commit_gpgsign_signs_every_batch_commit(tmp_path: Path, remote: Path) -> None:
    public, allowed = ssh_signing_key(tmp_path / "keys", email="fixuser@localhost")
    sign_everything(tmp_path, public)
    spec = str(remote)

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (0, "pushed")
    proc = subprocess.run(
        ["git", "-C", str(remote), "-c", f"gpg.ssh.allowedSignersFile={allowed}",
         "verify-commit", BRANCH],
        capture_output=True, text=True,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr


def test_commit_gpgsign_that_cannot_sign_commits_nothing(tmp_path: Path, remote: Path) -> None:
    sign_everything(tmp_path, tmp_path / "no-such-key.pub")
    spec = str(remote)

    code, report = run_batch(tmp_path, "--push", spec)

    assert (code, report[spec]["outcome"]) == (1, "failed")
    assert "commit.gpgsign" in report[spec]["reason"]
    assert "\n" not in report[spec]["reason"]
    assert set(remote_branches(remote)) == {"main"}
