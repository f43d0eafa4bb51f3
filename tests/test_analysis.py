"""Analysis: the runtime stage's verdict, family and effective user."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixuser.analysis import command
from fixuser.core import check
from fixuser.model import ContextReader, Verdict
from fixuser.settings import Settings

DROP_SCRIPT = b'#!/bin/sh\nexec setpriv --reuid=10001 --regid=10001 --init-groups "$@"\n'


def reader(files: dict[str, bytes]) -> ContextReader:
    return lambda path: files.get(path)


def verdict(source: str, files: dict[str, bytes] | None = None) -> Verdict:
    return check(source.encode(), Settings(), context=reader(files or {})).verdict


@pytest.mark.parametrize(
    ("copy", "entrypoint"),
    [
        ("WORKDIR /app\nCOPY entrypoint.sh .", '["./entrypoint.sh"]'),
        ("WORKDIR /app\nCOPY entrypoint.sh ./", '["./entrypoint.sh"]'),
        ("WORKDIR /app\nCOPY entrypoint.sh /app", '["/app/entrypoint.sh"]'),
        ("WORKDIR /app\nCOPY . .", '["./entrypoint.sh"]'),
        ("WORKDIR /app\nCOPY ./ /app/", '["/app/entrypoint.sh"]'),
        ("COPY entrypoint.sh /usr/local/bin/", '["entrypoint.sh"]'),
        ("COPY entrypoint.sh /usr/local/bin/start", '["start"]'),
        ("WORKDIR /srv\nCOPY entrypoint.sh bin/\nWORKDIR /srv", '["bin/entrypoint.sh"]'),
    ],
)
def test_entrypoint_script_from_the_context_is_found_wherever_it_is_copied(
    copy: str, entrypoint: str
) -> None:
    source = f"FROM debian:bookworm-slim\n{copy}\nENTRYPOINT {entrypoint}\n"
    assert verdict(source, {"entrypoint.sh": DROP_SCRIPT}) is Verdict.DROPS_PRIVILEGES


def test_a_script_that_only_uses_su_keeps_root() -> None:
    script = b"#!/bin/sh\nexec su worker -c /usr/local/bin/worker\n"
    source = 'FROM debian:bookworm-slim\nCOPY start.sh /start.sh\nENTRYPOINT ["/start.sh"]\n'
    assert verdict(source, {"start.sh": script}) is Verdict.ROOT


def test_an_exact_copy_wins_over_a_whole_directory_copy() -> None:
    source = (
        "FROM debian:bookworm-slim\nWORKDIR /app\nCOPY . .\n"
        "COPY docker/entrypoint.sh /usr/local/bin/entrypoint.sh\n"
        'ENTRYPOINT ["entrypoint.sh"]\n'
    )
    files = {"entrypoint.sh": b'#!/bin/sh\nexec "$@"\n', "docker/entrypoint.sh": DROP_SCRIPT}
    assert verdict(source, files) is Verdict.DROPS_PRIVILEGES


@given(st.text(alphabet="rm-kdi_ x/\n;", max_size=20))
def test_command_regexes_match_where_the_lookbehind_form_matches(text: str) -> None:
    """command() writes ``(?<![\\w-])rm`` literal-first for speed; it must mean the same."""
    fast = re.compile(command("rm", "mkdir") + r"\s")
    slow = re.compile(r"(?<![\w-])(?:rm|mkdir)\s")
    assert [m.span() for m in fast.finditer(text)] == [m.span() for m in slow.finditer(text)]
