"""fixuser/_compiled/: generated from templates/ and images.toml, used only while fresh."""

from __future__ import annotations

import itertools
import tomllib
from types import ModuleType

import jinja2
import pytest

from fixuser import precompiled, render
from fixuser.knowledge import images

TEMPLATES = sorted(
    n for n in jinja2.FileSystemLoader(render.template_dir()).list_templates() if n.endswith(".j2")
)
BLOCK_VALUES = [
    {
        "kw": {"RUN": run, "USER": run.replace("RUN", "USER").replace("run", "user")},
        "esc": esc,
        "user": "app",
        "uid": 10001,
        "gid": 0 if openshift else 10001,
        "owner": "10001:0" if openshift else "10001:10001",
        "openshift": openshift,
        "dirs": dirs,
        "home": "/home/app",
    }
    for run, esc, openshift, dirs in itertools.product(
        ("RUN", "run"), ("\\", "`"), (False, True), ([], ["/app", "/srv/data"])
    )
]


def from_source() -> jinja2.Environment:
    """The environment fixuser would have without the precompiled modules."""
    environment = render.environment.__wrapped__()
    environment.loader = jinja2.FileSystemLoader(render.template_dir())
    return environment


def test_the_generated_modules_are_up_to_date() -> None:
    assert precompiled.stale() == [], (
        "templates or images.toml changed: run python -m fixuser.precompiled"
    )


@pytest.mark.parametrize("name", [n for n in TEMPLATES if n.endswith(".sh.j2")])
def test_a_precompiled_template_renders_what_its_source_renders(name: str) -> None:
    module = precompiled.compiled(precompiled.template_module(name))
    assert isinstance(module, ModuleType)  # generated, and the loader takes it
    loaded = render.environment().get_template(name)
    compiled_from_source = from_source().get_template(name)
    for values in BLOCK_VALUES:
        if name == "writable.sh.j2" and not values["dirs"]:
            continue  # only ever rendered with directories
        assert loaded.render(**values) == compiled_from_source.render(**values)


def test_the_loader_uses_the_module_only_while_it_matches_the_source(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    module = precompiled.compiled(precompiled.template_module("writable.sh.j2"))
    assert module is not None
    calls: list[str] = []
    real_load = jinja2.FileSystemLoader.load

    def counting_load(self: jinja2.FileSystemLoader, *args: object, **kwargs: object) -> object:
        calls.append(str(args[1]))
        return real_load(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(jinja2.FileSystemLoader, "load", counting_load)
    fresh = render.environment.__wrapped__()
    fresh.get_template("writable.sh.j2")
    assert calls == []  # taken from the module
    monkeypatch.setattr(module, "SOURCE", module.SOURCE + "{# edited #}")
    stale = render.environment.__wrapped__()
    text = stale.get_template("writable.sh.j2").render(**BLOCK_VALUES[-1])
    assert calls == ["writable.sh.j2"]  # compiled from the template's text instead
    assert "mkdir -p /app /srv/data" in text
    monkeypatch.setattr(module, "SOURCE", module.SOURCE.removesuffix("{# edited #}"))
    monkeypatch.setattr(module, "JINJA2", "0.0")  # made by another jinja2
    render.environment.__wrapped__().get_template("writable.sh.j2")
    assert calls == ["writable.sh.j2", "writable.sh.j2"]


def test_the_image_table_is_the_toml_and_is_read_from_it_when_edited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = images.table_source()
    assert precompiled.images_table(text) == tomllib.loads(text)["image"]
    assert precompiled.images_table(text + "\n# edited\n") is None
    module = precompiled.compiled("images")
    assert module is not None
    monkeypatch.setattr(module, "SOURCE", "")  # as if images.toml had been edited since
    images.table.cache_clear()
    try:
        assert [e.data for e in images.table()] == tomllib.loads(text)["image"]
    finally:
        images.table.cache_clear()


def test_the_program_tables_are_the_toml_and_are_read_from_it_when_edited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = images.table_source()
    parsed = tomllib.loads(text)
    tables = precompiled.program_tables(text)
    assert tables == {kind: parsed[kind] for kind in images.PROGRAM_TABLES}
    assert precompiled.program_tables(text + "\n# edited\n") is None
    precompiled_rules = {kind: images.program_rules(kind) for kind in images.PROGRAM_TABLES}
    module = precompiled.compiled("images")
    assert module is not None
    monkeypatch.setattr(module, "SOURCE", "")
    images.program_rules.cache_clear()
    try:
        for kind in images.PROGRAM_TABLES:
            rules = images.program_rules(kind)
            assert [r.program for r in rules] == [e["program"] for e in parsed[kind]]
            assert rules == precompiled_rules[kind]
    finally:
        images.program_rules.cache_clear()


def test_modules_another_jinja2_made_from_the_current_text_are_not_stale(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A contributor (or CI) on another jinja2 gets its own compile at run time (the loader
    # checks JINJA2); the modules are stale only when the templates' text moved on.
    monkeypatch.setattr(jinja2, "__version__", "99.0")
    assert precompiled.stale() == []
    module = precompiled.compiled(precompiled.template_module("debian.sh.j2"))
    assert module is not None
    monkeypatch.setattr(module, "SOURCE", "an older text")
    assert precompiled.stale() == ["t_debian_sh_j2.py"]
