"""The guarantee fix makes about the input: every line survives, in order, byte for byte.

fix only inserts lines, adds ``--chown=`` to COPY/ADD, replaces a trailing root USER and
closes a continuation dangling at the end of the file. ``missing_lines`` undoes exactly those
and reports any input line the output lost.
"""

from __future__ import annotations

import re

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
