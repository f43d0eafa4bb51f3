"""The distro family of the runtime stage: the image table, else the file's own evidence (the
package managers its RUN steps use, Windows paths and shells), and where the two disagree."""

from __future__ import annotations

import functools
import re

from fixuser.analysis.runs import command
from fixuser.dockerfile.stages import Runtime, run_text
from fixuser.knowledge import families
from fixuser.knowledge.images import (
    ImageInfo,
)


@functools.cache
def package_managers() -> tuple[tuple[re.Pattern[str], str, str], ...]:
    """Evidence in RUN steps: the package manager names the family. (pattern, family, tool)
    for each [[package_manager]] of families.toml, in its order: the first match wins."""
    return tuple(
        (re.compile(command(*m.commands) + m.then), m.family, m.tool)
        for m in families.package_managers()
    )


@functools.cache
def manager_needles() -> tuple[tuple[str, int], ...]:
    """A literal each package_managers() pattern's match contains, with the pattern's index:
    most RUNs name none of them."""
    return tuple(
        (needle, index)
        for index, manager in enumerate(families.package_managers())
        for needle in manager.needles
    )


WINDOWS_PATH_RE = re.compile(r"(?:^|[\s\"'\[=])[A-Za-z]:[\\/]")


WINDOWS_PATH_KEYWORDS = frozenset({"WORKDIR", "VOLUME", "COPY", "ADD", "ENTRYPOINT", "CMD"})


def detect_family(runtime: Runtime, image: ImageInfo) -> tuple[str, str]:
    if image.known and image.family != "unknown":
        return image.family, image.evidence
    if runtime.escape == "`":
        return "windows", "the # escape=` directive (used by Windows Dockerfiles)"
    for link in runtime.chain:
        for instruction in link.instructions:
            if instruction.keyword in WINDOWS_PATH_KEYWORDS and WINDOWS_PATH_RE.search(
                instruction.value
            ):
                return (
                    "windows",
                    f"line {instruction.lineno}: a Windows path in {instruction.written}",
                )
            if instruction.keyword == "SHELL" and re.search(
                r"powershell|pwsh|cmd(\.exe)?\b", instruction.value, re.IGNORECASE
            ):
                return "windows", f"line {instruction.lineno}: SHELL {instruction.value.strip()}"
            if instruction.keyword != "RUN":
                continue
            text = run_text(instruction)
            for pattern, family, tool in package_managers():
                if pattern.search(text):
                    return family, f"line {instruction.lineno}: RUN uses {tool}"
    return "unknown", image.evidence


def contradicting_evidence(runtime: Runtime, family: str) -> tuple[str, str] | None:
    """The family the chain's RUN steps prove when it is not ``family`` (the image table's):
    every package manager they use belongs to one other family. (family, evidence) or None.

    A RUN with apt-get cannot build on Alpine, nor apk on Debian: the file knows better than
    a table entry that matched the wrong tag. Files that try several (``apk add || apt-get
    install``) prove nothing."""
    if family in ("windows", "unknown"):
        return None  # Windows images run PowerShell, and pwsh on Linux looks just the same
    text = runtime.run_text
    if not text:
        return None
    # The table's own family's tool in the text: then no single other family can be proven,
    # and most files (apt-get on a Debian image) stop here, before the other searches.
    for needle, index in manager_needles():
        if package_managers()[index][1] == family and used(text, needle, index):
            return None
    found: dict[str, str] = {}
    for needle, index in manager_needles():
        _, other, tool = package_managers()[index]
        if other not in found and used(text, needle, index):
            found[other] = tool
    if len(found) != 1:
        return None
    ((other, tool),) = found.items()
    if other == family or other in families.family(family).kindred:
        return None
    for instruction in (i for link in runtime.chain for i in link.of("RUN")):
        for pattern, pattern_family, _ in package_managers():
            if pattern_family == other and pattern.search(run_text(instruction)):
                return other, f"line {instruction.lineno}: RUN uses {tool}"
    return None


def used(text: str, needle: str, index: int) -> bool:
    """package_managers()[index] matches ``text`` at or after the first ``needle`` (each of its
    matches holds one of its needles): the regex starts where str.find, far faster, says."""
    at = text.find(needle)
    return at >= 0 and package_managers()[index][0].search(text, at) is not None


def generic(family: str, evidence: str) -> ImageInfo:
    """What fixuser assumes of an image of ``family`` it knows nothing else about."""
    return ImageInfo(family, "root", (), (), True, "", "", evidence, False)
