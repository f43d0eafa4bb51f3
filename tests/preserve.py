"""The guarantee fix makes about the input: every line survives, in order, byte for byte.

fix only inserts lines, adds ``--chown=`` to COPY/ADD, replaces a trailing root USER and
closes a continuation dangling at the end of the file. ``missing_lines`` undoes exactly those
and reports any input line the output lost.
"""

from __future__ import annotations

import re
from typing import Any

CHOWN_RE = re.compile(rb"^(\s*(?:copy|add))\s--chown=\S+(?=\s)", re.IGNORECASE)
USER_RE = re.compile(rb"^\s*user\s", re.IGNORECASE)


def unflag(line: bytes) -> bytes:
    """The line without a ``--chown=`` fix added right after the keyword."""
    return CHOWN_RE.sub(rb"\1", line, count=1)


def closed(line: bytes) -> bytes:
    """A line ending in an escape, as fix closes it at the end of the file."""
    return line.rstrip(b"\r\n").rstrip(b" \t").rstrip(b"\\`").rstrip(b" \t")


def missing_lines(source: bytes, output: bytes) -> list[bytes]:
    """Input lines that do not appear, in order, in ``output`` (modulo fix's own edits)."""
    src = source.splitlines(keepends=True)
    out = output.splitlines(keepends=True)
    missing: list[bytes] = []
    position = 0
    for index, line in enumerate(src):
        last = index == len(src) - 1
        for at in range(position, len(out)):
            candidate = out[at]
            if line in (candidate, unflag(candidate)) or (
                last and closed(line) == candidate.rstrip(b"\r\n")
            ):
                position = at + 1
                break
            if last and line == candidate.rstrip(b"\r\n"):  # a newline added after it
                position = at + 1
                break
        else:
            if not USER_RE.match(line):  # a root USER fix replaced
                missing.append(line)
    return missing


def as_text(data: bytes) -> str:
    """The file as BuildKit reads it: UTF-8, or else byte for byte (Latin-1)."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")


def instruction_key(command: Any, drop_chown: bool) -> tuple[Any, ...]:
    flags = tuple(f for f in command.flags if not (drop_chown and f.startswith("--chown=")))
    return (
        command.cmd.upper(),
        flags,
        command.value,
        tuple(h.content for h in command.heredocs),
    )


def missing_instructions(parser: Any, source: str, output: str) -> list[str]:
    """Input instructions that do not appear, in order, among BuildKit's parse of ``output``.

    ``parser`` is the ``dockerfile`` module. A --chown flag fix added is ignored, and a USER
    fix replaced may be missing.
    """
    before = parser.parse_string(source)
    after = parser.parse_string(output)
    missing = []
    position = 0
    for command in before:
        key = instruction_key(command, drop_chown=False)
        for at in range(position, len(after)):
            theirs = after[at]
            if key == instruction_key(theirs, drop_chown=True) or key == instruction_key(
                theirs, drop_chown=False
            ):
                position = at + 1
                break
        else:
            if command.cmd.upper() != "USER":
                missing.append(command.original)
    return missing
