"""QM9 proxy rewards for the molecules domain (paper Appendix B.1): α (max), HOMO-LUMO gap (target the
middle of the normalized range), U0 (min), each a frozen MolGPT-2 backbone + a small MLP head.

Training (`train_qm9_proxies`, command `irs train-proxies --domain molecules`):
- data: QM9 from `qm9.py`, its deterministic 80/10/10 split; heads are fit on train, the pooling is
  chosen on val, and the figures reported are on test.
- inputs: RDKit canonical SMILES (QM9's files hold Kekulé SMILES; MolGPT-2 writes canonical aromatic
  MOSES-style SMILES, so both are canonicalized the same way before encoding).
- outputs: `assets/molecules/proxies/{alpha,gap,u0}.{safetensors,json}` and `docs/results/proxies.json`.

Since the learning-signal work: the heads also learn from oracle labels of MOSES molecules and MolGPT-2
samples (`labels.py`, `assets/molecules/oracle_labels.parquet`; split 80/10/10 by a hash of the SMILES),
because QM9 alone never shows them drug-sized molecules, sulfur or halogens; and the U0 head predicts only
the bonding part on top of the exact free-atom energies (`atom_u0`, the oracle's own atomic references),
so a Br atom's -2574 Ha is not something it has to learn. Test figures are reported per source.

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
from irs.objectives.proxy import (
    POOLINGS,
    Backbone,
    HeadConfig,
    ProxyModel,
    ProxySpec,
    file_sha256,
    pooled,
    regression_metrics,
    train_head,
)
from irs.paths import ROOT

log = logging.getLogger(__name__)

BACKBONE_DIR = "assets/molecules/molgpt2"
PROXY_DIR = "assets/molecules/proxies"
RESULTS_PATH = "docs/results/proxies.json"


def _rel(p: Path) -> str:
    p = Path(p).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def atom_u0(smiles) -> np.ndarray:
    """Σ over atoms (implicit H included) of the free-atom U0 (Ha) the oracle uses; NaN for an invalid
    molecule or an element outside its table. The U0 head adds its bonding part to this."""
    from irs.domains.molecules.chem import mol_from_smiles
    from irs.domains.molecules.oracle import ATOM_U0

    out = np.full(len(smiles), np.nan)
    for i, s in enumerate(smiles):
        mol = mol_from_smiles(s) if s else None
        if mol is None:
            continue
        els = [a.GetSymbol() for a in mol.GetAtoms()]
        n_h = sum(a.GetTotalNumHs() for a in mol.GetAtoms())
        if set(els) <= set(ATOM_U0):
            out[i] = sum(ATOM_U0[e] for e in els) + n_h * ATOM_U0["H"]
    return out


OFFSETS = {"atom_u0": atom_u0}
HEAD_OFFSET = {"u0": "atom_u0"}  # objective -> the exact part its head predicts on top of


def _hash_part(smiles: str) -> str:
    import hashlib

    b = int(hashlib.md5(smiles.encode()).hexdigest()[:8], 16) % 10
    return "test" if b == 0 else "val" if b == 1 else "train"


def train_qm9_proxies(
    backbone_dir: str = BACKBONE_DIR,
    out_dir: str = PROXY_DIR,
    results_path: str | None = RESULTS_PATH,
    poolings=POOLINGS,
    limit: int | None = None,
    cfg: HeadConfig | None = None,
    command: str = "irs train-proxies --domain molecules",
    labels_path: str | None = None,
    qm9_train: int | None = None,
) -> dict:
    """Train one head per objective in qm9.OBJECTIVES; return the results dict (also written as JSON).

    limit: use only the first `limit` rows of each split (smoke tests). labels_path: oracle labels of
    non-QM9 molecules (labels.py) added to every split (default: the shipped table, when it exists; ""
    for none). qm9_train: use only this many QM9 training molecules (default: all)."""
    from irs.domains.molecules.labels import LABELS_PATH, load_labels

    t0 = time.time()
    bdir = Path(backbone_dir) if Path(backbone_dir).is_absolute() else ROOT / backbone_dir
    backbone = Backbone.load(bdir)
    splits = {k: v.assign(source="qm9") for k, v in qm9.split().items()}
    if qm9_train is not None:
        splits["train"] = splits["train"].iloc[:qm9_train]
    if limit is not None:
        splits = {k: v.iloc[:limit] for k, v in splits.items()}
    lp = LABELS_PATH if labels_path is None else labels_path
    extra = load_labels(lp) if lp and Path(lp).is_file() else None
    if extra is not None:
        import pandas as pd

        extra = extra[(extra["status"] == "ok") & np.isfinite(extra[list(qm9.OBJECTIVES)]).all(1)]
        part = extra["smiles"].map(_hash_part)
        for k in splits:
            splits[k] = pd.concat(
                [splits[k], extra[part == k][["smiles", "source", *qm9.OBJECTIVES]]], ignore_index=True
            )
    feats, labels, sources, smiles = {}, {}, {}, {}
    for part, df in splits.items():
        ts = time.time()
        canon = [canonicalize(s) for s in df["smiles"]]
        f = backbone.features([c or "" for c in canon])
        backbone._cache = None
        ok = f["ok"]
        feats[part] = {k: v[ok] for k, v in f.items() if k != "ok"}
        labels[part] = {k: df[k].to_numpy(np.float64)[ok] for k in qm9.OBJECTIVES}
        sources[part] = df["source"].to_numpy()[ok]
        smiles[part] = [c for c, o in zip(canon, ok) if o]
        log.info("features %s: %d of %d molecules encoded in %.0fs", part, int(ok.sum()), len(df), time.time() - ts)
    offsets = {p: {name: OFFSETS[HEAD_OFFSET[name]](smiles[p]) for name in HEAD_OFFSET} for p in feats}
    results = {
        "command": command,
        "backbone": _rel(bdir),
        "n": {k: int(len(v["u0"])) for k, v in labels.items()},
        "n_by_source": {k: {s: int((v == s).sum()) for s in sorted(set(v))} for k, v in sources.items()},
        "labels": _rel(Path(lp)) if extra is not None else None,
        "heads": {},
    }
    out = Path(out_dir) if Path(out_dir).is_absolute() else ROOT / out_dir
    sha = file_sha256(bdir / "model.safetensors")
    base = cfg or HeadConfig()

    def target(part, name):  # what the head learns: the label, less its exact offset where it has one
        y = labels[part][name]
        return y - offsets[part][name] if name in HEAD_OFFSET else y

    for name in qm9.OBJECTIVES:
        trials = {}
        keep = {p: np.isfinite(target(p, name)) for p in feats}
        for pooling in poolings:
            c = HeadConfig(**{**base.__dict__, "pooling": pooling})
            head, info = train_head(
                pooled(feats["train"], pooling)[keep["train"]],
                target("train", name)[keep["train"]],
                pooled(feats["val"], pooling)[keep["val"]],
                target("val", name)[keep["val"]],
                c,
            )
            trials[pooling] = (head, info, c)
            log.info(
                "%s / %s pooling: val MAE %.5f (best epoch %d)", name, pooling, info["val_mae"], info["best_epoch"]
            )
        best = min(trials, key=lambda p: trials[p][1]["val_mae"])
        head, info, c = trials[best]
        off = HEAD_OFFSET.get(name)
        spec = ProxySpec(
            name=name,
            pooling=best,
            hidden=c.hidden,
            d_in=head.x_mean.shape[0],
            y_mean=info["y_mean"],
            y_std=info["y_std"],
            backbone=_rel(bdir),
            backbone_sha256=sha,
            extra={"offset": off} if off else {},
        )
        proxy = ProxyModel(backbone, head, spec, offset=OFFSETS[off] if off else None)
        import torch

        with torch.inference_mode():
            pred = head(torch.from_numpy(pooled(feats["test"], best))).numpy() * info["y_std"] + info["y_mean"]
        if off:
            pred = pred + offsets["test"][name]
        ok_t = np.isfinite(pred)
        test = regression_metrics(pred[ok_t], labels["test"][name][ok_t])
        by_source = {}
        for src in sorted(set(sources["test"])):
            m = ok_t & (sources["test"] == src)
            if m.sum() > 2:
                by_source[src] = regression_metrics(pred[m], labels["test"][name][m])
                if name == "u0":  # the bonding part alone: what the head has to learn
                    by_source[src]["atomization_pearson_r"] = regression_metrics(
                        pred[m] - offsets["test"][name][m], labels["test"][name][m] - offsets["test"][name][m]
                    )["pearson_r"]
        val_by_pooling = {p: t[1]["val_mae"] for p, t in trials.items()}
        spec.extra = {
            **spec.extra,
            "test": test,
            "test_by_source": by_source,
            "val_mae_by_pooling": val_by_pooling,
            "unit": qm9.UNITS[name],
            "head_config": {**c.__dict__, "hidden": list(c.hidden)},
            "epochs_run": info["epochs_run"],
            "command": command,
            "split": f"qm9.split() 80/10/10, seed {qm9.SPLIT_SEED}",
        }
        proxy.save(out)
        results["heads"][name] = {
            "pooling": best,
            "unit": qm9.UNITS[name],
            "test_pearson_r": test["pearson_r"],
            "test_mae": test["mae"],
            "test_r2": test["r2"],
            "n_test": test["n"],
            "test_by_source": by_source,
            "offset": off,
            "val_mae_by_pooling": val_by_pooling,
        }
        log.info(
            "%s: pooling %s, test r %.4f, MAE %.5f %s", name, best, test["pearson_r"], test["mae"], qm9.UNITS[name]
        )
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
            p = ProxyModel.load(d, n, backbone=backbone, root=ROOT, preprocess=canonicalize, offsets=OFFSETS)
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
        objs.append(
            Objective(
                name=name,
                scorer=proxies[name].predict,
                lo=lo,
                hi=hi,
                goal=goal,
                target=target,
                description=f"{qm9.DESCRIPTIONS[name]}; MolGPT-2 proxy head ({proxies[name].spec.pooling} pooling)",
                unit=qm9.UNITS[name],
            )
        )
    return objs


def train_from_cli(args) -> int:
    """`irs train-proxies --domain molecules`: the shared flags are filled in by the command."""
    from irs.objectives.proxy import POOLINGS, HeadConfig

    poolings = tuple(args.pooling or POOLINGS)
    for p in poolings:
        if p not in POOLINGS:
            raise ValueError(f"--pooling must be among {POOLINGS}, got {p!r}")
    res = train_qm9_proxies(
        args.backbone,
        args.out,
        args.results,
        poolings=poolings,
        limit=args.limit,
        cfg=HeadConfig(epochs=args.epochs),
        command=getattr(args, "command_line", "irs train-proxies --domain molecules"),
        labels_path=args.labels,
        qm9_train=args.qm9_train,
    )
    print(f"{'objective':<10} {'pooling':<10} {'test r':>7} {'test MAE':>10}  unit  (test r by source)")
    for name, h in res["heads"].items():
        by = ", ".join(f"{s} {m['pearson_r']:.3f}" for s, m in h.get("test_by_source", {}).items())
        print(f"{name:<10} {h['pooling']:<10} {h['test_pearson_r']:7.4f} {h['test_mae']:10.5f}  {h['unit']}  ({by})")
    print(f"wrote {args.out} and {args.results}" if args.results else f"wrote {args.out}")
    return 0
