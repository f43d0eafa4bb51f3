"""``fixuser fix``: rewrite Dockerfiles in place, print a diff, or filter stdin to stdout."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from fixuser import core, diff
from fixuser.commands.images import add_inspect_argument, with_local_images
from fixuser.commands.options import (
    add_commit_arguments,
    add_jobs_argument,
    add_settings_arguments,
    settings_from_args,
)
from fixuser.core import builds
from fixuser.errors import EXIT_ERROR, EXIT_FINDING, EXIT_OK
from fixuser.model import DEFAULT_ROLES, DockerfileError, FixResult, Verdict
from fixuser.report.findings import Outcome, Report, role_note, role_part
from fixuser.report.stream import Blocks, Writer, error_line
from fixuser.settings import Settings
from fixuser.tree.fileio import FileProblem, existing
from fixuser.tree.pipeline import Processed, fix_all
from fixuser.tree.source import WorkTree
from fixuser.tree.written import (
    extra_targets,
    not_written,
    restore,
    write_extras,
    write_fix,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths", nargs="*", metavar="PATH", help="Dockerfiles or directories; - reads stdin"
    )
    parser.add_argument("--diff", action="store_true", help="print a unified diff, write nothing")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="prove each fix with a real build and run before writing it (see fixuser verify)",
    )
    add_jobs_argument(parser)
    add_inspect_argument(parser)
    add_settings_arguments(parser)
    add_commit_arguments(parser)


def unified_diff(path: str, result: FixResult) -> str:
    """The diff of the fix; FileProblem when a file it adds has something at its path that
    fixuser does not read (a symlink, a FIFO...)."""
    text = diff.unified(path, result.lines, result.edits)
    for target, extra in extra_targets(path, result):
        text += diff.whole_file(str(target), existing(target), extra.data)
    return text


def explain(
    path: str,
    result: FixResult,
    *,
    written: bool = True,
    err: Writer | None = None,
    roles: tuple[str, ...] = DEFAULT_ROLES,
) -> None:
    """One line on stderr for what fix did, or why it left the file alone (``roles``: those
    fix fixes, --roles)."""
    analysis = result.analysis
    note = role_note(analysis, roles) if analysis.verdict.is_finding else None
    if result.change is None and note is not None:
        error_line(path, f"left alone: {note.removeprefix('note: ')}", err)
    elif result.change is not None:
        created = f", created {result.change.created_user}" if result.change.created_user else ""
        done = "fixed" if written else "would fix"
        how = f"USER {result.change.user}"
        if result.change.strategy == "entrypoint":
            how = f"starts as root, {result.change.wrapper} drops to {result.change.user}"
        error_line(path, f"{done}: {how} ({analysis.family}{created}){role_part(analysis)}", err)
    elif analysis.verdict is not Verdict.COMPLIANT and analysis.verdict is not Verdict.ROOT:
        error_line(path, f"left alone: {analysis.verdict}: {analysis.reason}", err)
    for warning in analysis.warnings:
        error_line(path, f"warning: {warning}", err)


def fix_stdin(settings: Settings) -> int:
    source = sys.stdin.buffer.read()
    try:
        result = core.fix(source, settings, path="-")
    except DockerfileError as e:
        error_line("-", str(e))
        sys.stdout.buffer.write(source)
        return EXIT_ERROR
    if result.extra_files:
        error_line("-", "--strategy entrypoint adds a file beside the Dockerfile: give its path")
        sys.stdout.buffer.write(source)
        return EXIT_ERROR
    sys.stdout.buffer.write(result.output)
    explain("-", result)
    return EXIT_FINDING if result.changed else EXIT_OK


def quick_exit(args: argparse.Namespace) -> bool:
    """--commit runs git (GitPython keeps processes), --verify a container engine: they exit
    the usual way (see main.entry)."""
    return not (args.commit or args.verify)


def run(args: argparse.Namespace) -> int:
    settings = with_local_images(args, settings_from_args(args))
    if args.paths == ["-"]:
        return fix_stdin(settings)
    if args.commit:
        from fixuser.branches.fix_commit import run_commit

        return run_commit(
            args.paths,
            settings,
            branch=args.branch,
            base=args.base,
            signoff=args.signoff,
            author=args.author,
            force=bool(args.force),
            checkout=args.checkout,
            push=args.push,
            remote=args.remote,
            no_verify=args.no_verify,
        )
    report = Report()
    report.roles = settings.fix_roles
    # Only --diff is held in blocks: it writes nothing else, while a fix in place writes (and
    # fsyncs) each file and --verify builds images, so each line should say so when it happens.
    blocks = Blocks(sys.stdout, sys.stderr, live=args.verify or not args.diff)
    try:
        # --verify builds images one fix at a time: its fixes are computed in this process.
        jobs = 1 if args.verify else args.jobs
        tree = WorkTree(args.paths, context=settings.target is None)
        for item in fix_all(tree, settings, jobs=jobs):
            fix_one(
                item, report, blocks, as_diff=args.diff, verify=settings if args.verify else None
            )
    finally:
        blocks.flush()
    return report.fix_exit()


def fix_one(
    item: Processed, report: Report, blocks: Blocks, *, as_diff: bool, verify: Settings | None
) -> None:
    """Write (or show) the fix of ``item``; ``verify``: the settings it was made with, when it
    must pass its proof first (--verify)."""
    path = item.path
    if item.error:
        error_line(path, item.error, blocks.err)
        report.add(Outcome(path, error=item.error))
        return
    result = item.result
    assert result is not None
    if result.changed:
        line, error = write_or_show(path, item.source, result, blocks.out, as_diff, verify)
        if line:
            error_line(path, line, blocks.err)
            report.add(Outcome(path, result.analysis, error=error))
            return
    explain(path, result, written=not as_diff, err=blocks.err, roles=report.roles)
    report.add(Outcome(path, result.analysis, changed=result.changed))


def write_or_show(
    path: str,
    source: bytes,
    result: FixResult,
    out: Writer,
    as_diff: bool,
    verify: Settings | None,
) -> tuple[str, str]:
    """Prove the fix (--verify), then write it or show its diff. ("", "") when done, else the
    line to say and the report's error: then nothing the fix writes is left changed."""
    before: dict[Path, bytes | None] = {}
    try:
        if verify is not None:
            # The build context must hold the wrapper the fixed Dockerfile COPYs while it is
            # proven; it stays only when the fix is then written.
            before = write_extras(path, result)
            problem = prove(Path(path), source, result, verify)
            if problem:
                put_back(before)
                said = f"not written: the fix failed its proof: {problem}"
                return said, f"proof failed: {problem}"
        if as_diff:
            put_back(before)
            out.write(unified_diff(path, result))
        else:
            write_fix(path, result)
    except FileProblem as e:
        put_back(before)
        return not_written(path, e), not_written(path, e)
    except OSError as e:
        put_back(before)
        return f"cannot write: {e.strerror or e}", f"cannot write: {e.strerror or e}"
    return "", ""


def put_back(before: dict[Path, bytes | None]) -> None:
    """restore, when a failure is already being reported: that one is the error to say."""
    with contextlib.suppress(OSError, FileProblem):
        restore(before)


def prove(path: Path, original: bytes, result: FixResult, settings: Settings) -> str:
    """The reason the fix failed its proof with a real engine, or "" when proven: each stage it
    ships is built, as ``fixuser verify`` builds it (fixuser.core.builds)."""
    from fixuser.containers import proof as verify
    from fixuser.containers.engine import BuildOptions, NoEngineError
    from fixuser.tree.fileio import context_reader

    stages = builds(str(path), original, result, settings, context_reader(path))
    problems = []
    for build in stages:
        try:
            proof = verify.prove(
                path,
                original,
                build.fixed,
                path.parent,
                expected_user=build.expected_user,
                family=build.family,
                options=BuildOptions(target=build.stage),
            )
        except NoEngineError as e:
            return str(e)
        if not proof.ok:
            problem = "; ".join(proof.reasons) or proof.status
            problems.append(f"stage {build.stage}: {problem}" if len(stages) > 1 else problem)
    return "; ".join(problems)
