"""Analysis: which stage runs, on what distro, as whom, and does it drop privileges itself."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fixuser.analysis.family import contradicting_evidence, detect_family, generic
from fixuser.analysis.privileges import lives_under_root, privileges
from fixuser.analysis.users import CreatedUser, created_users, earlier_non_root
from fixuser.analysis.warnings import other_stage_warnings, stage_warnings
from fixuser.dockerfile.parse import Dockerfile
from fixuser.dockerfile.stages import Stage, build_stages, chain, global_args, last_user, stage_env
from fixuser.dockerfile.users import is_root_user, misspelled_root, user_is_root, user_part
from fixuser.dockerfile.words import split_flags
from fixuser.knowledge.images import (
    ImageInfo,
    lookup,
)
from fixuser.model import Analysis, ContextReader, DockerfileError, Verdict
from fixuser.settings import Settings

PRAGMA_RE = re.compile(r"^\s*#\s*fixuser\s*:\s*ignore\b", re.IGNORECASE)


class Facts:
    """Everything plan.py needs, beyond the public Analysis."""

    __slots__ = (
        "_created",
        "_earlier_user",
        "analysis",
        "args",
        "env",
        "escape",
        "family",
        "image",
        "prepares",
        "stage",
        "stages",
    )

    def __init__(
        self,
        analysis: Analysis,
        stages: tuple[Stage, ...],
        stage: Stage | None,
        image: ImageInfo,
        env: Mapping[str, str],
        args: dict[str, str],
        family: str,
        escape: str = "\\",
    ) -> None:
        self.analysis = analysis
        self.escape = escape  # the file's escape character: WORKDIR and USER values use it
        self.stages = stages
        self.stage = stage
        self.image = image
        self.env = env
        self.args = args
        self.family = family
        self._earlier_user: str | None = None
        self._created: tuple[CreatedUser, ...] | None = None
        # What the entrypoint prepares as root at start (the paths it chowns, the directories
        # of the config files it writes), when that is all it needs root for: a needs-root
        # stage that fix --strategy entrypoint can fix.
        self.prepares: tuple[str, ...] = ()

    # Only a fix needs these, so check does not pay for them.
    @property
    def earlier_user(self) -> str:
        """The last non-root USER the chain set before switching back to root, or ""."""
        if self._earlier_user is None:
            assert self.stage is not None
            self._earlier_user = earlier_non_root(list(self.stages), self.stage, self.args)
        return self._earlier_user

    @property
    def created(self) -> tuple[CreatedUser, ...]:
        """Users the chain's RUN steps create with useradd/adduser, oldest first."""
        if self._created is None:
            assert self.stage is not None
            self._created = tuple(created_users(list(self.stages), self.stage, self.args))
        return self._created


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


def analyze(dockerfile: Dockerfile, settings: Settings, context: ContextReader | None) -> Facts:
    args = global_args(dockerfile, {})
    stages = build_stages(dockerfile, args)
    stage = runtime_stage(stages, settings)
    links = chain(stages, stage)
    root_stage = links[-1]
    base = root_stage.image
    name_unresolved = bool(root_stage.unresolved) and "$" in reference_name(
        root_stage.from_instruction.value
    )
    image = lookup("" if name_unresolved else base)
    family, evidence = detect_family(stages, stage, image, dockerfile.escape)
    overruled = ""
    if image.known:
        contradiction = contradicting_evidence(stages, stage, family)
        if contradiction is not None:
            overruled = (
                f"the image table says {family} ({image.evidence}), but {contradiction[1]}: "
                f"taken as {contradiction[0]}"
            )
            family, evidence = contradiction
            image = generic(family, evidence)
    env = stage_env(stages, stage, args)
    setting = last_user(stages, stage, args)

    def result(
        verdict: Verdict, user: str, reason: str = "", warnings: tuple[str, ...] = ()
    ) -> Facts:
        analysis = Analysis(
            verdict,
            stage.label,
            stage.from_instruction.lineno,
            base,
            family,
            evidence,
            user,
            reason,
            (overruled, *warnings) if overruled else warnings,
        )
        return Facts(
            analysis,
            tuple(stages),
            stage,
            image,
            env,
            args,
            family,
            dockerfile.escape,
        )

    if file_pragma(dockerfile):
        return result(Verdict.IGNORED, "", "# fixuser: ignore at the top of the file")
    if pragma_above(dockerfile, stage.from_instruction.start):
        return result(
            Verdict.IGNORED, "", f"# fixuser: ignore above the FROM of stage {stage.label}"
        )
    if setting.unresolved:
        return result(
            Verdict.UNKNOWN,
            setting.value,
            f"line {setting.instruction.lineno if setting.instruction else 0}: USER uses "
            f"${setting.unresolved}, which has no value in the Dockerfile",
        )
    if setting.error:
        return result(
            Verdict.UNKNOWN,
            setting.value,
            f"line {setting.instruction.lineno if setting.instruction else 0}: BuildKit cannot "
            f"expand USER {setting.value} ({setting.error}): the build fails there",
        )
    if setting.instruction is not None:
        user = setting.value
        source = f"line {setting.instruction.lineno}"
        if not user_part(user):
            # USER $EMPTY resets the image's user: the runtime then starts as root.
            source += f": USER {setting.instruction.value} is empty, which runs as root"
    elif name_unresolved:
        return result(
            Verdict.UNKNOWN,
            "",
            f"the base image is ${root_stage.unresolved}, which has no default value",
        )
    else:
        user = image.user
        source = "the base image's default"
    described = f"{user or '(nothing)'} ({source})"
    if setting.instruction is not None and family != "windows" and misspelled_root(user):
        return result(
            Verdict.INVALID_USER,
            described,
            f"line {setting.instruction.lineno}: USER {setting.instruction.value.strip()} names "
            "no user (user names are case-sensitive: root is lower case), so the container "
            "does not start; write the user you mean",
        )
    root = user_is_root(user) if setting.instruction is not None else is_root_user(user)
    if not root:
        return result(
            Verdict.COMPLIANT, described, warnings=tuple(other_stage_warnings(stages, stage, args))
        )
    warnings = stage_warnings(stages, stage, env, args)
    prepared: list[str] = []
    verdict, reason = privileges(stages, stage, image, env, context, warnings, prepared)
    if verdict is None:
        under_root = lives_under_root(stages, stage, env)
        if under_root:
            verdict, reason = Verdict.NEEDS_ROOT, under_root
    facts = result(verdict or Verdict.ROOT, described, reason, tuple(warnings))
    facts.prepares = tuple(prepared)
    return facts


def reference_name(from_value: str) -> str:
    """The repository part of a FROM's image reference (no tag, no digest)."""
    words = split_flags(from_value)[1]
    ref = words[0].split("@")[0] if words else ""
    slash, colon = ref.rfind("/"), ref.rfind(":")
    return ref[:colon] if colon > slash else ref
