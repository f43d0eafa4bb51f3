"""Every file fixuser reads or writes in a repository: nothing outside the tree through a
symlink, nothing that is not a regular file, nothing half-written or left behind."""

from __future__ import annotations

import os
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from fixuser.tree.fileio import (
    MAX_SIZE,
    FileProblem,
    Write,
    atomic_write,
    directory_reader,
    read,
    write_together,
)
from testing.disk import fill, small_disk


@pytest.fixture
def context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    (ctx / "bin").mkdir(parents=True)
    (ctx / "bin" / "entrypoint.sh").write_bytes(b'#!/bin/sh\nexec gosu app "$@"\n')
    (tmp_path / "secret").write_bytes(b"outside")
    return ctx


def test_reads_a_file_by_its_path_in_the_context(context: Path) -> None:
    read = directory_reader(context)
    script = (context / "bin" / "entrypoint.sh").read_bytes()
    assert read("bin/entrypoint.sh") == script
    assert read("/bin/entrypoint.sh") == script  # COPY sources are relative to the context
    assert read("./bin/../bin/entrypoint.sh") == script


def test_never_reads_outside_the_context(context: Path) -> None:
    (context / "link").symlink_to(context.parent / "secret")
    (context / "dirlink").symlink_to(context.parent)
    read = directory_reader(context)
    assert read("../secret") is None
    assert read("link") is None
    assert read("dirlink/secret") is None


def test_a_symlink_inside_the_context_is_followed(context: Path) -> None:
    (context / "run.sh").symlink_to("bin/entrypoint.sh")
    assert directory_reader(context)("run.sh") == (context / "bin" / "entrypoint.sh").read_bytes()


def test_a_symlinked_context_directory_works(context: Path, tmp_path: Path) -> None:
    (tmp_path / "alias").symlink_to(context)
    assert directory_reader(tmp_path / "alias")("bin/entrypoint.sh") is not None


def test_what_is_not_a_regular_file_reads_as_missing(context: Path) -> None:
    os.mkfifo(context / "fifo")  # opening it for reading must not wait for a writer
    with open(context / "big", "wb") as f:
        f.truncate(MAX_SIZE + 1)
    read = directory_reader(context)
    assert (read("fifo"), read("bin"), read("missing"), read("big")) == (None, None, None, None)


@pytest.mark.parametrize(
    ("make", "problem"),
    [
        (os.mkfifo, "not a regular file"),  # must not wait for a writer
        (os.mkdir, "is a directory"),
        (lambda path: None, "no such file"),
    ],
)
def test_reading_a_dockerfile_that_is_not_a_file(
    tmp_path: Path, make: Callable[[Path], None], problem: str
) -> None:
    make(tmp_path / "Dockerfile")
    with pytest.raises(FileProblem, match=problem):
        read(tmp_path / "Dockerfile")


# --- nothing is read, printed or written through a symlink out of the tree ------------------

ROOT_DOCKERFILE = b'FROM debian:bookworm-slim\nCMD ["/app/run"]\n'
WRAPPER = "fixuser-entrypoint.sh"
FIFO = "is a FIFO (named pipe), not a regular file"


def fixuser(*args: str, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """The CLI as users run it; ``timeout``: what must not hang fails instead of waiting."""
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args],
        cwd=cwd,
        capture_output=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git work tree holding one Dockerfile that runs as root, and a secret beside it."""
    (tmp_path / "secret").write_bytes(b"password=hunter2\n")
    root = tmp_path / "repo"
    (root / ".git").mkdir(parents=True)  # what fixuser takes for a work tree's root
    (root / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    return root


def error_lines(proc: subprocess.CompletedProcess[bytes]) -> list[str]:
    return [line for line in proc.stderr.decode().splitlines() if "not fixed" in line]


@pytest.mark.parametrize(
    "link",
    [
        pytest.param("../secret", id="to-a-file-outside"),
        pytest.param("../nothing-yet", id="dangling-outside"),
        pytest.param("Dockerfile", id="to-a-file-inside"),
    ],
)
@pytest.mark.parametrize("diff", [False, True], ids=["fix", "diff"])
def test_a_wrapper_path_that_is_a_symlink_is_never_written_read_or_shown(
    repo: Path, link: str, diff: bool
) -> None:
    (repo / WRAPPER).symlink_to(link)
    outside = repo.parent / "secret"
    proc = fixuser("fix", "--strategy", "entrypoint", *(["--diff"] if diff else []), cwd=repo)
    assert proc.returncode == 2
    assert error_lines(proc) == [
        f"Dockerfile: not fixed: {WRAPPER}: is a symlink, which fixuser never writes through"
    ]
    assert b"hunter2" not in proc.stdout + proc.stderr
    assert outside.read_bytes() == b"password=hunter2\n"
    assert not (repo.parent / "nothing-yet").exists()
    assert (repo / WRAPPER).is_symlink() and os.readlink(repo / WRAPPER) == link
    assert (repo / "Dockerfile").read_bytes() == ROOT_DOCKERFILE
    assert proc.stdout == b""


@pytest.mark.parametrize("command", ["check", "fix"])
def test_a_dockerfile_named_on_the_command_line_that_leads_out_of_the_repository_is_refused(
    repo: Path, command: str
) -> None:
    elsewhere = repo.parent / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    (repo / "prod.Dockerfile").symlink_to(elsewhere / "Dockerfile")
    (repo / "linked").symlink_to(elsewhere)  # a directory on the way out
    proc = fixuser(command, "prod.Dockerfile", "linked/Dockerfile", "Dockerfile", cwd=repo)
    assert proc.returncode == 2
    said = proc.stderr.decode().splitlines()
    assert "prod.Dockerfile: symlink leads outside the repository" in said
    assert "linked/Dockerfile: symlink leads outside the repository" in said
    assert (elsewhere / "Dockerfile").read_bytes() == ROOT_DOCKERFILE
    if command == "fix":  # the others are still fixed
        assert b"USER" in (repo / "Dockerfile").read_bytes()


def test_outside_git_the_tree_is_the_current_directory(tmp_path: Path) -> None:
    (tmp_path / "secret").write_bytes(ROOT_DOCKERFILE)
    project = tmp_path / "project"
    (project / "docker").mkdir(parents=True)
    (project / "Dockerfile.prod").write_bytes(ROOT_DOCKERFILE)
    (project / "docker" / "Dockerfile").symlink_to("../Dockerfile.prod")  # inside: followed
    (project / "Dockerfile").symlink_to("../secret")
    proc = fixuser("fix", "docker/Dockerfile", "Dockerfile", cwd=project)
    said = proc.stderr.decode().splitlines()
    assert "Dockerfile: symlink leads outside the repository" in said
    assert b"USER" in (project / "Dockerfile.prod").read_bytes()
    assert (project / "docker" / "Dockerfile").is_symlink()
    assert (tmp_path / "secret").read_bytes() == ROOT_DOCKERFILE


def test_the_writer_refuses_each_way_out_before_writing_anything(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "outside").write_bytes(b"kept")
    (root / "out").symlink_to(tmp_path / "outside")
    (root / "dir").symlink_to(tmp_path)
    (root / "in").write_bytes(b"old")
    fine = Write(root / "in", b"new")
    for write, problem in [
        (Write(root / "out", b"x"), "symlink leads outside the repository"),
        (Write(root / "dir" / "new", b"x", 0o644), "is in a directory outside the repository"),
        (Write(root / "in", b"x", follow=False), None),  # a regular file: fine either way
    ]:
        if problem is None:
            write_together([write], str(root))
            continue
        with pytest.raises(FileProblem, match=problem):
            write_together([fine, write], str(root))
    assert (root / "in").read_bytes() == b"x"
    assert (tmp_path / "outside").read_bytes() == b"kept"
    assert not (tmp_path / "new").exists()


def test_atomic_write_keeps_the_mode_of_a_file_and_gives_a_new_one_its_own(
    tmp_path: Path,
) -> None:
    kept = tmp_path / "kept"
    kept.write_bytes(b"old")
    kept.chmod(0o750)
    atomic_write(kept, b"new", 0o600)
    assert kept.read_bytes() == b"new"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o750
    made = tmp_path / "made"
    atomic_write(made, b"new", 0o755)
    assert stat.S_IMODE(made.stat().st_mode) == 0o755
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kept", "made"]  # no temporary left


def test_atomic_write_never_writes_through_a_symlink_it_must_not_follow(tmp_path: Path) -> None:
    (tmp_path / "target").write_bytes(b"kept")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(FileProblem, match="is a symlink"):
        atomic_write(tmp_path / "link", b"x", follow=False)
    atomic_write(tmp_path / "link", b"through", root=str(tmp_path))
    assert (tmp_path / "link").is_symlink()
    assert (tmp_path / "target").read_bytes() == b"through"


def test_atomic_write_removes_the_leftover_of_a_writer_that_is_gone(tmp_path: Path) -> None:
    # A PID no process has (past pid_max): its writer was killed before it could rename.
    gone = tmp_path / ".state.json.4294967295-0123abcd.fixuser"
    gone.write_bytes(b"half")
    atomic_write(tmp_path / "state.json", b"{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


# --- nothing that is not a regular file is opened ----------------------------------------


def make_socket(path: Path) -> None:
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(path))


@pytest.mark.parametrize("name", ["compose.yaml", ".gitlab-ci.yml", "Makefile", "deploy.yaml"])
def test_a_fifo_named_like_a_context_file_never_hangs_check(repo: Path, name: str) -> None:
    os.mkfifo(repo / name)
    proc = fixuser("check", cwd=repo, timeout=30)
    assert proc.returncode == 1
    if name != "deploy.yaml":  # any YAML may be a manifest: said only when it plainly is one
        said = proc.stderr.decode().splitlines()
        assert f"{name}: warning: cannot be read, skipped: {FIFO}" in said


@pytest.mark.parametrize("diff", [False, True], ids=["fix", "diff"])
def test_a_fifo_at_the_wrapper_path_never_hangs_fix(repo: Path, diff: bool) -> None:
    os.mkfifo(repo / WRAPPER)
    proc = fixuser(
        "fix", "--strategy", "entrypoint", *(["--diff"] if diff else []), cwd=repo, timeout=30
    )
    assert proc.returncode == 2
    assert error_lines(proc) == [f"Dockerfile: not fixed: {WRAPPER}: {FIFO}"]
    assert stat.S_ISFIFO(os.lstat(repo / WRAPPER).st_mode)
    assert (repo / "Dockerfile").read_bytes() == ROOT_DOCKERFILE


def test_sockets_fifos_and_devices_are_named_for_what_they_are(tmp_path: Path) -> None:
    make_socket(tmp_path / "Dockerfile")
    os.mkfifo(tmp_path / "fifo.Dockerfile")
    (tmp_path / "null.Dockerfile").symlink_to(os.devnull)
    said = {
        "Dockerfile": "is a socket, not a regular file",
        "fifo.Dockerfile": FIFO,
        "null.Dockerfile": "is a character device, not a regular file",
    }
    named = fixuser("check", *said, cwd=tmp_path, timeout=30)
    assert named.returncode == 2
    assert named.stderr.decode().splitlines() == [f"{p}: {s}" for p, s in said.items()]
    walked = fixuser("check", ".", cwd=tmp_path, timeout=30)
    assert "Dockerfile: is a socket, not a regular file" in walked.stderr.decode()
    assert f"fifo.Dockerfile: {FIFO}" in walked.stderr.decode()


def test_a_device_in_the_tree_is_never_opened(tmp_path: Path) -> None:
    # Opening a device can act on it (a tape rewinds, a terminal becomes the controlling
    # one): the reader looks first. An audit hook in a real run says what was opened.
    try:
        os.mknod(tmp_path / "Dockerfile", stat.S_IFCHR | 0o600, os.makedev(1, 5))  # /dev/zero's
    except PermissionError:
        pytest.skip("making a device node needs root")
    watched = (
        "import sys\n"
        "sys.addaudithook(lambda event, args: event == 'open'\n"
        "    and str(args[0]).endswith('Dockerfile') and sys.stderr.write('opened it\\n'))\n"
        "from fixuser.main import main\n"
        "raise SystemExit(main(['check', '.']))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", watched], cwd=tmp_path, capture_output=True, timeout=30
    )
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == [
        "Dockerfile: is a character device, not a regular file"
    ]


# --- nothing half-written, nothing left behind --------------------------------------------


def leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if p.name.endswith(".fixuser"))


def run_with_hook(hook: str, *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    """The CLI in a process whose audit hook (``hook``: a function ``audit(event, args)``)
    sees each of its system calls and may stop one: the fault is the real kernel's (a kill)
    or raised where the call would have been made."""
    script = f"import os, signal, sys\n{hook}\nsys.addaudithook(audit)\n"
    script += "from fixuser.main import entry\nsys.argv[0] = 'fixuser'\nentry()\n"
    return subprocess.run(
        [sys.executable, "-c", script, *args], cwd=cwd, capture_output=True, timeout=60
    )


def test_a_fix_killed_with_sigkill_leaves_a_temp_file_the_next_run_removes(repo: Path) -> None:
    kill_at_rename = (
        "def audit(event, args):\n"
        "    if event == 'os.rename' and str(args[1]).endswith('Dockerfile'):\n"
        "        os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = run_with_hook(kill_at_rename, "fix", cwd=repo)
    assert killed.returncode == -signal.SIGKILL
    assert (repo / "Dockerfile").read_bytes() == ROOT_DOCKERFILE  # the old file, whole
    (left,) = leftovers(repo)
    assert b"USER" in (repo / left).read_bytes()  # the new text, never renamed into place
    again = fixuser("fix", cwd=repo)
    assert again.returncode == 1
    assert leftovers(repo) == []
    assert b"USER" in (repo / "Dockerfile").read_bytes()


def test_the_temp_file_of_a_writer_still_running_is_kept(repo: Path) -> None:
    # This test's own process is alive: a file named as its writer's is not a leftover yet,
    # unless it is a day old (its PID has been taken again since, or is another namespace's).
    running = repo / f".Dockerfile.{os.getpid()}-0123abcd.fixuser"
    stale = repo / f".Dockerfile.{os.getpid()}-4567cdef.fixuser"
    unrelated = repo / "notes.fixuser"
    for path in (running, stale, unrelated):
        path.write_bytes(b"half")
    os.utime(stale, (time.time() - 2 * 24 * 3600,) * 2)
    assert fixuser("fix", cwd=repo).returncode == 1
    assert leftovers(repo) == sorted([running.name, unrelated.name])


@pytest.mark.parametrize("free_pages", [0, 1], ids=["nothing-fits", "the-wrapper-fits"])
def test_a_full_disk_changes_neither_the_wrapper_nor_the_dockerfile(
    tmp_path: Path, free_pages: int
) -> None:
    with small_disk(tmp_path / "disk") as disk:
        repo = disk / "repo"
        (repo / ".git").mkdir(parents=True)
        (repo / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
        fill(disk, free_pages)  # one page: the wrapper's temporary file, not the Dockerfile's
        proc = fixuser("fix", "--strategy", "entrypoint", cwd=repo)
        assert proc.returncode == 2
        assert proc.stderr.decode().splitlines() == [
            "Dockerfile: cannot write: No space left on device"
        ]
        assert sorted(p.name for p in repo.iterdir()) == [".git", "Dockerfile"]
        assert (repo / "Dockerfile").read_bytes() == ROOT_DOCKERFILE


@pytest.mark.parametrize("old_wrapper", [None, b'#!/bin/sh\nexec "$@"\n'], ids=["new", "old"])
def test_a_failed_rename_puts_back_what_the_fix_had_replaced(
    repo: Path, old_wrapper: bytes | None
) -> None:
    if old_wrapper is not None:
        (repo / WRAPPER).write_bytes(old_wrapper)
    # EIO where the Dockerfile would be renamed into place, after its wrapper was.
    fail_at_rename = (
        "import errno\n"
        "def audit(event, args):\n"
        "    if event == 'os.rename' and str(args[1]).endswith('Dockerfile'):\n"
        "        raise OSError(errno.EIO, os.strerror(errno.EIO))\n"
    )
    proc = run_with_hook(fail_at_rename, "fix", "--strategy", "entrypoint", cwd=repo)
    assert proc.returncode == 2
    assert proc.stderr.decode().splitlines() == ["Dockerfile: cannot write: Input/output error"]
    assert (repo / "Dockerfile").read_bytes() == ROOT_DOCKERFILE
    if old_wrapper is None:
        assert not (repo / WRAPPER).exists()
    else:
        assert (repo / WRAPPER).read_bytes() == old_wrapper
    assert leftovers(repo) == []
