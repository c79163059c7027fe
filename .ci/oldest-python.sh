#!/usr/bin/env bash
# The file format's tests on the oldest supported Python (3.9) with the oldest msgspec we
# allow: msgspec reads our type annotations at run time, and its API grew between versions.
# Skipped (with a note) where no Python 3.9 is installed. Usage: .ci/oldest-python.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON39:-}"
for candidate in python3.9 "$HOME/.pyenv/versions/3.9"*/bin/python; do
  [ -n "$PY" ] && break
  if "$candidate" -c 'import sys; assert sys.version_info[:2] == (3, 9)' >/dev/null 2>&1; then
    PY="$candidate"
  fi
done
if [ -z "$PY" ]; then
  echo "no Python 3.9 here: skipped"
  exit 0
fi
VENV="${VENV:-.venv-py39}"
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/pip" install -q -e . "msgspec==0.18.6" pytest hypothesis
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q \
  tests/test_baseline.py tests/test_shards.py tests/test_regression.py \
  tests/test_merge_property.py tests/test_cli.py
