"""CI and deploy configs: GitHub Actions workflows, GitLab CI and skaffold, and what each
builds (with the stage it targets).

A workflow's ``docker/build-push-action`` steps and ``run`` scripts are read for each row of
its job's matrix; the workspace (``${{ github.workspace }}``, ``$CI_PROJECT_DIR``) is the
repository root. Shell scripts go through ``fixuser.project.buildcmd``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING

from fixuser.project.buildcmd import scan_commands
from fixuser.project.model import Found
from fixuser.project.paths import ROOT, is_remote, join, resolve
from fixuser.project.yaml import (
    entries,
    get,
    is_mapping,
    is_scalar,
    is_sequence,
    items,
    line_of,
    load_yaml,
    scalar,
    scalars,
    script_items,
    script_lines,
)

if TYPE_CHECKING:
    from yaml.nodes import Node


EXPRESSION_RE = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
MATRIX_REF_RE = re.compile(r"matrix\.([A-Za-z_][\w-]*)\Z")
WORKSPACE = frozenset({"github.workspace", "env.GITHUB_WORKSPACE"})
BUILD_ACTIONS = ("docker/build-push-action",)
MAX_ROWS = 256


def matrix_rows(strategy: Node | None) -> list[dict[str, str]]:
    """A job's matrix as rows of scalar values (GitHub's include/exclude rules, simplified)."""
    matrix = get(strategy, "matrix")
    axes = {
        key: scalars(value)
        for key, (_, value) in entries(matrix).items()
        if key not in ("include", "exclude") and is_sequence(value)
    }
    rows: list[dict[str, str]] = [{}]
    for key, values in axes.items():
        rows = [{**row, key: value} for row in rows for value in values][:MAX_ROWS]
    for exclude in items(get(matrix, "exclude")):
        drop = {k: scalar(v) for k, (_, v) in entries(exclude).items()}
        rows = [row for row in rows if any(row.get(k) != v for k, v in drop.items())]
    for include in items(get(matrix, "include")):
        extra = {
            k: v for k, (_, node) in entries(include).items() if (v := scalar(node)) is not None
        }
        matched = False
        for row in rows:
            if all(row.get(k, v) == v for k, v in extra.items() if k in axes):
                row.update({k: v for k, v in extra.items() if k not in axes})
                matched = True
        if not matched and len(rows) < MAX_ROWS:
            rows.append(extra)
    return rows or [{}]


def expand(text: str, row: Mapping[str, str]) -> str | None:
    """``${{ matrix.x }}`` from the row and the workspace as the root; None for anything else."""
    unknown = False

    def repl(match: re.Match[str]) -> str:
        nonlocal unknown
        expression = match.group(1)
        if expression in WORKSPACE:
            return ROOT
        ref = MATRIX_REF_RE.match(expression)
        if ref and ref.group(1) in row:
            return row[ref.group(1)]
        unknown = True
        return match.group()

    result = EXPRESSION_RE.sub(repl, text) if "${{" in text else text
    return None if unknown else result


def working_directory(node: Node | None) -> str | None:
    return scalar(get(node, "defaults", "run", "working-directory"))


def read_workflow(path: str, text: str, found: Found) -> None:
    for document in load_yaml(path, text, found):
        default_dir = working_directory(document)
        for _job, (_, job) in entries(get(document, "jobs")).items():
            rows = matrix_rows(get(job, "strategy"))
            job_dir = working_directory(job) or default_dir
            for step in items(get(job, "steps")):
                uses = scalar(get(step, "uses"))
                if uses is not None and uses.split("@")[0] in BUILD_ACTIONS:
                    build_push_action(path, step, rows, found)
                run = get(step, "run")
                if run is not None:
                    step_dir = scalar(get(step, "working-directory")) or job_dir
                    run_step(path, run, step_dir, rows, found)


GIT_CONTEXT = "{{defaultContext}}"  # build-push-action's Git context: the repository


def build_push_action(path: str, step: Node, rows: list[dict[str, str]], found: Found) -> None:
    """docker/build-push-action: ``context`` (the repository when absent, or
    ``{{defaultContext}}:subdir``), ``file`` (relative to the workspace, ``{context}/Dockerfile``
    when absent) and ``target``."""
    via = "docker/build-push-action"
    settings = get(step, "with")
    target_node = get(settings, "target")
    line = line_of(target_node) if target_node is not None else line_of(entries(step)["uses"][0])
    raw = {key: scalar(get(settings, key)) or "" for key in ("context", "file", "target")}
    for row in rows:
        context, file, stage = (expand(raw[key], row) for key in ("context", "file", "target"))
        if context is None or file is None or stage is None:
            found.note(path, line, f"{via}: an expression fixuser cannot evaluate")
            return
        if context.startswith(GIT_CONTEXT):
            context = context[len(GIT_CONTEXT) :].lstrip(":")
        if is_remote(context):
            continue
        context_dir = resolve("", context or ".")
        if file:
            dockerfile = resolve("", file)
        else:
            dockerfile = join(context_dir, "Dockerfile") if context_dir is not None else None
        if dockerfile is None:
            found.note(path, line, f"{via} builds outside the repository")
            continue
        found.build(dockerfile, stage or None, path, line, via)


def run_step(
    path: str, run: Node, directory: str | None, rows: list[dict[str, str]], found: Found
) -> None:
    lines = script_lines(run)
    for row in rows:
        expanded = [(n, expand(line, row) or line) for n, line in lines]
        cwd = resolve("", expand(directory, row) or directory) if directory else ""
        scan_commands(path, expanded, cwd, found, {"GITHUB_WORKSPACE": ROOT})


GITLAB_RESERVED = frozenset(
    {"stages", "variables", "include", "workflow", "image", "services", "cache", "types"}
)


def read_gitlab(path: str, text: str, found: Found) -> None:
    for document in load_yaml(path, text, found):
        top = entries(document)
        variables = {"CI_PROJECT_DIR": ROOT, "CI_BUILDS_DIR": ROOT}
        variables.update(gitlab_variables(get(document, "variables")))
        for name, (_, job) in top.items():
            if name in GITLAB_RESERVED or not is_mapping(job):
                continue
            env = {**variables, **gitlab_variables(get(job, "variables"))}
            # before_script and script run in one shell, after_script in another.
            session = [*script_items(get(job, "before_script")), *script_items(get(job, "script"))]
            for lines in (session, script_items(get(job, "after_script"))):
                if lines:
                    scan_commands(path, lines, "", found, env)


def gitlab_variables(node: Node | None) -> dict[str, str]:
    result: dict[str, str] = {}
    for name, (_, value) in entries(node).items():
        text = scalar(value) if is_scalar(value) else scalar(get(value, "value"))
        if text is not None and "$" not in text:
            result[name] = text
    return result


# --- skaffold ----------------------------------------------------------------------------------


def read_skaffold(path: str, text: str, found: Found) -> None:
    """``build.artifacts[]`` (and each profile's): ``context`` (default ``.``) and the docker
    (or kaniko) builder's ``dockerfile`` (relative to the context) and ``target``; docker is
    the builder when an artifact names none."""
    base = posixpath.dirname(path)
    for document in load_yaml(path, text, found):
        builds = [get(document, "build")]
        builds += [get(profile, "build") for profile in items(get(document, "profiles"))]
        for build in builds:
            for artifact in items(get(build, "artifacts")):
                settings = entries(artifact)
                builder = get(artifact, "docker") or get(artifact, "kaniko")
                if builder is None and set(settings) & {
                    "jib",
                    "buildpacks",
                    "bazel",
                    "ko",
                    "custom",
                }:
                    continue
                name = scalar(get(artifact, "image")) or "?"
                context = scalar(get(artifact, "context")) or "."
                dockerfile = scalar(get(builder, "dockerfile")) or "Dockerfile"
                target_node = get(builder, "target")
                stage = scalar(target_node)
                line = line_of(target_node) if target_node is not None else line_of(artifact)
                via = f"skaffold artifact {name}"
                context_dir = join(base, context)
                resolved = join(context_dir, dockerfile) if context_dir is not None else None
                if "{{" in context + dockerfile + (stage or ""):
                    found.note(path, line, f"{via}: a template fixuser cannot evaluate, skipped")
                elif resolved is None:
                    found.note(path, line, f"{via} builds outside the repository, skipped")
                else:
                    found.build(resolved, stage, path, line, via)
