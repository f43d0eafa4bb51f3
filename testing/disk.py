"""A real full disk: a tmpfs of a few pages of its own, filled up to what a test leaves free.

Mounting needs root (CAP_SYS_ADMIN, as the project's machines and CI give); where it is not
allowed, the test skips and says why. The filesystem is unmounted when its test ends.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@contextlib.contextmanager
def small_disk(where: Path, size_kib: int = 64) -> Iterator[Path]:
    where.mkdir(parents=True, exist_ok=True)
    options = f"size={size_kib}k,mode=0755"
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "fixuser-test", str(where)],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(disk: Path, leave_pages: int = 0) -> None:
    """Fill ``disk`` until ``leave_pages`` pages are free (tmpfs gives out whole pages: a
    file of one byte takes one)."""
    info = os.statvfs(disk)
    size = (info.f_bavail - leave_pages) * info.f_frsize
    with open(disk / "filler", "wb") as f:
        f.write(b"\0" * size)
    assert os.statvfs(disk).f_bavail == leave_pages
