"""Each bench run's evaluation: its final candidates (RiC: sampled per preference) scored by the oracle, and the pretrained reference."""

from __future__ import annotations

import copy
import json
import logging
import math
from pathlib import Path

import numpy as np

from irs.bench.plan import REFERENCE
from irs.config import RunConfig, validate
from irs.io import atomic_write_bytes

log = logging.getLogger(__name__)


# ---- evaluation -------------------------------------------------------------------------------------
def bench_scale(runs) -> dict | None:
    """The one reward scale every row of a bench is evaluated on, so that methods and the base model are
    compared in the same units: the "eval" scale of the calibration its finished `runs` trained with
    (calibration.json; one starting model and a fixed calibration seed give every run the same one;
    RiC's only when no other run has one), or None when they use the objectives' data statistics."""
    from irs.runs import run_calibration

    found = []
    for run in runs:
        cal = run_calibration(run)
        if cal is not None:
            found.append((run.config().method == "ric", run.id, cal["eval"]))
    if not found:
        return None
    found.sort(key=lambda f: f[0])  # RL runs first
    scale = found[0][2]
    for _, rid, other in found[1:]:
        if other != scale:
            log.warning(
                "bench: run %s was calibrated on another scale than run %s; using %s's", rid, found[0][1], found[0][1]
            )
    return scale


def scale_key(scale: dict | None) -> str:
    """A short fingerprint of a bench scale, stored with each evaluation so a change re-evaluates."""
    import hashlib

    return "data" if scale is None else hashlib.sha256(json.dumps(scale, sort_keys=True).encode()).hexdigest()[:16]


def on_scale(df, cfg: RunConfig, scale: dict | None):
    """The candidate table with its rewards recomputed from the raw oracle scores on `scale` (None: the
    objectives' data statistics)."""
    from irs.candidates import objective_names, rescore
    from irs.domains import get_domain
    from irs.runs import oracle_objectives

    names = set(objective_names(df))
    return rescore(df, [o for o in oracle_objectives(get_domain(cfg.domain), cfg, {"eval": scale}) if o.name in names])


def _ric_candidates(run, cfg: RunConfig, cache_dir: Path):
    """RiC's candidates must be sampled with its preference prompt. If the worker's candidates are exactly
    what a prompted sampling with the worker's settings gives, use them; otherwise sample with the prompt
    (same K, seed and settings), score with the oracle and cache the table in the bench folder."""
    import pandas as pd
    import torch

    from irs.algorithms.ric import ric_max_new_tokens, ric_prompt
    from irs.candidates import score_candidates
    from irs.checkpoint import load_model_dir
    from irs.config import bf16_flag
    from irs.domains import get_domain
    from irs.rl.sampler import sample
    from irs.runs import load_candidates, oracle_objectives

    cache = cache_dir / f"{run.id}.parquet"
    if cache.is_file():
        return pd.read_parquet(cache), "bench (prompted)"
    model, tok = load_model_dir(run.final_dir)
    prompt = ric_prompt(model, cfg.weights)
    if prompt is None:
        raise RuntimeError(
            f"run {run.id} has method 'ric' but its final model is not a RiC model: the worker "
            f"did not build it with irs.algorithms.make_trainer"
        )
    domain = get_domain(cfg.domain)
    from irs.prompting import eval_contexts, prompt_texts

    ctx = eval_contexts(domain, cfg.n_final_samples)  # prompt domains: the prefix goes before each document
    r = cfg.rl
    s = sample(
        model.eval(),
        tok,
        cfg.n_final_samples,
        max_new_tokens=ric_max_new_tokens(model, cfg, domain),
        temperature=r.temperature,
        top_k=r.top_k,
        top_p=r.top_p,
        bf16=bf16_flag(r),
        prompt=prompt if ctx is None else prompt_texts(ctx, prompt),
        generator=torch.Generator().manual_seed(cfg.seed),
    )
    df = load_candidates(run)
    if list(df["candidate"]) == list(s.texts):
        return df, "worker"
    log.info(
        "bench: run %s: the worker's candidates were not sampled with the RiC prompt; sampling %d with "
        "prompt %s and scoring them with the oracle",
        run.id,
        len(s.texts),
        prompt,
    )
    df = score_candidates(s.texts, domain, oracle_objectives(domain, cfg), set_name="final", contexts=ctx)
    cache_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(cache, df.to_parquet(index=False))
    return df, "bench (prompted)"


def reference_eval(base: RunConfig, seed: int, cache_dir: Path, scale: dict | None = None) -> dict:
    """The starting point every method fine-tunes: K samples of the base model (run seed, run sampling
    settings), scored by the oracle. Not a run and not in the verdict: it shows what the methods added."""
    import pandas as pd

    cfg = _validated(copy.deepcopy(base))
    cache = cache_dir / f"{REFERENCE}-s{seed}.parquet"
    if cache.is_file():
        df = pd.read_parquet(cache)
    else:
        from irs.runs.results import starting_candidates

        df = starting_candidates(cfg, seed, set_name="pretrained")
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(cache, df.to_parquet(index=False))
    return _table_eval(on_scale(df, cfg, scale), "bench (base model)", proxy_queries=0, train_s=0.0)


def _table_eval(df, source: str, proxy_queries, train_s) -> dict:
    from irs.candidates import evaluate_table, objective_names

    names = objective_names(df)
    ev = evaluate_table(df, names)
    valid = df["valid"].to_numpy(bool)
    uniq = valid & ~df["duplicate"].to_numpy(bool)
    R = df[[f"reward_{n}" for n in names]].to_numpy(np.float64)[uniq]
    R = R[np.isfinite(R).all(1)]
    ev["valid_frac"] = float(valid.mean()) if len(df) else math.nan
    ev["all_avg_reward"] = float(R.mean()) if len(R) else math.nan
    ev["proxy_queries"] = proxy_queries
    ev["train_s"] = train_s
    ev["candidates_from"] = source
    return ev


def _validated(cfg: RunConfig) -> RunConfig:
    """A run's config with its objectives filled in (a config may leave them to the preset)."""
    from irs.domains import get_domain

    return validate(cfg, [o.name for o in get_domain(cfg.domain).objectives(cfg.preset or None)])


def _proxy_queries(run) -> int | None:
    """Proxy evaluations the run made (objective counters in its last checkpoint)."""
    ck = run.latest_checkpoint()
    if ck is None:
        return None
    st = json.loads((run.checkpoints_dir / ck["dir"] / "state.json").read_text())
    counts = st.get("objective_counts")
    return int(sum(n for n, _ in counts)) if counts else 0


def evaluate_run_row(run, cfg: RunConfig, cache_dir: Path, scale: dict | None = None) -> tuple[dict, object]:
    """(numbers of one run, its candidate table), the rewards on the bench's `scale` (bench_scale)."""
    from irs.runs import load_candidates

    cfg = _validated(cfg)
    if cfg.method == "ric":
        df, source = _ric_candidates(run, cfg, cache_dir)
    else:
        df, source = load_candidates(run), "worker"
    df = on_scale(df, cfg, scale)
    steps = [r for r in run.metrics() if r.get("type") == "step"]
    ev = _table_eval(df, source, _proxy_queries(run), float(sum(r.get("seconds") or 0.0 for r in steps)))
    return ev, df
