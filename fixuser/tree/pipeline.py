"""The one fix loop: every command that checks or fixes Dockerfiles (check, fix, fix --commit,
the session, batch, verify) runs fix_all over a Source (fixuser.tree.source): it discovers,
reads, chooses the stages that ship and calls fixuser.core for each file."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from fixuser import core
from fixuser.model import DockerfileError, FixResult, Role, Target
from fixuser.settings import Settings
from fixuser.tree.discover import DiscoveryError
from fixuser.tree.exclude import excluded
from fixuser.tree.fileio import FileProblem
from fixuser.tree.source import Source, role_of, targets_of


class Processed(NamedTuple):
    path: str  # as the source names it (a work tree: as str(Path(...)) writes it)
    source: bytes = b""
    result: FixResult | None = None
    error: str = ""


def fix_all(
    source: Source,
    settings: Settings | Callable[[str], Settings],
    *,
    fix: bool = True,
    jobs: int = 1,
) -> Iterator[Processed]:
    """Each Dockerfile of ``source`` with its result (``fix``: fixed, else checked), or the
    one-line problem it has. Every stage the repository ships is checked (and fixed), not only
    the last, unless --target (``settings.target``) names one. ``settings``: the same for every
    file, or each file's own. ``jobs``: worker processes (0: one per CPU for a large run, see
    fixuser.tree.workers; the source is then pickled into each); the results come in the same
    order either way."""
    settings_for = settings if callable(settings) else (lambda _path: settings)
    found_all: Iterable[str | DiscoveryError] = kept(source, settings_for)
    done: Iterator[Processed] | None = None  # the results of worker processes, in order
    if jobs != 1:
        from fixuser.tree import workers

        found_all = list(found_all)
        files = [found for found in found_all if not isinstance(found, DiscoveryError)]
        count = workers.job_count(jobs, len(files))
        if count > 1:
            tasks = [task(source, found, settings_for(found)) for found in files]
            done = workers.ordered_map(functools.partial(run_chunk, source, fix), tasks, count)
    # In one process each file is read, checked (fixed) and handed on before the next is read:
    # fix writes and says what it did file by file.
    for found in found_all:
        if isinstance(found, DiscoveryError):
            yield Processed(str(Path(found.path)), error=found.problem)
        elif done is not None:
            yield next(done)
        else:
            yield run_one(source, fix, task(source, found, settings_for(found)))


def kept(source: Source, settings_for: Callable[[str], Settings]) -> Iterator[str | DiscoveryError]:
    """The Dockerfiles of ``source`` but those their settings' ``exclude`` globs match (by
    their path from the repository root), named on the command line or found: every command
    leaves out the same files. A path that cannot be used is excluded as a file would be."""
    for found in source.dockerfiles():
        path = found.path if isinstance(found, DiscoveryError) else found
        patterns = settings_for(path).exclude
        if not patterns or not excluded(source.from_root(path), patterns):
            yield found


Task = tuple[str, Settings, tuple[Target, ...], Role]


def task(source: Source, path: str, settings: Settings) -> Task:
    """A Dockerfile with its settings, the stages to fix (fixuser.tree.source.targets_of) and
    its role (fixuser.tree.source.role_of)."""
    targets = targets_of(source, path, settings.target)
    return path, settings, targets, role_of(source, path, settings.roles)


def run_chunk(source: Source, fix: bool, chunk: Sequence[Task]) -> list[Processed]:
    """run_one over a worker's share of the files (module-level: a pool pickles it)."""
    return [run_one(source, fix, one) for one in chunk]


def run_one(source: Source, fix: bool, one: Task) -> Processed:
    found, settings, targets, role = one
    try:
        data = source.read(found)
        reader = source.context_reader(found)
        if fix:
            result = core.fix(
                data, settings, path=found, context=reader, targets=targets, role=role
            )
        else:
            analysis = core.check(
                data, settings, path=found, context=reader, targets=targets, role=role
            )
            result = FixResult(data, analysis, None)
    except (FileProblem, DockerfileError) as e:
        return Processed(found, error=str(e))
    return Processed(found, data, result)
