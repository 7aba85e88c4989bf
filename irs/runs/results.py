"""What a finished run gives back: its candidate table, its evaluation, and new samples from its final
policy, either π_ρT as saved or re-made from the final experts with other merge weights λ (eq. 9).

Heavy imports (torch, pandas, transformers) happen inside the functions, so `import irs.runs` stays light.
"""
from __future__ import annotations

import logging
import math
import os
from typing import Sequence

from irs.runs.control import as_run
from irs.runs.store import Run, RunError

log = logging.getLogger(__name__)


def oracle_objectives(domain, cfg) -> list:
    """The objectives candidates are scored with: the preset's oracle, restricted to the run's objectives
    when the oracle has them all (an oracle with other names is used whole)."""
    oracle = domain.oracle(cfg.preset or None)
    by_name = {o.name: o for o in oracle}
    if all(n in by_name for n in cfg.objective_names):
        return [by_name[n] for n in cfg.objective_names]
    log.info("oracle objectives %s differ from the run's %s; scoring with all oracle objectives",
             list(by_name), cfg.objective_names)
    return oracle


def load_candidates(run: Run | str, runs_dir: str | os.PathLike | None = None):
    """The run's candidates.parquet as a DataFrame (schema: irs.candidates)."""
    import pandas as pd

    run = as_run(run, runs_dir)
    if not run.candidates_path.is_file():
        raise RunError(f"run {run.id} has no candidates yet (state {run.status()['state']}); "
                       f"they are written at the end of the run")
    try:
        return pd.read_parquet(run.candidates_path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise RunError(f"run {run.id}: candidates.parquet is unreadable ({e})") from None


def evaluate_run(run: Run | str, runs_dir: str | os.PathLike | None = None) -> dict:
    """Section 5 evaluation of the run's candidates (irs.candidates.evaluate_table) plus run_id."""
    from irs.candidates import evaluate_table

    run = as_run(run, runs_dir)
    return {"run_id": run.id, **evaluate_table(load_candidates(run))}


def final_experts(run: Run | str, runs_dir: str | os.PathLike | None = None) -> tuple[list[dict], dict]:
    """(state dicts of the final experts, experts.json) of a finished run."""
    from irs.checkpoint import load_tensors
    from irs.io import check_name
    import json

    run = as_run(run, runs_dir)
    info_path = run.experts_dir / "experts.json"
    if not info_path.is_file():
        raise RunError(f"run {run.id} has no final experts yet (state {run.status()['state']})")
    info = json.loads(info_path.read_text())
    states = [load_tensors(run.experts_dir / check_name(f, "expert file")) for f in info["files"]]
    return states, info


def parse_lambdas(lambdas: Sequence[float] | str, n_experts: int) -> list[float]:
    """Merge weights: n_experts finite numbers >= 0 with a positive sum (normalized to sum 1).
    A string is comma-separated ("0.5,0.25,0.25")."""
    if isinstance(lambdas, str):
        try:
            lambdas = [float(x) for x in lambdas.split(",")]
        except ValueError:
            raise ValueError(f"lambdas {lambdas!r}: give comma-separated numbers, e.g. 0.5,0.3,0.2") from None
    lam = [float(x) for x in lambdas]
    if len(lam) != n_experts:
        raise ValueError(f"lambdas {lam}: this run has {n_experts} final expert(s), so give {n_experts} weight(s)")
    if not all(math.isfinite(x) and x >= 0 for x in lam) or sum(lam) <= 0:
        raise ValueError(f"lambdas {lam}: need finite numbers >= 0 with a positive sum")
    return [x / sum(lam) for x in lam]


def remerge(run: Run | str, lambdas: Sequence[float] | str | None = None,
            runs_dir: str | os.PathLike | None = None):
    """(model, tokenizer, lambdas): the final merged model, or with `lambdas` the final experts
    re-merged as Σ λ_i θ_i into a model built from final/."""
    from irs.algorithms.merging import merge_state_dicts
    from irs.checkpoint import load_model_dir, load_state_into

    run = as_run(run, runs_dir)
    if not (run.final_dir / "config.json").is_file():
        raise RunError(f"run {run.id} has no final model yet (state {run.status()['state']})")
    states, lam = None, None
    if lambdas is not None:  # check the weights before building the model
        states, _ = final_experts(run)
        lam = parse_lambdas(lambdas, len(states))
    model, tok = load_model_dir(run.final_dir)
    if lam is not None:
        load_state_into(model, merge_state_dicts(states, lam))
    return model.eval(), tok, lam


def set_name_for(lambdas: Sequence[float] | None) -> str:
    return "sample" if lambdas is None else "remerge " + "/".join(f"{x:.2f}" for x in lambdas)


def sample_run(run: Run | str, n: int, lambdas: Sequence[float] | str | None = None, seed: int = 0,
               runs_dir: str | os.PathLike | None = None):
    """(texts, model, lambdas): n samples from the run's final policy (re-merged with `lambdas` if given),
    with the run's sampling settings (temperature, top-k/p, max_new_tokens)."""
    import torch

    from irs.config import bf16_flag
    from irs.domains import get_domain
    from irs.rl.sampler import sample

    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    run = as_run(run, runs_dir)
    cfg = run.config()
    model, tok, lam = remerge(run, lambdas)
    r = cfg.rl
    s = sample(model, tok, n, max_new_tokens=r.max_new_tokens or get_domain(cfg.domain).max_new_tokens,
               temperature=r.temperature, top_k=r.top_k, top_p=r.top_p, bf16=bf16_flag(r),
               generator=torch.Generator().manual_seed(seed))
    return s.texts, model, lam


def remerge_and_sample(run: Run | str, lambdas: Sequence[float] | str, n: int, seed: int = 0,
                       runs_dir: str | os.PathLike | None = None):
    """(texts, model): re-merge the final experts with `lambdas`, then sample n candidates."""
    texts, model, _ = sample_run(run, n, lambdas, seed, runs_dir)
    return texts, model


def sample_candidates(run: Run | str, n: int, lambdas: Sequence[float] | str | None = None, seed: int = 0,
                      runs_dir: str | os.PathLike | None = None):
    """A scored candidate table (irs.candidates) of n new samples; set "sample" or "remerge a/b/c"."""
    from irs.candidates import score_candidates
    from irs.domains import get_domain

    run = as_run(run, runs_dir)
    cfg = run.config()
    texts, _, lam = sample_run(run, n, lambdas, seed)
    domain = get_domain(cfg.domain)
    return score_candidates(texts, domain, oracle_objectives(domain, cfg), set_name=set_name_for(lam))
