"""An application under /root is needs-root wherever /root shows (WORKDIR, a COPY/ADD
destination, a path its command uses); a quoted WORKDIR is the path it quotes (issue 22,
item 5)."""

from __future__ import annotations

import re

import pytest

from fixuser.core import check, fix
from fixuser.model import Verdict
from fixuser.settings import Settings


def verdict(source: str) -> Verdict:
    return check(source.encode(), Settings()).verdict


@pytest.mark.parametrize(
    "lines",
    [
        # Already right before issue 22: the WORKDIR, the program the command starts.
        'WORKDIR /root/rpmbuild\nCMD ["rpmbuild", "-ba", "x.spec"]',
        'COPY build.sh /usr/local/bin/\nCMD ["/root/rpmbuild/build.sh"]',
        # New: a path the command names, an option's value, a COPY/ADD destination.
        'COPY x.spec /srv/\nCMD ["rpmbuild", "-ba", "/root/rpmbuild/SPECS/x.spec"]',
        'CMD ["rpmbuild", "--define=_topdir=/root/rpmbuild", "-ba", "x.spec"]',
        'COPY app /root/app\nCMD ["/usr/bin/app"]',
        'ADD app.tar.gz /root/build/\nCMD ["make"]',
        'COPY app.jar /root/\nCMD ["java", "-jar", "app.jar"]',
    ],
)
def test_an_application_under_root_is_needs_root(lines: str) -> None:
    assert verdict(f"FROM fedora:40\n{lines}\n") == Verdict.NEEDS_ROOT


@pytest.mark.parametrize(
    "lines",
    [
        # root's own configuration: a dotfile in /root is not where the application lives
        'COPY .npmrc /root/.npmrc\nCMD ["node", "/app/x.js"]',
        'COPY .bashrc /root/\nCMD ["node", "/app/x.js"]',
        'COPY settings.xml /root/.m2/settings.xml\nCMD ["java", "-jar", "/app/a.jar"]',
        'COPY --from=builder /root/out/app /app/app\nCMD ["/app/app"]',
    ],
)
def test_root_s_own_configuration_is_not_an_application_under_root(lines: str) -> None:
    assert verdict(f"FROM fedora:40\n{lines}\n") == Verdict.ROOT


@pytest.mark.parametrize(
    ("workdir", "made"),
    [
        ('"/app"', "/app"),
        ("'/app'", "/app"),
        ('"/opt/my app"', "'/opt/my app'"),
    ],
)
def test_a_quoted_workdir_is_the_path_it_quotes(workdir: str, made: str) -> None:
    # Already right before issue 22 (the trial saw fixuser 0.1.0 write mkdir -p /"/app").
    source = f'FROM debian:12\nWORKDIR {workdir}\nCOPY . .\nCMD ["./run"]\n'.encode()
    output = fix(source, Settings()).output.decode()
    mkdir = next(line for line in output.splitlines() if "mkdir -p" in line)
    assert re.search(rf"(?<=\s){re.escape(made)}(?=\s|$)", mkdir)
    assert '/"' not in output and "/'" not in output
