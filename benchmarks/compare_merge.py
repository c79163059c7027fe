"""Time ``compare`` and ``merge`` on two 100,000-test reports (target: each under 1 s).

Run: ``python benchmarks/compare_merge.py [--tests N] [--repeat K]``. Prints the median of K
runs for the pure operations (data already loaded), for loading the files and for the whole
``tokenbudget`` command in its own process (start-up + load + work + render/write + exit).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from pytest_tokenbudget.files.baseline import baseline_from_report, load_report, write_json_atomic
from pytest_tokenbudget.files.merge import merge_reports
from pytest_tokenbudget.files.shards import merge_files
from pytest_tokenbudget.gate.regression import compare
from pytest_tokenbudget.report import REPORT_SCHEMA, Report
from pytest_tokenbudget.usage import Usage


def make_report(n: int, offset: int, growth: int, *, prefix: str = "") -> dict[str, Any]:
    """n tests, one model and one operation each (the common shape); every 50th test grows."""
    tests: dict[str, Any] = {}
    total = Usage()
    for i in range(n):
        extra = growth if i % 50 == 0 else 0
        u = Usage(1000 + i % 997 + extra, 200 + i % 89, 120, 0, 0, 2, 0, 0, 0)
        u = Usage(
            u.input_tokens,
            u.output_tokens,
            120,
            0,
            0,
            2,
            0,
            0,
            u.input_tokens * 150_000 + u.output_tokens * 600_000,
        )
        d = u.to_dict()
        model = "gpt-4o-mini" if i % 3 else "gpt-4o"
        d["by_model"] = {model: u.to_dict()}
        d["by_operation"] = {"(none)": {**u.to_dict(), "by_model": {model: u.to_dict()}}}
        d["budget"] = None
        d["status"] = "passed"
        tests[f"tests/test_mod_{(i + offset) // 100}.py::test_case[{prefix}{i + offset}]"] = d
        total = total + u
    return {
        "schema": REPORT_SCHEMA,
        "created": "2026-11-23T00:00:00+00:00",
        "totals": total.to_dict(),
        "tests": tests,
        "baseline": None,
        "violations": [],
        "pricing": {"source": "benchmark", "version": "1"},
        "passed": True,
        "notes": [],
    }


def median_time(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run_command(argv: list[str], expect: int) -> None:
    """The ``tokenbudget`` console script in its own process, as a user or CI runs it."""
    script = Path(sys.executable).with_name("tokenbudget")
    done = subprocess.run([str(script), *argv], capture_output=True, check=False)
    assert done.returncode == expect, done.stderr.decode()


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    n = args.tests
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        a_path, b_path = folder / "a.json", folder / "b.json"
        s1_path, s2_path = folder / "s1.json", folder / "s2.json"
        write_json_atomic(a_path, make_report(n, 0, 0))
        write_json_atomic(b_path, make_report(n, 0, 500))
        write_json_atomic(s1_path, make_report(n, 0, 0))
        write_json_atomic(s2_path, make_report(n, n, 0))  # the other shard: distinct ids
        size = b_path.stat().st_size / 1e6
        print(f"{n:,} tests per report, {size:.0f} MB per file, median of {args.repeat} runs")

        a, b = load_report(a_path), load_report(b_path)
        s1, s2 = load_report(s1_path), load_report(s2_path)
        base = baseline_from_report(a)
        result = compare(base, b)
        assert len(result.regressions) == n // 50, len(result.regressions)
        merged = merge_reports([s1, s2])
        assert len(merged.tests) == 2 * n
        out = str(folder / "m.json")

        rows = [
            ("compare (loaded data)", lambda: compare(base, b)),
            ("merge (loaded data)", lambda: merge_reports([s1, s2])),
            ("load one report, lazy breakdowns", lambda: load_report(b_path, check=False)),
            ("load one report, all checked", lambda: load_report(b_path)),
            (
                "merge_files (no process start-up)",
                lambda: merge_files([str(s1_path), str(s2_path)], out),
            ),
            (
                "`tokenbudget compare` (own process)",
                lambda: run_command(["compare", str(a_path), str(b_path)], 1),
            ),
            (
                "`tokenbudget merge` (own process)",
                lambda: run_command(["merge", str(s1_path), str(s2_path), "-o", out], 0),
            ),
        ]
        for label, fn in rows:
            print(f"  {label:<38} {median_time(fn, args.repeat):7.3f} s")
    _ = Report  # imported for readers of this script: the type compare/merge take


if __name__ == "__main__":
    sys.exit(main_bench())
