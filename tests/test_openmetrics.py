"""``--tokenbudget-openmetrics``: the run's totals and its usage per model as OpenMetrics text
(GitLab's merge-request metrics), read back with a real parser (prometheus_client's), equal to
the JSON report's figures, serial and ``-n 2``; hostile model names escaped; the same text from
``tokenbudget report --format openmetrics``."""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from pytest_tokenbudget.cli import main
from runs import DIST, run_report

parser = pytest.importorskip("prometheus_client.openmetrics.parser")

#: Model names from replies are hostile input: quotes, backslashes, line breaks, a "#".
HOSTILE = ['we"ird', "back\\slash", "two\nlines", "x} 9\n# EOF", "émoji 🙂 #1"]

SUITE = f"""
import pytest

HOSTILE = {HOSTILE!r}

@pytest.mark.parametrize("i", range(len(HOSTILE)))
def test_hostile(token_tracker, i):
    token_tracker.record(input_tokens=10 + i, output_tokens=i, model=HOSTILE[i])

def test_priced(token_tracker):
    token_tracker.record(input_tokens=1_000, output_tokens=200, cache_read_tokens=300,
                         reasoning_tokens=50, model="gpt-4o-mini")
    token_tracker.record(input_tokens=7, output_tokens=3, model="gpt-4o")

def test_none():
    pass
"""

FIGURES = (
    "total_tokens",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "calls",
    "unpriced_calls",
    "refused_calls",
    "uncounted_calls",
    "cost_usd",
)
NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


def parse(text: str) -> dict[str, Any]:
    """family name -> {model label (None: no label): value}."""
    out: dict[str, Any] = {}
    for family in parser.text_string_to_metric_families(text):
        assert NAME.match(family.name), family.name
        assert family.type == "gauge"
        for sample in family.samples:
            assert sample.name == family.name
            out.setdefault(family.name, {})[sample.labels.get("model")] = sample.value
    return out


def same(value: float, figure: Any) -> bool:
    return math.isnan(value) if figure is None else value == figure


@pytest.mark.parametrize("dist", DIST)
def test_openmetrics_parses_and_holds_the_reports_figures(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(test_suite=SUITE)
    result, report = run_report(pytester, "--tokenbudget-openmetrics=out/metrics.txt", *dist)
    result.assert_outcomes(passed=len(HOSTILE) + 2)
    result.stdout.fnmatch_lines(["openmetrics report written to *metrics.txt"])
    text = (pytester.path / "out" / "metrics.txt").read_text(encoding="utf-8")
    assert text.endswith("\n# EOF\n")
    assert text.splitlines().count("# EOF") == 1  # a model named "...# EOF" stays inside its label
    metrics = parse(text)

    totals = report["totals"]
    assert totals["unpriced_calls"] == len(HOSTILE)  # the hostile names have no price
    for figure in FIGURES:
        assert same(metrics[f"tokenbudget_run_{figure}"][None], totals[figure]), figure
    assert metrics["tokenbudget_tests"] == {None: len(HOSTILE) + 1}

    by_model: dict[str, dict[str, Any]] = {}
    for test in report["tests"].values():
        for model, figures in test["by_model"].items():
            assert model not in by_model  # one test per model in this suite
            by_model[model] = figures
    assert sorted(by_model) == sorted([*HOSTILE, "gpt-4o-mini", "gpt-4o"])
    for figure in FIGURES:
        values = metrics[f"tokenbudget_model_{figure}"]
        assert sorted(values) == sorted(by_model), figure  # the names, exactly, back
        for model, figures in by_model.items():
            assert same(values[model], figures[figure]), (figure, model)
    assert metrics["tokenbudget_model_cost_usd"]["gpt-4o-mini"] > 0
    # exact decimals of picodollars, never exponents
    assert re.search(r"^tokenbudget_run_cost_usd NaN$", text, re.M)
    cost_line = re.search(r'^tokenbudget_model_cost_usd\{model="gpt-4o"\} (.*)$', text, re.M)
    assert cost_line is not None
    assert re.fullmatch(r"0\.\d+", cost_line[1])

    # the same text from the saved report
    assert main(["report", "r.json", "--format", "openmetrics", "-o", "again.txt"]) == 0
    assert (pytester.path / "again.txt").read_text(encoding="utf-8") == text


def test_gitlab_reads_every_metric_by_its_own_name(pytester: pytest.Pytester) -> None:
    """GitLab's metrics parser drops what follows a "#" on a line and splits the rest as a shell
    would (name, value): every line of priced models is one name and its value."""
    pytester.makepyfile(
        """
        def test_a(token_tracker):
            token_tracker.record(input_tokens=1_000, output_tokens=20, model="gpt-4o-mini")
            token_tracker.record(input_tokens=5, output_tokens=2, model="claude-sonnet-4")
        """
    )
    result, report = run_report(pytester, "--tokenbudget-openmetrics=metrics.txt")
    result.assert_outcomes(passed=1)
    metrics = {}
    for line in (pytester.path / "metrics.txt").read_text().splitlines():
        words = shlex.split(re.sub("#.*$", "", line))
        if words:
            name, value = words  # exactly a name and a value
            metrics[name] = value
    assert metrics["tokenbudget_run_total_tokens"] == "1027"
    assert metrics["tokenbudget_model_input_tokens{model=gpt-4o-mini}"] == "1000"
    assert float(metrics["tokenbudget_run_cost_usd"]) == report["totals"]["cost_usd"]
    assert len(metrics) == 1 + len(FIGURES) * 3


def test_label_values_and_costs_unit() -> None:
    from pytest_tokenbudget.fmt import plain_number
    from pytest_tokenbudget.render.openmetrics import label_value

    assert label_value('a"b\\c\nd') == 'a\\"b\\\\c\\nd'
    assert label_value("lone \ud800 half") == "lone \ufffd half"
    assert plain_number(0.0) == "0"
    assert plain_number(1.5e-11) == "0.000000000015"
    assert plain_number(2.0) == "2"
    assert plain_number(1.2345) == "1.2345"


def test_no_models_no_model_families(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(token_tracker):\n    pass\n")
    result, _ = run_report(pytester, "--tokenbudget-openmetrics=m.txt")
    result.assert_outcomes(passed=1)
    metrics = parse((pytester.path / "m.txt").read_text())
    assert metrics["tokenbudget_run_total_tokens"] == {None: 0}
    assert metrics["tokenbudget_run_cost_usd"] == {None: 0}
    assert not [name for name in metrics if name.startswith("tokenbudget_model_")]


def test_readme_gitlab_job_writes_what_its_artifacts_name(pytester: pytest.Pytester) -> None:
    """The README's ``.gitlab-ci.yml`` job: its pytest command, run as written, writes the
    JUnit and metrics reports its ``artifacts:reports`` name and the note's Markdown."""
    yaml = pytest.importorskip("yaml")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("## GitLab, Jenkins", 1)[1]
    job = yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])["tokenbudget"]
    [command] = [line for line in job["script"] if line.startswith("pytest ")]
    note = job["after_script"][0]
    assert '"body@tokenbudget.md"' in note
    assert "merge_requests/$CI_MERGE_REQUEST_IID/notes" in note
    pytester.makepyfile(
        """
        def test_a(token_tracker):
            token_tracker.record(input_tokens=100, output_tokens=7, model="gpt-4o-mini")
        """
    )
    result = pytester.runpytest(*shlex.split(command)[1:])
    result.assert_outcomes(passed=1)
    reports = job["artifacts"]["reports"]
    metrics = parse((pytester.path / reports["metrics"]).read_text(encoding="utf-8"))
    assert metrics["tokenbudget_run_total_tokens"] == {None: 107}
    junit = (pytester.path / reports["junit"]).read_text(encoding="utf-8")
    assert '<property name="tokenbudget.total_tokens" value="107" />' in junit
    for path in job["artifacts"]["paths"]:
        assert (pytester.path / path).is_file(), path
