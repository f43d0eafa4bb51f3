"""Every file fixuser reads or writes in a repository: nothing outside the tree through a
symlink, nothing that is not a regular file, nothing half-written or left behind."""

from __future__ import annotations

import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from fixuser.fileio import MAX_SIZE, FileProblem, directory_reader, read


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


# --- nothing is read through a symlink out of the tree ----------------------------------------

ROOT_DOCKERFILE = b'FROM debian:bookworm-slim\nCMD ["/app/run"]\n'
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
