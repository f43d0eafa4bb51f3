"""What a repository's context files say about its Dockerfiles: the stages that ship, the
run-time overrides that make a container root, and a service's mounts and low ports.

Every test builds a real directory tree and reads it with ``discover_context``; line numbers
are found by looking for the line's text, so each one says which line it means.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fixuser.model import Target
from fixuser.project.model import RULES, Mount, RepoContext
from fixuser.tree.context import context_of_files, discover_context, repository_root
from fixuser.tree.context import walk as context_walk
from fixuser.tree.discover import ContextWalk
from fixuser.tree.discover import walk as discovery_walk
from testing.context import DOCKERFILE, HELM_DEPLOYMENT, line, read, repo, where
from testing.git import git, isolate_git, write_files

# --- a repository with every kind of context file --------------------------------------------

COMPOSE = """\
    services:
      web:
        build: ./services/web
        user: root
        ports:
          - "80:8080"
        volumes:
          - ./data:/app/data
      worker:
        build:
          context: services/worker
          dockerfile: worker.Dockerfile
          target: prod
        privileged: true
      db:
        image: postgres:16
        user: "0"
"""
WORKFLOW = """\
    on: push
    jobs:
      images:
        runs-on: ubuntu-latest
        steps:
          - uses: actions/checkout@v4
          - uses: docker/build-push-action@v6
            with:
              context: services/web
              target: release
          - name: api
            run: |
              echo building
              docker build -f services/api/Dockerfile --target debug services/api
"""
DEPLOYMENT = """\
    apiVersion: apps/v1
    kind: Deployment
    metadata:
      name: api
    spec:
      template:
        spec:
          securityContext:
            runAsNonRoot: true
          containers:
            - name: api
              image: api
              securityContext:
                runAsUser: 0
"""
BAKE = """\
    # the images CI pushes
    group "default" {
      targets = ["api"]
    }
    target "api" {
      context = "services/api"
      target = "prod"
    }
"""
MAKEFILE = """\
    IMAGE ?= example/worker
    build:
    \tdocker build -t $(IMAGE) -f services/worker/worker.Dockerfile --target=test services/worker
"""
SKAFFOLD = """\
    apiVersion: skaffold/v4beta11
    kind: Config
    build:
      artifacts:
        - image: web
          context: services/web
          docker:
            target: dev
"""
EVERYTHING = {
    "compose.yaml": COMPOSE,
    ".github/workflows/images.yml": WORKFLOW,
    "k8s/deployment.yaml": DEPLOYMENT,
    "chart/Chart.yaml": "apiVersion: v2\nname: chart\nversion: 0.1.0\n",
    "chart/templates/deployment.yaml": HELM_DEPLOYMENT,
    "docker-bake.hcl": BAKE,
    "Makefile": MAKEFILE,
    "skaffold.yaml": SKAFFOLD,
    "services/web/Dockerfile": DOCKERFILE,
    "services/worker/worker.Dockerfile": DOCKERFILE,
    "services/api/Dockerfile": DOCKERFILE,
    "services/lonely/Dockerfile": DOCKERFILE,
}


@pytest.fixture
def everything(tmp_path: Path) -> RepoContext:
    return repo(tmp_path, EVERYTHING)


def test_every_kind_of_builder_names_its_stage_with_file_and_line(everything: RepoContext) -> None:
    f = EVERYTHING
    assert everything.targets("services/web/Dockerfile") == [
        Target("release", where(f, ".github/workflows/images.yml", "target: release")),
        Target(None, where(f, "compose.yaml", "build: ./services/web")),
        Target("dev", where(f, "skaffold.yaml", "target: dev")),
    ]
    assert everything.targets("services/worker/worker.Dockerfile") == [
        Target("test", where(f, "Makefile", "docker build")),
        Target("prod", where(f, "compose.yaml", "target: prod")),
    ]
    assert everything.targets("services/api/Dockerfile") == [
        Target("debug", where(f, ".github/workflows/images.yml", "docker build")),
        Target("prod", where(f, "docker-bake.hcl", 'target = "prod"')),
    ]


def test_a_dockerfile_nothing_builds_ships_its_last_stage(everything: RepoContext) -> None:
    assert everything.targets("services/lonely/Dockerfile") == [Target(None, "default")]
    assert everything.targets("no/such/Dockerfile") == [Target(None, "default")]


def test_paths_are_normalised_before_they_are_compared(everything: RepoContext) -> None:
    assert everything.targets("./services/api//Dockerfile") == everything.targets(
        "services/api/Dockerfile"
    )


def test_every_override_is_found_with_its_file_line_and_rule(everything: RepoContext) -> None:
    f = EVERYTHING
    found = {(o.rule, f"{o.path}:{o.line}", o.message) for o in everything.overrides}
    assert found == {
        (
            "FIXUSER-COMPOSE-ROOT",
            where(f, "compose.yaml", "user: root"),
            "service web runs as root (user: root)",
        ),
        (
            "FIXUSER-COMPOSE-ROOT",
            where(f, "compose.yaml", 'user: "0"'),
            "service db runs as root (user: 0)",
        ),
        (
            "FIXUSER-COMPOSE-PRIVILEGED",
            where(f, "compose.yaml", "privileged: true"),
            "service worker is privileged (privileged: true)",
        ),
        (
            "FIXUSER-K8S-ROOT",
            where(f, "k8s/deployment.yaml", "runAsUser: 0"),
            "Deployment api container api runs as root (runAsUser: 0)",
        ),
        (
            "FIXUSER-K8S-PRIVILEGED",
            where(f, "chart/templates/deployment.yaml", "privileged: true"),
            'Deployment {{ include "chart.fullname" . }} container {{ .Chart.Name }} is'
            " privileged (privileged: true)",
        ),
        (
            "FIXUSER-K8S-ESCALATION",
            where(f, "chart/templates/deployment.yaml", "securityContext:"),
            'Deployment {{ include "chart.fullname" . }} container {{ .Chart.Name }} may gain'
            " privileges (allowPrivilegeEscalation unset, runAsNonRoot not set)",
        ),
    }
    assert all(o.rule in RULES for o in everything.overrides)
    assert everything.notes == ()


def test_an_override_reads_as_file_line_message() -> None:
    context = read({"compose.yaml": "services:\n  worker:\n    user: root\n"})
    assert [o.text for o in context.overrides] == [
        "compose.yaml:3: service worker runs as root (user: root)"
    ]


def test_every_context_file_is_read(everything: RepoContext) -> None:
    assert set(everything.files) == {
        ".github/workflows/images.yml",
        "Makefile",
        "chart/templates/deployment.yaml",
        "compose.yaml",
        "docker-bake.hcl",
        "k8s/deployment.yaml",
        "skaffold.yaml",
    }


def test_a_services_mounts_and_low_ports_belong_to_the_dockerfile_it_builds(
    everything: RepoContext,
) -> None:
    f = EVERYTHING
    assert everything.mounts("services/web/Dockerfile") == [
        Mount(
            "web", "./data", "/app/data", "bind", "compose.yaml",
            line(textwrap.dedent(f["compose.yaml"]), "./data"), host_path="data",
        )
    ]  # fmt: skip
    assert everything.low_ports("services/web/Dockerfile") == []  # 8080 in the container
    assert everything.mounts("services/api/Dockerfile") == []
    (web,) = everything.services_for("services/web/Dockerfile")
    assert (web.name, web.user, web.dockerfile) == ("web", "root", "services/web/Dockerfile")


# --- what is read at all ------------------------------------------------------------------------


def test_yaml_that_is_not_a_manifest_is_never_parsed(tmp_path: Path) -> None:
    # A broken YAML file that no workload is in says nothing, and costs no parse.
    (tmp_path / "latin1.yaml").write_bytes(b"name: caf\xe9\n")
    context = repo(tmp_path, {".pre-commit-config.yaml": "repos: [\n", "openapi.yml": "a: b\n"})
    assert context.notes == () and context.files == ()
    assert read({"openapi.yaml": "paths: [\n"}) == RepoContext()


def test_a_compose_file_that_is_not_text_is_a_note(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(b"services:\n  caf\xe9: {}\n")
    assert [n.text for n in discover_context(tmp_path).notes] == [
        "compose.yaml: not UTF-8 text, skipped"
    ]


def test_a_byte_order_mark_is_not_part_of_a_context_files_text(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_bytes(b"\xef\xbb\xbfservices:\n  app:\n    user: root\n")
    (override,) = discover_context(tmp_path).overrides
    assert override.text == "compose.yaml:3: service app runs as root (user: root)"


def test_a_context_file_too_large_is_a_note_from_a_work_tree_and_a_commit_alike(
    tmp_path: Path,
) -> None:
    big = "services:\n  app:\n    user: root\n" + "#" * (4 << 20) + "\n"
    # any YAML may be a manifest: one that plainly is not says nothing, however large
    files = {"compose.yaml": big, "big.yaml": "#" * (4 << 20) + "\n"}
    write_files(tmp_path, files)
    worked = discover_context(tmp_path)
    assert [n.text for n in worked.notes] == ["compose.yaml: larger than 4 MiB, skipped"]
    assert worked.overrides == () and worked.files == ()
    readers = {path: (lambda text=text: text.encode()) for path, text in files.items()}
    assert context_of_files(readers, lambda _path: False) == worked


def test_a_context_file_symlinked_from_outside_the_repository_is_not_read(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("services:\n  app:\n    user: root\n")
    root = tmp_path / "repo"
    root.mkdir()
    (root / "compose.yaml").symlink_to(outside)
    context = discover_context(root)
    assert context.overrides == ()
    assert [n.text for n in context.notes] == [
        "compose.yaml: symlink leads outside the repository, skipped"
    ]


# --- the walk -------------------------------------------------------------------------------------


def test_skipped_directories_are_never_read(tmp_path: Path) -> None:
    compose = "services:\n  app:\n    user: root\n"
    files = {f"{d}/compose.yaml": compose for d in ("node_modules/x", "vendor", ".git", ".venv")}
    context = repo(tmp_path, {**files, "ok/compose.yaml": compose})
    assert [o.path for o in context.overrides] == ["ok/compose.yaml"]


def test_gitignored_context_files_are_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    isolate_git(monkeypatch, tmp_path / "home")
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q")
    compose = "services:\n  app:\n    user: root\n"
    context = repo(
        root,
        {
            ".gitignore": "generated/\n*.local.yml\n",
            "generated/compose.yaml": compose,
            "docker-compose.local.yml": compose,
            "compose.yaml": compose,
        },
    )
    assert [o.path for o in context.overrides] == ["compose.yaml"]


def test_a_symlinked_directory_is_not_entered(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write_files(outside, {"compose.yaml": "services:\n  app:\n    user: root\n"})
    root = tmp_path / "repo"
    root.mkdir()
    (root / "linked").symlink_to(outside, target_is_directory=True)
    assert discover_context(root) == RepoContext()


def test_discovery_collects_what_the_context_walk_finds(tmp_path: Path) -> None:
    """fixuser.tree.discover.walk, given a place for them, gathers the context files of the tree it
    walks for Dockerfiles, so a check does not walk the repository twice: the same files and
    symlinks as fixuser.tree.context.walk, tool caches and skipped directories left out."""
    compose = "services:\n  app:\n    user: root\n"
    write_files(
        tmp_path,
        {
            "compose.yaml": compose,
            "svc/api/Dockerfile": DOCKERFILE,
            "svc/api/docker-compose.prod.yml": compose,
            "deploy/k8s/deployment.yaml": "kind: Deployment\n",
            ".github/workflows/build.yml": "on: push\n",
            "Makefile": "all:\n",
            ".mypy_cache/compose.yaml": compose,
            ".cache/deep/compose.yaml": compose,
            ".cache/deep/Dockerfile": DOCKERFILE,
            "node_modules/x/compose.yaml": compose,
            "vendor/Dockerfile": DOCKERFILE,
        },
    )
    (tmp_path / "linked.yaml").symlink_to(tmp_path / "compose.yaml")
    (tmp_path / "dir-link").symlink_to(tmp_path / "svc", target_is_directory=True)
    gathered: ContextWalk = ([], [])
    found = discovery_walk(str(tmp_path), gathered)
    assert sorted(gathered[0]) == context_walk(str(tmp_path))[0]
    assert sorted(gathered[1]) == sorted(context_walk(str(tmp_path))[1]) == ["linked.yaml"]
    assert ".cache/deep/compose.yaml" not in gathered[0]
    # and the Dockerfiles it finds are those it finds without gathering
    assert found == discovery_walk(str(tmp_path))
    assert any(path.endswith(".cache/deep/Dockerfile") for path, _ in found)
    assert discover_context(tmp_path, gathered) == discover_context(tmp_path)


def test_builders_of_missing_dockerfiles_are_noted(tmp_path: Path) -> None:
    context = repo(tmp_path, {"compose.yaml": "services:\n  app:\n    build: ./gone\n"})
    assert [n.text for n in context.notes] == [
        "compose.yaml:3: compose service app builds gone/Dockerfile, which is not in the repository"
    ]


def test_repository_root_is_the_nearest_directory_with_git(tmp_path: Path) -> None:
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "repo" / "svc" / "api").mkdir(parents=True)
    dockerfile = tmp_path / "repo" / "svc" / "api" / "Dockerfile"
    dockerfile.write_text(DOCKERFILE)
    assert repository_root(dockerfile) == tmp_path / "repo"
    assert repository_root(tmp_path / "repo" / "svc") == tmp_path / "repo"
    loose = tmp_path / "loose"
    loose.mkdir()
    if not any((p / ".git").exists() for p in tmp_path.parents):
        assert repository_root(loose) == loose
        assert repository_root(loose, default=tmp_path) == tmp_path


def imports_yaml(root: Path) -> bool:
    code = (
        "import sys; from pathlib import Path;"
        " from fixuser.tree.context import discover_context;"
        f" discover_context(Path({str(root)!r})); print('yaml' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    return out.stdout.strip() == "True"


def test_a_tree_without_context_files_never_imports_yaml(tmp_path: Path) -> None:
    write_files(tmp_path, {f"svc{n}/Dockerfile": DOCKERFILE for n in range(5)})
    write_files(tmp_path, {"README.md": "# x\n", "Makefile.txt": "no\n"})
    assert not imports_yaml(tmp_path)
    write_files(tmp_path, {"svc0/compose.yaml": "services: {}\n"})
    assert imports_yaml(tmp_path)
