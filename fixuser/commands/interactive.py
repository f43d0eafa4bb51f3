"""The interactive session: pick Dockerfiles, choose the user, review each diff, commit a branch.

Every prompt is one line and takes its default with a single Enter, and the defaults are the
sensible choice, so a run of Enter ends in the fix branch. Nothing is written until every
question has been answered (push is asked before committing for that reason): Ctrl-C at any
prompt leaves the repository exactly as it was. The commit is made by ``branches.push`` exactly as
``fixuser fix --commit`` makes it.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from fixuser.branches.commit import summary
from fixuser.branches.push import commit_and_push
from fixuser.branches.repo import (
    DEFAULT_BRANCH,
    FileFix,
    RepoPlan,
    base_blob,
    context_lines,
    extra_files,
    open_repo,
    plan_repository,
    render_commit_message,
    shipped_line,
)
from fixuser.branches.review import count
from fixuser.branches.safety import branch_sha, refuse_in_progress
from fixuser.core import keep
from fixuser.diff import headers
from fixuser.errors import EXIT_ERROR, EXIT_OK
from fixuser.escape import pasted_word, printable
from fixuser.settings import (
    MAX_ID,
    Settings,
    SettingsError,
    parse_id,
    validate_user_name,
)
from fixuser.tree.config import load_settings

NO_TERMINAL = (
    "fixuser interactive needs a terminal. Without one, run `fixuser check` to report "
    "or `fixuser fix` (with --commit for a branch) to rewrite."
)
ACCEPT, SKIP, KEEP, EDIT, QUIT = "accept", "skip", "keep", "edit", "quit"
ANSI = {"+": "\033[32m", "-": "\033[31m", "@": "\033[36m"}
RESET = "\033[0m"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("path", nargs="?", default=".", help="the repository (default: here)")
    parser.add_argument("--base", default="HEAD", help="commit to fix (default: %(default)s)")
    parser.add_argument(
        "--exclude",
        action="append",
        default=None,
        metavar="GLOB",
        help="leave out Dockerfiles whose path matches (repeatable; as for fixuser fix)",
    )


# -- pure helpers -------------------------------------------------------------------------------


def uid_warnings(uid: int, base_images: Mapping[str, str]) -> list[str]:
    """Files whose base image already has a user with ``uid`` (ubuntu 23.04+ has 1000).

    The knowledge is the image table of fixuser.knowledge.images, the one the core uses.
    """
    from fixuser.knowledge.images import lookup

    warnings = []
    for path, image in base_images.items():
        info = lookup(image)
        for user in (*info.users, *info.reserved):
            if user.uid == uid:
                warnings.append(f"{path}: {image} already has user {user.name} with UID {uid}")
    return warnings


def validate_id_text(text: str) -> bool | str:
    try:
        parse_id(text, "id")
    except SettingsError:
        return f"a whole number from 1 to {MAX_ID}"
    return True


def validate_name_text(text: str) -> bool | str:
    try:
        validate_user_name(text)
    except SettingsError as e:
        return str(e)
    return True


def coloured_diff(path: str, before: bytes, after: bytes, colour: bool) -> str:
    lines = list(
        difflib.unified_diff(
            before.decode("utf-8", "replace").splitlines(keepends=True),
            after.decode("utf-8", "replace").splitlines(keepends=True),
        )
    )
    # The file names as git quotes them: a name cannot add a line of its own to the diff.
    out = headers(f"a/{path}", f"b/{path}") if lines else []
    for line in lines[2:]:
        line = line.rstrip("\r\n") + "\n"
        code = ANSI.get(line[0]) if colour else None
        out.append(f"{code}{line.rstrip()}{RESET}\n" if code else line)
    return "".join(out)


def describe(f: FileFix) -> str:
    a = f.result.analysis
    role = f"  role {a.role.name} ({a.role.evidence})" if a.role.evidence else ""
    return printable(f"{f.path}  [{a.verdict.value}]  {a.family}, {a.base_image}{role}")


def not_fixed(f: FileFix) -> str:
    """Why a file cannot be picked: nothing to fix, or a role fix leaves alone."""
    a = f.result.analysis
    if a.verdict.is_finding and a.role.name != "service":
        return f"{a.role.name}: left alone (see --roles)"
    return "nothing to fix"


def free_branch_name(taken: Callable[[str], bool]) -> str:
    name, n = DEFAULT_BRANCH, 2
    while taken(name):
        name, n = f"{DEFAULT_BRANCH}-{n}", n + 1
    return name


# -- the session --------------------------------------------------------------------------------


@dataclasses.dataclass
class Session:
    root: Path
    base: str
    settings: Settings
    ask: Any  # the questionary module (imported lazily: it pulls in prompt_toolkit)
    colour: bool = True
    overrides: dict[str, Settings] = dataclasses.field(default_factory=dict)

    def settings_for(self, path: str) -> Settings:
        return self.overrides.get(path, self.settings)

    def prompt(self, question: Any) -> Any:
        # unsafe_ask: Ctrl-C raises KeyboardInterrupt (main() exits 130) instead of None.
        return question.unsafe_ask()

    def pick_files(self, plan: RepoPlan) -> list[str]:
        choices = [
            self.ask.Choice(
                describe(f),
                value=f.path,
                checked=f.result.changed,
                disabled=None if f.result.changed else not_fixed(f),
            )
            for f in plan.findings
        ]
        picked: list[str] = self.prompt(
            self.ask.checkbox("Which Dockerfiles should fixuser fix?", choices=choices)
        )
        return picked

    def ask_user(self, settings: Settings, findings: Sequence[FileFix], what: str) -> Settings:
        q = self.ask
        name = self.prompt(
            q.text(f"User name {what}:", default=settings.user, validate=validate_name_text)
        )
        while True:
            uid = parse_id(
                self.prompt(
                    q.text(f"UID {what}:", default=str(settings.uid), validate=validate_id_text)
                ),
                "uid",
            )
            warnings = uid_warnings(uid, {f.path: f.result.analysis.base_image for f in findings})
            for warning in warnings:
                print(printable(f"warning: {warning}"))
            if not warnings or self.prompt(q.confirm("Use this UID anyway?", default=False)):
                break
        gid_default = str(settings.gid if settings.gid is not None else uid)
        gid = parse_id(
            self.prompt(q.text(f"GID {what}:", default=gid_default, validate=validate_id_text)),
            "gid",
        )
        return settings.replace(user=name, uid=uid, gid=None if gid == uid else gid)

    def ask_settings(self, findings: Sequence[FileFix]) -> Settings:
        q = self.ask
        settings = self.ask_user(self.settings, findings, "for the containers")
        strategy = self.prompt(
            q.select(
                "Become that user with:",
                choices=[
                    q.Choice("a USER directive", value="user"),
                    q.Choice(
                        "an entrypoint wrapper: starts as root, hands the volumes to the user, "
                        "then drops (root-owned bind mounts keep working)",
                        value="entrypoint",
                    ),
                ],
                default=settings.strategy,
            )
        )
        settings = settings.replace(strategy=strategy)
        if strategy == "entrypoint":  # no USER to write
            user_format = settings.user_format
        else:
            user_format = self.prompt(
                q.select(
                    "Write USER as:",
                    choices=[
                        q.Choice("numeric UID:GID (works with runAsNonRoot)", value="numeric"),
                        q.Choice("the user name", value="name"),
                    ],
                    default=settings.user_format,
                )
            )
        ownership = self.prompt(
            q.select(
                "Files the image copies in are owned by:",
                choices=[
                    q.Choice("the app user (it can write them)", value="app"),
                    q.Choice("root, read-only for the app user", value="read-only"),
                ],
                default=settings.ownership,
            )
        )
        return settings.replace(user_format=user_format, ownership=ownership)

    def replan(self, paths: Sequence[str]) -> RepoPlan:
        return plan_repository(self.root, self.settings_for, self.base, paths)

    def review(self, plan: RepoPlan) -> list[FileFix] | None:
        """The accepted fixes, or None when the user quits."""
        accepted = []
        for f in plan.fixes:
            while True:
                self.show(f, plan.head)
                action = self.prompt(
                    self.ask.select(
                        printable(f"Apply this change to {f.path}?"),
                        choices=[
                            self.ask.Choice("accept", value=ACCEPT),
                            self.ask.Choice("skip this file", value=SKIP),
                            self.ask.Choice("use a different user for this file", value=EDIT),
                            self.ask.Choice(
                                "keep it as root: add '# fixuser: ignore' instead", value=KEEP
                            ),
                            self.ask.Choice("quit without committing", value=QUIT),
                        ],
                        default=ACCEPT,
                    )
                )
                if action == EDIT:
                    self.overrides[f.path] = self.ask_user(
                        self.settings_for(f.path), [f], printable(f"for {f.path}")
                    )
                    fresh = self.replan([f.path])
                    if fresh.fixes:
                        f = fresh.fixes[0]
                    continue
                break
            if action == QUIT:
                return None
            if action == ACCEPT:
                accepted.append(f)
            elif action == KEEP:  # committed with the pragma, so check accepts it from now on
                source = base_blob(self.root, plan.head, f.path)
                accepted.append(dataclasses.replace(f, result=keep(source, f.result.analysis)))
        return accepted

    def show(self, f: FileFix, head: str) -> None:
        shipped = shipped_line(f)
        if shipped:
            print(printable(f"{f.path}: {shipped}"))
        before = base_blob(self.root, head, f.path)
        print(coloured_diff(f.path, before, f.result.output, self.colour), end="")
        for path, extra in extra_files(f):  # --strategy entrypoint: the wrapper it adds
            try:
                old = base_blob(self.root, head, path)
            except KeyError:
                old = b""
            print(coloured_diff(path, old, extra.data, self.colour), end="")
        for note in (
            *f.result.analysis.warnings,
            *(f.result.change.notes if f.result.change else ()),
        ):
            print(printable(f"  {note}"))

    def run(self) -> int:
        # Refuse before the first question, not after the last one.
        refuse_in_progress(open_repo(self.root))
        plan = plan_repository(self.root, self.settings, self.base)
        for error in plan.errors:
            print(printable(f"fixuser: {error}"), file=sys.stderr)
        for line in context_lines(plan):
            print(printable(f"fixuser: {line}"))
        if not plan.fixes:
            what = count(len(plan.findings), "Dockerfile")
            print(f"fixuser: nothing to fix: {what} already compliant")
            return EXIT_OK
        picked = self.pick_files(plan)
        if not picked:
            print("fixuser: no Dockerfile picked, nothing committed")
            return EXIT_OK
        self.settings = self.ask_settings([f for f in plan.findings if f.path in picked])
        accepted = self.review(self.replan(picked))
        if accepted is None or not accepted:
            print("fixuser: nothing committed; the repository is as it was")
            return EXIT_OK
        return self.commit(dataclasses.replace(self.replan(picked), fixes=tuple(accepted)))

    def commit(self, plan: RepoPlan) -> int:
        q = self.ask
        repo = open_repo(self.root)
        branch = self.prompt(
            q.text(
                "Branch:",
                default=free_branch_name(lambda name: branch_sha(repo, name) is not None),
                validate=lambda name: branch_sha(repo, name) is None or "that branch exists",
            )
        )
        message = render_commit_message(plan, branch=branch)
        subject, rest = message.split("\n", 1)
        subject = self.prompt(q.text("Commit subject:", default=subject, validate=bool))
        remote_names = [r.name for r in repo.remotes]
        push = False
        remote = "origin" if "origin" in remote_names else (remote_names or [""])[0]
        if remote:
            push = self.prompt(q.confirm(f"Push {branch} to {remote}?", default=False))
        # Every question is answered: from here on the session writes.
        sha, url = commit_and_push(
            self.root, plan, branch, f"{subject}\n{rest}", remote=remote if push else None
        )
        print(f"fixuser: committed on branch {branch}")
        print(summary(repo, sha))
        if push:
            print(f"fixuser: pushed {branch} to {remote}")
            if url:
                print(f"fixuser: open a review: {url}")
        print(
            f"fixuser: your working tree is unchanged; review with: git show {pasted_word(branch)}"
        )
        return EXIT_OK


def run(args: argparse.Namespace) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        print(NO_TERMINAL, file=sys.stderr)
        return EXIT_ERROR
    import questionary

    repo = open_repo(Path(args.path))
    root = Path(repo.working_dir)
    settings = load_settings({"exclude": args.exclude}, root)
    return Session(root, args.base, settings, questionary).run()
