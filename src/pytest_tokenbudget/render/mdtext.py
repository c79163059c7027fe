"""Text from outside as GitHub Markdown that shows it and does nothing else (pure).

Node ids, model and operation names, messages and notes reach a pull-request comment and a job
summary; in a fork's pull request (the report comes from its own run) every string in the
report is the author's. GitHub would render raw HTML (``<img>``), links, emphasis and tables
from it, notify ``@someone``, and link ``#123`` and URLs. So:

- :func:`code` puts a name in a code span of any content (a fence longer than any run of
  backticks inside; in a table cell an escaped ``|``), where nothing is rendered, mentioned
  or linked; content a code span cannot hold in a table goes into ``<code>`` with every
  character that means something written as an entity;
- :func:`text` escapes every character that starts Markdown or HTML, and breaks ``@``, ``#``
  and URL schemes with a zero-width space, which GitHub neither links nor mentions.

Both first make the text one line (:func:`~pytest_tokenbudget.inert.one_line`) and cut very
long strings, so one hostile value can neither break a table nor fill a comment.
"""

from __future__ import annotations

import re
from typing import Sequence

from ..inert import one_line

__all__ = ["CLIP", "CLIP_TEXT", "code", "table", "text"]

#: Longest name (``code``) and text shown; longer ones are cut with an ellipsis (the JSON
#: report has them whole).
CLIP = 300
CLIP_TEXT = 1000
_ZWSP = "&#8203;"
_SPECIAL = re.compile(r"([\\`*_\[\]<&|~$])")
#: What starts a block (a list, a quote, a heading underline) when a value opens a list item.
_BLOCK_START = re.compile(r"^(?:[-+>=]|\d+[.)])")
_LINKY = re.compile(r"(?i)([@#])|\b(https?|ftp|mailto|www)([:.])")
_ENTITY = re.compile(r"[^A-Za-z0-9 .,/:_-]")


def _clip(value: object, limit: int = CLIP) -> str:
    s = one_line(str(value))
    return s if len(s) <= limit else s[: limit - 1] + "…"


def text(value: object) -> str:
    """``value`` as inline Markdown text that renders literally (no HTML, link or mention)."""
    s = _SPECIAL.sub(r"\\\1", _clip(value, CLIP_TEXT))
    s = _BLOCK_START.sub(lambda m: m.group()[:-1] + "\\" + m.group()[-1], s)

    def breaks(match: re.Match[str]) -> str:
        if match.group(1):
            return match.group(1) + _ZWSP
        return match.group(2) + _ZWSP + match.group(3)

    return _LINKY.sub(breaks, s)


def code(value: object, *, in_table: bool = True) -> str:
    """``value`` as a code span (inside a table cell unless ``in_table=False``)."""
    s = _clip(value)
    if in_table and "\\" in s and "|" in s:
        # ``\\|`` would end the cell: write it as HTML, every special character an entity
        return "<code>" + _ENTITY.sub(lambda m: f"&#{ord(m.group())};", s) + "</code>"
    if in_table:
        s = s.replace("|", "\\|")
    longest = max((len(run) for run in re.findall(r"`+", s)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if s.startswith(("`", " ")) or s.endswith(("`", " ")) else ""
    return f"{fence}{pad}{s}{pad}{fence}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> list[str]:
    """A GitHub table; the columns in ``right`` are right-aligned (figures)."""
    align = ["---:" if i in right else "---" for i in range(len(header))]
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    out += ["| " + " | ".join(row) + " |" for row in rows]
    return out
