"""branches/identity.py: the one lookup of who makes a fix commit, against a real git."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixuser.branches.commit import commit_fixes
from fixuser.branches.identity import Identity
from fixuser.branches.repo import FALLBACK_EMAIL, FALLBACK_NAME, RepoError, plan_repository
from fixuser.settings import Settings
from testing.git import TEST_EMAIL, TEST_NAME, git, isolate_git, make_repo


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    monkeypatch.chdir(tmp_path)  # not inside fixuser's own checkout


def test_the_committer_is_git_s_configured_user() -> None:
    assert Identity.resolve(None) == Identity((TEST_NAME, TEST_EMAIL), (TEST_NAME, TEST_EMAIL))


def test_git_s_committer_environment_beats_its_configuration(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GIT_COMMITTER_NAME", "Env Person")
    monkeypatch.setenv("GIT_COMMITTER_EMAIL", "env@example.com")
    assert Identity.resolve(None).committer == ("Env Person", "env@example.com")


def test_a_repository_s_own_user_beats_the_global_one(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "config", "user.name", "Local Person")
    git(repo, "config", "user.email", "local@example.com")
    assert Identity.resolve(None, repo).committer == ("Local Person", "local@example.com")
    assert Identity.resolve(None).committer == (TEST_NAME, TEST_EMAIL)


def test_author_names_the_author_and_leaves_git_s_committer() -> None:
    who = Identity.resolve("  Ann Author <ann@example.com> ")
    assert who == Identity(("Ann Author", "ann@example.com"), (TEST_NAME, TEST_EMAIL))
    assert who.signoff == f"{TEST_NAME} <{TEST_EMAIL}>"


def test_without_any_identity_fixuser_commits_as_itself(tmp_path: Path) -> None:
    (tmp_path / "home" / ".gitconfig").write_text("")
    assert Identity.resolve(None) == Identity(
        (FALLBACK_NAME, FALLBACK_EMAIL), (FALLBACK_NAME, FALLBACK_EMAIL)
    )
    assert Identity.resolve("A <a@x>").committer == ("A", "a@x")  # the author commits then


@pytest.mark.parametrize("value", ["nobody", "Name <>", "<a@x>", "A <a@x> <b@y>"])
def test_an_author_not_shaped_name_email_is_refused(value: str) -> None:
    with pytest.raises(RepoError, match="must look like 'Name <email>'"):
        Identity.resolve(value)


def test_author_and_committer_share_one_date(monkeypatch: pytest.MonkeyPatch) -> None:
    env = Identity(("A", "a@x"), ("C", "c@x")).env()
    assert env["GIT_AUTHOR_DATE"] == env["GIT_COMMITTER_DATE"]
    monkeypatch.setenv("GIT_COMMITTER_DATE", "@1700000000 +0000")
    assert Identity(("A", "a@x"), ("C", "c@x")).env()["GIT_AUTHOR_DATE"] == "@1700000000 +0000"
    assert Identity(("A", "a@x"), ("C", "c@x")).env("1 +0000") == {
        "GIT_AUTHOR_NAME": "A", "GIT_AUTHOR_EMAIL": "a@x", "GIT_AUTHOR_DATE": "1 +0000",
        "GIT_COMMITTER_NAME": "C", "GIT_COMMITTER_EMAIL": "c@x", "GIT_COMMITTER_DATE": "1 +0000",
    }  # fmt: skip


def test_a_fix_commit_is_made_by_the_identity_resolve_names(tmp_path: Path) -> None:
    repo = make_repo(tmp_path / "repo")
    git(repo, "config", "user.name", "Local Person")
    git(repo, "config", "user.email", "local@example.com")
    plan = plan_repository(repo, Settings(), "HEAD")
    sha = commit_fixes(repo, plan, "fixuser/x", "fix\n", author="Ann Author <ann@example.com>")
    made = git(repo, "log", "-1", "--format=%an <%ae>|%cn <%ce>", sha).strip()
    assert made == "Ann Author <ann@example.com>|Local Person <local@example.com>"
