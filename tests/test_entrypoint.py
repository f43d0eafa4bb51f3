"""``fix --strategy entrypoint`` (fixuser.plan.entrypoint): no USER, a wrapper that hands what the
user must write to it at start and then execs the original command as the user.

String in, string out for the planner; real files for ``fix``; real git for ``--commit`` and
``batch``. What the kernel says about it is in tests/test_engine_entrypoint.py.
"""

from __future__ import annotations

import itertools
import json
import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from fixuser.branches.fix_commit import run_commit
from fixuser.branches.repo import DEFAULT_BRANCH
from fixuser.core import check, fix
from fixuser.main import main
from fixuser.model import FixRefused, Verdict
from fixuser.plan import entrypoint
from fixuser.render import render
from fixuser.settings import Settings, SettingsError
from fixuser.tree.config import load_settings
from testing.fleet import make_remote
from testing.git import ROOT_DOCKERFILE, blob, git, isolate_git, make_repo

ENTRY = Settings(strategy="entrypoint")
WRAPPER = entrypoint.WRAPPER_PATH
FIXUSER = [sys.executable, "-m", "fixuser"]
DEBIAN = b"FROM debian:bookworm-slim\n"


def fixed(source: bytes, settings: Settings = ENTRY, path: str = "Dockerfile") -> str:
    result = fix(source, settings, path=path)
    assert result.changed, result.analysis
    return result.output.decode()


def wrapper_of(source: bytes, settings: Settings = ENTRY) -> str:
    (extra,) = fix(source, settings, path="Dockerfile").extra_files
    return extra.data.decode()


# --- the Dockerfile edit -------------------------------------------------------------------


def test_the_user_strategy_is_the_default() -> None:
    assert Settings().strategy == "user"
    assert fix(DEBIAN + b'CMD ["app"]\n', Settings(), path="Dockerfile").extra_files == ()


def test_no_user_directive_and_the_wrapper_copied_with_mode_0755() -> None:
    out = fixed(DEBIAN + b'CMD ["/app/run"]\n')
    assert "\nUSER " not in out
    assert f"\nCOPY --chmod=0755 fixuser-entrypoint.sh {WRAPPER}\n" in out
    assert out.endswith(f'ENTRYPOINT ["{WRAPPER}"]\nCMD ["/app/run"]\n')


def test_an_exec_form_entrypoint_gets_the_wrapper_in_front_and_keeps_its_text() -> None:
    out = fixed(DEBIAN + b'ENTRYPOINT [ "/app/run",\\\n  "--serve" ]\nCMD ["x"]\n')
    # inserted right after the "[": the rest of the line, the space after "[" too, as written
    assert f'ENTRYPOINT [{json.dumps(WRAPPER)},  "/app/run",\\\n  "--serve" ]\nCMD ["x"]\n' in out


def test_an_empty_entrypoint_becomes_the_wrapper_alone() -> None:
    out = fixed(DEBIAN + b'ENTRYPOINT []\nCMD ["app"]\n')
    assert f'ENTRYPOINT ["{WRAPPER}"]\nCMD ["app"]\n' in out


def test_a_shell_form_entrypoint_becomes_the_exec_form_of_its_shell() -> None:
    out = fixed(DEBIAN + b"ENTRYPOINT exec app --port $PORT\n")
    assert f'ENTRYPOINT ["{WRAPPER}", "/bin/sh", "-c", "exec app --port $PORT"]\n' in out
    out = fixed(DEBIAN + b'SHELL ["/bin/bash", "-o", "pipefail", "-c"]\nENTRYPOINT app | tee x\n')
    assert f'["{WRAPPER}", "/bin/bash", "-o", "pipefail", "-c", "app | tee x"]' in out


def test_a_stage_without_entrypoint_keeps_the_base_images_known_one() -> None:
    out = fixed(b'FROM node:20\nCMD ["node", "server.js"]\n')
    assert f'ENTRYPOINT ["{WRAPPER}", "docker-entrypoint.sh"]\nCMD ["node", "server.js"]\n' in out


def test_an_inherited_entrypoint_is_kept_and_an_inherited_cmd_said_again() -> None:
    source = DEBIAN.replace(b"\n", b" AS base\n") + (
        b'ENTRYPOINT ["/app/entry"]\nCMD ["serve"]\n\nFROM base\nRUN true\n'
    )
    out = fixed(source)
    tail = out.split("FROM base\n", 1)[1]
    assert f'ENTRYPOINT ["{WRAPPER}", "/app/entry"]\nCMD ["serve"]\n' in tail


def test_a_cmd_reset_by_an_earlier_entrypoint_is_not_said_again() -> None:
    source = DEBIAN.replace(b"\n", b" AS base\n") + b'ENTRYPOINT ["/app/entry"]\n\nFROM base\n'
    tail = fixed(source).split("FROM base\n", 1)[1]
    assert "CMD" not in tail


def test_lower_case_files_get_lower_case_keywords() -> None:
    out = fixed(b'from debian:12\nrun true\ncmd ["app"]\n')
    assert f"copy --chmod=0755 fixuser-entrypoint.sh {WRAPPER}\n" in out
    assert f'entrypoint ["{WRAPPER}"]\n' in out


def test_crlf_files_keep_crlf_and_the_wrapper_stays_lf() -> None:
    source = b'FROM debian:12\r\nRUN true\r\nENTRYPOINT ["app"]\r\n'
    result = fix(source, ENTRY, path="Dockerfile")
    assert all(line.endswith(b"\r\n") for line in result.output.splitlines(keepends=True))
    assert b"\r" not in result.extra_files[0].data


def test_child_stages_keep_their_user_and_are_warned_about() -> None:
    source = DEBIAN.replace(b"\n", b" AS base\n") + b'CMD ["app"]\n\nFROM base AS test\nRUN t\n'
    result = fix(source, ENTRY._replace(target="base"), path="Dockerfile")
    assert b"USER root" not in result.output
    assert any("stage test is built FROM base" in w for w in result.analysis.warnings)


# --- what the fix refuses ------------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    [
        "gcr.io/distroless/static-debian12",
        "scratch",
        "mcr.microsoft.com/windows/nanoserver:ltsc2022",
    ],
)
def test_a_base_without_a_shell_is_refused(base: str) -> None:
    with pytest.raises(FixRefused, match="needs a shell to run its wrapper"):
        fix(f'FROM {base}\nENTRYPOINT ["/server"]\n'.encode(), ENTRY)


def test_an_unknown_base_entrypoint_is_refused_not_guessed() -> None:
    with pytest.raises(FixRefused, match=r"does not know registry\.example\.com/x:1's own"):
        fix(b'FROM registry.example.com/x:1\nCMD ["app"]\n', ENTRY)


def test_a_cmd_only_the_base_image_has_is_said_again_when_known_and_refused_when_not() -> None:
    out = fixed(DEBIAN + b"RUN true\n")
    assert out.endswith(f'ENTRYPOINT ["{WRAPPER}"]\nCMD ["bash"]\n')
    with pytest.raises(FixRefused, match="which a new ENTRYPOINT resets"):
        fix(b"FROM golang:1.22\nRUN true\n", ENTRY)


def test_fix_reports_a_refusal_as_one_line_and_exit_2(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_bytes(b'FROM scratch\nCOPY s /s\nENTRYPOINT ["/s"]\n')
    proc = subprocess.run(
        [*FIXUSER, "fix", "--strategy", "entrypoint", "Dockerfile"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        "Dockerfile: --strategy entrypoint needs a shell to run its wrapper, and scratch "
        "(scratch) has none: use --strategy user"
    ]
    assert not (tmp_path / "fixuser-entrypoint.sh").exists()


# --- the wrapper ---------------------------------------------------------------------------


def test_the_wrapper_hands_volumes_and_writable_paths_over_and_drops_with_setpriv() -> None:
    source = DEBIAN + b'WORKDIR /srv\nVOLUME ["/data", "cache"]\nCMD ["app"]\n'
    text = wrapper_of(source, ENTRY._replace(writable=("/var/lib/app",)))
    assert text.startswith("#!/bin/sh\n")
    assert "for path in /data /srv/cache /var/lib/app; do" in text
    assert '-exec chown -h "$uid:$gid" {} +' in text
    assert '! -user "$uid" -o ! -group "$gid"' in text
    assert text.rstrip().endswith('exec setpriv --reuid="$uid" --regid="$gid" "$groups" -- "$@"')
    assert "su-exec" not in text


def test_alpine_installs_su_exec_from_apk_and_busybox_falls_back_to_chpst() -> None:
    source = b'FROM alpine:3.20\nCMD ["app"]\n'
    out = fixed(source)
    assert "RUN if command -v apk >/dev/null 2>&1; then apk add --no-cache su-exec; fi\n" in out
    text = wrapper_of(source)
    assert 'exec su-exec "$uid:$gid" "$@"' in text
    assert text.rstrip().endswith('exec chpst -u "$uid:$gid" "$@"')


def test_a_user_known_only_by_name_is_looked_up_at_start() -> None:
    source = DEBIAN + b'RUN useradd svc\nUSER svc\nRUN true\nUSER root\nCMD ["app"]\n'
    text = wrapper_of(source)
    assert "uid=$(id -u svc)\ngid=$(id -g svc)\n" in text


@pytest.mark.parametrize(
    ("tools", "uid", "gid", "paths"),
    list(
        itertools.product(
            [("setpriv",), ("su-exec", "chpst"), ("su-exec", "setpriv")],
            (10001, None),
            (10001, None),
            ([], ["/data", "'/srv/my data'"]),
        )
    ),
)
def test_every_wrapper_is_valid_posix_sh(
    tools: tuple[str, ...], uid: int | None, gid: int | None, paths: list[str]
) -> None:
    text = render(
        "entrypoint-wrapper.j2", user="app", uid=uid, gid=gid, owner="app", paths=paths, tools=tools
    )
    assert text.startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", "-c", text], check=True)


@pytest.mark.parametrize(
    ("family", "esc"),
    list(
        itertools.product(
            ["debian", "alpine", "rhel", "rhel-minimal", "suse", "arch", "unknown"], "\\`"
        )
    ),
)
def test_every_tool_block_is_valid_sh(family: str, esc: str) -> None:
    text = render("entrypoint-tool.j2", family=family, kw={"RUN": "RUN"}, esc=esc).strip()
    if family == "debian":
        assert text == ""  # setpriv is util-linux's, an essential package
        return
    assert text.startswith("RUN ")
    command = text.removeprefix("RUN ").replace(f"{esc}\n", "")
    subprocess.run(["sh", "-n", "-c", command], check=True)


def test_started_as_another_user_the_wrapper_only_execs() -> None:
    """Run by a non-root user it touches nothing, not even a volume it could make: it just
    runs the command (as root it hands the volume over: tests/test_engine_entrypoint.py)."""
    with tempfile.TemporaryDirectory(dir="/tmp") as top:
        os.chmod(top, 0o777)
        volume = os.path.join(top, "volume")
        script = Path(top, "wrapper")
        script.write_text(wrapper_of(DEBIAN + f'VOLUME {volume}\nCMD ["app"]\n'.encode()))
        script.chmod(0o755)
        command = ["sh", str(script), "sh", "-c", "id -u; echo ran"]
        if os.geteuid() == 0:
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=True)
        assert done.stdout.split() == [str(65534 if os.geteuid() == 0 else os.geteuid()), "ran"]
        assert not os.path.exists(volume)


# --- idempotence and check -----------------------------------------------------------------


def test_the_fixed_file_is_recognised_without_the_wrapper_in_the_context() -> None:
    out = fixed(DEBIAN + b'CMD ["app"]\n').encode()
    analysis = check(out, ENTRY)
    assert analysis.verdict is Verdict.DROPS_PRIVILEGES
    assert "fixuser's wrapper" in analysis.reason
    assert not fix(out, ENTRY).changed


PREPARES = DEBIAN + (
    b'COPY entry.sh /entry.sh\nVOLUME /var/lib/app\nENTRYPOINT ["/entry.sh"]\nCMD ["app"]\n'
)


def reader(script: bytes):  # type: ignore[no-untyped-def]
    return lambda path: script if path == "entry.sh" else None


def test_an_entrypoint_that_chowns_a_volume_at_start_is_told_to_use_the_strategy() -> None:
    context = reader(b'#!/bin/sh\nchown -R app /var/lib/app\nexec "$@"\n')
    analysis = check(PREPARES, Settings(), context=context)
    assert analysis.verdict is Verdict.NEEDS_ROOT
    assert "chown at start" in analysis.reason
    assert "only to prepare; remedy: fixuser fix --strategy entrypoint" in analysis.reason
    assert "hands /var/lib/app to the user" in analysis.reason
    assert not fix(PREPARES, Settings(), context=context).changed  # a USER would break it
    result = fix(PREPARES, ENTRY, context=context, path="Dockerfile")
    assert result.changed
    assert not any("--force" in w for w in result.analysis.warnings)
    assert "for path in /var/lib/app; do" in result.extra_files[0].data.decode()


def test_an_entrypoint_that_writes_its_config_below_etc_hands_that_directory_over() -> None:
    context = reader(b'#!/bin/sh\necho "port: 1" > /etc/app/app.yml\nexec "$@"\n')
    analysis = check(PREPARES, Settings(), context=context)
    assert "hands /etc/app to the user" in analysis.reason
    wrapper = fix(PREPARES, ENTRY, context=context, path="Dockerfile").extra_files[0]
    assert "for path in /var/lib/app /etc/app; do" in wrapper.data.decode()


@pytest.mark.parametrize(
    "script",
    [
        b'#!/bin/sh\nchown -R app "$DATA"\nexec "$@"\n',  # not a literal path
        b"#!/bin/sh\necho x >> /etc/hosts.allow\nexec app\n",  # /etc itself
        b"#!/bin/sh\nchown app /data\napt-get install -y curl\nexec app\n",  # more than that
    ],
)
def test_what_the_wrapper_cannot_take_over_stays_needs_root(script: bytes) -> None:
    analysis = check(PREPARES, Settings(), context=reader(script))
    assert analysis.verdict is Verdict.NEEDS_ROOT
    assert "only to prepare" not in analysis.reason
    assert not fix(PREPARES, ENTRY, context=reader(script)).changed


# --- settings ------------------------------------------------------------------------------


def test_writable_paths_are_validated_and_normalised() -> None:
    assert Settings(writable=["/data/", "/srv//x", "/data"]).writable == ("/data", "/srv/x")
    for bad in (["data"], ["/etc"], ["/a b"], "/data", ["/a/../etc"]):
        with pytest.raises(SettingsError):
            Settings(writable=bad)
    with pytest.raises(SettingsError, match="strategy must be user or entrypoint"):
        Settings(strategy="gosu")


def test_the_strategy_and_writable_come_from_pyproject_and_flags(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.fixuser]\nstrategy = "entrypoint"\nwritable = ["/data"]\n'
    )
    assert load_settings({}, tmp_path) == Settings(strategy="entrypoint", writable=("/data",))
    assert load_settings({"strategy": "user"}, tmp_path).strategy == "user"


def test_writable_with_a_user_directive_is_owned_at_build_time() -> None:
    out = fixed(DEBIAN + b'RUN true\nCMD ["app"]\n', Settings(writable=("/srv/uploads",)))
    assert "RUN mkdir -p /srv/uploads \\\n && chown 10001:10001 /srv/uploads\n" in out
    assert "\nUSER 10001:10001\n" in out


# --- the edges: fix in place, --diff, stdin, --commit, batch ---------------------------------


def test_fix_in_place_writes_the_wrapper_executable_beside_the_dockerfile(tmp_path: Path) -> None:
    (tmp_path / "svc").mkdir()
    dockerfile = tmp_path / "svc" / "Dockerfile.prod"
    dockerfile.write_bytes(DEBIAN + b'CMD ["app"]\n')
    assert main(["fix", "--strategy", "entrypoint", str(dockerfile)]) == 1
    wrapper = tmp_path / "svc" / "fixuser-entrypoint.prod.sh"
    assert stat.S_IMODE(wrapper.stat().st_mode) == 0o755
    assert (
        wrapper.read_bytes() == fix(DEBIAN + b'CMD ["app"]\n', ENTRY, path="x").extra_files[0].data
    )
    assert b"COPY --chmod=0755 fixuser-entrypoint.prod.sh " in dockerfile.read_bytes()
    assert main(["fix", "--strategy", "entrypoint", str(dockerfile)]) == 0  # nothing left to do


def test_fix_diff_shows_the_wrapper_as_a_new_file_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("Dockerfile").write_bytes(DEBIAN + b'CMD ["app"]\n')
    assert main(["fix", "--diff", "--strategy", "entrypoint", "Dockerfile"]) == 1
    out = capsys.readouterr().out
    assert "--- a/Dockerfile\n+++ b/Dockerfile\n" in out
    assert "--- /dev/null\n+++ b/fixuser-entrypoint.sh\n@@ -0,0 +1," in out
    assert sorted(os.listdir(tmp_path)) == ["Dockerfile"]
    subprocess.run(["git", "apply", "-"], input=out.encode(), check=True, cwd=tmp_path)
    assert Path("fixuser-entrypoint.sh").read_text().startswith("#!/bin/sh\n")


def test_fix_from_stdin_refuses_the_strategy_it_cannot_write() -> None:
    proc = subprocess.run(
        [*FIXUSER, "fix", "--strategy", "entrypoint", "-"],
        input=DEBIAN + b'CMD ["app"]\n',
        capture_output=True,
    )
    assert proc.returncode == 2
    assert proc.stdout == DEBIAN + b'CMD ["app"]\n'
    assert b"adds a file beside the Dockerfile" in proc.stderr


def test_fix_commit_commits_the_wrapper_with_the_dockerfile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    repo = make_repo(tmp_path / "repo", {"svc/Dockerfile": ROOT_DOCKERFILE})
    assert run_commit([str(repo)], ENTRY) == 0
    changed = git(repo, "diff", "--name-only", "HEAD", DEFAULT_BRANCH).split()
    assert changed == ["svc/Dockerfile", "svc/fixuser-entrypoint.sh"]
    assert git(repo, "ls-tree", DEFAULT_BRANCH, "svc/").split()[0::4] == ["100644", "100755"]
    assert blob(repo, DEFAULT_BRANCH, "svc/fixuser-entrypoint.sh").startswith(b"#!/bin/sh\n")
    message = git(repo, "log", "-1", "--format=%B", DEFAULT_BRANCH)
    assert "Why an entrypoint and not USER" in message
    assert "expect nothing: it starts as root" in message


def test_batch_commits_the_wrapper_and_reuses_its_own_branch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    (tmp_path / "home" / ".gitconfig").write_text('[protocol "file"]\n\tallow = always\n')
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    remote = make_remote(tmp_path / "remotes", "svc", {"Dockerfile": ROOT_DOCKERFILE})
    args = ["batch", "--strategy", "entrypoint", "--push", "--report", str(tmp_path / "r.json")]
    assert main([*args, str(remote)]) == 0
    files = git(remote, "ls-tree", "-r", "--name-only", DEFAULT_BRANCH).split()
    assert files == ["Dockerfile", "app/run", "fixuser-entrypoint.sh"]
    mode = git(remote, "ls-tree", DEFAULT_BRANCH, "fixuser-entrypoint.sh").split()[0]
    assert mode == "100755"
    git(remote, "fsck", "--strict")
    tip = git(remote, "rev-parse", DEFAULT_BRANCH)
    assert main([*args, str(remote)]) == 0  # the same fix: the branch is reused, not redone
    assert git(remote, "rev-parse", DEFAULT_BRANCH) == tip


@pytest.mark.parametrize(
    ("written", "command"),
    [
        # BuildKit (dockerfile 1.10+) runs what is not one JSON array of strings, trailing
        # text included, in the shell form: the wrapper keeps that command, as the shell's.
        ('["run"] now', '["run"] now'),
        ('["run", "--port", "80"] # comment', '["run", "--port", "80"] # comment'),
        # \x1f is no blank to Go: the line is not one JSON array either
        ('["run"]\x1f', '["run"]\x1f'),
    ],
)
def test_an_exec_form_entrypoint_followed_by_text_is_kept_as_buildkit_reads_it(
    written: str, command: str
) -> None:
    out = fixed(DEBIAN + f"ENTRYPOINT {written}\n".encode())
    expected = json.dumps([WRAPPER, "/bin/sh", "-c", command], ensure_ascii=False)
    assert f"\nENTRYPOINT {expected}\n" in out
