"""Compose files: the Dockerfile and stage each service builds, the users and privileges that
override its image at run time, and its bind mounts and published ports.

Compose interpolation is read without an environment: a variable with a default is its
default; one without makes the value unknown (a note, never a guess).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from fixuser.project.model import Found, Mount, Port, Service
from fixuser.project.paths import is_remote, join
from fixuser.project.yaml import TRUE, entries, get, items, line_of, load_yaml, scalar, scalars

if TYPE_CHECKING:
    from yaml.nodes import Node


COMPOSE_VAR_RE = re.compile(
    r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])((?:[^{}]|\{[^{}]*\})*))?\}|\$([A-Za-z_]\w*)"
)


def interpolate(text: str) -> str | None:
    """Compose interpolation without an environment: ``${VAR:-default}`` and
    ``${VAR-default}`` are their default, ``$$`` is ``$``; None when a variable has none."""
    if "$" not in text:
        return text
    unknown = False

    def repl(match: re.Match[str]) -> str:
        nonlocal unknown
        if match.group() == "$$":
            return "$"
        if match.group(2) in (":-", "-"):
            return interpolate(match.group(3) or "") or ""
        unknown = True
        return ""

    result = COMPOSE_VAR_RE.sub(repl, text)
    return None if unknown else result


def read_compose(path: str, text: str, found: Found) -> None:
    from fixuser.dockerfile.users import is_root_user

    base = posixpath.dirname(path)
    for document in load_yaml(path, text, found):
        for name, (key, node) in entries(get(document, "services")).items():
            service = entries(node)
            if not service and scalar(node) is None:
                continue
            dockerfile, stage = compose_build(path, base, name, service.get("build"), found)
            user: str | None = None
            if "user" in service:
                user_node = service["user"][1]
                user = scalar(user_node)
                resolved = interpolate(user) if user is not None else None
                if resolved is not None and is_root_user(resolved):
                    found.override(
                        path,
                        line_of(user_node),
                        "FIXUSER-COMPOSE-ROOT",
                        f"service {name} runs as root (user: {user})",
                        line_of(key),
                    )
            privileged = scalar(get(node, "privileged")) in TRUE
            if privileged:
                line = line_of(service["privileged"][1])
                found.override(
                    path,
                    line,
                    "FIXUSER-COMPOSE-PRIVILEGED",
                    f"service {name} is privileged (privileged: true)",
                    line_of(key),
                )
            found.services.append(
                Service(
                    name=name,
                    file=path,
                    line=line_of(key),
                    dockerfile=dockerfile,
                    stage=stage,
                    user=user,
                    privileged=privileged,
                    cap_add=tuple(scalars(get(node, "cap_add"))),
                    mounts=tuple(compose_mounts(path, base, name, get(node, "volumes"))),
                    ports=tuple(compose_ports(path, name, get(node, "ports"))),
                    profiles=tuple(scalars(get(node, "profiles"))),
                )
            )


def compose_build(
    path: str, base: str, service: str, build: tuple[Node, Node] | None, found: Found
) -> tuple[str | None, str | None]:
    """The Dockerfile (relative to the root) and stage a service's ``build`` builds."""
    if build is None:
        return None, None
    key, node = build
    settings = entries(node)
    if scalar(node) is not None:
        context_text: str | None = scalar(node)
    elif settings:
        context_text = scalar(get(node, "context")) or "."
        if "dockerfile_inline" in settings:
            return None, None
    else:
        return None, None
    via = f"compose service {service}"
    context = interpolate(context_text or ".")
    dockerfile_text = scalar(get(node, "dockerfile")) or "Dockerfile"
    dockerfile = interpolate(dockerfile_text)
    stage_node = get(node, "target")
    stage_text = scalar(stage_node)
    stage = interpolate(stage_text) if stage_text is not None else None
    line = line_of(stage_node) if stage_node is not None and stage else line_of(key)
    if context is None or dockerfile is None or (stage_text is not None and stage is None):
        found.note(path, line, f"{via}: a variable without a default in its build, skipped")
        return None, None
    if is_remote(context):
        return None, None
    context_dir = join(base, context)
    resolved = join(context_dir, dockerfile) if context_dir is not None else None
    if resolved is None:
        found.note(path, line, f"{via} builds outside the repository, skipped")
        return None, None
    found.build(resolved, stage or None, path, line, via)
    return resolved, stage or None


def compose_mounts(path: str, base: str, service: str, node: Node | None) -> Iterator[Mount]:
    for item in items(node):
        line = line_of(item)
        text = scalar(item)
        if text is not None:
            spec = interpolate(text)
            if spec is None:
                continue
            parts = spec.split(":")
            if len(parts) < 2:
                continue  # an anonymous volume: the image's own directory, owned as it is
            source, target = parts[0], parts[1]
            read_only = len(parts) > 2 and "ro" in parts[2].split(",")
            kind = "bind" if source.startswith((".", "/", "~")) else "volume"
        else:
            settings = entries(item)
            kind = scalar(get(item, "type")) or "volume"
            source = interpolate(scalar(get(item, "source")) or "") or ""
            target = interpolate(scalar(get(item, "target")) or "") or ""
            read_only = scalar(get(item, "read_only")) in TRUE
            if kind not in ("bind", "volume") or not source or not target or not settings:
                continue
        host_path = join(base, source) if kind == "bind" and source.startswith(".") else None
        yield Mount(service, source, target, kind, path, line, read_only, host_path or None)


def compose_ports(path: str, service: str, node: Node | None) -> Iterator[Port]:
    for item in items(node):
        protocol = "tcp"
        text = scalar(item)
        if text is None:
            text = scalar(get(item, "target"))
            protocol = scalar(get(item, "protocol")) or protocol
        else:
            text = interpolate(text)
            if text is not None and "/" in text:
                text, _, protocol = text.partition("/")
            if text is not None:
                text = text.rsplit(":", 1)[-1]  # [ip:][host:]container
        if not text:
            continue
        first, _, last = text.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            continue
        start, end = int(first), int(last or first)
        for port in range(start, min(end, start + 1023) + 1):
            yield Port(service, port, path, line_of(item), protocol)
