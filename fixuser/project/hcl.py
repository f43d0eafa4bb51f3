"""HCL, as much of it as bake files need: ``kind "label" { name = value ... }`` blocks.

A small tolerant tokenizer (strings, comments, heredocs, blocks) rather than an HCL library:
that shape is all bake targets need, and every line number comes for free. What it cannot
read it skips to the end of the line; an unterminated string is a problem, not a crash.
"""

from __future__ import annotations

import re
from typing import NamedTuple


class Token(NamedTuple):
    # "ident", "string" (a literal), "template" (a string with ${...}), "punct", "newline"
    kind: str
    text: str
    line: int


IDENT_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.")
HEREDOC_RE = re.compile(r"<<-?([A-Za-z_][A-Za-z0-9_]*)[ \t]*\n")
ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}


def tokens(text: str, problems: list[tuple[int, str]]) -> list[Token]:
    out: list[Token] = []
    position, line, end = 0, 1, len(text)
    while position < end:
        char = text[position]
        if char == "\n":
            out.append(Token("newline", char, line))
            line += 1
            position += 1
        elif char in " \t\r":
            position += 1
        elif char == "#" or text.startswith("//", position):
            newline = text.find("\n", position)
            position = end if newline < 0 else newline
        elif text.startswith("/*", position):
            close = text.find("*/", position + 2)
            close = end if close < 0 else close + 2
            line += text.count("\n", position, close)
            position = close
        elif char == '"':
            start_line = line
            position, value, templated, line = string_at(text, position + 1, line)
            if position < 0:
                problems.append((start_line, "an unterminated string, read up to there"))
                break
            out.append(Token("template" if templated else "string", value, start_line))
        elif text.startswith("<<", position) and (heredoc := HEREDOC_RE.match(text, position)):
            marker, start_line = heredoc.group(1), line
            position, line = heredoc.end(), line + 1
            body: list[str] = []
            while position < end:
                newline = text.find("\n", position)
                stop = end if newline < 0 else newline
                body_line = text[position:stop]
                position = stop  # the newline after the marker is a token of its own
                if body_line.strip() == marker:
                    break
                body.append(body_line)
                position, line = stop + 1, line + 1
            value = "\n".join(body)
            out.append(Token("template" if "${" in value else "string", value, start_line))
        elif char in IDENT_CHARS:
            start = position
            while position < end and text[position] in IDENT_CHARS:
                position += 1
            out.append(Token("ident", text[start:position], line))
        else:
            out.append(Token("punct", char, line))
            position += 1
    return out


def string_at(text: str, position: int, line: int) -> tuple[int, str, bool, int]:
    """A quoted string's value from after its opening quote: (the position after its closing
    quote, or -1; the value with ``${...}`` kept as written; whether it holds one; the line)."""
    value: list[str] = []
    templated = False
    end = len(text)
    while position < end:
        char = text[position]
        if char == '"':
            return position + 1, "".join(value), templated, line
        if char == "\\" and position + 1 < end:
            value.append(ESCAPES.get(text[position + 1], text[position + 1]))
            position += 2
            continue
        if char == "\n":
            return -1, "", False, line
        if text.startswith("${", position) or text.startswith("%{", position):
            depth, start = 0, position
            while position < end:
                if text[position] == "{":
                    depth += 1
                elif text[position] == "}":
                    depth -= 1
                    if depth == 0:
                        break
                elif text[position] == "\n":
                    return -1, "", False, line
                position += 1
            value.append(text[start : position + 1])
            templated = templated or not text.startswith("$${", start - 1)
            position += 1
            continue
        value.append(char)
        position += 1
    return -1, "", False, line


class Attribute(NamedTuple):
    name: str
    value: str | list[str] | None  # a string, a list of strings, or something else (None)
    templated: bool
    line: int


class Block(NamedTuple):
    kind: str
    labels: tuple[str, ...]
    line: int
    attributes: dict[str, Attribute]


class HclParser:
    """``kind "label" { name = value ... }`` blocks, tolerantly: what it cannot read it skips
    to the end of the line."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.index = 0

    def peek(self) -> Token | None:
        return self.toks[self.index] if self.index < len(self.toks) else None

    def body(self, nested: bool) -> tuple[list[Block], dict[str, Attribute]]:
        blocks: list[Block] = []
        attributes: dict[str, Attribute] = {}
        while (token := self.peek()) is not None:
            self.index += 1
            if token.kind == "newline" or token.text == ",":
                continue
            if token.text == "}":
                if nested:
                    return blocks, attributes
                continue
            if token.kind != "ident":
                self.skip_line()
                continue
            after = self.peek()
            if after is not None and after.text in ("=", ":"):
                self.index += 1
                value, templated = self.expression()
                attributes[token.text] = Attribute(token.text, value, templated, token.line)
                continue
            labels: list[str] = []
            while (label := self.peek()) is not None and label.kind in ("string", "ident"):
                labels.append(label.text)
                self.index += 1
            opening = self.peek()
            if opening is not None and opening.text == "{":
                self.index += 1
                _, inner = self.body(True)  # blocks inside a block: none that bake reads
                blocks.append(Block(token.text, tuple(labels), token.line, inner))
            else:
                self.skip_line()
        return blocks, attributes

    def skip_line(self) -> None:
        while (token := self.peek()) is not None and token.kind != "newline":
            if token.text == "{":
                self.index += 1
                self.body(True)
                continue
            if token.text == "}":
                return
            self.index += 1

    def expression(self) -> tuple[str | list[str] | None, bool]:
        parts: list[Token] = []
        depth = 0
        while (token := self.peek()) is not None:
            if depth == 0 and (token.kind == "newline" or token.text in ("}", ",")):
                break
            if token.text in ("(", "[", "{"):
                depth += 1
            elif token.text in (")", "]", "}"):
                depth -= 1
            parts.append(token)
            self.index += 1
        templated = any(part.kind == "template" for part in parts)
        strings = [part for part in parts if part.kind in ("string", "template")]
        if len(parts) == 1 and strings:
            return strings[0].text, templated
        if parts and parts[0].text == "[" and parts[-1].text == "]":
            inner = parts[1:-1]
            if all(
                part.kind in ("string", "template", "newline") or part.text == "," for part in inner
            ):
                return [part.text for part in strings], templated
        return None, templated


def parse(text: str) -> tuple[list[Block], list[tuple[int, str]]]:
    """The top-level blocks of ``text``, and the problems met reading it: (line, what)."""
    problems: list[tuple[int, str]] = []
    blocks, _ = HclParser(tokens(text, problems)).body(False)
    return blocks, problems
