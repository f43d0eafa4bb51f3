"""``fixuser fix``: rewrite Dockerfiles in place, print a diff, or filter stdin to stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fixuser import core, diff
from fixuser.cli import add_commit_arguments, add_settings_arguments, settings_from_args
from fixuser.fileio import write_atomic
from fixuser.model import DockerfileError, FixResult, Verdict
from fixuser.pipeline import Contexts, Processed, process
from fixuser.report import (
    EXIT_ERROR,
    EXIT_FINDING,
    EXIT_OK,
    Blocks,
    Outcome,
    Report,
    Writer,
    error_line,
)
from fixuser.settings import Settings


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
    add_settings_arguments(parser)
    add_commit_arguments(parser)


def unified_diff(path: str, result: FixResult) -> str:
    return diff.unified(path, result.lines, result.edits)


def explain(
    path: str, result: FixResult, *, written: bool = True, err: Writer | None = None
) -> None:
    """One line on stderr for what fix did, or why it left the file alone."""
    analysis = result.analysis
    if result.change is not None:
        created = f", created {result.change.created_user}" if result.change.created_user else ""
        done = "fixed" if written else "would fix"
        error_line(path, f"{done}: USER {result.change.user} ({analysis.family}{created})", err)
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
    sys.stdout.buffer.write(result.output)
    explain("-", result)
    return EXIT_FINDING if result.changed else EXIT_OK


def quick_exit(args: argparse.Namespace) -> bool:
    """--commit runs git (GitPython keeps processes), --verify a container engine: they exit
    the usual way (see main.entry)."""
    return not (args.commit or args.verify)


def run(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    if args.paths == ["-"]:
        return fix_stdin(settings)
    if args.commit:
        from fixuser.repo import run_commit

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
        )
    report = Report()
    # Only --diff is held in blocks: it writes nothing else, while a fix in place writes (and
    # fsyncs) each file and --verify builds images, so each line should say so when it happens.
    blocks = Blocks(sys.stdout, sys.stderr, live=args.verify or not args.diff)
    try:
        for item in process(args.paths, settings, fix=True, contexts=Contexts(args.paths or ["."])):
            fix_one(item, report, blocks, as_diff=args.diff, verify=args.verify)
    finally:
        blocks.flush()
    return report.fix_exit()


def fix_one(
    item: Processed, report: Report, blocks: Blocks, *, as_diff: bool, verify: bool
) -> None:
    path = item.path
    if item.error:
        error_line(path, item.error, blocks.err)
        report.add(Outcome(path, error=item.error))
        return
    result = item.result
    assert result is not None
    if result.changed and verify:
        problem = prove(Path(path), item.source, result)
        if problem:
            error_line(path, f"not written: the fix failed its proof: {problem}", blocks.err)
            report.add(Outcome(path, result.analysis, error=f"proof failed: {problem}"))
            return
    if result.changed:
        if as_diff:
            blocks.out.write(unified_diff(path, result))
        else:
            try:
                write_atomic(Path(path), result.output)
            except OSError as e:
                error_line(path, f"cannot write: {e.strerror or e}", blocks.err)
                report.add(Outcome(path, result.analysis, error=str(e)))
                return
    explain(path, result, written=not as_diff, err=blocks.err)
    report.add(Outcome(path, result.analysis, changed=result.changed))


def prove(path: Path, original: bytes, result: FixResult) -> str:
    """The reason the fix failed its proof with a real engine, or "" when proven."""
    from fixuser import verify
    from fixuser.engine import NoEngineError

    try:
        proof = verify.prove(
            path,
            original,
            result.output,
            path.parent,
            expected_user=result.change.user if result.change else None,
            family=result.analysis.family,
        )
    except NoEngineError as e:
        return str(e)
    return "" if proof.ok else "; ".join(proof.reasons) or proof.status
