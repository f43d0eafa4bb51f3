"""docker-bake files, HCL or JSON: the Dockerfile, context and stage of each target that
builds, with what it inherits and the defaults of the variables it names.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from fixuser.project import hcl
from fixuser.project.model import BaseTarget, Found
from fixuser.project.paths import is_remote, join
from fixuser.project.yaml import entries, get, line_of, load_yaml, scalar, scalars

# A context of another target: ``contexts = { base = "target:base" }``.
TARGET_CONTEXT_RE = re.compile(r"""["']target:([A-Za-z0-9_.-]+)["']""")

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


def parse_bake_hcl(text: str) -> Bake:
    blocks, problems = hcl.parse(text)
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


def read_bake_hcl(path: str, text: str, found: Found) -> None:
    bake = parse_bake_hcl(text)
    for line, problem in bake.problems:
        found.note(path, line, problem)
    bake_targets(path, bake, found)
    base_targets(path, text, found)


def base_targets(path: str, text: str, found: Found) -> None:
    """The targets others build FROM (``target:NAME`` contexts): base images."""
    for match in TARGET_CONTEXT_RE.finditer(text):
        line = text.count("\n", 0, match.start()) + 1
        found.base_targets.append(BaseTarget(match.group(1), path, line))


def read_bake_json(path: str, text: str, found: Found) -> None:
    """A bake JSON file, read as YAML (JSON is YAML 1.2) for its line numbers."""
    targets: dict[str, BakeTarget] = {}
    groups: set[str] = set()
    variables: dict[str, str] = {}
    for document in load_yaml(path, text, found, "JSON"):
        for name, (key, block) in entries(get(document, "target")).items():
            attributes: Attributes = {
                attr: (value, line_of(node))
                for attr, (_, node) in entries(block).items()
                if (value := scalar(node)) is not None
            }
            inherits = tuple(scalars(get(block, "inherits")))
            targets[name] = BakeTarget(name, line_of(key), attributes, inherits)
        for _, (_, group) in entries(get(document, "group")).items():
            groups.update(scalars(get(group, "targets")))
        for name, (_, variable) in entries(get(document, "variable")).items():
            default = scalar(get(variable, "default"))
            if default is not None:
                variables[name] = default
    bake_targets(path, Bake(targets, groups, variables, ()), found)
    base_targets(path, text, found)


def bake_targets(path: str, bake: Bake, found: Found) -> None:
    """Each target that builds: a target others inherit from is a template unless a group
    names it. ``context`` is relative to the bake file's directory, ``dockerfile`` to the
    context (as bake resolves it)."""
    base = posixpath.dirname(path)
    parents = {parent for target in bake.targets.values() for parent in target.inherits}
    for name, target in bake.targets.items():
        if name in parents and name not in bake.groups:
            continue
        attributes = bake.effective(name)
        if "dockerfile-inline" in attributes:
            continue
        via = f"bake target {name}"
        values: dict[str, str | None] = {}
        for attr, default in (("context", "."), ("dockerfile", "Dockerfile"), ("target", "")):
            raw = attributes.get(attr, (default, target.line))[0]
            values[attr] = bake.interpolate(raw)
        stage_line = attributes.get("target", ("", target.line))[1]
        context, dockerfile, stage = values["context"], values["dockerfile"], values["target"]
        if context is None or dockerfile is None or stage is None:
            found.note(path, stage_line, f"{via}: an expression fixuser cannot evaluate, skipped")
            continue
        if is_remote(context) or context.startswith("target:"):
            continue
        context_dir = join(base, context)
        resolved = join(context_dir, dockerfile) if context_dir is not None else None
        if resolved is None:
            found.note(path, stage_line, f"{via} builds outside the repository, skipped")
            continue
        found.build(resolved, stage or None, path, stage_line, via)
