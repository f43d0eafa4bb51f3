"""Files of the build context the stage copies in: the script behind an ENTRYPOINT word, the
config files a daemon reads; read through the caller's ContextReader, never from disk here."""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Iterator

from fixuser.analysis.runs import start_workdir
from fixuser.dockerfile.stages import Runtime
from fixuser.dockerfile.words import process_word, split_flags, substitute
from fixuser.model import ContextReader


def copied_from_context(runtime: Runtime, target: str) -> str | None:
    """The build-context source of the file the chain COPYs to ``target`` (a path or name).

    ``target`` is an ENTRYPOINT/CMD word: a bare name (found on PATH), an absolute path, or a
    path relative to the WORKDIR the container starts in (``./entrypoint.sh``).
    """
    env = runtime.env
    if "/" in target and not target.startswith("/"):
        workdir = start_workdir(runtime.chain, env)
        target = posixpath.normpath(posixpath.join(workdir, target))
    guess: str | None = None  # a directory copied whole that may hold the file
    for link in runtime.chain:
        workdir = "/"
        for instruction in link.instructions:
            if instruction.keyword == "WORKDIR":
                workdir = posixpath.normpath(
                    posixpath.join(workdir, process_word(instruction.value, env, link.escape))
                )
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            flags, words = split_flags(instruction.value)
            if "from" in flags or len(words) < 2:
                continue
            *sources, raw_dest = (substitute(w, env) for w in words)
            dest = posixpath.normpath(posixpath.join(workdir, raw_dest))
            # A destination ending in "/" (or ".", the WORKDIR itself) is a directory.
            into_dir = (
                raw_dest.endswith(("/", "/.", "/.."))
                or raw_dest in (".", "..")
                or dest == workdir
                or len(sources) > 1
            )
            for source in sources:
                base = posixpath.basename(source.rstrip("/"))
                if (into_dir and base in ("", ".")) or source.endswith("/"):
                    # The directory's contents are copied: the file keeps its name below it.
                    if guess is None and (posixpath.dirname(target) == dest or "/" not in target):
                        guess = posixpath.normpath(
                            posixpath.join(source, posixpath.basename(target))
                        )
                    continue
                placed = posixpath.join(dest, base) if into_dir else dest
                if target == placed or ("/" not in target and posixpath.basename(placed) == target):
                    return posixpath.normpath(source)
    return guess


def copied_configs(
    runtime: Runtime,
    globs: tuple[str, ...],
    context: ContextReader | None,
) -> Iterator[tuple[str, str]]:
    """Files the chain copies from the build context whose name matches one of ``globs``
    (a directory copied whole is looked into for the literal names), with their text."""
    if context is None or not globs:
        return
    literal = [g for g in globs if not any(c in g for c in "*?[")]
    env = runtime.env
    for link in runtime.chain:
        for instruction in link.instructions:
            if instruction.keyword not in ("COPY", "ADD"):
                continue
            flags, words = split_flags(instruction.value)
            if "from" in flags or len(words) < 2:
                continue
            for source in (substitute(w, env) for w in words[:-1]):
                base = posixpath.basename(source.rstrip("/"))
                if any(fnmatch.fnmatchcase(base, g) for g in globs):
                    candidates = [source]
                else:
                    candidates = [posixpath.join(source, name) for name in literal]
                for candidate in candidates:
                    content = context(posixpath.normpath(candidate))
                    if content is not None and is_text(content):
                        yield candidate, content.decode("utf-8", "replace")


def locate_scripts(
    runtime: Runtime,
    scripts: list[str],
    context: ContextReader | None,
) -> dict[str, tuple[str | None, str | None]]:
    """Each entrypoint word -> the build-context file the chain copies to it (or None), and
    that file's text when the context can be read (or None), decoded once for every reader."""
    located: dict[str, tuple[str | None, str | None]] = {}
    for script in scripts:
        source = copied_from_context(runtime, script)
        content = context(source) if source is not None and context is not None else None
        if content is not None and not is_text(content):
            continue  # a program (ELF, a static busybox, tini): nothing in it is a shell command
        located[script] = (source, None if content is None else content.decode("utf-8", "replace"))
    return located


def is_text(content: bytes) -> bool:
    """A script, not a program: no NUL byte (every ELF, Mach-O or PE binary has them) and no
    ELF magic. Scanning a binary's strings would find "su-exec" in a static busybox."""
    return b"\0" not in content and not content.startswith(b"\x7fELF")
