"""Build commands in shell lines, and docker-bake HCL files: what each one builds.

``docker build -f X --target Y CONTEXT`` and its kin (``docker buildx build``, ``podman
build``, ``buildah bud``, ``nerdctl build``, kaniko's ``executor``) as Makefiles, justfiles and
CI scripts write them; and the ``target "x" { key = "value" }`` shape of a bake file, read by
a small tolerant tokenizer (strings, comments, heredocs, blocks) rather than an HCL library:
that shape is all bake targets need, and every line number comes for free. Pure: paths are
resolved as strings relative to the repository root; whether a file exists is asked of the
caller.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from fixuser.project.paths import is_remote, join, resolve

# --- shell lines -------------------------------------------------------------------------

ENGINES = frozenset({"docker", "podman", "buildah", "nerdctl"})
# Each engine's build sub-commands, after its global flags.
SUBCOMMANDS: Mapping[str, tuple[tuple[str, ...], ...]] = {
    "docker": (
        ("build",),
        ("image", "build"),
        ("buildx", "build"),
        ("buildx", "b"),
        ("builder", "build"),
    ),
    "podman": (("build",), ("image", "build"), ("buildx", "build")),
    "buildah": (("bud",), ("build",), ("build-using-dockerfile",)),
    "nerdctl": (("build",), ("image", "build"), ("builder", "build")),
}
# Engines that look for -f beside the current directory, then in the context, and whose
# default file is Containerfile before Dockerfile.
CONTEXT_RELATIVE = frozenset({"podman", "buildah", "kaniko"})
GLOBAL_VALUE_FLAGS = frozenset(
    {"-H", "--host", "--context", "-c", "--config", "--log-level", "-l", "--url",
     "--connection", "--root", "--runroot", "--storage-driver", "--namespace", "-n",
     "--address", "-a", "--identity", "--registries-conf"}
)  # fmt: skip
# Build flags that take a value as the next word (unless written --flag=value).
LONG_VALUE_FLAGS = frozenset(
    {"--file", "--target", "--tag", "--build-arg", "--build-arg-file", "--build-context",
     "--label", "--platform", "--cache-from", "--cache-to", "--secret", "--ssh", "--output",
     "--network", "--iidfile", "--progress", "--add-host", "--allow", "--annotation",
     "--attest", "--builder", "--call", "--cgroup-parent", "--metadata-file",
     "--no-cache-filter", "--shm-size", "--ulimit", "--cpu-period", "--cpu-quota",
     "--cpu-shares", "--cpuset-cpus", "--cpuset-mems", "--isolation", "--memory",
     "--memory-swap", "--security-opt", "--arch", "--authfile", "--cap-add", "--cap-drop",
     "--cert-dir", "--cgroupns", "--cpp-flag", "--creds", "--decryption-key", "--device",
     "--dns", "--dns-option", "--dns-search", "--env", "--format", "--from", "--hooks-dir",
     "--ignorefile", "--ipc", "--jobs", "--layer-label", "--logfile", "--manifest", "--os",
     "--os-feature", "--os-version", "--pid", "--retry", "--retry-delay", "--runtime",
     "--runtime-flag", "--sign-by", "--signature-policy", "--timestamp", "--unsetenv",
     "--unsetlabel", "--userns", "--userns-uid-map", "--userns-gid-map",
     "--userns-uid-map-user", "--userns-gid-map-group", "--uts", "--variant", "--volume",
     "--group-add", "--source-date-epoch", "--cw", "--cache-ttl", "--iidfile-raw",
     # kaniko
     "--context", "--dockerfile", "--destination", "--cache-repo", "--cache-dir",
     "--tar-path", "--digest-file", "--image-name-with-digest-file", "--verbosity",
     "--snapshot-mode", "--custom-platform", "--registry-mirror", "--insecure-registry",
     "--skip-tls-verify-registry", "--kaniko-dir", "--ignore-path", "--git",
     "--registry-certificate", "--registry-map", "--log-format", "--oci-layout-path",
     "--compression", "--compression-level", "--image-fs-extract-retry", "--push-retry"}
)  # fmt: skip
SHORT_VALUE_FLAGS = frozenset({"-f", "-t", "-o", "-m", "-c", "-v", "-d"})
FILE_FLAGS = frozenset({"--file", "-f", "--dockerfile"})
CONTEXT_FLAGS = frozenset({"--context", "-c"})  # kaniko's
WRAPPERS = frozenset({"sudo", "env", "time", "exec", "command", "nohup", "nice", "doas"})
ASSIGNMENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*=")
OPERATORS = frozenset(";&|")
ENV_REF_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
UNRESOLVED_MARKS = ("$", "`", "{{")


class Build(NamedTuple):
    engine: str
    dockerfile: str  # relative to the repository root
    target: str | None


class Chdir(NamedTuple):
    directory: str | None  # None: somewhere fixuser cannot follow


class Unresolved(NamedTuple):
    engine: str
    reason: str


def logical_lines(lines: Sequence[tuple[int, str]]) -> Iterator[tuple[int, str]]:
    """Lines with backslash continuations joined, each numbered by its first line."""
    first, held = 0, ""
    for number, line in lines:
        if not held:
            first = number
        stripped = line.rstrip("\r")
        if stripped.endswith("\\") and not stripped.endswith("\\\\"):
            held += stripped[:-1] + " "
            continue
        yield first, held + stripped
        held = ""
    if held:
        yield first, held


def may_build(command: str) -> bool:
    """A cheap test before any splitting: most lines of a script build nothing."""
    return ("build" in command or "bud" in command or "executor" in command) and (
        any(engine in command for engine in ENGINES) or "kaniko" in command
    )


def words_of(command: str) -> list[str]:
    lexer = shlex.shlex(command, posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    try:
        return list(lexer)
    except ValueError:  # an unclosed quote: words as they come
        return command.split()


def simple_commands(words: list[str]) -> Iterator[list[str]]:
    current: list[str] = []
    for word in words:
        if word and set(word) <= OPERATORS:
            if current:
                yield current
            current = []
        else:
            current.append(word)
    if current:
        yield current


def strip_prefix(words: list[str]) -> list[str]:
    """The command without leading ``VAR=value`` assignments and wrappers (sudo, env, time)."""
    index = 0
    while index < len(words):
        word = words[index]
        if ASSIGNMENT_RE.match(word):
            index += 1
        elif word in WRAPPERS:
            index += 1
            while index < len(words) and words[index].startswith("-"):
                index += 2 if words[index] in ("-u", "-g", "-n") else 1
        else:
            break
    return words[index:]


def commands(
    command: str,
    cwd: str | None,
    env: Mapping[str, str],
    exists: Callable[[str], bool] | None = None,
) -> Iterator[Build | Chdir | Unresolved]:
    """What one shell line does that matters here: each ``cd`` and each build."""
    if env and "$" in command:

        def known(match: re.Match[str]) -> str:
            return env.get(match.group(1) or match.group(2), match.group())

        command = ENV_REF_RE.sub(known, command)
    for words in simple_commands(words_of(command)):
        words = strip_prefix(words)
        if not words:
            continue
        if words[0] == "cd":
            target = words[1] if len(words) > 1 else None
            if target is None or target in ("-", "~") or any(m in target for m in UNRESOLVED_MARKS):
                cwd = None
            else:
                cwd = resolve(cwd, target)
            yield Chdir(cwd)
            continue
        parsed = build_arguments(words)
        if parsed is not None:
            yield locate(parsed, cwd, exists)


class Arguments(NamedTuple):
    engine: str
    file: str | None
    target: str | None
    context: str | None


def build_arguments(words: list[str]) -> Arguments | None:
    """The ``-f``, ``--target`` and context of a build command, None for any other command."""
    program = posixpath.basename(words[0])
    if program == "executor" and "kaniko" in words[0]:
        engine, rest = "kaniko", words[1:]
    elif program in ENGINES:
        engine = program
        index = 1
        while index < len(words) and words[index].startswith("-"):
            flag = words[index]
            index += 2 if flag in GLOBAL_VALUE_FLAGS else 1
        for subcommand in SUBCOMMANDS[engine]:
            if tuple(words[index : index + len(subcommand)]) == subcommand:
                rest = words[index + len(subcommand) :]
                break
        else:
            return None
    else:
        return None
    file = target = context = None
    positional: list[str] = []
    index = 0
    while index < len(rest):
        word = rest[index]
        index += 1
        if word == "--":
            positional += rest[index:]
            break
        if word[:1] in ("<", ">") or word[:2] in ("1>", "2>", "&>"):
            if word.rstrip("<>&12") == "":
                index += 1  # the redirection's file is the next word
            continue
        if word.startswith("--"):
            name, equals, value = word.partition("=")
            if not equals and name in LONG_VALUE_FLAGS:
                value = rest[index] if index < len(rest) else ""
                index += 1
        elif word.startswith("-") and len(word) > 1:
            name, value = word[:2], word[2:]
            if name not in SHORT_VALUE_FLAGS:
                continue
            if not value:
                value = rest[index] if index < len(rest) else ""
                index += 1
            value = value.removeprefix("=")
        else:
            positional.append(word)
            continue
        if name in FILE_FLAGS:
            file = value
        elif name == "--target":
            target = value
        elif engine == "kaniko" and name in CONTEXT_FLAGS:
            context = value.removeprefix("dir://")
    if engine != "kaniko" and positional:
        context = positional[0]
    return Arguments(engine, file, target, context)


def locate(
    arguments: Arguments, cwd: str | None, exists: Callable[[str], bool] | None
) -> Build | Unresolved:
    """The Dockerfile a build reads, relative to the repository root. docker reads ``-f``
    from the current directory; podman, buildah and kaniko from there when it exists there,
    else from the context."""
    engine, file, target, context = arguments
    if context is None and engine in ("podman", "buildah"):
        context = posixpath.dirname(file) or "." if file else "."
    if context is None:
        return Unresolved(engine, "no build context")
    if context == "-" or file == "-":
        return Unresolved(engine, "the Dockerfile comes from standard input")
    if is_remote(context):
        return Unresolved(engine, "a remote build context")
    for value in (file, target, context):
        if value is not None and any(mark in value for mark in UNRESOLVED_MARKS):
            return Unresolved(engine, f"cannot resolve {value!r}")
    context_dir = resolve(cwd, context)
    if context_dir is None:
        return Unresolved(
            engine,
            "the current directory is not known" if cwd is None else "outside the repository",
        )
    if file:
        here = resolve(cwd, file)
        there = join(context_dir, file)
        found_here = here is not None and (exists is None or exists(here))
        if engine in CONTEXT_RELATIVE and not found_here and there and exists and exists(there):
            here = there
        if here is None:
            return Unresolved(engine, f"{file} is outside the repository")
        return Build(engine, here, target or None)
    name = "Dockerfile"
    containerfile = posixpath.join(context_dir, "Containerfile")
    if engine in CONTEXT_RELATIVE and exists is not None and exists(containerfile):
        name = "Containerfile"
    return Build(engine, posixpath.normpath(posixpath.join(context_dir, name)), target or None)


MAKE_REF_RE = re.compile(r"\$\$|\$\(([A-Za-z_][\w.-]*)\)|\$\{([A-Za-z_][\w.-]*)\}")


def make_expand(text: str, variables: Mapping[str, str], depth: int = 0) -> str:
    """make's ``$(NAME)``/``${NAME}`` from plain assignments; the rest is left as written
    (so it stays unresolved), ``$$`` is the shell's ``$``."""
    if "$" not in text or depth > 10:
        return text

    def repl(match: re.Match[str]) -> str:
        if match.group() == "$$":
            return "$$"
        name = match.group(1) or match.group(2)
        if name in variables:
            return make_expand(variables[name], variables, depth + 1)
        return match.group()

    expanded = MAKE_REF_RE.sub(repl, text)
    return expanded.replace("$$", "$") if depth == 0 else expanded


# --- docker-bake.hcl ---------------------------------------------------------------------


# A target's attributes: name -> (value, or None when not a plain string; its line).
Attributes = dict[str, tuple[str | None, int]]


class BakeTarget(NamedTuple):
    name: str
    line: int
    attributes: Attributes
    inherits: tuple[str, ...]


class Bake(NamedTuple):
    targets: dict[str, BakeTarget]
    groups: set[str]  # every target some group names
    variables: dict[str, str]  # variables' defaults
    problems: tuple[tuple[int, str], ...]

    def effective(
        self, name: str, seen: frozenset[str] = frozenset()
    ) -> dict[str, tuple[str | None, int]]:
        """A target's attributes with those it inherits (later parents, then its own, win)."""
        target = self.targets.get(name)
        if target is None or name in seen:
            return {}
        result: Attributes = {}
        for parent in target.inherits:
            result.update(self.effective(parent, seen | {name}))
        result.update(target.attributes)
        return result

    def interpolate(self, text: str | None) -> str | None:
        """``${NAME}`` from variables' defaults; None for any other expression."""
        if text is None:
            return None
        if "${" not in text:
            return text
        unknown = False

        def repl(match: re.Match[str]) -> str:
            nonlocal unknown
            if match.group() == "$${":
                return "${"
            name = match.group(1)
            if name in self.variables:
                return self.variables[name]
            unknown = True
            return ""

        result = re.sub(r"\$\$\{|\$\{\s*([A-Za-z_][\w-]*)\s*\}|\$\{[^}]*\}", repl, text)
        return None if unknown else result


class Token(NamedTuple):
    kind: (
        str  # "ident", "string" (a literal), "template" (a string with ${...}), "punct", "newline"
    )
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


def parse_bake_hcl(text: str) -> Bake:
    problems: list[tuple[int, str]] = []
    blocks, _ = HclParser(tokens(text, problems)).body(False)
    targets: dict[str, BakeTarget] = {}
    groups: set[str] = set()
    variables: dict[str, str] = {}
    for block in blocks:
        if not block.labels:
            continue
        name = block.labels[0]
        if block.kind == "target":
            attributes = {
                key: (value if isinstance(value, str) else None, attribute.line)
                for key, attribute in block.attributes.items()
                if not isinstance(value := attribute.value, list)
            }
            inherits = block.attributes.get("inherits")
            parents = inherits.value if inherits and isinstance(inherits.value, list) else []
            targets[name] = BakeTarget(name, block.line, attributes, tuple(parents))
        elif block.kind == "group":
            members = block.attributes.get("targets")
            if members and isinstance(members.value, list):
                groups.update(members.value)
        elif block.kind == "variable":
            default = block.attributes.get("default")
            if default and isinstance(default.value, str) and not default.templated:
                variables[name] = default.value
    return Bake(targets, groups, variables, tuple(problems))
