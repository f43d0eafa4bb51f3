"""``docker run`` lines that bind-mount the checkout: a tool run on the caller's files.

``docker run --rm -v "$(pwd)":/build gen`` (and podman's, nerdctl's, ``--volume .:/x``,
``--mount type=bind,source=$PWD,...``) in scripts, Makefiles, justfiles and CI steps: the image
runs to completion and writes into the caller's directory, so a USER in the image would make
those files belong to a user the caller is not (fixuser.project.roles: role ``tool``). Pure:
words in, the image and the mount out.
"""

from __future__ import annotations

import posixpath
import re
from typing import NamedTuple

from fixuser.project.paths import ROOT

RUN_ENGINES = frozenset({"docker", "podman", "nerdctl"})
RUN_SUBCOMMANDS = (("run",), ("container", "run"))
GLOBAL_VALUE_FLAGS = frozenset(
    {"-H", "--host", "--context", "-c", "--config", "--log-level", "-l", "--url",
     "--connection", "--root", "--runroot", "--storage-driver", "--namespace", "-n"}
)  # fmt: skip
# Run flags that take a value as the next word (unless written --flag=value); any other
# long flag is taken for a switch.
VALUE_FLAGS = frozenset(
    {"-v", "--volume", "--mount", "-w", "--workdir", "-e", "--env", "--env-file", "-u",
     "--user", "--name", "--entrypoint", "--network", "--net", "-p", "--publish", "--platform",
     "-l", "--label", "-h", "--hostname", "--add-host", "--cap-add", "--cap-drop", "--device",
     "--ipc", "--pid", "--tmpfs", "--shm-size", "--security-opt", "--ulimit", "-m", "--memory",
     "--cpus", "--restart", "--log-driver", "--log-opt", "--runtime", "--group-add", "--dns",
     "--userns", "--volumes-from", "--pull", "--stop-signal", "--cidfile", "--health-cmd",
     "--label-file", "--gpus", "--init-path", "--uts", "--cgroupns", "--annotation"}
)  # fmt: skip
# How a script names the checkout it runs in (and its parent: ".." holds it too).
CHECKOUT_RE = re.compile(
    r"""(?:\$\(pwd\)|\$\{PWD\}|\$PWD|`pwd`|\$\(CURDIR\)|\$\{CURDIR\}|\$\(shell\ pwd\)
    |\$\(git\ rev-parse\ --show-toplevel\)|\$\{?GITHUB_WORKSPACE\}?|\$\{?CI_PROJECT_DIR\}?
    |\.\.?|"""
    + ROOT
    + r""")(?:/[^:,]*)?\Z""",
    re.VERBOSE,
)


class RunOf(NamedTuple):
    engine: str
    image: str  # without tag or digest
    mount: str  # the checkout mount as written


def image_name(reference: str) -> str:
    """``registry:5000/team/gen:1.2@sha256:...`` is ``registry:5000/team/gen``."""
    name = reference.split("@", 1)[0]
    head, slash, last = name.rpartition("/")
    return head + slash + last.split(":", 1)[0]


def checkout_source(mount: str, flag: str) -> bool:
    """Whether a ``-v``/``--mount`` value mounts the checkout (or a directory holding it)."""
    if flag == "--mount":
        fields = dict(part.partition("=")[::2] for part in mount.split(","))
        if fields.get("type", "volume") != "bind":
            return False
        source = fields.get("source") or fields.get("src") or ""
    else:
        source = mount.split(":", 1)[0] if ":" in mount else ""
    source = source.strip("\"'")
    return bool(source) and bool(CHECKOUT_RE.match(posixpath.normpath(source) or source))


def run_arguments(words: list[str]) -> RunOf | None:
    """The image a ``docker run`` runs when it mounts the checkout; None for any other
    command, an image fixuser cannot name, or a run without such a mount."""
    program = posixpath.basename(words[0]) if words else ""
    if program not in RUN_ENGINES:
        return None
    index = 1
    while index < len(words) and words[index].startswith("-"):
        index += 2 if words[index] in GLOBAL_VALUE_FLAGS else 1
    for subcommand in RUN_SUBCOMMANDS:
        if tuple(words[index : index + len(subcommand)]) == subcommand:
            index += len(subcommand)
            break
    else:
        return None
    mount = ""
    while index < len(words):
        word = words[index]
        index += 1
        if not word.startswith("-") or word == "-":
            image = image_name(word)
            if mount and image and "$" not in image and "{" not in image:
                return RunOf(program, image, mount)
            return None
        name, equals, value = word.partition("=")
        if word.startswith("-") and not word.startswith("--") and len(word) > 2:
            name, value, equals = word[:2], word[2:], "=" if word[2:] else ""
        if name not in VALUE_FLAGS:
            continue
        if not equals:
            value = words[index] if index < len(words) else ""
            index += 1
        if name in ("-v", "--volume", "--mount") and checkout_source(value, name):
            mount = mount or value
    return None
