"""The workbench's logic without Streamlit: run folders, the demo run, building and checking a run config
from the design form, weighted scores and top k, extra candidate sets, export bytes, and the comparison
table (paper Table 1). Pages call these; tests and benchmarks call them directly.

Everything that trains, samples, scores or exports goes through the library (irs.runs, irs.candidates,
irs.export, irs.evaluation); this module only arranges inputs and outputs for the pages.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from irs import paths
from irs.io import check_name, safe_join
from irs.runs.sets import add_candidate_set, load_table, table_stamp  # noqa: F401 (the pages use them from here)

log = logging.getLogger(__name__)

REPO = paths.ROOT
DEMO_DIR = REPO / "assets" / "demo_runs"
METHOD_LABELS = {"iterative_rs": "IterativeRS", "morlhf": "MORLHF", "rewarded_soups": "Rewarded Soups", "ric": "RiC"}
METHOD_HELP = {
    "iterative_rs": "One expert per objective trains m steps, then the experts are merged (weighted "
    "parameter average) and restart from the merge, until T steps are done",
    "morlhf": "One policy trained on the weighted sum of the rewards (m and M do not apply)",
    "rewarded_soups": "Experts train independently for all T steps and are merged once at the end (m = T)",
    "ric": "Rewards-in-context: supervised fine-tuning with the scores written into the prompt",
}
GOAL_SYMBOL = {"max": "↑", "min": "↓", "target": "◎"}
GOAL_WORD = {"max": "maximize", "min": "minimize", "target": "keep in a window"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$<>&=])")


def md_text(s) -> str:
    """`s` as literal text inside Streamlit Markdown: every Markdown, emoji/icon (`:x:`), colour
    (`:red[...]`) and LaTeX (`$`) character backslash-escaped, so a URL value, a run name, an error message
    or a SMILES such as `**O=[N+]([O-])c1ccccc1**` is shown as written, never interpreted; bare URLs are
    not turned into links."""
    out = _MD_SPECIAL.sub(r"\\\1", str(s)).replace("\n", " ")
    # GFM turns bare URLs into links after unescaping: a zero-width space breaks "://" and "www."
    return re.sub(
        r"(?i)(\\:)(//)|\b(www)(\\\.)",
        lambda m: (m.group(1) or m.group(3)) + "\u200b" + (m.group(2) or m.group(4)),
        out,
    )


# ---- folders and the demo run ---------------------------------------------------------------------
def runs_root() -> Path:
    """The runs folder the app works in: $IRS_RUNS_DIR, else ./runs (resolved)."""
    from irs.runs import default_runs_dir

    return default_runs_dir().resolve()


def demo_runs(demo_dir: Path | None = None) -> list[Path]:
    """Run directories shipped under assets/demo_runs/ (each has a status.json)."""
    demo_dir = DEMO_DIR if demo_dir is None else demo_dir
    if not demo_dir.is_dir():
        return []
    return sorted(
        p for p in demo_dir.iterdir() if p.is_dir() and (p / "status.json").is_file() and not p.name.startswith(".")
    )


def _skip_on_copy(folder: str, names: list[str]) -> list[str]:
    """What a run copy leaves out: the worker's lock and cancel flag, hidden temporaries, and symlinks
    (a link could point outside the allowed folders; it is neither followed nor copied)."""
    return [n for n in names if n in ("lock", "cancel") or n.startswith(".") or os.path.islink(os.path.join(folder, n))]


def _copy_run(src: Path, root: Path) -> Path:
    """Copy a run directory into `root` under its own name; the copy appears complete or not at all."""
    name = check_name(src.name, "run folder name")
    dest = safe_join(root, name)
    if dest.exists():
        return dest
    root.mkdir(parents=True, exist_ok=True)
    tmp = safe_join(root, f".import-{name}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(src, tmp, ignore=_skip_on_copy)
    os.rename(tmp, dest)
    return dest


def install_demo_runs(root: Path | None = None, demo_dir: Path | None = None) -> list[str]:
    """Copy the shipped demo runs into the runs folder on first start (existing copies are kept, so a
    user's re-merged sets survive). Returns the demo run ids."""
    root = runs_root() if root is None else Path(root).resolve()
    ids = []
    for src in demo_runs(demo_dir):
        try:
            _copy_run(src, root)
            ids.append(src.name)
        except (OSError, ValueError) as e:
            log.warning("could not install demo run %s into %s: %s", src, root, e)
    return ids


DEMO_DOMAIN_ORDER = ("molecules", "dna", "text")  # the product's order: the first shown on a fresh start


def default_run_id(ids: list[str], demo_dir: Path | None = None) -> str | None:
    """The run a page opens without ?run=: the newest of the user's own runs (ids come newest first),
    else the shipped demo runs in the product's domain order (molecules first)."""
    demos = {}
    for p in demo_runs(demo_dir):
        try:
            demos[p.name] = json.loads((p / "status.json").read_text()).get("domain", "")
        except (OSError, ValueError):
            demos[p.name] = ""
    own = [i for i in ids if i not in demos]
    if own:
        return own[0]
    rank = {d: k for k, d in enumerate(DEMO_DOMAIN_ORDER)}
    shipped = [i for i in ids if i in demos]
    return min(shipped, key=lambda i: rank.get(demos[i], len(rank)), default=None)


def import_roots() -> list[Path]:
    """Folders a typed run path may come from: the runs folder, the shipped demo runs, and the folders
    listed in $IRS_IMPORT_ROOTS (os.pathsep-separated)."""
    roots = [runs_root(), DEMO_DIR.resolve()]
    extra = os.environ.get("IRS_IMPORT_ROOTS", "")
    roots += [Path(p).expanduser().resolve() for p in extra.split(os.pathsep) if p.strip()]
    return list(dict.fromkeys(roots))


def resolve_run_folder(text: str, roots: Sequence[Path] | None = None) -> Path:
    """A run folder typed by the user, validated: it must lie inside one of `roots` (symlinks and '..'
    resolved first, then re-checked with irs.io.safe_join), have a safe name and a status.json.
    Relative paths are taken relative to the runs folder, then to the repository. Raises ValueError."""
    roots = [Path(r).resolve() for r in (roots if roots is not None else import_roots())]
    text = (text or "").strip()
    if not text:
        raise ValueError("type the path of a run folder")
    if "\x00" in text or len(text) > 1024:
        raise ValueError("that path is not a valid folder name")
    raw = Path(text).expanduser()
    candidates = [raw] if raw.is_absolute() else [roots[0] / raw, REPO / raw, Path.cwd() / raw]
    for cand in candidates:
        p = cand.resolve()
        for root in roots:
            try:
                rel = p.relative_to(root)
            except ValueError:
                continue
            if not rel.parts:
                continue
            p = safe_join(root, *rel.parts)
            if not p.is_dir():
                raise ValueError(f"{text!r} is not a folder")
            check_name(p.name, "run folder name")
            if not (p / "status.json").is_file():
                raise ValueError(f"{p} is not a run folder (it has no status.json)")
            return p
    allowed = ", ".join(str(r) for r in roots)
    raise ValueError(
        f"{text!r} is outside the folders runs can be loaded from ({allowed}); "
        f"set IRS_IMPORT_ROOTS to allow another folder"
    )


def open_run_folder(path: Path, root: Path | None = None) -> str:
    """Make a validated run folder available in the runs folder (copy it in when it lives elsewhere);
    returns its run id."""
    root = runs_root() if root is None else Path(root).resolve()
    path = Path(path).resolve()
    if path.parent == root:
        return path.name
    if safe_join(root, check_name(path.name, "run folder name")).exists():
        raise ValueError(f"a run named {path.name!r} already exists in {root}; open it from the list")
    return _copy_run(path, root).name


# ---- methods, objectives and the design form ------------------------------------------------------
def available_methods() -> list[str]:
    """Methods the engine can run now: RiC appears once irs.algorithms.ric exists."""
    from irs.config import METHODS

    out = []
    for m in METHODS:
        if m == "ric" and importlib.util.find_spec("irs.algorithms.ric") is None:
            continue
        out.append(m)
    return out


@dataclass(frozen=True)
class ObjectiveInfo:
    name: str
    goal: str
    description: str
    unit: str = ""
    target: tuple | None = None  # a window objective's window, normalized units
    lo: float | None = None  # the raw scores that map to 0 and 1 (the data statistics)
    hi: float | None = None

    @property
    def label(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.name}{unit} {GOAL_SYMBOL.get(self.goal, '')}".strip()

    @property
    def goal_text(self) -> str:
        """'maximize', 'minimize', or for a window objective its window in raw units: 'keep in 1–3',
        'keep near 0.247 Ha'."""
        if self.goal == "target" and self.target is not None and self.lo is not None and self.hi is not None:
            a, b = (self.lo + t * (self.hi - self.lo) for t in self.target)
            window = f"near {a:.3g}" if a == b else f"in {a:.3g}–{b:.3g}"
            return f"keep {window}" + (f" {self.unit}" if self.unit else "")
        return GOAL_WORD.get(self.goal, self.goal)


def objective_infos(domain: str, preset: str | None) -> list[ObjectiveInfo]:
    """Name, goal, description and unit of each objective of a domain preset (ValueError if the preset
    cannot be built, e.g. a missing asset)."""
    from irs.domains import get_domain

    try:
        objs = get_domain(domain).objectives(preset or None)
    except ValueError:
        raise
    except Exception as e:  # a preset whose assets are missing raises FileNotFoundError, ImportError...
        raise ValueError(
            f"preset {preset or '(default)'} of domain {domain} is not available here: {type(e).__name__}: {e}"
        ) from None
    return [
        ObjectiveInfo(
            o.name,
            o.goal,
            o.description,
            getattr(o, "unit", ""),
            getattr(o, "target", None),
            getattr(o, "lo", None),
            getattr(o, "hi", None),
        )
        for o in objs
    ]


def normalize_weights(weights: Sequence[float]) -> list[float] | None:
    """Weights divided by their sum; None when they are not finite, negative, or all zero."""
    w = [float(x) for x in weights]
    if not w or any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        return None
    s = sum(w)
    return [x / s for x in w]


def build_config(form: Mapping) -> object:
    """A RunConfig from the design form's values (see views/design.py). ValueError names bad fields."""
    from irs.config import RunConfig

    objectives = [{"name": n, "weight": float(w)} for n, w in zip(form["objectives"], form["weights"])]
    d = {
        "name": form.get("name") or "run",
        "domain": form["domain"],
        "preset": form.get("preset") or "",
        "model": form.get("model") or "",
        "method": form["method"],
        "seed": int(form["seed"]),
        "objectives": objectives,
        "n_final_samples": int(form.get("n_final_samples", 256)),
        "rl": {
            k: form[k]
            for k in (
                "algo",
                "lr",
                "beta",
                "batch_size",
                "kl_estimator",
                "temperature",
                "max_new_tokens",
                "ppo_epochs",
                "rloo_k",
                "normalization",
                "diversity_filter",
                "null_control",
            )
            if k in form
        },
        "merge": {
            "total_steps": int(form["total_steps"]),
            "merge_every": int(form["merge_every"]),
            "subset_size": int(form.get("subset_size", 0)),
            **{k: form[k] for k in ("lambdas", "optimizer_state") if k in form},
        },
    }
    return RunConfig.from_dict(d)


def check_config(cfg) -> object:
    """Validate exactly as `irs run` does (irs.runs.load_config on the config's TOML): objective names,
    weights, every field, and the model directory. Returns the validated config (weights normalized,
    notes filled). Raises ValueError / FileNotFoundError naming the problem; writes nothing that stays."""
    from irs.runs import load_config

    with tempfile.TemporaryDirectory(prefix="irs-design-") as d:
        p = Path(d) / "config.toml"
        p.write_text(cfg.to_toml())
        return load_config(p)


def design_notes(cfg) -> list[str]:
    """Valid but noteworthy settings, explained for the design page."""
    m, T = cfg.merge.merge_every, cfg.merge.total_steps
    notes = []
    if cfg.method == "iterative_rs":
        if m >= T:
            notes.append(f"m = {m} ≥ T = {T}: the experts merge only once, at the end; this is Rewarded Soups.")
        elif m == 1:
            notes.append("m = 1 merges after every step; this behaves like MORLHF (paper Section 4.2).")
        if T % m:
            notes.append(f"T = {T} is not a multiple of m = {m}: the last round is {T % m} step(s) long.")
    elif cfg.method == "rewarded_soups":
        notes.append(f"Rewarded Soups merges once, at step T = {T}; m is ignored.")
    elif cfg.method == "morlhf":
        notes.append("MORLHF trains one policy on the weighted reward; m and M are ignored.")
    return notes


# ---- candidate tables -----------------------------------------------------------------------------
def weighted_score(df: pd.DataFrame, names: Sequence[str], weights: Sequence[float]) -> np.ndarray:
    """Σ w_i · reward_i with the weights normalized; NaN where any reward is missing (invalid rows)."""
    w = normalize_weights(weights)
    if w is None:
        raise ValueError(f"weights {list(weights)} must be finite, >= 0 and not all zero")
    if len(w) != len(names):
        raise ValueError(f"{len(w)} weights for {len(names)} objectives")
    R = df[[f"reward_{n}" for n in names]].to_numpy(dtype=np.float64)
    return R @ np.asarray(w)


def top_k_ids(df: pd.DataFrame, score: np.ndarray, k: int) -> list[int]:
    """Row ids of the k best valid, non-duplicate rows by score (ties keep table order)."""
    ok = np.isfinite(score) & df["valid"].to_numpy(dtype=bool) & ~df["duplicate"].to_numpy(dtype=bool)
    idx = np.flatnonzero(ok)
    order = idx[np.argsort(-score[idx], kind="stable")][: max(0, int(k))]
    return [int(df.index[i]) for i in order]


def export_bytes(
    df: pd.DataFrame,
    fmt: str,
    *,
    domain: str,
    run_id: str,
    rows: Sequence[int] | None = None,
    pareto_only: bool = False,
    units: Mapping[str, str] | None = None,
) -> bytes:
    """The bytes `irs export` would write for these rows (irs.export.export into a temporary file)."""
    from irs.export import export

    with tempfile.TemporaryDirectory(prefix="irs-export-") as d:
        p = Path(d) / f"export.{fmt}"
        export(
            df,
            fmt,
            p,
            domain=domain,
            run_id=run_id,
            pareto_only=pareto_only,
            rows=None if rows is None else [int(r) for r in rows],
            units=units,
        )
        return p.read_bytes()


EXPORT_MIME = {
    "csv": "text/csv",
    "jsonl": "application/x-ndjson",
    "sdf": "chemical/x-mdl-sdfile",
    "fasta": "text/x-fasta",
}


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


# ---- DNA: motif hits in the sequence view ---------------------------------------------------------
# light, colour-blind-safe backgrounds (Okabe-Ito tints) for motif highlights; text stays black
HIT_COLORS = (
    "#9ad0f5",
    "#ffd27f",
    "#8fe0c4",
    "#f0b3d6",
    "#c6b3ff",
    "#ffb08a",
    "#e6e27a",
    "#bfbfbf",
    "#a8e6a1",
    "#ffc6c6",
    "#b5d8e8",
    "#e0c9a6",
)
SEQ_LINE = 50  # nucleotides per line of the sequence view


def motif_colors(motifs: Sequence[str]) -> dict[str, str]:
    """A stable colour per motif name (the order given, e.g. the cell types' marker motifs)."""
    return {m: HIT_COLORS[k % len(HIT_COLORS)] for k, m in enumerate(dict.fromkeys(motifs))}


def hits_for_row(hits: pd.DataFrame, row: int) -> pd.DataFrame:
    """The hits (irs.domains.dna.motifs.scan_hits table) of one sequence, best first, 1-based positions
    added for display."""
    h = hits[hits["row"] == row].sort_values("score", ascending=False, kind="stable").reset_index(drop=True)
    return h.assign(first=h["start"] + 1, last=h["end"])


def sequence_html(seq: str, hits: pd.DataFrame, colors: Mapping[str, str], line: int = SEQ_LINE) -> str:
    """The sequence in monospace, `line` nt per line with 1-based positions on the left, motif hits as
    coloured spans (a position covered by several hits takes the colour of the best one; the tooltip lists
    them all) and a legend. Everything from the data is HTML-escaped."""
    import html

    seq = str(seq)
    n = len(seq)
    best = np.full(n, -1)
    best_score = np.full(n, -np.inf)
    cover: list[list[int]] = [[] for _ in range(n)]
    recs = list(hits[["motif", "cell", "start", "end", "strand", "score"]].itertuples(index=False, name=None))
    for k, (_motif, _cell, a, b, _strand, sc) in enumerate(recs):
        a, b = max(0, int(a)), min(n, int(b))
        for i in range(a, b):
            cover[i].append(k)
            if sc > best_score[i]:
                best[i], best_score[i] = k, sc

    def tip(ks) -> str:
        return "; ".join(
            f"{recs[k][0]} ({recs[k][1]}) {recs[k][4]}{recs[k][2] + 1}-{recs[k][3]} {recs[k][5]:.1f} bits" for k in ks
        )

    width = len(str(max(1, n)))
    lines = []
    for s0 in range(0, n, line):
        parts, i, e0 = [], s0, min(n, s0 + line)
        while i < e0:
            j = i
            while j < e0 and best[j] == best[i] and cover[j] == cover[i]:
                j += 1
            text = html.escape(seq[i:j])
            if best[i] < 0:
                parts.append(text)
            else:
                m = recs[best[i]][0]
                col = html.escape(colors.get(m, HIT_COLORS[-1]), quote=True)
                parts.append(
                    f'<span class="irs-hit" data-motif="{html.escape(m, quote=True)}" '
                    f'style="background:{col};border-radius:2px" '
                    f'title="{html.escape(tip(cover[i]), quote=True)}">{text}</span>'
                )
            i = j
        lines.append(f'<span style="color:#7b8794;user-select:none">{s0 + 1:>{width}} </span>' + "".join(parts))
    shown = list(dict.fromkeys(r[0] for r in recs))
    legend = (
        " ".join(
            f'<span style="white-space:nowrap;margin-right:12px"><span style="display:inline-block;width:12px;'
            f"height:12px;background:{html.escape(colors.get(m, HIT_COLORS[-1]), quote=True)};border-radius:2px;"
            f'vertical-align:middle"></span> {html.escape(m)} '
            f'<span style="color:#52606d">({html.escape(next(r[1] for r in recs if r[0] == m))})</span></span>'
            for m in shown
        )
        or '<span style="color:#52606d">no motif hit above the threshold</span>'
    )
    return (
        '<div class="irs-seqview">'
        '<pre style="font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:14px;'
        'line-height:1.6;margin:0 0 6px 0;white-space:pre;overflow-x:auto">' + "\n".join(lines) + "</pre>"
        f'<div style="font-size:13px">{legend}</div></div>'
    )


# ---- run progress (Runs page) ---------------------------------------------------------------------
def run_progress(s: Mapping) -> tuple[float, str]:
    """(fraction in [0, 1], what is happening) of a run's status: its place in the run queue, the training
    steps, then the final sampling and the oracle scoring, which take minutes for large K."""
    total, step = s.get("total_steps") or 0, s.get("step") or 0
    frac = min(1.0, step / total) if total else 0.0
    phase, state = s.get("phase"), s.get("state")
    if state == "queued" and s.get("queue_position"):
        at_once = s.get("max_runs")
        return 0.0, (
            f"waiting for a free run slot: #{s['queue_position']} in line"
            + (f" (at most {at_once} at once; `irs queue`)" if at_once else "")
        )
    if phase == "sampling" and s.get("n_final"):
        n, k = int(s.get("sampled") or 0), int(s["n_final"])
        return min(1.0, n / k), f"final sampling: {n} of {k} candidates"
    if phase == "scoring":
        return float(s.get("scored_fraction") or 0.0), f"oracle scoring: {s.get('scoring', '')}"
    return frac, f"step {step} of {total or '?'}"


# ---- training curves (Runs page) ------------------------------------------------------------------
@dataclass(frozen=True)
class CurveSpec:
    """What the Runs page plots from metrics.jsonl: records for irs.plots.expert_curves, its panels
    (metrics) with their titles, and a caption saying what the curves are."""

    records: list
    metrics: tuple
    titles: dict
    caption: str = ""


ONLINE_EXPERT = "online rounds"


def best_per_step(records: Sequence[Mapping]) -> pd.DataFrame:
    """The best valid sample of every expert step (step records' `best`, `best_reward`), newest first:
    what the policy produced at its best as training went on. Empty for runs from before it was logged."""
    rows = [
        {"step": r["step"], "expert": r.get("expert"), "best": r["best"], "reward": r.get("best_reward")}
        for r in records
        if r.get("type") == "step" and r.get("best")
    ]
    return pd.DataFrame(rows[::-1], columns=["step", "expert", "best", "reward"])


def training_curves(records: Sequence[Mapping], proxy: bool | None = None) -> CurveSpec:
    """RL methods record per-expert reward and KL; RiC (supervised fine-tuning) records the SFT loss per
    step and, for its online rounds, the mean weighted proxy reward of the round's generations. Plot what
    the run has, labelled as what it is; `proxy` says whether the rewards are learned proxies (True) or
    the exact objectives (False)."""
    steps = [r for r in records if r.get("type") == "step"]
    online = [r for r in records if r.get("type") == "online"]
    has_rl = any("reward" in r or "kl" in r for r in steps)
    if has_rl or not (any("loss" in r for r in steps) or online):
        kind = {True: " (proxy)", False: " (exact)"}.get(proxy, "")
        metrics, titles = ["reward", "kl"], {"reward": f"Reward{kind}", "kl": "KL"}
        # monitors (runs since calibrated normalization): a reward can rise by validity or by repeats alone
        for k, t in (("valid", "Valid share"), ("unique", "Unique share"), ("size", "Size")):
            if any(k in r for r in steps):
                metrics.append(k)
                titles[k] = t
        caption = None
        if len(metrics) > 2:
            caption = (
                "Reward is the expert's normalized reward (the null control's is shuffled). Valid share: of the "
                "batch; unique share: distinct among valid samples; size: heavy atoms (molecules) or length, "
                "over valid samples. They show whether a reward rose by better candidates or by validity, "
                "repeats or size alone."
            )
        return CurveSpec(list(records), tuple(metrics), titles, caption)
    out = [r for r in records if r.get("type") != "online"]
    metrics, titles = ["loss"], {"loss": "SFT loss (cross-entropy per token)"}
    caption = (
        "RiC fine-tunes on sequences prefixed with their scores (supervised): the left panel is the "
        "training loss per step, not a reward."
    )
    if online:
        out += [
            {
                "type": "step",
                "step": r.get("step"),
                "expert": ONLINE_EXPERT,
                "online_reward": r.get("reward"),
                "kept": r.get("n_kept"),
            }
            for r in online
        ]
        metrics.append("online_reward")
        titles["online_reward"] = "Online rounds: mean weighted proxy reward"
        kept = ", ".join(f"round {r.get('round')}: {r.get('n_kept')} of {r.get('n_generated')} kept" for r in online)
        caption += (
            " Each online round samples with exploration prompts and scores the samples with the proxies; "
            f"the right panel is their mean weighted reward ({kept})."
        )
    return CurveSpec(out, tuple(metrics), titles, caption)


def calibration_rows(calibration: Mapping | None) -> list[dict]:
    """Rows of the reward-scale table (Design and Runs pages): per objective, the training (proxy) and
    evaluation (oracle) raw values that map to reward 0 and 1, and the starting model's quantiles."""
    if not calibration:
        return []
    rows = []
    for scale, label in (("train", "training"), ("eval", "evaluation")):
        for name, c in (calibration.get(scale) or {}).items():
            rows.append(
                {
                    "objective": name,
                    "scale": label,
                    "raw at 0": c.get("lo"),
                    "raw at 1": c.get("hi"),
                    "sample 5 %": c.get("q_lo"),
                    "sample 95 %": c.get("q_hi"),
                    "valid samples": f"{c.get('n_valid')} / {c.get('n')}",
                    "data range": f"{c.get('data_lo'):.4g} .. {c.get('data_hi'):.4g}"
                    if c.get("data_lo") is not None
                    else "",
                }
            )
    return rows


# ---- selection ------------------------------------------------------------------------------------
def ids_from_plot_event(event) -> list[int]:
    """Row ids in a Streamlit plotly selection event (customdata of every selected point), sorted."""
    pts = ((event or {}).get("selection") or {}).get("points") or []
    ids = set()
    for p in pts:
        cd = p.get("customdata") if isinstance(p, Mapping) else None
        if isinstance(cd, (list, tuple)):
            cd = cd[0] if cd else None
        if cd is not None:
            try:
                ids.add(int(cd))
            except (TypeError, ValueError):
                continue
    return sorted(ids)


def merge_table_selection(old: Sequence[int], shown: Sequence[int], rows: Sequence[int]) -> list[int]:
    """The selection after the user (de)selected table rows: `rows` are positions in the table, which
    shows the row ids `shown`; selected ids the table does not show (filtered out) are kept."""
    visible = set(shown)
    kept = {i for i in old if i not in visible}
    return sorted(kept | {shown[r] for r in rows if 0 <= r < len(shown)})


def table_selection_rows(selected: Sequence[int], shown: Sequence[int]) -> list[int]:
    """Positions in the table (showing ids `shown`) of the selected ids it shows."""
    pos = {i: p for p, i in enumerate(shown)}
    return [pos[i] for i in selected if i in pos]
