"""Runs: the run directory store and the background worker (DESIGN.md §4), one function per action.

    from irs import runs
    run = runs.start_run("examples/smoke.toml")          # detached worker; returns at once
    runs.wait_run(run)                                    # or poll run.status()
    runs.cancel_run(run); runs.resume_run(run)
    df = runs.load_candidates(run)                        # candidates.parquet
    texts, model = runs.remerge_and_sample(run, [0.5, 0.25, 0.25], n=100, seed=0)

Every function that takes a run accepts a Run or a run id (with runs_dir, default $IRS_RUNS_DIR or
./runs). Errors are ValueError subclasses: RunNotFound, RunLocked, RunError.
"""

from irs.runs.control import as_run, cancel_run, load_config, resume_run, spawn_worker, start_run, wait_run
from irs.runs.results import (
    STARTING_SET,
    evaluate_run,
    final_experts,
    load_candidates,
    oracle_objectives,
    oracle_rescore,
    parse_lambdas,
    parse_weights,
    remerge,
    remerge_and_sample,
    run_calibration,
    sample_candidates,
    sample_run,
    sampling_prompt,
    starting_model,
)
from irs.runs.store import STATES, Run, RunError, RunLocked, RunNotFound, RunStore, default_runs_dir, effective_status

__all__ = [
    "RunStore",
    "Run",
    "RunError",
    "RunNotFound",
    "RunLocked",
    "STATES",
    "default_runs_dir",
    "effective_status",
    "load_config",
    "as_run",
    "start_run",
    "resume_run",
    "cancel_run",
    "wait_run",
    "spawn_worker",
    "load_candidates",
    "evaluate_run",
    "final_experts",
    "parse_lambdas",
    "remerge",
    "remerge_and_sample",
    "sample_run",
    "sample_candidates",
    "oracle_objectives",
    "oracle_rescore",
    "run_calibration",
    "parse_weights",
    "sampling_prompt",
    "starting_model",
    "STARTING_SET",
]
