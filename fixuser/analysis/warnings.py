"""Warnings about a stage that do not change its verdict: ports below 1024, sudo, other stages
that end in USER root (hadolint DL3002 flags them)."""

from __future__ import annotations

import re

from fixuser.analysis.runs import command
from fixuser.dockerfile.stages import Runtime, last_user, run_text
from fixuser.dockerfile.users import user_is_root
from fixuser.dockerfile.words import substitute
from fixuser.model import WarningRule, WarningText

SUDO_RE = re.compile(command("sudo") + r"(?![\w-])")


def stage_warnings(runtime: Runtime) -> list[WarningText]:
    warnings = []
    env = runtime.env
    for link in runtime.chain:
        for instruction in link.of("EXPOSE"):
            for word in substitute(instruction.value, env).split():
                port = word.split("/")[0].split("-")[0]
                if port.isdigit() and int(port) < 1024:
                    warnings.append(
                        WarningText(
                            WarningRule.LOW_PORT,
                            f"line {instruction.lineno}: EXPOSE {word}: a port below 1024 needs "
                            "root or CAP_NET_BIND_SERVICE; move the server to a port >= 1024",
                        )
                    )
    for instruction in runtime.stage.of("RUN"):
        mentions = "sudo" in instruction.value or "sudo" in "".join(instruction.heredocs)
        if mentions and SUDO_RE.search(run_text(instruction)):
            warnings.append(
                WarningText(
                    WarningRule.SUDO, f"line {instruction.lineno}: sudo in the runtime stage"
                )
            )
    return warnings + other_stage_warnings(runtime)


def other_stage_warnings(runtime: Runtime) -> list[WarningText]:
    """Stages other than the runtime one that end in USER root: harmless at run time, but
    hadolint DL3002 flags them, so they are named on every verdict, compliant included."""
    warnings = []
    stages, stage, args = runtime.stages, runtime.stage, runtime.args
    runtime_source = runtime.last_user().stage  # where the runtime's USER is set
    for other in stages:
        if other is stage or other is runtime_source:
            continue
        if other._by_keyword is None and all(i.keyword != "USER" for i in other.instructions):
            continue  # most builder stages: no USER, and no keyword index built for them
        if not other.of("USER"):
            continue
        setting = last_user(stages, other, args)
        if setting.instruction is None or setting.unresolved or setting.error:
            continue
        if not user_is_root(setting.value):
            continue
        kind = "parent stage" if other in runtime.chain else "builder stage"
        warnings.append(
            WarningText(
                WarningRule.BUILDER_ROOT,
                f"line {setting.instruction.lineno}: {kind} {other.label} ends in USER "
                f"{setting.value} (harmless at run time; hadolint DL3002 still flags it)",
            )
        )
    return warnings
