"""Edits as data, applied back to front so earlier line numbers stay valid."""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple


class Edit(NamedTuple):
    """Replace lines ``[start, end)`` with ``text``; an insertion when ``start == end``.

    ``order`` sorts several insertions at one place (lower first in the output).
    """

    start: int
    end: int
    order: int
    text: str


def position(edit: Edit) -> tuple[int, int, int]:
    """The sort key of file order: by place, then ``order`` among insertions at one place."""
    return edit.start, edit.end, edit.order


def apply(lines: tuple[str, ...], edits: Iterable[Edit]) -> str:
    out = list(lines)
    for edit in sorted(edits, key=position, reverse=True):  # back to front
        out[edit.start : edit.end] = [edit.text] if edit.text else []
    return "".join(out)
