"""The CIS Docker Benchmark 4.1 audit of running containers (``fixuser audit``).

For each running container, the effective UID of PID 1 as the kernel reports it: ``cat
/proc/1/status`` run inside the container, or, for a container without ``cat``, the host's
``/proc/<State.Pid>/status``. Never the image config: ``--user`` at run time and entrypoints that
drop privileges (gosu, su-exec, setpriv) both make it lie. Talks the Docker Engine API through
the ``docker`` SDK, which podman's service speaks too. It only reads: no container is changed.

``--users`` also lists, per container, the accounts of its /etc/passwd it does not need (a
login shell, a password, UID 0 besides root: ``analysis.accounts``), read with ``cat`` inside
it, else through the API's archive endpoint (which works without a shell and whoever the
container runs as: /etc/shadow is root's to read).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from fixuser.analysis.accounts import Account, review
from fixuser.containers.parse import dockerfile_label, parse_status_uid

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
    # --users: the accounts it does not need, the needed ones that keep a login shell (root,
    # its own user), and how /etc/passwd and /etc/shadow were read. None without --users.
    users: tuple[Account, ...] | None = None
    kept_users: tuple[Account, ...] | None = None
    users_source: str | None = None

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        if self.users is None:
            for key in ("users", "kept_users", "users_source"):
                del data[key]
        return data

    @property
    def root_equivalent(self) -> bool:
        """An account of UID 0 under another name than root (``--users`` only)."""
        return any(a.uid == 0 and a.name != "root" for a in self.users or ())


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


def read_file(container: Any, path: str) -> tuple[str | None, str]:
    """A file of a running container, and how it was read: ``cat`` in it, else the archive
    endpoint (no shell needed, nor the container's user's permission)."""
    try:
        code, output = container.exec_run(["cat", path], stdout=True, stderr=False)
        if code == 0:
            return output.decode(errors="replace"), f"exec cat {path}"
    except Exception:  # no cat in the image, or exec refused
        pass
    from docker.errors import NotFound

    try:
        stream, _ = container.get_archive(path)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            for member in tar:
                extracted = tar.extractfile(member) if member.isfile() else None
                if extracted is not None:
                    return extracted.read().decode(errors="replace"), f"archive {path}"
    except NotFound:  # an image without it (distroless has no /etc/shadow): nothing to judge
        return "", f"no {path}"
    except Exception:  # the engine refused, or the SDK failed: it raises many kinds
        pass
    return None, f"{path} unreadable"


def users_of(
    container: Any, uid: int | None, config_user: str
) -> tuple[tuple[Account, ...], tuple[Account, ...], str]:
    """The accounts the container does not need, the needed ones with a login shell, and
    how they were read. Its own user is PID 1's UID, else the config's User."""
    passwd, passwd_source = read_file(container, "/etc/passwd")
    if passwd is None:
        return (), (), passwd_source
    shadow, shadow_source = read_file(container, "/etc/shadow")
    own_name = None if uid is not None else config_user.partition(":")[0] or "root"
    if own_name is not None and own_name.isdigit():  # PID 1 unread: the config's number
        uid, own_name = int(own_name), None
    found = review(passwd, shadow, own_uid=uid, own_name=own_name)
    if shadow is None:
        shadow_source += ": the passwords it holds are not judged"
    return found.flagged, found.kept, f"{passwd_source}; {shadow_source}"


def audit_container(container: Any, users: bool = False) -> Finding:
    status, source = pid1_status(container)
    uid = parse_status_uid(status) if status else None
    verdict = "unknown" if uid is None else "root" if uid == 0 else "non-root"
    config_user = str((container.attrs.get("Config") or {}).get("User") or "")
    accounts = users_of(container, uid, config_user) if users else (None, None, None)
    return Finding(
        id=str(container.id)[:12],
        name=str(container.name),
        image=image_name(container),
        uid=uid,
        verdict=verdict,
        source=source,
        config_user=config_user,
        dockerfile=dockerfile_label(labels_of(container)),
        users=accounts[0],
        kept_users=accounts[1],
        users_source=accounts[2],
    )


def audit(client: Any, labels: Iterable[str] = (), users: bool = False) -> list[Finding]:
    """One finding per running container (with all ``labels``), in the engine's order;
    ``users``: with the accounts each does not need."""
    wanted = list(labels)
    filters = {"label": wanted} if wanted else None
    return [audit_container(c, users) for c in client.containers.list(filters=filters)]
