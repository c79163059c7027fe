"""Time adding 2 tests to a 100,000-test baseline (target: under 1 s; it took 24-45 s).

Run: ``python benchmarks/baseline_update.py [--tests N] [--repeat K]``. Prints the median of K
runs of :func:`update_file` (what ``--tokenbudget-update-baseline`` does when a run ends: lock,
read the file again, merge, write it key-sorted and durable), its parts, and the whole
``tokenbudget baseline update`` command in its own process. The baseline has today's shape
(``compare_merge.make_report``: one model and one operation per test). Not a timed test.

Last run (a shared 2-core machine at load average ~14-22, so wall times are inflated; CPU is
this process's): read 0.08 s CPU, decode and check 0.41 s, encode key-sorted 0.50 s;
update_file reading the file again 1.50 s CPU (4.6 s wall), the command 3.9 s wall; the
plugin's end of run, file unchanged since the run read it, 0.62 s CPU (1.9 s wall). Before the
fix encoding alone took 45 s and 113 s wall in two runs at such loads (the encoder's sort), the
command 64 s wall.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

from compare_merge import make_report

from pytest_tokenbudget.files.baseline import (
    baseline_from_report,
    load_baseline,
    load_report,
    update_file,
    write_json_atomic,
)
from pytest_tokenbudget.files.codec import decode_checked_baseline, encode, read


def median_times(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """Median wall time and median CPU time of this process (the machine may be shared)."""
    walls, cpus = [], []
    for _ in range(repeat):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    return statistics.median(walls), statistics.median(cpus)


def main_bench() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        base, small = folder / "base.json", folder / "small.json"
        write_json_atomic(folder / "big.json", make_report(args.tests, 0, 0))
        write_json_atomic(base, baseline_from_report(load_report(folder / "big.json")).to_doc())
        write_json_atomic(small, make_report(2, 0, 0, prefix="new"))
        new = baseline_from_report(load_report(small))
        size = base.stat().st_size / 1e6
        print(f"{args.tests:,}-test baseline ({size:.0f} MB) + 2 tests, median of {args.repeat}")
        data = read(base)
        doc = decode_checked_baseline(data, str(base))
        script = Path(sys.executable).with_name("tokenbudget")
        command = [str(script), "baseline", "update", str(small), "--baseline", str(base)]
        rows = [
            ("read the file", lambda: read(base)),
            ("decode and check it", lambda: decode_checked_baseline(data, str(base))),
            ("encode it key-sorted", lambda: encode(doc)),
            ("update_file (all of it)", lambda: update_file(base, new, replace_corrupt=False)),
            (
                "`tokenbudget baseline update`",
                lambda: subprocess.run(command, check=True, capture_output=True),
            ),
        ]
        print(f"  {'':<32} {'wall':>8} {'CPU':>8}")
        for label, fn in rows:
            wall, cpu = median_times(fn, args.repeat)
            shown = f"{cpu:7.3f} s" if "`" not in label else "   (child)"
            print(f"  {label:<32} {wall:7.3f} s {shown}")
        # The plugin's end of run: the file was read and checked when the run started, and is
        # read again only if it changed since (another shard wrote it).
        walls, cpus = [], []
        for _ in range(args.repeat):
            known = load_baseline(base, keep_checked=True)
            start, cpu = time.perf_counter(), time.process_time()
            update_file(base, new, replace_corrupt=True, known=known)
            walls.append(time.perf_counter() - start)
            cpus.append(time.process_time() - cpu)
        label = "update_file, unchanged since read"
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        print(f"  {label:<32} {wall:7.3f} s {cpu:7.3f} s")


if __name__ == "__main__":
    sys.exit(main_bench())
