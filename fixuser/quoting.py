"""Values from a repository, written into the text fixuser makes: shell words and Dockerfile words.

Every path and name fixuser writes comes from somewhere it does not control (a WORKDIR, a
VOLUME, an ARG default, an earlier USER), so it is data, never code. Two places read it:

- a POSIX shell (the RUN lines of the templates, the entrypoint wrapper): ``shell_word``
  quotes it as one word, and leaves a word of safe characters as it is, so ordinary output
  does not change;
- BuildKit, in the instructions that expand variables and remove quotes before they use a
  value (USER, ENV; RUN is not expanded): ``dockerfile_word`` escapes what it would read, so
  the value keeps the meaning it had. A flag's value (``COPY --chown=``) is read twice: the
  flag parser first takes backslash escapes and quotes off, then the value is expanded like
  USER's: ``flag_word`` escapes for both.

Neither can hold a line break: a Dockerfile instruction ends at the end of its line, and the
text after a line break would be read as an instruction of its own. Such a value is refused
(``Unwritable``) before anything is written.
"""

from __future__ import annotations

import re

from fixuser.errors import FixuserError

# shlex.quote's safe characters: a word of only these needs no quoting.
UNSAFE_RE = re.compile(r"[^\w@%+=:,./-]", re.ASCII)
LINE_BREAK_RE = re.compile(r"[\n\r]")
# What BuildKit's word processing reads in an unquoted word, besides its escape character.
DOCKERFILE_SPECIAL = frozenset("$'\"")
BLANK_RE = re.compile(r"\s")
FLAG_SPECIAL = frozenset("\\'\"")  # what BuildKit's flag parser takes off


class Unwritable(FixuserError, ValueError):
    """A value that cannot be written where fixuser would write it; the message is one line."""


def has_line_break(value: str) -> bool:
    return LINE_BREAK_RE.search(value) is not None


def shell_word(value: object, always: bool = False) -> str:
    """``value`` as one POSIX shell word that the shell reads back as exactly ``value``:
    unchanged when it is made of safe characters only (unless ``always``), otherwise in
    single quotes, a quote inside written as ``'\\''``."""
    text = str(value)
    if has_line_break(text):
        raise Unwritable(f"{text!r} holds a line break, which no Dockerfile line can hold")
    if text and not always and UNSAFE_RE.search(text) is None:
        return text
    return "'" + text.replace("'", "'\\''") + "'"


def dockerfile_word(value: str, escape: str = "\\") -> str:
    """``value`` as an unquoted word of USER, ENV or a ``--chown=`` flag that BuildKit reads
    back as exactly ``value``: its escape character before each ``$``, quote and escape
    character. A value with a blank (it would be two words) or a line break is refused."""
    if has_line_break(value) or BLANK_RE.search(value):
        raise Unwritable(f"{value!r} holds a blank or a line break: it would not stay one word")
    if DOCKERFILE_SPECIAL.isdisjoint(value) and escape not in value:
        return value
    return "".join(escape + c if c in DOCKERFILE_SPECIAL or c == escape else c for c in value)


def flag_word(value: str, escape: str = "\\") -> str:
    """``value`` as the value of a flag (``--chown=``) that BuildKit reads back as exactly
    ``value``: its flag parser takes a backslash escape and quotes off (whatever the file's
    escape character), then the value is expanded as ``dockerfile_word`` expects."""
    word = dockerfile_word(value, escape)
    if FLAG_SPECIAL.isdisjoint(word):
        return word
    return "".join("\\" + c if c in FLAG_SPECIAL else c for c in word)
