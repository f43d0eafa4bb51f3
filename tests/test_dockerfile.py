"""Parsing: lines kept with their endings, heredocs, escape directive, bad input refused."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fixuser.core import check, fix
from fixuser.dockerfile.parse import BLANK_RE, encode, has_double_less, parse, split_lines
from fixuser.model import DockerfileError, Verdict
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


# BuildKit's parser (PyPI ``dockerfile``) decides which lines are an instruction's own.
buildkit = pytest.importorskip("dockerfile")

HEREDOC_CASES = [
    "RUN <<EOF\nUSER root\nEOF\n",
    "RUN cat<<EOF\nUSER root\nCMD EOF\n",  # cat<<EOF is one word: no heredoc
    'RUN echo "<<EOF"\nUSER root\nCMD EOF\n',
    "RUN echo '<<EOF' && true\nUSER root\n",
    "RUN echo \\<<EOF\nUSER root\n",
    "RUN 2<<EOF cat\nUSER root\nEOF\n",
    'RUN <<"EOF" cat\nUSER $HOME\nEOF\n',
    "RUN <<'EOF' cat\nUSER root\nEOF\n",
    "RUN <<-EOF cat\n\tUSER root\n\tEOF\n",
    "RUN <<E\\OF cat\nUSER root\nEOF\n",
    "RUN a=<<EOF cat\nUSER root\n",
    "RUN <<EOF<<EOG cat\nUSER root\n",
    "RUN <<A cat && cat <<B\nUSER a\nA\nUSER b\nB\nUSER c\n",
    'RUN ["sh", "-c", "cat <<EOF"]\nUSER root\nCMD EOF\n',
    "RUN --mount=type=cache,target=/x <<EOF\nUSER root\nEOF\n",
    "COPY <<EOF /etc/x\nUSER root\nEOF\n",
    "ADD <<EOF /etc/x\nUSER root\nEOF\n",
    "ONBUILD RUN <<EOF\nUSER root\nEOF\n",
    "CMD <<EOF\nUSER root\n",  # only RUN, COPY and ADD take heredocs
    "RUN echo \\\n  <<EOF\nUSER root\nEOF\n",
    "RUN echo\\\n<<EOF\nUSER root\n",  # the continuation joins them into echo<<EOF
    "RUN <<EOF cat ${A\nUSER root\n",  # BuildKit's lexer fails on the line: no heredoc
    'RUN <<EOF cat "${A:-<<X}"\nUSER root\nEOF\n',
    "RUN <<EOF cat\nUSER root\n  EOF\nEOF\n",
]


@pytest.mark.parametrize("body", HEREDOC_CASES)
def test_heredocs_are_the_words_buildkit_lexes_as_heredocs(body: str) -> None:
    source = "FROM debian:12\n" + body
    theirs = buildkit.parse_string(source)
    ours = parse(source.encode()).instructions
    assert [(i.start + 1, i.end + 1) for i in ours] == [(c.start_line, c.end_line) for c in theirs]
    assert [i.heredocs for i in ours if i.keyword != "ONBUILD"] == [
        tuple(h.content for h in c.heredocs) for c in theirs if c.cmd != "ONBUILD"
    ]


def test_a_quoted_heredoc_marker_opens_nothing_that_must_be_closed() -> None:
    parsed = parse(b'FROM debian:12\nRUN echo "<<EOT"\nCMD ["run"]\n')
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN", "CMD"]


def test_a_quoted_heredoc_marker_hides_no_later_user_root() -> None:
    source = b'FROM debian:12\nUSER app\nRUN echo "<<EOF"\nUSER root\nRUN <<EOF\necho hi\nEOF\n'
    found = check(source, Settings())
    assert found.verdict is Verdict.ROOT
    assert found.user == "root (line 4)"


def test_whitespace_after_the_heredoc_operator_is_allowed_as_in_dockerfile_1_16() -> None:
    # moby/buildkit 0b77373ab (dockerfile 1.16): "<< EOF" is a heredoc. The PyPI parser wraps
    # an older BuildKit, which reads the body as instructions (and the build then fails).
    parsed = parse(b"FROM debian:12\nRUN cat << EOF\nUSER root\nEOF\n")
    assert [i.keyword for i in parsed.instructions] == ["FROM", "RUN"]
    assert parsed.instructions[1].heredocs == ("USER root\n",)


def test_a_line_ending_in_two_escapes_does_not_continue() -> None:
    # BuildKit (dockerfile 1.10+): an escaped escape at the end of a line is no continuation.
    source = b"FROM debian:12\nRUN echo \\\\\nUSER app\n"
    assert [c.cmd for c in buildkit.parse_string(source.decode())] == ["FROM", "RUN", "USER"]
    assert [i.keyword for i in parse(source).instructions] == ["FROM", "RUN", "USER"]
    assert check(source, Settings()).verdict is Verdict.COMPLIANT


def test_a_run_ending_in_two_escapes_at_the_end_of_the_file_keeps_running_as_root() -> None:
    source = b"FROM debian:12\nRUN echo \\\\"
    output = fix(source, Settings()).output.decode()
    commands = buildkit.parse_string(output)
    assert [c.cmd for c in commands][-2:] == ["RUN", "USER"]
    assert commands[-2].value == ("echo \\\\",)


def test_a_json_array_of_anything_but_strings_is_refused_as_buildkit_refuses_it() -> None:
    with pytest.raises(DockerfileError, match="line 2: CMD: a JSON array must hold strings"):
        parse(b'FROM debian:12\nCMD ["echo", 1]\n')


@pytest.mark.parametrize("keyword", ["CMD", "ENTRYPOINT", "RUN", "COPY"])
def test_a_json_array_nested_past_pythons_depth_is_no_crash(keyword: str) -> None:
    # Go's decoder refuses it (depth 10,000), so BuildKit runs the shell form; Python's json
    # raises RecursionError, which must not escape as a crash (exit 3).
    source = f"FROM debian:12\n{keyword} {'[' * 5000}\n".encode()
    check(source, Settings())
    fix(source, Settings())
