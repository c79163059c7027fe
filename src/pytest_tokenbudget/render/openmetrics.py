"""The run's totals and its usage per model as OpenMetrics text (pure).

GitLab's merge-request metrics report (``artifacts:reports:metrics``) reads such a file and
compares each line with the target branch's. Every figure is a gauge (a run's value, not a
counter), counts are written as integers and the cost as the JSON report's number without an
exponent (``NaN`` while a model is unpriced: unknown, never $0). Model names come from replies
and are escaped as the format says (backslash, double quote, line feed); a lone surrogate,
which UTF-8 cannot hold, becomes U+FFFD. The file ends with ``# EOF``.
"""

from __future__ import annotations

from typing import Mapping

from ..fmt import plain_number
from ..report import Report, breakdown, tests_with_usage
from ..usage import Usage, add_into

#: Every metric's name starts with it.
NAMESPACE = "tokenbudget"
#: Each figure of a usage, and what its metric says.
FIGURES = {
    "total_tokens": "Tokens, input + output",
    "input_tokens": "Input tokens, cache reads and writes included",
    "output_tokens": "Output tokens, reasoning included",
    "cache_read_tokens": "Input tokens read from a prompt cache",
    "cache_write_tokens": "Input tokens written to a prompt cache",
    "reasoning_tokens": "Output tokens spent on reasoning",
    "calls": "LLM calls counted",
    "unpriced_calls": "Calls to models without a price",
    "refused_calls": "Requests refused by spend protection",
    "uncounted_calls": "Calls whose usage could not be read",
    "cost_usd": "Cost in US dollars (NaN while a model is unpriced)",
}


def label_value(text: str) -> str:
    """``text`` as an OpenMetrics label value, quotes not included."""
    text = text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def value(usage: Usage, figure: str) -> str:
    if figure == "cost_usd":
        return "NaN" if usage.cost_usd is None else plain_number(usage.cost_usd)
    return str(getattr(usage, figure))


def family(name: str, help_text: str, samples: Mapping[str, str]) -> list[str]:
    """One gauge: its metadata and its samples (label set -> value)."""
    lines = [f"# TYPE {name} gauge", f"# HELP {name} {help_text}."]
    return lines + [f"{name}{labels} {number}" for labels, number in samples.items()]


def render_openmetrics(report: Report) -> str:
    run = report.usage
    models: dict[str, Usage] = {}  # by label: names that differ only in lone surrogates add up
    for model, usage in breakdown(report.tests, "model").items():
        add_into(models, label_value(model), usage)
    lines = family(
        f"{NAMESPACE}_tests",
        "Tests that used tokens",
        {"": str(len(tests_with_usage(report.tests)))},
    )
    for figure, help_text in FIGURES.items():
        lines += family(
            f"{NAMESPACE}_run_{figure}", f"{help_text}, whole run", {"": value(run, figure)}
        )
    for figure, help_text in FIGURES.items() if models else ():  # no family without samples
        samples = {
            f'{{model="{label}"}}': value(usage, figure) for label, usage in sorted(models.items())
        }
        lines += family(f"{NAMESPACE}_model_{figure}", f"{help_text}, per model", samples)
    return "\n".join([*lines, "# EOF"]) + "\n"
