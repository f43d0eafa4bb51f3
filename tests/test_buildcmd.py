"""Build commands in shell lines: what each one builds, resolved exactly."""

from __future__ import annotations

import pytest

from fixuser.project.buildcmd import (
    Build,
    Chdir,
    Unresolved,
    commands,
    logical_lines,
)
from fixuser.project.paths import ROOT, join


def built(command: str, cwd: str | None = ".", existing: tuple[str, ...] = ()) -> list[object]:
    exists = (lambda path: path in existing) if existing else None
    return list(commands(command, cwd, {}, exists))


@pytest.mark.parametrize(
    ("command", "dockerfile", "target"),
    [
        ("docker build .", "Dockerfile", None),
        ("docker build -t app:1 app", "app/Dockerfile", None),
        ("docker build -f docker/p.Dockerfile --target prod .", "docker/p.Dockerfile", "prod"),
        ("docker build --file=a/Dockerfile --target=t a", "a/Dockerfile", "t"),
        ("docker build -fa/Dockerfile a", "a/Dockerfile", None),
        ("docker image build --target x .", "Dockerfile", "x"),
        ("docker buildx build --push --platform linux/amd64 --target x ctx", "ctx/Dockerfile", "x"),
        ("docker builder build ctx", "ctx/Dockerfile", None),
        ("docker -H tcp://host:2375 build ctx", "ctx/Dockerfile", None),
        ("sudo -E docker build ctx", "ctx/Dockerfile", None),
        ("env DOCKER_BUILDKIT=1 docker build ctx", "ctx/Dockerfile", None),
        ("DOCKER_BUILDKIT=1 time docker build ctx", "ctx/Dockerfile", None),
        ("/usr/bin/docker build ctx", "ctx/Dockerfile", None),
        (
            "docker build --build-arg A=1 --label x=y -t img --secret id=s,src=f"
            " --cache-from type=gha --network host --progress plain ctx",
            "ctx/Dockerfile",
            None,
        ),
        ("docker build ctx > build.log 2>&1", "ctx/Dockerfile", None),
        ("docker build -- ctx", "ctx/Dockerfile", None),
        ("docker build -f 'dir with space/Dockerfile' .", "dir with space/Dockerfile", None),
        ("docker build -f ./x/../y/Dockerfile ./y", "y/Dockerfile", None),
        ("nerdctl build --target n .", "Dockerfile", "n"),
        ("podman build -f Containerfile.dev .", "Containerfile.dev", None),
        ("podman --remote build ctx", "ctx/Dockerfile", None),
        ("buildah bud --layers -t x --target b ctx", "ctx/Dockerfile", "b"),
        ("buildah build-using-dockerfile ctx", "ctx/Dockerfile", None),
        ("buildah build -f ctx/Containerfile", "ctx/Containerfile", None),
    ],
)
def test_a_build_command_names_its_dockerfile_and_target(
    command: str, dockerfile: str, target: str | None
) -> None:
    (outcome,) = built(command)
    assert isinstance(outcome, Build)
    assert (outcome.dockerfile, outcome.target) == (dockerfile, target)


@pytest.mark.parametrize(
    "command",
    [
        "docker run --target x image",
        "docker compose build",
        "echo docker build .",
        "docker buildx bake",
        "podman images",
        "make build",
    ],
)
def test_other_commands_build_nothing(command: str) -> None:
    assert built(command) == []


@pytest.mark.parametrize(
    ("command", "reason"),
    [
        ("docker build - < Dockerfile", "standard input"),
        ("docker build -f- .", "standard input"),
        ("docker build https://github.com/docker/rootfs.git#main", "remote"),
        ("docker build -f $DOCKERFILE .", "cannot resolve"),
        ("docker build --target ${{ matrix.t }} .", "cannot resolve"),
        ("docker build -f ../../elsewhere/Dockerfile .", "outside the repository"),
        ("docker build -t x", "no build context"),
    ],
)
def test_what_cannot_be_resolved_says_why(command: str, reason: str) -> None:
    (outcome,) = built(command)
    assert isinstance(outcome, Unresolved)
    assert reason in outcome.reason


def test_docker_reads_f_from_the_current_directory_not_the_context() -> None:
    (outcome,) = built("docker build -f Dockerfile.prod app", cwd="svc")
    assert outcome == Build("docker", "svc/Dockerfile.prod", None)


def test_podman_reads_f_from_the_context_when_it_is_not_beside_the_shell() -> None:
    (here,) = built("podman build -f Containerfile app", existing=("Containerfile",))
    assert here == Build("podman", "Containerfile", None)
    (there,) = built("podman build -f Containerfile app", existing=("app/Containerfile",))
    assert there == Build("podman", "app/Containerfile", None)


def test_podman_prefers_a_containerfile_in_the_context() -> None:
    (outcome,) = built("podman build app", existing=("app/Containerfile", "app/Dockerfile"))
    assert outcome == Build("podman", "app/Containerfile", None)
    (docker,) = built("docker build app", existing=("app/Containerfile", "app/Dockerfile"))
    assert docker == Build("docker", "app/Dockerfile", None)


def test_cd_is_followed_within_a_line_and_reported() -> None:
    outcomes = built("cd services/api && docker build --target t . && cd - && docker build .")
    assert outcomes == [
        Chdir("services/api"),
        Build("docker", "services/api/Dockerfile", "t"),
        Chdir(None),
        Unresolved("docker", "the current directory is not known"),
    ]


def test_the_repository_root_stands_for_ci_workspace_variables() -> None:
    outcomes = list(
        commands("docker build -f $WS/app/Dockerfile ${WS}/app", "elsewhere", {"WS": ROOT})
    )
    assert outcomes == [Build("docker", "app/Dockerfile", None)]


def test_join_stays_inside_the_repository() -> None:
    assert join("deploy", "../svc") == "svc"
    assert join("", ".") == "."
    assert join("a", "../..") is None
    assert join("a", "/abs") is None
    assert join("a", ROOT + "/b") == "b"


def test_continuations_are_joined_and_numbered_by_their_first_line() -> None:
    lines = [(1, "docker build \\"), (2, "  --target x \\"), (3, "  ."), (4, "echo done")]
    joined = [(number, " ".join(text.split())) for number, text in logical_lines(lines)]
    assert joined == [(1, "docker build --target x ."), (4, "echo done")]
