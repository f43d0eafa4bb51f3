"""Default users of base images the image table does not know, read from an engine's local
image store (``check``/``fix --inspect-images``), never pulled.

One ``images`` listing names every local image with its ID; an image's config ``User`` is then
read once per ID and kept in the user's cache (fixuser.usercache, ``image-users/<id>``): an ID
names one immutable image, so what it says never goes stale. The core gets the answers as data
(Settings.image_users) and stays pure.

Opt-in, not automatic: asking an engine costs 50-300 ms (``podman images`` ~50 ms, ``podman
info`` ~300 ms on the development machine), against a few ms that a plain check of a small
repository takes, and an engine that is installed but not running may hang until a timeout.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Mapping, Sequence

from fixuser import usercache
from fixuser.containers.engine import Engine, EngineError
from fixuser.knowledge.images import parse_reference

CACHE = "image-users"
TIMEOUT = 20
# docker and podman list and inspect alike; buildah shares podman's store.
ENGINES = ("docker", "podman")


def run(argv: Sequence[str]) -> str | None:
    """The command's stdout, or None when it cannot run or fails (Engine.command runs it)."""
    executable, *args = argv
    engine = Engine(os.path.basename(executable), executable)
    try:
        done = engine.command(args, timeout=TIMEOUT, check=False)
    except EngineError:  # it cannot run, or timed out
        return None
    return done.stdout if done.returncode == 0 else None


def key(reference: str) -> str:
    """A reference as the image table normalises it (``docker.io/library/node:20`` and
    ``node:20`` are one image); podman's ``localhost/`` of local builds dropped."""
    parsed = parse_reference(reference)
    name = parsed.name.removeprefix("localhost/")
    return f"{name}:{parsed.tag}"


def local_images(executable: str) -> dict[str, str] | None:
    """Every tagged image in the store: normalised reference -> full image ID; None when the
    engine does not answer."""
    out = run([executable, "images", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])
    if out is None:
        return None
    images: dict[str, str] = {}
    for line in out.splitlines():
        reference, _, image_id = line.strip().rpartition(" ")
        if reference and "<none>" not in reference and image_id:
            images.setdefault(key(reference), image_id.removeprefix("sha256:"))
    return images


def config_user(executable: str, image_id: str) -> str | None:
    """The image config's ``User`` ("" is root), from the cache or the engine."""
    cached = usercache.read(CACHE, image_id)
    if cached is not None:
        return cached.decode("utf-8", "replace")
    out = run([executable, "image", "inspect", "--format", "{{.Config.User}}", image_id])
    if out is None:
        return None
    user = out.strip()
    usercache.write(CACHE, image_id, user.encode())
    return user


def image_users(
    references: Iterable[str], engines: Sequence[str] = ENGINES
) -> tuple[tuple[str, str], ...]:
    """(reference, config User) for each of ``references`` found in the first engine on PATH
    that answers; references with a digest or a variable are not looked up (a tag in the
    store may name another image than the digest)."""
    wanted = sorted({r for r in references if r and "@" not in r and "$" not in r})
    if not wanted:
        return ()
    for name in engines:
        executable = shutil.which(name)
        if executable is None:
            continue
        images = local_images(executable)
        if images is None:
            continue
        return tuple(found(executable, images, wanted))
    return ()


def found(
    executable: str, images: Mapping[str, str], wanted: Iterable[str]
) -> list[tuple[str, str]]:
    pairs = []
    for reference in wanted:
        image_id = images.get(key(reference))
        user = None if image_id is None else config_user(executable, image_id)
        if user is not None:
            pairs.append((reference, user))
    return pairs
