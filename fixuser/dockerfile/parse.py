"""Parsing: Dockerfile bytes -> lines and instructions, read the way BuildKit reads them.

The file is held as a list of lines that keep their own endings, so every line fixuser does not
edit goes back out byte for byte. Bytes are decoded as UTF-8 with ``surrogateescape``: Latin-1
and other non-UTF-8 bytes survive the round trip unchanged.

Instructions are found by BuildKit's own rules (moby/buildkit frontend/dockerfile/parser,
parser.go): a line continues when it ends in the escape character that another escape does
not precede; comment and blank lines inside a continuation are skipped; a heredoc is a word
of a RUN, COPY or ADD (or ONBUILD of one) in the shell form that BuildKit's lexer reads as
``<<NAME`` (so ``"<<EOT"``, quoted, is none), and its body runs to the line that is NAME.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import NamedTuple

from fixuser.dockerfile import lex
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
# Keywords whose shell form BuildKit reads as JSON when it is a JSON array (parseMaybeJSON).
JSON_KEYWORDS = frozenset({"RUN", "CMD", "ENTRYPOINT", "SHELL", "COPY", "ADD", "VOLUME"})
# BuildKit refuses these without an argument; fixuser's reading of the file depends on them.
NEEDS_ARGUMENT = frozenset({"FROM", "USER", "WORKDIR"})
# A word that is a heredoc: parser.go's reHeredoc, with Go's ASCII \d and \s.
HEREDOC_RE = re.compile(r"([0-9]*)<<(-?)[\t\n\f\r ]*([^<]*)\Z")
# What splits the keyword from its arguments (parser.go's reWhitespace).
KEYWORD_SPLIT_RE = re.compile(r"[\t\v\f\r ]+")
GO_SPACE = "".join(sorted(lex.GO_SPACE))
DIRECTIVE_RE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
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


def continuation(body: str, escape: str) -> str | None:
    """``body`` (a line without its line ending) without the escape that continues it onto the
    next line, or None when it does not continue. parser.go: the escape, then only blanks and
    tabs, and no second escape right before it (``echo \\\\`` ends the instruction)."""
    stripped = body.rstrip(" \t")
    if not stripped.endswith(escape) or stripped[-2:-1] == escape:
        return None
    return stripped[:-1]


def continues(line: str, escape: str) -> bool:
    """The line (comment lines never do) continues the instruction onto the next line."""
    body = strip_eol(line)
    return continuation(body, escape) is not None and not is_comment(body)


def is_comment(body: str) -> bool:
    return body.lstrip(GO_SPACE).startswith("#")


def is_blank_or_comment(line: str) -> bool:
    stripped = line.strip()
    return not stripped or stripped.startswith("#")


def has_double_less(text: str) -> bool:
    """``"<<" in text``, by the one-character search (memchr): str's search for a
    two-character needle runs at about a tenth of that speed, over every file."""
    at = text.find("<")
    while at >= 0:
        if text.startswith("<", at + 1):
            return True
        at = text.find("<", at + 2)
    return False


def split_command(line: str) -> tuple[str, str]:
    """splitCommand: the keyword as written and the rest, both trimmed as BuildKit trims."""
    parts = KEYWORD_SPLIT_RE.split(line.strip(GO_SPACE), maxsplit=1)
    return parts[0], (parts[1].strip(GO_SPACE) if len(parts) == 2 else "")


def builder_flags(rest: str, escape: str) -> str:
    """``rest`` after its leading ``--flag`` words (extractBuilderFlags), as BuildKit hands it
    to the instruction's own parser."""
    position, end = 0, len(rest)
    while True:
        while position < end and rest[position] in GO_SPACE:
            position += 1
        if not rest.startswith("--", position):
            return rest[position:]
        quote = ""
        start = position
        while position < end:
            ch = rest[position]
            if quote:
                if ch == quote:
                    quote = ""
                elif ch == escape:
                    position += 1
            elif ch in GO_SPACE:
                break
            elif ch in "'\"":
                quote = ch
            elif ch == escape:
                position += 1
            position += 1
        if rest[start:position] == "--":
            return rest[position:]
        if position >= end:
            return ""


def json_array(rest: str) -> list[str] | None:
    """The words of an exec-form (JSON array) argument, None for the shell form. A JSON array
    of anything but strings is an error in BuildKit: DockerfileError (without a line)."""
    if not rest.lstrip(GO_SPACE).startswith("["):
        return None
    try:
        parsed = json.loads(rest, parse_constant=refuse_constant)
    except (ValueError, RecursionError):  # [[[[... past Python's depth: Go's limit is lower
        return None
    if not isinstance(parsed, list):
        return None
    if not all(isinstance(word, str) for word in parsed):
        raise DockerfileError("a JSON array must hold strings only")
    return parsed


def exec_form(value: str, escape: str = "\\") -> list[str] | None:
    """The argv of an exec-form RUN, CMD, ENTRYPOINT or SHELL (after any ``--flag``), or None
    for the shell form: BuildKit's rule, the whole rest parses as a JSON array of strings
    (``ENTRYPOINT ["run"] now`` is the shell form)."""
    if "[" not in value:
        return None
    try:
        return json_array(builder_flags(value, escape).strip(GO_SPACE))
    except DockerfileError:
        return None


def refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")  # Python reads NaN and Infinity; Go does not


def heredoc_names(line: str) -> list[tuple[str, bool]]:
    """Each heredoc a logical line opens, as (its name, whether tabs before the closing name
    are dropped), in order: heredocsFromLine. Its words are split by BuildKit's lexer with the
    quotes and escapes kept, so a quoted ``"<<EOT"`` is one word that is no heredoc."""
    try:
        candidates = lex.words(line, {}, "\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
    except lex.LexError:
        return []  # BuildKit then finds none either
    found = []
    for candidate in candidates:
        match = HEREDOC_RE.match(candidate)
        if match is None or not match.group(3):
            continue
        rest = match.group(3)
        try:
            names = lex.words(rest, {}, "\\", skip_unset=True)
            raw = lex.words(rest, {}, "\\", skip_unset=True, raw_quotes=True)
        except lex.LexError as e:
            raise DockerfileError(f"heredoc {candidate}: {e}") from None
        if len(names) != 1:
            continue
        if len(raw) != 1:
            raise DockerfileError(f"heredoc {candidate}: its name is read inconsistently")
        found.append((names[0], match.group(2) == "-"))
    return found


def opens_heredocs(keyword: str, rest: str, escape: str) -> bool:
    """Whether BuildKit looks for heredocs in this instruction (canContainHeredoc): RUN, COPY
    and ADD, or ONBUILD of one, in the shell form."""
    if keyword == "ONBUILD":
        written, rest = split_command(rest)
        keyword = written.upper()
    if keyword not in HEREDOC_KEYWORDS:
        return False
    try:
        return json_array(builder_flags(rest, escape).strip(GO_SPACE)) is None
    except DockerfileError:
        return False


def instructions_of(lines: list[str], escape: str, text: str) -> Iterator[Instruction]:
    """BuildKit's instructions (parser.go's Parse): each logical line, continuations joined,
    with the bodies of the heredocs it opens. An instruction ends on its last line of content
    (a continuation dangling at the end of the file ends there, before the comment and blank
    lines that follow it), or on the line that closes its last heredoc."""
    make = tuple.__new__  # skips the NamedTuple's Python-level __new__ (a third of the cost)
    heredocs_possible = has_double_less(text)
    index, count = 0, len(lines)
    while index < count:
        body = strip_eol(lines[index])
        if index == 0:
            body = body.removeprefix(BOM)
        body = body.lstrip(GO_SPACE)
        start = end = index
        index += 1
        if body.startswith("#"):
            continue
        rest = continuation(body, escape)
        if rest is None:
            if not body:
                continue
            line = body  # most instructions: one line
        else:
            parts = [rest]
            while index < count:
                body = strip_eol(lines[index])
                index += 1
                if is_comment(body) or not body.strip(GO_SPACE):
                    continue  # skipped inside a continuation
                end = index - 1
                rest = continuation(body, escape)
                if rest is None:
                    parts.append(body)
                    break
                parts.append(rest)
            line = "".join(parts)
        written, value = split_command(line)
        keyword = written.upper()
        bodies: tuple[str, ...] = ()
        if (
            heredocs_possible
            and keyword in HEREDOC_OPENERS
            and has_double_less(line)
            and opens_heredocs(keyword, value, escape)
        ):
            names = heredoc_names(line)
            if names:
                end, found = read_heredocs(lines, index, end, names)
                bodies = tuple(found)
                index = end + 1
        yield make(Instruction, (keyword, written, start, end, value, bodies))


HEREDOC_OPENERS = HEREDOC_KEYWORDS | {"ONBUILD"}


def read_heredocs(
    lines: list[str], index: int, end: int, names: list[tuple[str, bool]]
) -> tuple[int, list[str]]:
    """The bodies of the heredocs ``names`` (opened by the instruction whose last line is
    ``end``), read from the line ``index`` on, and the index of the line that closes the last."""
    bodies = []
    for name, chomp in names:
        body = []
        while True:
            if index >= len(lines):
                raise DockerfileError(f"line {end + 1}: heredoc <<{name} is never closed")
            line = lines[index]
            index += 1
            candidate = strip_eol(line)
            if (candidate.lstrip("\t") if chomp else candidate) == name:
                break
            body.append(line)
        bodies.append("".join(body))
    return index - 1, bodies


def parse(data: bytes) -> Dockerfile:
    """Parse ``data``; raise DockerfileError (one line) when it is not a Dockerfile."""
    if b"\0" in data:
        raise DockerfileError("binary data, not a Dockerfile")
    text = decode(data)
    lines = split_lines(text)
    if BLANK_RE.match(text):
        raise DockerfileError("empty file")
    escape = escape_char(lines)
    instructions = []
    lower = 0
    for instruction in instructions_of(lines, escape, text):
        keyword, written = instruction.keyword, instruction.written
        if keyword not in KEYWORDS:
            raise DockerfileError(f"line {instruction.lineno}: unknown instruction {written!r}")
        lower += written.islower()
        if keyword in NEEDS_ARGUMENT and not instruction.value:
            raise DockerfileError(f"line {instruction.lineno}: {written} without an argument")
        if keyword in JSON_KEYWORDS and "[" in instruction.value:
            try:
                json_array(builder_flags(instruction.value, escape).strip(GO_SPACE))
            except DockerfileError as e:
                raise DockerfileError(f"line {instruction.lineno}: {written}: {e}") from None
        instructions.append(instruction)
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
