"""The build-context reader: it reads files of the context and nothing else, and never blocks."""

from __future__ import annotations

import os
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
