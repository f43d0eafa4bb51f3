"""Analysis: which stage runs, on what distro, as whom, and does it drop privileges itself."""

from __future__ import annotations

import re
from typing import NamedTuple

from fixuser.analysis.family import contradicting_evidence, detect_family, generic
from fixuser.analysis.privileges import lives_under_root, privileges
from fixuser.analysis.users import (
    CreatedUser,
    Prepared,
    created_users,
    earlier_non_root,
    prepared_owner,
)
from fixuser.analysis.warnings import other_stage_warnings, stage_warnings
from fixuser.dockerfile.parse import Dockerfile
from fixuser.dockerfile.stages import Runtime, Stage, UserSetting, build_stages, global_args
from fixuser.dockerfile.users import is_root_user, misspelled_root, user_is_root, user_part
from fixuser.dockerfile.words import split_flags
from fixuser.knowledge.images import ImageInfo, lookup
from fixuser.model import (
    Analysis,
    ContextReader,
    DockerfileError,
    Verdict,
    WarningRule,
    WarningText,
)
from fixuser.settings import Settings

PRAGMA_RE = re.compile(r"^\s*#\s*fixuser\s*:\s*ignore\b", re.IGNORECASE)


class Facts:
    """Everything plan needs, beyond the public Analysis: the runtime stage's view, what the
    image table knows of its base, its family."""

    __slots__ = (
        "_created",
        "_earlier_user",
        "_prepared",
        "analysis",
        "family",
        "image",
        "prepares",
        "runtime",
    )

    def __init__(self, analysis: Analysis, runtime: Runtime, image: ImageInfo, family: str) -> None:
        self.analysis = analysis
        self.runtime = runtime
        self.image = image
        self.family = family
        self._earlier_user: str | None = None
        self._created: tuple[CreatedUser, ...] | None = None
        self._prepared: tuple[Prepared | None] | None = None  # None: not looked for yet
        # What the entrypoint prepares as root at start (the paths it chowns, the directories
        # of the config files it writes), when that is all it needs root for: a needs-root
        # stage that fix --strategy entrypoint can fix.
        self.prepares: tuple[str, ...] = ()

    # Only a fix needs these, so check does not pay for them.
    @property
    def earlier_user(self) -> str:
        """The last non-root USER the chain set before switching back to root, or ""."""
        if self._earlier_user is None:
            self._earlier_user = earlier_non_root(self.runtime)
        return self._earlier_user

    @property
    def created(self) -> tuple[CreatedUser, ...]:
        """Users the chain's RUN steps create with useradd/adduser, oldest first."""
        if self._created is None:
            self._created = tuple(created_users(self.runtime))
        return self._created

    @property
    def prepared(self) -> Prepared | None:
        """The owner the chain gives its files to without switching to it, or None."""
        if self._prepared is None:
            self._prepared = (prepared_owner(self.runtime),)
        return self._prepared[0]


class Base(NamedTuple):
    """What fixuser knows of the image the runtime stage is built on."""

    reference: str  # the image reference at the end of the FROM chain
    unresolved: str  # the variable without a value its name is made of, or ""
    image: ImageInfo
    family: str
    evidence: str
    overruled: WarningText | None  # the table entry the file's own evidence contradicts
    # Where the default user comes from: "table", "store" (the engine's local image store,
    # Settings.image_users) or "assumed" (neither knows the image: root, as Docker's default).
    user_source: str = "table"


def pragma_above(dockerfile: Dockerfile, line: int) -> bool:
    """``# fixuser: ignore`` on the comment lines directly above ``line``."""
    index = line - 1
    while index >= 0:
        text = dockerfile.lines[index].strip()
        if not text.startswith("#"):
            return False
        if PRAGMA_RE.match(text):
            return True
        index -= 1
    return False


def file_pragma(dockerfile: Dockerfile) -> bool:
    header = dockerfile.lines[: dockerfile.instructions[0].start]
    if "fixuser" not in "".join(header).lower():
        return False  # most files: no pragma, and no regex run over a long licence header
    return any(PRAGMA_RE.match(line) for line in header)


def runtime_stage(stages: list[Stage], settings: Settings) -> Stage:
    if settings.target is None:
        return stages[-1]
    for stage in stages:
        if stage.name == settings.target.lower() or stage.label == settings.target:
            return stage
    raise DockerfileError(f"no stage named {settings.target!r} (--target)")


def runtime_view(dockerfile: Dockerfile, settings: Settings) -> Runtime:
    """The stage that runs (the last, or --target), seen once for everything that follows."""
    args = global_args(dockerfile, {})
    stages = build_stages(dockerfile, args)
    return Runtime(stages, runtime_stage(stages, settings), args, dockerfile.escape)


def base_of(runtime: Runtime, settings: Settings) -> Base:
    """The base image, its family and why fixuser believes it: the image table, unless the
    file's own RUN steps prove another family; its default user from the table, else from
    the local image store (``settings.image_users``), else assumed root."""
    root_stage = runtime.chain[-1]
    name = reference_name(root_stage.from_instruction.value)
    unresolved = root_stage.unresolved if root_stage.unresolved and "$" in name else ""
    image = lookup("" if unresolved else root_stage.image)
    user_source = "table"
    if not image.known and not unresolved:
        stored = dict(settings.image_users).get(root_stage.image)
        user_source = "assumed" if stored is None else "store"
        image = image._replace(user=stored or "root") if stored is not None else image
    family, evidence = detect_family(runtime, image)
    overruled = None
    if image.known:
        contradiction = contradicting_evidence(runtime, family)
        if contradiction is not None:
            overruled = WarningText(
                WarningRule.OTHER,
                f"the image table says {family} ({image.evidence}), but {contradiction[1]}: "
                f"taken as {contradiction[0]}",
            )
            family, evidence = contradiction
            image = generic(family, evidence)
    return Base(root_stage.image, unresolved, image, family, evidence, overruled, user_source)


def analyze(dockerfile: Dockerfile, settings: Settings, context: ContextReader | None) -> Facts:
    runtime = runtime_view(dockerfile, settings)
    base = base_of(runtime, settings)
    stage = runtime.stage
    setting = runtime.last_user()
    assumed = base.user_source == "assumed" and setting.instruction is None

    def result(
        verdict: Verdict, user: str, reason: str = "", warnings: tuple[WarningText, ...] = ()
    ) -> Facts:
        analysis = Analysis(
            verdict,
            stage.label,
            stage.from_instruction.lineno,
            base.reference,
            base.family,
            base.evidence,
            user,
            reason,
            (base.overruled, *warnings) if base.overruled else warnings,
            assumed=assumed and verdict is not Verdict.IGNORED,
        )
        return Facts(analysis, runtime, base.image, base.family)

    setting = runtime.last_user()
    ignored = ignored_because(dockerfile, stage, setting)
    if ignored:
        return result(Verdict.IGNORED, "", ignored)
    unknown = unknown_because(setting, base)
    if unknown:
        return result(Verdict.UNKNOWN, setting.value, unknown)
    user, described = runs_as(setting, base)
    if setting.instruction is not None and base.family != "windows" and misspelled_root(user):
        return result(
            Verdict.INVALID_USER,
            described,
            f"line {setting.instruction.lineno}: USER {setting.instruction.value.strip()} names "
            "no user (user names are case-sensitive: root is lower case), so the container "
            "does not start; write the user you mean",
        )
    root = user_is_root(user) if setting.instruction is not None else is_root_user(user)
    if not root:
        return result(Verdict.COMPLIANT, described, warnings=tuple(other_stage_warnings(runtime)))
    warnings = stage_warnings(runtime)
    prepared: list[str] = []
    verdict, reason = privileges(runtime, base.image, context, prepared)
    if verdict is None:
        under_root = lives_under_root(runtime)
        if under_root:
            verdict, reason = Verdict.NEEDS_ROOT, under_root
    facts = result(verdict or Verdict.ROOT, described, reason, tuple(warnings))
    facts.prepares = tuple(prepared)
    return facts


def ignored_because(dockerfile: Dockerfile, stage: Stage, setting: UserSetting) -> str:
    """Why the file or the stage is accepted as it is (a ``# fixuser: ignore`` pragma at the
    top, above the stage's FROM, or above the USER it ends with), or ""."""
    if file_pragma(dockerfile):
        return "# fixuser: ignore at the top of the file"
    if pragma_above(dockerfile, stage.from_instruction.start):
        return f"# fixuser: ignore above the FROM of stage {stage.label}"
    user = setting.instruction
    if user is not None and setting.stage is not None and pragma_above(dockerfile, user.start):
        return f"# fixuser: ignore above line {user.lineno}: USER {user.value.strip()}"
    return ""


def unknown_because(setting: UserSetting, base: Base) -> str:
    """Why the user the stage runs as cannot be known, or ""."""
    line = setting.instruction.lineno if setting.instruction else 0
    if setting.unresolved:
        return f"line {line}: USER uses ${setting.unresolved}, which has no value in the Dockerfile"
    if setting.error:
        return (
            f"line {line}: BuildKit cannot expand USER {setting.value} ({setting.error}): the "
            "build fails there"
        )
    if setting.instruction is None and base.unresolved:
        return f"the base image is ${base.unresolved}, which has no default value"
    return ""


DEFAULT_SOURCES = {
    "table": "the base image's default",
    "store": "the base image's default, read from the local image store",
    "assumed": "assumed root: base image not in fixuser's table",
}


def runs_as(setting: UserSetting, base: Base) -> tuple[str, str]:
    """The user the stage runs as, and that user described with where it comes from."""
    if setting.instruction is not None:
        user = setting.value
        source = f"line {setting.instruction.lineno}"
        if not user_part(user):
            # USER $EMPTY resets the image's user: the runtime then starts as root.
            source += f": USER {setting.instruction.value} is empty, which runs as root"
    else:
        user = base.image.user
        source = DEFAULT_SOURCES[base.user_source]
    return user, f"{user or '(nothing)'} ({source})"


def reference_name(from_value: str) -> str:
    """The repository part of a FROM's image reference (no tag, no digest)."""
    words = split_flags(from_value)[1]
    ref = words[0].split("@")[0] if words else ""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[:colon] if colon > slash else ref
