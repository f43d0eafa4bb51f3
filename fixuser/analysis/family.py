"""The distro family of the runtime stage: the image table, else the file's own evidence (the
package managers its RUN steps use, Windows paths and shells), and where the two disagree."""

from __future__ import annotations

import re

from fixuser.analysis.runs import command
from fixuser.dockerfile.stages import Runtime, run_text
from fixuser.knowledge.images import (
    ImageInfo,
)

# Evidence in RUN steps: the package manager names the family.
PACKAGE_MANAGERS = (
    (re.compile(command("apk") + r"\s+(add|update|upgrade|--)"), "alpine", "apk"),
    (re.compile(command("apt-get", "apt", "dpkg") + r"\s"), "debian", "apt-get"),
    (re.compile(command("microdnf") + r"\s"), "rhel-minimal", "microdnf"),
    (re.compile(command("tdnf") + r"\s"), "rhel-minimal", "tdnf"),
    (re.compile(command("dnf", "yum", "rpm") + r"\s"), "rhel", "dnf/yum"),
    (re.compile(command("zypper") + r"\s"), "suse", "zypper"),
    (re.compile(command("pacman") + r"\s"), "arch", "pacman"),
)


# A literal each PACKAGE_MANAGERS pattern's match contains: most RUNs name none of them.
MANAGER_NEEDLES = (
    ("apk", 0),
    ("apt", 1),
    ("dpkg", 1),
    ("microdnf", 2),
    ("tdnf", 3),
    ("dnf", 4),
    ("yum", 4),
    ("rpm", 4),
    ("zypper", 5),
    ("pacman", 6),
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
            for pattern, family, tool in PACKAGE_MANAGERS:
                if pattern.search(text):
                    return family, f"line {instruction.lineno}: RUN uses {tool}"
    return "unknown", image.evidence


# Families whose package tools overlap: an ubi-minimal file may run rpm, a RHEL one microdnf.
KINDRED = ({"rhel", "rhel-minimal"},)


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
    for needle, index in MANAGER_NEEDLES:
        if PACKAGE_MANAGERS[index][1] == family and used(text, needle, index):
            return None
    found: dict[str, str] = {}
    for needle, index in MANAGER_NEEDLES:
        _, other, tool = PACKAGE_MANAGERS[index]
        if other not in found and used(text, needle, index):
            found[other] = tool
    if len(found) != 1:
        return None
    ((other, tool),) = found.items()
    if other == family or any({other, family} <= kin for kin in KINDRED):
        return None
    for instruction in (i for link in runtime.chain for i in link.of("RUN")):
        for pattern, pattern_family, _ in PACKAGE_MANAGERS:
            if pattern_family == other and pattern.search(run_text(instruction)):
                return other, f"line {instruction.lineno}: RUN uses {tool}"
    return None


def used(text: str, needle: str, index: int) -> bool:
    """PACKAGE_MANAGERS[index] matches ``text`` at or after the first ``needle`` (each of its
    matches holds one of its needles): the regex starts where str.find, far faster, says."""
    at = text.find(needle)
    return at >= 0 and PACKAGE_MANAGERS[index][0].search(text, at) is not None


def generic(family: str, evidence: str) -> ImageInfo:
    """What fixuser assumes of an image of ``family`` it knows nothing else about."""
    return ImageInfo(family, "root", (), (), True, "", "", evidence, False)
