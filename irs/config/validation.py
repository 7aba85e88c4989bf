"""Validation of a run configuration: ranges, choices and their combinations, each error naming the field;
and the derived settings (LoRA, normalization, bf16) resolved for a domain (irs.config)."""

from __future__ import annotations

import math

from irs.config.fields import METHODS, ObjectiveSpec, RLConfig, RunConfig

MAX_BATCH, MAX_SAMPLES, MAX_STEPS = 65_536, 1_000_000, 10_000_000  # beyond these a run only exhausts memory


def _check(cond: bool, field_name: str, value, why: str):
    if not cond:
        raise ValueError(f"config field {field_name} = {value!r}: {why}")


def validate(cfg: RunConfig, available: list[str] | None = None) -> RunConfig:
    """Check every field; fill objectives from `available` (the preset's names) when empty; normalize
    weights to sum 1 (noting it in cfg.notes). Raises ValueError naming the bad field."""
    _check(cfg.method in METHODS, "method", cfg.method, f"must be one of {METHODS}")
    r, m = cfg.rl, cfg.merge
    if available is not None:
        if not cfg.objectives:
            cfg.objectives = [ObjectiveSpec(n, 1.0) for n in available]
        for i, o in enumerate(cfg.objectives):
            _check(o.name in available, f"objectives[{i}].name", o.name, f"unknown objective; preset has {available}")
        names = [o.name for o in cfg.objectives]
        _check(len(set(names)) == len(names), "objectives", names, "objective names repeat")
    _check(len(cfg.objectives) >= 1, "objectives", [], "need at least one objective")
    for i, o in enumerate(cfg.objectives):
        w = o.weight
        _check(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w),
            f"objectives[{i}].weight",
            w,
            "must be a finite number",
        )
        _check(w >= 0, f"objectives[{i}].weight", w, "must be >= 0")
    total = sum(o.weight for o in cfg.objectives)
    _check(total > 0, "objectives.weight", [o.weight for o in cfg.objectives], "weights are all zero")
    if abs(total - 1.0) > 1e-9:
        before = [o.weight for o in cfg.objectives]
        for o in cfg.objectives:
            o.weight = o.weight / total
        cfg.notes.append(
            f"weights {before} did not sum to 1; normalized to {[round(o.weight, 6) for o in cfg.objectives]}"
        )
    N = len(cfg.objectives)
    _check(m.total_steps >= 1, "merge.total_steps", m.total_steps, "must be >= 1")
    _check(m.merge_every >= 1, "merge.merge_every", m.merge_every, "must be >= 1")
    _check(0 <= m.subset_size <= N, "merge.subset_size", m.subset_size, f"must be between 1 and N={N} (0 = all)")
    _check(
        m.lambdas in ("fixed", "selective", "monte_carlo"),
        "merge.lambdas",
        m.lambdas,
        "must be 'fixed', 'selective' or 'monte_carlo'",
    )
    _check(
        m.optimizer_state in ("keep", "reset", "average"),
        "merge.optimizer_state",
        m.optimizer_state,
        "must be 'keep', 'reset' or 'average'",
    )
    for j, lam in enumerate(m.lambda_grid):
        _check(
            isinstance(lam, list)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in lam),
            f"merge.lambda_grid[{j}]",
            lam,
            "each entry must be a list of numbers",
        )
        _check(
            len(lam) == N and all(x >= 0 for x in lam) and sum(lam) > 0,
            f"merge.lambda_grid[{j}]",
            lam,
            f"each entry needs {N} non-negative numbers with a positive sum",
        )
    _check(m.n_val_samples >= 1, "merge.n_val_samples", m.n_val_samples, "must be >= 1")
    _check(m.n_candidates_mc >= 1, "merge.n_candidates_mc", m.n_candidates_mc, "must be >= 1")
    _check(r.algo in ("ppo", "rloo"), "rl.algo", r.algo, "must be 'ppo' or 'rloo'")
    _check(r.optimizer in ("adam", "sgd"), "rl.optimizer", r.optimizer, "must be 'adam' or 'sgd'")
    _check(r.lr > 0 and math.isfinite(r.lr), "rl.lr", r.lr, "must be a positive number")
    _check(r.batch_size >= 2, "rl.batch_size", r.batch_size, "must be >= 2 (RLOO needs a leave-one-out baseline)")
    _check(r.batch_size <= MAX_BATCH, "rl.batch_size", r.batch_size, f"must be <= {MAX_BATCH:,} (memory)")
    _check(
        1 <= cfg.n_final_samples <= MAX_SAMPLES,
        "n_final_samples",
        cfg.n_final_samples,
        f"must be between 1 and {MAX_SAMPLES:,}",
    )
    _check(m.total_steps <= MAX_STEPS, "merge.total_steps", m.total_steps, f"must be <= {MAX_STEPS:,}")
    _check(
        0 <= r.minibatch_size <= r.batch_size, "rl.minibatch_size", r.minibatch_size, "must be between 0 and batch_size"
    )
    _check(r.ppo_epochs >= 1, "rl.ppo_epochs", r.ppo_epochs, "must be >= 1")
    _check(r.beta >= 0, "rl.beta", r.beta, "must be >= 0")
    _check(r.kl_estimator in ("k1", "k3"), "rl.kl_estimator", r.kl_estimator, "must be 'k1' or 'k3'")
    _check(r.kl_penalty in ("reward", "loss"), "rl.kl_penalty", r.kl_penalty, "must be 'reward' or 'loss'")
    _check(
        r.kl_penalty == "reward" or (r.top_k == 0 and r.top_p == 1.0),
        "rl.kl_penalty",
        r.kl_penalty,
        "'loss' needs the full distribution: set top_k = 0 and top_p = 1 (filters give the policy and the "
        "reference different supports)",
    )
    _check(r.cliprange > 0, "rl.cliprange", r.cliprange, "must be > 0")
    _check(r.cliprange_value > 0, "rl.cliprange_value", r.cliprange_value, "must be > 0")
    _check(r.vf_coef >= 0, "rl.vf_coef", r.vf_coef, "must be >= 0")
    _check(r.max_grad_norm >= 0, "rl.max_grad_norm", r.max_grad_norm, "must be >= 0 (0 = no clipping)")
    _check(r.top_k >= 0, "rl.top_k", r.top_k, "must be >= 0 (0 = no top-k filter)")
    _check(0 <= cfg.seed < 2**32, "seed", cfg.seed, "must be between 0 and 2**32 - 1")
    _check(0 <= r.gamma <= 1 and 0 <= r.lam <= 1, "rl.gamma/rl.lam", (r.gamma, r.lam), "must be in [0, 1]")
    _check(
        r.rloo_k == 0 or (r.rloo_k >= 2 and r.batch_size % r.rloo_k == 0),
        "rl.rloo_k",
        r.rloo_k,
        "must be 0 or >= 2 and divide batch_size",
    )
    _check(r.temperature >= 0, "rl.temperature", r.temperature, "must be >= 0")
    _check(0 < r.top_p <= 1, "rl.top_p", r.top_p, "must be in (0, 1]")
    _check(r.bf16 in ("auto", "on", "off"), "rl.bf16", r.bf16, "must be 'auto', 'on' or 'off'")
    _check(r.max_new_tokens >= 0, "rl.max_new_tokens", r.max_new_tokens, "must be >= 0")
    _check(
        r.normalization in ("auto", "calibrated", "data"),
        "rl.normalization",
        r.normalization,
        "must be 'auto', 'calibrated' or 'data'",
    )
    _check(r.calibration_samples >= 16, "rl.calibration_samples", r.calibration_samples, "must be >= 16")
    _check(
        r.calibration_headroom >= 0 and math.isfinite(r.calibration_headroom),
        "rl.calibration_headroom",
        r.calibration_headroom,
        "must be a finite number >= 0",
    )
    _check(
        r.diversity_filter in ("none", "identical", "scaffold"),
        "rl.diversity_filter",
        r.diversity_filter,
        "must be 'none', 'identical' or 'scaffold'",
    )
    _check(r.diversity_bucket >= 1, "rl.diversity_bucket", r.diversity_bucket, "must be >= 1")
    _check(r.vf_lr >= 0 and math.isfinite(r.vf_lr), "rl.vf_lr", r.vf_lr, "must be >= 0 (0 = rl.lr)")
    _check(r.vf_warmup >= 0, "rl.vf_warmup", r.vf_warmup, "must be >= 0")
    _check(
        r.vf_warmup == 0 or r.algo == "ppo",
        "rl.vf_warmup",
        r.vf_warmup,
        "needs rl.algo = 'ppo' (RLOO has no value head)",
    )
    _check(
        cfg.method == "ric" or r.temperature > 0,
        "rl.temperature",
        r.temperature,
        "must be > 0 for RL (the policy gradient needs a sampling distribution; 0 is greedy)",
    )
    _check(cfg.nproc >= 1, "nproc", cfg.nproc, "must be >= 1")
    _check(cfg.n_final_samples >= 1, "n_final_samples", cfg.n_final_samples, "must be >= 1")
    _check(
        cfg.aggregation in ("weighted_sum", "geometric"),
        "aggregation",
        cfg.aggregation,
        "must be 'weighted_sum' or 'geometric'",
    )
    c = cfg.ric
    _check(
        isinstance(c.p, (int, float)) and not math.isnan(c.p) and c.p >= 1,
        "ric.p",
        c.p,
        "must be a number >= 1 (inf allowed)",
    )
    _check(c.n_bins >= 2, "ric.n_bins", c.n_bins, "must be >= 2")
    _check(c.lr >= 0 and math.isfinite(c.lr), "ric.lr", c.lr, "must be >= 0 (0 = rl.lr)")
    _check(c.batch_size >= 0, "ric.batch_size", c.batch_size, "must be >= 0 (0 = rl.batch_size)")
    _check(c.max_examples >= 0, "ric.max_examples", c.max_examples, "must be >= 0 (0 = all)")
    _check(
        0 <= c.online_rounds < m.total_steps,
        "ric.online_rounds",
        c.online_rounds,
        f"must be between 0 and merge.total_steps - 1 = {m.total_steps - 1} (each round needs SFT steps)",
    )
    _check(c.online_samples >= 1, "ric.online_samples", c.online_samples, "must be >= 1")
    _check(0 <= c.quantile < 1, "ric.quantile", c.quantile, "must be in [0, 1)")
    _check(
        r.samples_per_prompt >= 0 and (r.samples_per_prompt == 0 or r.batch_size % r.samples_per_prompt == 0),
        "rl.samples_per_prompt",
        r.samples_per_prompt,
        "must be 0 or divide rl.batch_size",
    )
    lo = cfg.lora
    _check(
        lo.enabled is True or lo.enabled is False or lo.enabled == "auto",
        "lora.enabled",
        lo.enabled,
        "must be true, false or 'auto'",
    )
    _check(isinstance(lo.r, int) and lo.r >= 1, "lora.r", lo.r, "must be an integer >= 1")
    _check(lo.alpha > 0, "lora.alpha", lo.alpha, "must be > 0")
    _check(0 <= lo.dropout < 1, "lora.dropout", lo.dropout, "must be in [0, 1)")
    _check(
        all(isinstance(t, str) and t for t in lo.target_modules),
        "lora.target_modules",
        lo.target_modules,
        "must be a list of module names",
    )
    b = cfg.oracle_budget
    _check(
        isinstance(b, int) and not isinstance(b, bool) and b >= 0,
        "oracle_budget",
        b,
        "must be an integer >= 1 (0 or left out = no budget)",
    )
    if b:
        _check(
            cfg.n_final_samples < b,
            "n_final_samples",
            cfg.n_final_samples,
            f"must be below oracle_budget = {b} (the final candidates are scored within the budget)",
        )
        _check(cfg.nproc == 1, "nproc", cfg.nproc, "an oracle budget is counted in one process: use nproc = 1")
        _check(
            cfg.method != "ric",
            "method",
            cfg.method,
            "RiC labels its supervised data with the oracle outside any budget: not with oracle_budget",
        )
        _check(
            r.normalization != "calibrated",
            "rl.normalization",
            r.normalization,
            "a calibration scores the starting model's samples before training, outside the budget: "
            "use 'data' or 'auto' with oracle_budget",
        )
    sf = cfg.sft
    _check(sf.steps >= 0, "sft.steps", sf.steps, "must be >= 0 (0 = no SFT)")
    _check(sf.lr > 0 and math.isfinite(sf.lr), "sft.lr", sf.lr, "must be a positive number")
    _check(sf.batch_size >= 1, "sft.batch_size", sf.batch_size, "must be >= 1")
    return cfg


def lora_enabled(cfg: RunConfig, domain=None) -> bool:
    """[lora] enabled, with 'auto' resolved by the domain (Domain.lora_default: on for text)."""
    e = cfg.lora.enabled
    if e == "auto":
        return bool(getattr(domain, "lora_default", False))
    return bool(e)


def normalization_of(cfg: RunConfig, domain=None) -> str:
    """rl.normalization with 'auto' resolved by the domain (Domain.calibrate_default)."""
    n = cfg.rl.normalization
    if n == "auto" and cfg.oracle_budget:  # a calibration would spend calls before training
        return "data"
    if n == "auto":
        return "calibrated" if getattr(domain, "calibrate_default", True) else "data"
    return n


def bf16_flag(r: RLConfig) -> bool | None:
    return {"auto": None, "on": True, "off": False}[r.bf16]
