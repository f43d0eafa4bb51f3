"""Pushing a fix branch with a lease on the remote tip fixuser saw (never a plain force push),
taking the branch back when the push is refused; and the page a reviewer opens for it.
"""

from __future__ import annotations

import re
import subprocess
import urllib.parse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from fixuser.branches.commit import commit_fixes
from fixuser.branches.gitrun import git_problem, run_git
from fixuser.branches.repo import ZERO_SHA, RepoError, RepoPlan, open_repo
from fixuser.branches.safety import branch_sha, check_branch_name, check_remote_name

if TYPE_CHECKING:
    import git

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
        out = run_git("ls-remote", "--", url, ref, cwd=repo.working_dir)
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
