"""Helpers for the tests that need a real container engine.

Without an engine those tests skip, saying why, so the README's test command passes anywhere;
with ``CI=true`` a missing engine (or missing local base images) is a failure, never a skip:
CI exists to run them. The local base images are made by ``tests/images/build.sh`` (which
``.ci/run`` calls) and listed in ``tests/images/IMAGES.txt``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixuser.containers.engine import BuildOptions, Engine, NoEngineError, find_engine

REPO = Path(__file__).resolve().parents[1]
TESTS = REPO / "tests"
IMAGES_DIR = TESTS / "images"
IMAGES_FILE = IMAGES_DIR / "IMAGES.txt"
HELLO_SOURCE = IMAGES_DIR / "hello.c"
SAMPLES = REPO / "samples"
# Tags of the images the tests build: per process, so concurrent runs never remove each other's.
RUN_ID = f"t{os.getpid()}"


def read_local_images(path: Path = IMAGES_FILE) -> dict[str, str]:
    """image reference -> family, for every image tests/images/build.sh makes."""
    images: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            family, ref = line.split()
            images[ref] = family
    return images


LOCAL_IMAGES = read_local_images()


def normalise(ref: str) -> str:
    """The fully qualified name an engine gives ``ref`` (debian:12 -> docker.io/library/...)."""
    name = ref
    first = name.split("/", 1)[0]
    if "/" not in name or ("." not in first and ":" not in first and first != "localhost"):
        name = f"docker.io/{name}" if "/" in name else f"docker.io/library/{name}"
    last = name.rsplit("/", 1)[-1]
    if ":" not in last and "@" not in last:
        name += ":latest"
    return name


def local_family(ref: str) -> str | None:
    """The family of a locally built image that ``ref`` names, or None ("scratch" for scratch)."""
    if ref == "scratch":
        return "scratch"
    return LOCAL_IMAGES.get(normalise(ref))


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("true", "1", "yes")


def unavailable(reason: str) -> None:
    """Skip, or in CI fail: CI must run the engine tests."""
    if in_ci():
        pytest.fail(f"CI=true but {reason}", pytrace=False)
    pytest.skip(reason)


def require_engine() -> Engine:
    try:
        engine = find_engine(os.environ.get("FIXUSER_TEST_ENGINE") or None)
    except NoEngineError as e:
        unavailable(str(e))
        raise AssertionError("unreachable") from e
    missing = [ref for ref in LOCAL_IMAGES if not engine.image_exists(ref)]
    if missing:
        unavailable(
            f"local base images missing ({', '.join(missing[:3])}...): run tests/images/build.sh"
        )
    return engine


# Tests that install packages fetch them from Debian's mirror: about 40 s a build. CI sets it.
NETWORK_SAMPLES = os.environ.get("FIXUSER_NETWORK_SAMPLES") == "1"
needs_mirror = pytest.mark.skipif(
    not NETWORK_SAMPLES,
    reason="installs packages from the mirror: set FIXUSER_NETWORK_SAMPLES=1 (CI does)",
)


@pytest.fixture
def images(running_engine: Engine) -> Iterator[list[str]]:
    """Tags a test builds (build_tagged adds them): each is removed when the test ends."""
    tags: list[str] = []
    yield tags
    for tag in tags:
        running_engine.remove_image(tag)


def build_tagged(
    engine: Engine,
    images: list[str],
    text: bytes,
    context: Path,
    tag: str,
    options: BuildOptions | None = None,
) -> str:
    images.append(tag)
    engine.build(text, context, tag, options or BuildOptions())
    return tag


@pytest.fixture(autouse=True)
def _short_verify_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """verify runs each image with its own CMD for 10 s; the tests' apps finish in well under
    3 s, and a server that keeps running is told apart as well in 3 s as in 10."""
    import fixuser.containers.proof

    monkeypatch.setattr(fixuser.containers.proof, "RUN_SECONDS", 3.0)


@pytest.fixture(scope="session")
def engine() -> Engine:
    return require_engine()


@pytest.fixture(scope="session")
def running_engine(engine: Engine) -> Engine:
    """An engine that runs containers (buildah only builds)."""
    if not engine.runs_containers:
        unavailable(f"{engine.name} cannot run containers")
    return engine


@pytest.fixture(scope="session")
def hello_binary(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """tests/images/hello.c built static: a program for scratch and distroless images."""
    gcc = shutil.which("gcc")
    if gcc is None:
        unavailable("gcc is needed to build the static test program")
    out = tmp_path_factory.mktemp("hello") / "hello"
    subprocess.run(
        [str(gcc), "-static", "-Os", "-s", "-o", str(out), str(HELLO_SOURCE)], check=True
    )
    return out


@pytest.fixture(scope="session")
def session_label() -> str:
    """A label on every container the tests start, so they audit and remove only their own."""
    return f"fixuser.test={uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def docker_host(running_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Docker Engine API address: DOCKER_HOST, or a podman service this session starts."""
    if running_engine.name == "docker":
        yield os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        return
    sock = tmp_path_factory.mktemp("podman-api") / "podman.sock"
    url = f"unix://{sock}"
    service = subprocess.Popen(
        [running_engine.executable, "system", "service", "--time=0", url],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 30
        while not sock.exists():
            if service.poll() is not None or time.monotonic() > deadline:
                err = service.stderr.read().decode() if service.stderr else ""
                unavailable(f"podman system service did not start: {err[-500:]}")
            time.sleep(0.1)
        yield url
    finally:
        service.terminate()
        try:
            service.wait(timeout=10)
        except subprocess.TimeoutExpired:
            service.kill()
            service.wait()


def start_container(
    engine: Engine, image: str, label: str, *args: str, argv: tuple[str, ...] = ()
) -> str:
    """Start a detached container labelled ``label``; its id."""
    pull = ["--pull=never"] if engine.name == "podman" else []
    done = engine.command(["run", "-d", *pull, "--label", label, *args, image, *argv])
    return done.stdout.strip().splitlines()[-1]


def remove_labelled(engine: Engine, label: str) -> None:
    ids = engine.command(["ps", "-aq", "--filter", f"label={label}"], check=False).stdout.split()
    for container in ids:
        engine.remove_container(container)


@pytest.fixture
def docker_cli(running_engine: Engine, docker_host: str, monkeypatch: pytest.MonkeyPatch) -> Engine:
    """The docker CLI talking to ``docker_host`` (podman's service when there is no Docker)."""
    executable = shutil.which("docker")
    if executable is None:
        pytest.skip("no docker CLI installed")  # optional: podman covers the engine tests
    monkeypatch.setenv("DOCKER_HOST", docker_host)
    return Engine("docker", executable)
