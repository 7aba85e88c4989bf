"""Property tests (hypothesis) of the reward transforms every objective goes through: `goal_transform`,
`Objective.transform` and `aggregate`. Outputs stay in [0, 1], move the right way, and NaN stays NaN."""

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from irs.objectives import Objective
from irs.objectives.base import aggregate, goal_transform

unit = st.floats(0.0, 1.0, allow_nan=False)
units = st.lists(unit, min_size=1, max_size=30)
windows = st.tuples(unit, unit).map(sorted).map(tuple)
settings.register_profile("irs", max_examples=200, deadline=None, derandomize=True)
settings.load_profile("irs")


@given(units, st.sampled_from(["max", "min"]), windows)
def test_goal_transform_stays_in_the_unit_interval(xs, goal, window):
    x = np.array(xs)
    for g, t in ((goal, None), ("target", window)):
        r = goal_transform(x, g, t)
        assert r.shape == x.shape and np.all((r >= 0) & (r <= 1))


@given(unit, unit)
def test_max_is_increasing_and_min_decreasing(a, b):
    lo, hi = sorted((a, b))
    x = np.array([lo, hi])
    assert np.diff(goal_transform(x, "max"))[0] >= 0
    assert np.diff(goal_transform(x, "min"))[0] <= 0


@given(windows, unit, unit)
def test_target_is_one_inside_its_window_and_falls_towards_the_ends(window, u, v):
    a, b = window
    inside = a + (b - a) * u
    assert goal_transform(np.array([inside]), "target", window)[0] == 1.0
    lo, hi = sorted((u * a, v * a))  # two points below the window: the closer one scores at least as much
    r = goal_transform(np.array([lo, hi]), "target", window)
    assert r[1] >= r[0]
    lo, hi = sorted((b + u * (1 - b), b + v * (1 - b)))  # above it: the farther one scores at most as much
    r = goal_transform(np.array([lo, hi]), "target", window)
    assert r[0] >= r[1]


@given(st.lists(st.one_of(st.floats(-1e6, 1e6), st.just(float("nan"))), min_size=1, max_size=30))
def test_objective_transform_is_in_unit_interval_and_keeps_nan(raw):
    o = Objective("o", lambda c: c, -3.0, 5.0, "target", target=(0.3, 0.6))
    x = np.array(raw, dtype=float)
    r = o.transform(x)
    assert np.array_equal(np.isnan(r), np.isnan(x))
    ok = r[~np.isnan(r)]
    assert np.all((ok >= 0) & (ok <= 1))


matrices = st.integers(1, 12).flatmap(
    lambda n: st.tuples(
        st.lists(st.lists(st.one_of(unit, st.just(float("nan"))), min_size=n, max_size=n), min_size=1, max_size=20),
        st.lists(st.floats(0.01, 10.0), min_size=n, max_size=n),
    )
)


@given(matrices, st.sampled_from(["weighted_sum", "geometric"]))
def test_aggregate_is_in_unit_interval_nan_only_for_rows_without_a_score(data, how):
    R, w = np.array(data[0], dtype=float), np.array(data[1])
    out = aggregate(R, w, how)
    empty = np.isnan(R).all(1)
    assert np.array_equal(np.isnan(out), empty)
    assert np.all((out[~empty] >= -1e-12) & (out[~empty] <= 1 + 1e-12))


@given(matrices, st.integers(0, 11), st.floats(0.0, 0.5))
def test_aggregate_is_monotone_in_each_reward(data, j, bump):
    R, w = np.array(data[0], dtype=float), np.array(data[1])
    R = np.nan_to_num(R, nan=0.5)
    j = j % R.shape[1]
    R2 = R.copy()
    R2[:, j] = np.minimum(1.0, R2[:, j] + bump)
    for how in ("weighted_sum", "geometric"):
        assert np.all(aggregate(R2, w, how) >= aggregate(R, w, how) - 1e-12)


def test_early_stopping_keeps_the_best_epoch_and_stops_after_patience():
    import pytest
    import torch

    from irs.early_stopping import EarlyStopping

    m = torch.nn.Linear(1, 1, bias=False)
    stop = EarlyStopping(m, patience=2, mode="min")
    stops = []
    for epoch, (w, val) in enumerate([(1.0, 0.5), (2.0, 0.3), (3.0, 0.4), (4.0, 0.35), (5.0, 0.2)]):
        m.weight.data.fill_(w)
        stops.append(stop.step(val, epoch))
    assert stops == [False, False, False, True, False] and stop.best == 0.2 and stop.best_epoch == 4
    s2 = EarlyStopping(m, patience=1, mode="max")
    m.weight.data.fill_(7.0)
    s2.step(0.9, 0)
    m.weight.data.fill_(8.0)
    assert s2.step(0.1, 1) is True
    s2.restore()
    assert float(m.weight) == 7.0  # the best epoch's weights are back
    with pytest.raises(ValueError, match="mode"):
        EarlyStopping(m, 1, mode="up")
