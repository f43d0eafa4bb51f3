"""Accounts a container does not need (audit --users, verify) and the --lock-users RUN."""

from __future__ import annotations

import os
import re
import stat
import subprocess
from pathlib import Path

import pytest

from fixuser.analysis import accounts
from fixuser.analysis.accounts import Account, changes, password_of, review
from fixuser.core import check, fix
from fixuser.model import Verdict
from fixuser.plan.lock import lock_users
from fixuser.settings import Settings, SettingsError
from fixuser.tree.config import load_settings

DEBIAN_PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
_apt:x:42:65534::/nonexistent:/usr/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
"""
DEBIAN_SHADOW = """\
root:*:20789:0:99999:7:::
daemon:*:20789:0:99999:7:::
sync:*:20789:0:99999:7:::
_apt:*:20789:0:99999:7:::
nobody:*:20789:0:99999:7:::
"""
RHEL_SPECIALS = """\
root:x:0:0:root:/root:/bin/bash
sync:x:5:0:sync:/sbin:/bin/sync
shutdown:x:6:0:shutdown:/sbin:/sbin/shutdown
halt:x:7:0:halt:/sbin:/sbin/halt
"""
HASH = "$6$salt$" + "a" * 86


def names(found: tuple[Account, ...]) -> list[str]:
    return [a.name for a in found]


# --- review: which accounts are not needed -------------------------------------------------


def test_a_plain_debian_image_has_no_account_it_does_not_need() -> None:
    found = review(DEBIAN_PASSWD, DEBIAN_SHADOW)
    assert found.flagged == ()
    assert found.shadow_read
    # root keeps its login shell: it is needed, and said so
    assert found.kept == (Account("root", 0, "/bin/bash", "root: keeps its shell"),)


def test_sync_shutdown_and_halt_are_no_login_shells() -> None:
    assert review(RHEL_SPECIALS, "").flagged == ()


def test_an_extra_account_with_bash_is_flagged_for_its_login_shell() -> None:
    passwd = DEBIAN_PASSWD + "extra:x:1000:1000::/home/extra:/bin/bash\n"
    found = review(passwd, DEBIAN_SHADOW + "extra:!:20789:0:99999:7:::\n")
    assert found.flagged == (Account("extra", 1000, "/bin/bash", "login shell"),)
    assert found.flagged[0].as_json() == {
        "name": "extra",
        "uid": 1000,
        "shell": "/bin/bash",
        "why": "login shell",
    }


def test_an_empty_shell_field_is_a_login_shell() -> None:
    found = review("root:x:0:0::/root:/bin/sh\nold:x:5:5::/:\n", "")
    assert found.flagged == (Account("old", 5, "", "empty shell field: a login runs /bin/sh"),)


def test_uid_0_besides_root_is_root_equivalent_and_flagged_with_every_reason() -> None:
    found = review(DEBIAN_PASSWD + "toor:x:0:0::/root:/bin/sh\n", DEBIAN_SHADOW)
    assert names(found.flagged) == ["toor"]
    assert found.flagged[0].why == "UID 0 besides root: root-equivalent; login shell"
    assert names(found.root_equivalent) == ["toor"]


@pytest.mark.parametrize(
    ("field", "state"),
    [
        ("", "empty"),
        ("*", "locked"),
        ("!", "locked"),
        ("!!", "locked"),
        ("!" + HASH, "locked"),  # usermod -L: a hash that no password matches any more
        ("*LK*", "locked"),
        ("NP", "locked"),  # nothing crypt(3) makes
        (HASH, "hash"),
        ("$y$j9T$salt$hash", "hash"),
        ("abJnggxhB/yWI", "hash"),  # DES: 13 characters
    ],
)
def test_password_fields(field: str, state: str) -> None:
    assert password_of(field) == state


def test_a_password_hash_and_an_empty_password_are_flagged_even_for_root() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\nsvc:x:100:100::/:/sbin/nologin\n"
    found = review(passwd, f"root::0:::::\nsvc:{HASH}:0:::::\n")
    assert [(a.name, a.why) for a in found.flagged] == [
        ("root", "empty password"),  # Alpine's CVE-2019-5021: worse than a hash
        ("svc", "password hash set"),
    ]
    assert found.root_equivalent == ()  # root is root, not an alias of it


def test_a_password_in_passwd_itself_is_judged_without_shadow() -> None:
    found = review("root:x:0:0::/root:/bin/sh\nold::7:7::/:/bin/false\n")
    assert [(a.name, a.why) for a in found.flagged] == [("old", "empty password")]


def test_an_unreadable_shadow_judges_no_x_password_and_says_so() -> None:
    found = review(DEBIAN_PASSWD, None)
    assert found.flagged == ()
    assert not found.shadow_read


def test_x_without_a_shadow_line_is_no_password() -> None:
    assert review("svc:x:100:100::/:/sbin/nologin\n", "").flagged == ()


def test_the_containers_own_user_keeps_its_login_shell_but_not_its_password() -> None:
    passwd = DEBIAN_PASSWD + "app:x:10001:10001::/home/app:/bin/bash\n"
    found = review(passwd, DEBIAN_SHADOW + f"app:{HASH}:1:0:::::\n", own_uid=10001)
    assert found.flagged == (Account("app", 10001, "/bin/bash", "password hash set"),)
    assert ("app", "the container's user: keeps its shell") in [(a.name, a.why) for a in found.kept]


def test_a_second_account_of_the_containers_uid_is_another_account() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\ntoor:x:0:0::/root:/bin/sh\n"
    found = review(passwd, "", own_uid=0)  # PID 1 runs as root: getpwuid(0) is root
    assert names(found.flagged) == ["toor"]
    assert names(found.kept) == ["root"]


def test_the_own_user_by_name_when_pid_1_is_unknown() -> None:
    passwd = "root:x:0:0::/root:/bin/sh\nsvc:x:5:5::/:/bin/sh\n"
    assert review(passwd, "", own_name="svc").flagged == ()


def test_comments_nis_lines_and_lines_of_another_shape_are_no_accounts() -> None:
    passwd = "# a comment\n+::::::\n-bad::::::\nbroken:x:1\n\nroot:x:0:0::/root:/bin/sh\n"
    assert [e.name for e in accounts.entries(passwd)] == ["root"]


# --- changes: what a fix changed in the account database (verify) ----------------------------

BEFORE = {
    "/etc/passwd": DEBIAN_PASSWD + "extra:x:1000:1000::/home/extra:/bin/bash\n",
    "/etc/shadow": DEBIAN_SHADOW + "extra:!:20789:0:99999:7:::\n",
    "/etc/group": "root:x:0:\nextra:x:1000:\n",
}
APP = "app:x:10001:10001::/home/app:/usr/sbin/nologin\n"


def fixed_files(**replace: str) -> dict[str, str]:
    files = {
        "/etc/passwd": BEFORE["/etc/passwd"].replace(
            "/home/extra:/bin/bash", "/home/extra:/usr/sbin/nologin"
        )
        + APP,
        "/etc/shadow": BEFORE["/etc/shadow"] + "app:!:20790:0:99999:7:::\n",
        "/etc/group": BEFORE["/etc/group"] + "app:x:10001:\n",
    }
    return {**files, **replace}


def test_the_lock_and_the_added_user_are_all_that_changed() -> None:
    found = changes(BEFORE, fixed_files(), own_uid=10001)
    assert found.locked == (accounts.Locked("extra", "/bin/bash", "/usr/sbin/nologin"),)
    assert found.added == ("app",)
    assert found.problems == ()


def test_a_package_built_another_day_changes_no_account() -> None:
    # the third field of /etc/shadow is the day of the last password change
    after = fixed_files(
        **{"/etc/shadow": fixed_files()["/etc/shadow"].replace("_apt:*:20789", "_apt:*:20795")}
    )
    assert changes(BEFORE, after, own_uid=10001).problems == ()


@pytest.mark.parametrize(
    ("path", "old", "new", "problem"),
    [
        ("/etc/passwd", "root:/bin/bash", "root:/usr/sbin/nologin", "'root:x:0:0:root:/root"),
        ("/etc/passwd", "x:1000:1000::/home/extra", "x:1001:1000::/home/extra", "became"),
        ("/etc/passwd", "daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n", "", "daemon was"),
        ("/etc/shadow", "extra:!:", f"extra:{HASH}:", "the line of extra changed"),
        ("/etc/group", "extra:x:1000:\n", "extra:x:1000:app\n", "the line of extra changed"),
        ("/etc/group", "app:x:10001:\n", "app:x:10001:\nwheel:x:10:\n", "wheel appeared"),
    ],
)
def test_anything_else_that_changed_is_a_problem(
    path: str, old: str, new: str, problem: str
) -> None:
    after = fixed_files()
    assert old in after[path]
    after[path] = after[path].replace(old, new)
    found = changes(BEFORE, after, own_uid=10001)
    assert any(problem in p for p in found.problems), found.problems


def test_an_account_that_is_not_the_containers_user_must_not_appear() -> None:
    after = fixed_files(**{"/etc/passwd": fixed_files()["/etc/passwd"] + "bob:x:7:7::/:/bin/sh\n"})
    assert changes(BEFORE, after, own_uid=10001).problems == (
        "/etc/passwd: bob appeared, and it is not the container's user",
    )


def test_the_containers_user_losing_its_shell_is_a_problem() -> None:
    passwd = BEFORE["/etc/passwd"].replace("/home/extra:/bin/bash", "/home/extra:/bin/false")
    found = changes(BEFORE, {**BEFORE, "/etc/passwd": passwd}, own_uid=1000)  # extra reused
    assert found.locked == ()
    assert found.problems == (
        "/etc/passwd: 'extra:x:1000:1000::/home/extra:/bin/bash' became "
        "'extra:x:1000:1000::/home/extra:/bin/false'",
    )


def test_a_file_that_went_missing_is_a_problem() -> None:
    after = fixed_files()
    del after["/etc/shadow"]
    assert "/etc/shadow is gone" in changes(BEFORE, after, own_uid=10001).problems


# --- lock_users: the RUN -----------------------------------------------------------------

FAMILIES = ["debian", "alpine", "rhel", "rhel-minimal", "suse", "arch", "unknown"]


def test_without_a_shell_there_is_no_run_and_a_warning() -> None:
    text, warning = lock_users(None, "nonroot", 65532)
    assert text == ""
    assert "no POSIX shell" in warning


def test_a_user_without_a_plain_name_or_a_uid_cannot_be_kept() -> None:
    text, warning = lock_users("debian", "$(evil)", None)
    assert text == ""
    assert "neither a plain name nor a known UID" in warning


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("esc", ["\\", "`"])
def test_the_run_is_one_valid_sh_command(family: str, esc: str) -> None:
    text, note = lock_users(family, "app", 10001, escape=esc)
    assert text.startswith("RUN ") and text.count("RUN") == 1 and text.endswith("\n")
    for line in text.splitlines()[:-1]:
        assert line.endswith(f" {esc}"), line
    assert "root and app and UID 10001" in note
    command = text.removeprefix("RUN ").replace(f"{esc}\n", "")
    subprocess.run(["sh", "-n", "-c", command], check=True)
    # usermod where the family's shadow has it; elsewhere /etc/passwd is rewritten
    uses_usermod = family in ("debian", "rhel", "suse", "arch")
    assert ("usermod -s" in text) == uses_usermod
    assert ("/etc/passwd.fixuser" in text) == (not uses_usermod)


def test_the_run_skips_exactly_the_shells_audit_calls_no_login() -> None:
    text, _ = lock_users("debian", "app", 10001)
    assert "|".join(accounts.NOT_LOGIN_SHELLS) in text


def test_lower_case_files_get_a_lower_case_run() -> None:
    assert lock_users("debian", "app", 10001, lower_case=True)[0].startswith("run ")


PASSWD = """\
root:x:0:0:root:/root:/bin/bash
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
sync:x:4:65534:sync:/bin:/bin/sync
# a comment: /bin/sh
+::::::
extra:x:1000:1000:Extra,,,:/home/extra:/bin/bash
toor:x:0:0::/root:/bin/sh
again:x:10001:10001::/:/bin/sh
old:x:5:5::/:
app:x:10001:10001::/home/app:/bin/sh
last:x:1002:1002::/:/bin/ash"""  # no newline at the end


def run_lock(
    tmp_path: Path, family: str, name: str = "app", uid: int | None = 10001, start: str = PASSWD
) -> str:
    """Run the family's RUN on a copy of ``start``, with a usermod stand-in where it calls
    one: the /etc/passwd it leaves."""
    text, _ = lock_users(family, name, uid)
    tmp_path.mkdir(exist_ok=True)
    passwd = tmp_path / "passwd"
    passwd.write_text(start)
    passwd.chmod(0o644)
    usermod = tmp_path / "bin" / "usermod"
    usermod.parent.mkdir()
    # shadow's usermod -s SHELL NAME, as a line edit of the same file
    usermod.write_text(
        f'#!/bin/sh\n[ "$1" = -s ] || exit 2\nsed -i "s|^$3:\\(.*\\):[^:]*$|$3:\\1:$2|" {passwd}\n'
    )
    usermod.chmod(0o755)
    command = text.removeprefix("RUN ").replace("\\\n", "").replace("/etc/passwd", str(passwd))
    env = {**os.environ, "PATH": f"{usermod.parent}:{os.environ['PATH']}"}
    subprocess.run(["sh", "-c", command], check=True, env=env, cwd=tmp_path)
    assert stat.S_IMODE(passwd.stat().st_mode) == 0o644
    return passwd.read_text()


@pytest.mark.parametrize("family", FAMILIES)
def test_the_run_locks_every_other_login_shell_and_nothing_else(
    tmp_path: Path, family: str
) -> None:
    out = run_lock(tmp_path, family).splitlines()
    before = PASSWD.splitlines()
    changed = {
        b.split(":")[0]: a.rsplit(":", 1)[1] for b, a in zip(before, out, strict=True) if b != a
    }
    assert len(out) == len(before)
    assert sorted(changed) == ["extra", "last", "old", "toor"]
    assert len(set(changed.values())) == 1  # the family's nologin
    (nologin,) = set(changed.values())
    assert nologin in accounts.NOT_LOGIN_SHELLS
    for b, a in zip(before, out, strict=True):
        if b != a:  # only the shell field
            assert b.rsplit(":", 1)[0] == a.rsplit(":", 1)[0]
    # a second run changes nothing: the RUN is idempotent
    once = "\n".join(out) + "\n"
    assert run_lock(tmp_path / "again", family, start=once) == once


def test_the_run_keeps_the_user_by_uid_when_its_name_is_unknown(tmp_path: Path) -> None:
    out = run_lock(tmp_path, "alpine", name="", uid=10001)
    assert "app:x:10001:10001::/home/app:/bin/sh" in out
    assert "again:x:10001:10001::/:/bin/sh" in out


def test_the_run_keeps_the_user_by_name_when_its_uid_is_unknown(tmp_path: Path) -> None:
    out = run_lock(tmp_path, "debian", name="app", uid=None)
    assert "app:x:10001:10001::/home/app:/bin/sh" in out
    assert re.search(r"^again:.*nologin$", out, re.M)


# --- fix --lock-users ----------------------------------------------------------------------

LOCK = Settings(lock_users=True)


def fixed(source: str, settings: Settings = LOCK) -> list[str]:
    return fix(source.encode(), settings).output.decode().splitlines()


def test_the_lock_goes_after_the_last_run_and_right_before_the_user() -> None:
    out = fixed("FROM debian:12\nRUN useradd -m -s /bin/bash helper || true\nCOPY x /app/\nCMD c\n")
    lock = next(i for i, line in enumerate(out) if line.startswith("RUN nologin="))
    assert out.index("RUN useradd -m -s /bin/bash helper || true") < lock
    user = next(i for i, line in enumerate(out) if line.startswith("USER "))
    assert lock < user
    assert out[user - 1].startswith("# CIS Docker Benchmark 4.1")


def test_the_lock_follows_the_user_block_when_the_stage_has_no_run() -> None:
    out = fixed("FROM alpine:3.20\nCMD c\n")
    block = next(i for i, line in enumerate(out) if line.startswith("RUN addgroup"))
    lock = next(i for i, line in enumerate(out) if line.startswith("RUN nologin="))
    assert block < lock < out.index("USER 10001:10001")


def test_without_lock_users_there_is_no_lock() -> None:
    assert not any("nologin=" in line for line in fixed("FROM debian:12\nCMD c\n", Settings()))


def test_a_shell_less_base_gets_no_run_and_a_warning() -> None:
    result = fix(b"FROM gcr.io/distroless/static-debian12\nCMD c\n", LOCK)
    assert b"RUN" not in result.output
    assert any("--lock-users: no POSIX shell" in w for w in result.analysis.warnings)


def test_fixing_the_locked_output_again_changes_nothing() -> None:
    for source in ("FROM debian:12\nRUN a\nCMD c\n", "FROM alpine:3.20\nUSER root\nCMD c\n"):
        once = fix(source.encode(), LOCK).output
        assert check(once, LOCK).verdict is Verdict.COMPLIANT
        assert fix(once, LOCK).output == once


def test_a_trailing_user_root_after_the_user_stays_so_the_lock_runs_as_root() -> None:
    source = "FROM debian:12\nRUN useradd -u 2000 svc\nUSER svc\nRUN make\nUSER root\nCMD c\n"
    without = fixed(source, Settings())
    assert "USER root" not in without  # the usual fix: drop it, svc comes back
    out = fixed(source)
    root = out.index("USER root")
    lock = next(i for i, line in enumerate(out) if line.startswith("RUN nologin="))
    assert root < lock < out.index("USER 2000")
    assert any("root:*|svc:*|*:2000|" in line for line in out)  # svc keeps its shell


def test_lock_users_is_a_setting_of_the_pyproject_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.fixuser]\nlock-users = true\n")
    assert load_settings({}, tmp_path).lock_users is True
    assert load_settings({"lock_users": None}, tmp_path).lock_users is True
    with pytest.raises(SettingsError, match="lock-users must be true or false"):
        Settings(lock_users="yes")  # type: ignore[arg-type]
