"""A user the file already prepared (``chown nobody /app``, ``COPY --chown=nobody``) is the
one a fix switches to, rather than a second user (issue 22, item 5)."""

from __future__ import annotations

import pytest

from fixuser.core import fix
from fixuser.settings import Settings


def fixed_user(source: str) -> tuple[str, str | None]:
    change = fix(source.encode(), Settings()).change
    assert change is not None
    return change.user, change.created_user


@pytest.mark.parametrize(
    ("lines", "user"),
    [
        ("RUN chown nobody /app", "65534:65534"),
        ("COPY --chown=nobody:root . /app", "65534:65534"),
        ("RUN chown -R nobody.nogroup /app", "65534:65534"),
        ("RUN chown -R 2000:3000 /app", "2000:3000"),
        ("RUN useradd -u 1500 svc && chown svc /app", "1500"),
        ("RUN chown -R www-data:www-data /app", "33:33"),
        ("RUN chown -R mysql:mysql /run/mysqld", "mysql"),
    ],
)
def test_the_prepared_owner_is_reused(lines: str, user: str) -> None:
    source = f'FROM debian:12\nWORKDIR /app\n{lines}\nCMD ["/app/run"]\n'
    chosen, created = fixed_user(source)
    assert chosen.startswith(user)
    assert created is None


def test_the_prepared_owner_wins_over_the_user_the_base_image_ships() -> None:
    # The trial: node:20-alpine ships node, but the file had given /app to nobody.
    source = 'FROM node:20-alpine\nRUN chown nobody /app\nCOPY --chown=nobody . /app\nCMD ["x"]\n'
    assert fixed_user(source) == ("65534:65534", None)


@pytest.mark.parametrize(
    "lines",
    [
        "RUN chown root:root /app",
        "RUN chown 0 /app",
        "RUN chown root.root /app",
        "COPY --chown=bin config /etc/app/",  # the base system's own account
        "COPY --chown=1:1 config /app/",  # a system UID given by number
        "RUN chown $OWNER /app",  # a variable without a value says nothing
        "RUN chown --reference=/etc/passwd /app",
    ],
)
def test_root_system_accounts_and_unknowns_are_not_a_prepared_user(lines: str) -> None:
    source = f'FROM debian:12\nWORKDIR /app\n{lines}\nCMD ["/app/run"]\n'
    assert fixed_user(source) == ("10001:10001", "app (10001:10001)")
