"""The one pipeline check and fix share: discover, read, run the engine, collect outcomes."""

from __future__ import annotations

import functools
import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from fixuser import core
from fixuser.model import DockerfileError, FixResult, Target
from fixuser.settings import Settings
from fixuser.tree.discover import ContextWalk, DiscoveryError, discover, git_root
from fixuser.tree.fileio import FileProblem, context_reader, read

if TYPE_CHECKING:  # the context module (and PyYAML with it) loads only when a check reads one
    from fixuser.project.model import Override, RepoContext


class Contexts:
    """The repository context of each Dockerfile (tree.context), read once per repository:
    the nearest directory with .git at or above the path given on the command line (outside
    git, that path itself, or the current directory)."""

    def __init__(self, paths: Sequence[str] = ()) -> None:
        self.by_root: dict[str, RepoContext] = {}
        self.by_dir: dict[str, str] = {}  # a Dockerfile's directory -> its root
        given = [
            os.path.abspath(p if os.path.isdir(p) else os.path.dirname(p) or ".") for p in paths
        ]
        # the deepest given path first: a Dockerfile belongs to the nearest one above it
        self.given = sorted({*given, os.getcwd()}, key=len, reverse=True)
        self.root_of_given: dict[str, str] = {}
        # each directory discovery walked -> the context files it found there (see
        # discover.walk): a root among them is not walked again
        self.walked: dict[str, ContextWalk] = {}

    def root(self, directory: str) -> str:
        """The root for a Dockerfile in ``directory`` (absolute); looked up once per given
        path and once per directory, so a tree of Dockerfiles costs a dictionary lookup each."""
        found = self.by_dir.get(directory)
        if found is None:
            given = next(
                (g for g in self.given if directory == g or directory.startswith(g + os.sep)),
                directory,
            )
            if given not in self.root_of_given:
                self.root_of_given[given] = git_root(given) or given
            found = self.by_dir[directory] = self.root_of_given[given]
        return found

    def of(self, dockerfile: str) -> tuple[str, RepoContext | None]:
        """The root of ``dockerfile`` and its context; None when discovery walked that root and
        found nothing named like a context file: nothing to read, and the readers
        (fixuser.project.read, ~10 ms to load) stay unloaded."""
        key = self.root(os.path.dirname(os.path.abspath(dockerfile)))
        if key in self.by_root:
            return key, self.by_root[key]
        walked = self.walked.get(key)
        if walked is not None and not walked[0]:
            return key, None
        from fixuser.tree.context import discover_context

        found = self.by_root[key] = discover_context(Path(key), walked)
        return key, found

    def targets(self, dockerfile: str) -> tuple[Target, ...]:
        root, context = self.of(dockerfile)
        if context is None or not context.builders:
            return ()  # nothing in the repository builds anything: the last stage ships
        relative = os.path.relpath(os.path.abspath(dockerfile), root)
        return tuple(context.targets(relative.replace(os.sep, "/")))

    def overrides(self) -> list[Override]:
        """Every run-time override found, with paths as the user would type them from here."""
        found = []
        for root, context in self.by_root.items():
            for override in context.overrides:
                path = os.path.relpath(os.path.join(root, override.path))
                found.append(override._replace(path=path))
        return found

    def notes(self) -> list[tuple[str, str]]:
        """(path, problem) for each context file read but not understood."""
        return [
            (
                os.path.relpath(os.path.join(root, n.path)),
                f"line {n.line}: {n.message}" if n.line else n.message,
            )
            for root, context in self.by_root.items()
            for n in context.notes
        ]


class Processed(NamedTuple):
    path: str  # as str(Path(...)) writes it
    source: bytes = b""
    result: FixResult | None = None
    error: str = ""


def process(
    paths: Sequence[str],
    settings: Settings,
    *,
    fix: bool,
    contexts: Contexts | None = None,
    jobs: int = 1,
) -> Iterator[Processed]:
    """Each Dockerfile under ``paths`` with its result, or the one-line problem it has. With
    ``contexts``, every stage the repository ships is checked (and fixed), not only the last
    (unless --target names one). ``jobs``: worker processes (0: one per CPU for a large run,
    see fixuser.tree.workers); the results come in the same order either way."""
    walks = contexts.walked if contexts and settings.target is None else None
    found_all: Iterable[str | DiscoveryError] = discover(paths or ["."], walks)
    done: Iterator[Processed] | None = None  # the results of worker processes, in order
    if jobs != 1:
        from fixuser.tree import workers

        found_all = list(found_all)
        files = [found for found in found_all if not isinstance(found, DiscoveryError)]
        count = workers.job_count(jobs, len(files))
        if count > 1:
            tasks = [(found, targets_of(found, settings, contexts)) for found in files]
            done = workers.ordered_map(functools.partial(run_chunk, settings, fix), tasks, count)
    # In one process each file is read, checked (fixed) and handed on before the next is read:
    # fix writes and says what it did file by file.
    for found in found_all:
        if isinstance(found, DiscoveryError):
            yield Processed(str(Path(found.path)), error=found.problem)
        elif done is not None:
            yield next(done)
        else:
            yield run_one(found, settings, fix, targets_of(found, settings, contexts))


def targets_of(found: str, settings: Settings, contexts: Contexts | None) -> tuple[Target, ...]:
    return contexts.targets(found) if contexts and settings.target is None else ()


def run_chunk(
    settings: Settings, fix: bool, chunk: Sequence[tuple[str, tuple[Target, ...]]]
) -> list[Processed]:
    """run_one over a worker's share of the files (module-level: a pool pickles it)."""
    return [run_one(found, settings, fix, targets) for found, targets in chunk]


def run_one(found: str, settings: Settings, fix: bool, targets: tuple[Target, ...]) -> Processed:
    try:
        source = read(found)
        reader = context_reader(found)
        if fix:
            result = core.fix(source, settings, path=found, context=reader, targets=targets)
        else:
            analysis = core.check(source, settings, path=found, context=reader, targets=targets)
            result = FixResult(source, analysis, None)
    except (FileProblem, DockerfileError) as e:
        return Processed(found, error=str(e))
    return Processed(found, source, result)
