"""Text from a repository, made safe for where fixuser writes it.

A file name, a stage name, a compose service or volume name, a USER value: each is data, and
each output format has its own way of turning data into something else. One function per
destination, used everywhere that destination is written:

- ``printable``: a terminal or a CI log (text output, commit messages). A control character
  is shown escaped (``\\n``, ``\\r``, ``\\x1b``), so a name cannot start a line of its own
  (GitHub Actions reads any output line starting ``::`` as a workflow command), move the
  cursor or recolour the terminal.
- ``utf8``: JSON, SARIF and GitLab reports. A file name that is not UTF-8 reaches Python as
  lone surrogates (``os.fsdecode``'s surrogateescape), which no UTF-8 encoder accepts and
  strict JSON parsers reject: each such byte is written ``\\xNN`` instead, as ``printable``
  shows it, so a name reads the same in every format.
- ``pasted_word``: one argument of a command people paste (fixuser.quoting.shell_word, the
  quoting of the RUN lines fixuser writes, and what dash needs besides for the line breaks,
  control characters and bytes that are not UTF-8 a RUN line cannot hold).
- ``md_text``, ``md_code``, ``html_text``: Markdown (PR/MR descriptions, the batch report).
  Nothing from a repository becomes a link, an image, HTML, a mention or formatting.
"""

from __future__ import annotations

import re
from typing import Any

from fixuser.quoting import shell_word

# C0 and C1 controls and DEL; the Unicode line and paragraph separators; the bidirectional
# overrides and isolates (they reorder what a terminal or a browser shows: "trojan source");
# lone surrogates (bytes that are not UTF-8, decoded with surrogateescape). All of them are
# what str.isprintable() calls unprintable, so text that is printable (nearly all of it)
# returns at once, and the patterns (strings: re compiles and caches them on first use, ~1 ms
# that a check of ordinary names never spends) are only searched otherwise.
UNSAFE = "[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
SURROGATE = "[\ud800-\udfff]"
NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escaped(char: str) -> str:
    """``\\n``, ``\\x1b``, ``\\xff`` (the byte a surrogateescape'd surrogate stands for),
    ``\\u202e``: as Python writes them in a string literal."""
    code = ord(char)
    if char in NAMED:
        return NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    if code <= 0xFF:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character (and byte that is not UTF-8) escaped; one line."""
    if text.isprintable():
        return text
    return re.sub(UNSAFE, lambda m: escaped(m.group()), text)


def utf8(text: str) -> str:
    """``text`` that encodes as UTF-8: each lone surrogate written as ``printable`` writes it."""
    if text.isprintable():
        return text
    return re.sub(SURROGATE, lambda m: escaped(m.group()), text)


def utf8_data(data: Any) -> Any:
    """JSON-shaped ``data`` (dicts, lists, tuples, strings, numbers) with every string,
    keys too, passed through ``utf8``."""
    if isinstance(data, str):
        return utf8(data)
    if isinstance(data, dict):
        return {utf8_data(k): utf8_data(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [utf8_data(v) for v in data]
    return data


# --- commands people paste --------------------------------------------------------------


def pasted_word(text: str) -> str:
    """``text`` as one word of a POSIX shell command line (dash, bash, zsh), arriving intact.

    ``quoting.shell_word`` for text of printable characters. Otherwise its runs are quoted
    one by one, and between them a newline is a quoted newline (``'<newline>'``: POSIX sh has
    no other way to write one that survives to the end of a word, and the next line starts
    with a quote, so it cannot start a Markdown fence, a ``#`` comment git strips, or a
    workflow command), and any other control character or byte that is not UTF-8 is
    ``"$(printf '\\ooo')"``, so the command line itself stays printable.
    """
    if text.isprintable() or re.search(UNSAFE, text) is None:
        return shell_word(text)
    parts = []
    for piece in re.split(f"({UNSAFE})", text):
        if not piece:
            continue
        if piece == "\n":
            parts.append("'\n'")
        elif re.fullmatch(UNSAFE, piece):
            code = ord(piece)
            if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8: that byte
                data = bytes([code - 0xDC00])
            elif 0xD800 <= code <= 0xDFFF:  # a surrogate surrogateescape never makes
                data = escaped(piece).encode()
            else:  # a control character: its UTF-8
                data = piece.encode()
            octal = "".join(f"\\{byte:03o}" for byte in data)
            parts.append(f"\"$(printf '{octal}')\"")
        else:
            parts.append(shell_word(piece, always=True))
    return "".join(parts)


# --- Markdown ---------------------------------------------------------------------------

# Inline Markdown: emphasis, code, links and images, strikethrough, table cells, escapes.
MD_INLINE = r"([\\`*_\[\]~|])"
# What would start a block if it began a line (a heading, a list item, a quote, a rule).
MD_LINE_START = r"^([#+=-])|^(\d+)([.)])"
# GitHub turns @name into a mention (a notification), and GFM autolinks URLs and e-mail
# addresses: a word joiner on each side of "@" (an address needs its name right before the
# "@", a mention its name right after) and after "www" or a scheme's ":" stops all three.
JOINER = "\u2060"
AUTOLINK = r"(?i)(@|(?<![^\W_])www(?=\.)|:(?=//))"


def unlinked(text: str) -> str:
    return re.sub(AUTOLINK, lambda m: f"{JOINER}@{JOINER}" if m[1] == "@" else m[1] + JOINER, text)


def entities(text: str) -> str:
    """``&``, ``<`` and ``>`` as HTML entities (html.escape without its quotes)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def md_text(text: str) -> str:
    """``text`` as Markdown that renders as exactly that text, on one line: no link, image,
    HTML, mention, autolink, emphasis or block from it."""
    text = entities(printable(text))
    text = re.sub(MD_INLINE, r"\\\1", text)
    text = re.sub(MD_LINE_START, lambda m: f"\\{m[1]}" if m[1] else f"{m[2]}\\{m[3]}", text)
    return unlinked(text)


def md_code(text: str) -> str:
    """``text`` as an inline code span that nothing in it can end: the span's backtick run is
    longer than any run of backticks inside; on one line, so no block can start inside."""
    text = printable(text)
    longest = max((len(run) for run in re.findall("`+", text)), default=0)
    fence = "`" * (longest + 1)
    if not text:
        return "` `"
    # A space on each side is stripped by the renderer (unless the span is only spaces): it
    # keeps a leading or trailing backtick (or space) inside the span.
    if text.strip(" ") and (text[0] in "` " or text[-1] in "` "):
        text = f" {text} "
    return f"{fence}{text}{fence}"


def html_text(text: str) -> str:
    """``text`` inside an HTML element of a Markdown document (``<summary>``), where Markdown
    escapes do not apply: entities, and the mention and autolink breaks of ``md_text``."""
    return unlinked(entities(printable(text)).replace('"', "&quot;"))
