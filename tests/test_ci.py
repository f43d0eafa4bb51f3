"""CI and deploy configs: GitHub Actions workflows, GitLab CI and skaffold, and the stage each
of their builds targets.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from fixuser.model import Target
from testing.context import DOCKERFILE, line, repo, where


def test_build_push_action_defaults_and_matrix(tmp_path: Path) -> None:
    files = {
        ".github/workflows/ci.yaml": """\
            jobs:
              default:
                steps:
                  - uses: docker/build-push-action@v6
              files:
                strategy:
                  matrix:
                    stage: [prod, debug]
                    include:
                      - stage: prod
                        dockerfile: docker/prod.Dockerfile
                      - stage: debug
                        dockerfile: docker/debug.Dockerfile
                steps:
                  - uses: docker/build-push-action@v6
                    with:
                      context: .
                      file: ${{ matrix.dockerfile }}
                      target: ${{ matrix.stage }}
                  - uses: docker/build-push-action@v6
                    with:
                      context: ${{ github.workspace }}/app
                  - uses: docker/build-push-action@v6
                    with:
                      file: ${{ steps.meta.outputs.file }}
                  - uses: docker/build-push-action@v6
                    with:
                      context: "{{defaultContext}}:app"
                      target: git-context
                  - uses: docker/build-push-action@v6
                    with:
                      context: ../elsewhere
        """,
        **{
            name: DOCKERFILE
            for name in (
                "Dockerfile",
                "docker/prod.Dockerfile",
                "docker/debug.Dockerfile",
                "app/Dockerfile",
            )
        },
    }
    context = repo(tmp_path, files)
    ci = ".github/workflows/ci.yaml"
    assert context.targets("Dockerfile") == [Target(None, where(files, ci, "- uses:"))]
    assert context.targets("docker/prod.Dockerfile") == [
        Target("prod", where(files, ci, "target: ${{ matrix.stage }}"))
    ]
    assert context.targets("docker/debug.Dockerfile") == [
        Target("debug", where(files, ci, "target: ${{ matrix.stage }}"))
    ]
    assert context.targets("app/Dockerfile") == [
        Target(None, where(files, ci, "- uses:", 3)),
        Target("git-context", where(files, ci, "target: git-context")),
    ]
    assert [n.text for n in context.notes] == [
        f"{where(files, ci, '- uses:', 4)}: docker/build-push-action: an expression fixuser"
        " cannot evaluate",
        f"{where(files, ci, '- uses:', 6)}: docker/build-push-action builds outside the repository",
    ]


def test_run_steps_follow_working_directory_and_cd(tmp_path: Path) -> None:
    files = {
        ".github/workflows/build.yml": """\
            defaults:
              run:
                working-directory: services
            jobs:
              build:
                steps:
                  - run: docker build --file api/Dockerfile --target=prod api
                  - working-directory: services/web
                    run: |
                      set -e
                      DOCKER_BUILDKIT=1 docker buildx build \\
                        --platform linux/amd64,linux/arm64 \\
                        --build-arg VERSION=1 -t web:latest --target test .
                  - run: >-
                      cd ../tools && podman build -f Containerfile.ci .
                  - run: buildah bud -t x --target=stage -f ./Containerfile ctx
                  - run: docker build -f "$DOCKERFILE" .
        """,
        "services/api/Dockerfile": DOCKERFILE,
        "services/web/Dockerfile": DOCKERFILE,
        "tools/Containerfile.ci": DOCKERFILE,
        "services/Containerfile": DOCKERFILE,
    }
    context = repo(tmp_path, files)
    wf = ".github/workflows/build.yml"
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("services/api/Dockerfile", "prod", where(files, wf, "--file api")),
        ("services/web/Dockerfile", "test", where(files, wf, "docker buildx build")),
        ("tools/Containerfile.ci", None, where(files, wf, "cd ../tools")),
        ("services/Containerfile", "stage", where(files, wf, "buildah bud")),
    ]
    assert [n.line for n in context.notes] == [line(textwrap.dedent(files[wf]), "$DOCKERFILE")]


def test_gitlab_scripts_and_kaniko(tmp_path: Path) -> None:
    files = {
        ".gitlab-ci.yml": """\
            variables:
              DOCKERFILE: build/ci.Dockerfile
            stages: [build]
            image-docker:
              stage: build
              script:
                - docker build -f $DOCKERFILE --target ci .
                - - cd app
                  - docker build --target release .
            image-kaniko:
              script:
                - /kaniko/executor --context "${CI_PROJECT_DIR}/svc"
                  --dockerfile "${CI_PROJECT_DIR}/svc/Dockerfile" --target=kaniko
                  --destination "${CI_REGISTRY_IMAGE}:latest"
        """,
    }
    context = repo(tmp_path, files)
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("build/ci.Dockerfile", "ci", where(files, ".gitlab-ci.yml", "$DOCKERFILE --target")),
        ("app/Dockerfile", "release", where(files, ".gitlab-ci.yml", "--target release")),
        ("svc/Dockerfile", "kaniko", where(files, ".gitlab-ci.yml", "/kaniko/executor")),
    ]


def test_skaffold_artifacts_and_profiles(tmp_path: Path) -> None:
    files = {
        "deploy/skaffold.yaml": """\
            apiVersion: skaffold/v4beta11
            kind: Config
            build:
              artifacts:
                - image: api
                  context: ../api
                  docker:
                    dockerfile: docker/Dockerfile.prod
                    target: runtime
                - image: jib-app
                  jib: {}
            profiles:
              - name: dev
                build:
                  artifacts:
                    - image: api
                      context: ../api
        """,
    }
    context = repo(tmp_path, files)
    sk = "deploy/skaffold.yaml"
    assert [(b.dockerfile, b.stage, b.source) for b in context.builders] == [
        ("api/docker/Dockerfile.prod", "runtime", where(files, sk, "target: runtime")),
        ("api/Dockerfile", None, where(files, sk, "- image: api", 2)),
    ]
