"""What the engine prints and an image holds, parsed: pure functions of text, no engine run.

/proc/<pid>/status, /etc/passwd and /etc/group, the probe a container runs as its PID 1 and what
it prints, ``docker diff``, exit statuses as ``wait`` prints them, and an image's config.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping


@dataclasses.dataclass(frozen=True)
class ImageConfig:
    user: str  # "" when the image does not set one (root)
    workdir: str
    volumes: tuple[str, ...]
    entrypoint: tuple[str, ...]
    cmd: tuple[str, ...]
    labels: Mapping[str, str]
    size: int
    env: tuple[str, ...] = ()  # KEY=VALUE

    @property
    def home(self) -> str:
        """HOME as the image sets it, or ""."""
        for pair in reversed(self.env):
            if pair.startswith("HOME="):
                return pair[5:]
        return ""


def parse_status_uid(status: str) -> int | None:
    """The effective UID (second field of ``Uid:``) from a /proc/<pid>/status text."""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            fields = line.split()
            if len(fields) >= 3 and fields[2].isdigit():
                return int(fields[2])
    return None


def parse_passwd(text: str) -> dict[int, str]:
    """uid -> name from an /etc/passwd text (first entry of a uid wins, like getpwuid)."""
    users: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            users.setdefault(int(fields[2]), fields[0])
    return users


def parse_group(text: str) -> dict[str, int]:
    """name -> gid from an /etc/group text."""
    groups: dict[str, int] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[2].isdigit():
            groups.setdefault(fields[0], int(fields[2]))
    return groups


def resolve_user(spec: str, passwd: str, group: str) -> tuple[int | None, int | None, str | None]:
    """(uid, gid, name) of a USER value (``name``, ``uid``, ``name:group``...) in an image."""
    user, _, grp = (spec or "root").partition(":")
    users = parse_passwd(passwd)
    by_name = {name: uid for uid, name in users.items()}
    uid = int(user) if user.isdigit() else by_name.get(user)
    gid: int | None = None
    if grp:
        gid = int(grp) if grp.isdigit() else parse_group(group).get(grp)
    name = users.get(uid) if uid is not None else None
    return uid, gid, name


# The probe a shell-based image runs as its PID 1: POSIX sh builtins only (and rm), so it works on
# Debian, BusyBox and anything else with /bin/sh.
PROBE = r"""
uid=
while read -r key real eff rest; do
  if [ "$key" = "Uid:" ]; then uid=$eff; echo "uid $eff"; fi
done < /proc/1/status
while IFS=: read -r name pw u rest; do
  if [ "$u" = "$uid" ]; then echo "name $name"; break; fi
done < /etc/passwd
for dir in "$@"; do
  if [ -f "$dir" ]; then
    if [ -w "$dir" ]; then echo "writable $dir"; else echo "readonly $dir"; fi; continue
  fi
  if [ ! -d "$dir" ]; then echo "missing $dir"; continue; fi
  probe="$dir/.fixuser-probe.$$"
  if ( : > "$probe" ) 2>/dev/null; then rm -f "$probe"; echo "writable $dir"
  else echo "readonly $dir"; fi
done
"""


def parse_probe(output: str) -> tuple[int | None, str | None, dict[str, bool]]:
    uid: int | None = None
    name: str | None = None
    writable: dict[str, bool] = {}
    for line in output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "uid" and rest.isdigit():
            uid = int(rest)
        elif word == "name":
            name = rest
        elif word in ("writable", "readonly", "missing"):
            writable[rest] = word == "writable"
    return uid, name, writable


def writable_by(mode: int, owner: int, group: int, uid: int, gids: set[int]) -> bool:
    """Whether ``uid`` (in groups ``gids``) may create files in a directory (mode, owner)."""
    if uid == 0:
        return True
    if owner == uid:
        return bool(mode & 0o200 and mode & 0o100)
    if group in gids:
        return bool(mode & 0o020 and mode & 0o010)
    return bool(mode & 0o002 and mode & 0o001)


def exit_code(text: str) -> int | None:
    """An exit status as ``wait`` or ``inspect`` prints it, or None."""
    text = text.strip()
    return int(text) if text.lstrip("-").isdigit() else None


def parse_diff(text: str) -> tuple[tuple[str, str], ...]:
    """``docker diff`` / ``podman diff`` output: one ``A|C|D /path`` a line."""
    changes = []
    for line in text.splitlines():
        kind, _, path = line.strip().partition(" ")
        if kind in ("A", "C", "D") and path.startswith("/"):
            changes.append((kind, path))
    return tuple(changes)


def config_from(config: Mapping[str, object], size: int, *, lower: bool) -> ImageConfig:
    """ImageConfig from Docker-style (``User``) or OCI-style (``user``) config keys."""

    def get(key: str) -> object:
        return config.get(key.lower() if lower else key) or config.get(key)

    def strings(value: object) -> tuple[str, ...]:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple):
            return tuple(str(v) for v in value)
        if isinstance(value, dict):
            return tuple(str(k) for k in value)
        return ()

    labels = get("Labels")
    return ImageConfig(
        user=str(get("User") or ""),
        workdir=str(get("WorkingDir") or ""),
        volumes=strings(get("Volumes")),
        entrypoint=strings(get("Entrypoint")),
        cmd=strings(get("Cmd")),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        size=size,
        env=strings(get("Env")),
    )


def primary_gids(passwd: str, uid: int) -> set[int]:
    for line in passwd.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2] == str(uid) and fields[3].isdigit():
            return {int(fields[3])}
    return set()


def dockerfile_label(labels: Mapping[str, str]) -> str | None:
    """Where an image says its Dockerfile came from, when its labels say so."""
    for key in (
        "fixuser.dockerfile",
        "org.opencontainers.image.source",
        "com.docker.compose.project.config_files",
        "org.label-schema.vcs-url",
    ):
        if labels.get(key):
            return labels[key]
    return None
