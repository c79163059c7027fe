"""What a regression is made of: the change of a figure and what grew (pure).

``test_agent: 5,100 -> 7,450 tokens (+46%): operation "retrieve" +2,100 input (gpt-4o-mini)``
"""

from __future__ import annotations

from .. import fmt
from ..inert import inert
from ..records import TestRecord
from ..usage import NO_OPERATION, Usage, exact_figure


def describe_change(metric: str, before: Usage, after: Usage) -> str:
    """``5,100 -> 7,450 tokens (+46%)``."""
    b, a = before.figure(metric), after.figure(metric)
    unit = fmt.UNITS.get(metric, "")
    text = f"{fmt.figure(metric, b)} -> {fmt.figure(metric, a)}" + (f" {unit}" if unit else "")
    exact_b, exact_a = exact_figure(before, metric), exact_figure(after, metric)
    if exact_b is None or exact_a is None:
        return text
    pct = None if exact_b == 0 else (exact_a - exact_b) * 100 / exact_b
    return f"{text} ({fmt.pct(pct)})"


def explain(old: TestRecord, new: TestRecord, metric: str = "total_tokens") -> tuple[str, ...]:
    """What grew, per operation and model: ``operation "retrieve" +2,100 input (gpt-4o-mini)``.

    Cells are (model, operation) pairs from ``by_operation[op].by_model``; the three that grew
    most are named, then the change in calls. A model the baseline had and this run lacks,
    with one this run has and the baseline lacked, comes first: ``served model changed:
    gpt-4o-2024-05-13 -> gpt-4o-2024-08-06`` (a change that is not the code's).
    """
    old_cells, new_cells = old.cells(), new.cells()
    empty = Usage()
    grown: list[tuple[int, str]] = []
    for key in set(old_cells) | set(new_cells):
        b, a = old_cells.get(key, empty), new_cells.get(key, empty)
        d_in = a.input_tokens - b.input_tokens
        d_out = a.output_tokens - b.output_tokens
        parts = []
        if d_in > 0 and metric != "output_tokens":
            parts.append(f"+{d_in:,} input")
        if d_out > 0 and metric != "input_tokens":
            parts.append(f"+{d_out:,} output")
        if a.calls > b.calls and not parts and metric in ("calls", "cost_usd"):
            parts.append(f"+{a.calls - b.calls:,} calls")
        if not parts:
            continue
        model, op = key
        where = "" if op == NO_OPERATION else f'operation "{inert(op)}" '
        fresh = " (new)" if key not in old_cells else ""
        size = max(d_in if metric != "output_tokens" else 0, 0) + max(
            d_out if metric != "input_tokens" else 0, 0
        )
        grown.append((size, f"{where}{', '.join(parts)} ({inert(model)}){fresh}"))
    grown.sort(key=lambda item: (-item[0], item[1]))
    details = [text for _, text in grown[:3]]
    gone, came = set(old.by_model) - set(new.by_model), set(new.by_model) - set(old.by_model)
    if gone and came:
        names = (", ".join(inert(m) for m in sorted(side)) for side in (gone, came))
        details.insert(0, "served model changed: {} -> {}".format(*names))
    if len(grown) > 3:
        details.append(f"{len(grown) - 3} more")
    if old.calls != new.calls:
        details.append(f"calls {old.calls:,} -> {new.calls:,}")
    return tuple(details)
