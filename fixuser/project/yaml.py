"""YAML as the readers read it: PyYAML's composer, whose nodes carry line marks, and helpers
that walk those nodes tolerantly (a missing key, a list where a mapping was expected: None or
empty, never an error).

Scalars are taken as written: compose reads YAML 1.2, where ``22:22`` and ``0:0`` are strings,
not PyYAML's YAML 1.1 sexagesimal integers; only null and the merge key are resolved. PyYAML
itself is imported only when a YAML file is read: check should start fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

if TYPE_CHECKING:
    from yaml.nodes import MappingNode, Node, ScalarNode

    from fixuser.project.model import Found

NULL_TAG = "tag:yaml.org,2002:null"
MERGE_TAG = "tag:yaml.org,2002:merge"
TRUE = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"})
FALSE = frozenset({"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"})


def load_yaml(path: str, text: str, found: Found, what: str = "YAML") -> list[Node]:
    """The documents of ``text`` as nodes; a note, and the documents before it, on an error."""
    import yaml  # only when a YAML context file is found: check should start fast

    documents: list[Node] = []
    try:
        for document in yaml.compose_all(text, Loader=loader()):
            if document is not None:
                documents.append(document)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
        problem = getattr(error, "problem", None) or str(error).splitlines()[0]
        line = mark.line + 1 if mark is not None else 0
        found.note(path, line, f"not valid {what}, skipped: {problem}")
    except RecursionError:
        found.note(path, 0, f"{what} nested too deeply, skipped")
    return documents


STR_TAG = "tag:yaml.org,2002:str"
NULLS = frozenset({"", "~", "null", "Null", "NULL"})
LOADER: list[type] = []


def loader() -> type:
    """PyYAML's safe loader (libyaml's when there), resolving only what this module reads by
    tag: null and the merge key. Every other plain scalar stays a string as written, which
    also spares the resolver's regexes (a fifth of the time of a busy repository)."""
    if LOADER:
        return LOADER[0]
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):  # type: ignore[valid-type,misc]
        def resolve(self, kind: type, value: object, implicit: tuple[bool, bool]) -> str:
            if kind is yaml.ScalarNode and implicit[0]:
                return NULL_TAG if value in NULLS else MERGE_TAG if value == "<<" else STR_TAG
            return str(super().resolve(kind, value, implicit))

    LOADER.append(Loader)
    return Loader


def node_kind(node: Node | None) -> str:
    """ "mapping", "sequence" or "scalar" (the stubs do not declare a node's ``id``)."""
    return str(getattr(node, "id", ""))


def is_mapping(node: Node | None) -> bool:
    return node_kind(node) == "mapping"


def is_sequence(node: Node | None) -> bool:
    return node_kind(node) == "sequence"


def is_scalar(node: Node | None) -> bool:
    return node_kind(node) == "scalar"


def line_of(node: Node) -> int:
    return int(node.start_mark.line) + 1


CACHE = "_fixuser_entries"


def entries(node: Node | None, depth: int = 0) -> dict[str, tuple[Node, Node]]:
    """A mapping node's entries by key as written, ``<<`` merge keys flattened (the mapping's
    own keys win, then the earlier merged mapping, as YAML's merge does); {} for anything
    that is not a mapping."""
    if node is None or not is_mapping(node) or depth > 8:
        return {}
    cached: dict[str, tuple[Node, Node]] | None = getattr(node, CACHE, None)
    if cached is not None:
        return cached
    own: dict[str, tuple[Node, Node]] = {}
    merged: dict[str, tuple[Node, Node]] = {}
    for key, value in cast("MappingNode", node).value:
        if not is_scalar(key):
            continue
        if key.tag == MERGE_TAG:
            sources = value.value if is_sequence(value) else [value]
            for source in sources:
                for name, entry in entries(source, depth + 1).items():
                    merged.setdefault(name, entry)
        else:
            own[cast("ScalarNode", key).value] = (key, value)
    result = {**merged, **own} if merged else own
    setattr(node, CACHE, result)  # readers look the same keys up again and again
    return result


def get(node: Node | None, *keys: str) -> Node | None:
    for key in keys:
        entry = entries(node).get(key)
        if entry is None:
            return None
        node = entry[1]
    return node


def items(node: Node | None) -> list[Node]:
    if node is None or not is_sequence(node):
        return []
    return list(node.value)


def scalar(node: Node | None) -> str | None:
    """A scalar's text as written (quotes removed), None for null or a collection."""
    if node is None or not is_scalar(node) or node.tag == NULL_TAG:
        return None
    return str(cast("ScalarNode", node).value)


def scalars(node: Node | None) -> list[str]:
    """A sequence of scalars (or one scalar), nested sequences flattened (GitLab's scripts)."""
    if node is not None and is_sequence(node):
        return [text for item in items(node) for text in scalars(item)]
    text = scalar(node)
    return [] if text is None else [text]


def script_lines(node: Node) -> list[tuple[int, str]]:
    """A scalar holding shell text as (line number, line): a ``|`` block's text begins on the
    line after its indicator (a ``>`` block is folded, so its lines are approximate)."""
    text = scalar(node)
    if text is None:
        return []
    first = line_of(node) + (1 if cast("ScalarNode", node).style in ("|", ">") else 0)
    return [(first + n, line) for n, line in enumerate(text.split("\n"))]


def script_items(node: Node | None) -> list[tuple[int, str]]:
    """Every line of a scalar or a (nested) sequence of scalars of shell text."""
    if node is None:
        return []
    if is_sequence(node):
        return [line for item in items(node) for line in script_items(item)]
    return script_lines(node)
