#!/usr/bin/env bash
# Install the project with its test extras into .venv and run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[test]'
# pytest exits 5 when it collects nothing; with `set -e` that fails this script too.
.venv/bin/python -m pytest -n 2 -p xdist "$@"
