"""The values the core (core.py) hands to every command (check, fix, session, batch, verify)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import NamedTuple

from fixuser.edits import Edit
from fixuser.errors import FixuserError

# Reads a file of the build context by its path relative to the context directory; None when
# the file is not there. Front-ends pass one that reads the working tree, a git tree or nothing.
ContextReader = Callable[[str], bytes | None]


class Verdict(enum.StrEnum):
    COMPLIANT = "compliant"
    ROOT = "root"
    DROPS_PRIVILEGES = "drops-privileges"
    ROOT_BY_DESIGN = "root-by-design"
    NEEDS_ROOT = "needs-root"
    INVALID_USER = "invalid-user"
    IGNORED = "ignored"
    UNKNOWN = "unknown"

    @property
    def is_finding(self) -> bool:
        """Counts against CIS 4.1 (``check`` exits 1). root-by-design and needs-root still run
        PID 1 as root; an invalid USER does not start at all."""
        return self in (
            Verdict.ROOT,
            Verdict.ROOT_BY_DESIGN,
            Verdict.NEEDS_ROOT,
            Verdict.INVALID_USER,
        )


class DockerfileError(FixuserError, ValueError):
    """Input fixuser cannot read as a Dockerfile; the message is one line, without the path."""


class FixRefused(DockerfileError):
    """A fix the settings ask for that this file cannot take (``--strategy entrypoint`` on a
    base without a shell); the message is one line, without the path."""


class Target(NamedTuple):
    """A stage the repository ships: what builds it, and where that is said."""

    stage: str | None  # the stage's name (or index); None: the last stage, built by default
    source: str  # "compose.yaml:5", ".github/workflows/ci.yml:20", "default"


class Shipped(NamedTuple):
    """The verdict on one stage the repository ships."""

    stage: str  # its name, or its index
    source: str  # what builds it (Target.source)
    verdict: Verdict
    user: str


# From the most to the least urgent: a file's verdict is its worst shipped stage's.
SEVERITY = (
    "invalid-user",
    "root",
    "needs-root",
    "root-by-design",
    "unknown",
    "drops-privileges",
    "ignored",
    "compliant",
)


class WarningRule(enum.StrEnum):
    """The rule a warning is reported under: SARIF's ruleId, GitLab's check_name, the title of
    a GitHub annotation (fixuser.report.sarif describes each). Their order is SARIF's."""

    LOW_PORT = "FIXUSER-LOW-PORT"
    SUDO = "FIXUSER-SUDO"
    BUILDER_ROOT = "FIXUSER-BUILDER-ROOT"
    UID_TAKEN = "FIXUSER-UID-TAKEN"
    FORCED = "FIXUSER-FORCED"
    OTHER = "FIXUSER-WARNING"


class WarningText(str):
    """A warning: its text, which every report shows as it is (it is a ``str``), and the rule
    it is reported under, given where the warning is raised. Nothing reads a rule back from the
    wording, so rewording a warning keeps its rule.

    A ``str`` rather than a (rule, text) pair: the text reports, templates, JSON and the batch
    record read warnings as text, and keep doing so unchanged."""

    __slots__ = ("rule",)
    rule: WarningRule

    def __new__(cls, rule: WarningRule, text: str) -> WarningText:
        self = super().__new__(cls, text)
        self.rule = WarningRule(rule)
        return self

    def __reduce__(self) -> tuple[type[WarningText], tuple[WarningRule, str]]:
        # Workers pickle their results (fixuser.tree.workers); a str subclass would otherwise
        # be rebuilt from its text alone.
        return WarningText, (self.rule, str(self))


ROLES = ("service", "tool", "build-base", "test", "dev", "artifact")
# Roles fixuser fixes (and check fails on) unless --roles says otherwise.
DEFAULT_ROLES = ("service", "dev")
# Roles never given a USER: a tool writes into its caller's files; a base or an artifact is
# never run.
NEVER_FIXED = frozenset({"tool", "build-base", "artifact"})


class Role(NamedTuple):
    """What a Dockerfile's image is for (fixuser.project.roles), and why fixuser thinks so."""

    name: str = "service"  # one of ROLES
    evidence: str = ""  # "scripts/gen.sh:4": where the repository says it; "" by default
    why: str = "nothing says otherwise"
    # dev: the non-root user devcontainer.json runs it as (remoteUser/containerUser), or "".
    # tool: the run's mount as written.
    detail: str = ""


# A service nothing in the repository names: today's behaviour.
SERVICE = Role()


class Analysis(NamedTuple):
    verdict: Verdict
    stage: str  # the runtime stage: its name, or its index as a string ("0", "1", ...)
    stage_line: int  # 1-based line of the stage's FROM
    base_image: str  # resolved base image reference ("scratch", a stage chain ends in an image)
    family: str  # debian, alpine, rhel, rhel-minimal, suse, arch, distroless, scratch, windows,
    # unknown
    evidence: str  # why fixuser believes the family (image table, RUN uses apt-get, ...)
    user: str  # the effective user of the runtime stage ("root (image default)", "10001:10001")
    reason: str = ""  # why the verdict (e.g. "ENTRYPOINT script docker-entrypoint.sh uses gosu")
    warnings: tuple[WarningText, ...] = ()
    # Every stage the repository ships, when something names one (compose, CI, bake...): the
    # fields above are the worst of them.
    targets: tuple[Shipped, ...] = ()
    # True when the user is root only because the base image is neither in the image table nor
    # in a local image store fixuser was allowed to read: an assumption, not a fact.
    assumed: bool = False
    role: Role = SERVICE


class Change(NamedTuple):
    """What a fix did, for commit messages, PR bodies and reports."""

    user: str  # the USER value written, e.g. "10001:10001" or "node"
    created_user: str | None  # "app (10001:10001)" when a user block was inserted, else None
    chowned: tuple[str, ...]  # paths made writable, COPY/ADD destinations given --chown
    notes: tuple[str, ...]  # human lines describing each edit
    uid: int | None = None  # the UID the USER runs as; None when only its name is known
    strategy: str = "user"  # "entrypoint": no USER; a wrapper drops to ``user`` at start
    wrapper: str = ""  # the wrapper script (relative to the Dockerfile's directory)
    handed: tuple[str, ...] = ()  # the paths the wrapper hands to the user at start


class ExtraFile(NamedTuple):
    """A file a fix adds to the build context beside the Dockerfile (the entrypoint wrapper)."""

    path: str  # relative to the Dockerfile's directory, posix
    data: bytes
    mode: int = 0o755


class FixResult(NamedTuple):
    output: bytes
    analysis: Analysis  # of the input
    change: Change | None  # None when nothing was changed
    edits: tuple[Edit, ...] = ()  # what turned the input's lines into the output
    lines: tuple[str, ...] = ()  # the input's lines (decoded), which the edits index
    # Files the fix adds beside the Dockerfile; written, diffed and committed with it.
    extra_files: tuple[ExtraFile, ...] = ()

    @property
    def changed(self) -> bool:
        return self.change is not None
