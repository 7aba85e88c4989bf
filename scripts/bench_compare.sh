#!/usr/bin/env bash
# The paper-table comparison with the repaired engine (README "Does IterativeRS win here?"): the
# learning-signal settings of examples/signal-*.toml (RLOO, calibrated rewards, T = 24, m = 4, B = 64),
# every method under the bench's budget rule, with the null control, all rows on one reward scale.
# Resumable: rerun after a kill and finished runs are reused. One run at a time per command, torch on 1
# thread; the three commands may run side by side on separate cores (about 100, 90 and 40 minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
IRS=".venv/bin/irs"
M="iterative_rs,morlhf,rewarded_soups,ric"
$IRS bench examples/signal-druglike.toml --methods "$M" --seeds 3 --null-control --task compare-druglike
$IRS bench examples/signal-qm9.toml --methods "$M" --seeds 2 --null-control --task compare-qm9
$IRS bench examples/signal-dna.toml --methods "$M" --seeds 2 --null-control --task compare-dna
