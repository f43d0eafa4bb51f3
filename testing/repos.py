"""Fixture repositories, written by code, in the layouts real repositories use (issue 22).

Each fixture is a function that writes one small repository into a directory (and, with
``commit=True``, runs ``git init`` and commits it) and returns the role every Dockerfile in it
must get. They follow the designs of the roles research (a monorepo with a code generator run
on the checkout, a package builder run from a Makefile, devcontainers with and without
``remoteUser``, a Cypress image under e2e/, a bake base used only as a build context, a scratch
artifact exported with ``--output``, a one-shot init service marked ``# fixuser: ignore``).

The images that are meant to be fixed (services, a devcontainer without ``remoteUser``) start
from base images ``tests/images/build.sh`` builds here and install nothing from the network, so
``fixuser verify`` can build and run them before and after; the tools, tests and bases name the
images real repositories use (golang, cypress, gradle), which are not built here.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

# Small applications the services run: each keeps running (or exits 0) on the local images.
PY_SERVER = "import http.server\nhttp.server.test(port=8080, bind='0.0.0.0')\n"
NODE_SERVER = (
    "require('http').createServer((q, r) => r.end('ok')).listen(3000);\n"
    "console.log('listening on 3000');\n"
)
PY_SERVICE = (
    "FROM python:3.12-slim\n"
    "WORKDIR /app\n"
    "COPY app.py /app/\n"
    "EXPOSE 8080\n"
    'CMD ["python3", "/app/app.py"]\n'
)


def write(root: Path, files: Mapping[str, str], *, commit: bool = False) -> None:
    """``files`` (path -> text) under ``root``; with ``commit``, a git repository holding them."""
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if name.endswith(".sh"):
            path.chmod(0o755)
    if commit:
        git_commit(root)


def git_commit(root: Path) -> None:
    """``git init`` and one commit, without the developer's git configuration."""
    env = {
        **os.environ,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": "Fixture",
        "GIT_AUTHOR_EMAIL": "fixture@example.com",
        "GIT_COMMITTER_NAME": "Fixture",
        "GIT_COMMITTER_EMAIL": "fixture@example.com",
    }
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fixture"]):
        subprocess.run(["git", "-C", str(root), *args], env=env, check=True, capture_output=True)


def codegen_monorepo(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F1: two compose services, and code generators run on the checkout from a script."""
    write(
        root,
        {
            "compose.yaml": (
                "services:\n"
                "  api:\n    build: services/api\n    ports: ['8080:8080']\n"
                "    restart: unless-stopped\n"
                "  web:\n    build:\n      context: services/web\n    ports: ['3000:3000']\n"
                "    depends_on: [api]\n"
            ),
            "services/api/Dockerfile": PY_SERVICE,
            "services/api/app.py": PY_SERVER,
            "services/web/Dockerfile": (
                "FROM node:20-bookworm-slim\n"
                "WORKDIR /srv/web\n"
                "COPY server.js ./\n"
                "EXPOSE 3000\n"
                'CMD ["node", "server.js"]\n'
            ),
            "services/web/server.js": NODE_SERVER,
            "tools/protoc/Dockerfile": (
                "FROM golang:1.22-alpine\n"
                "RUN apk add --no-cache protobuf-dev\n"
                "RUN go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.34.2\n"
                "WORKDIR /build\n"
            ),
            "tools/openapi/Dockerfile": (
                "FROM eclipse-temurin:21-jre\n"
                "COPY generator.jar /opt/generator.jar\n"
                'ENTRYPOINT ["java", "-jar", "/opt/generator.jar"]\n'
            ),
            "scripts/gen.sh": (
                "#!/bin/sh\n"
                "set -eu\n"
                "docker build -t gen-image -f tools/protoc/Dockerfile .\n"
                'docker run --rm -v "$(pwd)":/build gen-image \\\n'
                "  protoc -I proto --go_out=gen/go proto/api.proto\n"
            ),
            # near miss: a detached run publishing a port makes nothing a tool
            "scripts/run-api.sh": (
                "#!/bin/sh\ndocker build -t acme-api services/api\n"
                "docker run -d -p 8080:8080 acme-api\n"
            ),
            "Makefile": (
                "gen:\n\t./scripts/gen.sh\n\n"
                "gen-api:\n"
                "\tdocker build -t acme-openapi -f tools/openapi/Dockerfile tools/openapi\n"
                "\tdocker run --rm -v $(CURDIR):/local acme-openapi generate -i api.yaml\n"
            ),
            ".github/workflows/gen.yml": (
                "on: push\njobs:\n  gen:\n    runs-on: ubuntu-latest\n"
                "    steps:\n      - uses: actions/checkout@v4\n      - run: make gen\n"
            ),
        },
        commit=commit,
    )
    return {
        "services/api/Dockerfile": "service",
        "services/web/Dockerfile": "service",
        "tools/protoc/Dockerfile": "tool",
        "tools/openapi/Dockerfile": "tool",
    }


def package_builder(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F2: a Debian package builder the Makefile runs on the checkout (not under /root)."""
    write(
        root,
        {
            "Makefile": (
                "DEB_IMAGE := builder-debian-bookworm\n"
                "RUN := docker run --rm -v $(CURDIR):/build -w /build\n\n"
                "deb:\n"
                "\tdocker build -t $(DEB_IMAGE) -f deb/debian-bookworm/Dockerfile .\n"
                "\tdocker run --rm -v $(CURDIR):/build -w /build $(DEB_IMAGE)\n"
                "\tchown -R $(shell id -u):$(shell id -g) ../*.deb\n"
            ),
            "deb/debian-bookworm/Dockerfile": (
                "FROM debian:bookworm-slim\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends"
                " devscripts debhelper && rm -rf /var/lib/apt/lists/*\n"
                "WORKDIR /build\n"
                'ENTRYPOINT ["dpkg-buildpackage", "-us", "-uc", "-b"]\n'
            ),
            "debian/control": "Source: acme\nMaintainer: Acme <dev@example.com>\n",
        },
        commit=commit,
    )
    return {"deb/debian-bookworm/Dockerfile": "tool"}


def devcontainer_remote_user(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F3: a devcontainer whose tools run as remoteUser vscode, beside the app it develops."""
    write(
        root,
        {
            ".devcontainer/devcontainer.json": (
                "{\n"
                '  "name": "acme",\n'
                '  "build": { "dockerfile": "Dockerfile" },\n'
                '  "remoteUser": "vscode",\n'
                '  "updateRemoteUserUID": true,\n'
                '  "features": {\n'
                '    "ghcr.io/devcontainers/features/common-utils:2": {"username": "vscode"}\n'
                "  }\n"
                "}\n"
            ),
            ".devcontainer/Dockerfile": (
                "FROM mcr.microsoft.com/devcontainers/base:bookworm\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends make\n"
            ),
            "Dockerfile": PY_SERVICE,
            "app.py": PY_SERVER,
        },
        commit=commit,
    )
    return {".devcontainer/Dockerfile": "dev", "Dockerfile": "service"}


def devcontainer_no_remote_user(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F3: a JSONC devcontainer.json naming ../.github/Dockerfile, with no remoteUser."""
    write(
        root,
        {
            ".devcontainer/devcontainer.json": (
                "// the CI image doubles as the development container\n"
                "{\n"
                '  "name": "build-env",\n'
                '  "build": {\n'
                '    "dockerfile": "../.github/Dockerfile", /* shared with CI */\n'
                '    "context": "..",\n'
                "  },\n"
                "}\n"
            ),
            ".github/Dockerfile": (
                'FROM debian:bookworm-slim\nWORKDIR /workspace\nCMD ["sh", "-c", "echo ready"]\n'
            ),
        },
        commit=commit,
    )
    return {".github/Dockerfile": "dev"}


def cypress_e2e(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F4: a web app (already non-root) and its Cypress image under e2e/."""
    write(
        root,
        {
            "Dockerfile": (
                "FROM node:20-bookworm-slim\n"
                "WORKDIR /home/node/app\n"
                "COPY --chown=node:node server.js ./\n"
                "USER node\n"
                'CMD ["node", "server.js"]\n'
            ),
            "server.js": NODE_SERVER,
            "e2e/Dockerfile": (
                "FROM cypress/included:13.6.0\n"
                "WORKDIR /e2e\n"
                "COPY . .\n"
                "RUN npm ci\n"
                'ENTRYPOINT ["cypress", "run"]\n'
            ),
            "compose.yaml": "services:\n  web:\n    build: .\n    ports: ['3000:3000']\n",
            "compose.e2e.yaml": (
                "services:\n"
                "  e2e:\n"
                "    build:\n      context: .\n      dockerfile: e2e/Dockerfile\n"
                "    profiles: [e2e]\n"
                "    volumes: ['./e2e/screenshots:/e2e/cypress/screenshots']\n"
                "    depends_on: [web]\n"
            ),
            ".github/workflows/e2e.yml": (
                "on: pull_request\njobs:\n  e2e:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n"
                "      - run: docker compose -f compose.yaml -f compose.e2e.yaml run --rm e2e\n"
            ),
        },
        commit=commit,
    )
    return {"Dockerfile": "service", "e2e/Dockerfile": "test"}


def bake_base(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F5: a base image bake uses only as another target's build context."""
    write(
        root,
        {
            "docker-bake.hcl": (
                'group "default" {\n  targets = ["api"]\n}\n\n'
                'target "base" {\n  context = "images/base"\n}\n\n'
                'target "api" {\n'
                '  context = "services/api"\n'
                '  contexts = { base = "target:base" }\n'
                '  tags = ["acme/api:latest"]\n'
                "}\n"
            ),
            "images/base/Dockerfile": (
                "FROM debian:bookworm-slim\n"
                "RUN apt-get update && apt-get install -y --no-install-recommends"
                " ca-certificates tzdata && rm -rf /var/lib/apt/lists/*\n"
            ),
            "services/api/Dockerfile": (
                'FROM base\nWORKDIR /app\nCOPY app.sh /app/\nCMD ["/app/app.sh"]\n'
            ),
            "services/api/app.sh": "#!/bin/sh\nexec sleep 3600\n",
            ".github/workflows/build.yml": (
                "on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                "      - uses: actions/checkout@v4\n"
                "      - run: docker buildx bake -f docker-bake.hcl api\n"
            ),
        },
        commit=commit,
    )
    return {"images/base/Dockerfile": "build-base", "services/api/Dockerfile": "service"}


def scratch_artifact(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F6: an APK carried out of a scratch stage with --output; a tool's runtime stage."""
    write(
        root,
        {
            "Makefile": (
                "apk:\n"
                "\tdocker build -f mobile/android.Dockerfile --output=type=local,dest=out mobile\n"
                "dist:\n"
                "\tdocker buildx build --target export --output type=local,dest=dist .\n"
            ),
            "mobile/android.Dockerfile": (
                "FROM gradle:8-jdk17 AS builder\n"
                "WORKDIR /src\n"
                "COPY . .\n"
                "RUN gradle assembleRelease\n"
                "FROM scratch\n"
                "COPY --from=builder /src/app/build/outputs/apk/release/app.apk /app.apk\n"
            ),
            "Dockerfile": (
                "FROM alpine:3.20 AS build\n"
                "RUN mkdir -p /out && printf '#!/bin/sh\\necho tool 1.0\\nexec sleep 3600\\n'"
                " > /out/tool && chmod 755 /out/tool\n"
                "FROM scratch AS export\n"
                "COPY --from=build /out/tool /\n"
                "FROM alpine:3.20 AS runtime\n"
                "COPY --from=build /out/tool /usr/local/bin/tool\n"
                'ENTRYPOINT ["/usr/local/bin/tool"]\n'
            ),
        },
        commit=commit,
    )
    return {"mobile/android.Dockerfile": "artifact", "Dockerfile": "service"}


def init_ignore(root: Path, *, commit: bool = False) -> dict[str, str]:
    """F8: a compose one-shot init service marked ``# fixuser: ignore``, and the app."""
    write(
        root,
        {
            "compose.yaml": (
                "services:\n"
                "  db-init:\n    build: init\n    restart: 'no'\n"
                "    volumes: ['db-data:/var/lib/postgresql/data']\n"
                "  db:\n    image: postgres:16\n"
                "    depends_on:\n      db-init:\n"
                "        condition: service_completed_successfully\n"
                "    volumes: ['db-data:/var/lib/postgresql/data']\n"
                "  app:\n    build: app\n    ports: ['8080:8080']\n    depends_on: [db]\n"
                "volumes:\n  db-data: {}\n"
            ),
            "init/Dockerfile": (
                "# fixuser: ignore\n"
                "FROM alpine:3.20\n"
                "COPY init.sh /init.sh\n"
                'ENTRYPOINT ["/init.sh"]\n'
            ),
            "init/init.sh": "#!/bin/sh\nchown -R 999:999 /var/lib/postgresql/data\n",
            "app/Dockerfile": PY_SERVICE,
            "app/app.py": PY_SERVER,
        },
        commit=commit,
    )
    return {"init/Dockerfile": "service", "app/Dockerfile": "service"}


Fixture = Callable[..., dict[str, str]]
FIXTURES: dict[str, Fixture] = {
    "codegen-monorepo": codegen_monorepo,
    "package-builder": package_builder,
    "devcontainer-remoteuser": devcontainer_remote_user,
    "devcontainer-no-remoteuser": devcontainer_no_remote_user,
    "cypress-e2e": cypress_e2e,
    "bake-base": bake_base,
    "scratch-artifact": scratch_artifact,
    "init-ignore": init_ignore,
}
# Files fix must leave byte for byte as they were, whatever their role.
IGNORED = {"init-ignore": ["init/Dockerfile"]}
