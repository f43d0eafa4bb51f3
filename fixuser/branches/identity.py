"""Who makes a fix commit: ``--author``, and git's committer identity, looked up in one place.

Every commit fixuser makes (``fix --commit``, the interactive session, batch) takes its author
and committer from ``Identity.resolve``: the committer is git's own (``GIT_COMMITTER_NAME`` /
``GIT_COMMITTER_EMAIL``, else ``user.name`` / ``user.email``), the author is ``--author`` or
the committer, and fixuser's own name stands in when git has none.
"""

from __future__ import annotations

import dataclasses
import os
import re
import time

from fixuser.branches.gitrun import run_git
from fixuser.branches.repo import FALLBACK_EMAIL, FALLBACK_NAME, RepoError


@dataclasses.dataclass(frozen=True)
class Identity:
    """Author and committer, each (name, email)."""

    author: tuple[str, str]
    committer: tuple[str, str]

    @classmethod
    def resolve(cls, author: str | None, cwd: str | os.PathLike[str] | None = None) -> Identity:
        """``author`` ('Name <email>', or None) and the committer git has configured in
        ``cwd`` (a repository, or None: the environment and the global configuration)."""
        committer = configured_identity(cwd)
        fallback = (FALLBACK_NAME, FALLBACK_EMAIL)
        chosen = parse_identity(author) if author else committer or fallback
        return cls(chosen, committer or chosen)

    @property
    def signoff(self) -> str:
        """The committer as a ``Signed-off-by`` trailer names it: ``Name <email>``."""
        name, email = self.committer
        return f"{name} <{email}>"

    def env(self, date: str | None = None) -> dict[str, str]:
        """The environment git makes the commit with: one date for author and committer (a
        commit whose two dates differ was amended, rebased or cherry-picked after fixuser made
        it, see ``safety.is_fixuser_commit``). The date is ``GIT_COMMITTER_DATE`` when set,
        else now, unless given."""
        if date is None:
            now = f"@{int(time.time())} {time.strftime('%z')}"
            date = os.environ.get("GIT_COMMITTER_DATE") or now
        (an, ae), (cn, ce) = self.author, self.committer
        return {
            "GIT_AUTHOR_NAME": an, "GIT_AUTHOR_EMAIL": ae, "GIT_AUTHOR_DATE": date,
            "GIT_COMMITTER_NAME": cn, "GIT_COMMITTER_EMAIL": ce, "GIT_COMMITTER_DATE": date,
        }  # fmt: skip


def configured_identity(cwd: str | os.PathLike[str] | None = None) -> tuple[str, str] | None:
    """user.name and user.email from git's environment, else its configuration as git reads
    it in ``cwd`` (a user's repository; None: where fixuser runs, the global configuration
    outside a repository, which is what a cache clone, with none of its own, would read too);
    None when unset."""

    def value(key: str, env: str) -> str:
        if os.environ.get(env):
            return os.environ[env]
        try:
            return run_git("config", "--get", key, cwd=cwd).strip()
        except RepoError:
            return ""

    name, email = (
        value("user.name", "GIT_COMMITTER_NAME"),
        value("user.email", "GIT_COMMITTER_EMAIL"),
    )
    return (name, email) if name and email else None


def parse_identity(value: str) -> tuple[str, str]:
    match = re.fullmatch(r"\s*([^<>]+?)\s*<([^<>\s]+)>\s*", value)
    if not match:
        raise RepoError(f"--author {value!r} must look like 'Name <email>'")
    return match[1], match[2]
