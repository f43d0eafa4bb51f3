"""Planning: which user, where the block and the USER go, what gets --chown."""

from __future__ import annotations

import re

from fixuser.core import check, fix
from fixuser.model import Verdict
from fixuser.settings import Settings


def fixed(source: str, settings: Settings | None = None) -> str:
    return fix(source.encode(), settings or Settings()).output.decode()


def lines(source: str, settings: Settings | None = None) -> list[str]:
    return fixed(source, settings).splitlines()


def test_user_goes_after_the_last_run_and_before_cmd() -> None:
    out = lines("FROM debian:12\nRUN a\nCOPY x /app/\nRUN b\nCMD c\n")
    assert out.index("RUN b") < out.index("USER 10001:10001") < out.index("CMD c")


def test_user_block_goes_after_from_and_its_arg_env_label_lines() -> None:
    out = lines("FROM debian:12\nARG A=1\nENV B=2\nLABEL c=d\nRUN x\n")
    assert out[1:4] == ["ARG A=1", "ENV B=2", "LABEL c=d"]
    assert out[4].startswith("RUN groupadd --gid 10001 app")


def test_the_comment_is_never_on_the_user_line() -> None:
    out = lines("FROM debian:12\nCMD x\n")
    user = next(line for line in out if line.startswith("USER"))
    assert "#" not in user
    assert out[out.index(user) - 1].startswith("# CIS Docker Benchmark 4.1")


def test_trailing_user_root_is_replaced_not_kept() -> None:
    out = lines("FROM debian:12\nRUN x\nUSER root\nCMD y\n")
    assert "USER root" not in out
    assert [line for line in out if line.startswith("USER")] == ["USER 10001:10001"]


def test_switches_back_to_an_earlier_non_root_user_after_the_last_run() -> None:
    out = lines("FROM node:20\nUSER node\nRUN a\nUSER root\nRUN b\nCMD c\n")
    assert out[-2:] == ["USER 1000:1000", "CMD c"]
    assert not any("useradd" in line for line in out)


def test_user_format_name_writes_the_name() -> None:
    out = lines("FROM debian:12\nCMD x\n", Settings(user_format="name"))
    assert "USER app" in out


def test_uid_and_gid_settings_are_used() -> None:
    out = fixed("FROM debian:12\nCMD x\n", Settings(uid=2345, gid=3456))
    assert "groupadd --gid 3456 app" in out
    assert "--uid 2345 --gid 3456" in out
    assert "USER 2345:3456" in out


def test_a_uid_the_base_image_uses_is_not_reused() -> None:
    result = fix(b"FROM ubuntu:24.04\nCMD x\n", Settings(uid=1000))
    assert b"USER 1001:1001" in result.output
    assert any("1000 is already used" in w for w in result.analysis.warnings)


def test_openshift_uses_group_zero_and_g_equals_u() -> None:
    out = fixed("FROM debian:12\nWORKDIR /app\nCMD x\n", Settings(openshift=True))
    assert "--gid 0" in out
    assert "chmod g=u /home/app /app" in out
    assert "USER 10001" in out.splitlines()


def test_read_only_ownership_adds_no_chown_to_copy() -> None:
    out = fixed(
        "FROM debian:12\nWORKDIR /app\nCOPY . .\nVOLUME /app/data\nCMD x\n",
        Settings(ownership="read-only"),
    )
    assert "COPY . ." in out.splitlines()
    assert "chown 10001:10001 /home/app /app/data" in out


def test_copy_into_the_workdir_gets_chown_and_an_existing_chown_is_kept() -> None:
    out = lines("FROM debian:12\nWORKDIR /app\nCOPY a .\nCOPY --chown=5:5 b .\nCMD x\n")
    assert "COPY --chown=10001:10001 a ." in out
    assert "COPY --chown=5:5 b ." in out


def test_copy_into_system_directories_gets_no_chown() -> None:
    out = lines("FROM debian:12\nCOPY a /etc/a.conf\nCOPY b /usr/local/bin/b\nCMD x\n")
    assert "COPY a /etc/a.conf" in out
    assert "COPY b /usr/local/bin/b" in out


def test_system_directories_are_never_chowned() -> None:
    out = fixed("FROM debian:12\nWORKDIR /usr/local\nRUN mkdir -p /tmp/x /var/log /etc\nCMD x\n")
    assert [line for line in out.splitlines() if "chown" in line] == [
        " && chown 10001:10001 /home/app"  # the created user's own home, nothing of the system
    ]


def test_a_volume_before_the_last_run_is_owned_before_the_volume() -> None:
    out = lines("FROM debian:12\nVOLUME /data\nRUN x\nCMD y\n")
    volume = out.index("VOLUME /data")
    assert out[volume - 1] == " && chown 10001:10001 /data"
    assert out.index("USER 10001:10001") > out.index("RUN x")


def test_shell_less_images_get_no_run() -> None:
    for base in ("gcr.io/distroless/static-debian12", "scratch"):
        out = fixed(f'FROM {base}\nWORKDIR /app\nCOPY a /app/\nENTRYPOINT ["/app/a"]\n')
        assert "RUN" not in out, base


def test_windows_gets_container_user_and_no_chown() -> None:
    source = (
        "FROM mcr.microsoft.com/windows/servercore:ltsc2022\n"
        "WORKDIR C:/app\nCOPY app C:/app/\nCMD app.exe\n"
    )
    out = lines(source)
    assert "USER ContainerUser" in out
    assert "COPY app C:/app/" in out
    assert not any("RUN" in line or "--chown" in line for line in out)


def test_reuses_a_user_the_file_created_by_uid() -> None:
    out = lines("FROM debian:12\nRUN useradd -u 1500 svc\nCMD x\n")
    assert "USER 1500" in out
    assert not any("groupadd" in line for line in out)


def test_reuses_a_user_the_file_created_by_name_when_the_uid_is_the_systems() -> None:
    out = lines("FROM debian:12\nRUN useradd --system svc\nCMD x\n")
    assert "USER svc" in out


def test_lower_case_files_get_lower_case_inserts() -> None:
    out = lines("from debian:12\nrun x\ncmd y\n")
    assert "user 10001:10001" in out
    assert any(line.startswith("run groupadd") for line in out)


def test_fix_output_checks_as_not_root() -> None:
    for source in (
        "FROM debian:12\nRUN x\nUSER root\n",
        "FROM alpine:3.20\nVOLUME /d\nRUN x\n",
        'FROM scratch\nCOPY a /a\nENTRYPOINT ["/a"]\n',
        "ARG U=root\nFROM debian:12\nARG U\nUSER ${U}\n",
    ):
        out = fix(source.encode(), Settings()).output
        assert check(out, Settings()).verdict is not Verdict.ROOT, source


def test_a_dangling_continuation_followed_by_blank_lines_does_not_swallow_the_user() -> None:
    for tail in ("\n", "\n\n", " ", "\n# trailing comment\n"):
        source = f"FROM debian:12\nRUN echo \\{tail}".encode()
        out = fix(source, Settings()).output
        assert check(out, Settings()).verdict is Verdict.COMPLIANT, tail
        assert b"RUN echo\n" in out
        assert fix(out, Settings()).output == out


def test_a_crlf_dangling_continuation_keeps_its_crlf() -> None:
    out = fix(b"FROM debian:12\r\nRUN echo \\\r\n", Settings()).output
    assert b"RUN echo\r\n" in out
    assert b"\n" not in out.replace(b"\r\n", b"")


def test_a_last_line_ending_in_a_lone_cr_is_ended_before_the_user() -> None:
    # A "\r" without "\n" ends no line: what fix wrote after it joined the last line
    # ("EOF\r# CIS ..."), and the heredoc was never closed. Found by the property test.
    for source in (
        b'FROM debian:12\r\nWORKDIR /srv/app\r\nCMD ["run"]\r',
        b"FROM archlinux:latest\r\nWORKDIR /srv/app\r\nRUN <<EOF\r\nEOF\r",
        b"FROM debian:12\r\nWORKDIR /srv/app\r\nRUN echo \\\r",
    ):
        out = fix(source, Settings()).output
        assert check(out, Settings()).verdict is Verdict.COMPLIANT, source
        assert fix(out, Settings()).output == out, source
        assert b"\r#" not in out and b"\n" not in out.replace(b"\r\n", b""), out


def test_root_by_design_and_dropping_stages_are_left_unless_forced() -> None:
    for source in (
        b"FROM nginx:1.27\nCOPY site/ /usr/share/nginx/html/\n",
        b'FROM debian:12\nENTRYPOINT ["gosu", "svc", "run"]\n',
        b"FROM postgres:16\nENV POSTGRES_DB=app\n",
    ):
        left = fix(source, Settings())
        assert left.output == source and not left.changed
        forced = fix(source, Settings(force=True))
        assert b"USER 10001:10001" in forced.output
        assert forced.analysis.warnings[0].startswith("--force")
        assert check(forced.output, Settings()).verdict is Verdict.COMPLIANT


def test_a_volume_the_parent_stage_declares_is_warned_about_not_chowned() -> None:
    source = (
        b"FROM ubuntu:22.04 AS base\nVOLUME /data\nFROM base\nWORKDIR /app\n"
        b'CMD ["python3", "/app/main.py"]\n'
    )
    result = fix(source, Settings())
    assert b"USER 10001:10001" in result.output
    assert b"/data" not in result.output.replace(b"VOLUME /data", b"")  # no chown of it
    (warning,) = [w for w in result.analysis.warnings if "VOLUME" in w]
    assert warning.startswith("line 2: VOLUME /data comes from stage base")
    assert "chown it to 10001:10001 before that VOLUME line" in warning
    # A VOLUME of the stage itself is made writable before it, with no such warning.
    own = fix(b'FROM ubuntu:22.04\nVOLUME /data\nCMD ["true"]\n', Settings())
    assert b"chown 10001:10001 /home/app /data" in own.output
    assert not [w for w in own.analysis.warnings if "comes from stage" in w]
    # The entrypoint strategy's wrapper hands VOLUMEs over at start: nothing to warn about.
    wrapped = fix(source, Settings(strategy="entrypoint"))
    assert not [w for w in wrapped.analysis.warnings if "comes from stage" in w]


def test_a_writable_run_after_an_earlier_user_keeps_the_user_root_it_needs() -> None:
    # USER app ... WORKDIR /data ... USER root: the RUN that makes /data the user's needs
    # root, and in place of the USER root it would run as app (mkdir: Permission denied)
    source = (
        b"FROM debian:bookworm-slim\nRUN useradd --uid 1000 app\nUSER app\nRUN echo build\n"
        b'WORKDIR /data\nUSER root\nCMD ["sh"]\n'
    )
    lines = fix(source, Settings()).output.decode().splitlines()
    at = lines.index("USER root")
    assert lines[at + 1].startswith("RUN mkdir -p /data")
    assert lines[-2:] == ["USER 1000", 'CMD ["sh"]']


def test_an_earlier_user_is_read_with_the_values_at_its_own_line() -> None:
    source = (
        b"FROM debian:12\nRUN useradd -u 1000 app\nENV U=app\nUSER $U\nRUN make\n"
        b"ENV U=root\nUSER root\n"
    )
    output = fix(source, Settings()).output
    assert b"USER root" not in output  # USER $U was app at its line: dropping USER root is enough
    assert b"groupadd" not in output
    assert check(output, Settings()).user == "app (line 4)"


def test_a_trailing_empty_user_is_replaced_as_a_trailing_user_root_is() -> None:
    source = b"FROM debian:12\nRUN make\nARG NOBODY=\nUSER $NOBODY\n"
    output = fix(source, Settings()).output.decode()
    assert "USER $NOBODY" not in output
    assert output.endswith("USER 10001:10001\n")


def test_a_quoted_workdir_is_the_directory_inside_the_quotes() -> None:
    # BuildKit expands WORKDIR as a shell word: WORKDIR "/srv/app" is /srv/app.
    output = fix(b'FROM debian:12\nWORKDIR "/srv/app"\nRUN make\n', Settings()).output.decode()
    inserted = output.replace('WORKDIR "/srv/app"', "")
    assert re.search(r"chown 10001:10001 '?/srv/app'?\n", inserted)
    assert '"/srv' not in inserted
