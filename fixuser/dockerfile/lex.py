"""BuildKit's shell lexer (moby/buildkit frontend/dockerfile/shell/lex.go), in Python.

BuildKit expands USER, ENV, ARG, FROM, WORKDIR, COPY... with it, and finds heredocs with it:
quotes, escapes, ``$VAR``, ``${VAR}``, ``${VAR:-word}`` (nested: ``${A:-${B:-root}}``),
``-``, ``:+``, ``+``, ``:?``, ``?``, ``#``, ``##``, ``%``, ``%%``, ``/`` and ``//``. fixuser
must read a value the way the build does, or its verdict is about another file.

``word()`` is ProcessWord (one string, quotes removed, spaces kept); ``words()`` is
ProcessWords (split into words after expansion). A variable not in ``env`` is unset: it expands
to nothing, or, with ``skip_unset``, stays as written. ``unset`` collects the names looked up
and not found, so a caller can tell a value the file decides from one the build decides.
Errors are LexError: BuildKit fails the build on them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from fixuser.errors import FixuserError

# Go's unicode.IsSpace: what TrimSpace strips and ProcessWords splits on (str.isspace also
# takes \x1c-\x1f, which Go does not).
GO_SPACE = frozenset(
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009"
    "\u200a\u2028\u2029\u202f\u205f\u3000"
)
SPECIAL_PARAMS = frozenset("@*#?-$!0")
HEREDOC_SPACE = frozenset("\t\r ")  # what may follow << inside one word (processPossibleHeredoc)
EOF = ""


class LexError(FixuserError, ValueError):
    """What BuildKit reports as a failed expansion (the build stops there)."""


class Unresolved(LexError):
    """A variable the Dockerfile gives no value (a build argument or the base image's ENV may):
    its emptiness reached the result (``$A``, ``${A}``), or ``${A?}`` requires it."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def go_trim_space(text: str) -> str:
    start, end = 0, len(text)
    while start < end and text[start] in GO_SPACE:
        start += 1
    while end > start and text[end - 1] in GO_SPACE:
        end -= 1
    return text[start:end]


class Words:
    """ProcessWords' word splitting: unquoted spaces end a word; quoted text and escaped
    characters never do."""

    __slots__ = ("buf", "in_word", "words")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch in GO_SPACE:
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        if text:
            self.buf.append(text)
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def done(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
        self.buf = []
        return self.words


class Lexer:
    """One expansion over ``text``; the settings are Lex's fields of the same names."""

    __slots__ = (
        "env",
        "escape",
        "missing",
        "pos",
        "raw_escapes",
        "raw_quotes",
        "skip_quotes",
        "skip_unset",
        "text",
        "unset",
    )

    def __init__(
        self,
        text: str,
        env: Mapping[str, str],
        escape: str = "\\",
        *,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
        skip_quotes: bool = False,
    ) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes
        self.unset: set[str] = set()  # looked up, not found
        self.missing: list[str] = []  # unset, and expanded to nothing in the result

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else EOF

    def next(self) -> str:
        if self.pos >= len(self.text):
            return EOF
        ch = self.text[self.pos]
        self.pos += 1
        return ch

    def get(self, name: str) -> str | None:
        value = self.env.get(name)
        if value is None:
            self.unset.add(name)
        return value

    def process(self, stop: str, raw_escapes: bool) -> tuple[str, Words]:
        """processStopOn: up to ``stop`` (consumed) or the end when ``stop`` is EOF."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._process(stop)
        finally:
            self.raw_escapes = saved

    def _process(self, stop: str) -> tuple[str, Words]:
        result: list[str] = []
        words = Words()
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if stop != EOF and ch == stop:
                self.pos += 1
                return "".join(result), words
            if ch == "$":
                piece = self.dollar()
                result.append(piece)
                words.add_string(piece)
            elif ch == "<":
                piece = self.possible_heredoc()
                result.append(piece)
                words.add_raw(piece)
            elif ch == "'" and not self.skip_quotes:
                piece = self.single_quote()
                result.append(piece)
                words.add_raw(piece)
            elif ch == '"' and not self.skip_quotes:
                piece = self.double_quote()
                result.append(piece)
                words.add_raw(piece)
            else:
                self.pos += 1
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        result.append(ch)
                    ch = self.next()
                    if ch == EOF:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                result.append(ch)
        if stop != EOF:
            raise LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(result), words

    def single_quote(self) -> str:
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.next()
            if ch == EOF:
                raise LexError("unexpected end of statement looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == EOF:
                raise LexError("unexpected end of statement looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                if self.raw_escapes:
                    out.append(ch)
                following = self.peek()
                if following == EOF:
                    continue  # a lone escape at the end: the loop then reports the quote
                if following in ('"', "$", self.escape):
                    ch = self.next()
            out.append(ch)

    def possible_heredoc(self) -> str:
        """``<<`` and the blanks after it stay in one word (BuildKit 0.22, dockerfile 1.16)."""
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        start = self.pos
        while self.peek() != EOF and self.peek() in HEREDOC_SPACE:
            self.pos += 1
        return "<<" + self.text[start : self.pos]

    def name(self) -> str:
        start = self.pos
        text = self.text
        if self.pos < len(text):
            first = text[self.pos]
            if first.isdecimal():
                while self.pos < len(text) and text[self.pos].isdecimal():
                    self.pos += 1
                return text[start : self.pos]
            if first in SPECIAL_PARAMS:
                self.pos += 1
                return first
        while self.pos < len(text):
            ch = text[self.pos]
            if not (ch.isalpha() or ch.isdecimal() or ch == "_"):
                break
            self.pos += 1
        return text[start : self.pos]

    def dollar(self) -> str:
        self.next()  # $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.get(name)
            if value is None:
                if self.skip_unset:
                    return "$" + name
                self.missing.append(name)
                return ""
            return value
        self.next()  # {
        if self.peek() == EOF:
            raise LexError("syntax error: missing '}'")
        if self.peek() in ("{", "}", ":"):
            raise LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value = self.get(name)
            if value is None:
                if self.skip_unset:
                    return "${" + name + "}"
                self.missing.append(name)
                return ""
            return value
        if ch == "/":
            return self.replace(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        elif ch not in ("+", "-", "?", "#", "%"):
            raise LexError(f"unsupported modifier ({modifier}) in substitution")
        raw = ch in ("#", "%")
        if null_is_unset and raw:
            raise LexError(f"unsupported modifier ({modifier}) in substitution")
        mark = len(self.missing)  # what the word leaves unresolved counts only if it is used
        try:
            word, _ = self.process("}", raw)
        except LexError:
            if self.peek() == EOF:
                raise LexError("syntax error: missing '}'") from None
            raise
        value = self.get(name)
        if value is None and self.skip_unset:
            return "${" + name + modifier + word + "}"
        empty = value is None or (null_is_unset and value == "")
        if ch == "-":
            if empty:
                return word
            del self.missing[mark:]
            return str(value)
        if ch == "+":
            if empty:
                del self.missing[mark:]
                return ""
            return word
        if ch == "?":
            del self.missing[mark:]
            if value is None:
                raise Unresolved(name)
            if empty:
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        if ch in ("#", "%"):
            greedy = word[:1] == ch
            pattern = word[1:] if greedy else word
            if ch == "%":
                return trim_suffix(pattern, value or "", greedy)
            return trim_prefix(pattern, value or "", greedy)
        raise LexError(f"unsupported modifier ({modifier}) in substitution")

    def replace(self, name: str) -> str:
        every = self.peek() == "/"
        if every:
            self.next()
        try:
            pattern, _ = self.process("/", True)
        except LexError:
            if self.peek() == EOF:
                raise LexError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process("}", True)
        except LexError:
            if self.peek() == EOF:
                raise LexError("syntax error: missing '}'") from None
            raise
        value = self.get(name)
        if value is None and self.skip_unset:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = shell_pattern(pattern, greedy=True, anchored=False)
        return regex.sub(lambda _m: replacement, value or "", count=0 if every else 1)


def shell_pattern(pattern: str, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """convertShellPatternToRegex: ``*`` and ``?`` wildcards, ``\\`` escapes (no brackets)."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    index = 0
    while index < len(pattern):
        ch = pattern[index]
        index += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            following = pattern[index] if index < len(pattern) else EOF
            if following in ("}", "/"):
                continue  # escaped only for ${}: not part of the pattern
            if following not in ("*", "?", "\\"):
                raise LexError(f"invalid pattern ({pattern}) in substitution: invalid escape")
            index += 1
            out.append(re.escape(following))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out))


def trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    match = shell_pattern(pattern, greedy, anchored=True).search(value)
    return value[match.end() :] if match else value


def reverse_pattern(pattern: str) -> str:
    """The pattern reversed, each ``\\x`` escape kept in front of its character."""
    out = [""] * len(pattern)
    last = len(pattern) - 1
    index = 0
    while index <= last:
        ch = pattern[index]
        at = last - index
        if ch == "\\" and index != last:
            out[at - 1] = ch
            out[at] = pattern[index + 1]
            index += 2
        else:
            out[at] = ch
            index += 1
    return "".join(out)


def trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    return trim_prefix(reverse_pattern(pattern), value[::-1], greedy)[::-1]


QUIET = frozenset("$'\"")  # with none of these (nor the escape) a word is itself


def word(
    text: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    strict: bool = False,
    quotes: bool = True,
) -> str:
    """ProcessWord: ``text`` expanded, quotes and escapes removed, blanks kept. ``strict``:
    Unresolved when a variable without a value expands to nothing in the result (``$A``, not
    ``${A:-x}``). ``quotes=False`` (and an ``escape`` of ""): variables only, the rest as is."""
    if (QUIET.isdisjoint(text) or (not quotes and "$" not in text)) and (
        not escape or escape not in text
    ):
        return text
    lexer = Lexer(text, env, escape, skip_quotes=not quotes)
    result, _ = lexer.process(EOF, False)
    if strict and lexer.missing:
        raise Unresolved(lexer.missing[0])
    return result


def words(
    text: str,
    env: Mapping[str, str],
    escape: str = "\\",
    *,
    raw_quotes: bool = False,
    raw_escapes: bool = False,
    skip_unset: bool = False,
) -> list[str]:
    """ProcessWords: ``text`` expanded, then split into words at unquoted blanks."""
    lexer = Lexer(
        text, env, escape, raw_quotes=raw_quotes, raw_escapes=raw_escapes, skip_unset=skip_unset
    )
    _, found = lexer.process(EOF, raw_escapes)
    return found.done()
