"""devcontainer.json: the Dockerfile (or compose service) a development container is built
from, and the user its tools run as (``remoteUser``) and the container runs as
(``containerUser``). The file is JSON with comments and trailing commas (JSONC).
"""

from __future__ import annotations

import json
import posixpath
import re

from fixuser.project.model import Devcontainer, Found
from fixuser.project.paths import join

TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


def strip_comments(text: str) -> str:
    """``text`` without ``//`` and ``/* */`` comments outside strings; newlines kept, so
    line numbers stay."""
    out: list[str] = []
    index, length, in_string = 0, len(text), False
    while index < length:
        char = text[index]
        if in_string:
            out.append(char)
            if char == "\\" and index + 1 < length:
                out.append(text[index + 1])
                index += 1
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
            out.append(char)
        elif text.startswith("//", index):
            end = text.find("\n", index)
            index = length if end < 0 else end
            continue
        elif text.startswith("/*", index):
            end = text.find("*/", index + 2)
            comment = text[index : length if end < 0 else end + 2]
            out.append("\n" * comment.count("\n"))
            index = length if end < 0 else end + 2
            continue
        else:
            out.append(char)
        index += 1
    return TRAILING_COMMA_RE.sub(r"\1", "".join(out))


def key_line(text: str, key: str) -> int:
    """The line of ``"key":`` in the file (1-based), 0 when it is not there."""
    match = re.search(rf'"{key}"\s*:', text)
    return text.count("\n", 0, match.start()) + 1 if match else 0


def read_devcontainer(path: str, text: str, found: Found) -> None:
    try:
        document = json.loads(strip_comments(text))
    except ValueError as e:
        found.note(path, 0, f"not JSON with comments ({e.args[0].split(':')[0]}), skipped")
        return
    if not isinstance(document, dict):
        return
    base = posixpath.dirname(path)
    build = document.get("build")
    name = build.get("dockerfile") if isinstance(build, dict) else None
    name = name or document.get("dockerFile")
    dockerfile = join(base, name) if isinstance(name, str) else None
    service = document.get("service") if "dockerComposeFile" in document else None

    def text_of(key: str) -> str | None:
        value = document.get(key)
        return value if isinstance(value, str) and value else None

    remote, container = text_of("remoteUser"), text_of("containerUser")
    line = key_line(text, "containerUser" if container else "remoteUser") or 1
    update = document.get("updateRemoteUserUID", True) is not False
    found.devcontainers.append(
        Devcontainer(
            path,
            dockerfile,
            service if isinstance(service, str) else None,
            remote,
            container,
            line,
            update,
        )
    )
