"""The jinja2 environment over ``templates/`` (packaged as ``fixuser.templates``)."""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import MutableMapping
from typing import Any

import jinja2

from fixuser import escape, precompiled
from fixuser.quoting import shell_word


def template_dir() -> str:
    """templates/ is mapped to the package fixuser.templates (see pyproject.toml), in a wheel
    and in an editable install alike; its __init__.py says where it is (without importing
    importlib.resources, which brings zipfile and tempfile)."""
    package = importlib.import_module("fixuser.templates")
    assert package.__file__ is not None
    return os.path.dirname(package.__file__)


class PrecompiledLoader(jinja2.FileSystemLoader):
    """templates/, each template taken from its precompiled module (fixuser.precompiled) while
    that module was made from the template's current text by this jinja2, and compiled from
    the text otherwise."""

    def load(
        self,
        environment: jinja2.Environment,
        name: str,
        globals: MutableMapping[str, Any] | None = None,
    ) -> jinja2.Template:
        source, _, _ = self.get_source(environment, name)
        module = precompiled.template(name, source)
        if module is None:
            return super().load(environment, name, globals)
        # As jinja2's ModuleLoader does: the module's own namespace becomes the template's
        # (environment() is made once, so no other environment claims it), with the globals
        # the environment passes in (already merged with its own by make_globals).
        return environment.template_class.from_module_dict(
            environment, module.__dict__, {} if globals is None else globals
        )


# How a value from a repository is written where the review templates (commit message,
# PR/MR description) write it (fixuser.escape): in a command people paste (pasted), on a
# terminal or in a commit message (text), in Markdown as text or as code (md, code).
# tests/test_escape.py holds those templates to them: every value they output passes
# through one. (``sh`` is for the Dockerfile's RUN lines, which cannot hold a line break.)
FILTERS = {
    "pasted": escape.pasted_word,
    "text": escape.printable,
    "md": escape.md_text,
    "code": escape.md_code,
}


@functools.cache
def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=PrecompiledLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        auto_reload=False,  # a run does not outlive an edit of its own templates
    )
    # Every value a template writes into a shell word of a Dockerfile goes through ``sh``: a
    # path or name from the repository is data, never code (fixuser.quoting).
    env.filters["sh"] = shell_word
    env.filters.update(FILTERS)
    return env


def render(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)
