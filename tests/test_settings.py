"""Option values fixuser refuses, each with one line and exit 2 (issue 20 item 12), and the
accounts of UID 0 it never switches to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixuser.core import fix
from fixuser.settings import Settings, SettingsError, build_settings

SOURCE = b'FROM debian:bookworm-slim\nRUN echo build\nCMD ["sh"]\n'


def fixuser(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args], cwd=cwd, capture_output=True, check=False
    )


@pytest.mark.parametrize(
    "flag",
    [
        "--user=root",
        "--user=containeradministrator",
        "--user=app\n",
        "--writable=/data\n",
        "--writable=/data\n/etc",
        "--uid=\u0661\u0660\u0660\u0660\u0661",  # Arabic-Indic digits: int() takes them
        "--uid=\uff11\uff10\uff10\uff10\uff11",  # fullwidth digits
        "--gid=\u00b2",  # a digit to str.isdigit, not to int()
        "--uid=1_000",
        "--uid= 10001",
        "--uid=10001\n",
        "--uid=0",
    ],
)
@pytest.mark.parametrize("command", ["fix", "check"])
def test_a_bad_option_value_is_refused_with_one_line_and_exit_2(
    flag: str, command: str, tmp_path: Path
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_bytes(SOURCE)
    done = fixuser(command, flag, "Dockerfile", cwd=tmp_path)
    assert done.returncode == 2, done
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("fixuser: "), lines
    assert done.stdout == b""
    assert dockerfile.read_bytes() == SOURCE


def test_verify_refuses_a_non_ascii_uid_with_one_line(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(SOURCE)
    done = fixuser("verify", "--uid=\u0661\u0660", "Dockerfile", cwd=tmp_path)
    assert done.returncode == 2, done
    assert len(done.stderr.decode().splitlines()) == 1
    assert "uid must be a whole number" in done.stderr.decode()


def test_ascii_digits_from_a_flag_become_the_uid() -> None:
    settings = build_settings({"uid": "4242", "gid": "4343"})
    assert (settings.uid, settings.gid) == (4242, 4343)
    assert b"USER 4242:4343" in fix(SOURCE, settings).output


@pytest.mark.parametrize("name", ["root", "app\n", "app\r", "App"])
def test_a_user_name_of_root_or_ending_in_a_line_break_is_no_setting(name: str) -> None:
    with pytest.raises(SettingsError):
        Settings(user=name)


def test_pyproject_cannot_name_root_either(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.fixuser]\nuser = "root"\n')
    with pytest.raises(SettingsError, match="root"):
        build_settings({}, tmp_path)


def test_a_name_the_stage_gives_uid_0_is_never_the_user_of_the_fix() -> None:
    created = b'FROM debian:bookworm-slim\nRUN useradd -o -u 0 -g 0 toor\nCMD ["sh"]\n'
    out = fix(created, Settings()).output.decode()
    assert out.splitlines()[-2] == "USER 10001:10001"
    named = fix(created, Settings(user_format="name")).output.decode()
    assert named.splitlines()[-2] == "USER app"


def test_an_earlier_user_of_uid_0_does_not_count_as_the_non_root_user_to_go_back_to() -> None:
    source = (
        b"FROM debian:bookworm-slim\n"
        b"RUN useradd -o -u 0 -g 0 toor\n"
        b"USER toor\n"
        b"RUN echo build\n"
        b"USER root\n"
        b'CMD ["sh"]\n'
    )
    out = fix(source, Settings()).output.decode()
    assert out.splitlines()[-2] == "USER 10001:10001"
    assert "USER 0" not in out


def test_a_non_ascii_digit_in_a_useradd_uid_is_no_uid_and_no_crash() -> None:
    # "²" is a digit to str.isdigit() but int() refuses it: a traceback, exit 3, before
    source = 'FROM debian:bookworm-slim\nRUN useradd -u \u00b2 x\nCMD ["sh"]\n'.encode()
    out = fix(source, Settings()).output.decode()
    assert "USER x" in out or "USER 10001:10001" in out
