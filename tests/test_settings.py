"""Option values fixuser refuses, each with one line and exit 2 (issue 20 item 12), and the
accounts of UID 0 it never switches to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fixuser.core import fix
from fixuser.settings import Settings, SettingsError, build_settings, read_table
from fixuser.tree.config import load_settings, project_dir

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
        load_settings({}, tmp_path)


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


# --- where settings come from: defaults < [tool.fixuser] < the flags given -----------------


def test_the_table_beats_the_defaults_and_a_flag_beats_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.fixuser]\nuser = "svc"\nuid = 2000\n')
    assert load_settings({}, None) == Settings()
    assert load_settings({}, tmp_path) == Settings(user="svc", uid=2000)
    assert load_settings({"uid": "3000"}, tmp_path) == Settings(user="svc", uid=3000)


def test_a_flag_not_given_never_beats_the_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.fixuser]\nuid = 2000\nlock-users = true\n")
    settings = load_settings({"uid": None, "lock_users": None, "user": None}, tmp_path)
    assert (settings.uid, settings.lock_users, settings.user) == (2000, True, "app")


def test_a_repository_table_beats_the_settings_where_fixuser_runs_and_flags_beat_both() -> None:
    where_it_runs = Settings(user="ops", uid=4000)
    table = read_table(b"[tool.fixuser]\nuid = 2000\n", "pyproject.toml")
    assert build_settings({}, table, where_it_runs) == Settings(user="ops", uid=2000)
    assert build_settings({"user": "svc"}, table, where_it_runs) == Settings(user="svc", uid=2000)


def test_the_nearest_pyproject_above_the_directory_counts(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.fixuser]\nuid = 2000\n")
    below = tmp_path / "a" / "b"
    below.mkdir(parents=True)
    assert project_dir(below) == tmp_path.resolve()
    assert load_settings({}, project_dir(below)).uid == 2000


def test_read_table_takes_dashed_keys_and_a_pyproject_without_the_table() -> None:
    data = b'[project]\nname = "x"\n[tool.fixuser]\nuser-format = "name"\nlock-users = true\n'
    assert read_table(data, "pyproject.toml") == {"user_format": "name", "lock_users": True}
    assert read_table(b'[project]\nname = "x"\n', "pyproject.toml") == {}


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"[tool.fixuser\n", "src/pyproject.toml: cannot read [tool.fixuser]: "),
        (b'[tool.fixuser]\nuser = "\xff"\n', "src/pyproject.toml: cannot read [tool.fixuser]: "),
        (b'[tool]\nfixuser = "app"\n', "src/pyproject.toml: [tool.fixuser] must be a table"),
        (b'tool = "x"\n', "src/pyproject.toml: [tool.fixuser] must be a table"),
        (b"[tool.fixuser]\nname = 1\n", "src/pyproject.toml: unknown setting 'name'"),
    ],
)
def test_a_table_fixuser_cannot_use_is_a_one_line_settings_error(data: bytes, said: str) -> None:
    with pytest.raises(SettingsError) as raised:
        read_table(data, "src/pyproject.toml")
    assert str(raised.value).startswith(said)
    assert "\n" not in str(raised.value)


def test_settings_reads_no_file() -> None:
    # The pure layer parses what tree/config.py (or batch, from a commit) has read: it imports
    # nothing that reads files, not even inside a function.
    import ast

    import fixuser.settings

    tree = ast.parse(Path(fixuser.settings.__file__).read_text(encoding="utf-8"))
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}  # fmt: skip
    imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported, "the walk found the imports"
    assert not {m for m in imported if m.split(".")[0] in ("os", "io", "pathlib", "subprocess")}
    assert not {m for m in imported if m.startswith(("fixuser.tree", "fixuser.commands"))}
    calls = {node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}  # fmt: skip
    assert "open" not in calls
