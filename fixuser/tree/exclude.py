"""``--exclude GLOB`` and ``exclude = [...]``: the paths a team keeps out of every run.

A pattern is matched, as a line of a ``.gitignore`` is, against a Dockerfile's path relative to
its repository's root (``/``-separated), and against each directory above it:

- ``*`` matches any characters but ``/``, ``?`` one of them, ``[abc]`` / ``[!abc]`` a class;
- ``**`` matches across directories: ``**/ci/Dockerfile``, ``legacy/**``, ``a/**/b``;
- a pattern without a ``/`` (but a trailing one) matches a name at any depth
  (``Dockerfile.dev``, ``e2e``); with one it is anchored at the root (a leading ``/`` is
  allowed: ``/Dockerfile`` is the root's only);
- a trailing ``/`` matches directories only; a directory that matches excludes all below it.

Negation (``!pattern``) is not supported: settings.validate_exclude refuses it.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence


def translate(glob: str) -> str:
    """The regular expression of one glob (without its anchoring), over a whole path."""
    out: list[str] = []
    i, n = 0, len(glob)
    while i < n:
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")  # no directory, or any number of them
            i += 3
        elif glob.startswith("**", i):
            out.append(".*")
            i += 2
        elif glob[i] == "*":
            out.append("[^/]*")
            i += 1
        elif glob[i] == "?":
            out.append("[^/]")
            i += 1
        elif glob[i] == "[" and "]" in glob[i + 2 :]:
            end = glob.index("]", i + 2)
            inside = glob[i + 1 : end]
            negated = inside.startswith("!")
            body = re.sub(r"([\\^\[])", r"\\\1", inside[1:] if negated else inside)
            out.append(f"[{'^/' if negated else ''}{body}]")
            i = end + 1
        else:
            out.append(re.escape(glob[i]))
            i += 1
    return "".join(out)


class Pattern:
    def __init__(self, glob: str) -> None:
        self.dir_only = glob.endswith("/")
        body = glob.rstrip("/")
        anchored = "/" in body
        body = body.lstrip("/")
        prefix = "" if anchored else "(?:.*/)?"
        self.regex = re.compile(prefix + translate(body) + r"\Z")

    def matches(self, path: str, is_dir: bool) -> bool:
        return (is_dir or not self.dir_only) and self.regex.match(path) is not None


@functools.lru_cache(maxsize=64)
def compiled(patterns: tuple[str, ...]) -> tuple[Pattern, ...]:
    return tuple(Pattern(p) for p in patterns)


def excluded(path: str, patterns: Sequence[str]) -> bool:
    """Whether ``path`` (relative to the repository root, ``/``-separated) or a directory
    above it matches one of ``patterns``."""
    if not patterns:
        return False
    compiled_patterns = compiled(tuple(patterns))
    parts = path.strip("/").split("/")
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        is_dir = depth < len(parts)
        if any(p.matches(prefix, is_dir) for p in compiled_patterns):
            return True
    return False
