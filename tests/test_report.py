"""How fix's per-file lines reach its streams: in blocks on a pipe, at once on a terminal."""

from __future__ import annotations

import io
import os
import select
import subprocess
import sys
from pathlib import Path

from fixuser.report import Blocks

ROOT_DOCKERFILE = b'FROM debian:bookworm-slim\nCMD ["/app/run"]\n'


class CountingStream(io.StringIO):
    """A stream that is not a terminal and counts the writes it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str, /) -> int:
        self.writes += 1
        return super().write(text)


def test_off_a_terminal_lines_are_held_and_written_once_a_stream() -> None:
    out, err = CountingStream(), CountingStream()
    blocks = Blocks(out, err)
    for n in range(100):
        blocks.out.write(f"diff {n}\n")
        blocks.err.write(f"file {n}: would fix\n")
    assert out.writes == err.writes == 0  # nothing yet: under the block size
    blocks.flush()
    assert out.writes == err.writes == 1
    assert out.getvalue() == "".join(f"diff {n}\n" for n in range(100))
    assert err.getvalue() == "".join(f"file {n}: would fix\n" for n in range(100))


def test_a_full_block_is_written_before_the_end() -> None:
    out, err = CountingStream(), CountingStream()
    blocks = Blocks(out, err)
    line = "x" * 1000 + "\n"
    for _ in range(Blocks.LIMIT // len(line) + 1):
        blocks.out.write(line)
    assert out.writes == 1  # the block filled up: written without waiting for the end
    blocks.err.write("late\n")
    blocks.flush()
    assert err.getvalue() == "late\n"
    assert out.getvalue() == line * (Blocks.LIMIT // len(line) + 1)


def test_live_blocks_write_through_off_a_terminal_too() -> None:
    # fix in place and --verify: each line as its file is done, even into a CI log.
    out, err = CountingStream(), CountingStream()
    blocks = Blocks(out, err, live=True)
    blocks.err.write("a: fixed\n")
    assert err.writes == 1 and err.getvalue() == "a: fixed\n"


def test_on_a_terminal_each_line_goes_out_at_once() -> None:
    main, side = os.openpty()
    with open(side, "w", encoding="utf-8") as terminal:
        blocks = Blocks(terminal, CountingStream())
        blocks.out.write("diff 1\n")
        terminal.flush()  # Python's own buffer, which a terminal flushes at each newline
        ready, _, _ = select.select([main], [], [], 5)
        assert ready, "the line did not reach the terminal before the end of the run"
        assert os.read(main, 100).replace(b"\r\n", b"\n") == b"diff 1\n"
    os.close(main)


def test_fix_over_pipes_writes_every_line_of_both_streams(tmp_path: Path) -> None:
    for n in range(30):
        (tmp_path / str(n)).mkdir()
        (tmp_path / str(n) / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--diff", str(tmp_path)],
        capture_output=True,
        check=False,
    )
    assert proc.returncode == 1
    assert proc.stdout.count(b"\n+++ b/") == 30
    assert proc.stderr.count(b": would fix: USER 10001:10001") == 30
    assert not any(
        (tmp_path / str(n) / "Dockerfile").read_bytes() != ROOT_DOCKERFILE for n in range(30)
    )
