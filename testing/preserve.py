"""The guarantee fix makes about the input: every line survives, in order, byte for byte.

fix only inserts lines, adds ``--chown=`` to COPY/ADD, replaces a trailing root USER, puts
its wrapper in front of the ENTRYPOINT (``--strategy entrypoint``: a shell form becomes the
exec form of its shell) and closes a continuation dangling at the end of the file.
``missing_lines`` undoes exactly those and reports any input line the output lost.
"""

from __future__ import annotations

import json
import re
from typing import Any

CHOWN_RE = re.compile(rb"^(\s*(?:copy|add))\s--chown=\S+(?=\s)", re.IGNORECASE)
USER_RE = re.compile(rb"^\s*user\s", re.IGNORECASE)
WRAPPER = "/usr/local/bin/fixuser-entrypoint"
WRAPPED_RE = re.compile(
    rb'^(\s*entrypoint\s+)\["/usr/local/bin/fixuser-entrypoint"(?:, )?(.*?)(\r?\n)?$',
    re.IGNORECASE | re.DOTALL,
)


def unwrapped(line: bytes) -> list[bytes]:
    """The ENTRYPOINT line before the wrapper was put in front of it: its exec form as written,
    or the shell form the exec form of its shell came from."""
    match = WRAPPED_RE.match(line)
    if match is None:
        return []
    head, rest, eol = match.group(1), match.group(2), match.group(3) or b""
    found = [head + b"[" + rest + eol]
    try:
        words = json.loads(b"[" + rest)
    except ValueError:
        return found
    if len(words) >= 3 and words[-2] == "-c":
        found.append(head + words[-1].encode() + eol)
    return found


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
    # fix closes a continuation dangling at the end: only blank and comment lines follow it
    dangling = max(
        (i for i, line in enumerate(src) if line.strip() and not line.lstrip().startswith(b"#")),
        default=len(src) - 1,
    )
    in_user = False
    for index, line in enumerate(src):
        last = index == len(src) - 1
        user = bool(USER_RE.match(line)) or in_user
        if user:  # the lines of a USER (fix may replace it): never missing, so not matched,
            # which would skip to a later copy of the line (a heredoc's "USER root")
            body = line.rstrip(b"\r\n").rstrip(b" \t")
            skipped = in_user and (not line.strip() or line.lstrip().startswith(b"#"))
            in_user = skipped or body.endswith((b"\\", b"`"))
            continue
        for at in range(position, len(out)):
            candidate = out[at]
            if line in (candidate, unflag(candidate), *unwrapped(candidate)) or (
                index == dangling and closed(line) == candidate.rstrip(b"\r\n")
            ):
                position = at + 1
                break
            if last and line == candidate.rstrip(b"\r\n"):  # a newline added after it
                position = at + 1
                break
        else:
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


def unwrapped_keys(command: Any) -> list[tuple[Any, ...]]:
    """The keys of an ENTRYPOINT before the wrapper went in front of it (exec or shell form)."""
    value = tuple(command.value)
    if command.cmd.upper() != "ENTRYPOINT" or not value or value[0] != WRAPPER:
        return []
    keys = [("ENTRYPOINT", tuple(command.flags), value[1:], ())]
    if len(value) >= 4 and value[-2] == "-c":
        keys.append(("ENTRYPOINT", tuple(command.flags), value[-1:], ()))
    return keys


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
            if (
                key == instruction_key(theirs, drop_chown=True)
                or key == instruction_key(theirs, drop_chown=False)
                or key in unwrapped_keys(theirs)
            ):
                position = at + 1
                break
        else:
            if command.cmd.upper() != "USER":
                missing.append(command.original)
    return missing
