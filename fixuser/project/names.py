"""The names of the files fixuser.project reads, and which reader reads which, by name alone.

Discovery's walk collects the candidates as it looks for Dockerfiles; it asks here, so a check
over a tree without a single candidate never loads the readers (fixuser.project.read and the
modules it dispatches to: ~10 ms of a check's start). fixuser.tree.context asks here too which
candidates to read at all.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Sequence

# Caches tools leave in a working tree: thousands of files, never a context file.
TOOL_CACHES = frozenset(
    {".mypy_cache", ".ruff_cache", ".pytest_cache", ".tox", ".nox", ".cache", "venv", ".eggs"}
)

YAML_SUFFIXES = (".yml", ".yaml")
COMPOSE_NAMES = frozenset({"compose.yaml", "compose.yml"})
COMPOSE_PREFIXES = ("docker-compose", "compose.")  # docker-compose.prod.yml, compose.override.yaml
MAKEFILES = frozenset({"Makefile", "makefile", "GNUmakefile"})
JUSTFILES = frozenset({"justfile", "Justfile", "JUSTFILE", ".justfile"})
NAMED = MAKEFILES | JUSTFILES
OTHER_SUFFIXES = (".mk", ".just", ".sh")  # .sh: scripts, read for docker run and tags
DEVCONTAINER_NAMES = frozenset({"devcontainer.json", ".devcontainer.json"})
BAKE_PREFIX = "docker-bake"  # docker-bake.hcl, docker-bake.override.json
GITLAB_NAMES = frozenset({".gitlab-ci.yml", ".gitlab-ci.yaml"})
SKAFFOLD_NAMES = frozenset({"skaffold.yaml", "skaffold.yml"})
CHART = "Chart.yaml"


def is_context_name(name: str) -> bool:
    """Whether a file by this name may be a context file: name matching only."""
    return (
        name.endswith(YAML_SUFFIXES)
        or name in NAMED
        or name in DEVCONTAINER_NAMES
        or name.endswith(OTHER_SUFFIXES)
        or name.startswith(BAKE_PREFIX)
    )


# --- which reader reads which file --------------------------------------------------------

SCRIPT, DEVCONTAINER = "script", "devcontainer"
COMPOSE, BAKE_HCL, BAKE_JSON, WORKFLOW, GITLAB, MAKE, JUST, SKAFFOLD, HELM, MANIFEST = (
    "compose",
    "bake-hcl",
    "bake-json",
    "workflow",
    "gitlab",
    "make",
    "just",
    "skaffold",
    "helm",
    "manifest",
)


def is_chart(path: str) -> bool:
    return path == CHART or path.endswith("/" + CHART)


def chart_dirs(paths: Iterable[str]) -> set[str]:
    """The directories holding a Chart.yaml (as ``dir/``, ``""`` for the root)."""
    return {path[: -len(CHART)] for path in paths if is_chart(path)}


def kind_of(path: str, charts: set[str]) -> str | None:
    """The kind of the file at ``path`` (repository-relative), None for no reader's;
    ``charts``: the directories holding a Chart.yaml, whose templates are Helm's."""
    directory, name = posixpath.split(path)
    if name == CHART:
        return None
    if name in COMPOSE_NAMES or (
        name.startswith(COMPOSE_PREFIXES) and name.endswith(YAML_SUFFIXES)
    ):
        return COMPOSE
    if name.startswith(BAKE_PREFIX):
        return BAKE_HCL if name.endswith(".hcl") else BAKE_JSON if name.endswith(".json") else None
    if name in GITLAB_NAMES:
        return GITLAB
    if name in MAKEFILES or name.endswith(".mk"):
        return MAKE
    if name in JUSTFILES or name.endswith(".just"):
        return JUST
    if name in SKAFFOLD_NAMES:
        return SKAFFOLD
    if name.endswith(".sh"):
        return SCRIPT
    if name in DEVCONTAINER_NAMES:
        return DEVCONTAINER
    if not name.endswith(YAML_SUFFIXES):
        return None
    if directory == ".github/workflows" or directory.endswith("/.github/workflows"):
        return WORKFLOW
    if any(path.startswith(chart + "templates/") for chart in charts):
        return HELM
    return MANIFEST


def wanted(paths: Sequence[str]) -> list[str]:
    """The paths among ``paths`` (candidates by name) that some reader reads, and the charts
    (whose presence alone matters)."""
    charts = chart_dirs(paths)
    return [rel for rel in paths if kind_of(rel, charts) is not None or is_chart(rel)]
