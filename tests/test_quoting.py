"""Nothing fixuser writes into a shell line runs code it did not mean (issue 20 item 1).

Paths from WORKDIR, VOLUME and ARG defaults and a reused user name are data. Every RUN the fix
inserts is taken from the output the way BuildKit reads it (its own parser, PyPI
``dockerfile``), checked with ``dash -n``, then run under ``dash`` with recording stand-ins for
mkdir, chown, chmod and the account tools first on PATH (and the real tools after them, so
an injected ``touch`` would run): no marker file may appear, and the operands must be exactly
the intended paths. The entrypoint wrapper of ``--strategy entrypoint`` is run the same way.
"""

from __future__ import annotations

import collections
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import dockerfile as buildkit
import pytest

from fixuser.core import fix
from fixuser.dockerfile.words import process_word, volume_words
from fixuser.model import FixRefused
from fixuser.plan.entrypoint import render_wrapper
from fixuser.quoting import Unwritable, dockerfile_word, flag_word, shell_word
from fixuser.settings import Settings

DASH = shutil.which("dash")
pytestmark = pytest.mark.skipif(DASH is None, reason="dash is not installed")

HOSTILE = [
    "/app$(touch {m})",
    "/srv/`touch {m}`",
    "/data;touch {m}",
    "/x && touch {m} #",
    "/it's here",
    '/say "hi" $HOME',
    "/a\\b\\",
    "/tab\there",
    "/glob*[a]?",
    "/~user",
    "/-rf",
    "/é\udce9",  # a Latin-1 byte, kept by surrogateescape
]
# Run by the shell: they record their name and operands, one record a call.
TOOLS = (
    *("mkdir", "chown", "chmod", "useradd", "groupadd", "adduser", "addgroup", "usermod"),
    *("find", "setpriv", "su-exec", "chpst"),
)
SHIM = """#!/bin/sh
{
    printf '%s' "${0##*/}"
    for a in "$@"; do printf '\\037%s' "$a"; done
    printf '\\036'
} >> "$FIXUSER_LOG"
"""
# The family templates, each by an image the table maps to it.
IMAGES = {
    "debian": "debian:bookworm-slim",
    "alpine": "alpine:3.19",
    "rhel": "registry.access.redhat.com/ubi9/ubi",
    "rhel-minimal": "registry.access.redhat.com/ubi9/ubi-minimal",
    "suse": "opensuse/leap:15.6",
    "arch": "archlinux:latest",
    "unknown": "example.com/some/image:1",
}
ACCOUNT_FILES = ("/etc/passwd", "/etc/shadow", "/etc/group")


@pytest.fixture
def shims(tmp_path: Path) -> Path:
    directory = tmp_path / "shims"
    directory.mkdir()
    for tool in TOOLS:
        path = directory / tool
        path.write_text(SHIM)
        path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return directory


def run_dash(text: str, shims: Path, tmp_path: Path, *args: str) -> list[list[str]]:
    """``text`` run by dash with the stand-ins first on PATH: the calls they recorded."""
    assert DASH is not None
    subprocess.run([DASH, "-n", "-c", text], check=True)
    log = tmp_path / "calls.log"
    log.write_bytes(b"")
    env = {**os.environ, "PATH": f"{shims}:{os.environ['PATH']}", "FIXUSER_LOG": str(log)}
    subprocess.run([DASH, "-c", text, "sh", *args], env=env, check=True, cwd=tmp_path)
    records = os.fsdecode(log.read_bytes()).split("\x1e")[:-1]
    return [record.split("\x1f") for record in records]


def inserted_runs(before: bytes, after: bytes) -> list[str]:
    """The shell text of each RUN in ``after`` that ``before`` does not have, as BuildKit
    reads it (continuations joined with the file's escape character)."""

    def runs(data: bytes) -> list[str]:
        text = data.decode("utf-8", "surrogateescape")
        return [c.value[0] for c in buildkit.parse_string(text) if c.cmd == "RUN" and not c.json]

    old = collections.Counter(runs(before))
    new: list[str] = []
    for run in runs(after):
        if old[run]:
            old[run] -= 1
        else:
            new.append(run)
    return new


def away_from_etc(text: str, tmp_path: Path) -> str:
    """The account files a template appends to, moved into ``tmp_path`` (the test runs as
    root on the machine itself). The hostile paths never name them."""
    for name in ACCOUNT_FILES:
        target = tmp_path / name.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.touch()
        text = text.replace(name, str(target))
    return text


# --- the two quoting functions ------------------------------------------------------------


@pytest.mark.parametrize("value", [*HOSTILE, "", "plain", "/srv/app-1.2_x", "10001:10001"])
def test_shell_word_reads_back_as_exactly_the_value_under_dash(value: str, tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    value = value.format(m=marker)
    word = shell_word(value)
    assert DASH is not None
    done = subprocess.run(
        [DASH, "-c", f"printf '%s' {word}"], capture_output=True, check=True, cwd=tmp_path
    )
    assert os.fsdecode(done.stdout) == value
    assert not marker.exists()


def test_shell_word_leaves_safe_words_as_they_are_so_ordinary_output_does_not_change() -> None:
    for value in ("/home/app", "10001:10001", "app", "/srv/app-1.2_x", "/opt/a+b@c"):
        assert shell_word(value) == value
    assert shell_word("app:x:1::/home/app:/sbin/nologin", always=True).startswith("'")


@pytest.mark.parametrize("escape", ["\\", "`"])
@pytest.mark.parametrize(
    "value", ["svc$", "a$HOME", "${X}", "it's", 'say"', "a\\b", "a`b", "plain", "1000:1000"]
)
def test_dockerfile_word_is_read_back_by_buildkit_word_rules_as_the_value(
    value: str, escape: str
) -> None:
    word = dockerfile_word(value, escape)
    assert process_word(word, {"HOME": "/root", "X": "x"}, escape) == value


@pytest.mark.parametrize("value", ["a b", "a\nb", "a\rb", "a\tb"])
def test_dockerfile_word_refuses_what_would_not_stay_one_word(value: str) -> None:
    with pytest.raises(Unwritable):
        dockerfile_word(value)


def test_shell_word_refuses_a_line_break_which_would_end_the_run_line() -> None:
    with pytest.raises(Unwritable):
        shell_word("/data\nRUN touch /tmp/x")


def test_buildkit_removes_quotes_and_escapes_from_workdir_user_and_volume_words() -> None:
    env = {"D": "/srv/x"}
    assert process_word('"/config/Library/Application Support"', env) == (
        "/config/Library/Application Support"
    )
    assert process_word("/srv/media\\ library", env) == "/srv/media library"
    assert process_word("'$D'/a", env) == "$D/a"
    assert process_word('"$D"/a', env) == "/srv/x/a"
    assert process_word("/srv/media` library", env, "`") == "/srv/media library"
    assert process_word("C:\\app", env, "`") == "C:\\app"
    assert volume_words('["\'/data\'", "/x y"]', env) == ["/data", "/x y"]
    assert volume_words("/a $D", env) == ["/a", "/srv/x"]


# --- every inserted RUN, every family -----------------------------------------------------


def hostile_dockerfile(image: str, marker: Path, escape: str = "\\") -> tuple[bytes, list[str]]:
    """A Dockerfile whose WORKDIRs, VOLUMEs and ARG default hold shell code, quotes, a '#'
    and blanks; and the directories BuildKit makes of them, which the fix must own."""
    m = str(marker)
    header = "# escape=`\n" if escape == "`" else ""
    text = (
        f"{header}FROM {image}\n"
        f'ARG DATA="/srv/it\'s `touch {m}-arg`"\n'
        f"WORKDIR /app$(touch {m}-workdir)\n"
        "COPY run.sh .\n"
        f'VOLUME ["/data;touch {m}-volume", "/var/lib/app #1", "/say \\"hi\\" there"]\n'
        "RUN echo build\n"
        'WORKDIR "/config/Library/Application Support"\n'
        "WORKDIR $DATA\n"
        'CMD ["sh", "-c", "id"]\n'
    )
    if escape == "`":  # the ARG's backticks would be escapes there: a plain default
        text = text.replace(f'ARG DATA="/srv/it\'s `touch {m}-arg`"', 'ARG DATA="/srv/it\'s"')
    dirs = [
        f"/app$(touch {m}-workdir)",
        f"/data;touch {m}-volume",
        "/var/lib/app #1",
        "/say hi there",  # BuildKit removes the quotes of a JSON VOLUME string too
        "/config/Library/Application Support",
        f"/srv/it's `touch {m}-arg`" if escape == "\\" else "/srv/it's",
    ]
    return text.encode(), dirs


def assert_owned_exactly(calls: list[list[str]], dirs: set[str], owner: str, openshift: bool):
    made: set[str] = set()
    for index, call in enumerate(calls):
        if call[0] == "mkdir":
            assert call[1] == "-p", call
            made.update(call[2:])
            chown = calls[index + 1]
            assert chown == ["chown", owner, *call[2:]], (call, chown)
            if openshift:
                assert calls[index + 2] == ["chmod", "g=u", *call[2:]]
    assert made == dirs


@pytest.mark.parametrize("openshift", [False, True])
@pytest.mark.parametrize("escape", ["\\", "`"])
@pytest.mark.parametrize("family", list(IMAGES))
def test_a_hostile_path_runs_nothing_at_build_time_and_the_right_directory_is_owned(
    family: str, escape: str, openshift: bool, shims: Path, tmp_path: Path
) -> None:
    if family == "unknown" and escape == "`":
        pytest.skip("an unknown image in a file escaped with '`' is taken for Windows")
    marker = tmp_path / "pwned"
    source, dirs = hostile_dockerfile(IMAGES[family], marker, escape)
    settings = Settings(openshift=openshift)
    result = fix(source, settings, path="Dockerfile")
    assert result.analysis.family == family
    runs = inserted_runs(source, result.output)
    assert runs
    calls = [c for run in runs for c in run_dash(away_from_etc(run, tmp_path), shims, tmp_path)]
    owner = "10001:0" if openshift else "10001:10001"
    assert_owned_exactly(calls, {*dirs, "/home/app"}, owner, openshift)
    assert not list(tmp_path.glob("pwned*"))
    accounts = [c for c in calls if c[0] in ("useradd", "adduser")]
    if family != "rhel-minimal":  # which writes /etc/passwd itself
        assert accounts and accounts[0][-1] == "app"


@pytest.mark.parametrize(
    "name",
    ["nobody$(>{m})", "svc$", "a;>{m}", "it's", "x`>{m}`", "p#q", "$HOME"],
)
def test_a_reused_user_name_is_one_quoted_word_in_chown_and_keeps_its_meaning_in_user(
    name: str, shims: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    name = name.format(m=marker)
    user = dockerfile_word(name)
    source = (
        "FROM debian:bookworm-slim\n"
        f"USER {user}\n"
        "WORKDIR /srv/app\n"
        "COPY run.sh .\n"
        "RUN echo build\n"
        "USER root\n"
        'CMD ["sh", "-c", "id"]\n'
    ).encode()
    result = fix(source, Settings(), path="Dockerfile")
    runs = inserted_runs(source, result.output)
    calls = [c for run in runs for c in run_dash(run, shims, tmp_path)]
    assert calls == [["mkdir", "-p", "/srv/app"], ["chown", name, "/srv/app"]]
    assert not marker.exists()
    # USER and --chown= as BuildKit reads them: the same name again
    commands = buildkit.parse_string(result.output.decode())
    users = [process_word(c.value[0], {}) for c in commands if c.cmd == "USER"]
    assert users == [name, "root", name]  # root again for the RUN, then the name
    copy = next(c for c in commands if c.cmd == "COPY")
    chown = next(f for f in copy.flags if f.startswith("--chown="))
    assert process_word(chown.removeprefix("--chown="), {}) == name


def test_an_earlier_user_with_a_blank_is_refused_not_written() -> None:
    source = b'FROM debian:bookworm-slim\nUSER "a b"\nRUN echo\nUSER root\nCMD ["x"]\n'
    with pytest.raises(FixRefused, match="one word"):
        fix(source, Settings(), path="Dockerfile")


def test_a_volume_path_with_a_line_break_is_refused_not_written_as_an_instruction() -> None:
    source = b'FROM debian:bookworm-slim\nVOLUME ["/data\\nRUN touch /tmp/pwned"]\nCMD ["x"]\n'
    with pytest.raises(FixRefused, match="line break"):
        fix(source, Settings(), path="Dockerfile")


def test_fix_refuses_a_line_break_with_one_line_exit_2_and_the_file_untouched(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "bad" / "Dockerfile"
    good = tmp_path / "good" / "Dockerfile"
    bad.parent.mkdir()
    good.parent.mkdir()
    source = b'FROM debian:bookworm-slim\nVOLUME ["/data\\nRUN touch /tmp/pwned"]\nCMD ["x"]\n'
    bad.write_bytes(source)
    good.write_bytes(b"FROM debian:bookworm-slim\nCMD x\n")
    done = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", str(bad), str(good)],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 2
    errors = done.stderr.decode().splitlines()
    assert len([e for e in errors if "line break" in e]) == 1
    assert str(bad) in next(e for e in errors if "line break" in e)
    assert bad.read_bytes() == source
    assert b"USER 10001:10001" in good.read_bytes()


# --- --lock-users and --strategy entrypoint ------------------------------------------------


@pytest.mark.parametrize("family", list(IMAGES))
def test_the_lock_users_run_passes_dash_and_keeps_the_user_quoted(
    family: str, shims: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    source, _ = hostile_dockerfile(IMAGES[family], marker)
    result = fix(source, Settings(lock_users=True), path="Dockerfile")
    lock = [r for r in inserted_runs(source, result.output) if "nologin=" in r]
    assert len(lock) == 1
    passwd = tmp_path / "etc" / "passwd"
    passwd.parent.mkdir(parents=True, exist_ok=True)
    passwd.write_text("root:x:0:0::/root:/bin/sh\nold:x:5:5::/:/bin/sh\napp:x:10001:1::/:/bin/sh\n")
    calls = run_dash(away_from_etc(lock[0], tmp_path), shims, tmp_path)
    if family in ("debian", "rhel", "suse", "arch"):
        assert [c[-1] for c in calls if c[0] == "usermod"] == ["old"]
    else:
        assert passwd.read_text().splitlines()[0] == "root:x:0:0::/root:/bin/sh"
        assert passwd.read_text().splitlines()[2] == "app:x:10001:1::/:/bin/sh"
        assert not passwd.read_text().splitlines()[1].endswith("/bin/sh")
    assert not list(tmp_path.glob("pwned*"))


def test_the_entrypoint_wrapper_hands_exactly_the_hostile_paths_and_runs_nothing(
    shims: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    paths = [p.format(m=marker) for p in HOSTILE if "\t" not in p] + [str(tmp_path / "new dir")]
    (shims / "id").write_text("#!/bin/sh\necho 0\n")
    (shims / "id").chmod(0o755)
    for user, uid, gid in (("", 10001, 10001), ("svc$(touch " + str(marker) + ")", None, None)):
        wrapper = os.fsdecode(render_wrapper(user, uid, gid, "owner", paths, ("setpriv",)))
        calls = run_dash(wrapper, shims, tmp_path, "app", "arg with blank")
        finds = [c[1] for c in calls if c[0] == "find"]
        assert finds == paths
        made = [c[2] for c in calls if c[0] == "mkdir"]
        assert made == paths  # none of them exists
        assert calls[-1][0] == "setpriv" and calls[-1][-2:] == ["app", "arg with blank"]
        assert not list(tmp_path.glob("pwned*"))


def test_fix_strategy_entrypoint_wrapper_quotes_a_hostile_volume(
    shims: Path, tmp_path: Path
) -> None:
    marker = tmp_path / "pwned"
    volume = f"/data;touch {marker}"
    source = (
        "FROM debian:bookworm-slim\n"
        f'VOLUME ["{volume}", "/var/lib/app #1"]\n'
        'ENTRYPOINT ["sh", "-c", "id"]\n'
    ).encode()
    result = fix(source, Settings(strategy="entrypoint"), path="Dockerfile")
    (wrapper,) = result.extra_files
    (shims / "id").write_text("#!/bin/sh\necho 0\n")
    (shims / "id").chmod(0o755)
    calls = run_dash(wrapper.data.decode(), shims, tmp_path, "true")
    assert [c[1] for c in calls if c[0] == "find"] == [volume, "/var/lib/app #1"]
    assert not marker.exists()


@pytest.mark.parametrize("escape", ["\\", "`"])
@pytest.mark.parametrize("value", ["svc$", "$HOME", "it's", 'say"', "a\\b", "a`b", "1000:1000"])
def test_flag_word_survives_buildkits_flag_parser_and_then_its_expansion(
    value: str, escape: str
) -> None:
    header = "# escape=`\n" if escape == "`" else ""
    text = f"{header}FROM x\nCOPY --chown={flag_word(value, escape)} a b\n"
    (copy,) = [c for c in buildkit.parse_string(text) if c.cmd == "COPY"]
    (chown,) = copy.flags
    assert process_word(chown.removeprefix("--chown="), {"HOME": "/root"}, escape) == value
