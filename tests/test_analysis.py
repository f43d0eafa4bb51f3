"""Analysis: the runtime stage's verdict, family and effective user."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from fixuser.analysis.privileges import candidate_rules
from fixuser.analysis.runs import command
from fixuser.core import check, fix
from fixuser.knowledge import programs
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


# --- UID 0 in every spelling (the runtime's strconv.Atoi) --------------------------------


@pytest.mark.parametrize(
    "user",
    ["000", "00:1000", "+0:wheel", "-0", "0000:0", "${U}", "${U}:1000", "$U"],
)
def test_every_spelling_of_uid_0_is_root(user: str) -> None:
    source = f"FROM debian:bookworm-slim\nARG U=00\nUSER {user}\nCMD sh\n"
    assert verdict(source) is Verdict.ROOT


def test_uid_0_through_an_env_default_is_root() -> None:
    source = "FROM debian:bookworm-slim\nENV RUN_AS=+0\nUSER ${RUN_AS}:wheel\nCMD sh\n"
    assert verdict(source) is Verdict.ROOT


@pytest.mark.parametrize("user", ["ROOT", "Root:root", "${U}"])
def test_user_root_in_capitals_is_an_error_naming_the_line(user: str) -> None:
    source = f"FROM debian:bookworm-slim\nARG U=ROOT\nRUN true\nUSER {user}\nCMD sh\n"
    analysis = check(source.encode(), Settings())
    assert analysis.verdict is Verdict.INVALID_USER
    assert analysis.verdict.is_finding
    assert analysis.reason.startswith("line 4: USER")
    assert "names no user" in analysis.reason


def test_containeradministrator_in_any_case_is_root_on_windows() -> None:
    source = "FROM mcr.microsoft.com/windows/servercore:ltsc2022\nUSER CONTAINERADMINISTRATOR\n"
    assert verdict(source) is Verdict.ROOT


# --- a binary entrypoint is a program, not a script ---------------------------------------

BUSYBOX_LIKE = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\0su-exec\0chpst\0setuidgid\0" + b"\0" * 32


@pytest.mark.parametrize(
    "content",
    [
        BUSYBOX_LIKE,
        b"MZ\x90\0" + b"gosu\0" * 4,  # any file with a NUL byte is no script
    ],
)
def test_a_binary_entrypoint_is_never_scanned_for_privilege_droppers(content: bytes) -> None:
    source = 'FROM alpine:3.20\nCOPY entry /bin/entry\nENTRYPOINT ["/bin/entry"]\n'
    assert verdict(source, {"entry": content}) is Verdict.ROOT


def test_a_binary_entrypoint_does_not_make_gosu_presumed_either() -> None:
    source = (
        "FROM debian:bookworm-slim\nRUN apt-get install -y gosu\n"
        'COPY entry /bin/entry\nENTRYPOINT ["/bin/entry"]\n'
    )
    assert verdict(source, {"entry": BUSYBOX_LIKE}) is Verdict.ROOT
    # ... while the same script as text, unreadable or dropping, still counts
    assert verdict(source, {}) is Verdict.DROPS_PRIVILEGES
    assert verdict(source, {"entry": b'#!/bin/sh\nexec su-exec app "$@"\n'}) is (
        Verdict.DROPS_PRIVILEGES
    )


# --- warnings on every verdict ------------------------------------------------------------


def test_a_builder_ending_in_user_root_is_warned_about_on_a_compliant_file() -> None:
    source = (
        "FROM debian:bookworm-slim AS build\nUSER root\nRUN make\n"
        "FROM gcr.io/distroless/static-debian12:nonroot\nCOPY --from=build /out /out\n"
    )
    analysis = check(source.encode(), Settings())
    assert analysis.verdict is Verdict.COMPLIANT
    assert any("builder stage build ends in USER root" in w for w in analysis.warnings)


def test_a_parent_ending_in_user_root_is_warned_about_when_the_runtime_switches_away() -> None:
    source = (
        "FROM debian:bookworm-slim AS base\nRUN useradd app\nUSER root\n"
        "FROM base\nUSER app\nCMD sh\n"
    )
    analysis = check(source.encode(), Settings())
    assert analysis.verdict is Verdict.COMPLIANT
    assert any("parent stage base ends in USER root" in w for w in analysis.warnings)


def test_a_parent_whose_user_root_the_runtime_inherits_is_no_harmless_warning() -> None:
    source = "FROM debian:bookworm-slim AS base\nUSER root\nFROM base\nCMD sh\n"
    analysis = check(source.encode(), Settings())
    assert analysis.verdict is Verdict.ROOT
    assert not any("harmless" in w for w in analysis.warnings)


# --- needs-root: what cannot work as a plain non-root USER (programs.toml [[needs_root]]) -----


@pytest.mark.parametrize(
    ("lines", "program"),
    [
        ('CMD ["/usr/sbin/sshd", "-D"]', "sshd"),
        ('ENTRYPOINT ["/sbin/init"]', "systemd"),
        ('CMD ["/lib/systemd/systemd"]', "systemd"),
        ('CMD ["dockerd", "--host=unix:///var/run/docker.sock"]', "dockerd"),
        ('VOLUME /var/run/docker.sock\nCMD ["/app/bot"]', "the Docker socket"),
        ('ENV DOCKER_HOST=unix:///var/run/docker.sock\nCMD ["/app/bot"]', "the Docker socket"),
        ('CMD ["openvpn", "--config", "/etc/openvpn/server.conf"]', "openvpn"),
        ('CMD ["wg-quick", "up", "wg0"]', "WireGuard"),
        ("CMD iptables -A INPUT -j DROP && exec /app/run", "iptables/nftables"),
        ('CMD ["tcpdump", "-i", "any", "-w", "/data/cap.pcap"]', "tcpdump"),
        ('CMD ["nmap", "-sS", "10.0.0.0/24"]', "masscan/nmap"),
        ('CMD ["bpftrace", "-e", "tracepoint:syscalls:sys_enter_open {}"]', "bpftrace/bcc"),
        ("CMD apt-get install -y curl && exec /app/run", "a package manager"),
    ],
)
def test_what_cannot_run_as_a_plain_user_needs_root(lines: str, program: str) -> None:
    analysis = check(f"FROM debian:bookworm-slim\n{lines}\n".encode(), Settings())
    assert analysis.verdict is Verdict.NEEDS_ROOT, analysis
    assert f"uses {program}" in analysis.reason and "remedy:" in analysis.reason


@pytest.mark.parametrize(
    ("script", "program"),
    [
        (b'#!/bin/sh\napk add --no-cache curl\nexec "$@"\n', "a package manager"),
        (b"#!/bin/sh\ndpkg-reconfigure -f noninteractive tzdata\n", "dpkg-reconfigure"),
        (b"#!/bin/sh\nssh-keygen -A\nexec /usr/sbin/sshd -D\n", "sshd"),
        (b"#!/bin/sh\nssh-keygen -A\nexec /app/run\n", "ssh-keygen -A"),
        (b'#!/bin/sh\necho "$TZ" > /etc/timezone\nexec "$@"\n', "a write to /etc"),
        (b'#!/bin/sh\nsed -i "s/X/$X/" /etc/app.conf\nexec "$@"\n', "a write to /etc"),
    ],
)
def test_an_entrypoint_script_that_needs_root_at_start_needs_root(
    script: bytes, program: str
) -> None:
    source = 'FROM debian:bookworm-slim\nCOPY start.sh /start.sh\nENTRYPOINT ["/start.sh"]\n'
    analysis = check(source.encode(), Settings(), context=reader({"start.sh": script}))
    assert analysis.verdict is Verdict.NEEDS_ROOT, analysis
    assert f"uses {program}" in analysis.reason


@pytest.mark.parametrize(
    "lines",
    [
        'CMD ["/app/sshd-exporter"]',  # a word that only contains a program's name
        'CMD ["npm", "run", "init"]',
        'CMD ["nmap", "-sT", "localhost"]',  # a connect scan needs no raw socket
        'CMD ["python", "-m", "app", "--config", "/etc/app.conf"]',  # reading /etc is fine
    ],
)
def test_lookalikes_do_not_need_root(lines: str) -> None:
    assert verdict(f"FROM debian:bookworm-slim\n{lines}\n") is Verdict.ROOT


@pytest.mark.parametrize(
    "image", ["docker:27-dind", "containrrr/watchtower", "nginxproxy/nginx-proxy:1.6-alpine"]
)
def test_images_that_need_root_by_the_table(image: str) -> None:
    assert verdict(f"FROM {image}\n") is Verdict.NEEDS_ROOT


def test_needs_root_is_left_alone_unless_forced() -> None:
    source = b'FROM debian:bookworm-slim\nRUN apt-get update\nCMD ["/usr/sbin/sshd", "-D"]\n'
    assert fix(source, Settings()).output == source
    forced = fix(source, Settings(force=True))
    assert b"USER 10001:10001" in forced.output
    assert any("--force: fixing a needs-root stage" in w for w in forced.analysis.warnings)


# --- daemons that drop privileges by their own flag or config (programs.toml) ---------------


@pytest.mark.parametrize(
    "lines",
    [
        'CMD ["slapd", "-d", "0", "-u", "openldap", "-g", "openldap"]',
        'CMD ["named", "-g", "-u", "bind"]',
        'CMD ["dnsmasq", "-k", "--user=dnsmasq"]',
        'CMD ["dnsmasq", "-k"]',  # dnsmasq drops to nobody by default
        'CMD ["memcached", "-u", "memcache", "-p", "11211"]',
        'CMD ["ntpd", "-n", "-u", "ntp:ntp"]',
        'CMD ["chronyd", "-d", "-u", "chrony"]',
        'CMD ["tcpdump", "-i", "any", "-Z", "tcpdump", "-w", "/cap/x.pcap"]',
        'CMD ["busybox", "httpd", "-f", "-p", "80", "-u", "www-data"]',
        'CMD ["unbound", "-d"]',
        'CMD ["squid", "-N"]',
        'CMD ["openvpn", "--config", "/etc/openvpn/s.conf", "--user", "nobody"]',
    ],
)
def test_daemons_that_drop_by_their_own_flag_drop_privileges(lines: str) -> None:
    analysis = check(f"FROM debian:bookworm-slim\n{lines}\n".encode(), Settings())
    assert analysis.verdict is Verdict.DROPS_PRIVILEGES, analysis
    assert "drops privileges" in analysis.reason


def test_a_flag_that_names_root_keeps_root() -> None:
    assert verdict('FROM debian:bookworm-slim\nCMD ["memcached", "-u", "root"]\n') is (Verdict.ROOT)


def test_haproxy_drops_when_its_copied_config_sets_a_user() -> None:
    source = (
        "FROM debian:bookworm-slim\nRUN apt-get install -y haproxy\n"
        "COPY haproxy.cfg /usr/local/etc/haproxy/haproxy.cfg\n"
        'CMD ["haproxy", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]\n'
    )
    with_user = b"global\n    user haproxy\n    group haproxy\n"
    analysis = check(source.encode(), Settings(), context=reader({"haproxy.cfg": with_user}))
    assert analysis.verdict is Verdict.DROPS_PRIVILEGES
    assert "haproxy.cfg sets (user haproxy)" in analysis.reason
    assert verdict(source, {"haproxy.cfg": b"global\n    maxconn 100\n"}) is Verdict.ROOT


def test_a_daemon_started_by_an_entrypoint_script_with_its_flag_drops() -> None:
    source = 'FROM alpine:3.20\nCOPY run.sh /run.sh\nENTRYPOINT ["/run.sh"]\n'
    script = b"#!/bin/sh\nset -e\nexec memcached -u memcache -m 64\n"
    assert verdict(source, {"run.sh": script}) is Verdict.DROPS_PRIVILEGES


NEEDLES = sorted(
    {n for kind in programs.PROGRAM_TABLES for r in programs.program_rules(kind) for n in r.needles}
)


def test_every_program_rule_regex_compiles() -> None:
    """The rules' regexes compile on first use (programs.LazyPattern): a bad one in programs.toml
    must still fail here, not in a user's run the day a needle first matches."""
    for kind in programs.PROGRAM_TABLES:
        for rule in programs.program_rules(kind):
            for pattern in (rule.pattern, rule.flag, rule.setting):
                if pattern is not None:
                    assert pattern.compiled.pattern == pattern.source


# Needles, and needles cut short at either end: glued together they overlap in the text.
PIECES = [*NEEDLES, *(n[:-1] for n in NEEDLES), *(n[1:] for n in NEEDLES), " ", "x", "-"]


@given(st.lists(st.sampled_from(PIECES), max_size=12))
@example(["memcache", "dnsmasq"])  # memcached and dnsmasq share the d
def test_candidate_rules_are_the_rules_a_needle_of_which_the_text_contains(
    pieces: list[str],
) -> None:
    """One regex pass stands in for every rule's ``needle in text``, overlaps included
    ("memcachednsmasq" holds both)."""
    text = "".join(pieces)
    for kind in programs.PROGRAM_TABLES:
        naive = [r for r in programs.program_rules(kind) if any(n in text for n in r.needles)]
        assert candidate_rules(kind, [("x", text, "command")]) == naive


@pytest.mark.parametrize(
    ("run", "user"),
    [
        ('["sh", "-c", "useradd app"]', "app"),
        ('["/bin/sh","-c","useradd --create-home app && true"]', "app"),
        ('["useradd", "-m", "app"]', "app"),
        ('["/bin/bash", "-o", "pipefail", "-ec", "useradd -m app"]', "app"),
        ('--mount=type=cache,target=/var/cache ["sh", "-c", "useradd app"]', "app"),
    ],
)
def test_an_exec_form_run_creates_the_user_its_argv_names(run: str, user: str) -> None:
    output = fix(f"FROM debian:12\nRUN {run}\n".encode(), Settings()).output.decode()
    assert output.endswith(f"USER {user}\n")
    assert "groupadd" not in output


def test_an_exec_form_run_that_only_prints_useradd_creates_nobody() -> None:
    output = fix(b'FROM debian:12\nRUN ["echo", "useradd app"]\n', Settings()).output
    assert b"\nUSER app" not in output


def test_a_file_that_only_copies_onto_grafana_k6_is_compliant() -> None:
    # grafana/k6 runs as 12345: a user block inserted there would fail (addgroup as non-root).
    assert verdict("FROM grafana/k6:1.0\nCOPY script.js /scripts/\n") == Verdict.COMPLIANT


@pytest.mark.parametrize("image", ["hashicorp/consul:1.20", "hashicorp/vault:1.17"])
def test_consul_and_vault_drop_privileges_in_their_own_entrypoint(image: str) -> None:
    # Their entrypoints su-exec from root: fixing them with a USER would stop them starting.
    source = f"FROM {image}\nUSER root\nRUN apk add --no-cache curl\n"
    assert verdict(source) == Verdict.DROPS_PRIVILEGES
