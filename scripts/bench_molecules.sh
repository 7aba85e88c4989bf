#!/usr/bin/env bash
# The molecules comparison committed in docs/results/ (README "Does IterativeRS win here?"). Resumable:
# rerun after a kill and finished runs are reused. Runs one training at a time, torch on 1 thread.
set -euo pipefail
cd "$(dirname "$0")/.."
IRS=".venv/bin/irs"
CFG="examples/bench-molecules-druglike.toml"
# 1. PPO: IterativeRS (m = 4), RS, MORLHF, RiC x 3 seeds; IterativeRS m = 1, 2 on 2 seeds (m = 4 and T reuse the main runs)
$IRS bench "$CFG" --methods iterative_rs,morlhf,rewarded_soups,ric --seeds 3 --sweep-m 1,2,4,T --sweep-seeds 2
# 2. RLOO (the paper's Table 5 variant): the RL methods x 2 seeds
$IRS bench "$CFG" --algo rloo --methods iterative_rs,morlhf,rewarded_soups --seeds 2 --task molecules-druglike-rloo
# 3. The paper's molecule task (proxy rewards for training, physics oracle for evaluation): 4 methods x 2 seeds, K = 128
$IRS bench examples/bench-molecules-qm9.toml --methods iterative_rs,morlhf,rewarded_soups,ric --seeds 2
