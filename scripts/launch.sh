#!/usr/bin/env bash
# Set up everything (idempotent) and open the workbench on the bundled demo run, on localhost.
# Runs live in $IRS_RUNS_DIR (default ./runs); the shipped demo runs are copied there on first start.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export IRS_RUNS_DIR=${IRS_RUNS_DIR:-runs}
echo "IterativeRS Workbench: open http://localhost:${PORT:-8501}" >&2
exec .venv/bin/python -m streamlit run app.py --server.port "${PORT:-8501}" --server.address localhost
