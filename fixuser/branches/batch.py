"""``fixuser batch``: fix many repositories, one remediation branch each, and say what happened.

Per repository: a bare clone in fixuser's own cache (fetched again when present, pruned),
the fixes planned from the base commit's blobs and committed by ``branches.clone_commit``
(index-free, one ``update-ref``), then optionally pushed and offered for review. A bare clone
because nothing here needs a working tree: cloning is cheaper, and the remote's branches are
the clone's branches, so "the branch is already there" is one ref lookup.

Safety: the clone is made in a temporary directory and renamed into place, a commit appears
only through ``update-ref`` and a push is atomic on the remote, so a repository interrupted
at any point (Ctrl-C or kill -9) is untouched or has a complete branch. Each push carries a
lease on the remote tip fixuser fetched (never a plain force push): a commit somebody pushed
meanwhile makes the repository a ``skipped-conflict``. Nothing is pushed into a checkout.
A clone is locked while a repository is worked on, so batch processes sharing a --workdir
wait for each other; a corrupt clone is cloned again. The state file is rewritten atomically
after every repository; ``--resume`` continues from it. A rerun that finds its own earlier
branch (same parent, same fixed files) on the remote says ``unchanged`` and pushes nothing.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import re
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fixuser.branches import forge, repo, review
from fixuser.branches.batch_report import FileRecord, Record
from fixuser.branches.clone_commit import Conflict, commit_in_clone, push, same_fix
from fixuser.branches.clones import (
    Source,
    branch_tip,
    commit_at,
    configured_push_url,
    default_branch,
    intact,
    locked,
    prepare,
    source_of,
)
from fixuser.branches.identity import Identity
from fixuser.branches.push import review_url
from fixuser.branches.safety import is_fixuser_branch
from fixuser.errors import FixuserError
from fixuser.model import Verdict
from fixuser.settings import Settings, SettingsError, build_settings, read_table

if TYPE_CHECKING:
    import git

GITLAB_PUSH = "gitlab-push"
TITLE = "Run containers as a non-root user (CIS Docker 4.1)"


class StartError(FixuserError):
    """The run cannot start (exit 2); the message is one line."""


@dataclasses.dataclass(frozen=True)
class Options:
    """Everything a worker needs, built once from the command line."""

    flags: dict[str, Any]  # the settings flags actually given
    base_settings: Settings  # defaults < [tool.fixuser] of the directory fixuser runs in
    workdir: Path
    branch: str
    base: str | None
    remote: str
    push: bool
    dry_run: bool
    conflict: str
    identity: Identity
    forge: forge.Forge | None
    open_pr: str | None
    # --verify: the problems that keep a repository's fixes from being committed (none: go on).
    verify: Callable[[git.Repo, repo.RepoPlan], list[str]] | None = None
    sign: bool = False  # commit.gpgsign: git signs each commit, as git commit would


def repo_settings(clone: git.Repo, base: git.Commit, options: Options) -> Settings:
    """Explicit flags > the repository's own ``[tool.fixuser]`` > where fixuser runs > defaults."""
    try:
        data = (base.tree / "pyproject.toml").data_stream.read()
    except KeyError:
        return build_settings(options.flags, None, options.base_settings)
    own = options.base_settings.replace(**read_table(data, "pyproject.toml"))
    return build_settings(options.flags, None, own)


class Description(str):
    """The PR/MR description (Markdown), carrying the commit message of the same fix: the
    two are rendered apart (a Markdown heading starts with "#", which git's cleanup strips
    from a commit message on amend), and ``commit_message`` is handed the description."""

    commit: str


def description(plan: repo.RepoPlan, settings: Settings, branch: str) -> str:
    """``settings`` made the fix: each file's UID comes from the fix itself (``--uid`` or
    the user fixuser reused), so nothing else of them is needed here."""
    overrides = repo.override_texts(plan)
    text = Description(review.description(plan.fixes, branch, overrides))
    text.commit = review.commit_message(
        plan.fixes, branch=branch, remote=True, batch=True, overrides=overrides
    )
    return text


def commit_message(body: str) -> str:
    """The commit message of the fix ``body`` (from ``description``) describes. Its trailer
    stays the last paragraph: ``safety.is_fixuser_branch`` looks for it there."""
    if isinstance(body, Description):
        return body.commit
    # A description from elsewhere (a state file): kept whole, headings made plain.
    plain = re.sub(r"(?m)^#+[ \t]*(.*)$", lambda m: f"{m[1]}\n{'-' * len(m[1])}", body.rstrip())
    return f"{TITLE}\n\n{plain}\n\n{repo.TRAILER}\n"


def diff_stat(plan: repo.RepoPlan, clone: git.Repo) -> str:
    import git

    parts = []
    for f in plan.fixes:
        old = (git.Commit(clone, bytes.fromhex(plan.head)).tree / f.path).data_stream.read()
        matcher = difflib.SequenceMatcher(None, old.splitlines(), f.result.output.splitlines())
        added = removed = 0
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag != "equal":
                removed += i2 - i1
                added += j2 - j1
        parts.append(f"{f.path} +{added} -{removed}")
        parts += [f"{path} +{len(e.data.splitlines())} -0" for path, e in repo.extra_files(f)]
    return ", ".join(parts)


GITLAB_MR_URL_RE = re.compile(r"^remote:\s+(https?://\S+/-/merge_requests/\d+)\s*$", re.MULTILINE)


def gitlab_push_options(base_name: str | None, title: str = TITLE) -> list[str]:
    """GitLab opens the draft merge request while it receives the push; no token needed.

    Push options cannot hold a newline, so the description is not sent: for a merge request of
    one commit GitLab takes the commit message, which carries it.
    """
    options = ["merge_request.create", "merge_request.draft", f"merge_request.title={title}"]
    if base_name:
        options.append(f"merge_request.target={base_name}")
    return options


def file_records(plan: repo.RepoPlan, base: git.Commit) -> tuple[FileRecord, ...]:
    """Every Dockerfile of the base commit and what happened to it, by path."""
    out = []
    for f in plan.findings:
        analysis, change = f.result.analysis, f.result.change
        out.append(
            FileRecord(
                path=f.path,
                verdict=str(analysis.verdict),
                family=analysis.family,
                user=change.user if change is not None else analysis.user,
                warnings=analysis.warnings,
                changed=change is not None,
                reason=analysis.reason,
                targets=tuple((t.stage, t.source) for t in analysis.targets),
                role=analysis.role[:3] if analysis.role.evidence else ("", "", ""),
            )
        )
    if plan.errors:  # rare: only then walk the tree again for the files that could not be read
        judged = {f.path for f in plan.findings}
        unread = [p for p, _ in repo.dockerfile_blobs(base.tree, ()) if p not in judged]
        unread.sort(key=len, reverse=True)  # the longest path the message starts with
        for error in plan.errors:  # "path: problem"
            path = next((p for p in unread if error.startswith(f"{p}: ")), None)
            if path is not None:
                out.append(FileRecord(path, "error", reason=error[len(path) + 2 :]))
    return tuple(sorted(out, key=lambda f: f.path))


def outcome_without_fixes(spec: str, plan: repo.RepoPlan, files: tuple[FileRecord, ...]) -> Record:
    record = functools.partial(
        Record, spec, files=files, base_sha=plan.head, overrides=tuple(repo.override_texts(plan))
    )
    if plan.errors:
        return record("failed", reason="; ".join(plan.errors))
    if not plan.findings:
        return record("no-dockerfile")
    by_verdict: dict[Verdict, list[str]] = {}
    for f in plan.findings:
        by_verdict.setdefault(f.result.analysis.verdict, []).append(f.path)
    for verdict, outcome in (
        (Verdict.ROOT, "failed"),
        (Verdict.INVALID_USER, "failed"),
        (Verdict.ROOT_BY_DESIGN, "root-by-design"),
        (Verdict.NEEDS_ROOT, "needs-root"),
        (Verdict.DROPS_PRIVILEGES, "drops-privileges"),
    ):
        if verdict in by_verdict:
            paths = by_verdict[verdict]
            reasons = [f.result.analysis.reason for f in plan.findings if f.path in paths]
            reason = "; ".join(r for r in reasons if r)
            if verdict is Verdict.ROOT:
                reason = f"runs as root and fixuser could not fix it: {reason or 'unknown'}"
            elif verdict is Verdict.INVALID_USER:
                reason = f"a Dockerfile does not start: {reason}"
            return record(outcome, reason=reason)
    # Files fixuser was told to ignore, or could not judge, are named: not proven compliant.
    unsure = [
        f"{f.path}: {f.result.analysis.verdict}"
        for f in plan.findings
        if f.result.analysis.verdict in (Verdict.IGNORED, Verdict.UNKNOWN)
    ]
    return record("compliant", reason="; ".join(unsure))


def process(spec: str, options: Options) -> Record:
    """One repository, start to end; a problem becomes a ``failed`` record, never an exception.

    The record of a step that failed keeps what was known by then (the base commit, the
    files, the fix commit when a push failed)."""
    known: dict[str, Any] = {}
    try:
        source = source_of(spec, options.workdir)
        with locked(source.clone):
            return process_clone(source, options, known)
    except (repo.RepoError, SettingsError, forge.ForgeError, OSError) as e:
        return Record(spec, "failed", branch=None, reason=str(e) or type(e).__name__, **known)
    except Exception as e:  # a bug in one repository must not stop the fleet
        return Record(spec, "failed", reason=f"internal error: {type(e).__name__}: {e}", **known)


def process_clone(source: Source, options: Options, known: dict[str, Any]) -> Record:
    """``process_unguarded``, once more from a new clone when the cached one turns out to be
    corrupt (objects its refs need are missing: a disk that filled up, a clone cut short by
    hand). Checked only when something failed, so a sound cache costs nothing."""
    try:
        return process_unguarded(source, options, known)
    except Exception:
        if not source.clone.exists() or intact(source.clone):
            raise
    shutil.rmtree(source.clone)
    known.clear()
    return process_unguarded(source, options, known)


def process_unguarded(source: Source, options: Options, known: dict[str, Any]) -> Record:
    import git

    spec = source.spec
    clone_path = prepare(source, options.remote, options.branch, push=options.push)
    clone = git.Repo(clone_path)
    try:
        base_ref = f"refs/heads/{options.base}" if options.base else "HEAD"
        base_name = options.base or default_branch(clone)
        base = commit_at(clone, base_ref)
        known["base_sha"] = base.hexsha
        settings = repo_settings(clone, base, options)
        plan = repo.plan_repository(clone_path, settings, base=base.hexsha)
        known["files"] = files = file_records(plan, base)
        known["overrides"] = overrides = tuple(repo.override_texts(plan))
        if not plan.fixes:
            return outcome_without_fixes(spec, plan, files)
        body = description(plan, settings, options.branch)
        record = functools.partial(
            Record, spec, branch=options.branch, files=files, base_sha=plan.head,
            description=body, overrides=overrides,
        )  # fmt: skip
        notes = list(plan.errors)
        if options.dry_run:
            return record("would-fix", reason="; ".join([diff_stat(plan, clone), *notes]))
        if options.verify is not None:
            problems = options.verify(clone, plan)
            if problems:
                return record("failed", reason="--verify: " + "; ".join(problems))
        return publish(clone, plan, body, base_name, options, record, notes, known)
    finally:
        clone.close()


def publish(
    clone: git.Repo,
    plan: repo.RepoPlan,
    body: str,
    base_name: str | None,
    options: Options,
    record: Callable[..., Record],
    notes: list[str],
    known: dict[str, Any],
) -> Record:
    """Commit (or find this very fix's branch already there), push, open the review request.

    The clone's branch is the remote's, as fetched (``prepare``): the tip fixuser saw. It is
    replaced only under ``--conflict replace``, only when fixuser made it and nobody changed
    it since (``safety.is_fixuser_commit``), and the push carries a lease on it: a commit
    pushed meanwhile makes the repository a ``skipped-conflict``, never lost work."""
    branch = options.branch
    title = review.title(len(plan.fixes))  # the commit's own subject: one container or more
    push_url = configured_push_url(clone, options.remote)
    old = branch_tip(clone, branch)
    if old is not None and same_fix(clone, branch, plan):
        known["commit_sha"] = old
        record = functools.partial(record, commit_sha=old)
        return already_there(record, plan, body, base_name, options, push_url, notes)
    if old is not None:
        if options.conflict == "skip":
            why = f"branch {branch} exists (--conflict replace replaces a branch fixuser made)"
            return record("skipped-conflict", reason=why)
        if not is_fixuser_branch(clone, branch):
            why = (
                f"branch {branch} exists and fixuser did not make it, or somebody changed it "
                "since: not replacing it"
            )
            return record("skipped-conflict", reason=why)
    tip = commit_in_clone(
        clone, plan, branch, commit_message(body), options.identity, old, sign=options.sign
    )
    known["commit_sha"] = tip
    record = functools.partial(record, commit_sha=tip)
    clone_path = Path(clone.git_dir)
    if not options.push:
        return record("committed", reason="; ".join(notes or [f"in {clone_path}"]))
    by_push = options.open_pr == GITLAB_PUSH
    try:
        said = push(
            clone_path, options.remote, branch, expect=old,
            push_options=gitlab_push_options(base_name, title) if by_push else (),
        )  # fmt: skip
    except Conflict as e:
        return record("skipped-conflict", reason=str(e), commit_sha=None)
    url = review_url(push_url, branch, base_name)
    if by_push and (opened := GITLAB_MR_URL_RE.search(said)):
        url = opened[1]
    if options.forge is not None:
        request = forge.Request(push_url, branch, base_name or "main", title, body)
        try:
            url = options.forge.open(request)
        except forge.ForgeError as e:
            why = f"pushed {branch}, but the review request was not opened: {e}"
            return record("failed", reason=why, url=url)
    return record("pushed", reason="; ".join(notes), url=url)


def already_there(
    record: Callable[..., Record],
    plan: repo.RepoPlan,
    body: str,
    base_name: str | None,
    options: Options,
    push_url: str,
    notes: list[str],
) -> Record:
    """The remote's branch is exactly this fix (an earlier run's): nothing is committed or
    pushed, and the repository is ``unchanged``. With --open-pr the review request is asked
    for again (an earlier run may have pushed and failed to open it); a forge that already
    has one says so, and that is no failure."""
    branch = options.branch
    url = review_url(push_url, branch, base_name)
    reason = [*notes, f"branch {branch} is this fix already"]
    if options.push and options.forge is not None:
        title = review.title(len(plan.fixes))
        request = forge.Request(push_url, branch, base_name or "main", title, body)
        try:
            url = options.forge.open(request)
            reason.append("review request opened")
        except forge.ForgeError as e:
            if "already exists" not in str(e):
                why = f"{branch} is there, but the review request was not opened: {e}"
                return record("failed", reason=why, url=url)
    return record("unchanged", reason="; ".join(reason), url=url)
