#!/usr/bin/env bash
# The demo: an "agent" calls OpenAI and Anthropic (real SDKs) against a loopback fake LLM
# server; pytest-tokenbudget prints the per-test, per-model and per-operation token report.
# No API key, no network.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/python -m pip install -q -e '.[examples]'
exec .venv/bin/python -m pytest examples -p no:cacheprovider \
  --tokenbudget-json=examples/out/report.json --tokenbudget-markdown=examples/out/report.md "$@"
