"""Reward normalization calibrated where the policy samples.

The paper normalizes each reward with statistics of the objective's training data. Measured here, such a
range can be far wider than the spread of the starting model's own samples (QED of MolGPT-2 samples spans
about a third of [0, 1]; the α proxy's normalized std was 0.054), so the KL term and invalid samples
swamp the objective in the advantage. A *calibrated* normalization maps the starting model's sample
quantiles instead:

    max goal:    lo = q(a),                      hi = q(b) + headroom · (q(b) - q(a))
    min goal:    lo = q(a) - headroom · (q(b) - q(a)), hi = q(b)
    target goal: the range [q(a), q(b)] widened to hold the objective's target window (kept in raw units)

then clipped to the objective's hard bounds (`Objective.bounds`, e.g. QED in [0, 1]). With the default
a = 0.05, b = 0.95 and headroom 0.5, the base samples' rewards spread over about [0, 0.67]: improvement
has room above them, and an invalid sample (reward `rl.invalid_reward`, 0 by default) sits at the level
of the worst 5 % of valid ones instead of many standard deviations below the mean.

A calibration is a small JSON-able dict stored with the run (`calibration.json`, and inside every
checkpoint), so training, resume and every later evaluation of the run use the same scale.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np

from irs.objectives.base import Objective


class CalibrationError(ValueError):
    """The calibration cannot be computed (no valid sample, zero spread); says why."""


def calibrate_one(
    o: Objective, raw: np.ndarray, quantiles: tuple[float, float] = (0.05, 0.95), headroom: float = 0.5
) -> dict:
    """{lo, hi, q_lo, q_hi, n_valid, ...} for objective `o` from raw scores of starting-model samples."""
    raw = np.asarray(raw, dtype=np.float64)
    ok = raw[np.isfinite(raw)]
    a, b = quantiles
    if len(ok) < 2:
        raise CalibrationError(
            f"objective {o.name!r}: cannot calibrate its normalization on {len(raw)} samples "
            f"of the starting model: {len(ok)} scored (the rest invalid or failed); "
            f"use rl.normalization = 'data' or a model that generates valid candidates"
        )
    q_lo, q_hi = (float(x) for x in np.quantile(ok, [a, b]))
    span = q_hi - q_lo
    if not span > 1e-9 * max(1.0, abs(q_hi)):
        raise CalibrationError(
            f"objective {o.name!r}: the starting model's {len(ok)} scored samples have no spread "
            f"(quantiles {a:g}-{b:g} both {q_lo:.6g}), so a calibrated range would be empty; "
            f"use rl.normalization = 'data'"
        )
    if o.goal == "max":
        lo, hi = q_lo, q_hi + headroom * span
    elif o.goal == "min":
        lo, hi = q_lo - headroom * span, q_hi
    else:  # target: keep the window in raw units, inside the range
        wa, wb = (o.lo + t * (o.hi - o.lo) for t in o.target)
        lo, hi = min(q_lo, wa - 0.25 * span), max(q_hi, wb + 0.25 * span)
    if o.bounds is not None:
        lo, hi = max(lo, o.bounds[0]), min(hi, o.bounds[1])
        if hi <= lo:  # the samples sit at a bound: keep the quantile range
            lo, hi = q_lo, q_hi
    return {
        "lo": lo,
        "hi": hi,
        "q_lo": q_lo,
        "q_hi": q_hi,
        "quantiles": [a, b],
        "headroom": headroom,
        "n_valid": int(len(ok)),
        "n": int(len(raw)),
        "mean": float(ok.mean()),
        "std": float(ok.std()),
        "data_lo": o.lo,
        "data_hi": o.hi,
    }


def calibrate(
    objectives: Sequence[Objective],
    candidates: Sequence[str],
    contexts=None,
    quantiles: tuple[float, float] = (0.05, 0.95),
    headroom: float = 0.5,
    strict: bool = True,
) -> dict:
    """{objective name: calibration} from the starting model's samples `candidates` (canonical forms, ""
    for invalid ones). Raises CalibrationError naming the objective that cannot be calibrated; with
    strict=False (evaluation scales) such an objective keeps its data statistics, and says why."""
    out = {}
    for o in objectives:
        raw = o.raw(candidates, contexts) if len(candidates) else np.array([])
        try:
            out[o.name] = calibrate_one(o, raw, quantiles, headroom)
        except CalibrationError as e:
            if strict:
                raise
            ok = np.isfinite(np.asarray(raw, dtype=np.float64))
            out[o.name] = {
                "lo": o.lo,
                "hi": o.hi,
                "q_lo": None,
                "q_hi": None,
                "quantiles": list(quantiles),
                "headroom": headroom,
                "n_valid": int(ok.sum()),
                "n": int(len(raw)),
                "data_lo": o.lo,
                "data_hi": o.hi,
                "fallback": f"data statistics: {e}",
            }
    return out


def apply(objectives: Sequence[Objective], calibration: dict | None) -> list[Objective]:
    """Copies of `objectives` normalized by `calibration` (objectives it does not name are unchanged).
    A target window keeps its raw-unit position. None: the objectives themselves."""
    if not calibration:
        return list(objectives)
    out = []
    for o in objectives:
        c = calibration.get(o.name)
        if c is None:
            out.append(o)
            continue
        n = copy.copy(o)
        n.lo, n.hi = float(c["lo"]), float(c["hi"])
        if o.goal == "target":
            raw = [o.lo + t * (o.hi - o.lo) for t in o.target]
            n.target = tuple(float(np.clip((r - n.lo) / (n.hi - n.lo), 0.0, 1.0)) for r in raw)
        n.n_scored = n.n_invalid = 0
        out.append(n)
    return out


# ---- the starting model's calibration of a run ---------------------------------------------------------
CALIBRATION_SEED = 20251  # fixed, not the run's seed: one starting model gives one scale for every run


def _cache_key(spec: dict, model_dir: str | None) -> str | None:
    """A key for the calibration cache: the model's weight bytes and everything the scale depends on."""
    import hashlib
    import json
    from pathlib import Path

    if not model_dir or not (Path(model_dir) / "model.safetensors").is_file():
        return None
    h = hashlib.sha256((Path(model_dir) / "model.safetensors").read_bytes())
    h.update(json.dumps(spec, sort_keys=True, default=str).encode())
    return h.hexdigest()[:24]


def starting_calibration(
    cfg,
    domain,
    model,
    tokenizer,
    train_objectives,
    eval_objectives,
    max_new_tokens: int,
    bf16=None,
    model_dir: str | None = None,
    cache_dir=None,
) -> dict:
    """{"train": {...}, "eval": {...}, "samples": n, ...}: the calibrated normalization of a run, from
    cfg.rl.calibration_samples samples of the starting `model` (the run's temperature, top-k/p; a fixed
    seed). "train" calibrates the objectives the policy is trained on (proxies), "eval" the oracle
    objectives its candidates are scored with, each on its own scores of the same samples (a proxy and
    its oracle need not agree on levels). Cached by the model's weights when `model_dir` is given.
    Raises CalibrationError when an objective cannot be calibrated."""
    import json
    from pathlib import Path

    import torch

    from irs.io import atomic_write_json
    from irs.prompting import eval_contexts, prompt_texts
    from irs.rl.sampler import sample

    r = cfg.rl
    n = r.calibration_samples
    spec = {
        "domain": domain.name,
        "preset": cfg.preset,
        "n": n,
        "headroom": r.calibration_headroom,
        "sampling": [r.temperature, r.top_k, r.top_p, max_new_tokens],
        "seed": CALIBRATION_SEED,
        "train": [(o.name, o.lo, o.hi, o.goal, o.target) for o in train_objectives],
        "eval": [(o.name, o.lo, o.hi, o.goal, o.target) for o in eval_objectives],
        "version": 1,
    }
    key = _cache_key(spec, model_dir)
    path = Path(cache_dir) / f"{key}.json" if key and cache_dir else None
    if path is not None and path.is_file():
        return json.loads(path.read_text())
    ctx = eval_contexts(domain, n, "train")
    s = sample(
        model,
        tokenizer,
        n,
        max_new_tokens=max_new_tokens,
        temperature=r.temperature,
        top_k=r.top_k,
        top_p=r.top_p,
        bf16=bf16,
        generator=torch.Generator().manual_seed(CALIBRATION_SEED),
        prompt=prompt_texts(ctx),
    )
    canon = domain.canonical(s.texts)
    keyed = [c if c is not None else "" for c in canon]
    headroom = r.calibration_headroom
    out = {
        "method": "calibrated",
        "samples": n,
        "valid": int(sum(c is not None for c in canon)),
        "seed": CALIBRATION_SEED,
        "quantiles": [0.05, 0.95],
        "headroom": headroom,
        "train": calibrate(train_objectives, keyed, ctx, headroom=headroom),
    }
    # a preset without an oracle is evaluated with its training objectives: reuse their scale
    own_oracle = (cfg.preset or domain.default_preset) in domain.oracles
    reuse = {} if own_oracle else out["train"]
    rest = [o for o in eval_objectives if o.name not in reuse]
    # an evaluation-only metric that does not vary on the starting model (ROUGE-L of an untrained one)
    # keeps its data statistics: it is reported, not trained on
    out["eval"] = {
        **{o.name: reuse[o.name] for o in eval_objectives if o.name in reuse},
        **calibrate(rest, keyed, ctx, headroom=headroom, strict=False),
    }
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, out)
    return out
