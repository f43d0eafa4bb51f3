"""``fixuser batch``: fix many repositories, one remediation branch each, and say what happened
(the run itself: ``fixuser.branches.batch``).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from fixuser.branches import forge, repo, review
from fixuser.branches.batch import GITLAB_PUSH, Options, StartError
from fixuser.branches.batch_report import EXIT_ERROR, exit_code, markdown_path, write_report
from fixuser.branches.batch_verify import verifier
from fixuser.branches.clones import sha
from fixuser.branches.fleet import in_shard, parse_shard, repositories, run_all, to_run
from fixuser.branches.gitrun import config_bool
from fixuser.branches.identity import Identity, parse_identity
from fixuser.branches.progress import Progress, print_summary
from fixuser.branches.safety import check_branch_name, check_remote_name
from fixuser.branches.state import State
from fixuser.commands import options as cli
from fixuser.escape import printable
from fixuser.settings import SettingsError, build_settings
from fixuser.tree.config import load_settings
from fixuser.tree.fileio import probe


def default_workdir() -> Path:
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "fixuser" / "batch"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "repos", nargs="*", metavar="REPO", help="local path or clone URL; '-' reads stdin"
    )
    parser.add_argument("--repos-file", metavar="FILE", help="one repository a line, # comments")
    parser.add_argument(
        "--workdir", type=Path, default=None, help=f"clone cache (default {default_workdir()})"
    )
    parser.add_argument("--branch", default=repo.DEFAULT_BRANCH, help="default: %(default)s")
    parser.add_argument(
        "--base", default=None, help="branch to fix (default: the remote's default)"
    )
    parser.add_argument("--push", action="store_true", help="push each branch to --remote")
    parser.add_argument("--remote", default="origin", help="default: %(default)s")
    parser.add_argument(
        "--author", default=None, help="'Name <email>' (default: git, else fixuser)"
    )
    parser.add_argument(
        "--conflict",
        choices=("skip", "replace"),
        default="skip",
        help="branch already there: skip the repository, or replace a branch fixuser made "
        "(default %(default)s)",
    )
    parser.add_argument("--jobs", "-j", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--dry-run", action="store_true", help="show what would change, write nothing"
    )
    parser.add_argument("--limit", type=int, default=None, help="at most N repositories")
    parser.add_argument("--shard", type=parse_shard, default=None, metavar="K/N")
    parser.add_argument(
        "--state", type=Path, default=None, help="state file (default: in --workdir)"
    )
    parser.add_argument("--resume", action="store_true", help="skip repositories already done")
    parser.add_argument("--retry-failed", action="store_true", help="rerun only the failures")
    parser.add_argument("--report", type=Path, default=None, help="JSON report (and FILE.md)")
    parser.add_argument(
        "--open-pr",
        choices=(*forge.KINDS, GITLAB_PUSH),
        default=None,
        help="open a draft PR/MR through the REST API (token in $GITHUB_TOKEN / $GITLAB_TOKEN), "
        f"or {GITLAB_PUSH}: with GitLab's push options, no token",
    )
    parser.add_argument("--forge-url", default=None, help="API base (GitHub Enterprise, GitLab)")
    parser.add_argument("--pr-delay", type=float, default=1.0, help="seconds between PR requests")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="prove each fix with a container build (as `fixuser verify`) before committing",
    )
    parser.add_argument("--engine", choices=("docker", "podman", "buildah"), default=None)
    cli.add_settings_arguments(parser)


def build_options(args: argparse.Namespace) -> Options:
    given = cli.given_settings(args)
    try:
        # Where fixuser runs counts as for `fixuser fix`; each repository's own table beats it.
        base_settings = load_settings({}, cli.project_dir(Path.cwd()))
        build_settings(given, None, base_settings)  # fail before cloning anything
        if args.author:
            parse_identity(args.author)
        check_branch_name(args.branch)
        check_remote_name(args.remote)
    except (SettingsError, repo.RepoError) as e:
        raise StartError(str(e)) from None
    if args.open_pr and not args.push:
        raise StartError("--open-pr needs --push: a review request needs the pushed branch")
    try:
        made = (
            forge.from_options(args.open_pr, args.forge_url, args.pr_delay)
            if args.open_pr in forge.KINDS
            else None
        )
    except forge.ForgeError as e:
        raise StartError(str(e)) from None
    return Options(
        flags=given,
        base_settings=base_settings,
        workdir=(args.workdir or default_workdir()).expanduser().resolve(),
        branch=args.branch,
        base=args.base.removeprefix(f"{args.remote}/") if args.base else None,
        remote=args.remote,
        push=args.push and not args.dry_run,
        dry_run=args.dry_run,
        conflict=args.conflict,
        identity=Identity.resolve(args.author),
        forge=made,
        open_pr=args.open_pr,
        verify=verifier(args.engine) if args.verify and not args.dry_run else None,
        sign=config_bool("commit.gpgsign"),  # one lookup serves every cache clone
    )


def select(args: argparse.Namespace) -> list[str]:
    specs = repositories(args.repos, args.repos_file, sys.stdin)
    if not specs:
        raise StartError("no repositories: name them, or use --repos-file FILE or '-'")
    if args.shard:
        specs = [s for s in specs if in_shard(s, args.shard)]
    if args.limit is not None:
        specs = specs[: max(0, args.limit)]
    return specs


def run(args: argparse.Namespace) -> int:
    try:
        options = build_options(args)
        specs = select(args)
        # Keyed by what was asked: runs on another branch, base or remote do not resume each
        # other. A push and a commit-only run share their state (a dry run shows what a
        # resumed push would still do), and ``to_run`` redoes a commit when a push is asked.
        refuse_unwritable(args.report)
        asked = (specs, args.shard, options.branch, options.base, options.remote)
        state_path = args.state or options.workdir / f"state-{sha(repr(asked))[:12]}.json"
        persist = not options.dry_run  # see State
        state = (
            State.load(state_path, persist=persist)
            if args.resume or args.retry_failed
            else State(state_path, {}, persist=persist)
        )
        state.records = {k: v for k, v in state.records.items() if k in set(specs)}
        state.save()
    except (StartError, OSError) as e:
        print(printable(f"fixuser batch: {e}"), file=sys.stderr)
        return EXIT_ERROR
    todo = to_run(specs, state, args.resume, args.retry_failed, options)
    kept = len(specs) - len(todo)
    if kept:
        done = review.count(kept, "repository", "repositories")
        print(f"fixuser batch: {done} already done in {state.path}", file=sys.stderr)
    progress = Progress(len(todo), sys.stderr if sys.stderr.isatty() else sys.stdout)
    finished = run_all(todo, options, state, args.jobs, progress.update)
    progress.close()
    records = [state.records[s] for s in specs if s in state.records]
    problems = write_report(args.report, records) if args.report is not None else []
    if state.unsaved:
        problems.append(f"{state.unsaved}: a --resume would miss what it does not hold")
    print_summary(records)
    for problem in problems:
        print(f"fixuser batch: {problem}", file=sys.stderr)
    if not finished:
        again = (
            "a dry run records no state: run it again"
            if options.dry_run
            else f"continue with --resume (state {state.path})"
        )
        print(f"fixuser batch: interrupted; {again}", file=sys.stderr)
        return 130
    return EXIT_ERROR if problems else exit_code(records)


def refuse_unwritable(report: Path | None) -> None:
    """A --report that cannot be written stops the run before any repository is touched."""
    for path in (report, markdown_path(report)) if report is not None else ():
        try:
            probe(path)
        except OSError as e:
            raise StartError(f"--report {path}: cannot write it: {e.strerror or e}") from None
