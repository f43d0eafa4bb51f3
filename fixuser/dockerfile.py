"""Parsing: the only importer of dockerfile_parse.

The file is held as a list of lines that keep their own endings, so every line fixuser does not
edit goes back out byte for byte. Bytes are decoded as UTF-8 with ``surrogateescape``: Latin-1
and other non-UTF-8 bytes survive the round trip unchanged.

dockerfile-parse 2.0.1 does not understand BuildKit heredocs (it reports their bodies as
instructions), so heredoc bodies are located here first and blanked out before it parses.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from dockerfile_parse import DockerfileParser

from fixuser.model import DockerfileError

ENCODING = "utf-8"
ERRORS = "surrogateescape"
BOM = "\ufeff"

KEYWORDS = frozenset(
    [
        "ADD",
        "ARG",
        "CMD",
        "COPY",
        "ENTRYPOINT",
        "ENV",
        "EXPOSE",
        "FROM",
        "HEALTHCHECK",
        "LABEL",
        "MAINTAINER",
        "ONBUILD",
        "RUN",
        "SHELL",
        "STOPSIGNAL",
        "USER",
        "VOLUME",
        "WORKDIR",
    ]
)
HEREDOC_KEYWORDS = frozenset({"RUN", "COPY", "ADD"})
# BuildKit refuses these without an argument; fixuser's reading of the file depends on them.
NEEDS_ARGUMENT = frozenset({"FROM", "USER", "WORKDIR"})
HEREDOC_RE = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
KEYWORD_RE = re.compile(r"^\s*([A-Za-z]+)")
BLANK_RE = re.compile(f"[{BOM} \t\r\n]*\\Z")  # nothing but blanks (stops at the first other)


class Instruction(NamedTuple):  # a tuple: thousands are made per second of a corpus run
    keyword: str  # upper case
    written: str  # the keyword as written (keeps its case)
    start: int  # 0-based index of the first line
    end: int  # 0-based index of the last line, heredoc bodies included
    value: str  # the logical line after the keyword, continuations joined
    heredocs: tuple[str, ...] = ()

    @property
    def lineno(self) -> int:
        return self.start + 1


class Dockerfile(NamedTuple):
    lines: tuple[str, ...]  # each with its own line ending (the last may have none)
    instructions: tuple[Instruction, ...]
    escape: str
    newline: str  # the file's dominant line ending, used for inserted lines
    lower_case: bool  # most keywords are written in lower case

    def text(self) -> str:
        return "".join(self.lines)


def decode(data: bytes) -> str:
    return data.decode(ENCODING, ERRORS)


def encode(text: str) -> bytes:
    return text.encode(ENCODING, ERRORS)


def split_lines(text: str) -> list[str]:
    """Split after each ``\\n`` only (str.splitlines also splits on \\x0b, \\x1c, U+2028...)."""
    quick = text.splitlines(keepends=True)
    if len(quick) == text.count("\n") + (not text.endswith("\n") and bool(text)):
        return quick  # no other line break in the text: splitlines split after each \n only
    lines = text.split("\n")
    out = [line + "\n" for line in lines[:-1]]
    if lines[-1]:
        out.append(lines[-1])
    return out


def strip_eol(line: str) -> str:
    return line.rstrip("\r\n")


def escape_char(lines: list[str]) -> str:
    """The ``# escape=`` parser directive, read the way BuildKit reads it (top of file only)."""
    for index, line in enumerate(lines):
        body = strip_eol(line)
        if index == 0:
            body = body.removeprefix(BOM)
        match = DIRECTIVE_RE.match(body.strip())
        if not match:
            break
        if match.group(1).lower() == "escape" and match.group(2) in ("\\", "`"):
            return match.group(2)
    return "\\"


def continues(line: str, escape: str) -> bool:
    body = strip_eol(line).rstrip(" \t")
    return body.endswith(escape) and not body.lstrip().startswith("#")


def is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def scan(
    lines: list[str], escape: str, masked: list[str], find_heredocs: bool
) -> dict[int, tuple[int, list[str]]]:
    """Walk the logical lines the way BuildKit does, preparing ``masked`` for dockerfile-parse.

    Inside a continuation BuildKit skips blank and comment lines; dockerfile-parse ends the
    instruction at a blank one, so those become comment lines in ``masked``. Heredoc bodies
    become blank lines there. Returns, for each heredoc-carrying instruction, the index of its
    last line before the bodies -> (index of its last line, the bodies).
    """
    spans: dict[int, tuple[int, list[str]]] = {}
    index, count = 0, len(lines)
    while index < count:
        first = lines[index]
        if is_blank_or_comment(first):
            index += 1
            continue
        match = KEYWORD_RE.match(first)
        keyword = match.group(1).upper() if match else ""
        logical = [strip_eol(first)]
        last = index
        while continues(lines[last], escape):
            nxt = last + 1
            while nxt < count and is_blank_or_comment(lines[nxt]):
                if not lines[nxt].strip():
                    masked[nxt] = "#\n"
                nxt += 1
            if nxt >= count:
                # Dangling at the end of the file: BuildKit ends the instruction there, while
                # dockerfile-parse drops it, so it sees the line without its escape.
                dangling = strip_eol(lines[last]).rstrip(" \t")
                masked[last] = dangling[: -len(escape)] + "\n"
                break
            last = nxt
            logical.append(strip_eol(lines[last]))
        index = last + 1
        if not find_heredocs or keyword not in HEREDOC_KEYWORDS:
            continue
        markers = HEREDOC_RE.findall(" ".join(logical))
        if not markers:
            continue
        bodies: list[str] = []
        for dash, _quote, name in markers:
            body: list[str] = []
            while True:
                if index >= count:
                    raise DockerfileError(f"line {last + 1}: heredoc <<{name} is never closed")
                line = lines[index]
                masked[index] = "\n"
                index += 1
                candidate = strip_eol(line)
                if (candidate.lstrip("\t") if dash else candidate) == name:
                    break
                body.append(line)
            bodies.append("".join(body))
        spans[last] = (index - 1, bodies)
    return spans


def has_double_less(text: str) -> bool:
    """``"<<" in text``, by the one-character search (memchr): str's search for a
    two-character needle runs at about a tenth of that speed, over every file."""
    at = text.find("<")
    while at >= 0:
        if text.startswith("<", at + 1):
            return True
        at = text.find("<", at + 2)
    return False


def needs_scan(text: str, escape: str) -> bool:
    """Whether the text has what dockerfile-parse misreads and a look at it can tell: a heredoc,
    or a continuation dangling at the end of the file (dockerfile-parse drops that instruction).
    The third, a blank line inside a continuation, shows in its result (see parse)."""
    if has_double_less(text):
        return True
    # A continuation that only blank and comment lines follow, to the end of the file.
    end = len(text)
    while end > 0:
        start = text.rfind("\n", 0, end) + 1
        line = text[start:end]
        if not is_blank_or_comment(line):
            return continues(line, escape)
        end = start - 1
    return False


class LineParser(DockerfileParser):  # type: ignore[misc]  # dockerfile-parse is untyped
    """dockerfile-parse over lines already split and decoded.

    Its ``structure`` reads the ``lines`` property, which seeks its file object, reads every
    line again and passes each through a decode helper: ~8% of its time over a corpus, for
    lines fixuser already holds. This parser answers ``lines`` with them.
    """

    def __init__(self, lines: list[str]) -> None:
        super().__init__(fileobj=EMPTY)
        self._given = lines

    @property
    def lines(self) -> list[str]:
        return self._given


class Empty:
    """The file object DockerfileParser's constructor seeks (LineParser never reads it)."""

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0


EMPTY = Empty()


class CutShort(Exception):
    """dockerfile-parse ended an instruction at a blank line inside a continuation."""


def parse(data: bytes) -> Dockerfile:
    """Parse ``data``; raise DockerfileError (one line) when it is not a Dockerfile."""
    if b"\0" in data:
        raise DockerfileError("binary data, not a Dockerfile")
    text = decode(data)
    lines = split_lines(text)
    if BLANK_RE.match(text):
        raise DockerfileError("empty file")
    escape = escape_char(lines)
    if not text.startswith(BOM) and not needs_scan(text, escape):
        try:
            return build(lines, escape, text, lines, {})
        except CutShort:
            pass  # rare (2 files in the corpus): mask the blank lines and parse again
    masked = list(lines)
    masked[0] = masked[0].removeprefix(BOM)
    spans = scan(lines, escape, masked, True)
    return build(lines, escape, text, masked, spans)


def build(
    lines: list[str],
    escape: str,
    text: str,
    masked: list[str],
    spans: dict[int, tuple[int, list[str]]],
) -> Dockerfile:
    """The Dockerfile dockerfile-parse reads from ``masked`` (``lines`` when nothing needed
    masking). Raises CutShort when it ends an instruction at a blank line: BuildKit skips
    blank lines inside a continuation, so the lines need masking first."""
    parser = LineParser(masked)
    instructions: list[Instruction] = []
    lower = 0
    # tuple.__new__ skips the NamedTuple's Python-level __new__: a third of the cost of making
    # each of the ~30,000 instructions of a 1,465-file corpus.
    make = tuple.__new__
    for item in parser.structure:
        keyword = item["instruction"]
        if keyword == "COMMENT":
            continue
        start, end = item["startline"], item["endline"]
        if masked is lines and end > start and not lines[end].strip():
            # Only a continuation takes in a blank line, and then dockerfile-parse ends there.
            # (Masked lines have no blank line left inside a continuation.)
            raise CutShort(end)
        if keyword not in KEYWORDS:
            match = KEYWORD_RE.match(masked[start])
            written = match.group(1) if match else keyword
            raise DockerfileError(f"line {start + 1}: unknown instruction {written!r}")
        # dockerfile-parse's keyword is the line's first word, upper-cased; most lines start
        # with it (lstrip would copy the whole line first).
        line = masked[start]
        written = line[: len(keyword)] if line[:1].isalpha() else line.lstrip()[: len(keyword)]
        lower += written.islower()
        if keyword in NEEDS_ARGUMENT and not item["value"].strip():
            raise DockerfileError(f"line {start + 1}: {written} without an argument")
        heredocs: tuple[str, ...] = ()
        if end in spans:
            end, bodies = spans[end]
            heredocs = tuple(bodies)
        instructions.append(
            make(Instruction, (keyword, written, start, end, item["value"], heredocs))
        )
    if not instructions:
        raise DockerfileError("no instructions (only comments or blank lines)")
    if not any(i.keyword == "FROM" for i in instructions):
        raise DockerfileError("no FROM instruction")
    for instruction in instructions:
        if instruction.keyword == "FROM":
            break
        if instruction.keyword != "ARG":
            raise DockerfileError(
                f"line {instruction.lineno}: {instruction.written} before the first FROM"
            )
    crlf = text.count("\r\n") if "\r" in text else 0  # most files have no CR at all
    newline = "\r\n" if crlf * 2 > len(lines) else "\n"
    return Dockerfile(
        tuple(lines), tuple(instructions), escape, newline, lower * 2 > len(instructions)
    )
