"""``fixuser fix --commit``: plan the fixes of a repository's commit, commit them on a branch
(pushed with ``--push``) and say what was done.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches import review
from fixuser.branches.commit import summary
from fixuser.branches.identity import Identity, parse_identity
from fixuser.branches.push import commit_and_push
from fixuser.branches.repo import (
    DEFAULT_BRANCH,
    EXIT_OK,
    EXIT_REFUSED,
    RepoError,
    RepoPlan,
    context_lines,
    open_repo,
    plan_repository,
    render_commit_message,
)
from fixuser.escape import pasted_word, printable
from fixuser.settings import Settings

if TYPE_CHECKING:
    import git


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
        plan,
        signoff=Identity.resolve(author, repo.working_dir).signoff if signoff else None,
        branch=branch,
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
