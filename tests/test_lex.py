"""BuildKit's shell lexer, as fixuser.dockerfile.lex reads it: the cases below are the rules of
moby/buildkit frontend/dockerfile/shell/lex.go (ProcessWord, ProcessWords), one per rule."""

from __future__ import annotations

import pytest

from fixuser.dockerfile import lex

ENV = {"HOME": "/home", "SHELL": "bash", "NULL": "", "U": "app", "PATH_": "a/b/c.tar.gz"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello", "hello"),
        ("he'll'o", "hello"),
        ("he\\'llo", "he'llo"),
        ('"a\\tb"', "a\\tb"),  # in double quotes a backslash escapes only " $ and itself
        ("'a\\tb'", "a\\tb"),
        ("hello\\", "hello"),
        ('"it\'s"', "it's"),
        ("$HOME", "/home"),
        ("\\$HOME", "$HOME"),
        ("'$HOME'", "$HOME"),
        ('"$HOME"', "/home"),
        ("$nope", ""),
        ("$.", "$."),
        ("$1x", "x"),
        ("${HOME}x", "/homex"),
        ("${X:-000}", "000"),
        ("${NULL:-000}", "000"),
        ("${NULL-000}", ""),
        ("${X-000}", "000"),
        ("${X:-${Y:-yyy}}", "yyy"),
        ("${X:-${HOME:-yyy}}", "/home"),
        ("${A:-${B:-root}}", "root"),
        ("${U:+${HOME}}", "/home"),
        ("${X:+000}", ""),
        ("${NULL:+000}", ""),
        ("${NULL+000}", "000"),
        ("${HOME?}", "/home"),
        ("${NULL?}", ""),
        ("${X:-\\$HOME}", "$HOME"),
        ("${aaa}}", "}"),
        ("${aaa:-bbb {foo}", "bbb {foo"),
        ("${PATH_#*/}", "b/c.tar.gz"),
        ("${PATH_##*/}", "c.tar.gz"),
        ("${PATH_%.*}", "a/b/c.tar"),
        ("${PATH_%%.*}", "a/b/c"),
        ("${PATH_/\\//-}", "a-b/c.tar.gz"),
        ("${PATH_//\\//-}", "a-b-c.tar.gz"),
        ("$@x", "x"),
    ],
)
def test_a_word_expands_as_buildkit_expands_it(text: str, expected: str) -> None:
    assert lex.word(text, ENV) == expected


@pytest.mark.parametrize(
    "text",
    ["he'llo", '"hello', "${}", "he${.}", "${X:YYY}", "${X?}", "${NULL:?}", "${HOME", "${A:=x}"],
)
def test_what_buildkit_cannot_expand_is_a_lex_error(text: str) -> None:
    with pytest.raises(lex.LexError):
        lex.word(text, ENV)


def test_the_file_escape_character_escapes_as_the_backslash_does() -> None:
    assert lex.word("a`$HOME", ENV, "`") == "a$HOME"
    assert lex.word("a\\b", ENV, "`") == "a\\b"


@pytest.mark.parametrize(
    ("text", "missing"),
    [
        ("$X", "X"),
        ("a${X}b", "X"),
        ("${U:-$X}", None),  # U has a value: the default is not used
        ("${X:-$Y}", "Y"),
        ("${X:+$Y}", None),  # X is unset: the alternative is not used
        ("${X:-app}", None),
        ("${X?}", "X"),
    ],
)
def test_strict_expansion_names_the_variable_whose_emptiness_is_used(
    text: str, missing: str | None
) -> None:
    if missing is None:
        lex.word(text, ENV, strict=True)
        return
    with pytest.raises(lex.Unresolved) as info:
        lex.word(text, ENV, strict=True)
    assert info.value.name == missing


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hello there", ["hello", "there"]),
        ("hello\\ there", ["hello there"]),
        ('hello" there  "', ["hello there  "]),
        ("a${SP}b", ["aab", "cb"]),
        ('a"${SP}"b', ["aab cb"]),
        ('""', []),
        ("<< EOF cat", ["<< EOF", "cat"]),  # dockerfile 1.16: the heredoc word keeps its blanks
    ],
)
def test_words_split_after_expansion_and_keep_quoted_blanks(text: str, expected: list[str]) -> None:
    assert lex.words(text, {"SP": "ab c"}) == expected


def test_raw_words_keep_quotes_and_escapes_and_unset_variables_as_written() -> None:
    words = lex.words(
        'RUN echo "<<EOF" \\<<X $Y ${Z:-w}',
        {},
        raw_quotes=True,
        raw_escapes=True,
        skip_unset=True,
    )
    assert words == ["RUN", "echo", '"<<EOF"', "\\<<X", "$Y", "${Z:-w}"]
