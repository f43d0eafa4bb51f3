"""The one pipeline check and fix share: discover, read, run the engine, collect outcomes."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import NamedTuple

from fixuser import core
from fixuser.discover import DiscoveryError, discover
from fixuser.fileio import FileProblem, context_reader, read
from fixuser.model import DockerfileError, FixResult
from fixuser.settings import Settings


class Processed(NamedTuple):
    path: str  # as str(Path(...)) writes it
    source: bytes = b""
    result: FixResult | None = None
    error: str = ""


def process(paths: Sequence[str], settings: Settings, *, fix: bool) -> Iterator[Processed]:
    """Each Dockerfile under ``paths`` with its result, or the one-line problem it has."""
    for found in discover(paths or ["."]):
        if isinstance(found, DiscoveryError):
            yield Processed(str(Path(found.path)), error=found.problem)
            continue
        try:
            source = read(found)
            reader = context_reader(found)
            if fix:
                result = core.fix(source, settings, path=found, context=reader)
            else:
                analysis = core.check(source, settings, path=found, context=reader)
                result = FixResult(source, analysis, None)
        except (FileProblem, DockerfileError) as e:
            yield Processed(found, error=str(e))
            continue
        yield Processed(found, source, result)
