"""Where edits go: after a stage's FROM header, after an instruction (closing a dangling
continuation), USER root for the stages built FROM a fixed one, ONBUILD triggers."""

from __future__ import annotations

from fixuser.analysis.analyze import Facts
from fixuser.dockerfile.lex import LexError
from fixuser.dockerfile.parse import Dockerfile, Instruction, continues, strip_eol
from fixuser.dockerfile.stages import Stage, last_user, user_value
from fixuser.dockerfile.users import misspelled_root, user_is_root, user_part
from fixuser.dockerfile.words import env_pairs
from fixuser.edits import Edit
from fixuser.plan.user import Choice, root_names
from fixuser.quoting import dockerfile_word


def after_header(stage: Stage) -> Instruction:
    """The FROM and the ARG/ENV/LABEL instructions directly under it: the block goes after."""
    last = stage.from_instruction
    for instruction in stage.instructions:
        if instruction.keyword not in ("ARG", "ENV", "LABEL", "MAINTAINER"):
            break
        last = instruction
    return last


def eol(text: str, dockerfile: Dockerfile) -> str:
    return text.replace("\n", dockerfile.newline)


def insertion_after(dockerfile: Dockerfile, instruction: Instruction) -> tuple[int, list[Edit]]:
    """Where text goes after ``instruction``, closing a dangling continuation or last line."""
    line = instruction.end + 1
    edits: list[Edit] = []
    last = dockerfile.lines[instruction.end]
    body = strip_eol(last)
    ending = last[len(body) :]
    if not ending.endswith("\n"):
        # The file's last line: no ending, or a lone "\r" (which ends no line: text written
        # after it would join it). It gets the file's line ending.
        ending = ""
    # An instruction's last line can only still continue when nothing but blank lines and
    # comments follow it to the end of the file: the continuation dangles, and would swallow
    # whatever is inserted after it (blank and comment lines do not end a continuation).
    # Lossy on purpose: the escape character goes.
    if continues(last, dockerfile.escape):
        body = body.rstrip(" \t")[: -len(dockerfile.escape)].rstrip(" \t")
        edits.append(Edit(instruction.end, line, 0, body + (ending or dockerfile.newline)))
    elif not ending:
        edits.append(Edit(instruction.end, line, 0, body + dockerfile.newline))
    return line, edits


def last_home_setter(stage: Stage) -> Instruction | None:
    """The stage's last ENV that sets HOME, or None."""
    for instruction in reversed(stage.of("ENV")):
        if "HOME" in instruction.value and any(
            key == "HOME" for key, _ in env_pairs(instruction.value, stage.escape)
        ):
            return instruction
    return None


def user_before(facts: Facts, stage: Stage, instruction: Instruction) -> str:
    """The non-root user in effect just before ``instruction`` (a USER of ``stage``), or ""
    when that is root, unknown or unset."""
    earlier = [u for u in stage.of("USER") if u.start < instruction.start]
    if earlier:
        try:
            value = user_value(facts.runtime.stages, stage, earlier[-1], facts.runtime.args)
        except LexError:
            return ""
    elif stage.parent is not None:
        runtime = facts.runtime
        setting = last_user(runtime.stages, runtime.stages[stage.parent], runtime.args)
        if setting.unresolved or setting.error or setting.instruction is None:
            return ""
        value = setting.value
    else:
        return ""  # the base image's default: USER root there is no repetition
    if user_is_root(value) or misspelled_root(value):
        return ""
    if user_part(value) in root_names(facts):
        return ""
    return value


def sets_root(facts: Facts, stage: Stage, instruction: Instruction) -> bool:
    """The USER ``instruction`` of ``stage`` makes it root, read as BuildKit reads it there:
    ``root``, 0, or nothing at all (``USER $EMPTY``)."""
    try:
        runtime = facts.runtime
        return user_is_root(user_value(runtime.stages, stage, instruction, runtime.args))
    except LexError:
        return False


def child_edits(
    dockerfile: Dockerfile, facts: Facts, stage: Stage, choice: Choice
) -> list[tuple[Edit, str]]:
    """``USER root`` after the FROM of each stage built FROM the fixed one (``--target``):
    its RUN steps still run as root and it ends as the user it had; what is built FROM those
    inherits from them, unchanged. Not where the stage's first instruction is its own USER."""
    kw_user = "user" if dockerfile.lower_case else "USER"
    out: list[tuple[Edit, str]] = []
    for child in facts.runtime.stages:
        if child.parent != stage.index:
            continue
        header = after_header(child)
        rest = (
            child.instructions[child.instructions.index(header) + 1 :]
            if header in (child.instructions)
            else child.instructions
        )
        if rest and rest[0].keyword == "USER":
            continue
        at, extra = insertion_after(dockerfile, header)
        text = (
            f"# fixuser: stage {stage.label} now runs as {choice.value}; this one builds as "
            f"root, as before\n{kw_user} root\n"
        )
        out += [(edit, "") for edit in extra]
        out.append(
            (
                Edit(at, at, 0, eol(text, dockerfile)),
                f"USER root after the FROM of stage {child.label} on line "
                f"{child.from_instruction.lineno}: it is built FROM {stage.label} and keeps "
                "building and running as root",
            )
        )
    return out


def onbuild_edits(dockerfile: Dockerfile, stage: Stage, choice: Choice) -> list[Edit]:
    """A child build runs ONBUILD triggers as the parent's final USER: keep RUN triggers root."""
    triggers = stage.of("ONBUILD")
    if not any(t.value.lstrip().upper().startswith("RUN") for t in triggers):
        return []
    keyword = "onbuild user" if dockerfile.lower_case else "ONBUILD USER"
    first, last = triggers[0], triggers[-1]
    at, extra = insertion_after(dockerfile, last)
    return [
        Edit(first.start, first.start, 3, eol(f"{keyword} root\n", dockerfile)),
        *extra,
        Edit(
            at,
            at,
            1,
            eol(f"{keyword} {dockerfile_word(choice.value, dockerfile.escape)}\n", dockerfile),
        ),
    ]
