"""fix --diff writes its diff from the fix's edits: it must apply, and read as diff -u writes."""

from __future__ import annotations

import difflib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fixuser.diff import unified
from fixuser.edits import Edit, apply

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def difflib_diff(path: str, lines: list[str], edits: list[Edit]) -> str:
    after = apply(tuple(lines), edits).splitlines(keepends=True)
    return "".join(difflib.unified_diff(lines, after, f"a/{path}", f"b/{path}"))


LINES = [f"line {n}\n" for n in range(1, 31)]


@pytest.mark.parametrize(
    "edits",
    [
        [Edit(0, 0, 0, "new first\n")],  # at the top: no leading context
        [Edit(30, 30, 0, "new last\n")],  # at the end: no trailing context
        [Edit(10, 11, 0, "replaced\n")],
        [Edit(12, 13, 0, "")],  # a deletion
        [Edit(5, 5, 0, "a\n"), Edit(11, 12, 0, "b\n")],  # 6 lines apart: one hunk
        [Edit(5, 5, 0, "a\n"), Edit(12, 13, 0, "b\n")],  # 7 lines apart: two hunks
        [Edit(3, 3, 1, "second\n"), Edit(3, 3, 0, "first\nblock\n"), Edit(25, 26, 0, "x\n")],
    ],
)
def test_reads_exactly_as_difflib_writes_it(edits: list[Edit]) -> None:
    assert unified("Dockerfile", LINES, edits) == difflib_diff("Dockerfile", LINES, edits)


def test_an_edit_that_changes_nothing_makes_no_diff() -> None:
    assert unified("Dockerfile", LINES, [Edit(4, 5, 0, LINES[4])]) == ""
    assert unified("Dockerfile", LINES, []) == ""


def test_a_last_line_without_a_newline_is_marked_as_diff_marks_it() -> None:
    lines = ["FROM alpine\n", "RUN true"]
    text = unified("Dockerfile", lines, [Edit(1, 2, 0, "RUN true\nUSER 1:1\n")])
    assert text.endswith("-RUN true\n\\ No newline at end of file\n+RUN true\n+USER 1:1\n")


def test_every_sample_diff_applies_with_git_and_gives_the_expected_file(tmp_path: Path) -> None:
    """Over the samples (CRLF, Latin-1, no final newline, heredocs...), git apply of the diff
    fix --diff prints turns each input into its expected output."""
    names = []
    for sample in sorted(p for p in SAMPLES.iterdir() if (p / "expected").is_file()):
        if (sample / "settings.toml").is_file():
            continue  # fixed with flags of its own, which this one run does not pass
        (tmp_path / sample.name).mkdir()
        for item in sample.iterdir():  # the build context too: entrypoint scripts decide
            if item.is_file():
                shutil.copy(item, tmp_path / sample.name / item.name)
            elif item.is_dir():
                shutil.copytree(item, tmp_path / sample.name / item.name)
        names.append(sample.name)
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--diff", "."],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=proc.stdout, check=True)
    for name in names:
        got = (tmp_path / name / "Dockerfile").read_bytes()
        assert got == (SAMPLES / name / "expected").read_bytes(), name


def test_a_diff_of_names_with_newlines_and_raw_bytes_applies_with_git(tmp_path: Path) -> None:
    """A file name is quoted in the headers as git quotes it, so it cannot add a line of its
    own to the diff (a "+++" of another file, a workflow command), and git apply reads it."""
    names = ["svc\n+++ evil\n::error::x", os.fsdecode(b"raw\xff"), 'q"b\\c']
    for name in names:
        (tmp_path / name).mkdir()
        (tmp_path / name / "Dockerfile").write_bytes(b'FROM debian:bookworm-slim\nCMD ["x"]\n')
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--diff", "."],
        cwd=tmp_path,
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1, proc.stderr
    headers = [line for line in proc.stdout.split(b"\n") if line.startswith((b"---", b"+++"))]
    assert len(headers) == 2 * len(names)
    assert b'+++ "b/svc\\n+++ evil\\n::error::x/Dockerfile"' in headers
    assert b'+++ "b/raw\\377/Dockerfile"' in headers
    assert not any(line.startswith(b"::") for line in proc.stdout.split(b"\n"))
    subprocess.run(["git", "apply", "-"], cwd=tmp_path, input=proc.stdout, check=True)
    for name in names:
        assert b"\nUSER 10001:10001\n" in (tmp_path / name / "Dockerfile").read_bytes()
