#!/usr/bin/env bash
# Set up everything (idempotent) and launch the product on the bundled demo.
# For now: a small IterativeRS demo run from the command line, then its evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export IRS_RUNS_DIR=${IRS_RUNS_DIR:-runs}
run=$(.venv/bin/irs run examples/smoke.toml | tail -n 1)
.venv/bin/irs evaluate "$run"
