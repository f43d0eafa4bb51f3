"""The pure engine: Dockerfile bytes in, analysis and fixed bytes out. No I/O happens here."""

from __future__ import annotations

from fixuser import analysis as analysis_mod
from fixuser.dockerfile import encode, parse
from fixuser.model import Analysis, ContextReader, FixResult, Verdict
from fixuser.settings import Settings

FIXABLE = frozenset({Verdict.ROOT})
FORCEABLE = frozenset(
    {Verdict.ROOT, Verdict.ROOT_BY_DESIGN, Verdict.DROPS_PRIVILEGES, Verdict.NEEDS_ROOT}
)


def check(
    source: bytes, settings: Settings, *, path: str = "-", context: ContextReader | None = None
) -> Analysis:
    """Analyse ``source``. Raises DockerfileError on bad input."""
    return analysis_mod.analyze(parse(source), settings, context).analysis


def fix(
    source: bytes, settings: Settings, *, path: str = "-", context: ContextReader | None = None
) -> FixResult:
    """Analyse and, when the runtime stage runs as root, rewrite ``source``.

    Raises DockerfileError on bad input. ``result.output == source`` when nothing changed.
    ``--force`` also fixes stages that drop privileges themselves or keep a root master.
    """
    dockerfile = parse(source)
    facts = analysis_mod.analyze(dockerfile, settings, context)
    found = facts.analysis
    if found.verdict not in (FORCEABLE if settings.force else FIXABLE):
        return FixResult(source, found, None)
    from fixuser.edits import apply  # only a fix plans edits: check starts faster without
    from fixuser.plan import plan

    planned = plan(dockerfile, facts, settings)
    warnings = list(found.warnings) + list(planned.warnings)
    if found.verdict is not Verdict.ROOT:
        warnings.insert(
            0,
            f"--force: fixing a {found.verdict} stage ({found.reason}); "
            "its entrypoint may now fail to start",
        )
    output = encode(apply(dockerfile.lines, planned.edits))
    found = found._replace(warnings=tuple(warnings))
    if output == source:
        return FixResult(source, found, None)
    return FixResult(output, found, planned.change, planned.edits, dockerfile.lines)
