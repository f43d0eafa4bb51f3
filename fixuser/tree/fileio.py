"""Reading the repository's files and writing them back atomically: every open fixuser makes
of a file in a repository goes through here.

Nothing that is not a regular file is opened (a FIFO would hang the run, and opening a device
can act on it): it is stat'ed first, then opened without blocking and checked again. Nothing is
read or written through a symlink that leaves the tree it is in. Writes go to a temporary file
beside the target, named with the writer's PID, renamed over the target at the end: a run
killed half-way leaves the old file, and the next run removes the temporary file it left.
"""

from __future__ import annotations

import contextlib
import os
import re
import stat
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NamedTuple

from fixuser.errors import FixuserError
from fixuser.model import ContextReader

MAX_SIZE = 10 * 1024 * 1024
# A temporary file: the target's name, the writer's PID, a random part. A run removes those
# of a writer that is gone, and any a day old (a PID taken again, another PID namespace).
TEMP_RE = re.compile(r"\A\..*\.(\d+)-[0-9a-f]{8}\.fixuser\Z", re.DOTALL)
TEMP_MAX_AGE = 24 * 3600


class FileProblem(FixuserError, OSError):
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


def existing(path: str | os.PathLike[str]) -> bytes | None:
    """What a file fixuser adds (the wrapper) holds now: None when there is none. A symlink or
    anything but a regular file at its path is a FileProblem: it is neither read nor replaced."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return None
    except OSError as e:
        raise FileProblem(e.strerror or str(e), os.fspath(path)) from None
    if stat.S_ISLNK(info.st_mode):
        raise FileProblem("is a symlink, which fixuser never writes through", os.fspath(path))
    try:
        return read(path)
    except FileProblem as e:
        raise FileProblem(str(e), os.fspath(path)) from None


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


# --- writing ------------------------------------------------------------------------------


class Write(NamedTuple):
    """One file of a write: ``data`` to ``path``.

    ``follow``: a symlink at ``path`` is written through to its target (which must be inside
    the root), and stays a link; without it a symlink is refused. A file that exists keeps its
    mode; a new one gets ``new_mode``, or the umask's default when None.
    """

    path: Path
    data: bytes
    new_mode: int | None = None
    follow: bool = True


class Target(NamedTuple):
    path: str  # what is renamed over: the file, or the file a symlink leads to
    mode: int | None  # to set on the temporary file; None: leave the umask's
    exists: bool


def target_of(write: Write, root: str | None) -> Target:
    """Where ``write`` goes, checked: FileProblem (naming the path) when it may not."""
    path = os.fspath(write.path)
    try:
        info: os.stat_result | None = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as e:
        raise FileProblem(e.strerror or str(e), path) from None
    real = path
    if info is not None and stat.S_ISLNK(info.st_mode):
        if not write.follow:
            raise FileProblem("is a symlink, which fixuser never writes through", path)
        real = os.path.realpath(path)
        if root is not None and not within(real, root):
            raise FileProblem("symlink leads outside the repository", path)
        try:
            info = os.stat(real)
        except FileNotFoundError:
            raise FileProblem("broken symlink", path) from None
        except OSError as e:
            raise FileProblem(e.strerror or str(e), path) from None
    elif root is not None and not within(os.path.dirname(os.path.abspath(path)), root):
        raise FileProblem("is in a directory outside the repository", path)
    if info is None:
        return Target(real, write.new_mode, False)
    if not stat.S_ISREG(info.st_mode):
        raise FileProblem(what_is(info.st_mode), path)
    return Target(real, stat.S_IMODE(info.st_mode), True)


def atomic_write(
    path: str | os.PathLike[str],
    data: bytes,
    mode: int | None = None,
    *,
    follow: bool = True,
    root: str | None = None,
    durable: bool = True,
) -> None:
    """Replace ``path`` with ``data`` whole: readers, and a run killed with -9, see the old file
    or the new one, never half of one. The one writer of a single file (``write_together`` for
    several that go together): a temporary ``.NAME.PID-RANDOM.fixuser`` beside it, fsync'ed
    when ``durable``, renamed over it. A file that exists keeps its mode; a new one gets
    ``mode`` (None: the umask's). ``follow``, ``root``: as ``Write`` and ``write_together``.
    """
    write_together([Write(Path(path), data, mode, follow)], root, durable)


def write_together(writes: Sequence[Write], root: str | None = None, durable: bool = True) -> None:
    """Write every file of ``writes``, or none: each goes to a temporary file first (a full
    disk fails there, before any file is replaced), then each is renamed over its target, in
    the order given (the Dockerfile last: it never names a wrapper that is not there yet).
    Should a rename fail, those done are undone.

    ``root``: no file is written through a symlink, or into a directory, outside it. Raises
    FileProblem for a target that may not be written (nothing is then written), OSError for a
    write that failed. ``durable``: fsync'ed, so a power cut leaves the old file or the new.
    """
    targets = [target_of(write, root) for write in writes]
    for directory in {os.path.dirname(os.path.abspath(t.path)) for t in targets}:
        remove_leftovers(directory)
    temps: list[str] = []
    try:
        for write, target in zip(writes, targets, strict=True):
            temps.append(write_temp(target, write.data, durable))
        replace_all(temps, targets)
    except BaseException:
        for temp in temps:
            remove(temp)  # each one renamed is gone already
        raise


def probe(path: Path) -> None:
    """Raise what writing ``path`` (its directories made) would raise, before anything is
    written: what write_together refuses, or the OSError of making a file beside it (made and
    removed at once). A full disk is only found when the file is written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    target = target_of(Write(path, b""), None)
    fd, temp = create_temp(target.path, 0o600)
    os.close(fd)
    os.unlink(temp)


def temp_name(target: str) -> str:
    directory, name = os.path.split(target)
    return os.path.join(directory, f".{name[:100]}.{os.getpid()}-{os.urandom(4).hex()}.fixuser")


def create_temp(target: str, mode: int) -> tuple[int, str]:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    while True:
        temp = temp_name(target)
        try:
            return os.open(temp, flags, mode), temp
        except FileExistsError:
            continue


def write_temp(target: Target, data: bytes, durable: bool) -> str:
    """A temporary file beside ``target`` holding ``data``, with the target's mode."""
    # A new file without a mode of its own gets what the umask leaves of 0666, as open() gives.
    fd, temp = create_temp(target.path, 0o600 if target.mode is not None else 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        if target.mode is not None:
            os.fchmod(fd, target.mode)
        if durable:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        remove(temp)
        raise
    os.close(fd)
    return temp


def replace_all(temps: list[str], targets: list[Target]) -> None:
    """Rename each temporary file over its target; on a failure, put back what was there."""
    if len(targets) == 1:
        os.replace(temps[0], targets[0].path)
        return
    # Hard links to the files being replaced: a failed rename puts each one back.
    saved: list[str | None] = []
    try:
        for target in targets:
            saved.append(keep(target) if target.exists else None)
        done: list[int] = []
        try:
            for index, target in enumerate(targets):
                os.replace(temps[index], target.path)
                done.append(index)
        except BaseException:
            for index in reversed(done):
                undo(targets[index], saved[index])
            raise
    finally:
        for kept in saved:
            if kept is not None:
                remove(kept)


def keep(target: Target) -> str | None:
    """A hard link to ``target``'s file (None where links cannot be made)."""
    for _ in range(100):
        name = temp_name(target.path)
        try:
            os.link(target.path, name, follow_symlinks=False)
            return name
        except FileExistsError:
            continue
        except OSError:
            return None
    return None


def undo(target: Target, kept: str | None) -> None:
    try:
        if kept is not None:
            os.replace(kept, target.path)
        elif not target.exists:
            os.unlink(target.path)
    except OSError:
        pass  # the error being raised says what went wrong


def remove(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


CLEANED: set[str] = set()  # the directories this process has cleaned


def remove_leftovers(directory: str) -> None:
    """Remove the temporary files in ``directory`` that a writer killed before it could
    (kill -9, a power cut) left: those of a process that is gone, and any a day old."""
    if directory in CLEANED:
        return
    CLEANED.add(directory)
    try:
        with os.scandir(directory) as listing:
            leftovers = [entry for entry in listing if TEMP_RE.match(entry.name)]
    except OSError:
        return
    now = time.time()
    for entry in leftovers:
        match = TEMP_RE.match(entry.name)
        assert match is not None
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            old = now - entry.stat(follow_symlinks=False).st_mtime > TEMP_MAX_AGE
            if old or not alive(int(match.group(1))):
                os.unlink(entry.path)
        except OSError:
            continue


def alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # gone, or no PID there can be
        return False
    except PermissionError:
        return True  # another user's process
    return True
