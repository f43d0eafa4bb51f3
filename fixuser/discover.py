"""Finding Dockerfiles: by name, recursively, skipping what a repository ignores."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path

SKIP_DIRS = frozenset({".git", "node_modules", "vendor", ".hg", ".svn", "__pycache__", ".venv"})
NAME_PATTERNS = (
    "Dockerfile",
    "Containerfile",
    "*.Dockerfile",
    "*.dockerfile",
    "Dockerfile.*",
    "Containerfile.*",
)
# Editor and patch leftovers, and files that only sit beside a Dockerfile.
NOT_DOCKERFILES = (
    "*.bak",
    "*.orig",
    "*.rej",
    "*~",
    "*.swp",
    "*.swo",
    "*.tmp",
    "*.dockerignore",
    "*.md",
    "*.txt",
    "*.sh",
    "*.json",
    "*.yml",
    "*.yaml",
    "*.j2",
    "*.tpl",
    "*.template",
    "*.in",
    "*.patch",
    "*.diff",
    "*.expected",
    "*.lock",
)


class DiscoveryError(Exception):
    """A path named on the command line, or found, that cannot be used."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


NAME_RE = re.compile("|".join(fnmatch.translate(p) for p in NAME_PATTERNS))
NOT_RE = re.compile("|".join(fnmatch.translate(p) for p in NOT_DOCKERFILES))


def is_dockerfile_name(name: str) -> bool:
    return NAME_RE.match(name) is not None and NOT_RE.match(name) is None


def git_ignored(root: Path, candidates: list[Path]) -> set[Path]:
    """Which of ``candidates`` git ignores, when ``root`` is inside a work tree."""
    if not candidates:
        return set()
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--stdin", "-z"],
            input="\0".join(str(p) for p in candidates).encode() + b"\0",
            capture_output=True,
            check=False,
        )
    except OSError:
        return set()
    if proc.returncode not in (0, 1):  # 128: not a git repository
        return set()
    return {Path(p.decode()) for p in proc.stdout.split(b"\0") if p}


def walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in sorted(filenames):
            if is_dockerfile_name(name):
                yield Path(dirpath, name)


def inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def discover(paths: Sequence[str]) -> Iterator[Path | DiscoveryError]:
    """Yield each Dockerfile under ``paths`` (files named explicitly are taken as they are)."""
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = list(walk(path))
            ignored = git_ignored(path, found)
            for candidate in found:
                if candidate in ignored:
                    continue
                if candidate.is_symlink() and not inside(candidate, path):
                    yield DiscoveryError(str(candidate), "symlink leads outside the scanned root")
                    continue
                yield candidate
        elif path.is_file():
            yield path
        elif path.is_symlink():
            yield DiscoveryError(given, "broken symlink")
        else:
            yield DiscoveryError(given, "no such file or directory")
