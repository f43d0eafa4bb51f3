"""Text from a repository stays data wherever fixuser writes it (issue 20, items 2-4).

Each guarantee is checked by what reads the output: dash runs the commands people paste, a
CommonMark parser (markdown-it-py, with GFM's tables, strikethrough and autolinks) reads the
Markdown, the GitHub Actions runner's rule (a line starting ``::``) reads the text output, and
a strict UTF-8 decoder and ``json.loads`` read the JSON reports.
"""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import jinja2
import pytest
from jinja2 import nodes
from markdown_it import MarkdownIt
from markdown_it.token import Token

from fixuser.branches import review
from fixuser.branches.batch_report import FileRecord, Record, to_json, to_markdown
from fixuser.branches.progress import Progress, print_summary
from fixuser.branches.repo import plan_repository, render_commit_message
from fixuser.escape import (
    UNSAFE,
    html_text,
    md_code,
    md_text,
    pasted_word,
    printable,
    utf8,
    utf8_data,
)
from fixuser.project.model import Mount
from fixuser.render import FILTERS, environment
from fixuser.settings import Settings
from testing.git import isolate_git, make_repo

UNSAFE_RE = re.compile(UNSAFE)
DASH = shutil.which("dash")
needs_dash = pytest.mark.skipif(DASH is None, reason="dash is not installed")

HOSTILE = [
    "x$(>pwned)",
    "a;>pwned b",
    "`>pwned`",
    "it's",
    "'",
    "",
    "-x",
    "a\nb",
    "ends in a newline\n",
    "\n\n",
    "a\n#b",
    "a\n```\n<img src=x>",
    "colour \x1b[31mred\x1b[0m",
    "carriage\rreturn",
    "not utf-8 \udcff\udcfe",
    "tab\there",
    "\x9bc1",
    "\u202eevil",
]


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    isolate_git(monkeypatch, tmp_path / "home")


# -- the helpers ---------------------------------------------------------------------------


@needs_dash
@pytest.mark.parametrize("text", HOSTILE)
def test_a_pasted_word_reaches_the_command_intact_and_runs_nothing(
    text: str, tmp_path: Path
) -> None:
    word = pasted_word(text)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    done = subprocess.run(
        [str(DASH), "-c", f"printf '%s' {word}"], cwd=cwd, capture_output=True, check=True
    )
    assert done.stdout == os.fsencode(text)
    assert list(cwd.iterdir()) == []  # no redirection ran: nothing was created
    # The command line itself is printable, and a line inside a word starts with a quote.
    assert UNSAFE_RE.search(word.replace("\n", "")) is None
    assert all(line.startswith("'") for line in word.split("\n")[1:])


@pytest.mark.parametrize("text", HOSTILE)
def test_printable_text_is_one_line_without_control_characters(text: str) -> None:
    shown = printable(text)
    assert UNSAFE_RE.search(shown) is None
    assert "\n" not in shown and "\r" not in shown
    shown.encode("utf-8")  # a byte that is not UTF-8 is written \xNN


def test_printable_shows_each_character_as_a_python_literal_would() -> None:
    assert printable("a\nb\r\x1b[0m\udcff\u202e") == "a\\nb\\r\\x1b[0m\\xff\\u202e"
    assert printable("plain/path é") == "plain/path é"
    assert utf8("Dockerfile.\udcff\n") == "Dockerfile.\\xff\n"  # JSON escapes the newline
    assert utf8_data({"k\udcff": ["\udcfe", 1, None]}) == {"k\\xff": ["\\xfe", 1, None]}


def markdown() -> MarkdownIt:
    """GitHub's Markdown as near as a parser here gets: CommonMark, tables, strikethrough,
    and autolinks of URLs (GitHub links ``www.`` and ``http(s)://`` without angle brackets)."""
    md = MarkdownIt("gfm-like")
    md.linkify.set({"fuzzy_link": False})
    return md


def walk(tokens: list[Token]) -> Iterator[Token]:
    for token in tokens:
        yield token
        yield from walk(token.children or [])


MENTION_RE = re.compile(r"(?<![\w`])@[A-Za-z0-9]")
# What a value from a repository must never become.
ACTIVE = {"link_open", "image", "html_inline", "html_block", "em_open", "strong_open", "s_open"}
NO_HTML = re.compile("(?!)")  # matches nothing
# fixuser's own bold lead-ins, in the documents it writes
OWN_STRONG = re.compile(
    r"For the reviewer:|Mounts the user must be able to write\.|Ports below 1024\."
    r"|run-time overrides|root|compliant|[a-z-]+"
)


def assert_inert(document: str, allowed_html: re.Pattern[str] | None = None) -> list[Token]:
    """No link, image, HTML (but ``allowed_html``), emphasis or mention in ``document``;
    in a whole document (``allowed_html`` given), fixuser's own bold lead-ins only."""
    tokens = list(walk(markdown().parse(document)))
    for n, token in enumerate(tokens):
        if token.type in ("html_block", "html_inline") and allowed_html is not None:
            assert allowed_html.fullmatch(token.content.strip()), token.content
            continue
        if token.type == "strong_open" and allowed_html is not None:
            assert OWN_STRONG.fullmatch(tokens[n + 1].content), tokens[n + 1].content
            continue
        assert token.type not in ACTIVE, (token.type, token.content, token.attrs)
        if token.type == "text":
            assert MENTION_RE.search(token.content) is None, token.content
    return tokens


MARKDOWN_HOSTILE = [
    *HOSTILE,
    "<img src=x onerror=alert(1)>",
    "[link](https://evil.example)",
    "![img](https://evil.example/x.png)",
    "@octocat please look",
    "mail me: someone@example.com",
    "see https://evil.example and www.evil.example",
    "``` and `code` and ``two``",
    "*bold* _em_ ~~gone~~ **strong**",
    "a | b | c",
    "# heading",
    "1. item",
    "- item",
    "> quote",
    "&lt;entity&gt; &amp;",
    "trailing backslash \\",
    "<https://evil.example>",
]


@pytest.mark.parametrize("text", MARKDOWN_HOSTILE)
def test_markdown_text_renders_as_exactly_the_text(text: str) -> None:
    tokens = assert_inert(f"- before {md_text(text)} after\n")
    assert not any(t.type in ("heading_open", "blockquote_open", "hr") for t in tokens)
    inline = [t for t in tokens if t.type == "text"]
    rendered = "".join(t.content for t in inline).replace("\u2060", "")
    assert rendered == f"before {printable(text)} after"


@pytest.mark.parametrize("text", MARKDOWN_HOSTILE)
def test_a_markdown_code_span_holds_exactly_the_text(text: str) -> None:
    cell = md_code(text).replace("|", "\\|")
    tokens = assert_inert(f"| name |\n| --- |\n| {cell} |\n")
    (code,) = [t for t in tokens if t.type == "code_inline"]
    assert code.content == (printable(text) if printable(text).strip(" ") else " ")
    tokens = assert_inert(f"### {md_code(text)}\n")
    (code,) = [t for t in tokens if t.type == "code_inline"]
    assert code.content == (printable(text) if printable(text).strip(" ") else " ")


def test_html_text_is_text_inside_html() -> None:
    shown = html_text('<img src=x> & "q" @octocat\n')
    assert shown == "&lt;img src=x&gt; &amp; &quot;q&quot; \u2060@\u2060octocat\\n"


# -- the review templates ------------------------------------------------------------------

REVIEW_TEMPLATES = ("commit-message.j2", "pull-request.md.j2", "_review.j2")
# What a review template may write unescaped: fixuser's own values.
OWN_NAMES = {"title", "indent", "image", "expect"}
OWN_ATTRIBUTES = {"uid", "port", "command"}  # numbers, and commands built with pasted_word
OWN_CALLS = {"count", "verify"}


def escaped(node: nodes.Node) -> bool:
    """Whether a value the template outputs is escaped, or is fixuser's own."""
    if isinstance(node, nodes.Const | nodes.TemplateData):
        return True
    if isinstance(node, nodes.Filter):
        if node.name in FILTERS:
            return True
        if node.name == "join" and node.node is not None:  # join over escaped items
            inner = node.node
            return isinstance(inner, nodes.Filter) and inner.name == "map" and bool(inner.args)
        return False
    if isinstance(node, nodes.CondExpr):
        return escaped(node.expr1) and (node.expr2 is None or escaped(node.expr2))
    if isinstance(node, nodes.Concat):
        return all(escaped(n) for n in node.nodes)
    if isinstance(node, nodes.Name):
        return node.name in OWN_NAMES
    if isinstance(node, nodes.Getattr):
        return node.attr in OWN_ATTRIBUTES
    if isinstance(node, nodes.Call) and isinstance(node.node, nodes.Name):
        return node.node.name in OWN_CALLS
    if isinstance(node, nodes.Mul):  # the underline: "-" * (its heading's shown length)
        return escaped(node.left)
    return False


@pytest.mark.parametrize("name", REVIEW_TEMPLATES)
def test_every_value_a_review_template_writes_is_escaped(name: str) -> None:
    env = environment()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, name)
    tree = env.parse(source)
    unescaped = [
        f"line {node.lineno}: {node}"
        for output in tree.find_all(nodes.Output)
        for node in output.nodes
        if not escaped(node)
    ]
    assert unescaped == []
    # and where a value is mapped before a join, it is mapped through an escaping filter
    for f in tree.find_all(nodes.Filter):
        if f.name == "map":
            assert isinstance(f.args[0], nodes.Const) and f.args[0].value in FILTERS


def test_the_template_lint_would_catch_an_unescaped_value() -> None:
    tree = jinja2.Environment().parse("{{ f.path }} {{ f.path|md }}")
    (output,) = tree.find_all(nodes.Output)
    values = [n for n in output.nodes if not isinstance(n, nodes.TemplateData)]
    assert [escaped(n) for n in values] == [False, True]


SERVICE = "web$(>pwned4)`<img src=x onerror=alert(1)>`@octocat[l](https://e.example)"
COMPOSE = (
    "services:\n"
    f"  {json.dumps(SERVICE)}:\n"
    "    build:\n"
    '      context: "sub$(>pwned7)"\n'
    "      target: 'x$(>pwned)'\n"
    "    volumes:\n"
    '      - "data$(>pwned5):/var/lib/data"\n'
    '      - "./h;>pwned6:/srv/h"\n'
    '  "a\\n::error::\\e[31m<b>svc</b>":\n'
    "    image: busybox\n"
    "    user: root\n"
    "volumes:\n"
    '  "data$(>pwned5)": {}\n'
)
HOSTILE_DOCKERFILE = (
    b'FROM debian:bookworm-slim AS x$(>pwned)\nRUN mkdir /var/lib/data\nCMD ["sleep", "1"]\n'
)
BRANCH = "fix$(>pwned8)"


@pytest.fixture
def hostile_repo(tmp_path: Path) -> Path:
    return make_repo(
        tmp_path / "repo",
        {"sub$(>pwned7)/Dockerfile": HOSTILE_DOCKERFILE, "compose.yaml": COMPOSE},
    )


def stub_bin(tmp_path: Path) -> tuple[Path, Path]:
    """docker, sudo and git that only write down their arguments, one call a record."""
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    for name in ("docker", "sudo", "git"):
        stub = bin_dir / name
        stub.write_text(
            f'#!/bin/sh\nprintf \'%s\\0\' {name} "$@" >> "$CALLS"\nprintf \'\\1\' >> "$CALLS"\n'
        )
        stub.chmod(0o755)
    return bin_dir, log


def run_pasted(script: str, tmp_path: Path) -> list[list[str]]:
    """Run what a reviewer pastes in dash; each call of docker, sudo or git, as argv."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    bin_dir, log = stub_bin(tmp_path)
    cwd = tmp_path / "paste"
    cwd.mkdir()
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CALLS": str(log)}
    subprocess.run([str(DASH), "-c", script], cwd=cwd, env=env, capture_output=True, check=False)
    assert sorted(p.name for p in cwd.iterdir()) == []  # no "pwned" file: nothing ran
    calls = log.read_bytes().split(b"\1")[:-1] if log.exists() else []
    return [[os.fsdecode(a) for a in call.split(b"\0")[:-1]] for call in calls]


def commands_of_commit_message(message: str) -> str:
    """The lines a reviewer pastes from the message: the indented mount commands and the
    Verify locally block (a value's own lines start with a quote)."""
    keep = []
    for line in message.splitlines():
        if line.startswith(("    ", "'")) and not line.startswith("    - "):
            keep.append(line.removeprefix("    "))
    return "\n".join(keep) + "\n"


def commands_of_markdown(document: str) -> str:
    return "".join(t.content for t in markdown().parse(document) if t.type == "fence")


EXPECTED_CALLS = [
    ["git", "fetch", "origin", BRANCH],
    ["git", "switch", BRANCH],
    [
        "docker",
        "build",
        "-f",
        "sub$(>pwned7)/Dockerfile",
        "--target",
        "x$(>pwned)",
        "-t",
        "fixuser-check-1",
        "sub$(>pwned7)",
    ],
]


@needs_dash
def test_the_commit_message_commands_run_nothing_and_pass_each_name_intact(
    hostile_repo: Path, tmp_path: Path
) -> None:
    plan = plan_repository(hostile_repo, Settings())
    message = render_commit_message(plan, branch=BRANCH)
    calls = run_pasted(commands_of_commit_message(message), tmp_path)
    assert EXPECTED_CALLS[1] in calls and EXPECTED_CALLS[2] in calls
    compose_run = [c for c in calls if c[:3] == ["docker", "compose", "run"]]
    assert compose_run == [
        [
            *("docker", "compose", "run", "--rm", "--no-deps", "--user", "0"),
            *("--entrypoint", "chown", SERVICE, "-R", "10001:10001", "/var/lib/data"),
        ]
    ]
    assert ["sudo", "chown", "-R", "10001:10001", "./h;>pwned6"] in calls


@needs_dash
def test_the_description_commands_run_nothing_and_pass_each_name_intact(
    hostile_repo: Path, tmp_path: Path
) -> None:
    plan = plan_repository(hostile_repo, Settings())
    body = review.description(plan.fixes, BRANCH, [o.text for o in plan.overrides])
    calls = run_pasted(commands_of_markdown(body), tmp_path)
    assert [c for c in calls if c[0] == "git" or c[1] == "build"] == EXPECTED_CALLS
    assert any(SERVICE in c for c in calls)
    assert ["sudo", "chown", "-R", "10001:10001", "./h;>pwned6"] in calls


@needs_dash
def test_a_volume_of_a_shell_less_image_and_an_unknown_uid_are_asked_for_not_guessed(
    tmp_path: Path,
) -> None:
    mount = Mount("app", "v$(>pwned)", "/data", "volume", "compose.yaml", 4)
    command = review.mount_command(mount, review.UNKNOWN_UID, shell_less=True)
    # Unset, the shell stops at the variable and runs nothing at all.
    assert run_pasted(command, tmp_path) == []
    env_calls = run_pasted(
        f"COMPOSE_PROJECT_NAME=proj APP_UID=1234 && {command}", tmp_path / "again"
    )
    assert env_calls == [
        [
            *("docker", "run", "--rm", "-v", "proj_v$(>pwned):/volume", "busybox"),
            *("chown", "-R", "1234", "/volume"),
        ]
    ]


@needs_dash
def test_pasted_commands_pass_control_characters_and_raw_bytes_intact(tmp_path: Path) -> None:
    name = "a\nb \x1b[31m\udcff"
    directory = tmp_path / "repo" / name
    directory.mkdir(parents=True)
    (directory / "Dockerfile").write_bytes(HOSTILE_DOCKERFILE)
    root = make_repo(tmp_path / "repo", {})
    plan = plan_repository(root, Settings())
    message = render_commit_message(plan, branch="b")
    message.encode("utf-8")  # a commit message is UTF-8, whatever the names
    assert UNSAFE_RE.search(message.replace("\n", "")) is None
    calls = run_pasted(commands_of_commit_message(message), tmp_path)
    build = next(c for c in calls if c[:2] == ["docker", "build"])
    assert build[2:4] == ["-f", f"{name}/Dockerfile"] and build[-1] == name


def test_the_description_renders_no_repository_text_as_markdown(hostile_repo: Path) -> None:
    plan = plan_repository(hostile_repo, Settings())
    body = review.description(plan.fixes, BRANCH, [o.text for o in plan.overrides])
    tokens = assert_inert(body, NO_HTML)
    # the names are there, as code
    codes = [t.content for t in tokens if t.type == "code_inline"]
    assert "sub$(>pwned7)/Dockerfile" in codes
    assert SERVICE in codes
    assert any("\\n::error::\\x1b[31m<b>svc</b>" in c for c in codes)


def test_the_commit_message_prints_no_control_character_from_a_name(hostile_repo: Path) -> None:
    plan = plan_repository(hostile_repo, Settings())
    message = render_commit_message(plan, branch=BRANCH)
    assert UNSAFE_RE.search(message.replace("\n", "")) is None
    assert not any(line.startswith("::") for line in message.splitlines())
    assert "\\n::error::\\x1b[31m<b>svc</b>" in message


# -- the batch report ----------------------------------------------------------------------

EVIL = "<img src=x onerror=alert(1)> [l](https://evil.example) @octocat `tick` *em*\n::error::x"


def hostile_records(description: str = "") -> list[Record]:
    files = (
        FileRecord(
            path=f"svc/{EVIL}/Dockerfile",
            verdict="root",
            family=EVIL,
            user=EVIL,
            warnings=(EVIL,),
            changed=True,
            reason=EVIL,
            targets=((EVIL, EVIL),),
        ),
    )
    return [
        Record(
            repo=EVIL,
            outcome="pushed",
            branch="fix|`x`",
            files=files,
            reason=EVIL,
            url="https://forge.example/o/r/pull/1",
            base_sha="a" * 40,
            commit_sha="b" * 40,
            overrides=(EVIL,),
            description=description,
        ),
        Record(repo="other", outcome="failed", reason=EVIL, url="javascript:alert(1)>"),
    ]


SUMMARY_HTML = re.compile(r"<details><summary>[^<>]*</summary>|</details>")


def test_the_batch_markdown_report_renders_no_repository_text_as_markdown(
    hostile_repo: Path,
) -> None:
    plan = plan_repository(hostile_repo, Settings())
    description = review.description(plan.fixes, BRANCH, [o.text for o in plan.overrides])
    document = to_markdown(hostile_records(description))
    tokens = list(walk(markdown().parse(document)))
    links = [t.attrs.get("href") for t in tokens if t.type == "link_open"]
    assert links == ["https://forge.example/o/r/pull/1"]  # the review's own address alone
    assert_inert(document.replace("<https://forge.example/o/r/pull/1>", ""), SUMMARY_HTML)
    cells = [t for t in tokens if t.type == "td_open"]
    assert len(cells) == 8  # two rows of four: no pipe from a name split a cell


def test_the_batch_json_report_is_utf8_whatever_the_names() -> None:
    records = [Record(repo="r", outcome="compliant", files=(FileRecord("Dockerfile.\udcff"),))]
    text = to_json(records)
    text.encode("utf-8")
    data = json.loads(text)
    assert data["repositories"][0]["files"][0]["path"] == "Dockerfile.\\xff"
    json.dumps(data, ensure_ascii=False).encode("utf-8")


def test_batch_progress_and_summary_print_each_repository_on_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    stream = io.StringIO()
    progress = Progress(1, stream)
    progress.update(Record(repo="r\n::error::x", outcome="failed", reason="\x1b[2J\n::warning::y"))
    assert stream.getvalue().count("\n") == 1
    assert UNSAFE_RE.search(stream.getvalue().rstrip("\n")) is None
    print_summary([Record(repo="r\n::error::x", outcome="failed", reason="a\rb")])
    out = capsys.readouterr().out
    assert not any(line.startswith("::") for line in out.splitlines())
    assert UNSAFE_RE.search(out.replace("\n", "")) is None


# -- text, annotations and JSON reports of check and fix -----------------------------------

NEWLINE_NAME = "Dockerfile.\n::error file=x::injected\x1b[31m\r"
ROOT = b'FROM debian:bookworm-slim\nCMD ["sleep", "1"]\n'


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    # A UTF-8 locale, as on a CI runner: Python's streams are strict there.
    env = {**os.environ, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": ""}
    return subprocess.run(
        [sys.executable, "-m", "fixuser", *args],
        cwd=cwd,
        capture_output=True,
        check=False,
        env=env,
    )


@pytest.fixture
def named(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    root.mkdir()
    (root / NEWLINE_NAME).write_bytes(ROOT)
    (root / os.fsdecode(b"Dockerfile.\xff")).write_bytes(ROOT)
    (root / "Dockerfile").write_bytes(ROOT)
    (root / "compose.yaml").write_text(
        'services:\n  "web\\n::warning::svc\\e]0;title\\a":\n    build: .\n    user: root\n'
    )
    return root


OWN_ANNOTATION = re.compile(r"::(error|warning) file=[^,]*,line=\d+,title=[A-Z0-9.-]+::.*")


@pytest.mark.parametrize(
    "args", [("check", "--format", "github"), ("check",), ("fix", "--diff"), ("fix",)]
)
def test_no_output_line_of_a_name_is_a_workflow_command(args: tuple[str, ...], named: Path) -> None:
    done = cli(*args, ".", cwd=named)
    assert done.returncode == 1, done.stderr
    lines = [*done.stdout.decode("utf-8").split("\n"), *done.stderr.decode("utf-8").split("\n")]
    commands = [line for line in lines if line.startswith("::")]
    if "github" in args:
        assert len(commands) == 4 and all(OWN_ANNOTATION.fullmatch(c) for c in commands)
    else:
        assert commands == []
    for line in lines:
        body = line.startswith((" ", "@", "+", "-")) and not line.startswith(("+++ ", "--- "))
        if body and "--diff" in args:
            continue  # the diff's body is the Dockerfile's own text
        assert UNSAFE_RE.search(line) is None, line


@pytest.mark.parametrize("fmt", ["json", "sarif", "gitlab"])
def test_json_reports_are_utf8_for_a_name_that_is_not(fmt: str, named: Path) -> None:
    done = cli("check", "--format", fmt, ".", cwd=named)
    assert done.returncode == 1, done.stderr
    data = json.loads(done.stdout.decode("utf-8"))
    text = json.dumps(data, ensure_ascii=False)
    text.encode("utf-8")  # no lone surrogate anywhere
    assert "Dockerfile.\\\\xff" in text  # the byte, as the text output shows it
    assert "\\\\xff" in json.dumps(data)


def test_text_output_shows_a_byte_that_is_not_utf8_as_json_does(named: Path) -> None:
    done = cli("check", ".", cwd=named)
    assert "Dockerfile.\\xff: root" in done.stdout.decode("utf-8")
