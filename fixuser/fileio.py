"""Reading Dockerfiles and their build context, and writing them back atomically."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from fixuser.model import ContextReader

MAX_SIZE = 10 * 1024 * 1024


class FileProblem(Exception):
    """A file that cannot be read or written; the message is one line, without the path."""


def read(path: Path) -> bytes:
    try:
        # O_NONBLOCK: a FIFO named like a Dockerfile is refused instead of hanging the run.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
            info = os.fstat(f.fileno())
            if stat.S_ISDIR(info.st_mode):
                raise FileProblem("is a directory")
            if not stat.S_ISREG(info.st_mode):
                raise FileProblem("not a regular file")
            if info.st_size > MAX_SIZE:
                raise FileProblem(f"larger than {MAX_SIZE // (1024 * 1024)} MiB, not a Dockerfile")
            return f.read()
    except FileNotFoundError:
        raise FileProblem("no such file") from None
    except IsADirectoryError:
        raise FileProblem("is a directory") from None
    except OSError as e:
        raise FileProblem(e.strerror or str(e)) from None


def directory_reader(directory: Path) -> ContextReader:
    """Reads files of a build context directory, never outside it (resolved on first use)."""
    resolved: list[str] = []  # the directory's real path, once a file is asked for

    def reader(relative: str) -> bytes | None:
        if not resolved:
            resolved.append(os.path.realpath(directory))
        root = resolved[0]
        candidate = os.path.realpath(os.path.join(root, relative.lstrip("/")))
        if candidate != root and not candidate.startswith(root.rstrip("/") + "/"):
            return None  # a symlink or ``..`` leading out of the context
        try:
            # O_NONBLOCK: a FIFO in the context must not hang the run (it is then refused).
            with os.fdopen(os.open(candidate, os.O_RDONLY | os.O_NONBLOCK), "rb") as f:
                info = os.fstat(f.fileno())
                if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_SIZE:
                    return None
                return f.read()
        except OSError:
            return None

    return reader


def context_reader(dockerfile: Path) -> ContextReader:
    """Reads files of the build context, taken to be the Dockerfile's directory."""
    return directory_reader(dockerfile.parent)


def write_atomic(path: Path, data: bytes) -> None:
    """Write through a temporary file in the same directory, then rename over the target.

    A symlink is written through to its target, so the link stays a link; the mode is kept.
    """
    target = path.resolve() if path.is_symlink() else path
    mode = stat.S_IMODE(target.stat().st_mode)
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
