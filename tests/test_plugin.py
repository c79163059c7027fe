"""End-to-end tests of the plugin core through pytester (serial and xdist)."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from pytest_tokenbudget.files.baseline import load_report
from pytest_tokenbudget.render.text import summary_lines
from runs import DIST, run_report


def _records(seed: int, n: int) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        inp = rnd.randint(0, 5000)
        cache_read = rnd.randint(0, inp // 2)
        out_tokens = rnd.randint(0, 2000)
        out.append(
            {
                "input_tokens": inp,
                "output_tokens": out_tokens,
                "cache_read_tokens": cache_read,
                "reasoning_tokens": rnd.randint(0, out_tokens),
                "model": rnd.choice(["gpt-4o-mini", "claude-sonnet-4-5", None]),
                "operation": rnd.choice(["plan", "retrieve", None]),
            }
        )
    return out


def make_suite(pytester: pytest.Pytester, seed: int = 1, tests: int = 12) -> list[list[dict]]:
    """A suite whose tests record known usage; returns each test's records."""
    plan = [_records(seed * 1000 + i, random.Random(i).randint(0, 6)) for i in range(tests)]
    body = ["import json", f"PLAN = json.loads({json.dumps(json.dumps(plan))})", ""]
    for i in range(tests):
        body += [
            f"def test_{i}(token_tracker):",
            f"    for rec in PLAN[{i}]:",
            "        token_tracker.record(**rec)",
            "",
        ]
    pytester.makepyfile(test_suite="\n".join(body))
    return plan


@pytest.mark.parametrize("dist", DIST)
def test_report_totals_equal_what_tests_recorded(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    plan = make_suite(pytester)
    result, report = run_report(pytester, *dist, json="out/report.json")
    result.assert_outcomes(passed=12)
    assert report["schema"] == "pytest-tokenbudget/report@1"
    records = [rec for recs in plan for rec in recs]
    totals = report["totals"]
    for field in ("input_tokens", "output_tokens", "cache_read_tokens", "reasoning_tokens"):
        assert totals[field] == sum(r[field] for r in records), field
    assert totals["calls"] == len(records)
    assert totals["total_tokens"] == totals["input_tokens"] + totals["output_tokens"]
    for i, recs in enumerate(plan):
        entry = report["tests"].get(f"test_suite.py::test_{i}")
        assert entry is not None
        assert entry["calls"] == len(recs)
        assert entry["status"] == "passed"
        by_model = entry["by_model"]
        for model in {r["model"] or "(unknown)" for r in recs}:
            want = sum(r["input_tokens"] for r in recs if (r["model"] or "(unknown)") == model)
            assert by_model[model]["input_tokens"] == want
        for op, usage in entry["by_operation"].items():
            want = sum(r["output_tokens"] for r in recs if (r["operation"] or "(none)") == op)
            assert usage["output_tokens"] == want
    text = result.stdout.str()
    assert "= tokenbudget =" in text.replace("=" * 3, "=")
    result.stdout.fnmatch_lines([f"run total: {totals['total_tokens']:,} tokens*"])


def test_serial_and_xdist_reports_are_byte_identical(pytester: pytest.Pytester) -> None:
    make_suite(pytester, seed=7, tests=20)
    texts = []
    for i, dist in enumerate([[], ["-n", "2"], ["-n", "4"]]):
        result, data = run_report(pytester, "-p", "xdist", *dist, json=f"r{i}.json")
        result.assert_outcomes(passed=20)
        data.pop("created")
        texts.append(json.dumps(data, indent=2, sort_keys=True))
    assert texts[0] == texts[1] == texts[2]


@pytest.mark.parametrize("dist", DIST)
def test_the_summary_adds_up_as_the_report_it_wrote(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    """The terminal's tables come from the run's own sums; read back from the report's records
    (the CLI's view of the same run) they are line for line the same: several models, an
    unpriced one, several operations per test, a session fixture's bucket."""
    plan = make_suite(pytester, seed=3, tests=16)
    pytester.makeconftest(
        """
        import pytest

        @pytest.fixture(scope="session", autouse=True)
        def warm_up():
            from pytest_tokenbudget.attribution import ATTRIBUTION

            tracker = ATTRIBUTION.tracker()
            tracker.record(input_tokens=40, output_tokens=2, model="local-llm", operation="warm")
            tracker.record(input_tokens=9, model="gpt-4o-mini", operation="plan")
        """
    )
    result, _ = run_report(pytester, "--tokenbudget-top=0", *dist)
    result.assert_outcomes(passed=16)
    assert sum(len({(r["model"], r["operation"]) for r in recs}) > 1 for recs in plan) >= 5
    report = load_report(pytester.path / "r.json")
    lines = summary_lines(report, top=0)
    shown = result.stdout.lines
    start = shown.index(lines[0])
    assert shown[start : start + len(lines)] == lines
    assert "by operation:" in lines
    assert any("local-llm" in line for line in lines)
    assert any("unpriced (" in line for line in lines)


@pytest.mark.parametrize("dist", DIST)
def test_eight_threads_lose_no_update(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makepyfile(
        """
        import threading

        def test_threads(token_tracker):
            barrier = threading.Barrier(8)
            def work():
                barrier.wait()
                for _ in range(2000):
                    token_tracker.record(input_tokens=3, output_tokens=1, model="m")
            threads = [threading.Thread(target=work) for _ in range(8)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            assert token_tracker.usage.calls == 16000
        """
    )
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=1)
    totals = report["totals"]
    assert (totals["calls"], totals["input_tokens"], totals["output_tokens"]) == (
        16000,
        48000,
        16000,
    )


def test_bad_record_values_raise_value_error_naming_the_field(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.parametrize("field, value", [
            ("input_tokens", -1), ("output_tokens", 2.5), ("cache_read_tokens", True),
            ("reasoning_tokens", "7"),
        ])
        def test_bad(token_tracker, field, value):
            with pytest.raises(ValueError, match=field):
                token_tracker.record(**{field: value})
            assert token_tracker.usage.calls == 0
        """
    )
    pytester.runpytest().assert_outcomes(passed=4)


def test_bad_config_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.tokenbudget]\nmax_tokens = "lots"\n')
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "*tokenbudget: bad value for max_tokens = 'lots' in "
            "[[]tool.tokenbudget[]] of *pyproject.toml*"
        ]
    )


def test_unknown_config_key_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml("[tool.tokenbudget]\nmax_token = 5\n")
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*unknown key 'max_token'*did you mean 'max_tokens'? known keys:*max_tokens*"]
    )


def test_unknown_option_is_a_usage_error_naming_the_closest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest("--tokenbudget-markdwon=r.md")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        [
            "ERROR: tokenbudget: unknown option --tokenbudget-markdwon; "
            "did you mean --tokenbudget-markdown?"
        ]
    )


def test_bad_option_value_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass")
    result = pytester.runpytest("--tokenbudget-regression=lots")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--tokenbudget-regression*percentage*'lots'*"])


def test_command_line_wins_over_config(pytester: pytest.Pytester) -> None:
    pytester.makepyprojecttoml('[tool.tokenbudget]\njson = "from-config.json"\n')
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=1)")
    pytester.runpytest().assert_outcomes(passed=1)
    assert (pytester.path / "from-config.json").exists()
    pytester.runpytest("--tokenbudget-json=from-cli.json").assert_outcomes(passed=1)
    assert (pytester.path / "from-cli.json").exists()


def test_nothing_recorded_changes_nothing_in_the_output(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(): pass\ndef test_b(): pass")
    with_plugin = pytester.runpytest("-p", "no:cacheprovider")
    without = pytester.runpytest("-p", "no:tokenbudget", "-p", "no:cacheprovider")
    assert "tokenbudget" not in with_plugin.stdout.str().replace("tokenbudget-0", "")

    def strip(lines: list[str]) -> list[str]:
        return [line for line in lines if " in " not in line and "plugins:" not in line]

    assert strip(with_plugin.outlines) == strip(without.outlines)


def test_disabled_plugin_offers_no_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(token_tracker): pass")
    result = pytester.runpytest("-p", "no:tokenbudget", "--tokenbudget-json=r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR  # the option does not exist either
    result = pytester.runpytest("-p", "no:tokenbudget")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*fixture 'token_tracker' not found*"])
    assert "= tokenbudget" not in result.stdout.str()


@pytest.mark.parametrize("dist", DIST)
def test_usage_outside_tests_goes_to_the_session_bucket(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makeconftest(
        """
        from pytest_tokenbudget.attribution import current_tracker

        def pytest_collection_finish(session):
            current_tracker().record(input_tokens=40, output_tokens=2, model="m")
        """
    )
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=5)")
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=1)
    workers = 2 if dist else 1  # each process collects once (the controller collects nothing)
    session = report["tests"]["<session>"]
    assert session["input_tokens"] == 40 * workers
    assert report["totals"]["input_tokens"] == 40 * workers + 5
    result.stdout.fnmatch_lines(["outside tests (<session>): *"])


@pytest.mark.parametrize("dist", DIST)
def test_operations_label_records_also_from_threads(
    pytester: pytest.Pytester, dist: list[str]
) -> None:
    pytester.makepyfile(
        """
        import threading

        def test_ops(token_tracker):
            with token_tracker.operation("plan"):
                token_tracker.record(input_tokens=10)
                t = threading.Thread(target=lambda: token_tracker.record(input_tokens=7))
                t.start(); t.join()
                with token_tracker.operation("inner"):
                    token_tracker.record(input_tokens=3)
            token_tracker.record(input_tokens=1)
            token_tracker.record(input_tokens=2, operation="explicit")
            ops = {k: v.input_tokens for k, v in token_tracker.by_operation.items()}
            assert ops == {"plan": 17, "inner": 3, "(none)": 1, "explicit": 2}
        """
    )
    result, report = run_report(pytester, *dist)
    result.assert_outcomes(passed=1)
    ops = report["tests"]["test_operations_label_records_also_from_threads.py::test_ops"][
        "by_operation"
    ]
    assert {k: v["input_tokens"] for k, v in ops.items()} == {
        "plan": 17,
        "inner": 3,
        "(none)": 1,
        "explicit": 2,
    }
    result.stdout.fnmatch_lines(["by operation:", "*17 tokens  plan*"])


def test_response_ids_dedup_within_a_test_not_across(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_one(token_tracker):
            token_tracker.record(input_tokens=10, response_id="resp_1")
            assert not token_tracker.record(input_tokens=10, response_id="resp_1")
            assert token_tracker.usage.calls == 1

        def test_two(token_tracker):
            token_tracker.record(input_tokens=10, response_id="resp_1")
            assert token_tracker.usage.calls == 1
        """
    )
    result, report = run_report(pytester)
    result.assert_outcomes(passed=2)
    assert report["totals"]["calls"] == 2


def test_status_is_reported_per_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        def test_ok(token_tracker):
            token_tracker.record(input_tokens=1)

        def test_fails(token_tracker):
            token_tracker.record(input_tokens=1)
            assert False

        @pytest.fixture
        def broken(token_tracker):
            token_tracker.record(input_tokens=1)
            raise RuntimeError("setup")

        def test_error(broken):
            pass

        @pytest.mark.xfail(strict=True)
        def test_xfail(token_tracker):
            token_tracker.record(input_tokens=1)
            assert False
        """
    )
    result, report = run_report(pytester)
    result.assert_outcomes(passed=1, failed=1, errors=1, xfailed=1)
    tests = report["tests"]
    status = {k.split("::")[1]: v["status"] for k, v in tests.items()}
    assert status == {
        "test_ok": "passed",
        "test_fails": "failed",
        "test_error": "error",
        "test_xfail": "xfailed",
    }


def test_quiet_quiet_prints_no_section(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=5)")
    result = pytester.runpytest("-qq")
    assert "tokenbudget" not in result.stdout.str()
    result = pytester.runpytest()
    result.stdout.fnmatch_lines(["*= tokenbudget =*", "run total: 5 tokens*"])


def test_history_appends_one_line_per_run(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=7)")
    for _ in range(2):
        pytester.runpytest("--tokenbudget-history=h/runs.jsonl").assert_outcomes(passed=1)
    lines = (pytester.path / "h" / "runs.jsonl").read_text().splitlines()
    assert [json.loads(line)["totals"]["input_tokens"] for line in lines] == [7, 7]
    assert json.loads(lines[0])["passed"] is True


def test_help_lists_every_option(pytester: pytest.Pytester) -> None:
    from pytest_tokenbudget.config import SETTINGS

    result = pytester.runpytest("--help")
    assert result.ret == pytest.ExitCode.OK
    text = result.stdout.str()
    for setting in SETTINGS:
        if setting.option:
            assert setting.option in text
    result.stdout.fnmatch_lines(["*--tokenbudget-regression=PCT*", "*default 10%*"])


def test_summary_names_unpriced_models_and_cache_savings(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_a(token_tracker):
            token_tracker.record(
                input_tokens=1_000_000, cache_read_tokens=800_000, model="gpt-4o-mini-2024-07-18"
            )
            token_tracker.record(input_tokens=10, model="my-local-llm")
        """
    )
    result, report = run_report(pytester)
    result.stdout.fnmatch_lines(
        [
            # the run's input cost is not known (my-local-llm): no share of it
            "note: prompt caching saved $0.06",
            "note: unpriced model (cost unknown, not $0): my-local-llm; set prices in *",
        ]
    )
    assert report["totals"]["cost_usd"] is None
    priced = report["tests"]["test_summary_names_unpriced_models_and_cache_savings.py::test_a"]
    # gpt-4o-mini: 200k uncached input at $0.15/M + 800k cache reads at $0.075/M
    assert priced["by_model"]["gpt-4o-mini-2024-07-18"]["cost_usd"] == 0.09


@pytest.mark.parametrize("dist", DIST)
def test_plugin_registered_twice_counts_once(pytester: pytest.Pytester, dist: list[str]) -> None:
    pytester.makeconftest('pytest_plugins = ["pytest_tokenbudget.plugin"]')
    pytester.makepyfile("def test_a(token_tracker): token_tracker.record(input_tokens=10)")
    result, report = run_report(pytester, "-p", "pytest_tokenbudget.plugin", *dist)
    result.assert_outcomes(passed=1)
    assert report["totals"]["calls"] == 1
    assert result.stdout.str().count("= tokenbudget =") == 1


def test_fixture_counts_and_records_text_offline(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_text(token_tracker):
            assert token_tracker.count("hello world", encoding="cl100k_base") == 2
            counted = token_tracker.record_text("hello world", model="gpt-4o", operation="prompt")
            assert (counted.input_tokens, counted.output_tokens, counted.calls) == (2, 0, 1)
            assert token_tracker.by_operation["prompt"].input_tokens == 2
        """
    )
    result, report = run_report(pytester)
    result.assert_outcomes(passed=1)
    totals = report["totals"]
    assert (totals["input_tokens"], totals["calls"]) == (2, 1)
    assert totals["cost_usd"] == 2 * 2.5 / 10**6  # gpt-4o input at $2.50 per million
