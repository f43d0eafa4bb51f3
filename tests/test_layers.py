"""fixuser's folders are layers and every arrow points down (issue 21, ARCHITECTURE's rule).

Every import of every module of fixuser/ is read from its syntax tree: at the top, inside
functions, under ``if TYPE_CHECKING:``, ``import x``, ``from x import y``, relative ones and
``importlib.import_module("...")`` with a literal name. Three things fail:

- an upward arrow: a module importing one of a layer above its own (or a sibling of its layer);
- a cycle between modules (an import inside a function included: it is still a dependency);
- a pure module importing an I/O library (processes, git, engines, prompts, the network,
  file copying): that work belongs to tree/, branches/, containers/ and commands/.

The last tests feed the same checker a small package of their own, one fault of each kind,
so that each check is seen to fail.
"""

from __future__ import annotations

import ast
import dataclasses
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import fixuser

PACKAGE_DIR = Path(fixuser.__file__).resolve().parent

# The layers of fixuser, top to bottom: a module may import its own unit (folder or top-level
# module) and any unit of a LOWER row, never one of its own row or above. Units of one row are
# siblings that know nothing of each other.
#
# Where this departs from ARCHITECTURE.md's sketch, the code showed a better cut:
# - model.py and edits.py sit below dockerfile/ and settings.py: model.py holds the types
#   every layer speaks (DockerfileError, Edit, Finding); the parser raises its errors.
# - diff.py (a view of the edits) sits beside analysis/ and project/, over dockerfile/.
# - escape.py and quoting.py (what is printed and what is written into a shell) and
#   usercache.py (the cache of tables and templates) sit under render.py, which uses them.
# - errors.py (FixuserError and its exit codes) is the very bottom: any layer may raise.
# - "__init__" is fixuser/__init__.py (the version); "__main__" is ``python -m fixuser``;
#   "templates" is templates/, mapped to the package fixuser.templates (data, no code).
LAYERS: tuple[frozenset[str], ...] = tuple(
    frozenset(row)
    for row in (
        ("__main__",),
        ("main",),
        ("commands",),
        ("branches",),
        ("tree",),  # tree/source.py included: WorkTree | GitTree, over discover and fileio
        ("core", "containers"),  # the fix of one file; the engine that proves it
        ("plan", "report"),
        ("analysis", "project", "diff"),
        ("settings",),
        ("dockerfile",),
        ("model",),
        ("edits",),
        ("knowledge", "render"),
        ("escape", "usercache"),
        ("quoting",),
        ("errors", "__init__", "templates"),
    )
)

# No I/O library in these (the pure layers): bytes and values in, values out.
PURE = frozenset(
    {
        "dockerfile",
        "knowledge",
        "analysis",
        "plan",
        "project",
        "report",
        "core",
        "edits",
        "model",
        "diff",
        "escape",
        "quoting",
        "errors",
    }
)
IO_LIBRARIES = frozenset(
    {
        "subprocess",
        "shutil",  # copying, moving and removing files
        "tempfile",
        "socket",
        "urllib",
        "http",
        "multiprocessing",
        "pty",
        "git",  # GitPython
        "gitdb",
        "docker",
        "questionary",
        "pexpect",
    }
)

# Cycles today, each with how it breaks: an entry fails once its cycle is gone (delete the
# entry then), so the ledger only shrinks. Nothing may join it.
KNOWN_CYCLES: Mapping[frozenset[str], str] = {}


@dataclasses.dataclass(frozen=True)
class Import:
    importer: str  # a module of the package, dotted
    imported: str  # a module, dotted: of the package when it starts with its name
    line: int

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported}"


def module_name(path: Path, root: Path, package: str) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules_of(root: Path, package: str) -> dict[str, Path]:
    """Every module of the package at ``root``, by dotted name."""
    return {module_name(p, root, package): p for p in sorted(root.rglob("*.py"))}


def imports_in(
    tree: ast.AST, importer: str, is_package: bool, known: Iterable[str]
) -> list[Import]:
    """Every import ``tree`` (the module ``importer``) makes, wherever it stands."""
    modules = set(known)
    here = importer if is_package else importer.rpartition(".")[0]
    found: list[Import] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [Import(importer, alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: from its own package up
                base = here.split(".")[: len(here.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            for alias in node.names:  # ``from pkg import module`` imports the module
                name = f"{source}.{alias.name}"
                found.append(Import(importer, name if name in modules else source, node.lineno))
        elif (
            isinstance(node, ast.Call)
            and (
                (isinstance(node.func, ast.Attribute) and node.func.attr == "import_module")
                or (isinstance(node.func, ast.Name) and node.func.id == "__import__")
            )
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append(Import(importer, node.args[0].value, node.lineno))
    return found


def all_imports(root: Path, package: str) -> list[Import]:
    modules = modules_of(root, package)
    found: list[Import] = []
    for name, path in modules.items():
        tree = ast.parse(path.read_bytes(), str(path))
        found += imports_in(tree, name, path.name == "__init__.py", modules)
    return found


def unit_of(module: str, package: str) -> str:
    """The folder or top-level module of ``package`` that ``module`` belongs to."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def upward(imports: Iterable[Import], layers: Sequence[frozenset[str]], package: str) -> list[str]:
    """Each import that does not point to a lower layer, and each unit no layer places."""
    row = {unit: i for i, units in enumerate(layers) for unit in units}
    faults: list[str] = []
    for imp in imports:
        if not inside(imp.imported, package):
            continue
        src, dst = unit_of(imp.importer, package), unit_of(imp.imported, package)
        for unit in (src, dst):
            if unit not in row:
                faults.append(f"{imp}: {unit!r} is in no layer (place it in LAYERS)")
        if src != dst and src in row and dst in row and row[dst] <= row[src]:
            faults.append(f"{imp}: {src} may not import {dst} (a layer above or beside it)")
    return list(dict.fromkeys(faults))  # ``from x import a, b`` is one fault


def cycles(imports: Iterable[Import], package: str) -> list[list[str]]:
    """The package's import cycles: each strongly connected set of modules (Tarjan's)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        if inside(imp.imported, package) and imp.imported != imp.importer:
            graph.setdefault(imp.importer, set()).add(imp.imported)
            graph.setdefault(imp.imported, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:  # depth first; the package is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def impure(imports: Iterable[Import], pure: Iterable[str], package: str) -> list[str]:
    """Each import of an I/O library by a module of a pure unit."""
    pure = set(pure)
    return [
        f"{imp}: {unit_of(imp.importer, package)} is pure, {imp.imported} is I/O"
        for imp in imports
        if unit_of(imp.importer, package) in pure and imp.imported.split(".")[0] in IO_LIBRARIES
    ]


# --- fixuser ---------------------------------------------------------------------------------

IMPORTS = all_imports(PACKAGE_DIR, "fixuser")


def test_every_import_of_fixuser_points_to_a_lower_layer() -> None:
    faults = upward(IMPORTS, LAYERS, "fixuser")
    assert faults == [], "\n".join(faults)


def test_fixuser_has_no_import_cycle() -> None:
    found = {frozenset(cycle) for cycle in cycles(IMPORTS, "fixuser")}
    assert sorted(map(sorted, found - set(KNOWN_CYCLES))) == []
    assert sorted(map(sorted, set(KNOWN_CYCLES) - found)) == []  # gone: delete its entry


def test_pure_layers_import_no_io_library() -> None:
    faults = impure(IMPORTS, PURE, "fixuser")
    assert faults == [], "\n".join(faults)


def test_the_walk_sees_imports_inside_functions_and_relative_ones() -> None:
    # What the checks above rest on, seen in fixuser itself: main.py imports escape inside
    # a function, dockerfile/parse.py imports lex relatively or absolutely (either is found).
    arrows = {(imp.importer, imp.imported) for imp in IMPORTS}
    assert ("fixuser.main", "fixuser.escape") in arrows
    assert ("fixuser.dockerfile.parse", "fixuser.dockerfile.lex") in arrows
    assert len(IMPORTS) > 300


# --- the checker, on a package made to fail --------------------------------------------------

SYNTHETIC_LAYERS = (frozenset({"top"}), frozenset({"middle"}), frozenset({"bottom"}))


def write_package(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def test_an_upward_import_inside_a_function_is_reported(tmp_path: Path) -> None:
    root = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "top.py": "from pkg import middle\n",
            "middle/__init__.py": "",
            "middle/low.py": "from .. import bottom\n",  # relative, downward: fine
            "bottom.py": "def f():\n    from pkg.middle import low\n    return low\n",
        },
    )
    faults = upward(all_imports(root, "pkg"), SYNTHETIC_LAYERS, "pkg")
    assert faults == [
        "pkg.bottom:2 imports pkg.middle.low: bottom may not import middle"
        " (a layer above or beside it)"
    ]


def test_a_module_no_layer_places_is_reported(tmp_path: Path) -> None:
    root = write_package(tmp_path / "pkg", {"top.py": "import pkg.stray\n", "stray.py": ""})
    assert upward(all_imports(root, "pkg"), SYNTHETIC_LAYERS, "pkg") == [
        "pkg.top:1 imports pkg.stray: 'stray' is in no layer (place it in LAYERS)"
    ]


def test_a_cycle_through_a_relative_import_is_reported(tmp_path: Path) -> None:
    root = write_package(
        tmp_path / "pkg",
        {
            "__init__.py": "",
            "middle/__init__.py": "",
            "middle/a.py": "from . import b\n",
            "middle/b.py": "import importlib\nimportlib.import_module('pkg.middle.c')\n",
            "middle/c.py": "def f():\n    from pkg.middle.a import f\n",
            "bottom.py": "",
        },
    )
    imports = all_imports(root, "pkg")
    assert cycles(imports, "pkg") == [["pkg.middle.a", "pkg.middle.b", "pkg.middle.c"]]
    assert upward(imports, SYNTHETIC_LAYERS, "pkg") == []  # one unit: the cycle is all


def test_a_pure_module_importing_subprocess_is_reported(tmp_path: Path) -> None:
    root = write_package(
        tmp_path / "pkg",
        {
            "bottom.py": "import re\n\ndef run():\n    import subprocess\n",
            "top.py": "import subprocess\nfrom shutil import copyfile\n",  # not pure: fine
            "middle/x.py": "from git import Repo\n",
        },
    )
    faults = impure(all_imports(root, "pkg"), {"bottom", "middle"}, "pkg")
    assert faults == [
        "pkg.bottom:4 imports subprocess: bottom is pure, subprocess is I/O",
        "pkg.middle.x:1 imports git: middle is pure, git is I/O",
    ]
