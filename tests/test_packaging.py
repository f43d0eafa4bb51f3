"""A release as users install it: `pip wheel .`, the wheel in a fresh venv, `pipx install .`.

The installed fixuser must work from any directory with nothing of the checkout around: its
templates and knowledge tables come from the package itself, and what it keeps between runs (the
parsed tables, the compiled templates) goes to the user's cache, never into the package.
"""

from __future__ import annotations

import email.parser
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from fixuser import __version__
from testing.packaging import REPO, offline_pip_env, unavailable


def run(
    argv: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, check=False, timeout=timeout
    )


def fixuser_wheel(wheelhouse: Path) -> Path:
    (wheel,) = wheelhouse.glob("fixuser-*.whl")
    return wheel


def test_the_version_is_said_once() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert f"## [{__version__}]" in (REPO / "CHANGELOG.md").read_text()


def test_fixuser_version_prints_the_package_version() -> None:
    done = run([sys.executable, "-m", "fixuser", "--version"], cwd=REPO)
    assert (done.returncode, done.stdout) == (0, f"fixuser {__version__}\n")


def test_the_wheel_carries_the_templates_and_tables_and_no_generated_code(
    wheelhouse: Path,
) -> None:
    wheel = fixuser_wheel(wheelhouse)
    assert wheel.name == f"fixuser-{__version__}-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        metadata = archive.read(f"fixuser-{__version__}.dist-info/METADATA").decode()
        entry_points = archive.read(f"fixuser-{__version__}.dist-info/entry_points.txt").decode()
    templates = {p.name for p in (REPO / "templates").glob("*.j2")}
    assert templates and all(f"fixuser/templates/{name}" in names for name in templates)
    tables = {p.name for p in (REPO / "fixuser" / "knowledge").glob("*.toml")}
    assert "images.toml" in tables
    assert all(f"fixuser/knowledge/{name}" in names for name in tables)
    packages = {name.rpartition("/")[0] for name in names if name.endswith("/__init__.py")}
    assert packages == {
        f"fixuser/{p.parent.relative_to(REPO / 'fixuser')}".removesuffix("/.")
        for p in (REPO / "fixuser").rglob("__init__.py")
    } | {"fixuser/templates"}
    assert f"fixuser-{__version__}.dist-info/licenses/LICENSE" in names
    assert not any(name.startswith(("tests/", "testing/", "samples/", "bench/")) for name in names)
    assert email.parser.Parser().parsestr(metadata)["Version"] == __version__
    assert "fixuser = fixuser.main:entry" in entry_points


@pytest.fixture(scope="module")
def installed(wheelhouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv (no site packages, not the project's) with the wheel installed: its bin."""
    venv = tmp_path_factory.mktemp("fresh") / "venv"
    env = offline_pip_env(wheelhouse)
    made = run([sys.executable, "-m", "venv", str(venv)], cwd=venv.parent, env=env)
    assert made.returncode == 0, made.stderr
    done = run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", str(fixuser_wheel(wheelhouse))],
        cwd=venv.parent,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return venv / "bin"


def package_files(installed: Path) -> set[Path]:
    (package,) = installed.parent.glob("lib/python*/site-packages/fixuser")
    return {p for p in package.rglob("*") if "__pycache__" not in p.parts}


def test_the_installed_wheel_runs_from_any_directory(installed: Path, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    shipped = package_files(installed)
    version = run([str(installed / "fixuser"), "--version"], cwd=elsewhere, env=env)
    assert (version.returncode, version.stdout) == (0, f"fixuser {__version__}\n")
    where = run(
        [str(installed / "python"), "-c", "import fixuser; print(fixuser.__file__)"],
        cwd=elsewhere,
        env=env,
    )
    assert Path(where.stdout.strip()).is_relative_to(installed.parent), where.stdout
    sample = REPO / "samples" / "debian-basic" / "Dockerfile"
    check = run([str(installed / "fixuser"), "check", str(sample)], cwd=elsewhere, env=env)
    assert check.returncode == 1 and ": root: stage 0" in check.stdout, check.stderr
    fix = run([str(installed / "fixuser"), "fix", "--diff", str(sample)], cwd=elsewhere, env=env)
    assert fix.returncode == 1 and "+USER 10001:10001" in fix.stdout, fix.stderr
    # What it keeps between runs is in the user's cache, not in the installed package.
    assert package_files(installed) == shipped
    kept = tmp_path / "cache" / "fixuser"
    assert list((kept / "tables").glob("images-*.marshal")) and list((kept / "jinja").iterdir())


def test_the_installed_wheel_fixes_every_sample_as_the_checkout_does(
    installed: Path, tmp_path: Path
) -> None:
    # Every family's template and every table entry the samples use, rendered by the package.
    samples = tmp_path / "samples"
    shutil.copytree(REPO / "samples", samples)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # Bytes: the diffs keep the samples' own encodings (latin1-bytes).
    wheel = subprocess.run(
        [str(installed / "fixuser"), "fix", "--diff"], cwd=samples, env=env, capture_output=True
    )
    checkout = subprocess.run(
        [sys.executable, "-m", "fixuser", "fix", "--diff"], cwd=samples, capture_output=True
    )
    assert wheel.returncode == checkout.returncode == 1
    assert wheel.stdout == checkout.stdout and wheel.stdout.count(b"+++ b/") > 40
    assert wheel.stderr == checkout.stderr


def find_pipx(tmp_path: Path, env: dict[str, str]) -> str:
    found = shutil.which("pipx") or shutil.which("pipx", path=str(Path(sys.executable).parent))
    if found:
        return found
    venv = tmp_path / "pipx-venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    # pipx itself is not in the wheelhouse: it comes from PyPI (or pip's cache).
    done = run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "pipx"], cwd=tmp_path)
    if done.returncode != 0:
        unavailable(f"pipx could not be installed: {done.stderr.strip()[-300:]}")
    return str(venv / "bin" / "pipx")


def test_pipx_installs_the_checkout(checkout_copy: Path, wheelhouse: Path, tmp_path: Path) -> None:
    env = offline_pip_env(wheelhouse)
    pipx = find_pipx(tmp_path, env)
    env.update(
        PIPX_HOME=str(tmp_path / "pipx"),
        PIPX_BIN_DIR=str(tmp_path / "bin"),
        PIPX_MAN_DIR=str(tmp_path / "man"),
    )
    # `pipx install .` from a copy of the checkout, pip told to use the wheelhouse alone.
    done = run(
        [pipx, "install", "--pip-args", f"--no-index --find-links {wheelhouse}", "."],
        cwd=checkout_copy,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    version = run([str(tmp_path / "bin" / "fixuser"), "--version"], cwd=tmp_path, env=env)
    assert (version.returncode, version.stdout) == (0, f"fixuser {__version__}\n")
