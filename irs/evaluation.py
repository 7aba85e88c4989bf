"""Evaluation metrics (paper Section 5): Pareto set, per-objective means, ICV (eq. 16), hypervolume.

Everything here is a pure function of a reward matrix R with shape (n candidates, N objectives).
Rewards are goal-transformed and normalized to [0, 1] with "higher is better" for every objective
(see irs.objectives.base.goal_transform), so a minimize or target objective needs no special case here.

Which rows count (the same rule everywhere, so that `evaluate` and the candidate table's `pareto` column
agree):

    eligible = valid & ~duplicate & all rewards finite

A valid candidate whose oracle failed on some objective (NaN reward) is not eligible: it cannot be placed
in reward space. `evaluate` reports how many such rows there were (n_unique - n_scored).

The Pareto set is taken over eligible rows. Two *distinct* candidates with an identical reward vector are
both kept when that vector is non-dominated (`keep_duplicates=True`): neither dominates the other, and
dropping one by table order would be arbitrary. Duplicated *candidates* (same canonical form) are already
removed by the `duplicate` mask before that.

Beyond the paper (DESIGN.md §2): hypervolume, and the same figures aggregated over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from numbers import Real

import moocore
import numpy as np

ICV_STD_TOL = 1e-12  # a sample whose rewards have population std <= this counts as "all equal"


def _as_matrix(R, what: str = "R") -> np.ndarray:
    R = np.asarray(R, dtype=np.float64)
    if R.ndim != 2:
        raise ValueError(f"{what} must be a 2-D (samples x objectives) matrix, got shape {R.shape}")
    return R


def _require_finite(R: np.ndarray, what: str) -> None:
    if not np.isfinite(R).all():
        bad = int((~np.isfinite(R)).any(axis=1).sum())
        raise ValueError(f"{what} has {bad} row(s) with NaN or inf; filter them first (see eligible_mask)")


def pareto_mask(F, maximize: bool | Sequence[bool] = True, *, keep_duplicates: bool = True) -> np.ndarray:
    """Boolean mask of the non-dominated rows of F (n points x N objectives), via moocore.

    maximize: one bool for all objectives or one per objective (False = minimize that column).
    keep_duplicates: True (default) keeps every copy of a non-dominated point, i.e. the mask is exactly
        "no other row dominates this one" (a dominates b: a is at least as good everywhere and strictly
        better somewhere). False keeps only the first copy of identical non-dominated points
        (moocore's keep_weakly=False).
    F must be finite; an empty F gives an empty mask.
    """
    F = _as_matrix(F, "F")
    n, N = F.shape
    if isinstance(maximize, (bool, np.bool_)):
        maximize = [bool(maximize)] * N
    maximize = [bool(m) for m in maximize]
    if len(maximize) != N:
        raise ValueError(f"maximize has {len(maximize)} entries for {N} objectives")
    if n == 0:
        return np.zeros(0, dtype=bool)
    _require_finite(F, "F")
    return np.asarray(moocore.is_nondominated(F, maximise=maximize, keep_weakly=keep_duplicates), dtype=bool)


def icv(R, *, return_excluded: bool = False):
    """Inverse coefficient of variation, paper eq. 16: mean over samples j of mean_i(R_ji) / std_i(R_ji).

    std is the population standard deviation over the N objectives (ddof=0), as in eq. 16.
    Zero-std case: a sample whose rewards are all equal (std <= ICV_STD_TOL) has no finite ratio
    (x/0 or 0/0). Such samples are *excluded* from the mean and counted; flooring std at an epsilon would
    instead let one such sample dominate the average with a ratio of ~1e12. Consequences:
    - with one objective every sample is excluded and the ICV is NaN;
    - with no samples left (or none given) the ICV is NaN.
    Near-ties that are not exact still give large ratios; that is a property of eq. 16 itself.

    R must be finite. Returns the ICV, or (icv, n_excluded) with return_excluded=True.
    """
    R = _as_matrix(R)
    _require_finite(R, "R")
    if R.shape[0] == 0:
        value, n_excluded = math.nan, 0
    else:
        mean, std = R.mean(axis=1), R.std(axis=1, ddof=0)
        keep = std > ICV_STD_TOL
        n_excluded = int((~keep).sum())
        value = float(np.mean(mean[keep] / std[keep])) if keep.any() else math.nan
    return (value, n_excluded) if return_excluded else value


def hypervolume(R, ref: Sequence[float] | float | None = None) -> float:
    """Hypervolume dominated by the rewards R (maximized) and bounded below by the reference point.

    All objectives are rewards in [0, 1], higher is better, so the default reference point is the origin
    (all zeros): the worst possible reward vector. The largest possible value is then 1 (one point at
    (1, ..., 1)). A scalar `ref` applies to every objective. Points that are not strictly better than
    `ref` on every objective add nothing; dominated points do not change the value, so R need not be a
    Pareto set. R must be finite; an empty R gives 0.0. Computed by moocore.hypervolume (maximise=True).
    """
    R = _as_matrix(R)
    N = R.shape[1]
    ref_v = np.zeros(N) if ref is None else np.asarray(ref, dtype=np.float64).reshape(-1)
    if ref_v.size == 1:
        ref_v = np.full(N, ref_v[0])
    if ref_v.shape != (N,) or not np.isfinite(ref_v).all():
        raise ValueError(f"ref must be finite with {N} entries, got {ref!r}")
    if R.shape[0] == 0:
        return 0.0
    _require_finite(R, "R")
    return float(moocore.hypervolume(R, ref=ref_v, maximise=True))


def _masks(n: int, valid, duplicate) -> tuple[np.ndarray, np.ndarray]:
    valid = np.ones(n, bool) if valid is None else np.asarray(valid, dtype=bool).reshape(-1)
    duplicate = np.zeros(n, bool) if duplicate is None else np.asarray(duplicate, dtype=bool).reshape(-1)
    if valid.shape[0] != n or duplicate.shape[0] != n:
        raise ValueError(
            f"valid ({valid.shape[0]}) and duplicate ({duplicate.shape[0]}) masks must have "
            f"one entry per row of R ({n})"
        )
    return valid, duplicate


def eligible_mask(R, valid=None, duplicate=None) -> np.ndarray:
    """Rows that enter the evaluation: valid, not a duplicate, and finite on every objective."""
    R = _as_matrix(R)
    valid, duplicate = _masks(R.shape[0], valid, duplicate)
    return valid & ~duplicate & np.isfinite(R).all(axis=1)


def pareto_flags(R, valid=None, duplicate=None) -> np.ndarray:
    """Per-row Pareto flag over the whole table: True for eligible rows on the eligible rows' front."""
    R = _as_matrix(R)
    ok = eligible_mask(R, valid, duplicate)
    flags = np.zeros(R.shape[0], dtype=bool)
    flags[ok] = pareto_mask(R[ok], maximize=True)
    return flags


def evaluate(R, names: Sequence[str], valid=None, duplicate=None) -> dict:
    """The paper's evaluation of one candidate set (Section 5, Tables 1-3), plus hypervolume.

    R: (n, N) reward matrix in [0, 1], NaN where invalid or where the oracle failed.
    names: the N objective names. valid / duplicate: boolean masks (default: all valid, none duplicate).

    Returns a dict:
    - n_candidates: n rows; n_valid: valid rows; n_unique: valid rows that are not duplicates;
    - n_scored: unique valid rows with a finite reward on every objective (the rows evaluated below);
    - n_pareto: size of their Pareto set (distinct candidates with equal rewards all kept);
    - pareto_means {name: mean reward over the Pareto set};
    - avg_reward: mean over the Pareto set of each sample's equal-weight average reward;
    - icv: eq. 16 over the Pareto set; icv_excluded: Pareto samples left out for zero std (see `icv`);
    - hypervolume: of the Pareto set, reference point = origin (see `hypervolume`).
    With an empty Pareto set, means, avg_reward and icv are NaN and hypervolume is 0.0.
    """
    R = _as_matrix(R)
    names = list(names)
    if len(names) != R.shape[1] or len(set(names)) != len(names):
        raise ValueError(f"names must be {R.shape[1]} distinct objective names, got {names}")
    n = R.shape[0]
    valid_m, dup_m = _masks(n, valid, duplicate)
    ok = eligible_mask(R, valid_m, dup_m)
    P = R[ok][pareto_mask(R[ok], maximize=True)]
    icv_value, icv_excluded = icv(P, return_excluded=True)
    empty = P.shape[0] == 0
    return {
        "n_candidates": int(n),
        "n_valid": int(valid_m.sum()),
        "n_unique": int((valid_m & ~dup_m).sum()),
        "n_scored": int(ok.sum()),
        "n_pareto": int(P.shape[0]),
        "pareto_means": {k: (math.nan if empty else float(P[:, i].mean())) for i, k in enumerate(names)},
        "avg_reward": math.nan if empty else float(P.mean(axis=1).mean()),
        "icv": icv_value,
        "icv_excluded": icv_excluded,
        "hypervolume": hypervolume(P),
    }


def _is_number(v) -> bool:
    return isinstance(v, Real) and not isinstance(v, (bool, np.bool_))


def aggregate_seeds(evals: Sequence[Mapping]) -> dict:
    """Mean and spread over seeds of every numeric figure of `evaluate` (or `evaluate_table`) dicts.

    Returns {"n_seeds": k, "mean": {...}, "std": {...}}, where "mean" and "std" mirror the input's
    shape: top-level numbers and one level of nested {name: number} dicts (e.g. pareto_means).
    std is the sample standard deviation (ddof=1); with a single seed it is 0.0. Non-numeric entries are
    skipped. NaN in any seed propagates to that figure's mean and std. Every dict must have the same
    numeric keys (same objectives); a mismatch raises ValueError naming the key.
    """
    evals = list(evals)
    if not evals:
        raise ValueError("aggregate_seeds needs at least one evaluation dict")

    def stats(values: list[float]) -> tuple[float, float]:
        a = np.asarray(values, dtype=np.float64)
        return float(a.mean()), (float(a.std(ddof=1)) if a.size > 1 else 0.0)

    def numeric_layout(d: Mapping) -> dict:
        out = {}
        for k, v in d.items():
            if _is_number(v):
                out[k] = None
            elif isinstance(v, Mapping):
                sub = sorted(kk for kk, vv in v.items() if _is_number(vv))
                if sub:
                    out[k] = sub
        return out

    layout = numeric_layout(evals[0])
    for i, e in enumerate(evals[1:], start=1):
        other = numeric_layout(e)
        diff = sorted(k for k in set(layout) | set(other) if layout.get(k, "-") != other.get(k, "-"))
        if diff:
            raise ValueError(
                f"evaluations 0 and {i} differ in figure {diff[0]!r} (missing in one, or different objective names)"
            )
    mean, std = {}, {}
    for k, sub in layout.items():
        if sub is None:
            mean[k], std[k] = stats([e[k] for e in evals])
        else:
            mean[k], std[k] = {}, {}
            for kk in sub:
                mean[k][kk], std[k][kk] = stats([e[k][kk] for e in evals])
    return {"n_seeds": len(evals), "mean": mean, "std": std}


def format_mean_std(m: float, s: float, digits: int = 4, sep: str = " ± ") -> str:
    """'0.8123 ± 0.0101' with `digits` decimals; NaN prints as 'nan'."""
    if not isinstance(digits, int) or digits < 0:
        raise ValueError(f"digits must be a non-negative int, got {digits!r}")
    return f"{m:.{digits}f}{sep}{s:.{digits}f}"
