"""Algorithm 1's bookkeeping, independent of what an expert is: rounds of m steps over a subset S of
M objectives drawn uniformly without replacement, each round closed by a merge (eq. 9).

    for t in 0..T-1:
        if t % m == 0: S = draw M of N                 # Alg. 1 line 7
        for i in S: step(i, t)                          # eq. 8
        if (t + 1) % m == 0 or t + 1 == T: merge(S)     # eq. 9, and line 11 at the end

The language-model trainer and the convex toy of Theorem 1 both run through `run_schedule`, so the
tests of the theorem exercise the same loop that trains real models. Merging at the end of a round is
Algorithm 1's "merge when t mod m = 0" seen from the other side of the step: with m = 1 it yields one
weighted step per t (MORLHF), with m = T a single merge of independent experts (Rewarded Soups).
With M < N the final merge is over the last round's S; experts outside S still hold the previous
merge, so merging them too would only pull towards an older point.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import permutations

import numpy as np


@dataclass
class ScheduleState:
    T: int
    m: int
    N: int
    M: int
    t: int = 0  # completed steps
    S: list[int] = field(default_factory=list)  # current subset
    rng_state: dict | None = None  # numpy bit-generator state for subset draws

    def to_dict(self) -> dict:
        return {
            "T": self.T,
            "m": self.m,
            "N": self.N,
            "M": self.M,
            "t": self.t,
            "S": list(self.S),
            "rng_state": self.rng_state,
        }

    @classmethod
    def from_dict(cls, d: dict) -> ScheduleState:
        return cls(**d)

    @property
    def done(self) -> bool:
        return self.t >= self.T

    def merges_total(self) -> int:
        return -(-self.T // self.m)


def draw_subset(rng: np.random.Generator, N: int, M: int) -> list[int]:
    """M of N objectives, uniformly without replacement, returned sorted."""
    return sorted(int(i) for i in rng.choice(N, size=M, replace=False))


def fixed_lambdas(weights, S) -> np.ndarray:
    """eq. 10: λ_i = w_i / Σ_{j∈S} w_j over the subset S."""
    w = np.asarray(weights, dtype=np.float64)[list(S)]
    return w / w.sum()


def paper_grid(M: int) -> list[np.ndarray]:
    """The 7-point grid of Appendix B.3 for M = 3 (equal; permutations of [1/6,1/6,2/3] and
    [1/6,5/12,5/12]), generalized: equal, and for each j the point leaning to j (2/3 on j) and the
    point leaning away from j (1/6 on j), the rest split equally."""
    if M == 1:
        return [np.ones(1)]
    pts = [np.full(M, 1.0 / M)]
    for hi in (2 / 3, 1 / 6):
        for j in range(M):
            p = np.full(M, (1 - hi) / (M - 1))
            p[j] = hi
            pts.append(p)
    uniq = []
    for p in pts:
        if not any(np.allclose(p, q) for q in uniq):
            uniq.append(p)
    return uniq


def candidate_lambdas(strategy: str, weights, S, rng: np.random.Generator, grid=None, n_mc: int = 8):
    """Candidate λ vectors over S for a merge. 'fixed' gives one; 'selective' a grid (scaled by the
    preference weights and renormalized, so an equal-weight run uses the paper's grid as is);
    'monte_carlo' eq. 10 plus n_mc uniform draws from the simplex."""
    base = fixed_lambdas(weights, S)
    if strategy == "fixed" or len(S) == 1:
        return [base]
    if strategy == "selective":
        pts = [np.asarray(g, dtype=np.float64) for g in grid] if grid else paper_grid(len(S))
        out = []
        for p in pts:
            q = p * base
            out.append(q / q.sum())
        return out
    if strategy == "monte_carlo":
        return [base] + [rng.dirichlet(np.ones(len(S))) for _ in range(n_mc)]
    raise ValueError(f"unknown lambda strategy {strategy!r}")


def run_schedule(
    state: ScheduleState,
    rng: np.random.Generator,
    step: Callable[[int, int], None],
    merge: Callable[[list[int], bool], None],
    should_stop: Callable[[], bool] = lambda: False,
    budget_spent: Callable[[], bool] = lambda: False,
):
    """Advance `state` until done or `should_stop()`; `step(i, t)` trains expert i at step t,
    `merge(S, final)` merges the experts in S (final=True for the last merge). `rng` draws subsets and
    is captured in state.rng_state at every step boundary, so a stop can be resumed exactly.
    `budget_spent()`, asked after each step's experts, ends the run there: T becomes t + 1, so that
    step's merge is the final one (an oracle budget spent mid-run finishes like a run of T steps)."""
    while not state.done:
        if should_stop():
            break
        t = state.t
        if t % state.m == 0 or not state.S:
            state.S = draw_subset(rng, state.N, state.M)
        for i in state.S:
            step(i, t)
        if t + 1 < state.T and budget_spent():
            state.T = t + 1
        if (t + 1) % state.m == 0 or t + 1 == state.T:
            merge(list(state.S), t + 1 == state.T)
        state.t = t + 1
        state.rng_state = rng.bit_generator.state
    return state


def all_permutations(p) -> list[tuple]:
    return sorted(set(permutations(p)))
