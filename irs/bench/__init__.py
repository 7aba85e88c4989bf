"""The comparison harness behind `irs bench` (paper Tables 1-3 and Figure 1, Section 4.2's m trade-off).

`run_bench(spec)` runs every method x seed (x optional merge interval m) through the run store, one run
at a time, under one budget rule; evaluates each run's final candidates (scored by the oracle, as every
run's are); and writes a report: `<out>/<task>.md` (the table, mean ± std over seeds, the budget, wall
times, the verdict against MORLHF and RS), `<out>/<task>_runs.csv` (one row per run: every number the
table is computed from) and `<out>/<task>_<a>_<b>.png` (pairwise reward scatters, Figure 1's layout).

Budget rule (applied by `budget_config`, stated in every report)
----------------------------------------------------------------
Every method gets the same T and the same number of *rewarded samples per step*, N x B (N objectives,
B = rl.batch_size of the config):
- iterative_rs, rewarded_soups: N experts x B samples each; each sample is scored on its expert's one
  objective (N x B proxy evaluations per step).
- morlhf: one policy, batch N x B (minibatch scaled alike); each sample is scored on all N objectives
  for the weighted reward (N^2 x B proxy evaluations per step: MORLHF is not starved of reward
  information).
- ric: T SFT steps of N x B labelled sequences; offline SFT makes no reward query; its optional online
  rounds make ric.online_samples x N each. Every run's actual proxy evaluations are counted (from the
  objectives' counters in its last checkpoint) and reported.
The final policies are compared on K candidates each (n_final_samples, or --K), scored by the oracle.

Resumability: `<bench_dir>/manifest.json` maps each (label, seed) to its run id. A restarted bench reuses
finished runs, waits for runs whose worker is still alive (workers are detached processes, so killing
the bench does not kill them), and resumes failed or cancelled ones from their last checkpoint. Wall
times are the spans the bench spent on each run (closed at the run's last heartbeat when the bench was
killed), so they survive restarts.
"""

from __future__ import annotations

from irs.bench.evaluate import evaluate_run_row, reference_eval  # noqa: F401
from irs.bench.manifest import Manifest  # noqa: F401
from irs.bench.plan import (  # noqa: F401
    DISPLAY,
    MAIN_ORDER,
    NULL,
    PAPER_TABLES,
    REFERENCE,
    BenchSpec,
    Variant,
    budget_config,
    paper_table,
    parse_methods,
    parse_sweep,
    samples_per_step,
    variants,
)
from irs.bench.report import write_report  # noqa: F401
from irs.bench.runner import load_base, run_bench  # noqa: F401
