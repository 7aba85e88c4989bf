#!/usr/bin/env bash
# Set up everything (idempotent) and run the whole test suite. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
# --- Browser for the workbench's browser test (tests/test_browser.py) --------------------------------
# Debian's `chromium` package, driven by the `playwright` Python package (never `playwright install`).
# Installed on every test run where missing (needs root or sudo). Without
# either, or without apt-get, it only warns, and the browser test skips itself.
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium) \
      || echo "bootstrap: could not install chromium; the browser test will be skipped" >&2
  elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null && command -v apt-get >/dev/null 2>&1; then
    (sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends chromium) \
      || echo "bootstrap: could not install chromium; the browser test will be skipped" >&2
  else
    echo "bootstrap: chromium is missing (apt-get install chromium); the browser test will be skipped" >&2
  fi
fi
# ------------------------------------------------------------------------------------------------------
exec .venv/bin/python -m pytest -q "$@"
