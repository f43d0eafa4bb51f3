"""Fixtures for the tests that install fixuser as users do: from a wheel, with pipx, as the
GitHub Action does.

Builds happen in a copy of the checkout (setuptools writes ``build/`` and ``*.egg-info`` into
the tree it builds), and one wheelhouse per session holds fixuser's wheel, its dependencies'
and what building and pipx need (pip, setuptools, wheel): every later install is then
``--no-index --find-links WHEELHOUSE``, a few seconds and no network. Making the wheelhouse
needs PyPI (or pip's cache): without it the tests skip, and fail with ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from testing.engine import unavailable  # skip, or in CI fail: CI must run these tests

REPO = Path(__file__).resolve().parents[1]
# What a checkout holds that a build must not see: tools' state and earlier builds.
NOT_SOURCE = (
    ".git",
    ".venv",
    "__pycache__",
    "*.egg-info",
    "build",
    "dist",
    "wheels",
    ".mypy_cache",
    ".ruff_cache",
    ".pytest_cache",
    ".hypothesis",
)


def copy_checkout(dest: Path) -> Path:
    shutil.copytree(REPO, dest, ignore=shutil.ignore_patterns(*NOT_SOURCE), symlinks=True)
    return dest


def pip(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def checkout_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The checkout as a release is built from it (the working tree, not a commit)."""
    return copy_checkout(tmp_path_factory.mktemp("checkout") / "fixuser")


@pytest.fixture(scope="session")
def wheelhouse(checkout_copy: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``pip wheel .`` of the checkout (fixuser's wheel and its dependencies'), plus pip,
    setuptools and wheel."""
    house = tmp_path_factory.mktemp("wheelhouse")
    build = tomllib.loads((REPO / "pyproject.toml").read_text())["build-system"]["requires"]
    for args in (
        ("wheel", "--quiet", "--wheel-dir", str(house), str(checkout_copy)),
        ("download", "--quiet", "--dest", str(house), "pip", *build),
    ):
        done = pip(*args)
        if done.returncode != 0:
            unavailable(f"pip {args[0]} needs PyPI or pip's cache: {done.stderr.strip()[-400:]}")
    return house


def offline_pip_env(wheelhouse: Path) -> dict[str, str]:
    """An environment in which every pip installs from the wheelhouse alone."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env.update(
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheelhouse),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PIP_CONFIG_FILE=os.devnull,
    )
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return env
