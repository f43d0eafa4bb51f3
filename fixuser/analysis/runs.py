"""What a stage runs: its ENTRYPOINT and CMD words, the WORKDIR they start in, the RUN that
matches a pattern, and the regex of a command word."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence

from fixuser.dockerfile.parse import Instruction
from fixuser.dockerfile.stages import Runtime, Stage, run_text
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


def safe_split(text: str) -> list[str]:
    return shell_words(text)


def start_workdir(links: Sequence[Stage], env: Mapping[str, str]) -> str:
    """The WORKDIR a container of the last of ``links`` (a FROM chain, nearest stage first)
    starts in: WORKDIR is inherited through FROM."""
    workdir = "/"
    for link in reversed(links):
        for instruction in link.of("WORKDIR"):
            workdir = posixpath.join(workdir, process_word(instruction.value, env, link.escape))
    return posixpath.normpath(workdir)


def entry_words(runtime: Runtime) -> tuple[list[str], Instruction | None]:
    """The words of the ENTRYPOINT and CMD the stage starts with, and the first of those two."""
    words: list[str] = []
    found = None
    for keyword in ("ENTRYPOINT", "CMD"):
        instruction = runtime.effective(keyword)
        if instruction is not None:
            words += json_or_words(instruction.value)
            found = found or instruction
    return words, found


def instructions_text(runtime: Runtime) -> str:
    """The values of the chain's ENV, VOLUME, ENTRYPOINT and CMD instructions, one a line, as
    written (what the table looks for there is a literal path, not built from variables)."""
    return "\n".join(
        i.value
        for link in runtime.chain
        for keyword in ("ENV", "VOLUME", "ENTRYPOINT", "CMD")
        for i in link.of(keyword)
    )


def first_run_matching(
    runtime: Runtime, pattern: re.Pattern[str], needles: tuple[str, ...]
) -> tuple[Instruction, re.Match[str]] | None:
    """The first RUN of the chain, nearest stage first, that ``pattern`` matches.

    Every match of ``pattern`` contains one of the literal ``needles``: when the chain's RUNs
    hold none of them, no RUN is searched, and otherwise only the RUNs that hold one are.
    """
    if not any(needle in runtime.run_text for needle in needles):
        return None
    runs = [(i, run_text(i)) for link in runtime.chain for i in link.of("RUN")]
    for instruction, text in runs:
        if any(needle in text for needle in needles):
            match = pattern.search(text)
            if match:
                return instruction, match
    return None
