"""The jinja2 environment over ``templates/`` (packaged as ``fixuser.templates``)."""

from __future__ import annotations

import functools
import importlib
import os
from typing import Any

import jinja2


def template_dir() -> str:
    """templates/ is mapped to the package fixuser.templates (see pyproject.toml), in a wheel
    and in an editable install alike; its __init__.py says where it is (without importing
    importlib.resources, which brings zipfile and tempfile)."""
    package = importlib.import_module("fixuser.templates")
    assert package.__file__ is not None
    return os.path.dirname(package.__file__)


@functools.cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        auto_reload=False,  # a run does not outlive an edit of its own templates
    )


def render(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)
