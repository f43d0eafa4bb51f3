"""The fixture repositories of testing/repos.py, and bench/repos.py over them (no engine).

Every fixture says which role each of its Dockerfiles must get; the real CLI (``fixuser check
--format json``) must give exactly that, and ``bench/repos.py --no-verify`` must run over all of
them, find no fix of a role fixuser leaves alone, and print one row per role.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from testing.repos import FIXTURES, IGNORED

REPO = Path(__file__).resolve().parents[1]
FIXED_ROLES = ("service", "dev")  # what fix fixes without --roles
FIXUSER = [sys.executable, "-m", "fixuser"]


def cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FIXUSER, *args], cwd=cwd, capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_every_fixture_dockerfile_gets_the_role_its_design_says(name: str, tmp_path: Path) -> None:
    expected = FIXTURES[name](tmp_path, commit=True)
    proc = cli(tmp_path, "check", "--format", "json", ".")
    assert proc.returncode in (0, 1), proc.stderr
    roles = {f["path"]: f["role"]["name"] for f in json.loads(proc.stdout)["files"]}
    assert roles == expected


@pytest.mark.parametrize("name", sorted(IGNORED))
def test_fix_leaves_the_ignored_fixture_files_byte_identical(name: str, tmp_path: Path) -> None:
    FIXTURES[name](tmp_path, commit=True)
    before = {p: (tmp_path / p).read_bytes() for p in IGNORED[name]}
    cli(tmp_path, "fix", ".")
    assert {p: (tmp_path / p).read_bytes() for p in IGNORED[name]} == before


def test_fixture_is_a_committed_git_repository_when_asked(tmp_path: Path) -> None:
    FIXTURES["package-builder"](tmp_path, commit=True)
    status = subprocess.run(
        ["git", "-C", str(tmp_path), "status", "--porcelain"], capture_output=True, text=True
    )
    assert status.returncode == 0 and status.stdout == ""
    tracked = subprocess.run(
        ["git", "-C", str(tmp_path), "ls-files"], capture_output=True, text=True
    ).stdout.split()
    assert "deb/debian-bookworm/Dockerfile" in tracked and "Makefile" in tracked


@dataclass
class BenchRun:
    returncode: int
    stdout: str
    results: list[dict[str, Any]]


@pytest.fixture(scope="module")
def bench_run(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    out = tmp_path_factory.mktemp("bench") / "run.json"
    proc = subprocess.run(
        [sys.executable, str(REPO / "bench" / "repos.py"), "--no-verify", "--json", str(out)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode in (0, 1), proc.stderr
    return BenchRun(proc.returncode, proc.stdout, json.loads(out.read_text()))


def test_bench_repos_prints_one_row_per_role_of_the_fixtures(
    bench_run: BenchRun, tmp_path: Path
) -> None:
    lines = bench_run.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("role "))
    rows = [line.split()[0] for line in lines[header + 1 : lines.index("", header)]]
    designs = {name: f(tmp_path / name) for name, f in FIXTURES.items()}
    assert sorted(rows) == sorted({role for d in designs.values() for role in d.values()})
    assert "proven" not in lines[header]  # --no-verify: no proof columns
    assert len(bench_run.results) == sum(len(d) for d in designs.values())
    fixed = {(r["repo"], r["path"]) for r in bench_run.results if r["fixed"]}
    assert ("codegen-monorepo", "services/api/Dockerfile") in fixed
    assert not [r for r in bench_run.results if r["fixed"] and r["role"] not in FIXED_ROLES]


def test_bench_repos_finds_no_fix_of_an_export_stage(bench_run: BenchRun) -> None:
    # The Makefile's `docker buildx build --target export --output type=local,...` once made
    # fixuser ship the scratch `export` stage and give it USER 65534, leaving `runtime` root;
    # the bench names such a fix stage by stage (the file's role is service).
    assert [(r["repo"], r["path"], p) for r in bench_run.results for p in r["problems"]] == []
    fixed = {r["path"]: r["fixed"] for r in bench_run.results if r["repo"] == "scratch-artifact"}
    assert fixed == {"Dockerfile": True, "mobile/android.Dockerfile": False}  # runtime, not export


def test_bench_repos_without_verify_exits_0(bench_run: BenchRun) -> None:
    assert bench_run.returncode == 0, bench_run.stdout
