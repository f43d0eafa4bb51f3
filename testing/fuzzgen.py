"""Dockerfiles from a grammar, and what ``fix`` must keep on every one of them.

Shared by tests/test_fuzz_properties.py (hypothesis draws the choices, so failures shrink) and
bench/fuzz.py (a seeded random.Random draws them, 100,000 times). The grammar covers stages
and FROM <stage> chains, ARG/ENV with nested defaults, USER in every spelling, heredocs quoted
and not and their look-alikes, exec forms, continuations (comment and blank lines inside, two
escapes at an end, one dangling at the end of the file), CRLF, lower-case keywords, the
backtick escape, and hostile paths (blanks, quotes, ``$(id)``, backticks, globs, ``;``).

``judge`` checks one input against BuildKit's own parser (PyPI ``dockerfile``) and an oracle
of the runtime user written here, apart from fixuser's code: it reads BuildKit's parse of the
file, follows FROM <stage> chains, and expands ENV, ARG and USER with its own implementation
of BuildKit's rules (moby/buildkit frontend/dockerfile/shell/lex.go, dockerfile2llb). The
oracle assumes what a default ``docker build`` has: no build arguments, and base images that
set none of the grammar's variables (debian, alpine, ubuntu, node, ubi and distroless set
none of them); a result that depends on such a variable is marked ``influenced``.
"""

from __future__ import annotations

import functools
import json
import random
import re
import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

import dockerfile as buildkit

from fixuser.core import check, fix
from fixuser.model import DockerfileError, FixRefused, Verdict
from fixuser.settings import Settings
from testing.preserve import missing_instructions, missing_lines

T = TypeVar("T")


# --------------------------------------------------------------------------- choosing


class Chooser(Protocol):
    def choice(self, options: Sequence[T]) -> T: ...

    def integer(self, low: int, high: int) -> int: ...

    def boolean(self, chance: float = 0.5) -> bool: ...


class RandomChooser:
    """Choices from a seeded random.Random (bench/fuzz.py)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def choice(self, options: Sequence[T]) -> T:
        return options[self.rng.randrange(len(options))]

    def integer(self, low: int, high: int) -> int:
        return self.rng.randint(low, high)

    def boolean(self, chance: float = 0.5) -> bool:
        return self.rng.random() < chance


class DrawChooser:
    """Choices drawn by hypothesis (``st.data()``): failures shrink to the first options."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        from hypothesis import strategies as st

        self.draw = draw
        self.st = st

    def choice(self, options: Sequence[T]) -> T:
        result: T = self.draw(self.st.sampled_from(options))
        return result

    def integer(self, low: int, high: int) -> int:
        result: int = self.draw(self.st.integers(low, high))
        return result

    def boolean(self, chance: float = 0.5) -> bool:
        # an integer draw that is True at its top end: a failure shrinks to False (0)
        result: bool = self.draw(self.st.integers(0, 99)) >= 100 - int(chance * 100)
        return result


# --------------------------------------------------------------------------- the grammar

# Images whose default user the oracle knows (None: it does not; fixuser assumes root).
BASE_USERS: Mapping[str, str | None] = {
    "debian:12": "root",
    "alpine:3.20": "root",
    "ubuntu:24.04": "root",
    "node:20": "root",
    "registry.access.redhat.com/ubi9/ubi-minimal": "root",
    "gcr.io/distroless/static-debian12": "root",
    "gcr.io/distroless/static-debian12:nonroot": "nonroot",
    "registry.example.com/base:1": None,
}
BASES = list(BASE_USERS)
VARIABLES = ["U", "A", "B", "E", "APP"]
VALUES = ["root", "app", "0", "1000", "", "nobody", "1000:1000", "0:0"]
NESTED = [
    "${U}",
    "${A:-root}",
    "${A:-${B:-root}}",
    "${A:-${B:-app}}",
    "${U:+app}",
    "${U+root}",
    "${U-app}",
    "$U",
    '"${A:-x y}"',
]
USER_SPELLINGS = [
    "root",
    "0",
    "00",
    "+0",
    "-0",
    "0:0",
    "root:root",
    "0:1000",
    "app",
    "1000",
    "1000:1000",
    "nobody",
    "node",
    "65532",
    "ROOT",
    '"root"',
    "'root'",
    '"app"',
    "r\\oot",
    "ro''ot",
    ":1000",
    "$U",
    "${U}",
    "${U:-root}",
    "${U:-app}",
    "${U-root}",
    "${U:+app}",
    "${U:+root}",
    "${U+root}",
    "${A:-${B:-root}}",
    "${A:-${B:-app}}",
    "${A:+${B:-root}}",
    '"${U:-root}"',
    "${E}",
    "${U:?}",
]
# WORKDIR values as written, and hostile ones: BuildKit expands each to one path.
WORKDIRS = [
    "/app",
    "/srv/data",
    "data",
    "/tmp",
    "/usr/local/bin",
    "/opt/svc/",
    '"/srv/a b"',
    "/srv/a\\ b",
    "'/srv/x;id'",
    "/app/$(id)",
    "/app/`id`",
    '"/srv/*"',
    "/srv/-rf",
    "/srv/ünï",
    "'/srv/\"dq\"'",
    '"/srv/it\'s"',
    "'/srv/a&&b'",
    "/srv/${U:-fallback}",
]
VOLUMES = ["/data", "/var/lib/app", '["/data dir"]', '["/srv/v;id"]', "/app/data"]
MKDIRS = ["/var/lib/app", '"/srv/a b"', "/srv/c\\$d", "'/srv/x|y'", "/opt/app/cache"]
RUN_WORDS = [
    "apt-get update",
    "apk add curl",
    "useradd -m app",
    "useradd -u 1000 -m svc",
    "adduser -D app",
    "echo hi",
    "true",
    "make",
]
HEREDOC_BODIES = ["set -e", "USER root", "FROM evil", "echo ok", "echo \\", "useradd -m app"]


@dataclass
class Style:
    """How this file is written: its escape character, line ending, keyword case."""

    escape: str
    newline: str
    lower: bool

    def kw(self, keyword: str) -> str:
        return keyword.lower() if self.lower else keyword


def generate(ch: Chooser) -> bytes:
    """One Dockerfile BuildKit parses (some fail to build: an unset ${U:?} is a choice)."""
    style = Style(
        escape="`" if ch.boolean(0.05) else "\\",
        newline="\r\n" if ch.boolean(0.2) else "\n",
        lower=ch.boolean(0.1),
    )
    lines: list[str] = []
    if style.escape == "`":
        lines.append("# escape=`")
    for _ in range(ch.integer(0, 2)):
        lines.append(global_arg(ch, style))
    names: list[str] = []
    for index in range(ch.integer(1, 3)):
        base = ch.choice([*BASES, "${BASE}", *names]) if names else ch.choice([*BASES, "${BASE}"])
        platform = "--platform=$BUILDPLATFORM " if ch.boolean(0.05) else ""
        named = ch.boolean(0.8)
        lines.append(f"{style.kw('FROM')} {platform}{base}" + (f" AS s{index}" if named else ""))
        if named:
            names.append(f"s{index}")
        for _ in range(ch.integer(0, 7)):
            lines.extend(instruction(ch, style))
    if ch.boolean(0.08):
        dangle(ch, style, lines)
    text = style.newline.join(lines)
    if ch.boolean(0.85):
        text += style.newline
    return text.encode("utf-8")


def global_arg(ch: Chooser, style: Style) -> str:
    kind = ch.choice(["base", "user", "bare", "empty"])
    if kind == "base":
        return f"{style.kw('ARG')} BASE={ch.choice(BASES[:-1])}"
    if kind == "user":
        return f"{style.kw('ARG')} {ch.choice(VARIABLES)}={ch.choice(VALUES) or 'app'}"
    if kind == "bare":
        return f"{style.kw('ARG')} {ch.choice(VARIABLES)}"
    return f"{style.kw('ARG')} {ch.choice(VARIABLES)}="


def value(ch: Chooser) -> str:
    """An ENV/ARG value as written: plain, quoted, nested defaults, single-quoted."""
    kind = ch.choice(["plain", "nested", "quoted", "single"])
    if kind == "plain":
        return ch.choice(VALUES)
    if kind == "nested":
        return ch.choice(NESTED)
    if kind == "quoted":
        return f'"{ch.choice(VALUES)}"'
    return f"'${ch.choice(VARIABLES)}'"


INSTRUCTIONS = (
    *("ARG", "ENV", "USER", "RUN", "RUN", "RUN", "COPY", "WORKDIR", "VOLUME", "EXPOSE", "CMD"),
    *("ENTRYPOINT", "LABEL", "ONBUILD", "hostile", "#", ""),
)


def instruction(ch: Chooser, style: Style) -> list[str]:
    kind = ch.choice(INSTRUCTIONS)
    kw = style.kw
    if kind == "ARG":
        names = [ch.choice(VARIABLES) for _ in range(ch.integer(1, 2))]
        pairs = [n if ch.boolean(0.25) else f"{n}={value(ch)}" for n in names]
        return [f"{kw('ARG')} {' '.join(pairs)}"]
    if kind == "ENV":
        if ch.boolean(0.2):
            return [f"{kw('ENV')} {ch.choice(VARIABLES)} {ch.choice(VALUES) or 'x'}"]  # legacy
        names = [ch.choice(VARIABLES) for _ in range(ch.integer(1, 2))]
        return [f"{kw('ENV')} {' '.join(f'{n}={value(ch)}' for n in names)}"]
    if kind == "USER":
        spelling = ch.choice(USER_SPELLINGS)
        if style.escape == "`":
            spelling = spelling.replace("\\", "")
        gap, end = ch.choice([" ", "\t", "   "]), ch.choice(["", "", " ", "\t"])
        if ch.boolean(0.05):  # the value on a continuation line
            return [f"{kw('USER')} {style.escape}", f"{gap}{spelling}{end}"]
        return [f"{kw('USER')}{gap}{spelling}{end}"]
    if kind == "RUN":
        return run(ch, style)
    if kind == "COPY":
        flag = ch.choice(["", "--chown=1:1 ", "--from=s0 ", "--chmod=644 "])
        if ch.boolean(0.2):
            return [f'{kw("COPY")} {flag}["a b", "/dst dir/"]']
        return [f"{kw('COPY')} {flag}{ch.choice(['a', 'src/', '.'])} {ch.choice(WORKDIRS[:6])}"]
    if kind == "WORKDIR":
        path = ch.choice(WORKDIRS)
        if style.escape == "`":
            path = path.replace("\\ ", " ").replace("`id`", "id")  # ` is the escape there
        return [f"{kw('WORKDIR')} {path}"]
    if kind == "VOLUME":
        return [f"{kw('VOLUME')} {ch.choice(VOLUMES)}"]
    if kind == "EXPOSE":
        return [f"{kw('EXPOSE')} {ch.choice(['80', '8080', '443/tcp'])}"]
    if kind == "CMD":
        command = ch.choice(['["run"]', "run --now", '["sh", "-c", "run"]'])
        return [f"{kw('CMD')} {command}"]
    if kind == "ENTRYPOINT":
        entry = ch.choice(['["run"]', '["run"] trailing', "run --now", '["tini", "--", "run"]'])
        return [f"{kw('ENTRYPOINT')} {entry}"]
    if kind == "LABEL":
        return [f'{kw("LABEL")} a=b c="d e"']
    if kind == "ONBUILD":
        if ch.boolean(0.3):
            return [f"{kw('ONBUILD')} {kw('RUN')} <<EOF", "USER root", "EOF"]
        return [f"{kw('ONBUILD')} {ch.choice([kw('RUN') + ' make', kw('USER') + ' root'])}"]
    if kind == "hostile":
        # JSON nested past Python's recursion limit (Go's decoder refuses it: the shell form)
        return [f"{kw(ch.choice(['CMD', 'ENTRYPOINT', 'RUN']))} {'[' * 3000}"]
    if kind == "#":
        return [ch.choice(["# a comment", "#", "# USER root", "# escape=`"])]
    return [""]


def run(ch: Chooser, style: Style) -> list[str]:
    kw, esc = style.kw, style.escape
    kind = ch.choice(
        ["plain", "continued", "heredoc", "lookalike", "exec", "mkdir", "double-escape"]
    )
    if kind == "plain":
        return [f"{kw('RUN')} {ch.choice(RUN_WORDS)}"]
    if kind == "mkdir":
        paths = " ".join(ch.choice(MKDIRS) for _ in range(ch.integer(1, 2)))
        if esc == "`":
            paths = paths.replace("\\$", "$")
        return [f"{kw('RUN')} mkdir -p {paths}"]
    if kind == "continued":
        lines = [f"{kw('RUN')} {ch.choice(RUN_WORDS)} {esc}"]
        for _ in range(ch.integer(0, 2)):
            lines.append(ch.choice(["# inside", "", "  # indented comment", "\t"]))
        lines.append(f"  && {ch.choice(RUN_WORDS)}")
        return lines
    if kind == "heredoc":
        return heredoc(ch, style)
    if kind == "lookalike":
        # no heredoc as BuildKit reads them: quoted, escaped, or glued to a word
        text = ch.choice(
            ['echo "<<EOF"', "echo '<<EOF' && true", "echo \\<<EOF", "cat<<EOF", "a=<<EOF true"]
        )
        if esc == "`" and "\\" in text:
            text = "echo '<<EOF'"
        return [f"{kw('RUN')} {text}"]
    if kind == "exec":
        argv = ch.choice(
            [
                ["sh", "-c", "useradd app"],
                ["useradd", "-m", "svc"],
                ["/bin/sh", "-c", "mkdir -p /data && echo hi"],
                ["echo", "hi"],
                ["/bin/bash", "-o", "pipefail", "-c", "useradd -m app"],
            ]
        )
        return [f"{kw('RUN')} {json.dumps(argv)}"]
    # a line ending in two escapes does not continue (BuildKit 1.10+)
    return [f"{kw('RUN')} echo {esc}{esc}"]


def heredoc(ch: Chooser, style: Style) -> list[str]:
    kw = style.kw
    opener = ch.choice(["<<EOF", '<<"EOF"', "<<'EOF'", "<<-EOF", "2<<EOF"])
    body = [ch.choice(HEREDOC_BODIES) for _ in range(ch.integer(0, 3))]
    copy = opener != "2<<EOF" and ch.boolean(0.15)
    first = f"{kw('COPY')} {opener} /etc/app.conf" if copy else f"{kw('RUN')} {opener}"
    if opener == "<<-EOF":
        lines = [first, *("\t" + line for line in body), "\tEOF"]
    elif opener == "2<<EOF":
        lines = [f"{first} cat", *body, "EOF"]
    else:
        lines = [first, *body, "EOF"]
    if not copy and ch.boolean(0.2):  # a second heredoc on the same line
        lines[0] += " && cat <<TWO"
        lines += [*(ch.choice(HEREDOC_BODIES) for _ in range(ch.integer(0, 2))), "TWO"]
    return lines


def dangle(ch: Chooser, style: Style, lines: list[str]) -> None:
    """The last instruction continues past the end of the file (BuildKit ends it there)."""
    lines.append(f"{style.kw(ch.choice(['RUN', 'CMD']))} {ch.choice(RUN_WORDS)} {style.escape}")
    for _ in range(ch.integer(0, 2)):
        lines.append(ch.choice(["# trailing", ""]))


# --------------------------------------------------------------------------- the oracle


@functools.lru_cache(maxsize=16)
def parse_buildkit(text: str) -> tuple[Any, ...]:
    """BuildKit's parse of ``text`` (each file is read by several checks: once is enough)."""
    return tuple(buildkit.parse_string(text))


class CachedParser:
    """The ``dockerfile`` module's parse_string, cached (for preserve.missing_instructions)."""

    @staticmethod
    def parse_string(text: str) -> tuple[Any, ...]:
        return parse_buildkit(text)


SPECIAL = frozenset("@*#?-$!0")


class BuildFails(Exception):
    """BuildKit cannot expand a value: the build stops there."""


@dataclass(frozen=True)
class Value:
    text: str
    influenced: frozenset[str] = frozenset()  # variables without a value it depends on


def expand(text: str, env: Mapping[str, Value], escape: str = "\\") -> Value:
    """ProcessWord, written apart from fixuser.dockerfile.lex: quotes, escapes, $N, ${N}, ${N:-w},
    ${N-w}, ${N:+w}, ${N+w}, ${N:?w}, ${N?w}, nested. (The grammar uses no # % / forms.)"""
    result, _, influenced = _scan(text, 0, "", env, escape)
    return Value(result, frozenset(influenced))


def _scan(
    text: str, at: int, stop: str, env: Mapping[str, Value], escape: str
) -> tuple[str, int, set[str]]:
    out: list[str] = []
    influenced: set[str] = set()
    size = len(text)
    while at < size:
        char = text[at]
        if stop and char == stop:
            return "".join(out), at + 1, influenced
        if char == escape:
            if at + 1 < size:
                out.append(text[at + 1])
            at += 2
        elif char == "'":
            close = text.find("'", at + 1)
            if close < 0:
                raise BuildFails("unclosed single quote")
            out.append(text[at + 1 : close])
            at = close + 1
        elif char == '"':
            at += 1
            while True:
                if at >= size:
                    raise BuildFails("unclosed double quote")
                char = text[at]
                if char == '"':
                    at += 1
                    break
                if char == "$":
                    piece, at, more = _dollar(text, at, env, escape)
                    out.append(piece)
                    influenced |= more
                elif char == escape:
                    following = text[at + 1 : at + 2]
                    if following in ('"', "$", escape) and following:
                        out.append(following)
                        at += 2
                    elif not following:
                        at += 1
                    else:
                        out.append(char)
                        at += 1
                else:
                    out.append(char)
                    at += 1
        elif char == "$":
            piece, at, more = _dollar(text, at, env, escape)
            out.append(piece)
            influenced |= more
        else:
            out.append(char)
            at += 1
    if stop:
        raise BuildFails(f"missing {stop}")
    return "".join(out), at, influenced


def _name(text: str, at: int) -> int:
    if at < len(text) and text[at].isdigit():
        while at < len(text) and text[at].isdigit():
            at += 1
        return at
    if at < len(text) and text[at] in SPECIAL:
        return at + 1
    while at < len(text) and (text[at].isalnum() or text[at] == "_"):
        at += 1
    return at


def _dollar(text: str, at: int, env: Mapping[str, Value], escape: str) -> tuple[str, int, set[str]]:
    at += 1
    if text[at : at + 1] != "{":
        end = _name(text, at)
        name = text[at:end]
        if not name:
            return "$", at, set()
        found = env.get(name)
        return (found.text, end, set(found.influenced)) if found else ("", end, {name})
    at += 1
    if at >= len(text) or text[at] in "{}:":
        raise BuildFails("bad substitution")
    end = _name(text, at)
    name, at = text[at:end], end
    operator = text[at : at + 1]
    at += 1
    found = env.get(name)
    own = set(found.influenced) if found else {name}
    if operator == "}":
        return (found.text if found else ""), at, own
    colon = operator == ":"
    if colon:
        operator = text[at : at + 1]
        at += 1
    if operator not in ("-", "+", "?"):
        raise BuildFails(f"unsupported modifier {operator!r}")
    word, at, in_word = _scan(text, at, "}", env, escape)
    if found is None or (colon and found.text == ""):  # unset (or, with ":", empty)
        if operator == "-":
            return word, at, own | in_word
        if operator == "+":
            return "", at, own
        raise BuildFails(f"{name}: required")
    if operator == "+":
        return word, at, own | in_word
    return found.text, at, own


def is_root(user: str) -> bool:
    """The runtime (runc) runs ``user`` as UID 0: an empty user, Atoi 0, or root."""
    part = user.split(":", 1)[0]
    if not part:
        return True
    if re.fullmatch(r"[+-]?[0-9]+", part):
        return int(part) == 0
    return part == "root"


@dataclass(frozen=True)
class Runtime:
    user: str | None  # None: not known (the base image's default user is not)
    influenced: frozenset[str] = frozenset()
    failure: str = ""  # the build fails before it is known

    @property
    def root(self) -> bool | None:
        return None if self.user is None or self.failure else is_root(self.user)


def escape_of(text: str) -> str:
    for line in text.splitlines():
        match = re.match(r"\s*#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$", line)
        if not match:
            break
        if match.group(1).lower() == "escape":
            return match.group(2)
    return "\\"


def runtime_user(text: str) -> Runtime:
    """The last stage's user when the image runs, from BuildKit's parse of ``text``."""
    escape = escape_of(text)
    meta: dict[str, Value] = {}
    stages: list[dict[str, Any]] = []
    try:
        for command in parse_buildkit(text):
            keyword = command.cmd.upper()
            if keyword == "FROM":
                words = command.value
                name = words[2].lower() if len(words) >= 3 and words[1].lower() == "as" else ""
                base = expand(words[0], meta, escape).text
                if not base:
                    raise BuildFails("base name should not be blank")
                parent = next((s for s in stages if s["name"] and s["name"] == base), None)
                stages.append({"name": name, "base": base, "parent": parent, "commands": []})
            elif stages:
                stages[-1]["commands"].append(command)
            elif keyword == "ARG":
                for word in command.value:
                    key, equals, default = word.partition("=")
                    if equals:
                        meta[key] = expand(default, meta, escape)
        chain: list[dict[str, Any]] = []
        stage: dict[str, Any] | None = stages[-1]
        while stage is not None:
            chain.insert(0, stage)
            stage = stage["parent"]
        env: dict[str, Value] = {}
        user: Value | None = None
        shell_less = chain[0]["base"].startswith("gcr.io/distroless/")
        for stage in chain:
            for command in stage["commands"]:
                keyword = command.cmd.upper()
                if keyword == "ENV":
                    before = dict(env)
                    pairs = zip(command.value[::2], command.value[1::2], strict=True)
                    for key, raw in pairs:
                        env[expand(key, before, escape).text] = expand(raw, before, escape)
                elif keyword == "ARG":
                    for word in command.value:
                        key, equals, default = word.partition("=")
                        if equals:
                            env[key] = expand(default, env, escape)
                        elif key in meta:
                            env[key] = meta[key]
                elif keyword == "USER":
                    user = expand(command.value[0], env, escape)
                elif keyword == "RUN" and shell_less:
                    raise BuildFails("RUN in an image without a shell")
    except BuildFails as e:
        return Runtime(None, failure=str(e))
    if user is not None:
        return Runtime(user.text, user.influenced)
    return Runtime(BASE_USERS.get(chain[0]["base"]))


# --------------------------------------------------------------------------- inserted RUNs

KEYWORDS_OF_SH = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "!", "{", "}"})


def simple_commands(script: str) -> list[list[tuple[str, bool]]]:
    """The simple commands of a shell script, each word with whether it is literal (no
    unquoted $, backquote, glob or tilde: the shell passes it on as written, quotes removed).
    A redirection ends the word before it and is a word of its own that is never literal."""
    commands: list[list[tuple[str, bool]]] = []
    words: list[tuple[str, bool]] = []
    word: list[str] = []
    state = {"literal": True, "in_word": False}

    def end_word() -> None:
        if state["in_word"]:
            words.append(("".join(word), bool(state["literal"])))
        word.clear()
        state["literal"], state["in_word"] = True, False

    def end_command() -> None:
        end_word()
        while words and words[0][0] in KEYWORDS_OF_SH:
            words.pop(0)
        if words:
            commands.append(list(words))
        words.clear()

    at, size = 0, len(script)
    while at < size:
        char = script[at]
        if char in " \t":
            end_word()
        elif char in "\n;&|()":
            end_command()
        elif char in "<>":
            end_word()
            words.append((char, False))
        elif char == "#" and not state["in_word"]:
            while at < size and script[at] != "\n":
                at += 1
            continue
        elif char == "\\":
            if script[at + 1 : at + 2] != "\n":
                word.append(script[at + 1 : at + 2])
                state["in_word"] = True
            at += 2
            continue
        elif char == "'":
            close = script.find("'", at + 1)
            if close < 0:
                close = size
                state["literal"] = False
            word.append(script[at + 1 : close])
            state["in_word"] = True
            at = close + 1
            continue
        elif char == '"':
            at += 1
            state["in_word"] = True
            while at < size and script[at] != '"':
                if script[at] == "\\" and script[at + 1 : at + 2] in ('"', "\\", "$", "`"):
                    word.append(script[at + 1])
                    at += 2
                    continue
                if script[at] in "$`":
                    state["literal"] = False
                word.append(script[at])
                at += 1
            at += 1
            continue
        else:
            if char in "$`*?[" or (char == "~" and not state["in_word"]):
                state["literal"] = False
            word.append(char)
            state["in_word"] = True
        at += 1
    end_command()
    return commands


def path_operands(script: str) -> dict[str, list[tuple[str, bool]]]:
    """The operands of each mkdir, chown and chmod: past the options, and past the owner or
    the mode."""
    found: dict[str, list[tuple[str, bool]]] = {"mkdir": [], "chown": [], "chmod": []}
    for command in simple_commands(script):
        name = command[0][0]
        if name not in found:
            continue
        rest = command[1:]
        while rest and rest[0][0].startswith("-") and rest[0][0] != "--" and rest[0][1]:
            takes = name == "mkdir" and rest[0][0] in ("-m", "--mode")
            rest = rest[2:] if takes else rest[1:]
        if rest and rest[0][0] == "--":
            rest = rest[1:]
        if name in ("chown", "chmod"):
            rest = rest[1:]
        found[name] += rest
    return found


DASH = shutil.which("dash")
SYNTAX: dict[str, str] = {}  # script -> dash's complaint ("" when it has none)


def dash_complaint(script: str) -> str:
    """What ``dash -n`` says about ``script`` ("" when it parses)."""
    if script not in SYNTAX:
        if DASH is None:
            raise RuntimeError("dash is needed to check the inserted RUN lines")
        done = subprocess.run(
            [DASH, "-n"], input=script.encode("utf-8", "surrogateescape"), capture_output=True
        )
        SYNTAX[script] = done.stderr.decode("utf-8", "replace").strip() if done.returncode else ""
    return SYNTAX[script]


def inserted_runs(source: str, output: str) -> list[str]:
    """The shell scripts of the RUN instructions fix added: the output's RUNs, in order, less
    the input's (a RUN fix closed at the end of the file reads the same)."""
    before = Counter(c.value[0] for c in parse_buildkit(source) if is_shell_run(c))
    added = []
    for command in parse_buildkit(output):
        if not is_shell_run(command):
            continue
        if before[command.value[0]]:
            before[command.value[0]] -= 1
        else:
            added.append(command.value[0])
    return added


def is_shell_run(command: Any) -> bool:
    return bool(command.cmd.upper() == "RUN" and not command.json and command.value)


# --------------------------------------------------------------------------- judging

BUILD_FAILS_KEYWORDS = frozenset(
    {"ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK"}
    | {"LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR"}
)
ROOT_CLAIMS = frozenset(
    {Verdict.ROOT, Verdict.NEEDS_ROOT, Verdict.ROOT_BY_DESIGN, Verdict.DROPS_PRIVILEGES}
)
DEFECTS = (
    "crash",
    "refused a file BuildKit builds",
    "output does not parse",
    "lost instructions",
    "lost lines",
    "non-idempotent",
    "compliant while root",
    "root verdict while not root",
    "unknown though decidable",
    "root after fix",
    "dash -n failure",
    "operand mismatch",
)


@dataclass
class Judgement:
    source: bytes
    skipped: str = ""  # BuildKit rejects the input (it does not parse, or cannot build)
    refused: str = ""  # fixuser's one-line reason, when it refused the input
    declined: str = ""  # FixRefused: what fix would not write, and why
    verdict: str = ""
    defects: dict[str, str] = field(default_factory=dict)  # category -> detail

    def add(self, category: str, detail: str) -> None:
        assert category in DEFECTS, category
        self.defects.setdefault(category, detail)


def buildkit_rejects(text: str) -> str:
    """Why BuildKit's parser, or the build right after it, rejects ``text`` ("" if not)."""
    try:
        commands = parse_buildkit(text)
    except Exception as e:  # the Go parser's error types
        return f"parse: {type(e).__name__}"
    keywords = [c.cmd.upper() for c in commands]
    if any(k not in BUILD_FAILS_KEYWORDS for k in keywords):
        return "unknown instruction"
    if "FROM" not in keywords or any(k != "ARG" for k in keywords[: keywords.index("FROM")]):
        return "no FROM first"
    return ""


def as_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")


def judge(source: bytes, settings: Settings | None = None) -> Judgement:
    settings = settings or Settings()
    judgement = Judgement(source)
    text = as_text(source)
    judgement.skipped = buildkit_rejects(text)
    if judgement.skipped:
        return judgement
    try:
        found = check(source, settings)
        judgement.verdict = str(found.verdict)
        result = fix(source, settings)
        again = fix(result.output, settings).output
    except FixRefused as e:
        # fix will not write something it cannot write safely (an earlier USER holding a
        # blank): said in one line, the file left as it is. The verdict still counts.
        judgement.declined = str(e)
        judge_user(judgement, found.verdict, found.user, text, None, False)
        return judgement
    except DockerfileError as e:
        judgement.refused = str(e)
        judgement.add("refused a file BuildKit builds", str(e))
        return judgement
    except Exception as e:  # any other exception is a crash
        judgement.add("crash", f"{type(e).__name__}: {e}")
        return judgement
    output = as_text(result.output)
    if again != result.output:
        judgement.add("non-idempotent", as_text(again))
    try:
        parse_buildkit(output)
    except Exception as e:
        judgement.add("output does not parse", f"{type(e).__name__}: {e}")
        return judgement
    lost = missing_instructions(CachedParser, text, output)
    if lost:
        judgement.add("lost instructions", repr(lost))
    lines = missing_lines(source, result.output)
    if lines:
        judgement.add("lost lines", repr(lines))
    judge_user(judgement, found.verdict, found.user, text, output, result.changed)
    if result.change is not None:
        judge_inserted(judgement, text, output, result.change.chowned)
    return judgement


def judge_user(
    judgement: Judgement,
    verdict: Verdict,
    said: str,
    text: str,
    output: str | None,
    changed: bool,
) -> None:
    """fixuser's verdict against the oracle's runtime user, before and after the fix (when
    there is an ``output``)."""
    before = runtime_user(text)
    detail = f"{verdict} ({said}); the oracle: {before}"
    if before.root is True and verdict is Verdict.COMPLIANT:
        judgement.add("compliant while root", detail)
    if before.root is False and verdict in ROOT_CLAIMS:
        judgement.add("root verdict while not root", detail)
    decided = before.user is not None and not before.influenced and not before.failure
    if verdict is Verdict.UNKNOWN and decided:
        judgement.add("unknown though decidable", detail)
    if verdict is Verdict.ROOT and not before.failure and output is not None:
        after = runtime_user(output)
        if not changed or after.root is not False:
            judgement.add("root after fix", f"{detail}; after the fix: {after}")


def judge_inserted(judgement: Judgement, text: str, output: str, chowned: Sequence[str]) -> None:
    """Every RUN fix added passes ``dash -n``, and its mkdir/chown/chmod operands are exactly
    the directories fix meant to make writable, each one word, literal."""
    intended = {p for p in chowned if p.startswith("/")}
    operands: dict[str, list[tuple[str, bool]]] = {"mkdir": [], "chown": []}
    for script in inserted_runs(text, output):
        complaint = dash_complaint(script)
        if complaint:
            judgement.add("dash -n failure", f"{complaint}: {script}")
            return
        for command, found in path_operands(script).items():
            operands.setdefault(command, []).extend(found)
    for command in ("mkdir", "chown"):
        words = {w for w, _ in operands[command]}
        unsafe = [w for w, literal in operands[command] if not literal]
        if unsafe or words != intended:
            judgement.add(
                "operand mismatch",
                f"{command} {sorted(words)} (not literal: {unsafe}); meant {sorted(intended)}",
            )
