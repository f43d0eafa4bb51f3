"""fixuser's directory in the user's cache: ``$XDG_CACHE_HOME/fixuser`` (``~/.cache/fixuser``).

What every run would otherwise redo from fixuser's own files: the knowledge tables parsed
(fixuser.knowledge.tables) and the templates compiled (fixuser.render). A cache is only ever a
shortcut, never a reason to fail or to say anything:

- a directory that cannot be made or written (read-only, a file in its way, no permission)
  means no cache: every read misses, every write is dropped, silently;
- a directory this user does not own, or that others may write, is not read: its files would be
  run (jinja2's bytecode) or unmarshalled, and ``sudo`` may keep the invoking user's ``HOME``;
- a file is written whole under a temporary name and renamed into place, so a reader finds the
  old file or the new one, never one half written by a process running at the same time.
"""

from __future__ import annotations

import contextlib
import os
import stat

NAME = "fixuser"


def root() -> str | None:
    """``$XDG_CACHE_HOME/fixuser``; ``~/.cache/fixuser`` when that is unset, empty or relative
    (the XDG specification: a relative path is invalid and ignored); None without a home."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = os.path.expanduser("~")
        if not os.path.isabs(home):
            return None
        base = os.path.join(home, ".cache")
    return os.path.join(base, NAME)


def owned(path: str) -> bool:
    """A directory of this user's that no one else may write."""
    try:
        info = os.stat(path)
    except (OSError, ValueError):  # ValueError: a NUL in $XDG_CACHE_HOME
        return False
    mine = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    return stat.S_ISDIR(info.st_mode) and mine and not info.st_mode & 0o022


def directory(kind: str) -> str | None:
    """``root()/kind`` when it exists and may be read from."""
    base = root()
    if base is None:
        return None
    path = os.path.join(base, kind)
    return path if owned(base) and owned(path) else None


def read(kind: str, name: str) -> bytes | None:
    """The file ``name`` of the cache ``kind``; None when there is none to read."""
    path = directory(kind)
    if path is None:
        return None
    try:
        with open(os.path.join(path, name), "rb") as f:
            return f.read()
    except (OSError, ValueError):
        return None


def write(kind: str, name: str, data: bytes, replaces: str = "") -> None:
    """Keep ``data`` as the file ``name`` of the cache ``kind``, if it can be kept; then remove
    the files it ``replaces`` (the others whose names start so: older versions of it)."""
    base = root()
    if base is None:
        return
    path = os.path.join(base, kind)
    try:
        os.makedirs(os.path.dirname(base), mode=0o700, exist_ok=True)
        for made in (base, path):  # not makedirs: it makes the parents with the umask's mode
            with contextlib.suppress(FileExistsError):
                os.mkdir(made, mode=0o700)
    except (OSError, ValueError):
        return
    if not (owned(base) and owned(path)):
        return
    import tempfile  # only on a miss: a run that finds its cache never writes

    try:
        handle, temporary = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=path)
    except OSError:
        return
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        os.replace(temporary, os.path.join(path, name))
    except OSError:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        return
    if replaces:
        remove_older(path, replaces, name)


def remove_older(path: str, prefix: str, keep: str) -> None:
    try:
        names = os.listdir(path)
    except OSError:
        return
    for other in names:
        if other.startswith(prefix) and other != keep:
            with contextlib.suppress(OSError):
                os.remove(os.path.join(path, other))
