"""fixuser's own image (the repository's Dockerfile): compliant by fixuser's own check, and,
with a real engine, built and run on the samples as CI runs it.

There is no registry here: the image is built FROM localhost/fixuser-ci-python:3.11
(tests/images/build.sh python: Debian with Debian's python3, venv and git; the local
python:3.12-slim stand-in has no git), and pip installs from a wheelhouse made on the host.
"""

from __future__ import annotations

import platform
import shutil
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixuser import __version__
from fixuser.containers.engine import BuildOptions, Engine
from testing.engine import REPO, RUN_ID, SAMPLES, unavailable

DOCKERFILE = REPO / "Dockerfile"
BASE_IMAGE = "localhost/fixuser-ci-python:3.11"
BASE_PYTHON = "3.11"  # the base image's, for the wheels pip downloads for it
# What the Dockerfile's .dockerignore lets through (and the wheelhouse, when there is one).
CONTEXT = ("LICENSE", "README.md", "fixuser", "pyproject.toml", "templates")
USER = "10001:10001"
# The wheel tags bookworm's glibc (2.36) runs, newest first: pip does not infer older ones.
MANYLINUX = ("manylinux_2_28", "manylinux_2_17", "manylinux2014", "manylinux_2_5", "manylinux1")


def fixuser(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


# --- the Dockerfile, read by fixuser --------------------------------------------------------


def test_the_repository_dockerfile_is_compliant() -> None:
    done = fixuser("check", "Dockerfile", cwd=REPO)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("Dockerfile: compliant: stage 1 ")
    assert f"user {USER} (line " in done.stdout
    assert done.stderr == ""  # no warning either


def test_its_user_is_the_one_fixuser_creates() -> None:
    # Take out what `fixuser fix --user fixuser` inserted: fixing what is left gives the file.
    text = DOCKERFILE.read_text()
    block = text[text.index("RUN groupadd") : text.index("/home/fixuser\n", text.index("chown"))]
    mkdir = "RUN mkdir -p /src \\\n && chown 10001:10001 /src\n"
    user = f"# CIS Docker Benchmark 4.1: run as a non-root user\nUSER {USER}\n"
    assert mkdir in text and user in text
    root = text.replace(block + "/home/fixuser\n", "").replace(mkdir, "").replace(user, "")
    done = fixuser("fix", "--user", "fixuser", "-", cwd=REPO, stdin=root)
    assert done.returncode == 1, done.stderr
    assert done.stdout == text
    again = fixuser("fix", "--diff", "--user", "fixuser", "Dockerfile", cwd=REPO)
    assert (again.returncode, again.stdout) == (0, "")


# --- the image, built and run ----------------------------------------------------------------


def wheelhouse(dest: Path) -> None:
    """The wheels of fixuser's dependencies and build requirements, for the base's Python."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    requirements = [*pyproject["project"]["dependencies"], *pyproject["build-system"]["requires"]]
    machine = platform.machine()
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--dest",
            str(dest),
            "--only-binary=:all:",
            "--python-version",
            BASE_PYTHON,
            *(f"--platform={tag}_{machine}" for tag in MANYLINUX),
            *requirements,
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if done.returncode != 0:
        unavailable(f"pip download needs PyPI or pip's cache: {done.stderr.strip()[-400:]}")


@pytest.fixture(scope="module")
def own_image(running_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not running_engine.image_exists(BASE_IMAGE):
        unavailable(f"{BASE_IMAGE} is missing: run tests/images/build.sh python")
    context = tmp_path_factory.mktemp("own-image")
    for name in (*CONTEXT, ".dockerignore"):
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, context / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(source, context / name)
    wheelhouse(context / "wheels")
    tag = f"localhost/fixuser-test/own:{RUN_ID}"
    options = BuildOptions(
        (
            ("BASE_IMAGE", BASE_IMAGE),
            ("PIP_OPTIONS", "--no-index --find-links /tmp/fixuser/wheels"),
        )
    )
    try:
        running_engine.build(DOCKERFILE.read_bytes(), context, tag, options, timeout=900)
        yield tag
    finally:
        running_engine.remove_image(tag)


def run_in(
    engine: Engine, image: str, mount: Path, *args: str, entrypoint: str | None = None
) -> subprocess.CompletedProcess[bytes]:
    """``docker run --rm -v MOUNT:/src:ro IMAGE ARGS``: the image as the README runs it."""
    argv = [engine.executable, "run", "--rm", "-v", f"{mount}:/src:ro"]
    if engine.name == "podman":
        argv.append("--pull=never")
    if entrypoint is not None:
        argv += ["--entrypoint", entrypoint]
    return subprocess.run([*argv, image, *args], capture_output=True, check=False, timeout=300)


@pytest.mark.engine
def test_the_context_is_what_dockerignore_lets_through(engine: Engine, tmp_path: Path) -> None:
    # The checkout itself, its .venv and .git included, as `docker build .` sends it.
    listing = b"FROM docker.io/library/alpine:3.20\nCOPY . /ctx/\nRUN find /ctx | sort > /ls\n"
    tag = f"localhost/fixuser-test/own-context:{RUN_ID}"
    try:
        engine.build(listing, REPO, tag)
        found = engine.read_files(tag, ["/ls"])["/ls"]
    finally:
        engine.remove_image(tag)
    assert isinstance(found, bytes)
    paths = found.decode().split()
    top = {p.split("/")[2] for p in paths if p.count("/") >= 2}
    assert top <= {*CONTEXT, "wheels"} and set(CONTEXT) <= top
    assert not any("__pycache__" in p for p in paths)


@pytest.mark.engine
def test_the_image_runs_fixuser_as_its_own_user(
    running_engine: Engine, own_image: str, tmp_path: Path
) -> None:
    assert running_engine.image_config(own_image).user == USER
    ids = run_in(running_engine, own_image, tmp_path, "-u", entrypoint="id")
    assert ids.stdout == b"10001\n", ids.stderr
    version = run_in(running_engine, own_image, tmp_path, "--version")
    assert (version.returncode, version.stdout) == (0, f"fixuser {__version__}\n".encode())
    git = run_in(running_engine, own_image, tmp_path, "--version", entrypoint="git")
    assert git.returncode == 0 and git.stdout.startswith(b"git version"), git.stderr


@pytest.mark.engine
def test_the_image_checks_and_fixes_the_samples_as_the_checkout_does(
    running_engine: Engine, own_image: str, tmp_path: Path
) -> None:
    # A copy outside any git repository: the image and the checkout see the same tree. Bytes:
    # the diffs keep the samples' own encodings (latin1-bytes).
    samples = tmp_path / "samples"
    shutil.copytree(SAMPLES, samples)
    for command, shows in ((["check"], b" files: "), (["fix", "--diff"], b"+USER 10001:10001")):
        inside = run_in(running_engine, own_image, samples, *command)
        here = subprocess.run(
            [sys.executable, "-m", "fixuser", *command], cwd=samples, capture_output=True
        )
        assert inside.returncode == here.returncode == 1, inside.stderr
        assert inside.stdout == here.stdout and shows in inside.stdout
        assert inside.stderr == here.stderr
