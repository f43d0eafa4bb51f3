"""Every sample in samples/: fix gives the expected bytes, a second fix changes nothing, and
check gives the verdict its README states."""

from __future__ import annotations

import itertools
import subprocess
from pathlib import Path

import pytest

from fixuser.core import check, fix, fixes_role
from fixuser.knowledge import families as family_table
from fixuser.model import Verdict
from fixuser.render import render
from testing.preserve import missing_lines
from testing.samples import SAMPLE_LIST, SAMPLES, SETTINGS, Sample, ids, load

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"


def test_there_are_enough_samples_and_each_has_one_readme_line() -> None:
    assert len(SAMPLE_LIST) >= 35
    for sample in SAMPLE_LIST:
        assert len((sample.folder / "README").read_text().splitlines()) == 1, sample.name


def test_samples_cover_every_family() -> None:
    families = {check(s.source, SETTINGS, context=s.context()).family for s in SAMPLE_LIST}
    assert set(family_table.families()) <= families


def test_samples_cover_every_verdict() -> None:
    assert {s.verdict for s in SAMPLE_LIST} == set(Verdict)


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_fix_gives_the_expected_bytes(sample: Sample) -> None:
    result = fix(sample.source, sample.settings, path=str(sample.folder), context=sample.context())
    assert result.output == sample.expected
    assert result.changed == (sample.expected != sample.source)
    assert {e.path: e.data for e in result.extra_files} == sample.extras


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_fixing_the_expected_output_changes_nothing(sample: Sample) -> None:
    for context in (sample.context(fixed=True), sample.context()):  # the wrapper, or not
        result = fix(sample.expected, sample.settings, context=context)
        assert result.output == sample.expected
        assert not result.changed
        assert result.extra_files == ()


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_check_of_the_expected_output_is_not_root(sample: Sample) -> None:
    analysis = check(sample.expected, sample.settings, context=sample.context(fixed=True))
    if not fixes_role(analysis.role, sample.settings):  # left as it is, a note
        assert sample.expected == sample.source
        return
    assert analysis.verdict is not Verdict.ROOT
    if sample.settings.strategy == "entrypoint" and sample.expected != sample.source:
        # PID 1 ends as the user, by the wrapper: the verdict of gosu and su-exec
        assert analysis.verdict is Verdict.DROPS_PRIVILEGES, analysis
        assert "fixuser's wrapper" in analysis.reason
    elif sample.verdict is Verdict.ROOT:
        assert analysis.verdict is Verdict.COMPLIANT, analysis


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_check_of_the_input_gives_the_readme_verdict(sample: Sample) -> None:
    analysis = check(sample.source, sample.settings, context=sample.context())
    assert analysis.verdict is sample.verdict, analysis.reason


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_only_root_samples_change(sample: Sample) -> None:
    # --strategy entrypoint also fixes a stage that needs root only to prepare at start
    prepares = sample.settings.strategy == "entrypoint" and sample.verdict is Verdict.NEEDS_ROOT
    # a role fix leaves alone (a tool, an artifact; a test without --roles test) stays root
    role = check(sample.source, sample.settings, context=sample.context()).role
    fixed = fixes_role(role, sample.settings)
    assert (sample.expected != sample.source) == (
        (sample.verdict is Verdict.ROOT and fixed) or prepares
    )


@pytest.mark.parametrize("sample", SAMPLE_LIST, ids=ids)
def test_every_input_line_survives_byte_for_byte(sample: Sample) -> None:
    assert missing_lines(sample.source, sample.expected) == []


def test_crlf_line_endings_survive_on_every_line() -> None:
    for name in ("crlf", "windows-escape-backtick"):
        sample = load(SAMPLES / name)
        assert sample.expected != sample.source
        lines = sample.expected.splitlines(keepends=True)
        assert all(line.endswith(b"\r\n") for line in lines), name


def test_lf_files_get_no_cr() -> None:
    for sample in SAMPLE_LIST:
        if b"\r" not in sample.source:
            assert b"\r" not in sample.expected, sample.name


def test_latin1_bytes_survive() -> None:
    sample = load(SAMPLES / "latin1-bytes")
    for line in sample.source.splitlines(keepends=True):
        assert line in sample.expected.splitlines(keepends=True)
    with pytest.raises(UnicodeDecodeError):
        sample.expected.decode("utf-8")


def test_no_trailing_newline_is_not_added_to_an_untouched_last_line() -> None:
    sample = load(SAMPLES / "no-trailing-newline")
    assert not sample.source.endswith(b"\n")
    assert sample.expected.endswith(sample.source.splitlines()[-1])


def test_escape_directive_is_used_in_inserted_continuations() -> None:
    source = b"# escape=`\nFROM debian:12\nRUN a\nCMD b\n"
    out = fix(source, SETTINGS).output.decode()
    assert "app `\n && useradd" in out
    assert "\\\n" not in out


# --- templates ---------------------------------------------------------------------------

TEMPLATE_FILES = sorted(p.name for p in TEMPLATES.glob("*.sh.j2"))
# The templates of the families without a POSIX shell: the USER alone, no RUN.
SHELL_LESS = {f.template for f in family_table.families().values() if not f.posix_shell}


def test_every_family_has_a_template_file() -> None:
    assert {f.template for f in family_table.families().values()} <= set(TEMPLATE_FILES)


def shell_of(rendered: str, esc: str) -> str:
    """The shell command of a rendered RUN block, continuations joined."""
    body = rendered.replace(f"{esc}\n", "").strip()
    first, _, rest = body.partition(" ")
    assert first in ("RUN", "run"), rendered
    return rest


@pytest.mark.parametrize(
    ("template", "openshift", "dirs", "esc", "lower"),
    [
        combination
        for combination in itertools.product(
            TEMPLATE_FILES, (False, True), ([], ["/app", "/srv/data"]), ("\\", "`"), (False, True)
        )
        # writable.sh.j2 is only ever rendered with directories
        if combination[0] != "writable.sh.j2" or combination[2]
    ],
)
def test_every_template_renders_valid_sh(
    template: str, openshift: bool, dirs: list[str], esc: str, lower: bool
) -> None:
    kw = {k: k.lower() if lower else k for k in ("RUN", "USER")}
    text = render(
        template,
        kw=kw,
        esc=esc,
        user="app",
        uid=10001,
        gid=0 if openshift else 10001,
        owner="10001:0" if openshift else "10001:10001",
        openshift=openshift,
        dirs=dirs,
        home="/home/app",
    ).strip("\n")
    if template in SHELL_LESS:
        assert text == ""
        return
    assert "10001" in text
    assert text.startswith(kw["RUN"] + " ")
    for line in text.splitlines()[:-1]:
        assert line.endswith(f" {esc}"), line
    if dirs:
        assert "chown" in text and "/srv/data" in text
    if openshift:
        assert "gid 10001" not in text and "-g 10001" not in text
    command = shell_of(text + "\n", esc)
    subprocess.run(["sh", "-n", "-c", command], check=True)
