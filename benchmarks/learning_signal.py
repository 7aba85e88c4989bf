"""Does fine-tuning move the oracle? IterativeRS against the untuned model and a null control, over seeds.

    .venv/bin/python benchmarks/learning_signal.py examples/signal-druglike.toml --seeds 3 [--prefs] [--remerge]
        [--out docs/results/signal-druglike.json]

For each seed s (the config's seed + 0, 1, ...), in one run of this script, through the run store (runs
under runs/signal/<task>/, executed in this process; a rerun reuses finished runs, so it is resumable):
- base:    K samples of the starting model (generator seeded by s, the run's sampling settings), scored by
           the oracle on the run's calibrated evaluation scale (calibration.json of the equal run);
- equal:   IterativeRS with equal weights (the config as it is);
- null:    the same run with rl.null_control = true (each batch's rewards shuffled: information-free);
- pref i:  (--prefs) w_i = 0.6 and the others 0.2, for each objective i;
- remerge: (--remerge) the equal run's final experts re-merged with λ = e_i, K samples each.

Every figure is over the *valid* final candidates, scored by the oracle (not the training proxies):
- weighted reward: the equal-weight mean of the normalized oracle rewards; its standard error is the
  candidates' std / sqrt(n); a lift's SE combines the two tables' SEs (independent samples);
- Pareto average reward (irs.evaluation) and the unique share of valid candidates.

Criteria of the issue, each printed with its outcome: lift >= 0.05 and >= 3 SE on every seed; Pareto
average above the base's; null lift within 1 SE; >= 90 % unique; preferences (objective i's oracle mean
under w_i = 0.6 above the equal run's by more than 2x the equal runs' seed std, paired over seeds);
re-merging (objective i's mean under λ = e_i above its mean under λ = e_j by >= 2 SE, every pair).
Settings are the config's and were fixed on development seeds (100+) before this script ran on 0, 1, 2.
"""

from __future__ import annotations

import argparse
import copy
import json
import logging
import math
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.config import ObjectiveSpec, validate  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402

log = logging.getLogger("learning_signal")


def table_stats(df, names, weights) -> dict:
    """Figures of one candidate table over its valid rows (oracle rewards)."""
    from irs.candidates import evaluate_table

    v = df[df["valid"].to_numpy(bool)]
    R = v[[f"reward_{n}" for n in names]].to_numpy(np.float64)
    ok = np.isfinite(R).all(1)
    R = R[ok]
    w = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    wr = R @ w
    ev = evaluate_table(df, names)
    out = {
        "n": int(len(df)),
        "n_valid": int(len(v)),
        "valid": float(len(v) / max(1, len(df))),
        "unique": float(v["canonical"].nunique() / max(1, len(v))),
        "weighted": float(wr.mean()) if len(wr) else math.nan,
        "weighted_se": float(wr.std(ddof=1) / math.sqrt(len(wr))) if len(wr) > 1 else math.nan,
        "pareto_avg": float(ev["avg_reward"]),
        "n_pareto": int(ev["n_pareto"]),
    }
    for j, n in enumerate(names):
        raw = v[n].to_numpy(np.float64)[ok]
        out[f"raw_{n}"] = float(raw.mean())
        out[f"raw_{n}_se"] = float(raw.std(ddof=1) / math.sqrt(len(raw))) if len(raw) > 1 else math.nan
        out[f"reward_{n}"] = float(R[:, j].mean())
        out[f"reward_{n}_se"] = float(R[:, j].std(ddof=1) / math.sqrt(len(R))) if len(R) > 1 else math.nan
    return out


def run_done(store, cfg):
    """The finished run named cfg.name in `store` (made now if missing or unfinished: resumed)."""
    from irs.runs.worker import execute

    for r in store.list():
        if r.config().name == cfg.name:
            st = r.status()["state"]
            if st == "done":
                return r
            log.info("resuming %s (%s)", r.id, st)
            execute(r.path)
            return r
    run = store.create(cfg)
    t0 = time.time()
    state = execute(run.path)
    log.info("%s: %s in %.1f min", run.id, state, (time.time() - t0) / 60)
    if state != "done":
        raise RuntimeError(f"run {run.id} ended {state}: {run.read_status().get('error')}")
    return run


def base_table(cfg, calibration: dict, seed: int):
    """K samples of the starting model, scored by the oracle on the run's evaluation scale."""
    from irs.runs.results import starting_candidates

    return starting_candidates(cfg, seed, calibration, set_name="base")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="run config (the equal-weight IterativeRS run)")
    p.add_argument("--seeds", type=int, default=3, help="seeds: the config's seed + 0..N-1 (default: 3)")
    p.add_argument("--prefs", action="store_true", help="also run w_i = 0.6 for each objective (default: off)")
    p.add_argument("--remerge", action="store_true", help="re-merge the equal runs with λ = e_i (default: off)")
    p.add_argument("--runs-dir", default=None, help="run store (default: runs/signal/<config name>)")
    p.add_argument("--out", default=None, help="result JSON (default: docs/results/<config name>.json)")
    p.add_argument(
        "--report-only",
        action="store_true",
        help="run nothing: recompute the criteria of the result JSON and print the report",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("irs.runs.worker", "irs.algorithms.trainer"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from irs.domains import get_domain
    from irs.runs import RunStore, load_candidates, load_config, run_calibration, sample_candidates

    base_cfg = load_config(args.config)
    domain = get_domain(base_cfg.domain)
    base_cfg = validate(base_cfg, [o.name for o in domain.objectives(base_cfg.preset or None)])
    names = base_cfg.objective_names
    N = len(names)
    task = base_cfg.name
    store = RunStore(args.runs_dir or ROOT / "runs" / "signal" / task)
    out_path = Path(args.out or ROOT / "docs" / "results" / f"{task}.json")
    res = {
        "config": str(Path(args.config)),
        "command": "python benchmarks/learning_signal.py " + " ".join(argv or sys.argv[1:]),
        "objectives": names,
        "seeds": {},
        "criteria": {},
    }
    equal_w = [1.0 / N] * N
    if args.report_only:
        res = json.loads(out_path.read_text())
        res["criteria"] = criteria(res, names, args)
        atomic_write_json(out_path, res)
        print(report(res, names))
        return 0

    def variant(seed, label, null=False, weights=None):
        cfg = copy.deepcopy(base_cfg)
        cfg.notes = []
        cfg.seed = seed
        cfg.name = f"{task}-{label}-s{seed}"
        cfg.rl.null_control = null
        if weights is not None:
            cfg.objectives = [ObjectiveSpec(n, w) for n, w in zip(names, weights)]
        return cfg

    t_start = time.time()
    for i in range(args.seeds):
        seed = base_cfg.seed + i
        row = res["seeds"][str(seed)] = {}
        eq = run_done(store, variant(seed, "equal"))
        cal = run_calibration(eq)
        row["equal"] = table_stats(load_candidates(eq), names, equal_w)
        row["base"] = table_stats(base_table(variant(seed, "base"), cal, seed), names, equal_w)
        nl = run_done(store, variant(seed, "null", null=True))
        row["null"] = table_stats(load_candidates(nl), names, equal_w)
        if args.prefs:
            for j, n in enumerate(names):
                w = [0.6 if k == j else 0.4 / (N - 1) for k in range(N)]
                pr = run_done(store, variant(seed, f"pref-{n}", weights=w))
                row[f"pref_{n}"] = table_stats(load_candidates(pr), names, equal_w)
        if args.remerge:
            for j, n in enumerate(names):
                lam = [1.0 if k == j else 0.0 for k in range(N)]
                df = sample_candidates(eq, base_cfg.n_final_samples, lambdas=lam, seed=seed)
                row[f"remerge_{n}"] = table_stats(df, names, equal_w)
        for k in ("equal", "null"):
            d, b = row[k], row["base"]
            row[f"{k}_lift"] = d["weighted"] - b["weighted"]
            row[f"{k}_lift_se"] = math.hypot(d["weighted_se"], b["weighted_se"])
        log.info(
            "seed %d: base %.4f, equal %.4f (lift %+.4f ± %.4f), null %.4f (lift %+.4f ± %.4f)",
            seed,
            row["base"]["weighted"],
            row["equal"]["weighted"],
            row["equal_lift"],
            row["equal_lift_se"],
            row["null"]["weighted"],
            row["null_lift"],
            row["null_lift_se"],
        )
        res["wall_min"] = round((time.time() - t_start) / 60, 1)
        res["criteria"] = criteria(res, names, args)
        atomic_write_json(out_path, res)
    print(report(res, names))
    return 0


def criteria(res, names, args) -> dict:
    rows = list(res["seeds"].values())
    c = {}
    c["lift >= 0.05 and >= 3 SE on every seed"] = all(
        r["equal_lift"] >= 0.05 and r["equal_lift"] >= 3 * r["equal_lift_se"] for r in rows
    )
    c["Pareto average above the base on every seed"] = all(
        r["equal"]["pareto_avg"] > r["base"]["pareto_avg"] for r in rows
    )
    c["null lift within 1 SE on every seed"] = all(abs(r["null_lift"]) <= r["null_lift_se"] for r in rows)
    c[">= 90 % of valid candidates unique (equal runs)"] = all(r["equal"]["unique"] >= 0.9 for r in rows)
    if args.prefs and all(f"pref_{n}" in r for r in rows for n in names):
        for n in names:
            d = np.array([r[f"pref_{n}"][f"reward_{n}"] - r["equal"][f"reward_{n}"] for r in rows])
            sd = float(np.std([r["equal"][f"reward_{n}"] for r in rows], ddof=1)) if len(rows) > 1 else math.nan
            c[f"preference {n}: mean paired gain {d.mean():+.4f} > 2 x seed std {sd:.4f}"] = bool(d.mean() > 2 * sd)
    if args.remerge and all(f"remerge_{n}" in r for r in rows for n in names):
        ok = True
        for r in rows:
            for i in names:
                for j in names:
                    if i != j:
                        a, b = r[f"remerge_{i}"], r[f"remerge_{j}"]  # rewards: higher is better for every goal
                        ok &= a[f"reward_{i}"] - b[f"reward_{i}"] >= 2 * math.hypot(
                            a[f"reward_{i}_se"], b[f"reward_{i}_se"]
                        )
        c["re-merge: objective i higher under λ = e_i than λ = e_j by >= 2 SE (every pair, every seed)"] = bool(ok)
    return c


def report(res, names) -> str:
    L = [
        f"# Learning signal: {res['config']}",
        "",
        f"`{res['command']}` ({res.get('wall_min')} min)",
        "",
        "| seed | base | IterativeRS | lift ± SE | null control | null lift ± SE | unique | Pareto avg base / IRS |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for s, r in res["seeds"].items():
        L.append(
            f"| {s} | {r['base']['weighted']:.4f} | {r['equal']['weighted']:.4f} | {r['equal_lift']:+.4f} ± "
            f"{r['equal_lift_se']:.4f} | {r['null']['weighted']:.4f} | {r['null_lift']:+.4f} ± {r['null_lift_se']:.4f} | "
            f"{r['equal']['unique']:.3f} | {r['base']['pareto_avg']:.4f} / {r['equal']['pareto_avg']:.4f} |"
        )
    L.append("")
    L.append("| seed | variant | " + " | ".join(f"raw {n}" for n in names) + " | valid |")
    L.append("|---|---|" + "---|" * (len(names) + 1))
    for s, r in res["seeds"].items():
        for k, v in r.items():
            if isinstance(v, dict):
                L.append(
                    f"| {s} | {k} | " + " | ".join(f"{v[f'raw_{n}']:.4f}" for n in names) + f" | {v['valid']:.3f} |"
                )
    L.append("")
    for k, ok in res["criteria"].items():
        L.append(f"- [{'x' if ok else ' '}] {k}")
    return "\n".join(L)


if __name__ == "__main__":
    sys.exit(main())
