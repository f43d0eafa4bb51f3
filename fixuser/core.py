"""The core: Dockerfile bytes in, analysis and fixed bytes out. No I/O happens here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from fixuser.analysis import analyze as analysis_mod
from fixuser.dockerfile.parse import Dockerfile, encode, parse
from fixuser.edits import Edit
from fixuser.model import (
    NEVER_FIXED,
    SERVICE,
    SEVERITY,
    Analysis,
    Change,
    ContextReader,
    ExtraFile,
    FixResult,
    Role,
    Shipped,
    Target,
    Verdict,
    WarningRule,
    WarningText,
)
from fixuser.settings import Settings

FIXABLE = frozenset({Verdict.ROOT})
FORCEABLE = frozenset(
    {Verdict.ROOT, Verdict.ROOT_BY_DESIGN, Verdict.DROPS_PRIVILEGES, Verdict.NEEDS_ROOT}
)


def check(
    source: bytes,
    settings: Settings,
    *,
    path: str = "-",
    context: ContextReader | None = None,
    targets: Sequence[Target] = (),
    role: Role = SERVICE,
) -> Analysis:
    """Analyse ``source``: its last stage, ``settings.target``, or every stage of ``targets``
    (what the repository builds), then the worst of them, with its ``role`` (what the
    repository does with it: fixuser.project.roles) made final. Raises DockerfileError on bad
    input."""
    dockerfile = parse(source)
    shipped = shipped_stages(dockerfile, settings, targets)
    if not shipped:
        found = analysis_mod.analyze(dockerfile, settings, context).analysis
    else:
        found = worst(dockerfile, settings, context, shipped)
    return with_role(found, dockerfile, role, path)


def with_role(analysis: Analysis, dockerfile: Dockerfile, role: Role, path: str) -> Analysis:
    """``analysis`` with its role: ``role``, or what the Dockerfile says of itself when the
    repository said nothing. A development container devcontainer.json runs as a non-root
    user is compliant whatever its Dockerfile's last USER."""
    from fixuser.project.roles import from_dockerfile

    role = from_dockerfile(role, dockerfile, path)
    if role.name == "dev" and role.detail and analysis.verdict.is_finding:
        why = f"devcontainer.json sets {role.why.rpartition('; ')[2]}: it runs as a non-root user"
        return analysis._replace(verdict=Verdict.COMPLIANT, reason=why, role=role)
    return analysis._replace(role=role)


def fixes_role(role: Role, settings: Settings) -> bool:
    """Whether fix changes an image of this role: one of --roles, and one that runs as the
    image's own user (a tool, a base, an artifact never take a USER)."""
    return role.name in settings.fix_roles and role.name not in NEVER_FIXED


def shipped_stages(
    dockerfile: Dockerfile, settings: Settings, targets: Sequence[Target]
) -> list[tuple[str, Target]]:
    """The stages ``targets`` name that this file has, by their label (name or index, what
    --target takes), in stage order, each once; empty when only the last stage ships (or
    --target chose one): then there is one stage to analyse."""
    if settings.target is not None or not targets:
        return []
    from fixuser.dockerfile.stages import build_stages

    stages = build_stages(dockerfile)
    by_name = {s.name: s.index for s in stages if s.name}
    chosen: dict[int, Target] = {}
    for target in targets:
        if target.stage is None:
            index: int | None = len(stages) - 1
        else:
            name = target.stage.lower()
            index = by_name.get(name)
            if index is None and name.isdigit() and int(name) < len(stages):
                index = int(name)
        if index is not None:
            chosen.setdefault(index, target)
    if list(chosen) == [len(stages) - 1]:
        return []  # the default stage alone: nothing more to say than a plain check
    return [(stages[index].label, target) for index, target in sorted(chosen.items())]


def worst(
    dockerfile: Dockerfile,
    settings: Settings,
    context: ContextReader | None,
    shipped: list[tuple[str, Target]],
) -> Analysis:
    analyses = [
        (target, analysis_mod.analyze(dockerfile, settings._replace(target=label), context))
        for label, target in shipped
    ]
    each = tuple(
        Shipped(a.analysis.stage, target.source, a.analysis.verdict, a.analysis.user)
        for target, a in analyses
    )
    primary = min((a.analysis for _, a in analyses), key=lambda a: SEVERITY.index(str(a.verdict)))
    return primary._replace(targets=each)


def fix(
    source: bytes,
    settings: Settings,
    *,
    path: str = "-",
    context: ContextReader | None = None,
    targets: Sequence[Target] = (),
    role: Role = SERVICE,
) -> FixResult:
    """Analyse and, when the runtime stage runs as root and its ``role`` is one fix fixes
    (``fixes_role``), rewrite ``source``; with ``targets``,
    every stage the repository ships, one after the other (earlier stages first, so a stage
    built FROM a fixed one sees its user, and its RUN steps keep running as root).

    Raises DockerfileError on bad input. ``result.output == source`` when nothing changed.
    ``--force`` also fixes stages that drop privileges themselves or keep a root master.
    """
    dockerfile = parse(source)
    shipped = shipped_stages(dockerfile, settings, targets)
    if shipped or role != SERVICE:
        found = check(source, settings, path=path, context=context, targets=targets, role=role)
        if not fixes_role(found.role, settings) or found.verdict is Verdict.COMPLIANT:
            return FixResult(source, found, None)
        role = found.role
    if shipped:
        result = fix_shipped(source, dockerfile, settings, context, shipped, path)
        return result._replace(analysis=result.analysis._replace(role=role))
    facts = analysis_mod.analyze(dockerfile, settings, context)
    found = with_role(facts.analysis, dockerfile, role, path)
    if not fixes_role(found.role, settings):
        return FixResult(source, found, None)
    # A stage that needs root only to prepare (a chown, a config file) at start: the
    # entrypoint strategy's wrapper does that as root, then drops (fixuser.plan.entrypoint).
    prepares = settings.strategy == "entrypoint" and bool(facts.prepares)
    prepares_only = prepares and found.verdict is Verdict.NEEDS_ROOT
    if found.verdict not in (FORCEABLE if settings.force else FIXABLE) and not prepares_only:
        return FixResult(source, found, None)
    from fixuser.edits import apply  # only a fix plans edits: check starts faster without
    from fixuser.plan.plan import plan

    planned = plan(dockerfile, facts, settings, path)
    warnings = list(found.warnings) + list(planned.warnings)
    if found.verdict is not Verdict.ROOT and not prepares_only:
        warnings.insert(
            0,
            WarningText(
                WarningRule.FORCED,
                f"--force: fixing a {found.verdict} stage ({found.reason}); "
                "its entrypoint may now fail to start",
            ),
        )
    output = encode(apply(dockerfile.lines, planned.edits))
    found = found._replace(warnings=tuple(warnings))
    if output == source:
        return FixResult(source, found, None)
    return FixResult(
        output, found, planned.change, planned.edits, dockerfile.lines, planned.extra_files
    )


def fix_shipped(
    source: bytes,
    dockerfile: Dockerfile,
    settings: Settings,
    context: ContextReader | None,
    shipped: list[tuple[str, Target]],
    path: str = "-",
) -> FixResult:
    """Fix each shipped stage in turn, each fix made on the text the one before it left
    (a fix adds no stage, so each label still names its stage there)."""
    found = worst(dockerfile, settings, context, shipped)
    text, changes, warnings = source, [], list(found.warnings)
    extra_files: list[ExtraFile] = []  # each stage's own wrapper (--strategy entrypoint)
    for label, _target in shipped:
        step = fix(text, settings._replace(target=label), path=path, context=context)
        extra_files += step.extra_files
        if step.change is not None:
            changes.append(
                step.change._replace(notes=tuple(f"stage {label}: {n}" for n in step.change.notes))
            )
            warnings += [w for w in step.analysis.warnings if w not in warnings]
            text = step.output
    if text == source:
        return FixResult(source, found._replace(warnings=tuple(warnings)), None)
    after = parse(text)
    change = Change(
        user=changes[0].user,
        created_user=next((c.created_user for c in changes if c.created_user), None),
        chowned=tuple(p for c in changes for p in c.chowned),
        notes=tuple(n for c in changes for n in c.notes),
        uid=changes[0].uid,
        strategy=changes[0].strategy,
        wrapper=changes[0].wrapper,
        handed=tuple(dict.fromkeys(p for c in changes for p in c.handed)),
    )
    edits = edits_between(dockerfile.lines, after.lines)
    return FixResult(
        text,
        found._replace(warnings=tuple(warnings)),
        change,
        edits,
        dockerfile.lines,
        tuple(extra_files),
    )


KEEP_PRAGMA = "# fixuser: ignore: kept as root on purpose"


def keep(source: bytes, analysis: Analysis) -> FixResult:
    """``source`` accepted as root on purpose (the session's "keep as root"): ``# fixuser:
    ignore`` on a line of its own above the first instruction (below any parser directive),
    which accepts the whole file: every stage it ships is then ``ignored``."""
    dockerfile = parse(source)
    first = dockerfile.instructions[0].start
    lines = list(dockerfile.lines)
    lines.insert(first, KEEP_PRAGMA + dockerfile.newline)
    note = f"kept as root on purpose: '{KEEP_PRAGMA}' added above line {first + 1}"
    change = Change(
        user=analysis.user, created_user=None, chowned=(), notes=(note,), strategy="keep"
    )
    edits = edits_between(dockerfile.lines, lines)
    return FixResult(encode("".join(lines)), analysis, change, edits, dockerfile.lines)


def edits_between(old: Sequence[str], new: Sequence[str]) -> tuple[Edit, ...]:
    """The line edits that turn ``old`` into ``new``: for a fix made in several passes,
    whose own edits index the text of the pass before."""
    import difflib

    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    return tuple(
        Edit(i1, i2, 0, "".join(new[j1:j2]))
        for tag, i1, i2, j1, j2 in matcher.get_opcodes()
        if tag != "equal"
    )


class Build(NamedTuple):
    """One image verify builds of a fix: the stage (None: the default, the last), the text
    built after the fix, and the user fixuser wrote there. ``fixed`` is what ``fix`` writes,
    or the original for a shipped stage the fix leaves as it was: nothing to prove there."""

    stage: str | None
    fixed: bytes
    expected_user: str | None
    family: str | None


def builds(
    path: str, original: bytes, result: FixResult, settings: Settings, reader: ContextReader
) -> list[Build]:
    """The images that prove ``result``: one per stage it ships (fixuser.core.fix_shipped)."""
    user = result.change.user if result.change else None
    if settings.target is not None or not result.analysis.targets:
        return [Build(settings.target, result.output, user, result.analysis.family)]
    found = []
    for shipped in result.analysis.targets:
        chosen = settings._replace(target=shipped.stage)
        after = check(result.output, chosen, path=path, context=reader)
        if (after.verdict, after.user) == (shipped.verdict, shipped.user):
            found.append(Build(shipped.stage, original, None, after.family))
        elif result.change is not None and result.change.strategy == "user":
            # Analysis.user says where the user comes from: "10001:10001 (line 7)"
            written = after.user.rpartition(" (")[0] or user
            found.append(Build(shipped.stage, result.output, written, after.family))
        else:  # the entrypoint strategy writes no USER: its wrapper drops to the user
            found.append(Build(shipped.stage, result.output, user, after.family))
    return found
