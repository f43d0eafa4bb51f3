"""Properties over generated Dockerfiles: fix never crashes, its output parses with BuildKit's
parser, keeps every input line and instruction in order, is idempotent, and checks as not
root."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from fixuser.core import check, fix, fixes_role
from fixuser.model import DockerfileError, FixRefused, FixResult, Verdict
from fixuser.settings import Settings
from testing.preserve import as_text, missing_instructions, missing_lines

dockerfile = pytest.importorskip("dockerfile")

BASES = [
    "debian:12",
    "docker.io/library/debian:bookworm-slim",
    "ubuntu:24.04",
    "alpine:3.20",
    "busybox:latest",
    "registry.access.redhat.com/ubi9/ubi-minimal",
    "opensuse/leap:15.6",
    "archlinux:latest",
    "gcr.io/distroless/static-debian12",
    "gcr.io/distroless/static-debian12:nonroot",
    "scratch",
    "node:20",
    "mcr.microsoft.com/dotnet/aspnet:8.0",
    "registry.example.com/base:1",
    "${BASE}",
]
USERS = ["root", "0", "root:root", "0:0", "app", "1000", "1000:1000", "node", "${U}", "$U"]
PATHS = ["/app", "/srv/data", "/usr/local/bin/", "/tmp", "data", ".", "/opt/svc/", "/etc/x.conf"]
WORDS = st.sampled_from(["echo", "hi", "apt-get", "update", "apk", "add", "x", "&&", "true"])
NAMES = st.sampled_from(["A", "B", "U", "BASE", "APP_HOME"])
VALUES = st.sampled_from(["1", "root", "app", "/app", "debian:12", "x y"])


@st.composite
def run_instruction(draw: st.DrawFn) -> list[str]:
    kind = draw(st.sampled_from(["plain", "continued", "heredoc"]))
    words = " ".join(draw(st.lists(WORDS, min_size=1, max_size=4)))
    if kind == "plain":
        return [f"RUN {words}"]
    if kind == "continued":
        lines = [f"RUN {words} \\"]
        if draw(st.booleans()):
            lines.append("# a comment inside the continuation")
        lines.append(f"  && {' '.join(draw(st.lists(WORDS, min_size=1, max_size=3)))}")
        return lines
    body = draw(
        st.lists(st.sampled_from(["set -e", "USER root", "FROM evil", "echo ok"]), max_size=3)
    )
    return ["RUN <<EOF", *body, "EOF"]


@st.composite
def instruction(draw: st.DrawFn) -> list[str]:
    kind = draw(
        st.sampled_from(
            ["ARG", "ENV", "USER", "RUN", "COPY", "WORKDIR", "VOLUME", "EXPOSE", "CMD", "#", ""]
        )
    )
    if kind == "RUN":
        return draw(run_instruction())
    if kind in ("ARG", "ENV"):
        return [f'{kind} {draw(NAMES)}="{draw(VALUES)}"']
    if kind == "USER":
        return [f"USER {draw(st.sampled_from(USERS))}"]
    if kind == "COPY":
        chown = draw(st.sampled_from(["", "--chown=1:1 ", "--from=s0 "]))
        return [
            f"COPY {chown}{draw(st.sampled_from(['a', 'src/', '.']))} "
            f"{draw(st.sampled_from(PATHS))}"
        ]
    if kind == "WORKDIR":
        return [f"WORKDIR {draw(st.sampled_from(PATHS))}"]
    if kind == "VOLUME":
        return [f"VOLUME {draw(st.sampled_from(['/data', '/app/data', '/var/lib/x']))}"]
    if kind == "EXPOSE":
        return [f"EXPOSE {draw(st.sampled_from(['80', '8080', '443/tcp']))}"]
    if kind == "CMD":
        return [draw(st.sampled_from(['CMD ["run"]', "CMD run --now"]))]
    if kind == "#":
        return [draw(st.sampled_from(["# comment", "# fixuser: ignore", "#"]))]
    return [""]


def lower_keyword(item: list[str]) -> list[str]:
    """The instruction with its keyword in lower case (heredoc bodies left alone)."""
    first, _, rest = item[0].partition(" ")
    if not first.isupper():
        return item
    return [f"{first.lower()} {rest}".rstrip(" ") if rest else first.lower(), *item[1:]]


@st.composite
def dockerfiles(draw: st.DrawFn) -> bytes:
    items: list[list[str]] = []
    if draw(st.booleans()):
        items.append([f"ARG BASE={draw(st.sampled_from(BASES[:-1]))}"])
    for index in range(draw(st.integers(1, 3))):
        choices = BASES + [f"s{i}" for i in range(index)]
        items.append([f"FROM {draw(st.sampled_from(choices))} AS s{index}"])
        items.extend(draw(st.lists(instruction(), max_size=8)))
    if draw(st.booleans()):
        items = [lower_keyword(item) for item in items]
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(line for item in items for line in item)
    if draw(st.booleans()):
        text += newline
    return text.encode()


# About 10 s at 200; FIXUSER_EXAMPLES=5000 for a thorough hunt.
EXAMPLES = int(os.environ.get("FIXUSER_EXAMPLES", "200"))
PROPERTY = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


def fixed(source: bytes, options: Settings) -> FixResult:
    """fix(), where declining is a valid answer: a value of the file the fix would write that
    no Dockerfile word can hold (an earlier USER holding a blank) is refused in one line
    (FixRefused, exit 2); such an input proves nothing about the properties below."""
    try:
        return fix(source, options)
    except FixRefused:
        assume(False)
        raise


@PROPERTY
@given(dockerfiles())
def test_fix_never_crashes_and_keeps_every_line_in_order(source: bytes) -> None:
    result = fixed(source, Settings())
    assert missing_lines(source, result.output) == []


@PROPERTY
@given(dockerfiles())
def test_output_parses_with_buildkit_keeping_the_instructions_in_order(source: bytes) -> None:
    output = fixed(source, Settings()).output
    assert missing_instructions(dockerfile, as_text(source), as_text(output)) == []


@PROPERTY
@given(dockerfiles())
def test_fix_is_idempotent(source: bytes) -> None:
    once = fixed(source, Settings()).output
    assert fixed(once, Settings()).output == once


@PROPERTY
@given(dockerfiles())
def test_check_of_the_output_is_not_root(source: bytes) -> None:
    output = fixed(source, Settings()).output
    assert not_root_unless_left(output, Settings())


def not_root_unless_left(output: bytes, settings: Settings) -> bool:
    """The output is not root, unless its role is one fix leaves alone (an artifact: a last
    stage FROM scratch without CMD; a test image), which it then left as it was."""
    analysis = check(output, settings)
    return analysis.verdict is not Verdict.ROOT or not fixes_role(analysis.role, settings)


@PROPERTY
@given(dockerfiles(), st.sampled_from(["numeric", "name"]), st.booleans())
def test_settings_variants_stay_idempotent_and_non_root(
    source: bytes, user_format: str, openshift: bool
) -> None:
    options = Settings(user_format=user_format, openshift=openshift)  # type: ignore[arg-type]
    once = fixed(source, options).output
    assert fixed(once, options).output == once
    assert not_root_unless_left(once, options)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    """A generated Dockerfile cut short, or with random bytes spliced in."""
    source = draw(dockerfiles())
    cut = draw(st.integers(0, len(source)))
    junk = draw(st.binary(max_size=12))
    return source[:cut] + junk if draw(st.booleans()) else source[:cut]


@PROPERTY
@given(st.one_of(damaged(), st.binary(max_size=200), st.text(max_size=200).map(str.encode)))
def test_arbitrary_input_either_fixes_or_raises_dockerfile_error(source: bytes) -> None:
    try:
        once = fix(source, Settings()).output
    except DockerfileError:
        return
    assert fix(once, Settings()).output == once
