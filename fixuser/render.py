"""The jinja2 environment over ``templates/`` (packaged as ``fixuser.templates``)."""

from __future__ import annotations

import functools
import hashlib
import importlib
import os
import sys
import types
from typing import Any

import jinja2

from fixuser import __version__, escape, usercache
from fixuser.quoting import shell_word


def template_dir() -> str:
    """templates/ is mapped to the package fixuser.templates (see pyproject.toml), in a wheel
    and in an editable install alike; its __init__.py says where it is (without importing
    importlib.resources, which brings zipfile and tempfile)."""
    package = importlib.import_module("fixuser.templates")
    assert package.__file__ is not None
    return os.path.dirname(package.__file__)


# The environment's settings that change the code jinja2 compiles a template to.
COMPILE_SETTINGS = (
    "block_start_string",
    "block_end_string",
    "variable_start_string",
    "variable_end_string",
    "comment_start_string",
    "comment_end_string",
    "line_statement_prefix",
    "line_comment_prefix",
    "trim_blocks",
    "lstrip_blocks",
    "newline_sequence",
    "keep_trailing_newline",
    "autoescape",
    "optimized",
)


class UserBytecodeCache(jinja2.BytecodeCache):
    """jinja2's compiled templates, kept in the user's cache (fixuser.usercache) between runs.

    Not jinja2's FileSystemBytecodeCache: its write raises on a directory it cannot write, its
    read raises on a file in the directory's way and on a file cut short inside its header, and
    it reads any owner's files; fixuser.usercache drops all of those silently. A file's name
    holds a digest of what decides the code a template compiles to besides its text: jinja2's,
    fixuser's and Python's versions and the environment's syntax and options; jinja2 itself
    keys it by the template's path and checks the template's text against it."""

    def __init__(self, environment: jinja2.Environment) -> None:
        settings = [getattr(environment, name) for name in COMPILE_SETTINGS]
        settings.append(sorted(environment.extensions))
        made_by = (jinja2.__version__, __version__, sys.version_info[:2], settings)
        digest = hashlib.sha1(repr(made_by).encode(), usedforsecurity=False)
        self.prefix = digest.hexdigest()[:16]

    def name(self, bucket: jinja2.bccache.Bucket) -> str:
        return f"{self.prefix}-{bucket.key}.cache"

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        data = usercache.read("jinja", self.name(bucket))
        if data is None:
            return
        try:
            bucket.bytecode_from_string(data)
        except Exception:  # not a whole cache file (pickle and marshal raise many kinds)
            bucket.reset()
        if not isinstance(bucket.code, types.CodeType):
            bucket.reset()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        usercache.write("jinja", self.name(bucket), bucket.bytecode_to_string())


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
        loader=jinja2.FileSystemLoader(template_dir()),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=False,
        auto_reload=False,  # a run does not outlive an edit of its own templates
    )
    env.bytecode_cache = UserBytecodeCache(env)  # the user's cache dir, written only on a miss
    # Every value a template writes into a shell word of a Dockerfile goes through ``sh``: a
    # path or name from the repository is data, never code (fixuser.quoting).
    env.filters["sh"] = shell_word
    env.filters.update(FILTERS)
    return env


def render(name: str, **values: Any) -> str:
    return environment().get_template(name).render(**values)
