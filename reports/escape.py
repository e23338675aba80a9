"""Escaping the target's strings (class names, exception messages, hp reprs) for each output
format, so that a hostile string can neither drive the terminal nor inject Markdown or HTML.

One function per format (and per Markdown context); HTML uses ``html.escape``.
"""

from __future__ import annotations

import html
import re

_BACKTICKS = re.compile(r"`+")
# Markdown punctuation that starts emphasis, links, code, tables or escapes.
_MD_PUNCT = re.compile(r"([\\`*_\[\]|~#])")


def _visible(ch: str) -> str:
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def terminal(text: str, *, keep: str = "") -> str:
    """``text`` with every non-printable character (ESC of ``\\x1b[2J``, CR, BEL, bidi
    controls, ...) shown as its escape: what reaches the terminal is only what it prints.
    ``keep`` names control characters left alone (``"\\n"`` for a multi-line block)."""
    if text.isprintable() and not keep:
        return text
    return "".join(ch if ch.isprintable() or ch in keep else _visible(ch) for ch in text)


def markdown(text: str) -> str:
    """Inline Markdown text (a paragraph, a list item, a table cell): HTML and Markdown
    syntax in ``text`` shows as written, on one line."""
    text = terminal(text.replace("\r\n", " ").replace("\n", " "))
    return _MD_PUNCT.sub(r"\\\1", html.escape(text, quote=False))


def markdown_code(text: str) -> str:
    """An inline code span holding ``text`` literally, however many backticks it has."""
    text = terminal(text.replace("\n", " "))
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def markdown_block(text: str, language: str = "") -> str:
    """A fenced code block holding ``text`` literally (a fence longer than any run of
    backticks inside it)."""
    text = terminal(text.rstrip("\n"), keep="\n\t")
    longest = max((len(m) for m in _BACKTICKS.findall(text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{language}\n{text}\n{fence}"
