"""Findings of a run and the exit code they add up to, and what every output format says of
them the same way. Each format has a module of its own beside this one (text, json, sarif, ci),
and fixuser.report.formats names them."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, NamedTuple

from fixuser.errors import EXIT_ERROR, EXIT_FINDING, EXIT_OK
from fixuser.model import DEFAULT_ROLES, Analysis, Role, Verdict

if TYPE_CHECKING:
    from fixuser.project.model import Override

RULE_ID = "CIS-DOCKER-4.1"


class Outcome(NamedTuple):
    path: str
    analysis: Analysis | None = None
    error: str = ""
    changed: bool = False
    user: str = ""  # the USER written by fix


class Report:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        # What the repository sets at run time that undoes any USER, and the context files
        # it could not read.
        self.overrides: list[Override] = []
        self.notes: list[tuple[str, str]] = []  # (path, problem)
        # The roles whose findings fail the run (--roles): the others are notes.
        self.roles: tuple[str, ...] = DEFAULT_ROLES

    def add(self, outcome: Outcome) -> None:
        self.outcomes.append(outcome)

    @property
    def errors(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.error]

    def check_exit(self) -> int:
        if self.errors:
            return EXIT_ERROR
        if any(not o.accepted for o in self.overrides):
            return EXIT_FINDING
        if any(o.analysis and counts(o.analysis, self.roles) for o in self.outcomes):
            return EXIT_FINDING
        return EXIT_OK

    def fix_exit(self) -> int:
        if self.errors:
            return EXIT_ERROR
        # A USER that names no user cannot be fixed by guessing: it fails like a change would.
        if any(
            o.changed
            or (
                o.analysis
                and o.analysis.verdict is Verdict.INVALID_USER
                and counts(o.analysis, self.roles)
            )
            for o in self.outcomes
        ):
            return EXIT_FINDING
        return EXIT_OK


# Roles no one runs as a container: never a finding, whatever --roles says.
NOT_RUN = frozenset({"build-base", "artifact"})


def counts(analysis: Analysis, roles: tuple[str, ...] = DEFAULT_ROLES) -> bool:
    """Whether the file's verdict fails the run: a finding, of a role among ``roles``."""
    name = analysis.role.name
    return analysis.verdict.is_finding and name in roles and name not in NOT_RUN


def tool_remedy(role: Role) -> str:
    """What makes a tool image safe where it runs: the caller's own UID, and a HOME any UID
    can write."""
    # Role.detail holds the mount of a docker run that makes it a tool: then the evidence is
    # that run's line; a program in the Dockerfile or a compose service names no run.
    site = f"on the docker run at {role.evidence}" if role.detail else "where it is run"
    return (
        f'run it with --user "$(id -u):$(id -g)" {site}, and make HOME and the caches it '
        "writes writable for any UID (ENV HOME=/tmp, or a world-writable cache directory)"
    )


def role_text(role: Role) -> str:
    """``tool (scripts/gen.sh:4: run with the checkout mounted ...)``."""
    return f"{role.name} ({role.evidence}: {role.why})" if role.evidence else role.name


def role_note(analysis: Analysis, roles: tuple[str, ...]) -> str | None:
    """What is said of a root verdict of a role fix leaves alone (or of a tool, which is
    never given a USER); None for the roles fixed as a service is."""
    role = analysis.role
    if role.name in NOT_RUN:
        return f"not run, not fixed: {role_text(role)}"
    if role.name == "tool":
        head = "runs as root (CIS Docker 4.1)" if counts(analysis, roles) else "note"
        return (
            f"{head}: {role_text(role)}: not given a USER (files it writes into the mount "
            f"would belong to another user); {tool_remedy(role)}"
        )
    if role.name not in roles:
        return f"note: {role_text(role)}: fixed only with --roles {role.name}"
    return None


def finding_line(analysis: Analysis, roles: tuple[str, ...] = DEFAULT_ROLES) -> str | None:
    if analysis.verdict.is_finding:
        note = role_note(analysis, roles)
        if note is not None:
            return note
    if analysis.verdict is Verdict.ROOT:
        return f"runs as root (CIS Docker 4.1): user {analysis.user}"
    if analysis.verdict is Verdict.ROOT_BY_DESIGN:
        return f"PID 1 stays root (CIS Docker 4.1): {analysis.reason}"
    if analysis.verdict is Verdict.NEEDS_ROOT:
        return f"needs root, left as root (CIS Docker 4.1): {analysis.reason}"
    if analysis.verdict is Verdict.INVALID_USER:
        return f"error: {analysis.reason}"
    return None


def ships(analysis: Analysis) -> str:
    """``; ships prod (compose.yaml:5) root``: the stages the repository ships, when
    something names one; "" when nothing does."""
    if not analysis.targets:
        return ""
    return "; ships " + ", ".join(f"{t.stage} ({t.source}) {t.verdict}" for t in analysis.targets)


def role_part(analysis: Analysis) -> str:
    """``; role tool (scripts/gen.sh:4)``: the role, when something in the repository (or the
    Dockerfile) says it; "" for the default, a service nothing names."""
    role = analysis.role
    return f"; role {role.name} ({role.evidence})" if role.evidence else ""


def targets_json(analysis: Analysis) -> list[dict[str, str]]:
    """The stages the repository ships, each with what builds it; the last stage alone
    ("default") when nothing names one."""
    if not analysis.targets:
        only = {"stage": analysis.stage, "source": "default", "verdict": str(analysis.verdict)}
        return [{**only, "user": analysis.user}]
    return [
        {"stage": t.stage, "source": t.source, "verdict": str(t.verdict), "user": t.user}
        for t in analysis.targets
    ]


def role_json(analysis: Analysis) -> dict[str, str]:
    """``{"name": "tool", "evidence": "scripts/gen.sh:4", "why": "..."}``."""
    role = analysis.role
    return {"name": role.name, "evidence": role.evidence, "why": role.why}


def summary_line(report: Report) -> str:
    """``2 files: 1 compliant, 1 root``: the count of each verdict (and of errors), and how
    many findings are of roles fix leaves alone (--roles): ``(1 of roles not fixed: notes)``."""
    tally: dict[str, int] = {}
    for outcome in report.outcomes:
        key = "error" if outcome.error else str(outcome.analysis.verdict)  # type: ignore[union-attr]
        tally[key] = tally.get(key, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in sorted(tally.items()))
    left = sum(
        1
        for o in report.outcomes
        if o.analysis and o.analysis.verdict.is_finding and not counts(o.analysis, report.roles)
    )
    if left:  # findings of roles fix leaves alone: they do not fail the run
        summary += f" ({left} of roles not fixed: notes)"
    n = len(report.outcomes)
    return f"{n} file{'' if n == 1 else 's'}: {summary or 'none found'}\n"


def ci_path(path: str) -> str:
    """``path`` as code scanning (SARIF) and the CI systems want it: relative to the current
    directory (the checkout's root in CI) when it is below it, without ``./``, with ``/``."""
    if os.path.isabs(path):
        relative = os.path.relpath(path)
        if relative != ".." and not relative.startswith(".." + os.sep):
            path = relative
    return os.path.normpath(path).replace(os.sep, "/")
