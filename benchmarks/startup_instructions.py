"""What the plugin costs a suite that never calls an LLM, in CPU instructions (callgrind).

Wall time on a shared machine varies by several percent between identical runs; instruction
counts do not. Needs valgrind (``apt-get install valgrind``). Run:
``python benchmarks/startup_instructions.py [--tests 1000] [--fixtures K]``. Prints, with the
plugin on and off (``-p no:tokenbudget``): ``import pytest`` alone vs with the plugin, and a run
of N trivial tests (each requesting K function-scoped fixtures), with the differences as a share
of the run without the plugin.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

PLUGINS_OFF = ["-p", "no:cacheprovider", "-p", "no:xdist", "-p", "no:hypothesispytest"]
PLUGINS_OFF += ["-p", "no:recording", "-p", "no:anyio"]


def instructions(args: list[str], cwd: Path) -> int:
    out = cwd / "callgrind.out"
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # measure as installed: from bytecode
    subprocess.run(
        ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        check=False,
    )
    match = re.search(r"^totals: (\d+)", out.read_text(), re.MULTILINE)
    if match is None:
        raise SystemExit(f"no callgrind totals for {args}")
    return int(match.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tests", type=int, default=1000)
    parser.add_argument(
        "--fixtures", type=int, default=0, help="function-scoped fixtures each test requests"
    )
    args = parser.parse_args()
    n, k = args.tests, args.fixtures
    names = [f"f{j}" for j in range(k)]
    fixtures = "".join(f"@pytest.fixture\ndef {name}():\n    return 1\n" for name in names)
    tests = "".join(f"def test_{i}({', '.join(names)}):\n    pass\n" for i in range(n))
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "test_many.py").write_text("import pytest\n" + fixtures + tests)
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(cwd)], check=False)
        base = instructions(["-c", "import pytest"], cwd)
        plugin = instructions(["-c", "import pytest, pytest_tokenbudget.pytest_entry"], cwd)
        print(f"import pytest: {base:,}; with the plugin: {plugin:,} ({plugin / base - 1:+.1%})")
        run = ["-m", "pytest", "-q", *PLUGINS_OFF, "test_many.py"]
        off = instructions([*run, "-p", "no:tokenbudget"], cwd)
        on = instructions(run, cwd)
        with_fixtures = f" with {k} fixture{'s' if k != 1 else ''} each" if k else ""
        print(f"{n} trivial tests{with_fixtures}: off {off:,}; on {on:,} ({on / off - 1:+.1%})")


if __name__ == "__main__":
    main()
