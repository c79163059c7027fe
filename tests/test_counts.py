"""``report.counts``: one set of numbers for every view (the Markdown and the comment, the
Action's outputs), and they add up."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_tokenbudget.buckets import RERUNS_BUCKET, SESSION_BUCKET, is_bucket
from pytest_tokenbudget.files.baseline import baseline_from_report, report_from_dict
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.github.findings import outputs
from pytest_tokenbudget.records import Violation
from pytest_tokenbudget.render.markdown import render_markdown
from pytest_tokenbudget.report import counts
from reportfactory import report_doc, simple

#: Entries of a run's tests that are no test (never compared, never counted as one).
BUCKETS = [SESSION_BUCKET, "<fixture db>", RERUNS_BUCKET]
#: One test's input tokens on main and in the pull request (None: the test is not there).
SIDES = st.tuples(st.none() | st.integers(0, 3000), st.none() | st.integers(0, 3000))


@settings(max_examples=150, deadline=None)
@given(
    st.dictionaries(st.sampled_from([f"t::{i}" for i in range(12)] + BUCKETS), SIDES),
    st.sets(st.sampled_from([f"t::{i}" for i in range(12)]), max_size=3),
    st.sampled_from([0, 100]),
)
def test_counts_add_up_and_every_view_shows_them(
    sides: dict[str, tuple[int | None, int | None]], over: set[str], floor: int
) -> None:
    before = {n: simple(b) for n, (b, _) in sides.items() if b is not None}
    after = {n: simple(a) for n, (_, a) in sides.items() if a is not None}
    report = report_from_dict(report_doc(after))
    comparison = compare(
        baseline_from_report(report_from_dict(report_doc(before))), report, min_tokens=floor
    )
    report.baseline = comparison.record()
    report.violations = comparison.violations() + [
        Violation(kind="test_budget", nodeid=n, message="over") for n in sorted(over) if n in after
    ]
    c = counts(report)
    real = [n for n in after if not is_bucket(n)]
    assert c.tests == len(real)
    assert c.regressed + c.improved + c.unchanged + c.new == c.tests  # buckets: never compared
    assert c.missing == len([n for n in before if n not in after and not is_bucket(n)])
    assert c.over_budget == len(over & set(after))
    assert c.violations == len(report.violations)
    # the Action's outputs and the Markdown say the same
    markdown = render_markdown(report)
    shown = re.search(r"❌ (?:\*\*)?(\d+) regressed", markdown)
    assert shown is not None
    assert shown.group(1) == str(c.regressed)
    assert outputs(report)["regressions"] == str(c.regressions)
    assert c.regressions == c.regressed + c.total_regressed
    if c.regressions:
        n = c.regressions
        assert f"Gate: **failed**: {n} regression{'s' if n > 1 else ''}" in markdown
    assert outputs(report)["violations"] == str(len(report.violations))
    assert f"💸 {'**' if c.over_budget else ''}{c.over_budget} over budget" in markdown
