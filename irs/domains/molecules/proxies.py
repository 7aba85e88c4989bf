"""QM9 proxy rewards for the molecules domain (paper Appendix B.1): α (max), HOMO-LUMO gap (target the
middle of the normalized range), U0 (min), each a frozen MolGPT-2 backbone + a small MLP head.

Training (`train_qm9_proxies`, command `irs train-proxies --domain molecules`):
- data: QM9 from `qm9.py`, its deterministic 80/10/10 split; heads are fit on train, the pooling is
  chosen on val, and the figures reported are on test.
- inputs: RDKit canonical SMILES (QM9's files hold Kekulé SMILES; MolGPT-2 writes canonical aromatic
  MOSES-style SMILES, so both are canonicalized the same way before encoding).
- outputs: `assets/molecules/proxies/{alpha,gap,u0}.{safetensors,json}` and `docs/results/proxies.json`.

Objectives (`qm9_proxy_objectives`): lo/hi from `qm9.norm_stats()`, shared with the oracle. A candidate
that is not a valid molecule (chem.canonicalize returns None) scores NaN.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from irs.domains.molecules import qm9
from irs.domains.molecules.chem import canonicalize
from irs.io import atomic_write_json
from irs.objectives import Objective
from irs.objectives.proxy import (POOLINGS, Backbone, HeadConfig, ProxyModel, ProxySpec, file_sha256, pooled,
                                  regression_metrics, train_head)
from irs.paths import ROOT

log = logging.getLogger(__name__)

BACKBONE_DIR = "assets/molecules/molgpt2"
PROXY_DIR = "assets/molecules/proxies"
RESULTS_PATH = "docs/results/proxies.json"


def _rel(p: Path) -> str:
    p = Path(p).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def train_qm9_proxies(backbone_dir: str = BACKBONE_DIR, out_dir: str = PROXY_DIR,
                      results_path: str | None = RESULTS_PATH, poolings=POOLINGS, limit: int | None = None,
                      cfg: HeadConfig | None = None, command: str = "irs train-proxies --domain molecules") -> dict:
    """Train one head per objective in qm9.OBJECTIVES; return the results dict (also written as JSON).

    limit: use only the first `limit` rows of each split (smoke tests)."""
    t0 = time.time()
    bdir = Path(backbone_dir) if Path(backbone_dir).is_absolute() else ROOT / backbone_dir
    backbone = Backbone.load(bdir)
    splits = qm9.split()
    if limit is not None:
        splits = {k: v.iloc[:limit] for k, v in splits.items()}
    feats, labels = {}, {}
    for part, df in splits.items():
        ts = time.time()
        canon = [canonicalize(s) for s in df["smiles"]]
        f = backbone.features([c or "" for c in canon])
        backbone._cache = None
        ok = f["ok"]
        feats[part] = {k: v[ok] for k, v in f.items() if k != "ok"}
        labels[part] = {k: df[k].to_numpy(np.float64)[ok] for k in qm9.OBJECTIVES}
        log.info("features %s: %d of %d molecules encoded in %.0fs", part, int(ok.sum()), len(df), time.time() - ts)
    results = {"command": command, "backbone": _rel(bdir), "n": {k: int(len(v["u0"])) for k, v in labels.items()},
               "heads": {}}
    out = Path(out_dir) if Path(out_dir).is_absolute() else ROOT / out_dir
    sha = file_sha256(bdir / "model.safetensors")
    base = cfg or HeadConfig()
    for name in qm9.OBJECTIVES:
        trials = {}
        for pooling in poolings:
            c = HeadConfig(**{**base.__dict__, "pooling": pooling})
            head, info = train_head(pooled(feats["train"], pooling), labels["train"][name],
                                    pooled(feats["val"], pooling), labels["val"][name], c)
            trials[pooling] = (head, info, c)
            log.info("%s / %s pooling: val MAE %.5f (best epoch %d)", name, pooling, info["val_mae"], info["best_epoch"])
        best = min(trials, key=lambda p: trials[p][1]["val_mae"])
        head, info, c = trials[best]
        spec = ProxySpec(name=name, pooling=best, hidden=c.hidden, d_in=head.x_mean.shape[0], y_mean=info["y_mean"],
                         y_std=info["y_std"], backbone=_rel(bdir), backbone_sha256=sha, extra={})
        proxy = ProxyModel(backbone, head, spec)
        import torch

        with torch.inference_mode():
            pred = head(torch.from_numpy(pooled(feats["test"], best))).numpy() * info["y_std"] + info["y_mean"]
        test = regression_metrics(pred, labels["test"][name])
        val_by_pooling = {p: t[1]["val_mae"] for p, t in trials.items()}
        spec.extra = {"test": test, "val_mae_by_pooling": val_by_pooling, "unit": qm9.UNITS[name],
                      "head_config": {**c.__dict__, "hidden": list(c.hidden)}, "epochs_run": info["epochs_run"],
                      "command": command, "split": "qm9.split() 80/10/10, seed %d" % qm9.SPLIT_SEED}
        proxy.save(out)
        results["heads"][name] = {"pooling": best, "unit": qm9.UNITS[name], "test_pearson_r": test["pearson_r"],
                                  "test_mae": test["mae"], "test_r2": test["r2"], "n_test": test["n"],
                                  "val_mae_by_pooling": val_by_pooling}
        log.info("%s: pooling %s, test r %.4f, MAE %.5f %s", name, best, test["pearson_r"], test["mae"], qm9.UNITS[name])
    results["wall_time_s"] = round(time.time() - t0, 1)
    if results_path:
        rp = Path(results_path) if Path(results_path).is_absolute() else ROOT / results_path
        atomic_write_json(rp, results)
    return results


_PROXIES: dict[str, ProxyModel] = {}


def load_qm9_proxies(proxy_dir: str = PROXY_DIR) -> dict[str, ProxyModel]:
    """The three shipped heads, sharing one backbone (loaded once per process)."""
    d = Path(proxy_dir) if Path(proxy_dir).is_absolute() else ROOT / proxy_dir
    key = str(d)
    if not all(f"{key}:{n}" in _PROXIES for n in qm9.OBJECTIVES):
        backbone = None
        for n in qm9.OBJECTIVES:
            p = ProxyModel.load(d, n, backbone=backbone, root=ROOT, preprocess=canonicalize)
            backbone = p.backbone
            _PROXIES[f"{key}:{n}"] = p
    return {n: _PROXIES[f"{key}:{n}"] for n in qm9.OBJECTIVES}


def qm9_proxy_objectives(proxy_dir: str = PROXY_DIR) -> list[Objective]:
    """α (max), gap (target 0.5 of the normalized range), U0 (min) as proxy-scored Objectives."""
    proxies = load_qm9_proxies(proxy_dir)
    ranges = qm9.norm_stats()
    objs = []
    for name in qm9.OBJECTIVES:
        goal, target = qm9.QM9_GOALS[name]
        lo, hi = ranges[name]
        objs.append(Objective(name=name, scorer=proxies[name].predict, lo=lo, hi=hi, goal=goal, target=target,
                              description=f"{qm9.DESCRIPTIONS[name]}; MolGPT-2 proxy head "
                                          f"({proxies[name].spec.pooling} pooling)",
                              unit=qm9.UNITS[name]))
    return objs
