"""Image knowledge: an image reference -> distro family, default user, users it ships.

The knowledge itself is data, in ``images.toml`` beside this module; this module only
normalises references and matches them against it (first matching entry wins).
"""

from __future__ import annotations

import fnmatch
import functools
import re
from typing import Any, NamedTuple

from fixuser.knowledge import families, tables

# Registries and mirrors that serve Docker Hub's official images under another prefix.
HUB_PREFIXES = (
    "docker.io/library/",
    "index.docker.io/library/",
    "registry-1.docker.io/library/",
    "registry.hub.docker.com/library/",
    "public.ecr.aws/docker/library/",
    "mirror.gcr.io/library/",
    "docker.io/",
    "index.docker.io/",
    "registry-1.docker.io/",
    "registry.hub.docker.com/",
    "mirror.gcr.io/",
    "library/",
)
# Docker Hub's per-architecture namespaces of the official images (amd64/almalinux).
ARCH_PREFIX_RE = re.compile(
    r"^(amd64|arm32v5|arm32v6|arm32v7|arm64v8|i386|mips64le|ppc64le|riscv64|s390x|winamd64)/"
)
DIGEST_RE = re.compile(r"@[A-Za-z0-9_+.-]+:[0-9a-fA-F]{32,}$")
VERSION_RE = re.compile(r"^v?(\d+)(?:\.(\d+))?")


class KnownUser(NamedTuple):
    name: str
    uid: int
    gid: int


class ImageInfo(NamedTuple):
    family: str  # debian alpine rhel rhel-minimal suse arch distroless scratch windows unknown
    user: str  # default user: "root", or e.g. "65532:65532", "node", "ContainerUser"
    users: tuple[KnownUser, ...]  # non-root users meant for applications: reuse them
    reserved: tuple[KnownUser, ...]  # users the image ships that fixuser must not collide with
    shell: bool
    entrypoint: str  # "" | "drops-privileges" | "root-by-design": what its own ENTRYPOINT does
    remedy: str  # for root-by-design images: what to use instead
    evidence: str  # where the knowledge came from, for the report
    known: bool  # False when no entry matched


class Reference(NamedTuple):
    name: str  # normalised: Docker Hub official images lose their prefix ("node", "bitnami/x")
    tag: str

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


def parse_reference(ref: str) -> Reference:
    ref = DIGEST_RE.sub("", ref.strip())
    name, tag = ref, "latest"
    slash = ref.rfind("/")
    colon = ref.rfind(":")
    if colon > slash:
        name, tag = ref[:colon], ref[colon + 1 :] or "latest"
    name = name.lower()
    for prefix in HUB_PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    name = ARCH_PREFIX_RE.sub("", name)
    return Reference(name, tag)


def parse_users(items: list[str]) -> tuple[KnownUser, ...]:
    users = []
    for item in items:
        name, uid, gid = item.split(":")
        users.append(KnownUser(name, int(uid), int(gid)))
    return tuple(users)


def version_at_least(tag: str, minimum: str) -> bool:
    have, want = VERSION_RE.match(tag), VERSION_RE.match(minimum)
    if not have or not want:
        return False
    return (int(have.group(1)), int(have.group(2) or 0)) >= (
        int(want.group(1)),
        int(want.group(2) or 0),
    )


class Entry(NamedTuple):
    names: tuple[str, ...]
    tags: tuple[str, ...]
    not_tags: tuple[str, ...]
    min_version: str
    data: dict[str, Any]

    def name_pattern(self, name: str) -> str | None:
        """The first of the entry's name globs that ``name`` matches."""
        for pattern in self.names:
            if name_matches(pattern, name):
                return pattern
        return None

    def tag_matches(self, tag: str) -> bool:
        if self.tags and not any(star_match(t, tag) for t in self.tags):
            return False
        if any(star_match(t, tag) for t in self.not_tags):
            return False
        return not self.min_version or version_at_least(tag, self.min_version)


def name_matches(pattern: str, name: str) -> bool:
    prefix, star, _ = pattern.partition("*")
    if not star:
        return name == pattern
    if not name.startswith(prefix):
        return False
    if "**" in pattern:
        return pattern == "**" or name_glob(pattern).fullmatch(name) is not None
    # Each ``*`` stays within its path component: match component by component.
    parts, components = pattern.split("/"), name.split("/")
    return len(parts) == len(components) and all(
        star_match(part, component) for part, component in zip(parts, components, strict=True)
    )


@functools.cache
def name_glob(pattern: str) -> re.Pattern[str]:
    """``*`` stays within one path component of a name; ``**`` crosses them."""
    parts = (re.escape(p).replace(r"\*", "[^/]*") for p in pattern.split("**"))
    return re.compile(".*".join(parts))


def star_match(pattern: str, text: str) -> bool:
    """``fnmatchcase`` for globs whose only wildcard is ``*`` (every tag glob in the table),
    without compiling a regex per glob."""
    if "?" in pattern or "[" in pattern:
        return fnmatch.fnmatchcase(text, pattern)
    stars = pattern.count("*")
    if not stars:
        return text == pattern
    if stars == 2 and len(pattern) > 2 and pattern[0] == pattern[-1] == "*":
        return pattern[1:-1] in text  # "*bookworm*", the table's most common form
    first, *middle, last = pattern.split("*")
    if len(text) < len(first) + len(last) or not text.startswith(first):
        return False
    if not text.endswith(last):
        return False
    position, end = len(first), len(text) - len(last)
    for piece in middle:
        found = text.find(piece, position, end)
        if found < 0:
            return False
        position = found + len(piece)
    return True


def as_tuple(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    return (value,) if isinstance(value, str) else tuple(value)


@functools.cache
def table() -> tuple[Entry, ...]:
    raw_entries = tables.load("images")["image"]
    entries = []
    for raw in raw_entries:
        entries.append(
            Entry(
                names=as_tuple(raw["name"]),
                tags=as_tuple(raw.get("tag")),
                not_tags=as_tuple(raw.get("not_tag")),
                min_version=raw.get("min_version", ""),
                data=raw,
            )
        )
    return tuple(entries)


@functools.cache
def name_index() -> tuple[dict[str, list[int]], dict[str, list[tuple[str, int]]]]:
    """The table's name globs: literal names -> the entries naming them; and the globs with a
    ``*``, by their first path component ("" when it has a ``*`` itself): a lookup tries only
    the globs of its own registry or namespace, and the few that start with a wildcard."""
    exact: dict[str, list[int]] = {}
    wild: dict[str, list[tuple[str, int]]] = {}
    for index, entry in enumerate(table()):
        for pattern in entry.names:
            if "*" in pattern:
                first = pattern.partition("/")[0]
                wild.setdefault("" if "*" in first else first, []).append((pattern, index))
            else:
                exact.setdefault(pattern, []).append(index)
    return exact, wild


def describe(entry: Entry, pattern: str) -> str:
    if entry.tags:
        pattern += ":" + "|".join(entry.tags)
    return f"image table entry {pattern}"


UNKNOWN = ImageInfo(
    family="unknown",
    user="root",
    users=(),
    reserved=(),
    shell=True,
    entrypoint="",
    remedy="",
    evidence="not in the image table",
    known=False,
)


@functools.cache
def entries_named(name: str) -> tuple[tuple[Entry, str], ...]:
    """The entries whose name globs match ``name``, in table order, each with the first of
    its globs that does (a fleet names a few images in many tags: ~140 names for ~370
    references over the corpus)."""
    exact, wild = name_index()
    candidates = sorted(
        [(index, "") for index in exact.get(name, ())]
        + [(index, pattern) for pattern, index in wild.get(name.partition("/")[0], ())]
        + [(index, pattern) for pattern, index in wild.get("", ())]
    )
    matching = (
        index for index, pattern in candidates if not pattern or name_matches(pattern, name)
    )
    entries = table()
    return tuple(
        (entries[index], entries[index].name_pattern(name) or name)
        for index in dict.fromkeys(matching)
    )


@functools.cache
def lookup(ref: str) -> ImageInfo:
    if ref == "scratch":
        return ImageInfo("scratch", "root", (), (), False, "", "", "FROM scratch", True)
    reference = parse_reference(ref)
    # First match wins: the entries naming the image, in table order, until a tag matches.
    for entry, pattern in entries_named(reference.name):
        if entry.tag_matches(reference.tag):
            data = entry.data
            return ImageInfo(
                family=data["family"],
                user=data.get("user", "root"),
                users=parse_users(data.get("users", [])),
                reserved=parse_users(data.get("reserved", [])),
                shell=data.get("shell", families.family(data["family"]).shell),
                entrypoint=data.get("entrypoint", ""),
                remedy=data.get("remedy", ""),
                evidence=f"{describe(entry, pattern)} ({reference})",
                known=True,
            )
    return UNKNOWN


class BaseEntrypoint(NamedTuple):
    """An image's own ENTRYPOINT (empty: none) and CMD (None: not known)."""

    words: tuple[str, ...]
    cmd: tuple[str, ...] | None


@functools.cache
def base_entrypoints() -> tuple[tuple[Entry, BaseEntrypoint], ...]:
    """The [[base_entrypoint]] entries of images.toml. Only fix --strategy entrypoint reads
    them, for a stage that sets no ENTRYPOINT."""
    entries = []
    for raw in tables.load("images").get("base_entrypoint", []):
        entry = Entry(
            names=as_tuple(raw["name"]),
            tags=as_tuple(raw.get("tag")),
            not_tags=as_tuple(raw.get("not_tag")),
            min_version=raw.get("min_version", ""),
            data=raw,
        )
        cmd = tuple(raw["cmd"]) if "cmd" in raw else None
        entries.append((entry, BaseEntrypoint(tuple(raw["words"]), cmd)))
    return tuple(entries)


def base_entrypoint(ref: str) -> BaseEntrypoint | None:
    """What the image runs of its own; None when fixuser does not know it."""
    reference = parse_reference(ref)
    for entry, known in base_entrypoints():
        if entry.name_pattern(reference.name) and entry.tag_matches(reference.tag):
            return known
    return None
