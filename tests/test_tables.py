"""fixuser.knowledge.tables: the TOML tables, parsed once and then read from the user's cache."""

from __future__ import annotations

import marshal
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from fixuser.knowledge import images, programs, tables

IMAGES = Path(tables.HERE) / "images.toml"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty user cache: what ``$XDG_CACHE_HOME`` names."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Each text tomllib parses from now on."""
    texts: list[str] = []
    real = tomllib.loads

    def counting(text: str, **kwargs: object) -> dict[str, object]:
        texts.append(text)
        return real(text, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(tomllib, "loads", counting)
    return texts


def cached_files(cache: Path) -> list[str]:
    return sorted(p.name for p in (cache / "fixuser" / "tables").iterdir())


def table_copy(tmp_path: Path) -> Path:
    copy = tmp_path / "tables" / "images.toml"
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(IMAGES, copy)
    return copy


def test_a_table_is_parsed_once_then_read_from_the_cache(
    cache: Path, parses: list[str], tmp_path: Path
) -> None:
    table = table_copy(tmp_path)
    first = tables.load_file(str(table))
    assert len(parses) == 1 and first == tomllib.loads(IMAGES.read_text(encoding="utf-8"))
    assert cached_files(cache) == [
        f"images-{tables.MADE_BY}-{table.stat().st_mtime_ns}-{table.stat().st_size}.marshal"
    ]
    parses.clear()
    assert tables.load_file(str(table)) == first
    assert parses == []


def test_a_second_run_reads_the_table_without_importing_tomllib(tmp_path: Path) -> None:
    # What start-up saves: a run that finds its cache never imports or runs the parser.
    script = (
        "import sys; from fixuser.knowledge import images; "
        "assert images.lookup('debian:bookworm').family == 'debian'; "
        "print('tomllib' in sys.modules)"
    )
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    runs = [
        subprocess.run(
            [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
        )
        for _ in range(2)
    ]
    assert [(run.stdout, run.stderr) for run in runs] == [("True\n", ""), ("False\n", "")]


@pytest.mark.parametrize("edit", ["same size", "longer", "same size and mtime, another file"])
def test_an_edited_table_is_parsed_again_and_replaces_its_cache(
    cache: Path, parses: list[str], tmp_path: Path, edit: str
) -> None:
    table = table_copy(tmp_path)
    tables.load_file(str(table))
    before = table.stat()
    text = table.read_text(encoding="utf-8")
    edited = text.replace('family = "alpine"', 'family = "ALPINE"', 1)
    if edit == "longer":
        edited += '\n[[image]]\nname = "example/new"\nfamily = "debian"\n'
    assert edited != text and (len(edited) == len(text)) == (edit != "longer")
    if edit == "same size and mtime, another file":
        # An editor that writes a new file and renames it over the table, within the same
        # tick of a coarse clock: only the inode tells.
        replacement = table.with_suffix(".new")
        replacement.write_text(edited, encoding="utf-8")
        os.utime(replacement, ns=(before.st_atime_ns, before.st_mtime_ns))
        os.replace(replacement, table)
        assert table.stat().st_mtime_ns == before.st_mtime_ns
    else:
        table.write_text(edited, encoding="utf-8")
        os.utime(table, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000))
    parses.clear()
    again = tables.load_file(str(table))
    assert len(parses) == 1
    assert again == tomllib.loads(edited) and again != tomllib.loads(text)
    assert len(cached_files(cache)) == 1  # the older one is removed
    parses.clear()
    assert tables.load_file(str(table)) == again and parses == []


def test_a_cache_file_of_another_table_of_the_same_name_size_and_mtime_is_not_used(
    cache: Path, parses: list[str], tmp_path: Path
) -> None:
    one = table_copy(tmp_path)
    other = tmp_path / "other" / "images.toml"
    other.parent.mkdir()
    other.write_text(
        one.read_text(encoding="utf-8").replace('"alpine"', '"ALPINE"', 1), encoding="utf-8"
    )
    stamp = one.stat()
    os.utime(other, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    assert other.stat().st_size == stamp.st_size
    tables.load_file(str(one))
    parses.clear()
    loaded = tables.load_file(str(other))
    assert len(parses) == 1 and loaded == tomllib.loads(other.read_text(encoding="utf-8"))


@pytest.mark.parametrize("damage", ["cut short", "empty", "not marshal", "another shape"])
def test_a_damaged_cache_file_is_parsed_over_never_trusted(
    cache: Path, parses: list[str], tmp_path: Path, damage: str
) -> None:
    table = table_copy(tmp_path)
    good = tables.load_file(str(table))
    (cached,) = (cache / "fixuser" / "tables").iterdir()
    data = cached.read_bytes()
    cached.write_bytes(
        {
            "cut short": data[: len(data) // 2],
            "empty": b"",
            "not marshal": b"\xff" * 64,
            "another shape": marshal.dumps([1, 2, 3]),
        }[damage]
    )
    parses.clear()
    assert tables.load_file(str(table)) == good
    assert len(parses) == 1
    assert cached.read_bytes() == data  # and written whole again


def test_a_table_marshal_cannot_hold_is_parsed_every_time(
    cache: Path, parses: list[str], tmp_path: Path
) -> None:
    table = tmp_path / "dated.toml"
    table.write_text("when = 2024-01-01\n", encoding="utf-8")
    for _ in range(2):
        assert str(tables.load_file(str(table))["when"]) == "2024-01-01"
    assert len(parses) == 2
    assert not (cache / "fixuser" / "tables").exists() or cached_files(cache) == []


def test_every_table_beside_the_module_loads_by_name() -> None:
    # Adding a table is one call: load("<name>") for knowledge/<name>.toml.
    names = sorted(p.stem for p in IMAGES.parent.glob("*.toml"))
    assert "images" in names
    for name in names:
        assert tables.load(name) == tomllib.loads(
            (IMAGES.parent / f"{name}.toml").read_text(encoding="utf-8")
        )


def test_the_image_lookups_read_the_loaded_table() -> None:
    parsed = tables.load("images")
    assert [entry.data for entry in images.table()] == parsed["image"]
    assert len(images.base_entrypoints()) == len(parsed["base_entrypoint"])


def test_the_program_rules_read_the_programs_table() -> None:
    parsed = tables.load("programs")
    for kind in programs.PROGRAM_TABLES:
        assert [rule.program for rule in programs.program_rules(kind)] == [
            raw["program"] for raw in parsed[kind]
        ]
