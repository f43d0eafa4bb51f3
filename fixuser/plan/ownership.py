"""What the user must own: the directories the app writes (WORKDIRs, VOLUMEs, what RUN steps
make there or as state), and the COPY/ADD destinations that get --chown."""

from __future__ import annotations

import itertools
import posixpath
import re
from collections.abc import Callable, Mapping

from fixuser.analysis.analyze import Facts
from fixuser.analysis.runs import command, entry_words, safe_split
from fixuser.dockerfile.parse import Dockerfile, Instruction
from fixuser.dockerfile.stages import Stage, run_text
from fixuser.dockerfile.words import process_word, split_flags, substitute, volume_words
from fixuser.edits import Edit
from fixuser.knowledge.paths import is_app_location, is_state_dir, is_system, normalise, under
from fixuser.plan.user import Choice
from fixuser.quoting import flag_word
from fixuser.settings import Settings

MKDIR_RE = re.compile(command("mkdir") + r"\s+([^;&|\n]*)")


RM_RE = re.compile(command("rm") + r"\s+(?=[^;&|\n]*-\w*[rR])([^;&|\n]*)")


COMMAND_RE = {"mkdir": MKDIR_RE, "rm": RM_RE}


class Writable:
    __slots__ = ("deadline", "path")

    def __init__(self, path: str, deadline: int) -> None:
        self.path = path
        self.deadline = deadline  # index (in stage.instructions) to own it before, -1: any time


def command_paths(command: str, text: str, workdir: str, env: Mapping[str, str]) -> list[str]:
    """The path operands of each ``mkdir``/``rm`` in a RUN, resolved against the WORKDIR."""
    targets: list[str] = []
    if command not in text:
        return targets  # most RUNs make no directory: no regex, no shell-word split
    for match in COMMAND_RE[command].finditer(text.replace("\\\n", " ")):
        words = safe_split(match.group(1))
        skip = False
        for word in words:
            if skip:
                skip = False
                continue
            if word in ("-m", "--mode"):
                skip = True
                continue
            if word.startswith(("-", "~")):
                continue
            path = substitute(word, env)
            if not path or any(c in path for c in "{}*?$`()\"'<>~:\\"):
                continue
            targets.append(normalise(posixpath.join(workdir, path)))
    return targets


def writable_dirs(facts: Facts, settings: Settings) -> tuple[list[Writable], list[str]]:
    """Directories the app must be able to write, and its app directories (for --chown).

    The app's directories are its WORKDIRs and VOLUMEs; a directory a RUN step makes counts
    when it lies in one of them or outside the shared system roots (/opt/java, made by an
    install step, does not), and not when a later step removes it again (a build scratch dir).
    """
    env = facts.runtime.env
    found: dict[str, Writable] = {}
    app_dirs: list[str] = []
    runs: list[tuple[int, str, str]] = []  # (position, text, WORKDIR) of each RUN
    position = 0

    def add(path: str, deadline: int) -> None:
        if is_system(path):
            return
        if path not in found:
            found[path] = Writable(path, deadline)
        elif deadline >= 0 and (found[path].deadline < 0 or deadline < found[path].deadline):
            found[path].deadline = deadline

    stage = facts.runtime.stage
    for link in reversed(facts.runtime.chain):
        workdir = "/"
        for index, instruction in enumerate(link.instructions):
            position += 1
            if instruction.keyword == "WORKDIR":
                value = process_word(instruction.value, env, link.escape)
                if ":" in value or "\\" in value:  # a Windows path
                    continue
                workdir = normalise(posixpath.join(workdir, value))
                if not is_system(workdir):
                    app_dirs.append(workdir)
                    if settings.ownership == "app":
                        add(workdir, -1)
            elif instruction.keyword == "RUN":
                runs.append((position, run_text(instruction), workdir))
            elif instruction.keyword == "VOLUME":
                for path in volume_paths(instruction.value, env, facts.runtime.escape):
                    path = normalise(posixpath.join(workdir, path))
                    app_dirs.append(path)
                    if link is stage:
                        add(path, index)
    made = [(at, p, text) for at, text, cwd in runs for p in command_paths("mkdir", text, cwd, env)]
    removed = []  # what ``rm -r`` removes matters only when something was made
    if made:
        removed = [(at, p) for at, text, cwd in runs for p in command_paths("rm", text, cwd, env)]
    for at, path, text in made:
        if any(gone >= at and under(path, target) for gone, target in removed):
            continue
        if is_app_location(path, app_dirs):
            add(path, -1)
        elif is_state_dir(path) and not installs_into(text, path, env):
            add(path, -1)  # /var/lib/app, /opt/app, /home/app: where the app keeps its state
    return list(found.values()), app_dirs


def inherited_volumes(facts: Facts) -> list[tuple[str, Stage, Instruction]]:
    """The absolute VOLUME paths the stage inherits from the stages of this file it is built
    FROM, outside the system directories, each with its stage and VOLUME line."""
    found: list[tuple[str, Stage, Instruction]] = []
    for link in facts.runtime.chain[1:]:
        for instruction in link.of("VOLUME"):
            for path in volume_paths(instruction.value, facts.runtime.env, facts.runtime.escape):
                path = normalise(path)
                if path.startswith("/") and not is_system(path):
                    found.append((path, link, instruction))
    return found


INSTALL_TARGET_RE = re.compile(
    r"""(?:\s-C|\s-d|--directory[= ]|--prefix[= ]|--target[= ])\s*["']?(/[^\s"';&|]*)"""
)


def installs_into(text: str, path: str, env: Mapping[str, str]) -> bool:
    """The RUN that makes ``path`` unpacks or installs into it (``tar -C``, ``unzip -d``,
    ``--prefix``): an install tree, like /opt/java/openjdk, not where the app writes."""
    text = substitute(text, env) if "$" in text else text
    return any(normalise(target.rstrip("/")) == path for target in INSTALL_TARGET_RE.findall(text))


def volume_paths(value: str, env: Mapping[str, str], escape: str = "\\") -> list[str]:
    paths = volume_words(value, env, escape)
    return [p for p in paths if p and ":" not in p and "\\" not in p and not p.startswith("~")]


def chown_edits(
    stage: Stage,
    dockerfile: Dockerfile,
    choice: Choice,
    app_dirs: list[str],
    env: Mapping[str, str],
    start_workdir: str = "/",
    used_as_directory: Callable[[], frozenset[str]] = frozenset,
) -> tuple[list[Edit], list[str]]:
    edits, owned = [], []
    owner = flag_word(choice.owner, dockerfile.escape)  # BuildKit expands --chown=
    workdir = start_workdir  # a WORKDIR the stage inherits from the stage it is built FROM
    for instruction in stage.instructions:
        if instruction.keyword == "WORKDIR":
            value = process_word(instruction.value, env, stage.escape)
            workdir = normalise(posixpath.join(workdir, value))
        if instruction.keyword not in ("COPY", "ADD"):
            continue
        flags, words = split_flags(instruction.value)
        if "chown" in flags or len(words) < 2:
            continue
        raw = substitute(words[-1], env)
        dest = normalise(posixpath.join(workdir, raw))
        if not is_app_location(dest, app_dirs):
            continue
        if (
            posixpath.dirname(dest) == "/"
            and not raw.endswith("/")
            and dest not in app_dirs
            and dest not in used_as_directory()  # worked out only for such a COPY
        ):
            # /entrypoint.sh, /server: most likely a file at the top of the tree, and an app
            # that can rewrite its own entrypoint is worse off; / is no app directory.
            continue
        line = dockerfile.lines[instruction.start]
        indent = len(line) - len(line.lstrip())
        cut = indent + len(instruction.written)
        edits.append(
            Edit(
                instruction.start,
                instruction.start + 1,
                0,
                f"{line[:cut]} --chown={owner}{line[cut:]}",
            )
        )
        owned.append(
            f"line {instruction.lineno}: {instruction.written} {words[-1]} --chown={choice.owner}"
        )
    return edits, owned


CLASSPATH_FLAGS = frozenset({"-cp", "-classpath", "--classpath", "--class-path"})


def directories_named(facts: Facts) -> frozenset[str]:
    """Top-level paths the stage uses as directories: a path below them in ENTRYPOINT/CMD, a
    WORKDIR or a COPY destination (``/app/bin/run``), or a class path (``java -cp /app``).
    ``COPY classes /app`` then copies a directory, not a file such as ``/server``."""
    words, _ = entry_words(facts.runtime)
    paths = [substitute(w, facts.runtime.env) for w in words]
    named = {
        value
        for flag, value in itertools.pairwise(paths)
        if flag in CLASSPATH_FLAGS and value.startswith("/")
    }
    for link in facts.runtime.chain:
        for instruction in link.instructions:
            if instruction.keyword == "WORKDIR":
                paths.append(process_word(instruction.value, facts.runtime.env, link.escape))
            elif instruction.keyword in ("COPY", "ADD"):
                words = split_flags(instruction.value)[1]
                if words:
                    paths.append(substitute(words[-1], facts.runtime.env))
    for path in paths:
        for part in path.split(":"):  # -cp /app/lib:/app/classes
            if part.startswith("/") and part.count("/") >= 2:
                named.add("/" + part.split("/")[1])
    return frozenset(normalise(p) for p in named)
