"""Token and cost columns in pytest-html's results table, through its hooks.

pytest-html is never a dependency: nothing here imports it, and this plugin is registered only
when its hooks exist. It builds a test's rows when the test's teardown is logged, from all of
the test's reports; by then the run holds the test's figure (serial: the ``makereport``
wrapper added it; xdist: the controller's ``logreport``, which runs before pytest-html's
``trylast`` one). The figure goes on the row of the test's call (or of its setup, when no call
ran); earlier attempts of a rerun test and phases of their own (a teardown error) get empty
cells, as tests without usage do.
"""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING, Protocol

import pytest

from .hooks import PluginObject

if TYPE_CHECKING:
    from ..run import RunUsage
    from ..usage import Usage


class Owner(Protocol):
    @property
    def run(self) -> RunUsage:
        """The run's accounting (made on first use)."""


EMPTY_CELLS = ('<td class="col-tokens"></td>', '<td class="col-cost"></td>')


class HtmlColumns(PluginObject):
    """Registered as ``tokenbudget-html`` on the process that writes the report."""

    def __init__(self, owner: Owner) -> None:
        self.owner = owner

    def pytest_html_results_table_header(self, cells: list[str]) -> None:
        cells += ['<th class="col-tokens">Tokens</th>', '<th class="col-cost">Cost</th>']

    def pytest_html_results_table_row(self, report: pytest.TestReport, cells: list[str]) -> None:
        if not cells:  # another plugin dropped the row
            return
        usage = self.figure(report)
        if usage is None:
            cells += EMPTY_CELLS
            return
        from ..fmt import tokens, usd
        from ..render.text import describe

        title = escape(describe(usage))
        cells += [
            f'<td class="col-tokens" title="{title}">{tokens(usage.total_tokens)}</td>',
            f'<td class="col-cost" title="{title}">{escape(usd(usage.cost_usd))}</td>',
        ]

    def figure(self, report: pytest.TestReport) -> Usage | None:
        """The test's figure when this report's row is the test's own, else None."""
        from ..usage import used

        when = getattr(report, "when", None)
        own = when == "call" or (when == "setup" and not report.passed)
        test = (
            self.owner.run.tests.get(report.nodeid)
            if own and str(report.outcome) != "rerun"
            else None
        )
        return test.usage if test is not None and used(test.usage) else None
