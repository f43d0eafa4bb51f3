"""The role of a Dockerfile's image: what the repository does with it (issue 22).

A platform engineer decides by role before fixing: a long-running ``service`` takes a USER;
a ``tool`` run on the caller's files (``docker run -v "$(pwd)":/src gen`` in a script) would
write them as a user the caller is not; a ``build-base`` (built only to be built FROM) and an
``artifact`` (a ``FROM scratch`` stage that carries files out) never run; a ``test`` image
runs in CI; a ``dev`` container is the developer's own shell.

``from_context`` reads what fixuser.project's readers found in the repository (and the
``--role``/``roles`` overrides); ``from_dockerfile`` what the Dockerfile itself says, when the
repository says nothing. Each gives a fixuser.model.Role with its evidence ("file:line") and a
short why. Pure: paths are repository-relative strings.
"""

from __future__ import annotations

import fnmatch
import posixpath
from collections.abc import Sequence

from fixuser.dockerfile.parse import Dockerfile
from fixuser.dockerfile.stages import Stage, build_stages
from fixuser.dockerfile.users import is_root_user
from fixuser.model import Role
from fixuser.project.model import RepoContext, Service
from fixuser.project.paths import normal

# Directories whose Dockerfiles are CI's or tests' own.
TEST_DIRS = frozenset({".ci", "ci", ".github", "e2e", "cypress", "playwright"})
# Images end-to-end and load tests run in.
TEST_BASES = (
    "cypress/",
    "mcr.microsoft.com/playwright",
    "selenium/",
    "grafana/k6",
    "loadimpact/k6",
    "testcafe/",
)
# Programs that run to completion on the caller's files: code generators, linters, package
# builders.
TOOL_PROGRAMS = frozenset(
    {"protoc", "openapi-generator", "openapi-generator-cli", "swagger-codegen", "buf",
     "golangci-lint", "eslint", "hadolint", "shellcheck", "ruff", "flake8", "pylint",
     "rubocop", "dpkg-buildpackage", "debuild", "rpmbuild", "fpm", "goreleaser", "nfpm"}
)  # fmt: skip


def overridden(path: str, overrides: Sequence[tuple[str, str]]) -> Role | None:
    """The role ``--role ROLE=GLOB`` or ``roles = {GLOB = ROLE}`` gives ``path`` (the last
    glob that matches wins), None when none does."""
    chosen = None
    for glob, name in overrides:
        if fnmatch.fnmatchcase(path, glob) or fnmatch.fnmatchcase(path, glob.rstrip("/") + "/*"):
            chosen = Role(name, "settings", f"roles: {glob} = {name}")
    return chosen


def from_context(
    path: str, context: RepoContext | None, overrides: Sequence[tuple[str, str]] = ()
) -> Role:
    """The role of the Dockerfile at ``path`` (repository-relative) from the settings, the
    repository's other files and its own path; the default ``service`` (no evidence) when
    nothing says: from_dockerfile may then still tell."""
    path = normal(path)
    chosen = overridden(path, overrides)
    if chosen is not None:
        return chosen
    context = context or RepoContext()
    for find in (devcontainer_role, tool_role, base_role, compose_role):
        found = find(path, context)
        if found is not None:
            return found
    parts = path.split("/")[:-1]
    if ".devcontainer" in parts:
        return Role("dev", path, "a Dockerfile under .devcontainer/")
    test_dir = next((p for p in parts if p in TEST_DIRS or p.startswith("test")), None)
    if test_dir is not None:
        return Role("test", path, f"under {test_dir}/, a CI or test directory")
    return service_role(path, context) or Role()


def devcontainer_role(path: str, context: RepoContext) -> Role | None:
    services = {s.name for s in context.services if s.dockerfile == path}
    for found in context.devcontainers:
        if found.dockerfile != path and (found.service is None or found.service not in services):
            continue
        user = next(
            (
                u
                for u in (found.container_user, found.remote_user)
                if u and not is_root_user(u) and "$" not in u
            ),
            "",
        )
        key = "containerUser" if user and user == found.container_user else "remoteUser"
        why = (
            f"devcontainer.json builds it; {key} {user}"
            if user
            else ("devcontainer.json builds it and sets no non-root remoteUser or containerUser")
        )
        return Role("dev", f"{found.path}:{found.user_line}", why, user)
    return None


def tool_role(path: str, context: RepoContext) -> Role | None:
    names = {tag.name: tag for tag in context.tags if tag.dockerfile == path}
    for run in context.runs:
        tag = names.get(run.image)
        if tag is not None:
            why = (
                f"run with the checkout mounted ({run.mount}); "
                f"built as {tag.name} at {tag.path}:{tag.line}"
            )
            return Role("tool", f"{run.path}:{run.line}", why, run.mount)
    for service in context.services:
        if service.dockerfile == path and service.profiles and mounts_checkout(service):
            why = (
                f"compose service {service.name} (profiles: {', '.join(service.profiles)}) "
                "mounts only the checkout"
            )
            return Role("tool", f"{service.file}:{service.line}", why, "")
    return None


def mounts_checkout(service: Service, only: bool = True) -> bool:
    """Whether the service bind-mounts the checkout (or its parent); ``only``: and nothing
    else."""
    binds = [
        m.host_path == "." or (m.host_path is None and m.source.startswith(".."))
        for m in service.mounts
    ]
    return any(binds) and (all(binds) or not only)


def base_role(path: str, context: RepoContext) -> Role | None:
    builders = [b for b in context.builders if b.dockerfile == path]
    bases = {(t.path, t.name): t for t in context.base_targets}
    if not builders:
        return None
    used = []
    for builder in builders:
        name = builder.via.removeprefix("bake target ")
        if name == builder.via or (builder.path, name) not in bases:
            return None
        used.append(bases[builder.path, name])
    first = used[0]
    return Role(
        "build-base",
        f"{first.path}:{first.line}",
        f"bake target {first.name} is only used as target:{first.name}, a base of other targets",
    )


def compose_role(path: str, context: RepoContext) -> Role | None:
    for service in context.services:
        if service.dockerfile != path:
            continue
        name = posixpath.basename(service.file)
        if "test" in name:
            return Role(
                "test", f"{service.file}:{service.line}", f"built by {name}, a test compose file"
            )
        if not service.profiles and mounts_checkout(service, only=False):
            return Role(
                "dev",
                f"{service.file}:{service.line}",
                f"compose service {service.name} mounts the whole repository",
            )
    return None


def service_role(path: str, context: RepoContext) -> Role | None:
    for service in context.services:
        if service.dockerfile == path and not service.profiles:
            return Role(
                "service", f"{service.file}:{service.line}", f"compose service {service.name}"
            )
    return None


def from_dockerfile(role: Role, dockerfile: Dockerfile, path: str) -> Role:
    """``role``, or when it is the default (nothing in the repository said), what the
    Dockerfile says of itself: a last stage FROM scratch without CMD or ENTRYPOINT is an
    artifact, a test runner's base a test, a code generator, linter or package builder as
    its command a tool."""
    if role.evidence:
        return role
    stages = build_stages(dockerfile)
    if not stages:
        return role
    last = stages[-1]
    where = f"{path}:{last.from_instruction.lineno}"
    commands = [*last.of("ENTRYPOINT"), *last.of("CMD")]
    if last.image.lower() == "scratch" and not commands:
        return Role("artifact", where, "FROM scratch without CMD or ENTRYPOINT: it carries files")
    image = base_image(stages)
    if image.startswith(TEST_BASES):
        return Role("test", where, f"FROM {image}, a test runner's image")
    for instruction in commands:
        words = instruction.value.replace('"', " ").replace(",", " ").strip("[] ").split()
        program = next((w for w in words if posixpath.basename(w) in TOOL_PROGRAMS), None)
        if program is not None:
            name = posixpath.basename(program)
            why = f"{instruction.keyword} runs {name}, a program run on the caller's files"
            return Role("tool", f"{path}:{instruction.lineno}", why)
    return role


def base_image(stages: Sequence[Stage]) -> str:
    """The external image the last stage is built on, through the stages it is built FROM."""
    stage, seen = stages[-1], 0
    while stage.parent is not None and seen < len(stages):
        stage, seen = stages[stage.parent], seen + 1
    return stage.image.lower().removeprefix("docker.io/")
