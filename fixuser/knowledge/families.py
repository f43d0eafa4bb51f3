"""Family knowledge: the [family.*] tables and the [[package_manager]] list of families.toml.

What a distro family means for a fix: the template of its user block, whether it has a shell
(and a POSIX one), how --lock-users locks an account, which tools the entrypoint wrapper drops
privileges with, and which package managers' RUN steps prove it. A family the table does not
name gets its [default] table."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any, NamedTuple

from fixuser.knowledge import tables


class Family(NamedTuple):
    """One [family.NAME] table of families.toml, over its [default]."""

    name: str
    template: str  # templates/<template>: the user block
    shell: bool  # any shell at all (false: distroless, scratch)
    posix_shell: bool  # a /bin/sh for fixuser's RUN blocks: false means no user block, no RUN
    usermod: bool  # shadow's usermod (--lock-users changes shells with it)
    nologin: tuple[str, ...]  # --lock-users' no-login shells, in the order it looks for them
    drop_tools: tuple[str, ...]  # the wrapper's privilege-drop tools, in the order it tries them
    kindred: frozenset[str]  # families whose package tools its images may run too
    package_managers: tuple[str, ...]  # the tools of the [[package_manager]]s that prove it


class PackageManager(NamedTuple):
    """One [[package_manager]] of families.toml: a RUN step's evidence of its family."""

    commands: tuple[str, ...]  # the command words
    then: str  # a regex the command word must be followed by
    family: str
    tool: str  # how the evidence names it
    needles: tuple[str, ...]  # literals every match contains


@functools.cache
def package_managers() -> tuple[PackageManager, ...]:
    """The [[package_manager]] list, in the table's order: the order detection searches in."""
    return tuple(
        PackageManager(
            commands=tuple(raw["commands"]),
            then=raw["then"],
            family=raw["family"],
            tool=raw["tool"],
            needles=tuple(raw["needles"]),
        )
        for raw in tables.load("families").get("package_manager", [])
    )


def build(name: str, raw: Mapping[str, Any]) -> Family:
    """The family ``name`` from its table ``raw`` over [default]."""
    data = {**tables.load("families")["default"], **raw}
    return Family(
        name=name,
        template=data["template"],
        shell=data["shell"],
        posix_shell=data["posix_shell"],
        usermod=data["usermod"],
        nologin=tuple(data["nologin"]),
        drop_tools=tuple(data["drop_tools"]),
        kindred=frozenset(data["kindred"]),
        package_managers=tuple(m.tool for m in package_managers() if m.family == name),
    )


@functools.cache
def families() -> Mapping[str, Family]:
    """Every family the table names, in its order."""
    return {name: build(name, raw) for name, raw in tables.load("families")["family"].items()}


@functools.cache
def family(name: str) -> Family:
    """The family ``name``: its table, or [default] for a name the table does not hold."""
    return families().get(name) or build(name, {})


@functools.cache
def without_shell() -> frozenset[str]:
    """The families with no shell at all (distroless, scratch)."""
    return frozenset(name for name, f in families().items() if not f.shell)
