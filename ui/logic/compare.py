"""The comparison of runs (paper Table 1): runs grouped by method and schedule, mean ± std over seeds."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import pandas as pd

from ui.logic.design import normalize_weights
from ui.logic.text import METHOD_LABELS

log = logging.getLogger(__name__)


# ---- comparison (paper Table 1) -------------------------------------------------------------------
def _group_key(cfg) -> str:
    d = cfg.to_dict()
    d.pop("seed", None)
    d.pop("name", None)
    return repr(sorted(d.items()))


def group_runs(cfgs: Mapping[str, object]) -> dict[str, list[str]]:
    """Runs whose configs differ only in seed and name form one group (one row of Table 1), labelled by
    method, plus m/M/T or a counter where two groups would share a label."""
    groups: dict[str, list[str]] = {}
    for run_id, cfg in cfgs.items():
        groups.setdefault(_group_key(cfg), []).append(run_id)
    labelled, seen = {}, {}
    for key, ids in groups.items():
        cfg = cfgs[ids[0]]
        seen.setdefault(METHOD_LABELS.get(cfg.method, cfg.method), []).append(key)
    for label, keys in seen.items():
        for k, key in enumerate(keys):
            cfg = cfgs[groups[key][0]]
            name = label
            if len(keys) > 1:
                name = (
                    f"{label} (m={cfg.effective_merge_every}, M={cfg.merge.subset_size or len(cfg.objectives)}, "
                    f"T={cfg.merge.total_steps})"
                )
                if sum(1 for kk in keys if kk != key and _short(cfgs[groups[kk][0]]) == _short(cfg)):
                    name += f" #{k + 1}"
            labelled[name] = groups[key]
    return labelled


def weights_text(cfg) -> str:
    """'qed 0.33 · sa 0.33 · logp 0.33': a run's normalized preference weights."""
    w = normalize_weights(cfg.weights) or cfg.weights
    return " · ".join(f"{n} {x:.2f}" for n, x in zip(cfg.objective_names, w))


def comparable_default(cfgs: Mapping[str, object], limit: int = 8) -> list[str]:
    """Compare's first selection: the runs (newest first, at most `limit`) that share the newest run's
    domain, preset and objectives, so they fit one table. `cfgs` is newest first."""
    if not cfgs:
        return []
    key = lambda c: (c.domain, c.preset, tuple(c.objective_names))  # noqa: E731
    first = key(next(iter(cfgs.values())))
    return [rid for rid, c in cfgs.items() if key(c) == first][:limit]


def _short(cfg) -> tuple:
    return (cfg.effective_merge_every, cfg.merge.subset_size, cfg.merge.total_steps)


def compare_table(
    tables: Mapping[str, pd.DataFrame],
    groups: Mapping[str, Sequence[str]],
    labels: Mapping[str, str] | None = None,
    digits: int = 3,
    weights: Mapping[str, str] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Table 1: per group, the mean raw score of each objective on the Pareto set, the average reward,
    ICV and hypervolume, each as 'mean ± std' over the group's runs (seeds; a single run's value alone),
    evaluated on each run's "final" set; with the group's preference weights (`weights`: run id -> text)
    and its run ids. Returns (display table, {group: aggregate_seeds dict})."""
    from irs.candidates import evaluate_table, objective_names
    from irs.evaluation import aggregate_seeds, format_mean_std

    labels = dict(labels or {})
    names = None
    for run_id, df in tables.items():
        n = objective_names(df)
        if names is None:
            names = n
        elif n != names:
            raise ValueError(f"run {run_id} has objectives {n}, the others {names}; compare runs of one preset")
    rows, aggs = [], {}
    for group, ids in groups.items():
        evals = []
        for run_id in ids:
            df = tables[run_id]
            set_name = "final" if "final" in set(df["set"]) else None
            e = evaluate_table(df, names, set_name=set_name)
            e["valid_fraction"] = e["n_valid"] / max(1, e["n_candidates"])
            evals.append(e)
        agg = aggregate_seeds(evals)
        aggs[group] = agg
        mean, std = agg["mean"], agg["std"]

        def cell(m, sd, d=digits, n=len(ids)):  # one run has no spread: its value alone, not "± 0.000"
            return format_mean_std(m, sd, d) if n > 1 else f"{m:.{d}f}"

        row = {"method": group, "runs": len(ids)}
        if weights:
            row["weights λ"] = weights.get(ids[0], "")
        for n in names:
            row[labels.get(n, n)] = cell(mean["pareto_raw_means"][n], std["pareto_raw_means"][n])
        row["avg reward"] = cell(mean["avg_reward"], std["avg_reward"])
        row["ICV"] = cell(mean["icv"], std["icv"])
        row["hypervolume"] = cell(mean["hypervolume"], std["hypervolume"])
        row["|Pareto|"] = cell(mean["n_pareto"], std["n_pareto"], 1)
        row["valid"] = cell(mean["valid_fraction"], std["valid_fraction"], 3)
        row["run ids"] = ", ".join(ids)
        rows.append(row)
    return pd.DataFrame(rows), aggs
