"""Words of an instruction as BuildKit reads them: its flags, shell words, JSON arrays, ENV/ARG
pairs, and the expansion of variables in them (fixuser.dockerfile.lex does the lexing)."""

from __future__ import annotations

import re
from collections.abc import Mapping

from fixuser.dockerfile import lex
from fixuser.dockerfile.lex import LexError, Unresolved
from fixuser.dockerfile.parse import GO_SPACE, KEYWORD_SPLIT_RE, exec_form


def substitute(text: str, env: Mapping[str, str], strict: bool = False) -> str:
    """Expand the variables of ``text`` (a shell word, its quotes already gone) by BuildKit's
    rules: ``$VAR``, ``${VAR}``, ``${VAR:-x}`` nested to any depth, ``:+``, ``-``, ``+``,
    ``#``, ``%``, ``/``. ``strict``: Unresolved when a variable without a value expands to
    nothing. What BuildKit could not expand at all comes back as written."""
    if "$" not in text:
        return text  # most values: and then ``env`` is never looked at (see LazyEnv)
    try:
        return lex.word(text, env, "", strict=strict, quotes=False)
    except Unresolved:
        raise
    except LexError:
        return text


def expand(text: str, env: Mapping[str, str], escape: str = "\\", strict: bool = False) -> str:
    """A word of the Dockerfile (USER, ENV and ARG values, FROM) as BuildKit expands it:
    variables, quotes and escapes (ProcessWord). Raises LexError where BuildKit fails the
    build, and Unresolved (``strict``) as ``substitute``."""
    return lex.word(text, env, escape, strict=strict)


def process_word(
    text: str, env: Mapping[str, str], escape: str = "\\", strict: bool = False
) -> str:
    """The value of a one-word instruction (WORKDIR, USER, a VOLUME path) as BuildKit's
    ProcessWord makes it: quotes removed, the escape character escaping the next character,
    variables expanded (not in single quotes). ``WORKDIR "/app data"`` is /app data,
    ``USER "app"`` is app. What BuildKit cannot expand (an unclosed quote, ``${A B}``: its build
    fails there) is left to ``substitute`` alone."""
    try:
        return expand(text, env, escape, strict)
    except Unresolved:
        raise
    except LexError:
        return substitute(text, env, strict)


QUOTING = frozenset("'\"\\")


# One piece of a word: plain characters, a '...' or "..." string, or a backslash escape; or
# the blanks between words. shlex's whitespace is these four, not all of \s.
PIECE_RE = re.compile(
    r"""[^ \t\r\n'"\\]+|'([^']*)'|"((?:[^"\\]|\\[\s\S])*)"|\\([\s\S])|([ \t\r\n]+)"""
)


QUOTED_ESCAPE_RE = re.compile(r'\\(["\\])')  # in "...", a backslash escapes only " and \


def shell_words(text: str) -> list[str]:
    """POSIX shell words, as ``shlex.split(text)`` splits them; ``str.split`` when it cannot
    (an unclosed quote, a trailing backslash) or when nothing is quoted."""
    if QUOTING.isdisjoint(text):
        return text.split()
    try:
        return posix_split(text)
    except ValueError:
        return text.split()


def posix_split(text: str) -> list[str]:
    """``shlex.split(text, posix=True)`` by regex, ~10x faster (tests/test_stages.py holds the
    two to the same words and the same refusals)."""
    words: list[str] = []
    word: list[str] = []
    quoted = False  # '' and "" make a word of their own, even empty
    position, end = 0, len(text)
    while position < end:
        match = PIECE_RE.match(text, position)
        if match is None:
            raise ValueError(f"unclosed quote or trailing backslash at {position}")
        position = match.end()
        single, double, escaped, blank = match.groups()
        if blank is not None:
            if word or quoted:
                words.append("".join(word))
                word, quoted = [], False
        elif single is not None:
            word.append(single)
            quoted = True
        elif double is not None:
            word.append(QUOTED_ESCAPE_RE.sub(r"\1", double) if "\\" in double else double)
            quoted = True
        elif escaped is not None:
            word.append(escaped)
        else:
            word.append(match.group())
    if word or quoted:
        words.append("".join(word))
    return words


def split_flags(value: str) -> tuple[dict[str, str], list[str]]:
    """Leading ``--flag=value`` options and the remaining words of an instruction: its JSON
    array when the rest is one (``COPY ["a b", "/app/"]``), else its shell words."""
    words = shell_words(value)
    flags: dict[str, str] = {}
    while words and words[0].startswith("--"):
        name, _, flag_value = words.pop(0)[2:].partition("=")
        flags[name.lower()] = flag_value
    if "[" in value:
        argv = exec_form(value)
        if argv is not None:
            return flags, argv
    return flags, words


def json_or_words(value: str) -> list[str]:
    """Arguments of an exec-form (JSON) or shell-form instruction, split into words; the exec
    form only as BuildKit reads it (the whole rest a JSON array of strings)."""
    return split_flags(value)[1]


def volume_words(value: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    """VOLUME's paths as BuildKit reads them: the strings of its JSON array, or its words
    split at blanks, each then processed as a word (quotes removed, variables expanded), so
    ``VOLUME ["'/data'"]`` is /data."""
    words = exec_form(value, escape)
    return [process_word(w, env, escape) for w in (value.split() if words is None else words)]


def buildkit_words(rest: str, escape: str) -> list[str]:
    """BuildKit's parseWords (line_parsers.go): words split at unquoted blanks, their quotes
    and escapes kept for the expansion that follows (ENV and ARG pairs)."""
    words: list[str] = []
    word: list[str] = []
    blank_ok = False  # a quoted "" is a word
    quote = ""
    position, end = 0, len(rest)
    while position < end:
        ch = rest[position]
        position += 1
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if position == end:
                    break
                word.append(ch)
                ch = rest[position]
                position += 1
            word.append(ch)
        elif ch in GO_SPACE:
            if blank_ok or word:
                words.append("".join(word))
            word, blank_ok = [], False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == escape:
                if position == end:
                    break
                word.append(ch)
                ch = rest[position]
                position += 1
            word.append(ch)
    if blank_ok or word:
        words.append("".join(word))
    return words


def env_pairs(value: str, escape: str) -> list[tuple[str, str]]:
    """ENV's pairs as written (parseNameVal): ``K=V K2="V 2"``, or the legacy ``K rest``; a
    word without ``=`` in the first form is an error in BuildKit, and is left out here."""
    words = buildkit_words(value, escape)
    if not words:
        return []
    if "=" not in words[0]:
        parts = KEYWORD_SPLIT_RE.split(value, maxsplit=1)
        return [(parts[0], parts[1])] if len(parts) == 2 else []
    return [(k, v) for k, equals, v in (w.partition("=") for w in words) if equals and k]


def arg_pairs(value: str, escape: str) -> list[tuple[str, str | None]]:
    """ARG's names and their defaults as written (None: declared without one)."""
    pairs: list[tuple[str, str | None]] = []
    for word in buildkit_words(value, escape):
        key, equals, default = word.partition("=")
        if key:
            pairs.append((key, default if equals else None))
    return pairs
