"""What README.md and docs/*.md show, held to the real command line.

Everything is read out of the Markdown with a CommonMark parser (markdown-it-py, GFM tables on),
never listed by hand, so a command, flag or exit code added to the docs is picked up here:

- every ``fixuser ...`` command they show (shell and console blocks, ``run:``/``script:`` lines
  and the action's inputs in YAML blocks, code spans) parses with fixuser's own argparse parser;
- every flag of an option table exists on the sub-command its section is about;
- the commands that can run here run, on a copy of samples/, and exit as the docs say;
- every code of the README's exit-code table comes out of a real scenario;
- the README's set-up command prints the samples' diff in a fresh clone.
"""

from __future__ import annotations

import argparse
import contextlib
import glob
import io
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pexpect
import pytest
import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from fixuser.main import COMMANDS, build_parser, chosen_command
from testing.git import ROOT_DOCKERFILE, branches, commit_all, git, isolate_git, make_repo

ROOT = Path(__file__).resolve().parents[1]
MARKDOWN = MarkdownIt("commonmark").enable("table")

SHELLS = {"sh", "shell", "bash", "zsh"}
CONSOLES = {"console", "shell-session"}  # commands follow a `$ ` prompt; the rest is output
YAMLS = {"yaml", "yml"}
SCRIPT_KEYS = {"run", "script"}  # GitHub Actions steps, GitLab CI jobs

# What fixuser prints or commits as, shown in a code span: not a command.
NOT_A_COMMAND = re.compile(r"fixuser (<[^>]*@[^>]*>|\d+(\.\d+)+)")
EXPRESSION = re.compile(r"\$\{\{.*?\}\}")  # a GitHub Actions expression: one placeholder
MARK = "\x01"  # where an expression stood, so the shell splitting keeps it one word
SHELL_VARIABLE = re.compile(r"\$(\{\w+\}|\w+)")
CAPITALS = re.compile(r"\[?[A-Z][A-Z0-9_]*(/[A-Z][A-Z0-9_]*)*(\.\.\.)?\]?")  # PATH..., [PATH], K/N
REMOTE = re.compile(r"^([a-z+]+://(?!/)|[\w.-]+@[\w.-]+:)")  # a URL or scp-style address
OPERATOR = set("();<>|&")
FD_NUMBER = re.compile(r"(?<=\s)\d+(?=[<>])")  # the 2 of 2>/dev/null


# --- the Markdown ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    name: str
    lines: list[str]
    tokens: list[Token]

    @classmethod
    def read(cls, name: str, text: str) -> Page:
        return cls(name, text.splitlines(), MARKDOWN.parse(text))


def documents() -> list[Page]:
    paths = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return [Page.read(p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")) for p in paths]


def code_spans(inline: Token) -> list[str]:
    return [c.content for c in inline.children or [] if c.type == "code_inline"]


def span_lines(page: Page, inline: Token) -> Iterator[tuple[int, str]]:
    """Each code span of an inline token, with the line it starts on (1-based)."""
    first = inline.map[0] if inline.map else 0
    text = "\n".join(page.lines[first : inline.map[1] if inline.map else first + 1])
    cursor = 0
    for content in code_spans(inline):
        # The source holds the span with its line breaks, and `\|` inside a table cell.
        words = [re.escape(w).replace(r"\|", r"\\?\|") for w in content.split()]
        found = re.compile(r"(`+) *" + r"\s+".join(words) + r" *\1").search(text, cursor)
        if found is not None:
            cursor = found.end()
        yield first + 1 + text.count("\n", 0, found.start() if found else cursor), content


# --- commands --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A fixuser command the docs show: its arguments as a shell splits them."""

    where: str  # FILE:LINE
    text: str
    words: tuple[str, ...]
    # shell: a command line; fragment: `fix --diff` in a sentence; image: `docker run ...
    # fixuser ARGS`; action: the inputs of a step that uses fixuser's GitHub Action
    via: str

    @property
    def placeholders(self) -> list[str]:
        return [w.replace(MARK, "${{ }}") for w in self.words if is_placeholder(w)]

    @property
    def argv(self) -> list[str]:
        """The arguments, each placeholder given a value (placeholders are arguments)."""
        return [value_of(w) for w in self.words]

    @property
    def command(self) -> str | None:
        return chosen_command(self.argv)


def is_placeholder(word: str) -> bool:
    return bool(
        MARK in word
        or SHELL_VARIABLE.search(word)
        or CAPITALS.fullmatch(word)
        or ("<" in word and ">" in word)  # 'Name <email>'
    )


def value_of(word: str) -> str:
    if CAPITALS.fullmatch(word):
        return re.sub(r"[A-Z][A-Z0-9_]*", "1", word.strip("[]").removesuffix("..."))
    return SHELL_VARIABLE.sub("1", word.replace(MARK, "1"))


def segments(line: str) -> list[list[str]]:
    """The simple commands of a shell line (split at |, &&, ||, ;), redirections left out."""
    line = FD_NUMBER.sub(" ", EXPRESSION.sub(MARK, line))
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    found: list[list[str]] = [[]]
    redirected = False
    for token in lexer:
        if token and set(token) <= OPERATOR:
            redirected = "<" in token or ">" in token
            if not redirected:
                found.append([])
        elif redirected:
            redirected = False  # the file a redirection names is no argument
        else:
            found[-1].append(token)
    return [words for words in found if words]


def fixuser_words(words: Sequence[str]) -> tuple[str, list[str]] | None:
    """fixuser's arguments in a simple command, and how it is run; None for other programs."""
    words = list(words)
    while words and re.fullmatch(r"\w+=.*", words[0]):  # VAR=value fixuser ...
        words.pop(0)
    if not words:
        return None
    program = Path(words[0]).name
    if program == "fixuser":  # fixuser, .venv/bin/fixuser
        return "shell", words[1:]
    if re.fullmatch(r"python[\d.]*", program) and words[1:3] == ["-m", "fixuser"]:
        return "shell", words[3:]
    if program in ("docker", "podman") and words[1:2] == ["run"] and "fixuser" in words[2:]:
        return "image", words[words.index("fixuser", 2) + 1 :]  # the image its Dockerfile builds
    return None


def logical_lines(lines: Sequence[str], first: int) -> Iterator[tuple[int, str]]:
    """Lines joined where they end in a backslash, each with the number of its first line."""
    pending, start = "", first
    for number, line in enumerate(lines, first):
        if not pending:
            start = number
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        yield start, pending + line
        pending = ""
    if pending:
        yield start, pending


def console_input(lines: Sequence[str]) -> list[str]:
    """What follows a `$ ` prompt (and its continuations); output lines become blank."""
    kept: list[str] = []
    for line in lines:
        if kept and kept[-1].endswith("\\"):
            kept.append(line.removeprefix("> "))
        else:
            kept.append(line[2:] if line.startswith("$ ") else "")
    return kept


@cache
def own_action() -> tuple[str, dict[str, str]]:
    """The name a workflow `uses:` fixuser's action by (the project's GitHub repository), and
    the defaults of its inputs (action.yml)."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = project["urls"]["Homepage"].removeprefix("https://github.com/")
    inputs = yaml.safe_load((ROOT / "action.yml").read_text())["inputs"]
    return name, {key: str(value.get("default", "")) for key, value in inputs.items()}


def scalar_lines(node: yaml.Node) -> list[tuple[int, str]]:
    """(line within the block, text) of a script: a string or a list of strings."""
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    found = []
    for item in items:
        if isinstance(item, yaml.ScalarNode):
            # a literal block's text starts on the line after its `|`
            start = item.start_mark.line + (1 if item.style == "|" else 0)
            found += list(logical_lines(str(item.value).splitlines(), start))
    return found


def yaml_lines(content: str) -> list[tuple[int, str]]:
    """The shell lines of a YAML example (0-based line within it): every run: and script:,
    and `fixuser COMMAND ARGS PATHS` for a step that uses fixuser's action, as action.yml
    runs it."""
    name, defaults = own_action()
    found: list[tuple[int, str]] = []
    pending: list[yaml.Node] = [yaml.compose(content, Loader=yaml.SafeLoader)]
    while pending:
        node = pending.pop()
        if isinstance(node, yaml.SequenceNode):
            pending += node.value
        if not isinstance(node, yaml.MappingNode):
            continue
        keys = {k.value: v for k, v in node.value if isinstance(k, yaml.ScalarNode)}
        for key in SCRIPT_KEYS & keys.keys():
            found += scalar_lines(keys[key])
        uses = keys.get("uses")
        if isinstance(uses, yaml.ScalarNode) and str(uses.value).startswith(f"{name}@"):
            given = yaml.safe_load(yaml.serialize(keys["with"])) if "with" in keys else {}
            inputs = {**defaults, **{k: str(v) for k, v in (given or {}).items()}}
            line = " ".join(["fixuser", inputs["command"], inputs["args"], inputs["paths"]])
            found.append((uses.start_mark.line, "\0" + line))  # \0: the action's
        pending += [v for _, v in node.value]
    return sorted(found)


def fence_commands(page: Page, fence: Token) -> list[Shown]:
    lang = fence.info.split()[0].lower() if fence.info.strip() else ""
    first = (fence.map[0] if fence.map else 0) + 2  # the block's first line, 1-based
    lines = fence.content.splitlines()
    if lang in SHELLS or lang in CONSOLES:
        found = list(logical_lines(console_input(lines) if lang in CONSOLES else lines, first))
    elif lang in YAMLS:
        found = [(first + n, text) for n, text in yaml_lines(fence.content)]
    else:
        return []  # diff, toml, json, output: no commands
    shown = []
    for number, text in found:
        for words in segments(text.lstrip("\0")):
            run = fixuser_words(words)
            if run is not None:
                via = "action" if text.startswith("\0") else run[0]
                shown.append(Shown(f"{page.name}:{number}", text.lstrip("\0"), (*run[1],), via))
    return shown


def span_commands(page: Page, inline: Token) -> list[Shown]:
    shown = []
    for number, content in span_lines(page, inline):
        words = content.split() or [""]
        if content == "fixuser" or (
            content.startswith("fixuser ") and not NOT_A_COMMAND.fullmatch(content)
        ):
            via, text = "shell", content
        elif words[0] in COMMANDS and len(words) > 1 and words[1].startswith("-"):
            via, text = "fragment", f"fixuser {content}"  # `fix --diff` in a sentence
        else:
            continue
        for split in segments(text)[:1]:
            shown.append(Shown(f"{page.name}:{number}", content, (*split[1:],), via))
    return shown


def commands_shown(pages: Sequence[Page]) -> list[Shown]:
    shown: list[Shown] = []
    for page in pages:
        for token in page.tokens:
            try:
                if token.type == "fence":
                    shown += fence_commands(page, token)
                elif token.type == "inline":
                    shown += span_commands(page, token)
            except (yaml.YAMLError, ValueError) as e:  # YAML that is not, a quote left open
                where = f"{page.name}:{token.map[0] + 1 if token.map else 0}"
                shown.append(Shown(where, f"cannot be read: {e}", (), "unreadable"))
    return shown


# --- option tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TableFlag:
    where: str
    flag: str
    choices: tuple[str, ...]  # the values shown as a|b|c
    commands: tuple[str, ...]  # it must be an option of one of these; (): of any


def commands_named(span: str) -> set[str]:
    """The sub-commands a code span names: `fixuser fix --commit`, `fixuser` (the session),
    `audit --users`; "" for the program itself (`fixuser --version`)."""
    words = span.split()
    if not words:
        return set()
    if words[0] == "fixuser":
        if len(words) == 1:
            return {"interactive"}
        return {words[1]} if words[1] in COMMANDS else {""} if words[1].startswith("-") else set()
    return {words[0]} if words[0] in COMMANDS and span.startswith(f"{words[0]} -") else set()


def flags_in(span: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    """(flag, the values shown as a|b) for each flag of a span such as `--format text|json`."""
    words = span.split()
    for i, word in enumerate(words):
        if word.startswith("-") and word != "-":
            flag, _, value = word.partition("=")
            if not value and i + 1 < len(words) and not words[i + 1].startswith("-"):
                value = words[i + 1]
            yield flag, tuple(value.split("|")) if "|" in value else ()


def row_flags(page: Page, cells: list[Token], section: set[str]) -> Iterator[TableFlag]:
    """An option row (its first cell a `--flag`) is about the section's sub-command; a row of
    the commands table (its first cell `fixuser X`) is about X, and so are the flags in its
    other cells."""
    first = code_spans(cells[0])
    if first and first[0].startswith("-"):
        spans, commands = [(cells[0], s) for s in first], section
    else:
        commands = set().union(*map(commands_named, first)) if first else set()
        if not commands or not first[0].startswith("fixuser"):
            return
        spans = [(c, s) for c in cells[1:] for s in code_spans(c) if s.startswith("--")]
    for cell, span in spans:
        number = next(n for n, s in span_lines(page, cell) if s == span)
        for flag, choices in flags_in(span):
            yield TableFlag(f"{page.name}:{number}", flag, choices, tuple(sorted(commands)))


def table_flags(pages: Sequence[Page]) -> list[TableFlag]:
    found: list[TableFlag] = []
    for page in pages:
        headings: list[tuple[int, set[str]]] = []  # the section: each heading's level, names
        cells: list[Token] = []
        in_head = False
        for i, token in enumerate(page.tokens):
            if token.type == "heading_open":
                level = int(token.tag[1:])
                headings = [h for h in headings if h[0] < level]
                headings.append(
                    (level, set().union(*map(commands_named, code_spans(page.tokens[i + 1]))))
                )
            elif token.type in ("thead_open", "thead_close"):
                in_head = token.type == "thead_open"
            elif token.type == "tr_open":
                cells = []
            elif (
                token.type == "inline"
                and token.level > 0
                and page.tokens[i - 1].type in ("th_open", "td_open")
            ):
                cells.append(token)
            elif token.type == "tr_close" and not in_head and cells:
                section = next((names for _, names in reversed(headings) if names), set())
                found += row_flags(page, cells, section)
    return found


# --- the README's exit codes -----------------------------------------------------------------


def section(page: Page, title: str) -> list[Token]:
    """The tokens under the heading whose text is ``title``, to the next heading as high."""
    for i, token in enumerate(page.tokens):
        if token.type == "heading_open" and page.tokens[i + 1].content.strip() == title:
            level = token.tag
            end = next(
                (j for j in range(i + 1, len(page.tokens))
                 if page.tokens[j].type == "heading_open" and page.tokens[j].tag <= level),
                len(page.tokens),
            )  # fmt: skip
            return page.tokens[i + 3 : end]
    raise AssertionError(f"{page.name} has no section {title!r}")


def table_rows(tokens: Sequence[Token]) -> list[list[Token]]:
    rows: list[list[Token]] = []
    for i, token in enumerate(tokens):
        if token.type == "tr_open":
            rows.append([])
        elif token.type == "inline" and tokens[i - 1].type in ("th_open", "td_open"):
            rows[-1].append(token)
    return rows


@cache
def exit_codes() -> dict[int, str]:
    """The README's exit-code table: code -> meaning (its Markdown)."""
    readme = PAGES[0]
    header, *rows = table_rows(section(readme, "Exit codes"))
    assert [c.content for c in header] == ["code", "meaning"], header
    return {int(code.content): meaning.content for code, meaning in rows}


# `(`check`, `fix --diff`)`: the commands a code is given for. A code given for no command in
# such a list (2, 3, 130) is every command's.
COMMAND_LIST = re.compile(r"\((`[^`]+`(?:,\s*`[^`]+`)*)\)")


def documented_codes(argv: Sequence[str]) -> set[int]:
    """The codes the README gives the command: those whose list names it (`fix` for every fix;
    `fix --diff` when the flag is there too) and those of every command."""
    command, flags = chosen_command(argv), {w for w in argv if w.startswith("-")}
    codes, named = set(), False
    for code, meaning in exit_codes().items():
        lists = COMMAND_LIST.findall(meaning)
        if not lists:
            codes.add(code)
        for name, *with_flags in (m.split() for m in re.findall(r"`([^`]+)`", " ".join(lists))):
            named |= name == command
            if name == command and set(with_flags) <= flags:
                codes.add(code)
    assert named, f"the README's exit-code table gives no code for `fixuser {command}`"
    return codes


# --- fixuser's parsers -----------------------------------------------------------------------


@cache
def command_parser(name: str) -> argparse.ArgumentParser:
    """The parser of a sub-command ("": the program's own, with --version)."""
    top = build_parser(name or None)
    if not name:
        return top
    (sub,) = [a for a in top._actions if isinstance(a, argparse._SubParsersAction)]
    parser: argparse.ArgumentParser = sub.choices[name]
    return parser


def parse(argv: Sequence[str]) -> tuple[argparse.Namespace | None, str]:
    """fixuser's own parsing, as main.dispatch does it: the namespace, or argparse's error."""
    parser = build_parser(chosen_command(argv))
    said = io.StringIO()
    try:
        with contextlib.redirect_stderr(said), contextlib.redirect_stdout(io.StringIO()):
            return parser.parse_args(argv), ""
    except SystemExit as e:  # --version exits 0 once it has printed
        return None, "" if not e.code else said.getvalue().strip().splitlines()[-1]


def positionals(command: str, namespace: argparse.Namespace) -> list[str]:
    values: list[str] = []
    for action in command_parser(command)._actions:
        if not action.option_strings and not isinstance(action, argparse._SubParsersAction):
            value = getattr(namespace, action.dest)
            values += (
                [str(v) for v in value]
                if isinstance(value, list)
                else []
                if value is None
                else [str(value)]
            )
    return values


PAGES = documents()
SHOWN = commands_shown(PAGES)
FLAGS = table_flags(PAGES)


def test_the_docs_show_every_sub_command_and_the_reader_finds_their_flags() -> None:
    # The reader below works: it finds every sub-command fixuser has, and option tables.
    assert {s.command for s in SHOWN} >= set(COMMANDS)
    assert FLAGS and any(f.commands for f in FLAGS) and any(f.choices for f in FLAGS)


# --- the reader, on Markdown of its own ------------------------------------------------------

EXAMPLE = """\
# Example

```sh
fixuser check --format json . | jq .   # a comment
cd repo && .venv/bin/fixuser fix \\
  --diff samples/ 2>/dev/null
python3 -m fixuser --version > out.txt
docker run --rm -v "$PWD:/src" --user "$(id -u)" fixuser fix --diff
pipx install fixuser
```

```console
$ fixuser fix --commit
fixuser check is output here
```

```yaml
steps:
  - run: fixuser batch --shard ${{ matrix.shard }}/4 --report shard-${{ matrix.shard }}.json
  - uses: OWN@v1
    with:
      args: --target prod
job:
  script:
    - fixuser check --format gitlab > report.json
```

```toml
command = "fixuser check"
```

```yaml
run: [unclosed
```

Run `fixuser verify [PATH...]`, `fix --author 'Name <email>'`, as `fixuser <fixuser@localhost>`;
`fixuser --version` prints `fixuser 0.1.0`.

## `fixuser fix --commit`

| flag | meaning |
| --- | --- |
| `--branch NAME` | x |
| `--format a\\|b` | y |
"""


def test_the_reader_finds_each_command_with_its_line_and_placeholders() -> None:
    page = Page.read("x.md", EXAMPLE.replace("OWN", own_action()[0]))
    found = [(s.where, s.via, s.argv, s.placeholders) for s in commands_shown([page])]
    assert found == [
        ("x.md:4", "shell", ["check", "--format", "json", "."], []),
        ("x.md:5", "shell", ["fix", "--diff", "samples/"], []),
        ("x.md:7", "shell", ["--version"], []),
        ("x.md:8", "image", ["fix", "--diff"], []),
        ("x.md:13", "shell", ["fix", "--commit"], []),
        ("x.md:19", "shell", ["batch", "--shard", "1/4", "--report", "shard-1.json"],
         ["${{ }}/4", "shard-${{ }}.json"]),
        ("x.md:20", "action", ["check", "--target", "prod"], []),
        ("x.md:25", "shell", ["check", "--format", "gitlab"], []),
        ("x.md:32", "unreadable", [], []),
        ("x.md:36", "shell", ["verify", "1"], ["[PATH...]"]),
        ("x.md:36", "fragment", ["fix", "--author", "Name <email>"], ["Name <email>"]),
        ("x.md:37", "shell", ["--version"], []),
        ("x.md:39", "shell", ["fix", "--commit"], []),  # the heading
    ]  # fmt: skip
    flags = [(f.where, f.flag, f.choices, f.commands) for f in table_flags([page])]
    assert flags == [
        ("x.md:43", "--branch", (), ("fix",)),
        ("x.md:44", "--format", ("a", "b"), ("fix",)),
    ]


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (["check", "--no-such-flag"], "unrecognized arguments: --no-such-flag"),
        (["check", "--format", "xml"], "invalid choice: 'xml'"),
        (["chek", "."], "invalid choice: 'chek'"),
    ],
)
def test_a_flag_or_value_fixuser_does_not_have_is_an_error(argv: list[str], error: str) -> None:
    assert error in parse(argv)[1]


# --- every command parses --------------------------------------------------------------------


@pytest.mark.parametrize("shown", SHOWN, ids=[f"{s.where} {s.text}" for s in SHOWN])
def test_every_command_the_docs_show_parses_with_fixusers_own_parser(shown: Shown) -> None:
    assert shown.via != "unreadable", f"{shown.where}: {shown.text}"
    if shown.argv in ([name] for name in COMMANDS):
        return  # `fixuser batch-report` names the command (its reports are required to run it)
    _, error = parse(shown.argv)
    assert not error, f"{shown.where}: `{shown.text}`: {error}"


# --- every flag of an option table exists where the table puts it ----------------------------


def option(command: str, flag: str) -> argparse.Action | None:
    return command_parser(command)._option_string_actions.get(flag)


@pytest.mark.parametrize("flag", FLAGS, ids=[f"{f.where} {f.flag}" for f in FLAGS])
def test_every_flag_of_an_option_table_exists_on_the_command_it_is_shown_for(
    flag: TableFlag,
) -> None:
    commands = flag.commands or tuple(COMMANDS)
    actions = {c: a for c in commands if (a := option(c, flag.flag)) is not None}
    assert actions, f"{flag.where}: {flag.flag} is not an option of fixuser {' or '.join(commands)}"
    for command, action in actions.items():
        if flag.choices and action.choices is not None:
            wrong = [c for c in flag.choices if c not in action.choices]
            assert not wrong, f"{flag.where}: fixuser {command} {flag.flag} takes no {wrong}"
        if flag.choices:
            assert action.nargs != 0, f"{flag.where}: {flag.flag} takes no value"


# --- the commands that can run here run ------------------------------------------------------

# Each command shown runs, unless why_only_parsed() says why it is only parsed. What runs, runs
# in a copy of samples/ (with the repository's own Dockerfile, which docs/ci.md checks)
# committed to a fresh git repository, so `fix` rewrites the copy and `fix --commit` makes its
# branch there.
WORKSPACE = ("samples", "Dockerfile")
ENGINE_TESTS = "engine-marked tests/test_verify.py, tests/test_fix_verify.py"


def why_only_parsed(shown: Shown) -> str | None:
    """Why a command is only parsed (None: it runs): the first reason that applies."""
    command, argv = shown.command, shown.argv
    namespace, _ = parse(argv)
    if shown.via != "shell":
        return {
            "fragment": "a fragment of a sentence, not a command line",
            "image": "fixuser in its own image: tests/test_own_image.py builds and runs it",
            "action": "a step of the GitHub Action: tests/test_action.py runs action.yml",
            "unreadable": "the parse test fails on it",
        }[shown.via]
    if shown.placeholders:
        return "its placeholders stand for the reader's own values"
    if command is None:
        if "--version" in argv:
            return None
        return "the interactive session needs a terminal: the exit-130 scenario runs it"
    if command == "interactive":
        return "the interactive session needs a terminal: the exit-130 scenario runs it"
    if command == "audit":
        return "audits running containers (engine-marked tests/test_audit.py)"
    if command == "verify" or "--verify" in argv:
        return f"builds images: needs a container engine ({ENGINE_TESTS})"
    if "--open-pr" in argv or any(REMOTE.match(w) for w in argv):
        return "clones, pushes or opens pull requests over the network"
    if command == "fix" and "--push" in argv:
        return "pushes to the repository's remote (tests/test_repo.py pushes to a local one)"
    if namespace is None:
        return "names the command only"  # `fixuser batch-report`: its reports are required
    if command == "batch" and not (namespace.repos_file or "-" in namespace.repos):
        return "names no repository"
    if command != "batch-report":  # the reports it merges are written for real before it runs
        for path in positionals(command, namespace):
            if path not in (".", "-") and not in_workspace(path):
                return f"{path} is not in a copy of samples/"
    return None


def in_workspace(path: str) -> bool:
    parts = Path(path).parts
    return bool(parts) and parts[0] in WORKSPACE and bool(glob.glob(str(ROOT / path)))


# A bug (3) and an interrupt (130) are every command's codes, but only a planted bug or a signal
# makes them (the scenarios below): a command run as the docs show it never ends so.
ONLY_PROVOKED = {3, 130}
RUNNABLE = [s for s in SHOWN if why_only_parsed(s) is None]
# A command shown in several places runs once, for all of them.
RUNS: dict[tuple[str, ...], list[Shown]] = {}
for _shown in RUNNABLE:
    RUNS.setdefault(tuple(_shown.argv), []).append(_shown)


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No git configuration, cache or forge token of the developer's reaches fixuser."""
    isolate_git(monkeypatch, tmp_path / "home")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    for name in ("GITHUB_TOKEN", "GITLAB_TOKEN", "FIXUSER_GITHUB_API", "FIXUSER_GITLAB_API"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def workspace(tmp: Path) -> Path:
    work = tmp / "work"
    work.mkdir()
    for name in WORKSPACE:
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, work / name, symlinks=True)
        else:
            shutil.copy2(ROOT / name, work / name)
    git(work, "init", "-q", "-b", "main")
    commit_all(work, "samples")
    return work


def bare_repository(tmp: Path) -> Path:
    """A local repository for `batch`: the README's debian-basic sample, cloned bare."""
    sample = ROOT / "samples" / "debian-basic"
    source = make_repo(tmp / "app", {p.name: p.read_bytes() for p in sample.iterdir()})
    git(tmp, "clone", "-q", "--bare", str(source), str(tmp / "app.git"))
    return tmp / "app.git"


def fixuser(
    argv: Sequence[str], cwd: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *argv],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        timeout=600,
    )


def prepare(shown: Shown, work: Path) -> tuple[list[str], bytes]:
    """The arguments as a shell in the workspace passes them (globs expanded), and stdin. The
    files a batch command reads are made for real: its list of repositories names a local bare
    repository, the reports batch-report merges are written by a batch run over it."""
    argv, stdin = shown.argv, b""
    namespace, _ = parse(argv)
    if namespace is None:  # --version
        return argv, stdin
    if shown.command in ("batch", "batch-report"):
        repository = str(bare_repository(work.parent))
        if getattr(namespace, "repos_file", None) and not (work / namespace.repos_file).exists():
            (work / namespace.repos_file).write_text(repository + "\n")
        if shown.command == "batch-report":
            for report in namespace.reports:
                if not glob.glob(str(work / report)):
                    made = fixuser(
                        ["batch", "--dry-run", "--report", report.replace("*", "1"), repository],
                        work,
                    )
                    assert made.returncode == 0, made.stderr.decode()
        stdin = f"{repository}\n".encode()
    if "-" in positionals(shown.command or "", namespace) and shown.command == "fix":
        stdin = (work / "samples" / "debian-basic" / "Dockerfile").read_bytes()
    expanded = [sorted(glob.glob(w, root_dir=work)) if glob.has_magic(w) else [w] for w in argv]
    return [w for words in expanded for w in words], stdin


@pytest.mark.parametrize(
    "shown", [g[0] for g in RUNS.values()], ids=[g[0].where for g in RUNS.values()]
)
def test_the_commands_that_can_run_here_exit_as_the_docs_say(shown: Shown, isolated: Path) -> None:
    where = ", ".join(s.where for s in RUNS[tuple(shown.argv)])
    work = workspace(isolated)
    argv, stdin = prepare(shown, work)
    proc = fixuser(argv, work, stdin)
    said = proc.stderr.decode(errors="replace")
    assert "Traceback" not in said, f"{where}: `{shown.text}` crashed:\n{said}"
    codes = {0} if shown.command is None else documented_codes(shown.argv) - ONLY_PROVOKED
    assert proc.returncode in codes, (
        f"{where}: `{shown.text}` exited {proc.returncode}, the README gives "
        f"{sorted(codes)} for it:\n{said[-2000:]}"
    )


def test_what_runs_includes_check_fix_fix_stdin_batch_batch_report_and_version() -> None:
    # Without this, a change to the reader that ran nothing would pass the test above.
    ran = {(s.command, "-" in s.argv) for s in RUNNABLE}
    expected = {("check", False), ("fix", False), ("fix", True), ("batch", False)}
    assert expected | {("batch-report", False), (None, False)} <= ran


def printed() -> list[tuple[Shown, str]]:
    """Rows of a commands table that say what a command prints: `fixuser X` | prints `Y`."""
    found = []
    for page in PAGES:
        for cells in table_rows(page.tokens):
            said = re.fullmatch(r"prints `([^`]+)`", cells[-1].content.strip())
            if said and len(cells) > 1:
                found += [(shown, said.group(1)) for shown in span_commands(page, cells[0])]
    return found


@pytest.mark.parametrize(("shown", "output"), printed(), ids=[s.where for s, _ in printed()])
def test_a_command_the_docs_say_prints_something_prints_it(
    shown: Shown, output: str, tmp_path: Path
) -> None:
    proc = fixuser(shown.argv, tmp_path)
    assert (proc.returncode, proc.stdout.decode().strip()) == (0, output), shown.where


# --- every exit code of the README's table has a scenario ------------------------------------


def exits_0(tmp: Path) -> int:
    """check of a compliant sample."""
    return fixuser(["check", str(ROOT / "samples" / "already-nonroot")], tmp).returncode


def exits_1(tmp: Path) -> int:
    """check of a sample that runs as root."""
    return fixuser(["check", str(ROOT / "samples" / "debian-basic")], tmp).returncode


def exits_2(tmp: Path) -> int:
    """check of a file that is not a Dockerfile: one line naming it."""
    (tmp / "Dockerfile").write_bytes(b"\x00\x01\x02 binary data\n")
    proc = fixuser(["check", "Dockerfile"], tmp)
    assert proc.stderr.decode().splitlines()[0].startswith("Dockerfile: "), proc.stderr
    return proc.returncode


def exits_3(tmp: Path) -> int:
    """A bug planted in a subprocess, as tests/test_cli.py plants one: here the check command's
    own run() raises, wherever its module lives (main.COMMANDS says)."""
    (tmp / "Dockerfile").write_bytes(ROOT_DOCKERFILE)
    planted = (
        "import importlib, sys\n"
        "from fixuser.main import COMMANDS, entry\n"
        "def run(args):\n"
        "    raise RuntimeError('planted bug')\n"
        "importlib.import_module(COMMANDS['check'][0]).run = run\n"
        "sys.argv = ['fixuser', 'check', '.']\n"
        "entry()\n"
    )
    proc = subprocess.run([sys.executable, "-c", planted], cwd=tmp, capture_output=True)
    assert "RuntimeError: planted bug" in proc.stderr.decode()
    return proc.returncode


def exits_130(tmp: Path) -> int:
    """A SIGINT sent to `fixuser` (the interactive session, on a pseudo-terminal) while it waits
    at a question: nothing half-written stays behind. It is sent at the user-name question, a
    text prompt: at the first question (a checkbox) prompt_toolkit swallows a SIGINT from
    outside, though the Ctrl-C key works there (tests/test_session.py)."""
    repo = make_repo(tmp / "repo", {"Dockerfile": ROOT_DOCKERFILE})
    before = git(repo, "rev-parse", "HEAD")
    env = {**os.environ, "TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1"}
    child = pexpect.spawn(
        sys.executable, ["-m", "fixuser"], cwd=str(repo), env=env, encoding="utf-8", timeout=30
    )
    try:
        child.expect_exact("Which Dockerfiles")
        child.send("\r")
        child.expect_exact("User name")
        child.kill(signal.SIGINT)
        child.expect(pexpect.EOF)
    finally:
        child.close(force=True)
    assert (branches(repo), git(repo, "rev-parse", "HEAD")) == (["main"], before)
    assert git(repo, "status", "--porcelain") == ""
    status: int = child.exitstatus
    return status


SCENARIOS = {0: exits_0, 1: exits_1, 2: exits_2, 3: exits_3, 130: exits_130}


@pytest.mark.parametrize("code", sorted(exit_codes()))
def test_every_exit_code_of_the_readme_comes_out_of_a_real_scenario(
    code: int, isolated: Path
) -> None:
    scenario = SCENARIOS.get(code)
    assert scenario is not None, f"exit code {code} is documented but no scenario produces it"
    work = isolated / "scenario"
    work.mkdir()
    assert scenario(work) == code


def test_every_scenario_is_a_code_of_the_readme() -> None:
    undocumented = set(SCENARIOS) - set(exit_codes())
    assert not undocumented, f"exit codes {sorted(undocumented)} happen but the README omits them"


# --- the README's set-up --------------------------------------------------------------------


def test_the_readme_sets_up_with_two_commands_the_first_printing_a_diff_in_a_fresh_clone(
    isolated: Path,
) -> None:
    readme = PAGES[0]
    fences = [t for t in section(readme, "Set up") if t.type == "fence"]
    lines = [
        [text for _, text in logical_lines(f.content.splitlines(), 0) if text.strip()]
        for f in fences
    ]
    assert [len(f) for f in lines] == [1, 1], "Set up shows two commands, one a block"
    main_job, tests = (segments(f[0]) for f in lines)
    # one runs the tests
    assert tests[-1][1:] == ["-m", "pytest"], tests
    # the other sets up a virtual environment, then runs the main job on the samples
    *set_up, job = main_job
    assert [w[1:3] for w in set_up] == [["-m", "venv"], ["install", "-q"]], set_up
    run = fixuser_words(job)
    assert run is not None and Path(job[0]).name == "fixuser", job

    # A fresh clone of HEAD. The venv and pip steps are replaced by this interpreter's
    # `-m fixuser` (installing takes minutes); the clone's own fixuser/ is the one imported.
    clone = isolated / "clone"
    head = git(ROOT, "rev-parse", "HEAD").strip()
    git(isolated, "clone", "-q", "--no-checkout", str(ROOT), str(clone))
    git(clone, "checkout", "-q", "--detach", head)
    env = {**os.environ, "PYTHONPATH": str(clone)}
    where = subprocess.run(
        [sys.executable, "-c", "import fixuser; print(fixuser.__file__)"],
        cwd=clone, env=env, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert Path(where.strip()).is_relative_to(clone), where
    proc = subprocess.run(
        [sys.executable, "-m", "fixuser", *run[1]], cwd=clone, env=env, capture_output=True
    )
    assert proc.returncode == 1, proc.stderr
    diff = proc.stdout.decode(errors="replace")  # samples/latin1-bytes is not UTF-8
    assert re.search(r"^--- a/samples/.*\n\+\+\+ b/samples/.*\n@@ ", diff, re.M), diff[:2000]
    assert git(clone, "status", "--porcelain") == "", "the set-up command wrote something"
