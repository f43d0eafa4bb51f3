"""Parsing: lines kept with their endings, heredocs, escape directive, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixuser.core import check, fix
from fixuser.dockerfile import BLANK_RE, encode, has_double_less, parse, split_lines
from fixuser.model import DockerfileError
from fixuser.settings import Settings

BAD = Path(__file__).resolve().parent / "fixtures" / "bad"
BAD_FILES = sorted(p for p in BAD.iterdir() if p.name != "README")


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_input_raises_one_line_dockerfile_error(path: Path) -> None:
    with pytest.raises(DockerfileError) as info:
        parse(path.read_bytes())
    message = str(info.value)
    assert message and "\n" not in message


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_input_is_refused_by_check_and_fix_alike(path: Path) -> None:
    for run in (check, fix):
        with pytest.raises(DockerfileError):
            run(path.read_bytes(), Settings())


def test_round_trip_is_byte_identical() -> None:
    data = b"FROM a\r\nRUN x \\\r\n\ty\n# c\xe9\nCMD z"
    assert encode(parse(data).text()) == data


def test_does_not_split_on_unicode_line_separators() -> None:
    text = 'FROM a\nLABEL x="a\u2028b\x0bc"\n'
    assert split_lines(text) == ["FROM a\n", 'LABEL x="a\u2028b\x0bc"\n']


def test_does_not_change_crlf_and_detects_it_as_the_newline() -> None:
    parsed = parse(b"FROM a\r\nRUN b\r\nCMD c\r\n")
    assert parsed.newline == "\r\n"
    assert all(line.endswith("\r\n") for line in parsed.lines)


def test_mixed_endings_use_the_dominant_one() -> None:
    assert parse(b"FROM a\nRUN b\nCMD c\r\n").newline == "\n"


def test_heredoc_bodies_are_not_instructions() -> None:
    parsed = parse(b"FROM a\nRUN <<EOF\nUSER root\nFROM evil\nEOF\nCMD x\n")
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "CMD"]
    run = parsed.instructions[1]
    assert (run.start, run.end) == (1, 4)
    assert run.heredocs == ("USER root\nFROM evil\n",)


def test_dash_heredoc_closes_on_a_tab_indented_marker() -> None:
    parsed = parse(b"FROM a\nCOPY <<-EOT /x\n\thello\n\tEOT\nCMD x\n")
    assert [i.keyword for i in parsed.instructions] == ["FROM", "COPY", "CMD"]


def test_several_heredocs_on_one_instruction() -> None:
    parsed = parse(b"FROM a\nRUN <<A cat - <<B\na\nA\nb\nB\nCMD x\n")
    assert parsed.instructions[1].heredocs == ("a\n", "b\n")
    assert parsed.instructions[2].keyword == "CMD"


def test_quoted_heredoc_marker() -> None:
    parsed = parse(b"FROM a\nRUN <<'EOF'\necho $HOME\nEOF\n")
    assert parsed.instructions[1].heredocs == ("echo $HOME\n",)


def test_backtick_escape_directive() -> None:
    parsed = parse(b"# escape=`\nFROM a\nRUN x `\n  y\nCMD c:\\z\n")
    assert parsed.escape == "`"
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "CMD"]
    assert parsed.instructions[1].end == 3


def test_escape_directive_only_counts_at_the_top() -> None:
    assert parse(b"FROM a\n# escape=`\nRUN x\n").escape == "\\"


def test_comment_and_blank_lines_inside_a_continuation_do_not_end_it() -> None:
    parsed = parse(b"FROM a\nRUN x \\\n# note\n\n  && y\nCMD z\n")
    run = parsed.instructions[1]
    assert (run.start, run.end) == (1, 4)
    assert parsed.instructions[2].keyword == "CMD"


def test_a_continuation_dangling_at_the_end_of_the_file_is_accepted() -> None:
    parsed = parse(b"FROM a\nRUN x \\\n")
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN"]


def test_lower_case_keywords_are_recognised_and_remembered() -> None:
    parsed = parse(b"from a\nrun b\ncmd c\n")
    assert parsed.lower_case
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "CMD"]
    assert parsed.instructions[1].written == "run"


def test_latin1_bytes_survive_the_round_trip() -> None:
    data = 'FROM a\nLABEL who="Jos\u00e9"\n'.encode("latin-1")
    assert encode(parse(data).text()) == data


def test_a_utf8_bom_is_kept() -> None:
    data = b"\xef\xbb\xbfFROM a\nCMD b\n"
    parsed = parse(data)
    assert parsed.instructions[0].keyword == "FROM"
    assert encode(parsed.text()) == data


def test_arg_before_the_first_from_is_allowed() -> None:
    parsed = parse(b"ARG V=1\nFROM a:${V}\n")
    assert [i.keyword for i in parsed.instructions] == ["ARG", "FROM"]


@pytest.mark.parametrize("source", [b"FROM debian:12\nUSER \n", b"FROM \n", b"FROM a\nWORKDIR\n"])
def test_user_from_and_workdir_without_an_argument_are_refused_as_buildkit_does(
    source: bytes,
) -> None:
    with pytest.raises(DockerfileError, match="without an argument"):
        parse(source)


@given(st.text(alphabet="a \t\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029", max_size=12))
def test_lines_split_after_each_newline_only(text: str) -> None:
    pieces = text.split("\n")
    expected = [piece + "\n" for piece in pieces[:-1]] + ([pieces[-1]] if pieces[-1] else [])
    assert split_lines(text) == expected


@given(st.text(alphabet="<a\n", max_size=12))
def test_has_double_less_is_a_substring_test(text: str) -> None:
    assert has_double_less(text) == ("<<" in text)


@given(st.text(alphabet="\ufeff \t\r\n\x0bx", max_size=8))
def test_blank_means_only_bom_spaces_tabs_and_line_ends(text: str) -> None:
    assert bool(BLANK_RE.match(text)) == (not text.strip("\ufeff \t\r\n"))
