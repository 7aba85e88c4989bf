"""RiC's conditioning: score tokens, levels, prompts and the desired scores of a preference; each domain's labelled data."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence

import numpy as np

from irs.algorithms.ric.surgery import _n_positions
from irs.config import RunConfig
from irs.objectives import Objective
from irs.tokenizer import VocabTokenizer

log = logging.getLogger(__name__)


EXPERT_NAME = "ric"
_TOKEN_RE = r"<o\d+>|<v\d+>"


# ---- conditioning: tokens, levels, prompts ---------------------------------------------------------
def objective_token(i: int) -> str:
    return f"<o{i}>"


def level_token(b: int) -> str:
    return f"<v{b}>"


def conditioning_tokens(n_objectives: int, n_bins: int) -> list[str]:
    return [objective_token(i) for i in range(n_objectives)] + [level_token(b) for b in range(n_bins)]


def conditioned_tokenizer(base: VocabTokenizer, n_objectives: int, n_bins: int) -> VocabTokenizer:
    """`base` with the conditioning tokens appended (ids after the base vocabulary) and a regex that
    matches them before anything else. Idempotent: a tokenizer that already has them is rebuilt as is.
    A chat tokenizer (irs.chat_tokenizer) gets them as added special tokens of its Hugging Face
    tokenizer (a copy), marked prompt-only."""
    extra = conditioning_tokens(n_objectives, n_bins)
    if getattr(base, "is_chat", False):
        return base.with_prompt_only(extra)
    vocab = list(base.vocab) + [t for t in extra if t not in base.token_to_id]
    inner = base.pattern or r"(?s:.)"
    pattern = inner if inner.startswith(_TOKEN_RE + "|") else f"{_TOKEN_RE}|{inner}"
    prompt_only = list(base.prompt_only) + [t for t in extra if t not in base.prompt_only]
    return VocabTokenizer(vocab, pattern, base.joiner, name=base.name, prompt_only=prompt_only)


def levels_of(rewards: np.ndarray, n_bins: int) -> np.ndarray:
    """Rewards in [0, 1] -> integer levels 0..n_bins-1 (rounded; NaN -> 0)."""
    r = np.nan_to_num(np.asarray(rewards, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(r * (n_bins - 1)), 0, n_bins - 1).astype(np.int64)


def prompt_text(levels: Sequence[int]) -> str:
    """The conditioning prefix for one sequence: <o0><v..><o1><v..>..."""
    return "".join(objective_token(i) + level_token(int(b)) for i, b in enumerate(levels))


def parse_prompt(text: str) -> list[int]:
    """Inverse of prompt_text: the levels written in a prefix (ValueError if it is not one)."""
    pairs = re.findall(r"<o(\d+)><v(\d+)>", text)
    if (
        not pairs
        or prompt_text([int(v) for _, v in pairs]) != text
        or [int(o) for o, _ in pairs] != list(range(len(pairs)))
    ):
        raise ValueError(f"not a RiC prompt: {text!r}")
    return [int(v) for _, v in pairs]


def desired_scores(weights: Sequence[float], lo: Sequence[float], hi: Sequence[float], p: float = 2.0) -> np.ndarray:
    """RiC's preference-to-reward mapping (see the module docstring): scores in [lo_i, hi_i]."""
    w = np.asarray(weights, dtype=np.float64)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if w.ndim != 1 or w.shape != lo.shape or lo.shape != hi.shape:
        raise ValueError(f"weights {w.shape}, lo {lo.shape} and hi {hi.shape} must be vectors of one length")
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError(f"weights {w.tolist()}: need finite numbers >= 0 with a positive sum")
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (inf allowed), got {p}")
    w = w / w.sum()
    if math.isinf(p):
        frac = np.minimum(len(w) * w, 1.0)
        frac[int(np.argmax(w))] = 1.0
    else:
        frac = w / np.linalg.norm(w, ord=p)
    return lo + frac * (hi - lo)


def prompt_for(weights, lo, hi, p: float, n_bins: int) -> str:
    return prompt_text(levels_of(desired_scores(weights, lo, hi, p), n_bins))


def ric_max_new_tokens(model, cfg: RunConfig, domain) -> int:
    """The generation length a RiC model gets: the run's, capped so that prompt + generation fit the
    model's positions (the prompt takes 1 + 2N of them)."""
    meta = getattr(model.config, "ric", None) or {}
    prompt_len = 1 + 2 * len(meta.get("objectives", cfg.objective_names))
    return min(cfg.rl.max_new_tokens or domain.max_new_tokens, _n_positions(model) - prompt_len)


def ric_prompt(model, weights: Sequence[float] | None = None) -> str | None:
    """The RiC prompt of a saved RiC model for `weights` (default: the run's own), or None when the
    model is not a RiC model. Use it as `sample(..., prompt=ric_prompt(model, w))`."""
    meta = getattr(getattr(model, "config", None), "ric", None)
    if not meta:
        return None
    if weights is None:
        return meta["prompt"]
    if len(weights) != len(meta["objectives"]):
        raise ValueError(
            f"weights {list(weights)}: this RiC model conditions on {len(meta['objectives'])} "
            f"objectives {meta['objectives']}"
        )
    return prompt_for(weights, meta["lo"], meta["hi"], float(meta["p"]), int(meta["n_bins"]))


# ---- labelled data: each domain's hook (Domain.labelled_data) ----------------------------------------
def labelled_examples(domain_name: str, preset: str | None, objectives: Sequence[Objective], n: int, seed: int):
    """(texts, R, contexts or None): the domain's labelled data (Domain.labelled_data), rows with a
    non-finite score dropped."""
    from irs.domains import get_domain

    hook = get_domain(domain_name).labelled_data
    if hook is None:
        raise ValueError(f"RiC needs labelled data, and domain {domain_name!r} has none (Domain.labelled_data)")
    out = hook(preset, objectives, n, seed)
    texts, R = out[0], out[1]
    ctx = out[2] if len(out) > 2 else None
    R = np.asarray(R, dtype=np.float64).reshape(len(texts), len(objectives))
    keep = np.isfinite(R).all(1)
    return (
        [t for t, k in zip(texts, keep) if k],
        R[keep],
        None if ctx is None else [c for c, k in zip(ctx, keep) if k],
    )


def labelled_data(domain_name: str, preset: str | None, objectives: Sequence[Objective], n: int, seed: int):
    """(texts, R) of labelled_examples (without the prompt records of a prompt domain)."""
    texts, R, _ = labelled_examples(domain_name, preset, objectives, n, seed)
    return texts, R
