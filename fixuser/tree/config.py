"""The one reader of ``[tool.fixuser]`` from a directory: find the pyproject.toml that counts,
read it, parse its table with ``settings.read_table`` (which batch also gives a committed blob)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fixuser.settings import Settings, SettingsError, build_settings, read_table
from fixuser.tree.fileio import read

PYPROJECT = "pyproject.toml"


def project_dir(start: Path) -> Path | None:
    """The nearest directory at or above ``start`` holding a pyproject.toml."""
    start = start.resolve()
    for directory in (start, *start.parents):
        if (directory / PYPROJECT).is_file():
            return directory
    return None


def read_pyproject(directory: Path | None) -> dict[str, Any]:
    """The ``[tool.fixuser]`` table of ``directory/pyproject.toml`` (empty when there is none),
    its keys as Settings' fields."""
    if directory is None:
        return {}
    path = directory / PYPROJECT
    if not path.exists():
        return {}
    try:  # a regular file only, as every file of a repository (fixuser.tree.fileio)
        data = read(path)
    except OSError as e:
        raise SettingsError(f"{path}: cannot read [tool.fixuser]: {e}") from e
    return read_table(data, str(path))


def load_settings(
    cli: Mapping[str, Any] | None = None,
    directory: Path | None = None,
    base: Settings | None = None,
) -> Settings:
    """Defaults (or ``base``) < ``[tool.fixuser]`` of ``directory`` < the flags given."""
    return build_settings(cli, read_pyproject(directory), base)
