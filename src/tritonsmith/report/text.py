"""Text from a run as HTML: code, diffs, prose with fenced code; long texts start clipped. All escaped."""

from __future__ import annotations

import difflib
import re
from html import escape

CLIP_LINES, CLIP_CHARS = 40, 4000  # longer texts start clipped, with a "show all" button


def diff_html(before: str, after: str, before_name: str, after_name: str) -> str:
    lines = []
    for line in difflib.unified_diff(before.splitlines(), after.splitlines(), before_name, after_name, lineterm="", n=3):
        kind = ("head" if line.startswith(("---", "+++")) else "hunk" if line.startswith("@@")
                else "add" if line.startswith("+") else "del" if line.startswith("-") else "ctx")
        lines.append(f'<span class="d-{kind}">{escape(line)}</span>')
    return clip_html(f'<pre class="diff">{"".join(lines)}</pre>', len(lines), sum(map(len, lines)))


def code_html(source: str, element_id: str | None = None) -> str:
    attribute = f' id="{escape(element_id, quote=True)}"' if element_id else ""
    return clip_html(f'<pre class="code"{attribute}>{escape(source)}</pre>', source.count("\n") + 1, len(source))


def text_html(text: str) -> str:
    return clip_html(f'<pre class="text">{escape(text)}</pre>', text.count("\n") + 1, len(text))


def text_blocks(text: str) -> list[str]:
    """Paragraphs split at blank lines, a ``` fenced block kept whole."""
    blocks: list[str] = []
    for piece in text.split("\n\n"):
        if blocks and blocks[-1].count("```") % 2:
            blocks[-1] += "\n\n" + piece
        else:
            blocks.append(piece)
    return blocks


def rich_html(text: str, clip: bool = True) -> str:
    """Prose in a readable font, ``` fenced code as code; everything escaped."""
    pieces = re.split(r"(```[^\n]*\n.*?(?:```|\Z))", text, flags=re.S)
    html = []
    for piece in pieces:
        if piece.startswith("```"):
            body = piece.split("\n", 1)[1] if "\n" in piece else ""
            html.append(f'<pre class="code">{escape(body.removesuffix("```").rstrip())}</pre>')
        elif piece.strip():
            html.append(f'<div class="prose">{escape(piece.strip())}</div>')
    html = "".join(html)
    return clip_html(html, text.count("\n") + 1, len(text)) if clip else html


def clip_html(html: str, lines: int, chars: int) -> str:
    if lines <= CLIP_LINES and chars <= CLIP_CHARS:
        return html
    return (f'<div class="clip">{html}</div><button class="more">show all '
            f'({lines:,} lines, {chars:,} characters)</button>')

