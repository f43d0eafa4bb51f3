"""``fixuser audit``: the CIS Docker Benchmark 4.1 audit of running containers.

For each running container, the effective UID of PID 1 as the kernel reports it: ``cat
/proc/1/status`` run inside the container, or, for a container without ``cat``, the host's
``/proc/<State.Pid>/status``. Never the image config: ``--user`` at run time and entrypoints that
drop privileges (gosu, su-exec, setpriv) both make it lie. Talks the Docker Engine API through
the ``docker`` SDK, which podman's service speaks too. It only reads: no container is changed.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fixuser.engine import dockerfile_label, parse_status_uid

EXIT_OK, EXIT_ROOT, EXIT_CANNOT_RUN = 0, 1, 2
PODMAN_SOCKETS = ("/run/podman/podman.sock", "/tmp/podman.sock")
HOW_TO_CONNECT = (
    "cannot reach a Docker Engine API: start Docker, or run podman's service "
    "(`podman system service --time=0 unix:///tmp/podman.sock &`) and set "
    "DOCKER_HOST=unix:///tmp/podman.sock, or pass --host"
)


@dataclasses.dataclass(frozen=True)
class Finding:
    id: str
    name: str
    image: str
    uid: int | None
    verdict: str  # "root", "non-root" or "unknown"
    source: str  # how the UID was read
    config_user: str  # what the container's config claims (for contrast only)
    dockerfile: str | None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def default_host() -> str | None:
    """DOCKER_HOST, else Docker's socket, else a podman service socket that exists."""
    if os.environ.get("DOCKER_HOST"):
        return os.environ["DOCKER_HOST"]
    for sock in ("/var/run/docker.sock", *PODMAN_SOCKETS):
        if Path(sock).exists():
            return f"unix://{sock}"
    return None


def connect(host: str | None) -> Any:
    import docker  # the SDK is only paid for by this command

    base_url = host or default_host()
    if base_url is None:
        raise ConnectionError(HOW_TO_CONNECT)
    try:
        client = docker.DockerClient(base_url=base_url, timeout=30)
        client.ping()
    except Exception as e:  # the SDK raises many kinds; all mean "no engine here"
        raise ConnectionError(f"{HOW_TO_CONNECT} ({base_url}: {e})") from e
    return client


def pid1_status(container: Any) -> tuple[str | None, str]:
    """/proc/1/status of a running container, and where it was read."""
    try:
        code, output = container.exec_run(["cat", "/proc/1/status"], stdout=True, stderr=False)
        if code == 0 and b"Uid:" in output:
            return output.decode(errors="replace"), "exec cat /proc/1/status"
    except Exception:  # no cat in the image, or exec refused: try the host's view
        pass
    pid = (container.attrs.get("State") or {}).get("Pid")
    if pid:
        try:
            return Path(f"/proc/{pid}/status").read_text(), f"host /proc/{pid}/status"
        except OSError:
            pass
    return None, "unreadable: no cat in the container and its PID is not on this host"


def image_name(container: Any) -> str:
    config = container.attrs.get("Config") or {}
    if config.get("Image"):
        return str(config["Image"])
    try:
        tags = container.image.tags
    except Exception:
        tags = []
    return str(tags[0]) if tags else str(container.attrs.get("Image", ""))


def labels_of(container: Any) -> dict[str, str]:
    labels = dict((container.attrs.get("Config") or {}).get("Labels") or {})
    with contextlib.suppress(Exception):  # the image may be gone or unreadable
        labels = {**(container.image.labels or {}), **labels}
    return {str(k): str(v) for k, v in labels.items()}


def audit_container(container: Any) -> Finding:
    status, source = pid1_status(container)
    uid = parse_status_uid(status) if status else None
    verdict = "unknown" if uid is None else "root" if uid == 0 else "non-root"
    return Finding(
        id=str(container.id)[:12],
        name=str(container.name),
        image=image_name(container),
        uid=uid,
        verdict=verdict,
        source=source,
        config_user=str((container.attrs.get("Config") or {}).get("User") or ""),
        dockerfile=dockerfile_label(labels_of(container)),
    )


def audit(client: Any, labels: Iterable[str] = ()) -> list[Finding]:
    """One finding per running container (with all ``labels``), in the engine's order."""
    wanted = list(labels)
    filters = {"label": wanted} if wanted else None
    return [audit_container(c) for c in client.containers.list(filters=filters)]


def print_text(findings: Iterable[Finding]) -> None:
    rows = list(findings)
    if not rows:
        print("no running containers")
        return
    for f in rows:
        uid = "?" if f.uid is None else str(f.uid)
        extra = f"  (config User: {f.config_user or 'unset'})"
        where = f"  Dockerfile: {f.dockerfile}" if f.dockerfile else ""
        print(f"{f.verdict.upper():8} uid={uid:<6} {f.name} {f.id} {f.image}{extra}{where}")
    roots = sum(f.verdict == "root" for f in rows)
    print(f"{len(rows)} running, {roots} as root (CIS Docker 4.1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", help="Docker Engine API address (default: DOCKER_HOST, then known sockets)"
    )
    parser.add_argument("--format", choices=("text", "json"), default="text")
    parser.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="KEY[=VALUE]",
        help="audit only containers with this label (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        client = connect(args.host)
    except ConnectionError as e:
        print(f"fixuser audit: {e}", file=sys.stderr)
        return EXIT_CANNOT_RUN
    findings = audit(client, args.label)
    if args.format == "json":
        json.dump({"containers": [f.as_json() for f in findings]}, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        print_text(findings)
    if any(f.verdict == "root" for f in findings):
        return EXIT_ROOT
    return EXIT_CANNOT_RUN if any(f.verdict == "unknown" for f in findings) else EXIT_OK
