"""What the readers of a repository's other files find: the shapes a caller gets.

``RepoContext`` is the whole answer: who builds which Dockerfile and stage (``Builder``), the
compose services with their mounts and ports, the run-time overrides that make a container
root (``Override``, with a rule id of ``RULES``) and what was read but not understood
(``Note``). ``Found`` is the accumulator every reader writes into as it reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

from fixuser.model import Target
from fixuser.project.paths import normal

# Rule ids of the overrides, beside the FIXUSER-* warning rules of fixuser.report.
RULES = {
    "FIXUSER-COMPOSE-ROOT": "A compose service runs as root (user: root / 0)",
    "FIXUSER-COMPOSE-PRIVILEGED": "A compose service is privileged",
    "FIXUSER-K8S-ROOT": "A Kubernetes container runs as root (runAsUser: 0)",
    "FIXUSER-K8S-PRIVILEGED": "A Kubernetes container is privileged",
    "FIXUSER-K8S-ESCALATION": "A Kubernetes container may gain privileges "
    "(allowPrivilegeEscalation not false and runAsNonRoot not set)",
}


class Builder(NamedTuple):
    """One place that builds a Dockerfile."""

    dockerfile: str  # relative to the repository root
    stage: str | None  # its --target; None: the last stage
    path: str  # the file that builds it
    line: int
    via: str  # "compose service web", "docker build", "bake target app", ...

    @property
    def source(self) -> str:
        return f"{self.path}:{self.line}"


# A comment on the line of a compose service or Kubernetes container, or of the setting itself,
# that accepts its overrides: root on purpose (a one-shot chown init service).
IGNORE_RE = re.compile(r"#\s*fixuser\s*:\s*ignore\b", re.IGNORECASE)


class Override(NamedTuple):
    """A run-time setting that makes a container run as root or privileged, whatever its
    Dockerfile says."""

    path: str
    line: int
    rule: str  # a key of RULES
    message: str  # "service worker runs as root (user: root)"
    # the line of the ``# fixuser: ignore`` that accepts it (the setting's own, or its
    # service's or container's); 0: not accepted, a finding
    accepted_at: int = 0

    @property
    def accepted(self) -> bool:
        return self.accepted_at > 0

    @property
    def reason(self) -> str:
        """Why it is accepted: ``# fixuser: ignore on line 4``; "" when it is not."""
        return f"# fixuser: ignore on line {self.accepted_at}" if self.accepted else ""

    @property
    def text(self) -> str:
        """``compose.yaml:10: service worker runs as root (user: root)``, and when accepted
        `` (accepted: # fixuser: ignore on line 9)``."""
        accepted = f" (accepted: {self.reason})" if self.accepted else ""
        return f"{self.path}:{self.line}: {self.message}{accepted}"


class Mount(NamedTuple):
    """A compose bind mount or named volume."""

    service: str
    source: str  # as written: "./data", "/srv/data", "pgdata" (a named volume)
    target: str  # the path in the container
    kind: str  # "bind" or "volume"
    file: str
    line: int
    read_only: bool = False
    host_path: str | None = None  # a bind's source relative to the repository root, if inside


class Port(NamedTuple):
    """A compose port, by its container side (the one the process binds)."""

    service: str
    port: int
    file: str
    line: int
    protocol: str = "tcp"


class Service(NamedTuple):
    name: str
    file: str
    line: int
    dockerfile: str | None  # what it builds (relative to the root), None for image-only
    stage: str | None
    user: str | None  # its ``user:`` as written
    privileged: bool
    cap_add: tuple[str, ...]
    mounts: tuple[Mount, ...]
    ports: tuple[Port, ...]  # every published container port
    profiles: tuple[str, ...] = ()  # its ``profiles``: started only when asked for


class Tag(NamedTuple):
    """An image name a build command gives the Dockerfile it builds (``-t gen:latest``)."""

    name: str  # without its tag or digest: "gen", "registry.example/team/gen"
    dockerfile: str
    path: str
    line: int


class Run(NamedTuple):
    """A ``docker run``/``podman run`` of an image with the checkout bind-mounted into it
    (``-v "$(pwd)":/src``, ``--volume .:/x``): a tool run on the caller's files."""

    image: str  # without its tag or digest
    path: str
    line: int
    mount: str  # the mount as written: "$(pwd):/build"


class Devcontainer(NamedTuple):
    """A devcontainer.json and what it says of the container's user."""

    path: str
    dockerfile: str | None  # its build.dockerfile, relative to the root
    service: str | None  # its compose ``service``, when it uses dockerComposeFile
    remote_user: str | None
    container_user: str | None
    user_line: int  # the line of remoteUser/containerUser (of the file's top when neither)
    update_uid: bool = True


class BaseTarget(NamedTuple):
    """A bake target another target uses as a build context (``target:base``): a base
    image, built to be built FROM."""

    name: str
    path: str
    line: int


class Note(NamedTuple):
    """Something read but not understood: a file skipped, a path that cannot be resolved."""

    path: str
    line: int
    message: str

    @property
    def text(self) -> str:
        return (
            f"{self.path}:{self.line}: {self.message}"
            if self.line
            else f"{self.path}: {self.message}"
        )


# A NamedTuple, not a frozen dataclass: importing dataclasses (and inspect with it) took ~3%
# of a check's run.
class RepoContext(NamedTuple):
    builders: tuple[Builder, ...] = ()
    services: tuple[Service, ...] = ()
    overrides: tuple[Override, ...] = ()
    notes: tuple[Note, ...] = ()
    files: tuple[str, ...] = ()  # the context files read
    tags: tuple[Tag, ...] = ()
    runs: tuple[Run, ...] = ()
    devcontainers: tuple[Devcontainer, ...] = ()
    base_targets: tuple[BaseTarget, ...] = ()

    def targets(self, dockerfile: str) -> list[Target]:
        """The stages of ``dockerfile`` (relative to the root) that something builds, each with
        its source; the last stage from "default" when nothing builds the file."""
        wanted = normal(dockerfile)
        seen: dict[Target, None] = {}
        for builder in self.builders:
            if builder.dockerfile == wanted:
                seen.setdefault(Target(builder.stage, builder.source))
        return list(seen) or [Target(None, "default")]

    def services_for(self, dockerfile: str) -> list[Service]:
        wanted = normal(dockerfile)
        return [s for s in self.services if s.dockerfile == wanted]

    def mounts(self, dockerfile: str) -> list[Mount]:
        """The bind mounts and named volumes of the compose services that build it."""
        return [m for s in self.services_for(dockerfile) for m in s.mounts]

    def low_ports(self, dockerfile: str) -> list[Port]:
        """Container ports below 1024 that its compose services publish: binding them as a
        non-root user needs NET_BIND_SERVICE (or a runtime that lowers
        ``ip_unprivileged_port_start``)."""
        return [p for s in self.services_for(dockerfile) for p in s.ports if p.port < 1024]


class Found:
    """What the readers find, as they find it."""

    def __init__(self, exists: Callable[[str], bool] | None) -> None:
        self.exists = exists
        self.builders: list[Builder] = []
        self.services: list[Service] = []
        self.overrides: list[Override] = []
        self.notes: list[Note] = []
        # each file's lines, as its reader reads it: where ``# fixuser: ignore`` is looked for
        self.lines: dict[str, list[str]] = {}
        self.tags: list[Tag] = []
        self.runs: list[Run] = []
        self.devcontainers: list[Devcontainer] = []
        self.base_targets: list[BaseTarget] = []

    def note(self, path: str, line: int, message: str) -> None:
        self.notes.append(Note(path, line, message))

    def build(self, dockerfile: str, stage: str | None, path: str, line: int, via: str) -> None:
        if self.exists is not None and not self.exists(dockerfile):
            self.note(path, line, f"{via} builds {dockerfile}, which is not in the repository")
        self.builders.append(Builder(dockerfile, stage, path, line, via))

    def override(self, path: str, line: int, rule: str, message: str, owner: int = 0) -> None:
        """An override at ``line``; ``owner``: the line of the compose service or Kubernetes
        container it belongs to, where ``# fixuser: ignore`` accepts it too."""
        self.overrides.append(Override(path, line, rule, message, self.pragma(path, line, owner)))

    def pragma(self, path: str, *lines: int) -> int:
        """The first of ``lines`` (1-based; 0: none) with ``# fixuser: ignore``, else 0."""
        text = self.lines.get(path, [])
        for line in lines:
            if 0 < line <= len(text) and IGNORE_RE.search(text[line - 1]):
                return line
        return 0

    def freeze(self, files: Sequence[str], notes: Iterable[Note]) -> RepoContext:
        def where(item: Builder | Override | Note) -> tuple[str, int]:
            return item.path, item.line

        return RepoContext(
            builders=tuple(sorted(dict.fromkeys(self.builders), key=where)),
            services=tuple(self.services),
            overrides=tuple(sorted(dict.fromkeys(self.overrides), key=where)),
            notes=tuple(sorted([*notes, *dict.fromkeys(self.notes)], key=where)),
            files=tuple(files),
            tags=tuple(dict.fromkeys(self.tags)),
            runs=tuple(dict.fromkeys(self.runs)),
            devcontainers=tuple(self.devcontainers),
            base_targets=tuple(dict.fromkeys(self.base_targets)),
        )
