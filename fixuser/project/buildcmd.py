"""Build commands in shell lines: what each one builds.

``docker build -f X --target Y CONTEXT`` and its kin (``docker buildx build``, ``podman
build``, ``buildah bud``, ``nerdctl build``, kaniko's ``executor``) as Makefiles, justfiles and
CI scripts write them, with ``cd`` followed. Pure: paths are resolved as strings relative to
the repository root; whether a file exists is asked of the caller.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import NamedTuple

from fixuser.project.model import Found, Run, Tag
from fixuser.project.paths import is_remote, join, resolve
from fixuser.project.runcmd import RunOf, image_name, run_arguments

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
    tags: tuple[str, ...] = ()  # its -t names, without tag or digest
    exports: bool = False  # --output type=local|tar (or a path): files out, no image to run


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
    """A cheap test before any splitting: most lines of a script build (or run) nothing."""
    return (
        "build" in command or "bud" in command or "executor" in command or "run" in command
    ) and (any(engine in command for engine in ENGINES) or "kaniko" in command)


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
) -> Iterator[Build | Chdir | Unresolved | RunOf]:
    """What one shell line does that matters here: each ``cd``, each build, each run of an
    image with the checkout mounted."""
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
            continue
        ran = run_arguments(words)
        if ran is not None:
            yield ran


class Arguments(NamedTuple):
    engine: str
    file: str | None
    target: str | None
    context: str | None
    tags: tuple[str, ...] = ()
    exports: bool = False


def exports_files(output: str) -> bool:
    """``--output``/``-o`` writes the build's files out (``type=local``, ``type=tar`` or a
    bare destination: BuildKit's shorthand for local), not an image anyone runs."""
    fields = dict(field.partition("=")[::2] for field in output.split(",") if "=" in field)
    kind = fields.get("type")
    if kind is None:
        return output not in ("", "-") and "=" not in output  # ``-o dist``: local
    return kind in ("local", "tar")


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
    exports = False
    tags: list[str] = []
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
        elif name in ("--output", "-o") and engine != "kaniko":
            exports = exports or exports_files(value)
        elif name in ("-t", "--tag") and value and "$" not in value:
            tags.append(image_name(value))
        elif engine == "kaniko" and name in CONTEXT_FLAGS:
            context = value.removeprefix("dir://")
    if engine != "kaniko" and positional:
        context = positional[0]
    return Arguments(engine, file, target, context, tuple(tags), exports)


def locate(
    arguments: Arguments, cwd: str | None, exists: Callable[[str], bool] | None
) -> Build | Unresolved:
    """The Dockerfile a build reads, relative to the repository root. docker reads ``-f``
    from the current directory; podman, buildah and kaniko from there when it exists there,
    else from the context."""
    engine, file, target, context, tags, exports = arguments
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
        return Build(engine, here, target or None, tags, exports)
    name = "Dockerfile"
    containerfile = posixpath.join(context_dir, "Containerfile")
    if engine in CONTEXT_RELATIVE and exists is not None and exists(containerfile):
        name = "Containerfile"
    dockerfile = posixpath.normpath(posixpath.join(context_dir, name))
    return Build(engine, dockerfile, target or None, tags, exports)


def scan_commands(
    path: str,
    lines: Sequence[tuple[int, str]],
    cwd: str | None,
    found: Found,
    env: Mapping[str, str],
    persist: bool = True,
    builds: bool = True,
) -> None:
    """Each build command in shell ``lines`` (continuations joined), the current directory
    followed through ``cd`` (within a line only, unless ``persist``: one shell for all), and
    each run of an image with the checkout mounted. ``builds``: False for a script, whose
    builds only name images (its tags); what it builds ships by what else builds it."""
    start = cwd
    for number, command in logical_lines(lines):
        if not persist:
            cwd = start
        if not may_build(command) and "cd" not in command:
            continue
        for outcome in commands(command, cwd, env, found.exists):
            if isinstance(outcome, Chdir):
                cwd = outcome.directory
            elif isinstance(outcome, RunOf):
                found.runs.append(Run(outcome.image, path, number, outcome.mount))
            elif isinstance(outcome, Unresolved):
                if builds:
                    found.note(path, number, f"{outcome.engine} build: {outcome.reason}, skipped")
            else:
                found.tags += [Tag(t, outcome.dockerfile, path, number) for t in outcome.tags]
                if builds and not outcome.exports:  # an export ships files, not a container
                    found.build(
                        outcome.dockerfile, outcome.target, path, number, f"{outcome.engine} build"
                    )
