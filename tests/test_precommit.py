"""The hooks in .pre-commit-hooks.yaml, run by pre-commit itself from a clone of this project."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[1]
ROOT_DOCKERFILE = b'FROM debian:bookworm-slim\nRUN apt-get update\nCMD ["/app/run"]\n'


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture(scope="module")
def pre_commit() -> str:
    found = shutil.which("pre-commit") or str(Path(sys.executable).with_name("pre-commit"))
    if not Path(found).exists():
        if os.environ.get("CI") == "true":
            pytest.fail("pre-commit is not installed (pip install -e '.[test]')")
        pytest.skip("pre-commit is not installed")
    return found


@pytest.fixture(scope="module")
def hooks_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """A commit of this project's working tree, as pre-commit's `repo:` wants one."""
    if not (PROJECT / ".git").exists():
        pytest.skip("not a git checkout of fixuser")
    clone = tmp_path_factory.mktemp("hooks") / "fixuser"
    shutil.copytree(
        PROJECT,
        clone,
        ignore=shutil.ignore_patterns(
            ".venv",
            "__pycache__",
            "*.egg-info",
            ".mypy_cache",
            ".ruff_cache",
            ".pytest_cache",
            ".hypothesis",
            ".git",
        ),
    )
    git("init", "-q", cwd=clone)
    git("add", "-A", cwd=clone)
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "hooks", cwd=clone)
    return clone, git("rev-parse", "HEAD", cwd=clone)


def run_hook(
    pre_commit: str, hooks_repo: tuple[Path, str], tmp_path: Path, hook: str
) -> subprocess.CompletedProcess[str]:
    clone, rev = hooks_repo
    git("init", "-q", cwd=tmp_path)
    (tmp_path / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    (tmp_path / ".pre-commit-config.yaml").write_text(
        f"repos:\n- repo: {clone}\n  rev: {rev}\n  hooks:\n  - id: {hook}\n"
    )
    git("add", "-A", cwd=tmp_path)
    env = {**os.environ, "PRE_COMMIT_HOME": str(clone.parent / "cache")}
    return subprocess.run(
        [pre_commit, "run", "--all-files"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=600,
    )


def test_check_hook_fails_on_a_root_dockerfile(
    pre_commit: str, hooks_repo: tuple[Path, str], tmp_path: Path
) -> None:
    proc = run_hook(pre_commit, hooks_repo, tmp_path, "fixuser-check")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "runs as root" in proc.stdout
    assert (tmp_path / "Dockerfile").read_bytes() == ROOT_DOCKERFILE


def test_fix_hook_rewrites_the_dockerfile(
    pre_commit: str, hooks_repo: tuple[Path, str], tmp_path: Path
) -> None:
    proc = run_hook(pre_commit, hooks_repo, tmp_path, "fixuser-fix")
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert b"USER 10001:10001" in (tmp_path / "Dockerfile").read_bytes()
