"""The bench report: the Markdown table (mean ± std over seeds, the verdict), the per-run CSV and the scatter PNGs."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import numpy as np

from irs.bench.evaluate import _validated, bench_scale, evaluate_run_row, on_scale, reference_eval, scale_key
from irs.bench.manifest import Manifest, _iso, _now, _spans_total
from irs.bench.plan import DISPLAY, NULL, REFERENCE, BenchSpec, Variant, paper_table, samples_per_step
from irs.config import RunConfig
from irs.io import atomic_write_json, atomic_write_text, json_clean
from irs.paths import portable

log = logging.getLogger(__name__)


# ---- the report -------------------------------------------------------------------------------------
def _fmt(m: float, s: float | None = None, d: int = 4) -> str:
    if m is None or (isinstance(m, float) and math.isnan(m)):
        return "n/a"
    return f"{m:.{d}f}" if s is None else f"{m:.{d}f} ± {s:.{d}f}"


def _stats(xs) -> tuple[float, float]:
    a = np.asarray([x for x in xs if x is not None], dtype=np.float64)
    if a.size == 0:
        return math.nan, math.nan
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def write_report(
    spec: BenchSpec,
    base: RunConfig,
    task: str,
    vs: list[Variant],
    seeds: list[int],
    man: Manifest,
    store,
    bench_dir: Path,
    session: list | None = None,
) -> dict:
    import pandas as pd

    from irs.evaluation import aggregate_seeds

    rows = []
    cache_dir = bench_dir / "candidates"
    done = {k: e for k, e in man.data["runs"].items() if e.get("state") == "done"}
    scale = bench_scale([store.get(e["run_id"]) for e in done.values()])
    skey = scale_key(scale)  # an evaluation on another scale (or before scales existed) is redone
    if spec.reference:
        vs = vs + [Variant(REFERENCE, REFERENCE, None)]
    for v in vs:
        for s in seeds:
            key = f"{v.label}/{s}"
            e = man.data["runs"].get(key, {})
            if v.method == REFERENCE:
                if e.get("eval") is None or e.get("scale") != skey:
                    ev = reference_eval(base, s, cache_dir, scale)
                    e.update(state="reference", eval=json_clean(ev), scale=skey, spans=[])
                    man.data["runs"][key] = e
                    man.save()
                rows.append(_row(task, v, base, s, "", e["eval"], 0.0, reference=True))
                continue
            if e.get("state") != "done":
                continue
            run = store.get(e["run_id"])
            cfg = _validated(run.config())
            if e.get("eval") is None or e.get("scale") != skey:
                ev, _ = evaluate_run_row(run, cfg, cache_dir, scale)
                e["eval"], e["scale"] = json_clean(ev), skey
                man.save()
            rows.append(_row(task, v, cfg, s, run.id, e["eval"], _spans_total(e.get("spans", []))))
    if session is not None:  # the bench session's time includes the evaluation above
        session[1] = _now()
        man.save()
    out = Path(spec.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df_rows = pd.DataFrame(rows)
    csv_path = out / f"{task}_runs.csv"
    atomic_write_text(csv_path, df_rows.to_csv(index=False, float_format="%.6g"))
    names = [c[len("pareto_reward_") :] for c in df_rows.columns if c.startswith("pareto_reward_")] if rows else []
    agg = {}  # mean ± std over seeds of every figure, by irs.evaluation.aggregate_seeds
    for v in vs:
        evs = [
            _nan_for_none(man.data["runs"][f"{v.label}/{s}"]["eval"])
            for s in seeds
            if man.data["runs"].get(f"{v.label}/{s}", {}).get("eval")
        ]
        if evs:
            agg[v.label] = aggregate_seeds(evs)
    atomic_write_json(bench_dir / "aggregate.json", json_clean(agg))
    pngs = _scatter_pngs(store, man, vs, seeds[0], names, out, task, bench_dir, base, scale) if rows else []
    md = _markdown(spec, base, task, vs, seeds, df_rows, names, man, pngs, csv_path, agg)
    md_path = out / f"{task}.md"
    atomic_write_text(md_path, md)
    return {"md": md_path, "csv": csv_path, "pngs": pngs, "rows": rows, "aggregate": agg}


def _row(
    task: str, v: Variant, cfg: RunConfig, seed: int, run_id: str, ev: dict, wall_s: float, reference: bool = False
) -> dict:
    """One CSV row: the run's settings and every number of its evaluation."""
    ric = v.method == "ric"
    row = {
        "task": task,
        "label": v.label,
        "method": v.method,
        "algo": "" if reference or ric else cfg.rl.algo,
        "m": (cfg.effective_merge_every if v.method in ("iterative_rs", "rewarded_soups") else ""),
        "seed": seed,
        "run_id": run_id,
        "T": 0 if reference else cfg.merge.total_steps,
        "batch_per_policy": 0 if reference else (cfg.ric.batch_size or cfg.rl.batch_size) if ric else cfg.rl.batch_size,
        "samples_per_step": 0 if reference else samples_per_step(cfg),
        "K": cfg.n_final_samples,
        "lr": 0 if reference else (cfg.ric.lr or cfg.rl.lr) if ric else cfg.rl.lr,
    }
    for k in ("n_candidates", "n_valid", "n_unique", "n_scored", "n_pareto"):
        row[k] = ev[k]
    # the run's objectives first, then evaluation-only metrics (the text domain's ROUGE-L)
    order = [n for n in cfg.objective_names if n in ev["pareto_means"]]
    order += [n for n in ev["pareto_means"] if n not in order]
    for n in order:
        row[f"pareto_reward_{n}"] = ev["pareto_means"][n]
    for n in order:
        row[f"pareto_raw_{n}"] = ev["pareto_raw_means"][n]
    for k in (
        "avg_reward",
        "icv",
        "hypervolume",
        "valid_frac",
        "all_avg_reward",
        "proxy_queries",
        "train_s",
        "candidates_from",
    ):
        row[k] = ev.get(k)
    row["wall_s"] = round(wall_s, 1)
    return row


def _nan_for_none(ev: dict) -> dict:
    """An evaluation read back from JSON (NaN stored as null), with null numbers as NaN again."""
    out = {}
    for k, v in ev.items():
        if isinstance(v, dict):
            out[k] = {kk: (math.nan if vv is None else vv) for kk, vv in v.items()}
        elif v is None and k in ("icv", "avg_reward", "valid_frac", "all_avg_reward", "hypervolume", "proxy_queries"):
            out[k] = math.nan
        else:
            out[k] = v
    return out


def _scatter_pngs(store, man, vs, seed, names, out: Path, task: str, bench_dir: Path, base, scale) -> list[Path]:
    """One PNG per objective pair: every valid unique candidate of each main method (seed `seed`) in
    reward space (the bench's `scale`), its Pareto set drawn larger (Figure 1's view)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    tables = {}
    for v in vs:
        if v.sweep:
            continue
        e = man.data["runs"].get(f"{v.label}/{seed}", {})
        if v.method == REFERENCE:
            cache = bench_dir / "candidates" / f"{REFERENCE}-s{seed}.parquet"
            if cache.is_file():
                tables[v.label] = on_scale(pd.read_parquet(cache), _validated(base), scale)
            continue
        if e.get("state") != "done":
            continue
        run = store.get(e["run_id"])
        cache = bench_dir / "candidates" / f"{run.id}.parquet"
        df = pd.read_parquet(cache if cache.is_file() else run.candidates_path)
        tables[v.label] = on_scale(df, _validated(run.config()), scale)
    colors = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00")
    paths = []
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            a, b = names[i], names[j]
            fig, ax = plt.subplots(figsize=(5.2, 4.4), dpi=110)
            for k, (label, df) in enumerate(tables.items()):
                ok = df["valid"].to_numpy(bool) & ~df["duplicate"].to_numpy(bool)
                x, y = df[f"reward_{a}"].to_numpy(float), df[f"reward_{b}"].to_numpy(float)
                ok &= np.isfinite(x) & np.isfinite(y)
                par = ok & df["pareto"].to_numpy(bool)
                c = "#7B8794" if label == REFERENCE else colors[k % len(colors)]
                ax.scatter(x[ok & ~par], y[ok & ~par], s=7, alpha=0.25, color=c, linewidths=0)
                ax.scatter(
                    x[par],
                    y[par],
                    s=26,
                    alpha=0.95,
                    color=c,
                    edgecolors="black",
                    linewidths=0.4,
                    label=f"{DISPLAY.get(label, label)} (Pareto {int(par.sum())})",
                )
            ax.set_xlabel(f"reward {a}")
            ax.set_ylabel(f"reward {b}")
            lo = {"x": 1.0, "y": 1.0}
            for df in tables.values():  # zoom to where the candidates are (rewards live in [0, 1])
                for ax_name, col in (("x", f"reward_{a}"), ("y", f"reward_{b}")):
                    v = df[col].to_numpy(float)
                    v = v[np.isfinite(v)]
                    if len(v):
                        lo[ax_name] = min(lo[ax_name], float(np.quantile(v, 0.01)))
            ax.set_xlim(max(-0.02, lo["x"] - 0.05), 1.02)
            ax.set_ylim(max(-0.02, lo["y"] - 0.05), 1.02)
            ax.set_title(f"{task}: {a} vs {b} (seed {seed})", fontsize=10)
            ax.legend(fontsize=7, loc="lower left", framealpha=0.85)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            p = out / f"{task}_{a}_{b}.png"
            tmp = out / f".{p.name}.tmp.png"
            fig.savefig(tmp)
            plt.close(fig)
            os.replace(tmp, p)
            paths.append(p)
    return paths


def _markdown(spec, base: RunConfig, task, vs, seeds, df, names, man, pngs, csv_path, aggs) -> str:
    N = len(base.objectives)
    B, T = base.rl.batch_size, base.merge.total_steps
    algo = spec.algo or base.rl.algo
    K = spec.K or base.n_final_samples
    L = []
    L.append(f"# Does IterativeRS win? Task `{task}`\n")
    made = [c for c in man.data.get("commands", []) if c != spec.command]
    L.append(
        f"Generated by `{spec.command or 'irs bench ' + str(spec.config)}` ({_iso(_now())})"
        + (f"; the runs were made by {', '.join(f'`{c}`' for c in made)}" if made else "")
        + f". Raw per-seed numbers: [`{csv_path.name}`]({csv_path.name}); the table below is "
        f"their mean ± sample std over {len(seeds)} seed(s) {seeds}.\n"
    )
    L.append("## Setup\n")
    L.append(
        f"- domain `{base.domain}`, preset `{base.preset or 'default'}`, model `{portable(base.model) if base.model else 'domain default'}`; "
        f"objectives {', '.join(f'`{n}` (w={w:.3g})' for n, w in zip(base.objective_names, base.weights))}"
    )
    L.append(
        f"- T = {T} steps, B = {B}, update rule `{algo}`, lr {base.rl.lr:g}, β = {base.rl.beta:g}, "
        f"PPO epochs {base.rl.ppo_epochs}; IterativeRS m = {base.merge.merge_every}; K = {K} candidates "
        f"per run, scored by the domain's oracle"
    )
    L.append(
        f"- RiC: p = {base.ric.p:g}, {base.ric.n_bins} score levels, lr {base.ric.lr or base.rl.lr:g}, "
        f"{base.ric.online_rounds} online round(s), labelled examples {base.ric.max_examples or 'all'}"
    )
    L.append("")
    L.append("## Budget rule\n")
    L.append(
        f"Same T = {T} and the same number of rewarded samples per step, N x B = {N} x {B} = {N * B}: "
        f"IterativeRS and RS train N = {N} experts on B = {B} samples each (each sample scored on its "
        f"expert's objective); MORLHF trains one policy on batches of N x B = {N * B} (each sample scored on "
        f"all N objectives, so it makes N times more proxy evaluations); RiC takes T SFT steps on N x B = {N * B} "
        f"labelled sequences (no reward query offline; online rounds, if any, are counted). The measured "
        f"proxy evaluations per run are in the table below.\n"
    )
    if df.empty:
        L.append("No run has finished yet.\n")
        return "\n".join(L)

    def agg(label, col):
        """(mean, std) over seeds: evaluation figures from aggregate_seeds, run facts from the CSV rows."""
        a = aggs.get(label)
        if a is not None:
            if col.startswith("pareto_reward_"):
                n = col[len("pareto_reward_") :]
                return a["mean"]["pareto_means"][n], a["std"]["pareto_means"][n]
            if col in a["mean"] and col != "proxy_queries":
                return a["mean"][col], a["std"][col]
        return _stats(df.loc[df["label"] == label, col].tolist())

    main = [v for v in vs if not v.sweep and (df["label"] == v.label).any()]
    L.append("## Result (Pareto set of each run's K candidates; rewards in [0, 1])\n")
    head = (
        ["method"]
        + names
        + [
            "avg reward",
            "ICV",
            "hypervolume",
            "|Pareto|",
            "valid",
            "mean reward (all valid)",
            "proxy evals / run",
            "wall s / run",
        ]
    )
    L.append("| " + " | ".join(head) + " |")
    L.append("|" + "---|" * len(head))
    for v in main:
        cells = [
            DISPLAY.get(v.label, v.label) + (f" (m={base.merge.merge_every})" if v.label == "iterative_rs" else "")
        ]
        cells += [_fmt(*agg(v.label, f"pareto_reward_{n}")) for n in names]
        cells += [
            _fmt(*agg(v.label, "avg_reward")),
            _fmt(*agg(v.label, "icv"), d=3),
            _fmt(*agg(v.label, "hypervolume")),
            _fmt(*agg(v.label, "n_pareto"), d=1),
            _fmt(*agg(v.label, "valid_frac"), d=3),
            _fmt(*agg(v.label, "all_avg_reward")),
            _fmt(agg(v.label, "proxy_queries")[0], d=0),
            _fmt(*agg(v.label, "wall_s"), d=0),
        ]
        L.append("| " + " | ".join(cells) + " |")
    L.append("")
    if any(v.method == REFERENCE for v in main):
        L.append(
            "`pretrained`: K samples of the base model itself, the point every method starts from (not a "
            "competitor; it shows what fine-tuning added). `valid` is the share of valid candidates; `mean "
            "reward (all valid)` averages the equal-weight reward over every valid unique candidate, not only "
            "the Pareto set. ICV (eq. 16) explodes when a Pareto sample has nearly equal rewards; read it "
            "with its spread.\n"
        )
    paper = paper_table(base.domain, base.preset)
    if paper:
        L.append(paper["title"] + ":\n")
        L.append("| method | " + " | ".join(paper["columns"]) + " |")
        L.append("|---" * (len(paper["columns"]) + 1) + "|")
        for k, vals in paper["rows"].items():
            L.append(f"| {k} | " + " | ".join(f"{x:.4f}" for x in vals) + " |")
        L.append("")
    L.append("## Verdict (computed from the CSV)\n")
    L += _lift_lines(df)
    L += _verdict(df, seeds)
    sweep_rows = [v for v in vs if v.method in ("iterative_rs", "rewarded_soups") and (df["label"] == v.label).any()]
    if any(v.sweep for v in vs):
        L.append("## Merge interval m (Section 4.2: m = 1 is MORLHF-like, m = T is Rewarded Soups)\n")
        L.append("| m | seeds | avg reward | ICV | hypervolume | mean reward (all valid) | wall s / run |")
        L.append("|---|---|---|---|---|---|---|")

        def m_of(v):
            return T if v.method == "rewarded_soups" else v.m

        for v in sorted(sweep_rows, key=m_of):
            mm = m_of(v)
            L.append(
                f"| {mm if mm != T else f'{T} (= T, RS)'} | {int((df['label'] == v.label).sum())} | "
                f"{_fmt(*agg(v.label, 'avg_reward'))} | "
                f"{_fmt(*agg(v.label, 'icv'), d=3)} | {_fmt(*agg(v.label, 'hypervolume'))} | "
                f"{_fmt(*agg(v.label, 'all_avg_reward'))} | {_fmt(*agg(v.label, 'wall_s'), d=0)} |"
            )
        L.append("")
    L.append("## Wall time\n")
    sessions = man.data.get("sessions", [])
    runs_df = df[df["method"] != REFERENCE]
    total_runs = float(runs_df["wall_s"].sum())
    L.append(
        f"- whole comparison: {total_runs / 60:.1f} min of run time over {len(runs_df)} runs "
        f"({_spans_total(sessions) / 60:.1f} min of bench sessions, {len(sessions)} session(s), "
        f"evaluation included in sessions since this report format); a session runs one run at a time, or "
        f"N at once with `--parallel N`, so run time can exceed session time; a run's time covers its "
        f"training and the oracle scoring of its K candidates"
    )
    for v in vs:
        sub = df[df["label"] == v.label]
        if len(sub) and v.method != REFERENCE:
            L.append(
                f"- {DISPLAY.get(v.label, v.label)}: {sub['wall_s'].sum() / 60:.1f} min in total, "
                f"{sub['wall_s'].mean():.0f} s per run (training steps alone {sub['train_s'].mean():.0f} s)"
            )
    L.append("")
    if pngs:
        L.append(f"## Figures (seed {seeds[0]}; every valid unique candidate, Pareto set drawn larger)\n")
        for p in pngs:
            L.append(f"![{p.stem}]({p.name})")
        L.append("")
    return "\n".join(L)


def _lift_lines(df) -> list[str]:
    """Each fine-tuned variant against the pretrained row of the same seed (the mean reward over all valid
    candidates): the lift, paired over seeds; the null control says how much of it needs no information."""
    ref = df[df["label"] == REFERENCE].set_index("seed")
    if ref.empty:
        return []
    out = []
    for label in ("iterative_rs", NULL, "morlhf", "rewarded_soups", "ric"):
        d = df[df["label"] == label].set_index("seed")
        common = sorted(set(d.index) & set(ref.index))
        if not common:
            continue
        lift = np.array([d.loc[s, "all_avg_reward"] - ref.loc[s, "all_avg_reward"] for s in common], dtype=float)
        sd = float(np.std(lift, ddof=1)) if len(lift) > 1 else 0.0
        out.append(
            f"- {DISPLAY.get(label, label)} over the pretrained model (mean reward of all valid candidates): "
            f"{lift.mean():+.4f} ± {sd:.4f} (seed std), per seed {', '.join(f'{x:+.4f}' for x in lift)}."
        )
    out.append("")
    return out


def _verdict(df, seeds) -> list[str]:
    """IterativeRS against MORLHF and RS on the average reward of the Pareto set: per-seed differences."""
    out = []
    if not (df["label"] == "iterative_rs").any():
        return ["IterativeRS was not part of this bench.\n"]
    irs = df[df["label"] == "iterative_rs"].set_index("seed")
    for other in ("morlhf", "rewarded_soups", "ric"):
        o = df[df["label"] == other].set_index("seed")
        common = sorted(set(irs.index) & set(o.index))
        if not common:
            continue
        for metric, name in (
            ("avg_reward", "average reward of the Pareto set"),
            ("all_avg_reward", "mean reward of all valid candidates"),
        ):
            d = np.array([irs.loc[s, metric] - o.loc[s, metric] for s in common], dtype=float)
            wins = int((d > 0).sum())
            m, sd = float(np.nanmean(d)), float(np.nanstd(d, ddof=1)) if len(d) > 1 else 0.0
            base = float(np.nanmean([o.loc[s, metric] for s in common]))
            rel = 100 * m / base if base else math.nan
            if m > 0 and wins == len(common):
                word = "higher than"
            elif m > 0:
                word = "higher on average than (not on every seed)"
            else:
                word = "not higher than"
            out.append(
                f"- {name[0].upper() + name[1:]}: IterativeRS is {word} {DISPLAY[other]}: paired difference "
                f"{m:+.4f} ± {sd:.4f} ({rel:+.1f} % of {DISPLAY[other]}), IterativeRS higher on {wins} of "
                f"{len(common)} seed(s)."
            )
    out.append("")
    return out
