"""fixuser.knowledge.families: families.toml, the one table of what each distro family means."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fixuser.analysis.accounts import NOLOGIN_SHELLS
from fixuser.analysis.family import package_managers
from fixuser.core import check
from fixuser.knowledge import families, images, tables
from fixuser.plan.lock import lock_users
from fixuser.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
RAW = tables.load("families")


def test_the_table_loads_with_a_default_and_every_family() -> None:
    assert set(RAW) == {"default", "family", "package_manager"}
    assert list(families.families()) == [
        "debian",
        "alpine",
        "rhel",
        "rhel-minimal",
        "suse",
        "arch",
        "distroless",
        "scratch",
        "windows",
        "unknown",
    ]


def test_a_family_sets_only_fields_the_default_has() -> None:
    # A misspelt field would silently fall back to [default]'s value.
    for name, raw in RAW["family"].items():
        assert set(raw) <= set(RAW["default"]), name
    for manager in RAW["package_manager"]:
        assert set(manager) == {"commands", "then", "family", "tool", "needles"}, manager


def test_a_name_the_table_does_not_hold_gets_the_default() -> None:
    other = families.family("plan9")
    assert other.template == "portable.sh.j2"
    assert other.shell and other.posix_shell and not other.usermod
    assert other.drop_tools == ("setpriv",)
    assert other.nologin == ("/usr/sbin/nologin", "/sbin/nologin", "/usr/bin/nologin", "/bin/false")


# --- every family the code and the other tables name ----------------------------------------

NAMED_RE = re.compile(r"family\s*(?:==|!=)\s*\"([\w-]+)\"|family in \(([^)]*)\)")


def families_named_in(text: str) -> set[str]:
    named = set()
    for one, several in NAMED_RE.findall(text):
        named |= {one} if one else set(re.findall(r"\"([\w-]+)\"", several))
    return named


def test_the_search_for_named_families_finds_them() -> None:
    text = 'if family == "scratch" or d.family != "x-y":\n    family in ("a", "b")'
    assert families_named_in(text) == {"scratch", "x-y", "a", "b"}


def test_every_family_the_code_names_is_in_the_table() -> None:
    sources = [*(ROOT / "fixuser").rglob("*.py"), *TEMPLATES.glob("*.j2")]
    named = set().union(*(families_named_in(p.read_text(encoding="utf-8")) for p in sources))
    assert {"scratch", "windows", "alpine", "unknown"} <= named  # the search finds them
    assert named <= set(families.families())


def test_every_family_the_image_table_names_is_in_the_table() -> None:
    named = {entry.data["family"] for entry in images.table()}
    assert named <= set(families.families())
    assert {m.family for m in families.package_managers()} <= set(families.families())


@pytest.mark.parametrize("name", [*RAW["family"], "(default)"])
def test_a_familys_template_is_a_file_in_templates(name: str) -> None:
    assert (TEMPLATES / families.family(name).template).is_file()


# --- what each caller reads ----------------------------------------------------------------


def test_no_shell_at_all_and_no_posix_shell_are_different_sets() -> None:
    # Windows has a shell (cmd, PowerShell): the review's PID 1 check and the proof's growth
    # budget treat it as having one; fixuser still writes it no RUN, as it is not POSIX sh.
    assert families.without_shell() == {"distroless", "scratch"}
    no_posix = {name for name, f in families.families().items() if not f.posix_shell}
    assert no_posix == {"distroless", "scratch", "windows"}


def test_an_image_entry_without_shell_takes_its_familys() -> None:
    assert not images.lookup("gcr.io/distroless/static-debian12").shell
    assert images.lookup("debian:12").shell
    assert images.lookup("mcr.microsoft.com/windows/servercore:ltsc2022").shell


def test_the_wrapper_tools_of_each_family() -> None:
    assert families.family("alpine").drop_tools == ("su-exec", "chpst")
    assert families.family("unknown").drop_tools == ("su-exec", "setpriv")
    assert families.family("debian").drop_tools == ("setpriv",)


def test_lock_users_gives_the_familys_nologin() -> None:
    debian, _ = lock_users("debian", "app", 10001)
    assert "nologin=/usr/sbin/nologin; \\\n" in debian and "usermod -s" in debian
    alpine, _ = lock_users("alpine", "app", 10001)
    assert "nologin=/bin/false; \\\n" in alpine and "usermod" not in alpine
    assert "for shell in /sbin/nologin /usr/sbin/nologin; do" in alpine
    unknown, _ = lock_users("unknown", "app", 10001)
    assert "for shell in /usr/sbin/nologin /sbin/nologin /usr/bin/nologin; do" in unknown


@pytest.mark.parametrize("name", [*RAW["family"], "(default)"])
def test_every_nologin_a_lock_gives_is_one_the_audit_takes_for_no_login(name: str) -> None:
    # Else audit --users would flag the very accounts --lock-users locked.
    assert set(families.family(name).nologin) <= set(NOLOGIN_SHELLS)


def test_kindred_families_are_kin_both_ways() -> None:
    for name, f in families.families().items():
        assert name not in f.kindred
        for other in f.kindred:
            assert name in families.family(other).kindred, (name, other)
    assert families.family("rhel").kindred == {"rhel-minimal"}


def test_a_kindred_familys_tool_does_not_overrule_the_image_table() -> None:
    # ubi9 is rhel in images.toml: its microdnf is no evidence against it; apt-get is.
    ubi9 = "FROM registry.access.redhat.com/ubi9/ubi\n"
    assert detected(ubi9 + "RUN microdnf install -y x\n") == detected(ubi9)
    assert detected(ubi9)[0] == "rhel"
    assert detected(ubi9 + "RUN apt-get install -y x\n")[0] == "debian"


# --- package managers: the order detection searches in --------------------------------------


def test_package_managers_are_searched_in_the_tables_order() -> None:
    assert [(m.tool, m.family) for m in families.package_managers()] == [
        ("apk", "alpine"),
        ("apt-get", "debian"),
        ("microdnf", "rhel-minimal"),
        ("tdnf", "rhel-minimal"),
        ("dnf/yum", "rhel"),
        ("zypper", "suse"),
        ("pacman", "arch"),
    ]
    assert [tool for _, _, tool in package_managers()] == [
        m.tool for m in families.package_managers()
    ]


def test_every_command_of_a_package_manager_holds_one_of_its_needles() -> None:
    # contradicting_evidence runs a manager's regex only where one of its needles is found.
    for manager in families.package_managers():
        for word in manager.commands:
            assert any(needle in word for needle in manager.needles), word


def test_a_family_lists_the_tools_that_prove_it() -> None:
    assert families.family("rhel-minimal").package_managers == ("microdnf", "tdnf")
    assert families.family("windows").package_managers == ()


def detected(dockerfile: str) -> tuple[str, str]:
    """The family and evidence check gives a file FROM an image the image table does not know."""
    analysis = check(dockerfile.encode(), Settings())
    return analysis.family, analysis.evidence


def test_the_first_package_manager_in_the_table_names_the_family() -> None:
    assert detected("FROM example.org/x\nRUN apt-get update && apk add curl\n") == (
        "alpine",
        "line 2: RUN uses apk",
    )
    assert detected("FROM example.org/x\nRUN microdnf install -y curl\n")[0] == "rhel-minimal"
    assert detected("FROM example.org/x\nRUN yum install -y curl\n") == (
        "rhel",
        "line 2: RUN uses dnf/yum",
    )
    assert detected("FROM example.org/x\nRUN echo apk\n")[0] == "unknown"
