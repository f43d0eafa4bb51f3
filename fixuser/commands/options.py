"""Flags shared by the sub-commands that fix, and the settings built from them once."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fixuser.settings import DEFAULT_BRANCH, FIELDS, Settings
from fixuser.tree.config import load_settings
from fixuser.tree.config import project_dir as project_dir  # batch's cli.project_dir

SETTINGS_FLAGS = (
    *("user", "uid", "gid", "user_format", "target", "ownership", "openshift", "force"),
    *("strategy", "writable"),
    *("lock_users", "exclude"),
    *("fix_roles", "roles"),
)


def add_settings_arguments(parser: argparse.ArgumentParser) -> None:
    """Defaults are None so that a flag the user did not give never beats [tool.fixuser]."""
    group = parser.add_argument_group("settings (also read from [tool.fixuser] in pyproject.toml)")
    group.add_argument("--user", default=None, help="name of the user to create (default: app)")
    # --uid and --gid are checked with the settings (one line, exit 2), not by argparse
    group.add_argument("--uid", default=None, help="its UID (default: 10001)")
    group.add_argument("--gid", default=None, help="its GID (default: the UID)")
    group.add_argument(
        "--user-format",
        choices=("numeric", "name"),
        default=None,
        help="USER 10001:10001 (numeric, default: Kubernetes runAsNonRoot needs it) or USER app",
    )
    group.add_argument("--target", default=None, help="fix this stage instead of the last")
    group.add_argument(
        "--ownership",
        choices=("app", "read-only"),
        default=None,
        help="app (default): the user owns what is copied into its directories; read-only: "
        "code stays root-owned, only the directories it writes to become its own",
    )
    group.add_argument(
        "--openshift",
        action="store_true",
        default=None,
        help="group 0 and g=u permissions, so an arbitrary UID works",
    )
    group.add_argument(
        "--force",
        action="store_true",
        default=None,
        help="also fix stages that drop privileges themselves or keep a root master process",
    )
    group.add_argument(
        "--strategy",
        choices=("user", "entrypoint"),
        default=None,
        help="user (default): a USER directive; entrypoint: the image starts as root, a wrapper "
        "script hands its volumes and --writable paths to the user, then runs the command as "
        "that user (for bind-mounted host directories owned by root)",
    )
    group.add_argument(
        "--writable",
        action="append",
        default=None,
        metavar="PATH",
        help="an absolute path the user must be able to write (repeatable): with --strategy "
        "entrypoint handed over at start, otherwise made its own at build time",
    )
    group.add_argument(
        "--lock-users",
        action="store_true",
        default=None,
        help="one RUN more: every account with a login shell but root and the container's "
        "user gets nologin (CIS 4.1: no unneeded accounts; see fixuser audit --users)",
    )
    group.add_argument(
        "--exclude",
        action="append",
        default=None,
        metavar="GLOB",
        help="leave out Dockerfiles whose path from the repository root matches (repeatable; "
        "gitignore-like: '**' crosses directories, a name alone matches at any depth); "
        "adds to exclude in [tool.fixuser]",
    )
    group.add_argument(
        "--roles",
        dest="fix_roles",
        default=None,
        metavar="LIST",
        help="the roles fix fixes and check fails on, comma-separated (default: service,dev; "
        "also test, tool): see docs/roles.md",
    )
    group.add_argument(
        "--role",
        dest="roles",
        action="append",
        default=None,
        metavar="ROLE=GLOB",
        help="the role of the Dockerfiles whose repository path matches GLOB (repeatable): "
        "service, tool, build-base, test, dev or artifact",
    )


def jobs_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of processes (0: one per CPU)")
    return value


def add_jobs_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--jobs",
        "-j",
        type=jobs_count,
        default=0,
        metavar="N",
        help="worker processes (default 0: one per CPU, up to 8, from 256 files on, where the "
        "system can fork; 1: this process only). The output is the same either way",
    )


def given_settings(args: argparse.Namespace) -> dict[str, Any]:
    return {name: getattr(args, name, None) for name in SETTINGS_FLAGS if name in FIELDS}


def settings_from_args(args: argparse.Namespace, cwd: Path | None = None) -> Settings:
    return load_settings(given_settings(args), project_dir(cwd or Path.cwd()))


def add_commit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "commit to a branch",
        "with --commit, --force also lets fixuser replace a branch it made earlier",
    )
    group.add_argument(
        "--commit",
        action="store_true",
        help="commit the fixes on a new branch; the working tree, index and HEAD stay as they are",
    )
    group.add_argument("--branch", default=DEFAULT_BRANCH, help="default: %(default)s")
    group.add_argument("--base", default="HEAD", help="commit to fix (default: %(default)s)")
    group.add_argument("--signoff", action="store_true", help="add a Signed-off-by trailer")
    group.add_argument("--author", help="'Name <email>' (default: git config, else fixuser)")
    group.add_argument(
        "--checkout", action="store_true", help="switch to the new branch when that is safe"
    )
    group.add_argument("--push", action="store_true", help="push the branch to --remote")
    group.add_argument("--remote", default="origin", help="default: %(default)s")
    group.add_argument(
        "--no-verify",
        action="store_true",
        help="commit and push without the repository's hooks (pre-commit, prepare-commit-msg, "
        "commit-msg, pre-push), which otherwise run as for git commit and git push",
    )
