"""Program knowledge: the [[needs_root]] and [[drops_by_flag]] tables of programs.toml, each rule
with the literals (needles) that let a search skip its regex."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

from fixuser.knowledge import tables
from fixuser.knowledge.images import as_tuple

PROGRAM_TABLES = ("needs_root", "drops_by_flag")


class LazyPattern:
    """A regex compiled the first time it is used. A rule's regex runs only once one of its
    needles is in the text, which for most rules never happens over a whole fleet: compiling
    every rule's at the first lookup cost ~6 ms of each check's start."""

    __slots__ = ("_compiled", "flags", "source")

    def __init__(self, source: str, flags: int = 0) -> None:
        self.source = source
        self.flags = flags
        self._compiled: re.Pattern[str] | None = None

    @property
    def compiled(self) -> re.Pattern[str]:
        if self._compiled is None:
            self._compiled = re.compile(self.source, self.flags)
        return self._compiled

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.search(text, pos)

    def match(self, text: str, pos: int = 0) -> re.Match[str] | None:
        return self.compiled.match(text, pos)

    def finditer(self, text: str, pos: int = 0) -> Iterator[re.Match[str]]:
        return self.compiled.finditer(text, pos)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, LazyPattern):
            return NotImplemented
        return (self.source, self.flags) == (other.source, other.flags)

    def __hash__(self) -> int:
        return hash((self.source, self.flags))

    def __repr__(self) -> str:
        return f"LazyPattern({self.source!r}, {self.flags})"


class ProgramRule(NamedTuple):
    """One [[needs_root]] or [[drops_by_flag]] entry of programs.toml."""

    program: str
    pattern: LazyPattern  # over the ENTRYPOINT/CMD text and entrypoint scripts' text
    needles: tuple[str, ...]  # literals every match contains: no regex runs without one
    where: frozenset[str]  # "command" (ENTRYPOINT/CMD), "script" (an entrypoint script)
    reason: str
    remedy: str
    flag: LazyPattern | None  # drops_by_flag: after the match, the flag naming the user
    config: tuple[str, ...]  # drops_by_flag: config files (basename globs) that may set it
    setting: LazyPattern | None  # ... and the line of one that does
    by_default: bool  # drops_by_flag: drops privileges with no flag and no setting at all


@functools.cache
def program_rules(kind: str) -> tuple[ProgramRule, ...]:
    rules = []
    for raw in tables.load("programs").get(kind, []):
        setting, flag = raw.get("setting"), raw.get("flag")
        rules.append(
            ProgramRule(
                program=raw["program"],
                pattern=LazyPattern(raw["match"], re.MULTILINE),
                needles=as_tuple(raw.get("needles", raw["program"])),
                where=frozenset(as_tuple(raw.get("in", ["command", "script"]))),
                reason=raw.get("reason", ""),
                remedy=raw.get("remedy", ""),
                # the flag anywhere further on the same command line
                flag=LazyPattern(rf"[^\n;&|]*?\s(?P<flag>{flag})") if flag else None,
                config=as_tuple(raw.get("config")),
                setting=LazyPattern(setting, re.MULTILINE) if setting else None,
                by_default=raw.get("by_default", False),
            )
        )
    return tuple(rules)


@functools.cache
def program_needles(kind: str) -> tuple[re.Pattern[str], dict[str, frozenset[int]]]:
    """One regex that finds every needle of the table's rules, and each needle -> the rules
    (by index) it lets through. Where two needles start at one place the regex reports the
    longer, so each needle also lets through the rules of every needle it contains."""
    rules = program_rules(kind)
    needles = sorted({n for rule in rules for n in rule.needles}, key=len, reverse=True)
    owners = {n: frozenset(i for i, r in enumerate(rules) if n in r.needles) for n in needles}
    implied = {n: frozenset().union(*(owners[m] for m in needles if m in n)) for n in needles}
    return re.compile("|".join(re.escape(n) for n in needles)), implied


@functools.cache
def hidden_needles(kind: str) -> dict[str, tuple[str, ...]]:
    """Each needle -> the needles that may start inside a match of it (a suffix of one is a
    prefix of the other: "memcached", "dnsmasq"), which finditer then steps over."""
    needles = {n for rule in program_rules(kind) for n in rule.needles}
    return {
        a: tuple(
            b
            for b in sorted(needles)
            if b != a and any(a.endswith(b[:k]) for k in range(1, min(len(a), len(b))))
        )
        for a in needles
    }
