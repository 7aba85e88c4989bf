"""The Objective component: name, goal, normalization from stored statistics, batched scoring.

An objective turns candidates (strings) into rewards in [0, 1]:

    raw = scorer(candidates)                       # float array, NaN where a candidate is invalid
    norm = (raw - lo) / (hi - lo), clipped to [0, 1]  # lo/hi come from the objective's training data
    reward = goal_transform(norm, goal, target)    # max: norm, min: 1 - norm, target: peak at window

Invalid candidates get `invalid_reward` (NaN or 0) and are counted in `n_invalid`.

Context-aware objectives (`needs_context=True`, e.g. the text domain's faithfulness to a source document)
are called `scorer(candidates, contexts)`, where contexts[i] is the prompt record candidate i answers
(a dict with at least "id", "prompt", "source", "reference"; see Domain.prompts).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

GOALS = ("max", "min", "target")


def goal_transform(norm: np.ndarray, goal: str, target: tuple[float, float] | None = None) -> np.ndarray:
    """Map normalized scores in [0, 1] to rewards in [0, 1] where higher is better.

    - "max": identity; "min": 1 - norm;
    - "target": 1 inside the window [a, b] (normalized units), falling linearly to 0 at the far ends of
      [0, 1]. The paper's "moderate" HOMO-LUMO gap is target=(0.5, 0.5).
    """
    norm = np.asarray(norm, dtype=np.float64)
    if goal == "max":
        return norm.copy()
    if goal == "min":
        return 1.0 - norm
    if goal == "target":
        if target is None:
            raise ValueError("goal 'target' needs a target window (a, b)")
        a, b = target
        out = np.ones_like(norm)
        below, above = norm < a, norm > b
        out[below] = norm[below] / a if a > 0 else 1.0
        out[above] = (1.0 - norm[above]) / (1.0 - b) if b < 1 else 1.0
        return np.clip(out, 0.0, 1.0)
    raise ValueError(f"unknown goal {goal!r}; expected one of {GOALS}")


@dataclass
class Objective:
    """One objective: `scorer` maps a list of candidates to raw floats (NaN = invalid/failed).

    lo, hi: raw values mapped to 0 and 1 (from the training split's statistics).
    goal: "max", "min" or "target" (with `target`, a window in normalized units).
    invalid_reward: reward given to invalid candidates: NaN (evaluation) or 0.0 (training).
    """

    name: str
    scorer: Callable[[Sequence[str]], np.ndarray]
    lo: float = 0.0
    hi: float = 1.0
    goal: str = "max"
    target: tuple[float, float] | None = None
    description: str = ""
    unit: str = ""
    invalid_reward: float = 0.0
    needs_context: bool = False
    bounds: tuple[float, float] | None = (
        None  # hard limits of the raw score (QED: 0, 1); a calibrated range stays inside
    )
    n_scored: int = field(default=0, init=False)
    n_invalid: int = field(default=0, init=False)

    def __post_init__(self):
        if self.goal not in GOALS:
            raise ValueError(f"objective {self.name!r}: unknown goal {self.goal!r}; expected one of {GOALS}")
        if not (np.isfinite(self.lo) and np.isfinite(self.hi)) or self.hi <= self.lo:
            raise ValueError(f"objective {self.name!r}: need finite lo < hi, got lo={self.lo}, hi={self.hi}")
        if self.goal == "target":
            if self.target is None or not (0 <= self.target[0] <= self.target[1] <= 1):
                raise ValueError(
                    f"objective {self.name!r}: target window must satisfy 0 <= a <= b <= 1, got {self.target}"
                )

    def raw(self, candidates: Sequence[str], contexts: Sequence[dict] | None = None) -> np.ndarray:
        if self.needs_context:
            if contexts is None or len(contexts) != len(candidates):
                raise ValueError(
                    f"objective {self.name!r} needs one context record per candidate, got "
                    f"{None if contexts is None else len(contexts)} for {len(candidates)}"
                )
            out = self.scorer(list(candidates), list(contexts))
        else:
            out = self.scorer(list(candidates))
        out = np.asarray(out, dtype=np.float64).reshape(-1)
        if out.shape[0] != len(candidates):
            raise RuntimeError(
                f"objective {self.name!r} returned {out.shape[0]} scores for {len(candidates)} candidates"
            )
        self.n_scored += len(out)
        self.n_invalid += int(np.isnan(out).sum())
        return out

    def normalize(self, raw: np.ndarray) -> np.ndarray:
        return np.clip((np.asarray(raw, dtype=np.float64) - self.lo) / (self.hi - self.lo), 0.0, 1.0)

    def transform(self, raw: np.ndarray) -> np.ndarray:
        """Raw scores to rewards in [0, 1]; NaN stays NaN."""
        raw = np.asarray(raw, dtype=np.float64)
        r = goal_transform(np.nan_to_num(self.normalize(raw), nan=0.0), self.goal, self.target)
        r[np.isnan(raw)] = np.nan
        return r

    def reward(self, candidates: Sequence[str], contexts: Sequence[dict] | None = None) -> np.ndarray:
        r = self.transform(self.raw(candidates, contexts))
        return np.where(np.isnan(r), self.invalid_reward, r)

    def describe(self) -> str:
        goal = {"max": "maximize", "min": "minimize"}.get(self.goal, f"target window {self.target} (normalized)")
        return f"{self.name}: {goal}. {self.description}".strip()


def aggregate(rewards: np.ndarray, weights: Sequence[float], how: str = "weighted_sum") -> np.ndarray:
    """Combine a (samples x objectives) reward matrix into one reward per sample (MORLHF).

    Weights are normalized to sum 1. NaN rewards are ignored (weights renormalized over the rest);
    a row with no finite reward gets NaN. `how`: "weighted_sum" (default) or "geometric".
    """
    R = np.asarray(rewards, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if R.ndim != 2 or R.shape[1] != w.shape[0]:
        raise ValueError(f"rewards {R.shape} and weights {w.shape} do not match")
    ok = ~np.isnan(R)
    W = np.where(ok, w[None, :], 0.0)
    denom = W.sum(1)
    with np.errstate(invalid="ignore", divide="ignore"):
        if how == "weighted_sum":
            out = (W * np.nan_to_num(R)).sum(1) / denom
        elif how == "geometric":
            out = np.exp((W * np.log(np.clip(np.nan_to_num(R), 1e-12, None))).sum(1) / denom)
        else:
            raise ValueError(f"unknown aggregation {how!r}; expected 'weighted_sum' or 'geometric'")
    out[denom == 0] = np.nan
    return out
