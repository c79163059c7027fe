#!/usr/bin/env bash
# Capture and refusal tests on the older SDK pair (built on `httpx`, not `httpx2`) in their own venv.
# Usage: .ci/old-sdks.sh [extra pytest args]   (VENV=path to reuse another directory)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv-old-sdks}"
PY="${PYTHON:-python3}"
if [ ! -x "$VENV/bin/python" ]; then
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/pip" install -q -e . "openai==1.109.1" "anthropic==0.69.0" "httpx<0.29" \
  pytest-xdist pytest-recording vcrpy pydantic
"$VENV/bin/python" - <<'PY'
import importlib.util, openai, anthropic
assert importlib.util.find_spec("httpx2") is None, "httpx2 must not be installed here"
print(f"old SDKs: openai {openai.__version__}, anthropic {anthropic.__version__}")
PY
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q \
  tests/test_providers_usage.py tests/test_providers_seam.py tests/test_capture_sdk.py \
  tests/test_capture_plugin.py tests/test_capture_streams.py tests/test_refusal_e2e.py "$@"
