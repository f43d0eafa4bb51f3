"""Finding Dockerfiles: by name, recursively, skipping what a repository ignores."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

from fixuser.errors import FixuserError

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


class DiscoveryError(FixuserError):
    """A path named on the command line, or found, that cannot be used."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


def globs(patterns: tuple[str, ...]) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
    """``patterns`` (each a name, ``*suffix`` or ``prefix*``) as names, suffixes and prefixes:
    str methods answer them without a regex per directory entry."""
    names = frozenset(p for p in patterns if "*" not in p)
    suffixes = tuple(p[1:] for p in patterns if p.startswith("*") and "*" not in p[1:])
    prefixes = tuple(p[:-1] for p in patterns if p.endswith("*") and "*" not in p[:-1])
    if len(names) + len(suffixes) + len(prefixes) != len(patterns):
        raise ValueError(f"a pattern with a wildcard inside: {patterns}")
    return names, suffixes, prefixes


NAMES, NAME_SUFFIXES, NAME_PREFIXES = globs(NAME_PATTERNS)
NOT_SUFFIXES = globs(NOT_DOCKERFILES)[1]  # each one is *suffix


def is_dockerfile_name(name: str) -> bool:
    """fnmatchcase against NAME_PATTERNS and none of NOT_DOCKERFILES."""
    return (
        name in NAMES or name.endswith(NAME_SUFFIXES) or name.startswith(NAME_PREFIXES)
    ) and not name.endswith(NOT_SUFFIXES)


def in_work_tree(root: Path) -> bool:
    """Whether ``root`` may be inside a git work tree: a ``.git`` (directory, or the file of a
    worktree or submodule) at or above it, or git told where its repository is."""
    if "GIT_DIR" in os.environ or "GIT_WORK_TREE" in os.environ:
        return True
    return git_root(os.path.abspath(root)) is not None


def git_root(directory: str) -> str | None:
    """The nearest directory at or above ``directory`` (absolute) holding ``.git``, or None."""
    while True:
        if os.path.lexists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def git_ignored(root: Path, candidates: list[str]) -> set[str]:
    """Which of ``candidates`` git ignores, when ``root`` is inside a work tree.

    git runs in ``root`` (which may be outside the current directory's repository, or not be
    in one at all) and reads a relative path against it: it is given absolute ones.
    """
    if not candidates or not in_work_tree(root):
        return set()
    import subprocess  # only inside a work tree: check should start fast

    absolute = {os.path.abspath(candidate): candidate for candidate in candidates}
    try:
        proc = subprocess.run(
            ["git", "-C", str(root), "check-ignore", "--stdin", "-z"],
            input=b"\0".join(os.fsencode(p) for p in absolute) + b"\0",
            capture_output=True,
            check=False,
        )
    except OSError:
        return set()
    if proc.returncode not in (0, 1):  # 128: not a git repository
        return set()
    echoed = (os.fsdecode(p) for p in proc.stdout.split(b"\0") if p)
    return {absolute[p] for p in echoed if p in absolute}


# What fixuser.tree.context.walk finds below a root: the candidate context files (relative,
# ``/``-separated, unsorted) and the symlinks among them.
ContextWalk = tuple[list[str], list[str]]


def walk(root: str, context: ContextWalk | None = None) -> list[tuple[str, bool]]:
    """Each Dockerfile below the directory ``root``, in os.walk's order with names sorted, and
    whether it is a symlink. Symlinked directories are not entered, as os.walk does not enter
    them; scandir answers is-it-a-directory and is-it-a-symlink without a stat per file.

    Paths are strings (a Path per file cost ~3 ms over a 1,465-file tree), written as
    ``str(Path(...))`` writes them when ``root`` is: below ``.`` without the ``./``.

    With ``context``, the same walk also fills it with what ``fixuser.tree.context.walk(root)``
    finds, which then need not walk the tree a second time (half of the walking a check
    does over a tree of Dockerfiles): the candidates outside the tool caches it skips.
    """
    if context is not None:
        from fixuser.project.names import TOOL_CACHES, is_context_name
    names, links = context if context is not None else ([], [])
    found: list[tuple[str, bool]] = []
    strip = 2 if root == "." else 0  # os.scandir(".") names its entries "./name"
    # a stack: a directory's subdirectories are walked before its siblings; each with its
    # path relative to root ("" or ending in "/") and whether context files are collected
    pending: list[tuple[str, str, bool]] = [(root, "", context is not None)]
    while pending:
        directory, prefix, collect = pending.pop()
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=entry_name)
        except OSError:
            continue
        subdirs = []
        for entry in entries:
            try:
                is_dir = entry.is_dir()
            except OSError:
                continue
            name = entry.name
            if is_dir:
                if name not in SKIP_DIRS and not entry.is_symlink():
                    inner = collect and name not in TOOL_CACHES
                    subdirs.append((entry.path, f"{prefix}{name}/" if inner else "", inner))
            else:
                if is_dockerfile_name(name):
                    found.append((entry.path[strip:], entry.is_symlink()))
                if collect and is_context_name(name):
                    names.append(prefix + name)
                    if entry.is_symlink():
                        links.append(prefix + name)
        pending += reversed(subdirs)
    return found


def entry_name(entry: os.DirEntry[str]) -> str:
    return entry.name


def inside(path: str, root: Path) -> bool:
    try:
        Path(path).resolve().relative_to(root.resolve())
    except ValueError:
        return False
    return True


def discover(
    paths: Sequence[str], context_walks: dict[str, ContextWalk] | None = None
) -> Iterator[str | DiscoveryError]:
    """Each Dockerfile under ``paths`` (files named explicitly are taken as they are), its path
    written as ``str(Path(...))`` writes it. With ``context_walks``, each directory walked
    (by its absolute path) -> what fixuser.tree.context.walk would find below it."""
    roots: dict[str, str] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            context: ContextWalk | None = None
            if context_walks is not None:
                context = context_walks[os.path.abspath(path)] = ([], [])
            walked = walk(str(path), context)
            ignored = git_ignored(path, [candidate for candidate, _ in walked])
            for candidate, is_link in walked:
                if candidate in ignored:
                    continue
                if is_link and not inside(candidate, path):
                    yield DiscoveryError(candidate, "symlink leads outside the scanned root")
                    continue
                yield candidate
        else:
            problem = named_file_problem(given, roots)
            yield DiscoveryError(given, problem) if problem else str(path)


def named_file_problem(given: str, roots: dict[str, str]) -> str:
    """Why the file ``given`` on the command line cannot be read ("" when it can): not there,
    not a regular file (nothing else is opened), or a symlink leading out of its tree (see
    tree_root). ``roots``: tree_root's answers so far, by directory."""
    from fixuser.tree.fileio import what_is, within

    try:
        info = os.stat(given)
    except FileNotFoundError:
        return "broken symlink" if os.path.islink(given) else "no such file or directory"
    except OSError as e:
        return e.strerror or str(e)
    if not stat.S_ISREG(info.st_mode):
        return what_is(info.st_mode)
    directory = os.path.dirname(os.path.abspath(given))
    if directory not in roots:
        roots[directory] = tree_root(directory)
    if not within(given, roots[directory]):
        return "symlink leads outside the repository"
    return ""


def tree_root(directory: str) -> str:
    """The tree a file in ``directory`` (absolute, its symlinks not resolved) belongs to, which
    fixuser reads and writes nothing outside of: the git work tree it is in, else the current
    directory when it is below it, else ``directory`` itself."""
    found = git_root(directory)
    if found is not None:
        return found
    cwd = os.getcwd()
    below = directory == cwd or directory.startswith(cwd.rstrip(os.sep) + os.sep)
    return cwd if below else directory
