"""``fix --strategy entrypoint`` (pure): the other remedy CIS 4.1 names.

No USER: the image starts as root, and a small POSIX-sh wrapper (templates/
entrypoint-wrapper.j2), written beside the Dockerfile and copied to WRAPPER_PATH, hands the
stage's VOLUMEs, the ``--writable`` paths and what its entrypoint prepares to the user, then
execs the original command as the user (setpriv, su-exec, or BusyBox chpst). The wrapper goes
in front of the stage's ENTRYPOINT, exec form kept; a stage without one gets one, and the
command it ran is kept: its base image's ENTRYPOINT (when images.toml knows it), its CMD
restated when setting ENTRYPOINT would reset an inherited one. What cannot be known is
refused, never guessed.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import NamedTuple

from fixuser.analysis.analyze import Facts
from fixuser.analysis.privileges import WRAPPER_PATH
from fixuser.dockerfile.parse import Dockerfile, Instruction, encode, exec_form, strip_eol
from fixuser.dockerfile.stages import Runtime, Stage
from fixuser.dockerfile.words import process_word, volume_words
from fixuser.edits import Edit
from fixuser.knowledge import families
from fixuser.knowledge.paths import normalise
from fixuser.model import ExtraFile, FixRefused
from fixuser.settings import Settings

COMMENT = "# CIS Docker Benchmark 4.1: the entrypoint runs the container as a non-root user"
NAME_PART_RE = re.compile(r"[^A-Za-z0-9_-]+")
DEFAULT_SHELL = ("/bin/sh", "-c")


class EntrypointPlan(NamedTuple):
    edits: tuple[Edit, ...]  # the stage's own ENTRYPOINT, rewritten in place
    text: str  # what goes where USER would: the comment, the COPY, a new ENTRYPOINT (and CMD)
    notes: tuple[str, ...]
    wrapper: ExtraFile
    handed: tuple[str, ...]


def refuse_without_shell(facts: Facts) -> None:
    raise FixRefused(
        f"--strategy entrypoint needs a shell to run its wrapper, and {facts.analysis.base_image} "
        f"({facts.family}) has none: use --strategy user"
    )


def wrapper_name(path: str, stage: Stage, last: bool) -> str:
    """``fixuser-entrypoint.sh`` beside ``Dockerfile``; ``fixuser-entrypoint.dev.sh`` beside
    ``Dockerfile.dev`` (or ``dev.Dockerfile``), and the stage's name for a stage that is not
    the last, so two Dockerfiles or stages of one directory never share a wrapper."""
    base = posixpath.basename(path.replace("\\", "/")) if path not in ("", "-") else ""
    lower, variant = base.lower(), ""
    for prefix in ("dockerfile.", "containerfile."):
        if lower.startswith(prefix):
            variant = base[len(prefix) :]
    for suffix in (".dockerfile", ".containerfile"):
        if lower.endswith(suffix):
            variant = base[: -len(suffix)]
    parts = [NAME_PART_RE.sub("-", p).strip("-") for p in (variant, "" if last else stage.label)]
    return ".".join(["fixuser-entrypoint", *(p for p in parts if p), "sh"])


def exec_words(value: str) -> list[str] | None:
    """The words of an exec-form (JSON) ENTRYPOINT/CMD; None for the shell form, which is
    also what BuildKit runs when the rest of the line is not one JSON array of strings
    (``ENTRYPOINT ["run"] now`` runs ``/bin/sh -c '["run"] now'``)."""
    return exec_form(value)


def shell_of(facts: Facts) -> list[str]:
    found = facts.runtime.effective("SHELL")
    words = exec_words(found.value) if found is not None else None
    return words or list(DEFAULT_SHELL)


def as_exec(facts: Facts, instruction: Instruction) -> list[str]:
    """ENTRYPOINT's words in exec form: the shell form runs in the stage's SHELL."""
    words = exec_words(instruction.value)
    if words is not None:
        return words
    return [*shell_of(facts), instruction.value]  # as BuildKit trimmed it


def inherited_cmd(runtime: Runtime) -> Instruction | str:
    """The CMD the stage's image has from the stages it is built FROM: their last CMD, "none"
    when an ENTRYPOINT reset it (setting ENTRYPOINT clears a CMD inherited from the image it
    builds on, unless the same stage sets one), "base" when it is the base image's."""
    state: Instruction | str = "base"
    for link in reversed(runtime.chain[1:]):
        commands = link.of("CMD")
        if commands:
            state = commands[-1]
        elif link.of("ENTRYPOINT"):
            state = "none"
    return state


def rewrite_in_place(dockerfile: Dockerfile, facts: Facts, own: Instruction) -> Edit:
    """The stage's ENTRYPOINT with the wrapper in front: an exec form gets one more word after
    its ``[`` (the rest of the line, continuations included, stays as written); a shell form
    becomes the exec form of its shell."""
    first = dockerfile.lines[own.start]
    words = exec_words(own.value)
    if words is not None:
        bracket = first.find("[", len(first) - len(first.lstrip()) + len(own.written))
        if bracket >= 0:
            wrapper = json.dumps(WRAPPER_PATH) + (", " if words else "")
            if not words:  # ENTRYPOINT [] (or [ ]): one word
                close = first.find("]", bracket)
                if close >= 0:
                    text = f"{first[: bracket + 1]}{wrapper}{first[close:]}"
                    return Edit(own.start, own.start + 1, 0, text)
            else:
                text = f"{first[: bracket + 1]}{wrapper}{first[bracket + 1 :]}"
                return Edit(own.start, own.start + 1, 0, text)
    last = dockerfile.lines[own.end]
    ending = last[len(strip_eol(last)) :] or ""
    indent = first[: len(first) - len(first.lstrip())]
    line = f"{indent}{own.written} {dumps([WRAPPER_PATH, *as_exec(facts, own)])}"
    return Edit(own.start, own.end + 1, 0, line + ending)


def dumps(words: list[str]) -> str:
    return json.dumps(words, ensure_ascii=False)


def chain_volumes(facts: Facts) -> list[str]:
    """The VOLUME paths of the stage and the stages it is built FROM, resolved as the VOLUME
    instruction resolves them (against the WORKDIR)."""
    found: list[str] = []
    for link in reversed(facts.runtime.chain):
        workdir = "/"
        for instruction in link.instructions:
            if instruction.keyword == "WORKDIR":
                value = process_word(instruction.value, facts.runtime.env, link.escape)
                workdir = normalise(posixpath.join(workdir, value))
            elif instruction.keyword == "VOLUME":
                for path in volume_words(
                    instruction.value, facts.runtime.env, facts.runtime.escape
                ):
                    if path and ":" not in path and "\\" not in path and "$" not in path:
                        path = normalise(posixpath.join(workdir, path))
                        if path != "/" and path not in found:
                            found.append(path)
    return found


def plan_entrypoint(
    dockerfile: Dockerfile,
    facts: Facts,
    settings: Settings,
    *,
    path: str,
    user: str,
    uid: int | None,
    gid: int | None,
    owner: str,
) -> EntrypointPlan:
    """The ENTRYPOINT edits, the text that goes where USER would, and the wrapper's text.
    Raises FixRefused when what the stage runs cannot be kept behind the wrapper."""
    stage = facts.runtime.stage
    assert stage is not None
    stages = list(facts.runtime.stages)
    name = wrapper_name(path, stage, stage.index == len(stages) - 1)
    kw = {k: (k.lower() if dockerfile.lower_case else k) for k in ("COPY", "ENTRYPOINT", "CMD")}
    text = f"{COMMENT}\n{kw['COPY']} --chmod=0755 {name} {WRAPPER_PATH}\n"
    edits: list[Edit] = []
    notes: list[str] = []
    own = stage.of("ENTRYPOINT")
    if own:
        edits.append(rewrite_in_place(dockerfile, facts, own[-1]))
        notes.append(f"ENTRYPOINT on line {own[-1].lineno}: {WRAPPER_PATH} in front of it")
    else:
        inherited = facts.runtime.effective("ENTRYPOINT")
        base_cmd: tuple[str, ...] | None = None
        if inherited is not None:
            words = as_exec(facts, inherited)
            whose = f"stage {stages_of(facts, inherited)}'s, line {inherited.lineno}"
        else:
            from fixuser.knowledge.images import base_entrypoint

            known = base_entrypoint(facts.analysis.base_image)
            if known is None:
                raise FixRefused(
                    f"--strategy entrypoint: the stage sets no ENTRYPOINT, and fixuser does not "
                    f"know {facts.analysis.base_image}'s own, which its wrapper must keep: write "
                    "it in the Dockerfile (ENTRYPOINT [] when it has none)"
                )
            words, whose, base_cmd = list(known.words), "the base image's", known.cmd
        text += f"{kw['ENTRYPOINT']} {dumps([WRAPPER_PATH, *words])}\n"
        kept = f"in front of {whose} ({dumps(words)})" if words else "(the base image has none)"
        notes.append(f"ENTRYPOINT {WRAPPER_PATH} {kept}")
        if not stage.of("CMD"):
            # Setting ENTRYPOINT resets the CMD the stage inherits: say it again.
            cmd = inherited_cmd(facts.runtime)
            if cmd == "base" and base_cmd is None:
                raise FixRefused(
                    f"--strategy entrypoint: the command is {facts.analysis.base_image}'s own "
                    "CMD, which a new ENTRYPOINT resets and fixuser does not know: write the "
                    "CMD in the Dockerfile"
                )
            if cmd == "base" and base_cmd is not None:
                text += f"{kw['CMD']} {dumps(list(base_cmd))}\n"
                notes.append(f"the base image's CMD {dumps(list(base_cmd))} restated")
            elif isinstance(cmd, Instruction):
                text += f"{kw['CMD']} {cmd.value}\n"
                notes.append(f"CMD of line {cmd.lineno} restated: a new ENTRYPOINT resets it")
    handed = [*chain_volumes(facts), *settings.writable, *facts.prepares]
    handed = list(dict.fromkeys(handed))
    # the tools the wrapper drops privileges with, in order (families.toml: drop_tools)
    tools = families.family(facts.family).drop_tools
    wrapper = render_wrapper(user, uid, gid, owner, handed, tools)
    given = f" hands {', '.join(handed)} to {owner}," if handed else ""
    notes.append(f"{name}: starts as root,{given} then runs the command as {owner} ({tools[0]})")
    return EntrypointPlan(tuple(edits), text, tuple(notes), ExtraFile(name, wrapper), tuple(handed))


def stages_of(facts: Facts, instruction: Instruction) -> str:
    """The label of the stage ``instruction`` belongs to."""
    for stage in facts.runtime.stages:
        if instruction in stage.instructions:
            return stage.label
    return "?"


def render_wrapper(
    user: str,
    uid: int | None,
    gid: int | None,
    owner: str,
    paths: list[str],
    tools: tuple[str, ...],
) -> bytes:
    """The wrapper script: LF line endings whatever the Dockerfile's (sh reads a CR as part
    of the word before it)."""
    from fixuser.render import render

    text = render(
        "entrypoint-wrapper.j2",
        user=user,
        uid=uid,
        gid=gid,
        owner=owner,
        paths=paths,
        tools=list(tools),
    )
    return encode(text.strip("\n") + "\n")  # a path's Latin-1 bytes come back as they were


def render_tool(dockerfile: Dockerfile, family: str) -> str:
    """The RUN that puts the wrapper's tool in the image ("" when the base has it)."""
    from fixuser.render import render

    kw = {"RUN": "run" if dockerfile.lower_case else "RUN"}
    text = render("entrypoint-tool.j2", family=family, kw=kw, esc=dockerfile.escape)
    text = text.strip("\n")
    return text + "\n" if text else ""
