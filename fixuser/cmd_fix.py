"""``fixuser fix``: rewrite Dockerfiles in place, print a diff, or filter stdin to stdout."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fixuser import core, diff
from fixuser.cli import (
    add_commit_arguments,
    add_jobs_argument,
    add_settings_arguments,
    settings_from_args,
)
from fixuser.fileio import write_atomic
from fixuser.model import DockerfileError, ExtraFile, FixResult, Verdict
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
    add_jobs_argument(parser)
    add_settings_arguments(parser)
    add_commit_arguments(parser)


def unified_diff(path: str, result: FixResult) -> str:
    text = diff.unified(path, result.lines, result.edits)
    for target, extra in extra_targets(path, result):
        text += diff.whole_file(str(target), existing(target), extra.data)
    return text


def extra_targets(path: str, result: FixResult) -> list[tuple[Path, ExtraFile]]:
    """Where each file the fix adds goes: beside the Dockerfile (the build context is taken
    to be the Dockerfile's directory, as everywhere in fixuser)."""
    return [(Path(path).parent / extra.path, extra) for extra in result.extra_files]


def existing(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write_extras(path: str, result: FixResult) -> dict[Path, bytes | None]:
    """Write the files the fix adds (before the Dockerfile that COPYs them); what each path
    held before, for ``restore``."""
    before: dict[Path, bytes | None] = {}
    for target, extra in extra_targets(path, result):
        before[target] = existing(target)
        if before[target] != extra.data:
            write_atomic(target, extra.data, new_mode=extra.mode)
    return before


def restore(before: dict[Path, bytes | None]) -> None:
    for target, data in before.items():
        if data is None:
            target.unlink(missing_ok=True)
        else:
            write_atomic(target, data)


def explain(
    path: str, result: FixResult, *, written: bool = True, err: Writer | None = None
) -> None:
    """One line on stderr for what fix did, or why it left the file alone."""
    analysis = result.analysis
    if result.change is not None:
        created = f", created {result.change.created_user}" if result.change.created_user else ""
        done = "fixed" if written else "would fix"
        how = f"USER {result.change.user}"
        if result.change.strategy == "entrypoint":
            how = f"starts as root, {result.change.wrapper} drops to {result.change.user}"
        error_line(path, f"{done}: {how} ({analysis.family}{created})", err)
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
        # --verify builds images one fix at a time: its fixes are computed in this process.
        jobs = 1 if args.verify else args.jobs
        contexts = Contexts(args.paths or ["."])
        for item in process(args.paths, settings, fix=True, contexts=contexts, jobs=jobs):
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
        # The build context must hold the wrapper the fixed Dockerfile COPYs while it is
        # proven; it stays only when the fix is then written.
        before = write_extras(path, result) if result.extra_files else {}
        problem = prove(Path(path), item.source, result)
        if problem or as_diff:
            restore(before)
        if problem:
            error_line(path, f"not written: the fix failed its proof: {problem}", blocks.err)
            report.add(Outcome(path, result.analysis, error=f"proof failed: {problem}"))
            return
    if result.changed:
        if as_diff:
            blocks.out.write(unified_diff(path, result))
        else:
            try:
                write_extras(path, result)
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
