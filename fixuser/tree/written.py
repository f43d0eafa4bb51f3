"""The files a fix writes in a work tree: the Dockerfile and what it adds beside it (the
entrypoint wrapper), all written or none, never through a symlink nor outside the tree; and
what each path held before, to put back when a proof fails (fix --verify, verify)."""

from __future__ import annotations

import os
from pathlib import Path

from fixuser.model import ExtraFile, FixResult
from fixuser.tree.discover import tree_root
from fixuser.tree.fileio import FileProblem, Write, atomic_write, existing, write_together


def extra_targets(path: str, result: FixResult) -> list[tuple[Path, ExtraFile]]:
    """Where each file the fix adds goes: beside the Dockerfile (the build context is taken
    to be the Dockerfile's directory, as everywhere in fixuser)."""
    return [(Path(path).parent / extra.path, extra) for extra in result.extra_files]


def root_of(path: str) -> str:
    """The tree nothing is written outside of (see discover.tree_root)."""
    return tree_root(os.path.dirname(os.path.abspath(path)))


def extra_writes(path: str, result: FixResult) -> list[Write]:
    """The files the fix adds that do not hold their text yet; never written through a
    symlink. FileProblem: something is at one's path that fixuser does not replace."""
    return [
        Write(target, extra.data, extra.mode, follow=False)
        for target, extra in extra_targets(path, result)
        if existing(target) != extra.data
    ]


def write_fix(path: str, result: FixResult) -> None:
    """The files the fix adds and the Dockerfile, all written or none (the Dockerfile last)."""
    write_together([*extra_writes(path, result), Write(Path(path), result.output)], root_of(path))


def write_extras(path: str, result: FixResult) -> dict[Path, bytes | None]:
    """Write the files the fix adds (before the Dockerfile that COPYs them); what each path
    held before, for ``restore``."""
    before = {target: existing(target) for target, _ in extra_targets(path, result)}
    write_together(extra_writes(path, result), root_of(path))
    return before


def restore(before: dict[Path, bytes | None]) -> None:
    for target, data in before.items():
        if data is None:
            target.unlink(missing_ok=True)
        else:
            atomic_write(target, data, follow=False, root=root_of(str(target)))


def not_written(path: str, problem: FileProblem) -> str:
    """The line for a fix that a file it writes stops: it names that file."""
    where = f"{problem.path}: " if problem.path and problem.path != path else ""
    return f"not fixed: {where}{problem}"
