"""fixuser.render: the templates, compiled once and then read from the user's cache."""

from __future__ import annotations

import shutil
from pathlib import Path

import jinja2
import pytest

from fixuser import render

VALUES = {
    "kw": {"RUN": "RUN", "USER": "USER"},
    "esc": "\\",
    "user": "app",
    "uid": 10001,
    "gid": 10001,
    "owner": "10001:10001",
    "openshift": False,
    "dirs": ["/app", "/srv/data"],
    "home": "/home/app",
}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "fixuser" / "jinja"


@pytest.fixture
def compiled(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each template jinja2 compiles from its text from now on."""
    names: list[str] = []
    real = jinja2.Environment.compile

    def counting(self: jinja2.Environment, source: str, name: str | None = None, *args: object,
                 **kwargs: object) -> object:  # fmt: skip
        names.append(str(name))
        return real(self, source, name, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(jinja2.Environment, "compile", counting)
    return names


def fresh() -> jinja2.Environment:
    """The environment a new run of fixuser makes."""
    return render.environment.__wrapped__()


def test_a_template_is_compiled_once_then_read_from_the_cache(
    cache: Path, compiled: list[str]
) -> None:
    first = fresh().get_template("debian.sh.j2").render(**VALUES)
    assert "debian.sh.j2" in compiled and len(list(cache.iterdir())) == len(compiled)
    compiled.clear()
    assert fresh().get_template("debian.sh.j2").render(**VALUES) == first
    assert compiled == []


def test_every_template_renders_from_the_cache_what_it_renders_from_its_text(
    cache: Path, compiled: list[str]
) -> None:
    names = [n for n in fresh().list_templates() if n.endswith(".sh.j2")]
    assert len(names) > 5
    from_text = {name: fresh().get_template(name).render(**VALUES) for name in names}
    compiled.clear()
    from_cache = {name: fresh().get_template(name).render(**VALUES) for name in names}
    assert compiled == [] and from_cache == from_text


def test_an_edited_template_is_compiled_again(
    cache: Path, compiled: list[str], tmp_path: Path
) -> None:
    templates = tmp_path / "templates"
    shutil.copytree(render.template_dir(), templates)

    def rendered() -> str:
        environment = fresh()
        environment.loader = jinja2.FileSystemLoader(str(templates))
        return environment.get_template("writable.sh.j2").render(**VALUES)

    before = rendered()
    path = templates / "writable.sh.j2"
    path.write_text(path.read_text(encoding="utf-8") + "# edited\n", encoding="utf-8")
    compiled.clear()
    assert rendered() == before + "# edited\n"
    assert compiled == ["writable.sh.j2"]


@pytest.mark.parametrize("damage", ["in its magic", "in its checksum", "in its code", "empty"])
def test_a_cache_file_cut_short_is_compiled_over_never_trusted(
    cache: Path, compiled: list[str], damage: str
) -> None:
    good = fresh().get_template("alpine.sh.j2").render(**VALUES)
    for path in cache.iterdir():
        data = path.read_bytes()
        header = len(jinja2.bccache.bc_magic)
        cut = {"in its magic": header - 2, "in its checksum": header + 10, "in its code": -100}
        path.write_bytes(data[: cut.get(damage, 0)])
    compiled.clear()
    assert fresh().get_template("alpine.sh.j2").render(**VALUES) == good
    assert "alpine.sh.j2" in compiled


def test_the_cache_files_name_what_decides_the_code(cache: Path) -> None:
    # Another syntax setting compiles the same text to other code: it must not find this one.
    fresh().get_template("debian.sh.j2")
    other = fresh()
    other.trim_blocks = False
    assert render.UserBytecodeCache(other).prefix != render.UserBytecodeCache(fresh()).prefix
    assert {p.name.split("-")[0] for p in cache.iterdir()} == {
        render.UserBytecodeCache(fresh()).prefix
    }
