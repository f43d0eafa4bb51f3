"""Makefiles and justfiles: the build commands of their recipes, after each tool expands its
own variables. Each recipe line is its own shell, in the file's directory.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping

from fixuser.project.buildcmd import logical_lines, scan_commands
from fixuser.project.model import Found

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


MAKE_ASSIGN_RE = re.compile(
    r"(?:export\s+|override\s+)?([A-Za-z_][A-Za-z0-9_.-]*)\s*(::?=|:::=|\?=|\+=|!=|=)\s*(.*)\Z"
)


def read_makefile(path: str, text: str, found: Found) -> None:
    """Recipe lines (a tab first), each its own shell in the Makefile's directory, after make
    expands its own variables (plain assignments; ``$(shell ...)`` and the like stay unknown)."""
    variables: dict[str, str] = {}
    recipe: list[tuple[int, str]] = []
    for number, line in logical_lines(list(enumerate(text.split("\n"), 1))):
        if line.startswith("\t"):
            recipe.append((number, line.lstrip("\t").lstrip("@-+ ")))
            continue
        match = MAKE_ASSIGN_RE.match(line.strip())
        if match and not line.startswith((" ", "#")):
            name, op, value = match.groups()
            value = value.split(" #", 1)[0].strip()
            if op == "?=":
                variables.setdefault(name, value)
            elif op == "+=":
                variables[name] = f"{variables.get(name, '')} {value}".strip()
            elif op != "!=":
                variables[name] = value
    expanded = [(n, make_expand(line, variables)) for n, line in recipe]
    scan_commands(path, expanded, posixpath.dirname(path), found, {}, persist=False)


JUST_ASSIGN_RE = re.compile(r"(?:export\s+)?([A-Za-z_][\w-]*)\s*:=\s*(\"[^\"]*\"|'[^']*')\s*\Z")
JUST_INTERPOLATION_RE = re.compile(r"\{\{\s*([A-Za-z_][\w-]*)\s*\}\}")


def read_justfile(path: str, text: str, found: Found) -> None:
    """Recipe lines (indented), each its own shell in the justfile's directory; ``{{name}}``
    from the file's own ``name := "value"`` assignments."""
    variables: dict[str, str] = {}
    recipe: list[tuple[int, str]] = []
    for number, line in enumerate(text.split("\n"), 1):
        if line[:1] in (" ", "\t"):
            recipe.append((number, line.strip().lstrip("@-")))
            continue
        match = JUST_ASSIGN_RE.match(line.strip())
        if match:
            variables[match.group(1)] = match.group(2)[1:-1]

    def known(match: re.Match[str]) -> str:
        return variables.get(match.group(1), match.group())

    expanded = [(n, JUST_INTERPOLATION_RE.sub(known, line)) for n, line in recipe]
    scan_commands(path, expanded, posixpath.dirname(path), found, {}, persist=False)


def read_script(path: str, text: str, found: Found) -> None:
    """A shell script (``*.sh``), run from the repository root as a rule (``./scripts/gen.sh``):
    the images it tags and runs with the checkout mounted (fixuser.project.runcmd). What it
    builds is not a builder of its own: a script may never run in CI."""
    if "run" not in text and "build" not in text:
        return
    lines = list(enumerate(text.split("\n"), 1))
    scan_commands(path, lines, "", found, {}, persist=True, builds=False)
