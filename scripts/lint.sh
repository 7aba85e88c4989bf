#!/usr/bin/env bash
# Lint and format check (ruff, settings in pyproject.toml). `bash scripts/lint.sh --fix` applies them.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
paths=(irs ui views tests benchmarks scripts app.py)
if [ "${1:-}" = "--fix" ]; then
  .venv/bin/ruff check --fix "${paths[@]}"
  .venv/bin/ruff format "${paths[@]}"
else
  .venv/bin/ruff check "${paths[@]}"
  .venv/bin/ruff format --check "${paths[@]}"
fi
