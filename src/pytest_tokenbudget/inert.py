"""Text from outside (a reply's model name, a node id, a report file) made safe for a log (pure).

The GitHub Actions runner reads every line a step prints: a line that starts with ``::``
(after leading whitespace) or holds ``##[`` anywhere is a workflow command (``::error``,
``::add-mask``, ``::stop-commands``...). A model name such as ``"x\\n::error::..."`` printed
as is would therefore give orders to the runner. Two steps stop that:

- :func:`one_line`: every character that is not printable (line breaks, ANSI escapes, Unicode
  separators) is shown as its escape (``\\n``, ``\\x1b``), so a value never starts a new line;
- :func:`inert`: also breaks ``::`` at the start of the line and ``##[`` anywhere with a
  backslash, so that no workflow command can start. Every line the plugin and the Action print
  goes through it; messages that name a model or an operation use it for the name.
"""

from __future__ import annotations

__all__ = ["inert", "one_line"]


def one_line(text: str) -> str:
    """``text`` on one line: characters that are not printable shown as escapes."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def inert(text: str) -> str:
    """``text`` as one log line that no runner reads as a workflow command."""
    line = one_line(text)
    body = line.lstrip(" ")
    if body.startswith("::"):
        line = line[: len(line) - len(body)] + "\\" + body
    return line.replace("##[", "##\\[")
