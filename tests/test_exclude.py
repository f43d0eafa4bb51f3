"""``--exclude GLOB`` and ``exclude = [...]``: what a team keeps out of check, fix, fix
--commit, the session and batch, matched as .gitignore lines are from the repository root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fixuser.main import main
from fixuser.settings import Settings, SettingsError, build_settings
from fixuser.tree.exclude import excluded
from testing.fleet import ROOT, make_remote
from testing.git import blob, branches, isolate_git, make_repo

COMPLIANT = ROOT + b"USER 1000\n"


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("legacy/x/Dockerfile", "legacy"),  # a name alone: at any depth
        ("a/legacy/Dockerfile", "legacy"),
        ("a/legacy/Dockerfile", "legacy/"),  # a directory
        ("tools/Dockerfile.dev", "Dockerfile.dev"),
        ("tools/Dockerfile.dev", "*.dev"),
        ("Dockerfile", "/Dockerfile"),
        ("svc/a/b/Dockerfile", "svc/**"),
        ("svc/a/b/Dockerfile", "svc/**/Dockerfile"),
        ("svc/Dockerfile", "svc/**/Dockerfile"),  # ** is also no directory
        ("x/e2e/Dockerfile", "**/e2e/Dockerfile"),
        ("e2e/Dockerfile", "**/e2e/Dockerfile"),
        ("ci/Dockerfile.1", "ci/Dockerfile.[0-9]"),
        ("ci/Dockerfile.a", "ci/Dockerfile.[!0-9]"),
        ("ci/Dockerfile.a", "ci/Dockerfile.?"),
    ],
)
def test_a_glob_excludes_what_gitignore_would(path: str, pattern: str) -> None:
    assert excluded(path, [pattern])


@pytest.mark.parametrize(
    ("path", "pattern"),
    [
        ("svc/Dockerfile", "/Dockerfile"),  # anchored: the root's only
        ("a/legacy/Dockerfile", "/legacy"),
        ("legacy", "legacy/"),  # a file, not a directory
        ("svc/Dockerfile", "svc/*/"),  # directories only
        ("svc/a/b/Dockerfile", "svc/*/Dockerfile"),  # * stops at /
        ("tools/Dockerfile.dev", "tools/Dockerfile"),
        ("ci/Dockerfile.ab", "ci/Dockerfile.?"),
        ("ci/Dockerfile.1", "ci/Dockerfile.[!0-9]"),
        ("svcx/Dockerfile", "svc/**"),
        ("Dockerfile", "**/e2e/Dockerfile"),
        ("a+b/Dockerfile", "a.b/Dockerfile"),  # a regex character is itself
    ],
)
def test_a_glob_keeps_what_gitignore_would(path: str, pattern: str) -> None:
    assert not excluded(path, [pattern])


def test_star_matches_a_directory_and_so_everything_below_it() -> None:
    assert excluded("svc/a/Dockerfile", ["svc/*/"])
    assert excluded("svc/a/Dockerfile", ["svc/*"])


def test_flags_add_to_the_table_and_negation_is_refused() -> None:
    table = {"exclude": ["legacy/**"]}
    assert build_settings({"exclude": ["e2e"]}, table).exclude == ("legacy/**", "e2e")
    assert build_settings({}, table).exclude == ("legacy/**",)
    with pytest.raises(SettingsError, match="negation"):
        Settings(exclude=("!keep",))
    with pytest.raises(SettingsError, match="list of globs"):
        build_settings({}, {"exclude": "legacy"})


def fixuser(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args], cwd=cwd, capture_output=True, text=True
    )


@pytest.fixture
def tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    isolate_git(monkeypatch, tmp_path / "home")
    files = {
        "svc/api/Dockerfile": COMPLIANT,
        "legacy/old/Dockerfile": ROOT,
        "worker/Dockerfile": ROOT,
        "app/run": b"#!/bin/sh\n",
        "pyproject.toml": b'[tool.fixuser]\nexclude = ["legacy/"]\n',
    }
    return make_repo(tmp_path / "repo", files)


def test_check_leaves_out_the_tables_globs_and_the_flags(tree: Path) -> None:
    proc = fixuser("check", "--format", "json", "--exclude", "**/worker/**", cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert [f["path"] for f in json.loads(proc.stdout)["files"]] == ["svc/api/Dockerfile"]
    # without the flag the worker image is a finding; the table's glob still holds
    proc = fixuser("check", "--format", "sarif", cwd=tree)
    assert proc.returncode == 1
    uris = {
        r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
        for r in json.loads(proc.stdout)["runs"][0]["results"]
    }
    assert uris == {"svc/api/Dockerfile", "worker/Dockerfile"}


def test_globs_match_from_the_repository_root_wherever_fixuser_runs(tree: Path) -> None:
    args = ("--exclude", "worker/Dockerfile", "../legacy", "../worker")
    proc = fixuser("check", *args, cwd=tree / "svc")
    assert proc.returncode == 0, proc.stderr  # ../worker named, and still excluded
    assert "0 files" in proc.stdout


def test_fix_writes_nothing_in_an_excluded_path(tree: Path) -> None:
    proc = fixuser("fix", "--exclude", "worker", cwd=tree)
    assert proc.returncode == 0, proc.stderr
    assert (tree / "worker" / "Dockerfile").read_bytes() == ROOT
    assert (tree / "legacy" / "old" / "Dockerfile").read_bytes() == ROOT


def test_fix_commit_fixes_only_what_is_not_excluded(tree: Path) -> None:
    proc = fixuser("fix", "--commit", cwd=tree)  # the committed table excludes legacy/
    assert proc.returncode == 0, proc.stderr
    branch = next(b for b in branches(tree) if b != "main")
    assert blob(tree, branch, "legacy/old/Dockerfile") == ROOT
    assert b"USER" in blob(tree, branch, "worker/Dockerfile")


def test_batch_reads_each_repositorys_own_exclude(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    files = {
        "Dockerfile": ROOT,
        "tools/gen/Dockerfile": ROOT,
        "pyproject.toml": b'[tool.fixuser]\nexclude = ["tools"]\n',
    }
    remote = make_remote(tmp_path / "remotes", "own", files)
    report = tmp_path / "report.json"
    assert main(["batch", "--push", "--report", str(report), str(remote)]) == 0
    [record] = json.loads(report.read_text())["repositories"]
    assert [f["path"] for f in record["files"]] == ["Dockerfile"]
    branch = "fixuser/cis-4.1-non-root-user"
    assert blob(remote, branch, "tools/gen/Dockerfile") == ROOT
    assert b"USER" in blob(remote, branch, "Dockerfile")
