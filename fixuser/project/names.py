"""The names of the files fixuser.project.context reads, by name alone.

Discovery's walk collects the candidates as it looks for Dockerfiles; it asks here, so a check
over a tree without a single candidate never loads the readers (fixuser.project.context and
fixuser.project.buildcmd: ~10 ms of a check's start).
"""

from __future__ import annotations

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
OTHER_SUFFIXES = (".mk", ".just")
BAKE_PREFIX = "docker-bake"  # docker-bake.hcl, docker-bake.override.json
GITLAB_NAMES = frozenset({".gitlab-ci.yml", ".gitlab-ci.yaml"})
SKAFFOLD_NAMES = frozenset({"skaffold.yaml", "skaffold.yml"})
CHART = "Chart.yaml"


def is_context_name(name: str) -> bool:
    """Whether a file by this name may be a context file: name matching only."""
    return (
        name.endswith(YAML_SUFFIXES)
        or name in NAMED
        or name.endswith(OTHER_SUFFIXES)
        or name.startswith(BAKE_PREFIX)
    )
