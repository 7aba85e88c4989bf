#!/usr/bin/env bash
# The GPU check (benchmarks/gpu_check.py), at most 5 minutes; on a machine without CUDA it exits 0 at once.
set -euo pipefail
cd "$(dirname "$0")/.."
timeout 300 .venv/bin/python benchmarks/gpu_check.py "$@"
