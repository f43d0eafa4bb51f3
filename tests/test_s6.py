"""s6-overlay images start /init as root and drop in their services (s6-setuidgid); the user
comes from remapping variables, not USER (issue 22, item 5)."""

from __future__ import annotations

import pytest

from fixuser.core import check, fix
from fixuser.model import Verdict
from fixuser.settings import Settings

PAPERLESS_LIKE = """\
FROM python:3.12-slim
ARG S6_OVERLAY_VERSION=3.2.0.2
ADD https://github.com/just-containers/s6-overlay/releases/download/v${S6_OVERLAY_VERSION}/\
s6-overlay-noarch.tar.xz /tmp
RUN tar -C / -Jxpf /tmp/s6-overlay-noarch.tar.xz
COPY rootfs/ /
ENTRYPOINT ["/init"]
"""


def test_an_s6_overlay_init_drops_privileges_and_names_the_remapping() -> None:
    analysis = check(PAPERLESS_LIKE.encode(), Settings())
    assert analysis.verdict is Verdict.DROPS_PRIVILEGES
    assert "s6-setuidgid" in analysis.reason and "PUID/PGID" in analysis.reason
    assert fix(PAPERLESS_LIKE.encode(), Settings()).output == PAPERLESS_LIKE.encode()


@pytest.mark.parametrize(
    "base",
    [
        "ghcr.io/linuxserver/baseimage-ubuntu:noble",
        "lscr.io/linuxserver/baseimage-alpine:3.20",
        "lscr.io/linuxserver/code-server:latest",
    ],
)
def test_a_linuxserver_image_drops_privileges_through_its_own_init(base: str) -> None:
    source = f'FROM {base}\nENV HOME="/config"\nRUN echo hi\nVOLUME /config\n'
    analysis = check(source.encode(), Settings())
    assert analysis.verdict is Verdict.DROPS_PRIVILEGES
    assert "PUID/PGID" in analysis.reason


def test_an_init_that_is_not_s6_overlay_is_no_evidence() -> None:
    # /init alone (a binary the file copies) says nothing about who its children run as.
    source = 'FROM debian:12\nCOPY init /init\nENTRYPOINT ["/init"]\n'
    assert check(source.encode(), Settings()).verdict is Verdict.ROOT


def test_rootless_s6_with_its_own_user_stays_compliant() -> None:
    # jitsi's images run s6 as USER s6: already right before issue 22.
    source = PAPERLESS_LIKE.replace('ENTRYPOINT ["/init"]', 'USER s6\nENTRYPOINT ["/init"]')
    assert check(source.encode(), Settings()).verdict is Verdict.COMPLIANT
