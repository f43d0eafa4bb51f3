"""The pure engine: Dockerfile bytes in, analysis and fixed bytes out. No I/O happens here."""

from __future__ import annotations

from fixuser.model import Analysis, ContextReader, FixResult
from fixuser.settings import Settings


def check(
    source: bytes, settings: Settings, *, path: str = "-", context: ContextReader | None = None
) -> Analysis:
    """Analyse ``source``. Raises DockerfileError on bad input."""
    raise NotImplementedError("engine under construction")


def fix(
    source: bytes, settings: Settings, *, path: str = "-", context: ContextReader | None = None
) -> FixResult:
    """Analyse and, when the runtime stage runs as root, rewrite ``source``.

    Raises DockerfileError on bad input. ``result.output == source`` when nothing changed.
    """
    raise NotImplementedError("engine under construction")
