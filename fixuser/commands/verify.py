"""``fixuser verify``: prove with a real engine the fix ``fixuser fix`` would write.

The fix is made by the same loop as ``fix`` (fixuser.tree.pipeline.fix_all over the work tree,
with the same settings: ``--target`` means what it means to ``fix``), and for each stage that
ships (the one --target names, else each one the repository's compose, bake, CI... files build,
else the last) the fixed text, byte for byte what ``fix`` writes, is built with that stage as
the build's target and proven (fixuser.containers.proof).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple, TextIO

from fixuser.containers import proof as proofs
from fixuser.containers.engine import Behaviour, BuildOptions, NoEngineError, find_engine
from fixuser.containers.proof import Proof, Side, account_changes, human, prove, unneeded
from fixuser.core import Build, builds
from fixuser.errors import EXIT_ERROR, EXIT_FINDING, EXIT_OK
from fixuser.escape import printable
from fixuser.model import FixResult
from fixuser.settings import Settings, SettingsError
from fixuser.tree.fileio import FileProblem
from fixuser.tree.pipeline import Processed, fix_all
from fixuser.tree.source import WorkTree
from fixuser.tree.written import not_written, write_extras
from fixuser.tree.written import restore as put_back

EXIT_PROVEN, EXIT_FAILED, EXIT_CANNOT_RUN = EXIT_OK, EXIT_FINDING, EXIT_ERROR


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "paths",
        nargs="*",
        default=["."],
        metavar="PATH",
        help="Dockerfiles, or directories to search (default: .)",
    )
    parser.add_argument(
        "--engine",
        choices=("docker", "podman", "buildah"),
        help="container engine (default: the first that answers)",
    )
    parser.add_argument(
        "--context", type=Path, help="build context (default: each Dockerfile's directory)"
    )
    parser.add_argument(
        "--smoke", metavar="CMD", help="a command that must succeed in both containers"
    )
    parser.add_argument(
        "--run-seconds",
        type=float,
        default=proofs.RUN_SECONDS,
        metavar="N",
        help="run each image with its own ENTRYPOINT/CMD this long and compare how they "
        f"behave (default: {proofs.RUN_SECONDS:.0f}; 0: do not run them)",
    )
    parser.add_argument("--build-arg", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--target", help="fix and build this stage (as fix --target)")
    parser.add_argument("--platform", help="build for this platform")
    parser.add_argument("--user", help="name of the user fixuser creates")
    parser.add_argument("--uid", help="its UID")  # checked with the settings: one line
    parser.add_argument("--gid", help="its GID (default: the UID)")
    parser.add_argument(
        "--keep-images",
        action="store_true",
        help="keep the before/after images (tagged localhost/fixuser-verify)",
    )
    parser.add_argument(
        "--lock-users",
        action="store_true",
        default=None,
        help="fix with --lock-users, and prove no account but root and the user keeps a shell",
    )
    parser.add_argument(
        "--strategy",
        choices=("user", "entrypoint"),
        help="fix with this strategy (default: [tool.fixuser], else user); entrypoint's "
        "wrapper is written beside the Dockerfile while it is proven, then removed",
    )
    parser.add_argument(
        "--writable",
        action="append",
        metavar="PATH",
        help="fix with this path writable by the user (repeatable)",
    )


class Trial(NamedTuple):
    """A Dockerfile as fix_all gave it (its fix, or its problem) and the images to prove."""

    item: Processed
    builds: tuple[Build, ...] = ()


def trials(paths: Sequence[str], settings: Settings) -> Iterator[Trial]:
    """Each Dockerfile under ``paths``, fixed as ``fix`` fixes it, with what proves its fix."""
    tree = WorkTree(paths, context=settings.target is None)
    for item in fix_all(tree, settings):
        if item.result is None:
            yield Trial(item)
            continue
        reader = tree.context_reader(item.path)
        yield Trial(item, tuple(builds(item.path, item.source, item.result, settings, reader)))


def parse_build_args(values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    pairs = []
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not key:
            raise SystemExit(f"fixuser verify: --build-arg wants KEY=VALUE, not {value!r}")
        pairs.append((key, val))
    return tuple(pairs)


def run(args: argparse.Namespace) -> int:
    from fixuser.commands.options import settings_from_args

    try:
        settings = settings_from_args(args)
        engine = find_engine(args.engine)
    except (SettingsError, NoEngineError) as e:
        print(f"fixuser verify: {e}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    build_args = parse_build_args(args.build_arg)
    done: list[Proof] = []
    errors = 0
    for trial in trials(args.paths, settings):
        found, result = Path(trial.item.path), trial.item.result
        if result is None:
            print(printable(f"{found}: cannot read: {trial.item.error}"), file=sys.stderr)
            errors += 1
            continue
        # The wrapper the fixed text COPYs (--strategy entrypoint) must be in the build context
        # while it is built; whatever that path held before is put back afterwards.
        held = hold_extras(found, result)
        if held is None:
            errors += 1
            continue
        context = (args.context or found.parent).resolve()
        try:
            for build in trial.builds:
                proof = prove(
                    found,
                    trial.item.source,
                    build.fixed,
                    context,
                    engine=engine,
                    expected_user=build.expected_user,
                    family=build.family,
                    options=BuildOptions(build_args, build.stage, args.platform),
                    smoke=args.smoke,
                    require_writable=settings.ownership == "app",
                    keep_images=args.keep_images,
                    run_seconds=args.run_seconds,
                    lock_users=settings.lock_users,
                )
                if build.stage is not None and settings.target is None:
                    proof = dataclasses.replace(proof, stage=build.stage)  # the repository's
                report(proof)
                done.append(proof)
        finally:
            restore(held)
    failed = sum(p.status == "failed" for p in done)
    unprovable = sum(p.status == "unprovable" for p in done)
    proven = len(done) - failed - unprovable
    print(f"{proven} proven, {failed} failed, {unprovable} could not be proven ({engine.name})")
    if failed:
        return EXIT_FAILED
    if unprovable or errors or not done:
        return EXIT_CANNOT_RUN
    return EXIT_PROVEN


def hold_extras(found: Path, result: FixResult) -> dict[Path, bytes | None] | None:
    """Write the files the fix adds; what their paths held before (None: said why not)."""

    try:
        return write_extras(str(found), result) if result.extra_files else {}
    except FileProblem as e:
        print(printable(f"{found}: {not_written(str(found), e)}"), file=sys.stderr)
    except OSError as e:
        print(printable(f"{found}: cannot write the wrapper: {e.strerror or e}"), file=sys.stderr)
    return None


def restore(held: dict[Path, bytes | None]) -> None:

    put_back(held)


def uid_text(side: Side | None) -> str:
    if side is None or side.user is None or side.user.uid is None:
        return "?"
    name = f" ({side.user.name})" if side.user.name else ""
    return f"{side.user.uid}{name}"


def ran(behaviour: Behaviour | None) -> str:
    """How a container behaved with its own ENTRYPOINT/CMD, in a few words."""
    if behaviour is None:
        return "not run"
    if not behaviour.started:
        return f"did not start ({behaviour.error})"
    uid = "" if behaviour.pid1_uid is None else f" as UID {behaviour.pid1_uid}"
    if behaviour.running:
        return f"kept running {behaviour.seconds:.0f} s{uid}"
    return f"exited {behaviour.exit_code} after {behaviour.seconds:.1f} s{uid}"


def report(proof: Proof, out: TextIO | None = None) -> None:
    raw = (out or sys.stdout).write

    def write(line: str) -> None:
        # Paths, notes and the engine's reasons come from the repository and its build: each
        # stays one line, its control characters shown escaped (fixuser.escape.printable).
        raw(printable(line.removesuffix("\n")) + "\n")

    before, after = proof.before, proof.after
    stage = f" (stage {proof.stage})" if proof.stage is not None else ""
    write(f"{proof.path}{stage}: {proof.status.upper()}\n")
    if after is not None:
        write(f"  uid:        {uid_text(before)} -> {uid_text(after)}\n")
        write(f"  build time: {before.seconds:.1f} s -> {after.seconds:.1f} s\n")
        write(
            f"  image size: {human(before.size)} -> {human(after.size)} "
            f"({'+' if proof.growth >= 0 else ''}{human(proof.growth)})\n"
        )
        write(f"  runs:       {ran(before.behaviour)} -> {ran(after.behaviour)}\n")
        if after.user:
            for path, ok in after.user.writable.items():
                write(f"  writable:   {path}: {'yes' if ok else 'no'}\n")
            for note in after.user.notes:
                write(f"  note:       {note}\n")
        report_accounts(before, after, write)
    elif before.built:
        write(f"  uid:        {uid_text(before)} (nothing to fix)\n")
    for reason in proof.reasons:
        write(f"  | {reason}\n")


def report_accounts(before: Side, after: Side, write: Callable[[str], object]) -> None:
    """The accounts the fixed image does not need, and what the fix changed of them."""
    found = unneeded(after)
    if found is not None:
        for account in found.flagged:
            write(f"  users:      {account.text()}\n")
        if not found.flagged:
            write("  users:      none it does not need\n")
    changed = account_changes(before, after)
    if changed is None:
        return
    for lock in changed.locked:
        write(f"  locked:     {lock.name}: {lock.before or '(empty)'} -> {lock.after}\n")
    added = f"added {', '.join(changed.added)}" if changed.added else "added none"
    if not changed.problems:
        write(f"  accounts:   {added}; nothing else changed\n")
