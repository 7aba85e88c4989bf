"""Evaluation metrics (Pareto mask, ICV eq. 16, hypervolume, evaluate, seed aggregation) and the
candidate table builder on the toy domain. Hand-computed small cases plus a brute-force property test."""

import copy
import math

import numpy as np
import pandas as pd
import pytest

from irs.candidates import duplicate_flags, evaluate_table, merge_tables, rescore, score_candidates
from irs.domains import toy
from irs.domains.base import Domain
from irs.evaluation import aggregate_seeds, evaluate, format_mean_std, hypervolume, icv, pareto_flags, pareto_mask
from irs.objectives import Objective

# ---------------------------------------------------------------- Pareto mask

# Maximize both: (1,0), (0,1), (0.5,0.5) are non-dominated; (0.4,0.4) is dominated by (0.5,0.5);
# the last row repeats (1,0).
F2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.4, 0.4], [1.0, 0.0]])


def test_pareto_mask_hand_case_maximize_and_duplicates():
    assert pareto_mask(F2, True).tolist() == [True, True, True, False, True]
    assert pareto_mask(F2, True, keep_duplicates=False).tolist() == [True, True, True, False, False]


def test_pareto_mask_minimize_and_mixed():
    # Minimizing the negated points is the same problem.
    assert pareto_mask(-F2, False).tolist() == [True, True, True, False, True]
    # Mixed: maximize column 0, minimize column 1 (stored negated).
    G = F2 * np.array([1.0, -1.0])
    assert pareto_mask(G, [True, False]).tolist() == [True, True, True, False, True]
    # Minimizing the original points flips the front: (0.4, 0.4) now beats (0.5, 0.5).
    assert pareto_mask(F2, False).tolist() == [True, True, False, True, True]


def test_pareto_mask_edge_cases_and_errors():
    assert pareto_mask(np.zeros((0, 3))).shape == (0,)
    assert pareto_mask([[0.2, 0.3]]).tolist() == [True]
    with pytest.raises(ValueError, match="NaN"):
        pareto_mask([[0.1, np.nan], [0.2, 0.3]])
    with pytest.raises(ValueError, match="maximize"):
        pareto_mask(F2, [True, True, False])
    with pytest.raises(ValueError, match="2-D"):
        pareto_mask([0.1, 0.2])


def _dominates(a, b, maximize):
    s = np.where(maximize, 1.0, -1.0)
    return np.all(a * s >= b * s) and np.any(a * s > b * s)


def test_pareto_mask_matches_brute_force_on_random_matrices():
    rng = np.random.default_rng(0)
    for trial in range(60):
        n, N = int(rng.integers(1, 40)), int(rng.integers(2, 5))
        F = rng.integers(0, 5, size=(n, N)).astype(float)  # small integers: many ties and duplicates
        maximize = rng.random(N) < 0.5
        mask = pareto_mask(F, maximize.tolist())
        for i in range(n):
            dominated = any(_dominates(F[j], F[i], maximize) for j in range(n) if j != i)
            assert mask[i] == (not dominated), (trial, i)
        front = F[mask]  # the front itself is mutually non-dominated
        assert not any(_dominates(a, b, maximize) for a in front for b in front)


# ---------------------------------------------------------------- hypervolume


def test_hypervolume_hand_cases():
    P = np.array([[0.5, 0.5], [1.0, 0.2]])
    # Boxes from the origin: 0.25 + 0.2 - overlap 0.5*0.2 = 0.35.
    assert hypervolume(P) == pytest.approx(0.35)
    # A dominated point adds nothing.
    assert hypervolume(np.vstack([P, [0.4, 0.4]])) == pytest.approx(0.35)
    # Reference (0.2, 0.1): 0.3*0.4 + 0.8*0.1 - 0.3*0.1 = 0.17.
    assert hypervolume(P, ref=[0.2, 0.1]) == pytest.approx(0.17)
    assert hypervolume([[1.0, 1.0, 1.0]]) == pytest.approx(1.0)
    assert hypervolume([[0.5, 0.0]]) == 0.0  # on the reference point's boundary
    assert hypervolume(np.zeros((0, 2))) == 0.0
    with pytest.raises(ValueError, match="ref"):
        hypervolume(P, ref=[0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match="NaN"):
        hypervolume([[0.5, np.nan]])


# ---------------------------------------------------------------- ICV (eq. 16)


def test_icv_by_hand_with_zero_std_rows():
    R = np.array(
        [
            [0.2, 0.6],  # mean 0.4, population std 0.2 -> 2
            [1.0, 0.0],  # mean 0.5, std 0.5 -> 1
            [0.5, 0.5],  # std 0 -> excluded
            [0.0, 0.0],
        ]
    )  # std 0 (0/0) -> excluded
    assert icv(R) == pytest.approx(1.5)
    value, excluded = icv(R, return_excluded=True)
    assert value == pytest.approx(1.5) and excluded == 2
    # Three objectives: [0.2, 0.4, 0.6] has std sqrt(0.08/3), ratio sqrt(6).
    assert icv([[0.2, 0.4, 0.6]]) == pytest.approx(math.sqrt(6))


def test_icv_degenerate_cases():
    assert math.isnan(icv(np.array([[0.3, 0.3]])))
    assert icv([[0.1], [0.9]], return_excluded=True)[1] == 2  # one objective: std always 0
    assert math.isnan(icv(np.zeros((0, 3))))
    with pytest.raises(ValueError, match="NaN"):
        icv([[0.1, np.nan]])


# ---------------------------------------------------------------- evaluate


def test_evaluate_hand_case():
    R = np.array(
        [
            [0.5, 0.5],  # 0 front
            [1.0, 0.2],  # 1 front
            [0.4, 0.4],  # 2 dominated by 0
            [1.0, 0.2],  # 3 duplicate candidate of 1 (masked)
            [np.nan, np.nan],  # 4 invalid
            [0.9, np.nan],  # 5 valid but the oracle failed on objective 2
            [0.2, 1.0],  # 6 invalid-flagged although finite: excluded by the mask
        ]
    )
    valid = np.array([1, 1, 1, 1, 0, 1, 0], bool)
    dup = np.array([0, 0, 0, 1, 0, 0, 0], bool)
    out = evaluate(R, ["x", "y"], valid, dup)
    assert (out["n_candidates"], out["n_valid"], out["n_unique"], out["n_scored"], out["n_pareto"]) == (7, 5, 4, 3, 2)
    assert out["pareto_means"] == pytest.approx({"x": 0.75, "y": 0.35})
    assert out["avg_reward"] == pytest.approx((0.5 + 0.6) / 2)
    # ICV: row 0 has std 0 -> excluded; row 1: mean 0.6, std 0.4 -> 1.5.
    assert out["icv"] == pytest.approx(1.5) and out["icv_excluded"] == 1
    assert out["hypervolume"] == pytest.approx(0.35)
    # The same front as pareto_flags, which the candidate table uses.
    assert pareto_flags(R, valid, dup).tolist() == [True, True, False, False, False, False, False]


def test_evaluate_empty_and_bad_names():
    out = evaluate(np.full((3, 2), np.nan), ["x", "y"], np.zeros(3, bool))
    assert out["n_pareto"] == 0 and out["hypervolume"] == 0.0
    assert math.isnan(out["avg_reward"]) and math.isnan(out["icv"]) and math.isnan(out["pareto_means"]["x"])
    with pytest.raises(ValueError, match="names"):
        evaluate(np.zeros((2, 2)), ["x", "x"])
    with pytest.raises(ValueError, match="masks"):
        evaluate(np.zeros((2, 2)), ["x", "y"], valid=[True])


# ---------------------------------------------------------------- seeds


def test_aggregate_seeds_by_hand():
    def ev(icv_v, mx):
        return {"icv": icv_v, "n_pareto": 3, "pareto_means": {"x": mx, "y": 0.5}, "note": "skip me"}

    agg = aggregate_seeds([ev(1.0, 0.1), ev(2.0, 0.2), ev(4.0, 0.6)])
    assert agg["n_seeds"] == 3
    assert agg["mean"]["icv"] == pytest.approx(7 / 3)
    assert agg["std"]["icv"] == pytest.approx(math.sqrt(21 / 9))  # ddof=1: (16+1+25)/9 / 2
    assert agg["mean"]["pareto_means"]["x"] == pytest.approx(0.3)
    assert agg["std"]["pareto_means"]["x"] == pytest.approx(math.sqrt(((0.2) ** 2 + 0.1**2 + 0.3**2) / 2))
    assert agg["std"]["pareto_means"]["y"] == 0.0 and agg["std"]["n_pareto"] == 0.0
    assert "note" not in agg["mean"]
    one = aggregate_seeds([ev(1.5, 0.1)])
    assert one["mean"]["icv"] == 1.5 and one["std"]["icv"] == 0.0
    with pytest.raises(ValueError, match="pareto_means"):
        aggregate_seeds([ev(1.0, 0.1), {"icv": 1.0, "n_pareto": 3, "pareto_means": {"z": 0.1, "y": 0.5}}])
    with pytest.raises(ValueError):
        aggregate_seeds([])


def test_aggregate_seeds_on_evaluate_output():
    rng = np.random.default_rng(1)
    evals = [evaluate(rng.random((20, 3)), ["a", "b", "c"]) for _ in range(2)]
    agg = aggregate_seeds(evals)
    assert agg["mean"]["hypervolume"] == pytest.approx((evals[0]["hypervolume"] + evals[1]["hypervolume"]) / 2)
    assert set(agg["mean"]["pareto_means"]) == {"a", "b", "c"}


def test_format_mean_std():
    assert format_mean_std(0.81234, 0.01011) == "0.8123 ± 0.0101"
    assert format_mean_std(1.5, 0.0, digits=2) == "1.50 ± 0.00"
    assert format_mean_std(float("nan"), 0.0, 1) == "nan ± 0.0"


# ---------------------------------------------------------------- candidate table (toy domain)

TEXTS = ["aab", "ab", "aab", "xyz", "", "bbbbbbbb", "aaaa", "ccc", "ba"]
SCHEMA = [
    "candidate",
    "canonical",
    "valid",
    "duplicate",
    "frac_a",
    "frac_b",
    "length",
    "reward_frac_a",
    "reward_frac_b",
    "reward_length",
    "pareto",
    "set",
]


def test_score_candidates_schema_counts_and_pareto():
    objs = toy.DOMAIN.objectives()
    df = score_candidates(TEXTS, toy.DOMAIN, objs, set_name="final")
    assert list(df.columns) == SCHEMA and len(df) == len(TEXTS)
    assert df["valid"].tolist() == [True, True, True, False, False, True, True, True, True]
    assert df["canonical"][3] is None and df["canonical"][4] is None
    assert df["duplicate"].tolist() == [False, False, True] + [False] * 6
    assert (df["set"] == "final").all()
    # Each distinct canonical string scored once: 6 of 9 ("aab" twice, two invalid).
    assert [o.n_scored for o in objs] == [6, 6, 6]
    # Raw and reward values broadcast to the duplicate; invalid rows are NaN.
    assert df.loc[2, "frac_a"] == df.loc[0, "frac_a"] == pytest.approx(2 / 3)
    assert df.loc[[3, 4], ["frac_a", "reward_length"]].isna().all().all()
    assert df.loc[5, "reward_length"] == pytest.approx(1.0)  # length 8 = target window centre
    # Pareto only over valid unique rows, and consistent with a brute-force check.
    R = df[["reward_frac_a", "reward_frac_b", "reward_length"]].to_numpy()
    ok = (df["valid"] & ~df["duplicate"]).to_numpy()
    assert not df["pareto"][~ok].any()
    for i in np.flatnonzero(ok):
        dominated = any(_dominates(R[j], R[i], np.ones(3, bool)) for j in np.flatnonzero(ok) if j != i)
        assert df["pareto"][i] == (not dominated)
    assert df["pareto"].tolist() == [True, True, False, False, False, True, True, False, True]
    ev = evaluate_table(df)
    # "ab" and "ba" are distinct candidates with equal rewards: both stay on the front.
    assert (ev["n_candidates"], ev["n_valid"], ev["n_unique"], ev["n_pareto"]) == (9, 7, 6, 5)
    assert ev["pareto_raw_means"]["length"] == pytest.approx((3 + 2 + 8 + 4 + 2) / 5)


def test_score_candidates_failed_objective_and_bad_input():
    def half_fail(cands):  # fails (NaN) on strings starting with 'b'
        return np.array([np.nan if s.startswith("b") else 0.5 for s in cands])

    objs = [Objective("frac_a", toy._frac("a")), Objective("f", half_fail)]
    df = score_candidates(["ab", "ba", "q"], toy.DOMAIN, objs, set_name="s1")
    assert df["valid"].tolist() == [True, True, False]
    assert np.isnan(df.loc[1, "f"]) and not df.loc[1, "pareto"]
    ev = evaluate_table(df)
    assert (ev["n_unique"], ev["n_scored"], ev["n_pareto"]) == (2, 1, 1)
    with pytest.raises(ValueError, match="clashes"):
        score_candidates(["a"], toy.DOMAIN, [Objective("valid", toy._frac("a"))])
    with pytest.raises(ValueError, match="distinct"):
        score_candidates(["a"], toy.DOMAIN, [Objective("x", toy._frac("a")), Objective("x", toy._frac("b"))])
    with pytest.raises(ValueError, match="strings"):
        score_candidates(["a", None], toy.DOMAIN, toy.DOMAIN.objectives())
    empty = score_candidates([], toy.DOMAIN, toy.DOMAIN.objectives())
    assert list(empty.columns) == SCHEMA and len(empty) == 0


def test_canonicalize_that_raises_counts_as_invalid():
    def canon(s):
        if s == "boom":
            raise RuntimeError("odd input")
        return s

    dom = Domain("t", "", "", {"d": toy.DOMAIN.presets["default"]}, "d", canonicalize=canon)
    df = score_candidates(["ab", "boom"], dom, dom.objectives())
    assert df["valid"].tolist() == [True, False]


def test_merge_tables_per_set_and_overall():
    objs = toy.DOMAIN.objectives()
    a = score_candidates(["aaaa", "ab"], toy.DOMAIN, objs, set_name="final")
    b = score_candidates(["aaaa", "bbbbbbbb", "bbbbbbbb"], toy.DOMAIN, objs, set_name="remerge 0.5/0.5")
    per_set = merge_tables([a, b])
    assert per_set.index.tolist() == list(range(5))
    assert per_set["duplicate"].tolist() == [False, False, False, False, True]
    assert per_set["pareto"].tolist() == [True, True, True, True, False]
    overall = merge_tables([a, b], scope="all")
    assert overall["duplicate"].tolist() == [False, False, True, False, True]
    assert overall["pareto"].tolist() == [True, True, False, True, False]
    # evaluate_table recomputes duplicates over the rows it evaluates, whatever the stored scope.
    assert evaluate_table(per_set, set_name="remerge 0.5/0.5")["n_unique"] == 2
    assert evaluate_table(per_set)["n_unique"] == 3 == evaluate_table(overall)["n_unique"]
    with pytest.raises(ValueError, match="scope"):
        merge_tables([a], scope="bogus")
    with pytest.raises(ValueError, match="columns"):
        merge_tables([a, a.drop(columns=["length"])])
    with pytest.raises(ValueError, match="set"):
        evaluate_table(per_set, set_name="nope")


def test_table_survives_parquet(tmp_path):
    df = score_candidates(TEXTS, toy.DOMAIN, toy.DOMAIN.objectives())
    df.to_parquet(tmp_path / "candidates.parquet")
    back, ref = evaluate_table(pd.read_parquet(tmp_path / "candidates.parquet")), evaluate_table(df)
    assert back.keys() == ref.keys()
    for k, v in ref.items():
        assert back[k] == pytest.approx(v, nan_ok=True), k


def test_duplicate_flags():
    assert duplicate_flags(["a", None, "a", None, "b", "b"]).tolist() == [False, False, True, False, False, True]


def test_rescore_recomputes_rewards_and_pareto_from_raw_scores_without_the_oracle():
    objs = toy.DOMAIN.objectives()
    a = score_candidates(TEXTS, toy.DOMAIN, objs, set_name="final")
    b = score_candidates(["aaaa", "bbbbbbbb"], toy.DOMAIN, objs, set_name="remerge")
    df = merge_tables([a, b])
    # another scale: frac_b's range shrunk to [0, 0.5], so every b-fraction above 0.5 saturates
    other = [copy.copy(o) for o in objs]
    other[1].hi = 0.5
    for o in other:
        o.n_scored = 0
    out = rescore(df, other)
    assert [o.n_scored for o in other] == [0, 0, 0]  # the oracle was not called
    fresh = merge_tables(
        [
            score_candidates(TEXTS, toy.DOMAIN, other, set_name="final"),
            score_candidates(["aaaa", "bbbbbbbb"], toy.DOMAIN, other, set_name="remerge"),
        ]
    )
    pd.testing.assert_frame_equal(out, fresh)
    assert not out["reward_frac_b"].equals(df["reward_frac_b"]) and df.equals(merge_tables([a, b]))  # a copy
    with pytest.raises(ValueError, match="raw column"):
        rescore(df.drop(columns=["frac_b"]), other)
