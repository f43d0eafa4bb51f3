"""What a stage runs: the shell text of its RUN steps (exec form read as its argv), its
ENTRYPOINT and CMD words, the WORKDIR they start in, and the regex of a command word."""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Mapping

from fixuser.dockerfile.parse import Instruction, exec_form
from fixuser.dockerfile.stages import Stage, chain
from fixuser.dockerfile.words import json_or_words, process_word, shell_words


def command(*names: str) -> str:
    """A regex for any of ``names`` as a command word: not preceded by a word character or
    '-'. Written literal-first, ``mkdir(?<![\\w-]mkdir)``: re then scans for the literal,
    where a leading lookbehind makes it try every position of the text (6-8x slower here)."""
    alternatives = "|".join(f"{re.escape(n)}(?<![\\w-]{re.escape(n)})" for n in names)
    return f"(?:{alternatives})"


WRAPPERS = frozenset(
    {
        "tini",
        "/sbin/tini",
        "/usr/bin/tini",
        "/tini",
        "dumb-init",
        "/usr/bin/dumb-init",
        "/usr/local/bin/dumb-init",
        "--",
        "-g",
        "-s",
        "exec",
        "/bin/sh",
        "sh",
        "/bin/bash",
        "bash",
        "-c",
        "-e",
        "-ex",
        "-eu",
        "-x",
    }
)


# Shells whose ``-c SCRIPT`` an exec-form RUN may run (any directory, any version suffix).
SHELL_NAME_RE = re.compile(r"(?:ba|da|a|z|k|mk)?sh[0-9.]*\Z")


def run_text(instruction: Instruction) -> str:
    """The shell text a RUN runs: its shell form and heredoc bodies; for the exec form
    (``RUN ["sh", "-c", "useradd app"]``), the script a shell's ``-c`` runs, else the argv as
    one command line, each word quoted as the shell would need it (``["useradd", "app"]`` is
    ``useradd app``: the words are the argv, never ``app"]``)."""
    value = instruction.value
    if "[" in value:
        argv = exec_form(value)
        if argv is not None:
            return exec_script(argv) + "\n"
    return value + "\n" + "".join(instruction.heredocs)


def exec_script(argv: list[str]) -> str:
    """What an exec-form argv runs, as shell text."""
    if argv and SHELL_NAME_RE.match(posixpath.basename(argv[0])):
        index = 1
        while index < len(argv) - 1:
            option = argv[index]
            if option in ("-o", "+o", "-O", "+O"):  # bash -o pipefail -c SCRIPT
                index += 2
                continue
            if not option.startswith(("-", "+")) or option in ("-", "--"):
                break
            if not option.startswith("--") and "c" in option:
                return argv[index + 1]  # sh -c SCRIPT [NAME [ARG...]]
            index += 1
    return shlex.join(argv)


def chain_run_text(stages: list[Stage], stage: Stage) -> str:
    """Every RUN of the stage's chain, one text ("" when there is none): worked out once per
    stage, for the searches that first ask whether a word is there at all."""
    if stage._run_text is None:
        stage._run_text = "\n".join(
            run_text(i) for link in chain(stages, stage) for i in link.of("RUN")
        )
    return stage._run_text


def safe_split(text: str) -> list[str]:
    return shell_words(text)


def effective(stages: list[Stage], stage: Stage, keyword: str) -> Instruction | None:
    for link in chain(stages, stage):
        found = link.of(keyword)
        if found:
            return found[-1]
    return None


def runtime_workdir(stages: list[Stage], stage: Stage, env: Mapping[str, str]) -> str:
    """The WORKDIR the stage's ENTRYPOINT/CMD start in (WORKDIR is inherited through FROM)."""
    workdir = "/"
    for link in reversed(chain(stages, stage)):
        for instruction in link.of("WORKDIR"):
            workdir = posixpath.join(workdir, process_word(instruction.value, env, link.escape))
    return posixpath.normpath(workdir)


def entry_words(stages: list[Stage], stage: Stage) -> tuple[list[str], Instruction | None]:
    words: list[str] = []
    found = None
    for keyword in ("ENTRYPOINT", "CMD"):
        instruction = effective(stages, stage, keyword)
        if instruction is not None:
            words += json_or_words(instruction.value)
            found = found or instruction
    return words, found


def instructions_text(stages: list[Stage], stage: Stage) -> str:
    """The values of the chain's ENV, VOLUME, ENTRYPOINT and CMD instructions, one a line, as
    written (what the table looks for there is a literal path, not built from variables)."""
    return "\n".join(
        i.value
        for link in chain(stages, stage)
        for keyword in ("ENV", "VOLUME", "ENTRYPOINT", "CMD")
        for i in link.of(keyword)
    )


def first_run_matching(
    stages: list[Stage], stage: Stage, pattern: re.Pattern[str], needles: tuple[str, ...]
) -> tuple[Instruction, re.Match[str]] | None:
    """The first RUN of the chain, nearest stage first, that ``pattern`` matches.

    Every match of ``pattern`` contains one of the literal ``needles``: when the chain's RUNs
    hold none of them, no RUN is searched, and otherwise only the RUNs that hold one are.
    """
    everything = chain_run_text(stages, stage)
    if not any(needle in everything for needle in needles):
        return None
    runs = [(i, run_text(i)) for link in chain(stages, stage) for i in link.of("RUN")]
    for instruction, text in runs:
        if any(needle in text for needle in needles):
            match = pattern.search(text)
            if match:
                return instruction, match
    return None
