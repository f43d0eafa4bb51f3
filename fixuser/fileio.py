"""Reading the repository's files and writing them back atomically: every open fixuser makes
of a file in a repository goes through here.

Nothing that is not a regular file is opened (a FIFO would hang the run, and opening a device
can act on it): it is stat'ed first, then opened without blocking and checked again.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from pathlib import Path

from fixuser.model import ContextReader

MAX_SIZE = 10 * 1024 * 1024


class FileProblem(OSError):
    """A file that cannot be read or written; the message is one line, without the path.
    An OSError, so that what catches a failed write catches a refused one.

    ``path``: the file, when it is not the one the caller is working on (the wrapper beside
    the Dockerfile being fixed)."""

    def __init__(self, message: str, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


KINDS = (
    (stat.S_ISDIR, "is a directory"),
    (stat.S_ISFIFO, "is a FIFO (named pipe), not a regular file"),
    (stat.S_ISSOCK, "is a socket, not a regular file"),
    (stat.S_ISCHR, "is a character device, not a regular file"),
    (stat.S_ISBLK, "is a block device, not a regular file"),
)


def what_is(mode: int) -> str:
    """What a file that is not a regular file is, said as FileProblem says it."""
    return next((said for test, said in KINDS if test(mode)), "not a regular file")


def within(path: str, root: str) -> bool:
    """Whether ``path``, every symlink in it followed, is ``root`` or below it."""
    real, top = os.path.realpath(path), os.path.realpath(root)
    return real == top or real.startswith(top.rstrip(os.sep) + os.sep)


def regular(path: str | os.PathLike[str]) -> os.stat_result:
    """The stat of ``path`` (followed through symlinks) when it is a regular file; FileProblem
    otherwise. Nothing is opened."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileProblem("broken symlink" if os.path.islink(path) else "no such file") from None
    except OSError as e:
        raise FileProblem(e.strerror or str(e)) from None
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(what_is(info.st_mode))
    return info


def read(path: str | os.PathLike[str], limit: int | None = None) -> bytes:
    """The bytes of the regular file ``path``. Without ``limit``, a file larger than MAX_SIZE
    is refused; with it, at most ``limit`` bytes are read."""
    info = regular(path)
    if limit is None and info.st_size > MAX_SIZE:
        raise FileProblem(f"larger than {MAX_SIZE // (1024 * 1024)} MiB, not a Dockerfile")
    try:
        # O_NONBLOCK: what was swapped for a FIFO since the stat does not hang the run.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except OSError as e:
        raise FileProblem(e.strerror or str(e)) from None
    try:
        return read_open(fd, limit)
    finally:
        os.close(fd)


def read_open(fd: int, limit: int | None) -> bytes:
    try:
        opened = os.fstat(fd)
    except OSError as e:
        raise FileProblem(e.strerror or str(e)) from None
    if not stat.S_ISREG(opened.st_mode):
        raise FileProblem(what_is(opened.st_mode))
    try:
        data = os.read(fd, opened.st_size + 1 if limit is None else limit)
        if limit is not None or len(data) <= opened.st_size:
            return data  # all of it, in one read
        chunks = [data]  # the file grew since fstat: read on to its end
        while chunks[-1]:
            chunks.append(os.read(fd, 65536))
        return b"".join(chunks)
    except OSError as e:
        raise FileProblem(e.strerror or str(e)) from None


def directory_reader(directory: str | os.PathLike[str]) -> ContextReader:
    """Reads files of a build context directory, never outside it."""
    return lazy_reader(lambda: os.path.abspath(directory))


def lazy_reader(locate: Callable[[], str]) -> ContextReader:
    """A context reader whose root ``locate`` finds (an absolute path) the first time a file
    is read: most Dockerfiles read no script, and then no path is resolved at all."""
    root: list[str] = []

    def reader(relative: str) -> bytes | None:
        if not root:
            root.append(locate())
        candidate = inside(root[0], relative)
        if candidate is None:
            return None
        try:
            return read(candidate)  # refuses what is not a regular file, or too large
        except FileProblem:
            return None

    return reader


def inside(root: str, relative: str) -> str | None:
    """``relative`` (a COPY source: ``/`` is the context root) as a path under the directory
    ``root`` (absolute), or None when it leaves it (by ``..`` or a symlink) or is missing.

    The components below ``root`` are checked with lstat one by one (one or two, for most
    entrypoint scripts); only a symlink or ``..`` among them needs realpath, of both sides.
    """
    parts = [part for part in relative.split("/") if part and part != "."]
    path = root
    for part in parts:
        if part == "..":
            break  # resolved below, with symlinks and all
        path = os.path.join(path, part)
        try:
            if stat.S_ISLNK(os.lstat(path).st_mode):
                break
        except OSError:
            return None
    else:
        return path
    real, top = os.path.realpath(os.path.join(root, *parts)), os.path.realpath(root)
    return real if real == top or real.startswith(top.rstrip("/") + "/") else None


def context_reader(dockerfile: str | os.PathLike[str]) -> ContextReader:
    """Reads files of the build context, taken to be the Dockerfile's directory."""
    return lazy_reader(lambda: os.path.dirname(os.path.abspath(dockerfile)))


def write_atomic(path: Path, data: bytes, new_mode: int | None = None) -> None:
    """Write through a temporary file in the same directory, then rename over the target.

    A symlink is written through to its target, so the link stays a link; the mode is kept.
    With ``new_mode``, a file that does not exist yet is made with that mode.
    """
    target = path.resolve() if path.is_symlink() else path
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except FileNotFoundError:
        if new_mode is None:
            raise
        mode = new_mode
    import tempfile  # only fix writes, and check should start fast

    fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".fixuser")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(temp, mode)
        os.replace(temp, target)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
