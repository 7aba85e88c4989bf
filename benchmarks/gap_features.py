"""Which features could carry a HOMO-LUMO gap proxy? 5-fold cross-validated Pearson r of ridge regression
and a small MLP on the 2,500 xTB-labelled molecules (assets/molecules/oracle_labels.parquet: MOSES and
MolGPT-2 samples), from Morgan count fingerprints, RDKit's 2D descriptors, or both. The shipped gap head
(frozen MolGPT-2 features) agrees with the oracle at r 0.53-0.62 on fresh samples (docs/learning-signal.md).

    .venv/bin/python benchmarks/gap_features.py [--out docs/results/gap_features.json]   # ~3 min, 1 thread
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.io import atomic_write_json  # noqa: E402


def features(smiles):
    from rdkit import Chem, RDLogger
    from rdkit.Chem import Descriptors, rdFingerprintGenerator

    RDLogger.DisableLog("rdApp.*")
    mols = [Chem.MolFromSmiles(s) for s in smiles]
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    fp = np.array([gen.GetCountFingerprintAsNumPy(m) for m in mols], dtype=np.float64)
    desc = np.nan_to_num(np.array([[f(m) for _, f in Descriptors.descList] for m in mols]), posinf=0, neginf=0)
    return {"morgan counts": fp, "rdkit descriptors": desc, "both": np.hstack([fp, desc])}


def _standardize(a, b):
    mu, sd = a.mean(0), a.std(0) + 1e-9
    return np.clip((a - mu) / sd, -6, 6), np.clip((b - mu) / sd, -6, 6)


def ridge(a, y, b, lam):
    a, b = _standardize(a, b)
    w = np.linalg.solve(a.T @ a + lam * np.eye(a.shape[1]), a.T @ (y - y.mean()))
    return b @ w + y.mean()


def mlp(a, y, b, epochs=50, seed=0):
    torch.manual_seed(seed)
    a, b = (torch.tensor(x, dtype=torch.float32) for x in _standardize(a, b))
    ym, ys = y.mean(), y.std()
    t = torch.tensor((y - ym) / ys, dtype=torch.float32)
    net = torch.nn.Sequential(
        torch.nn.Linear(a.shape[1], 256), torch.nn.GELU(), torch.nn.Dropout(0.1), torch.nn.Linear(256, 256),
        torch.nn.GELU(), torch.nn.Dropout(0.1), torch.nn.Linear(256, 1),
    )  # fmt: skip
    opt = torch.optim.AdamW(net.parameters(), 1e-3, weight_decay=1e-3)
    for _ in range(epochs):
        net.train()
        perm = torch.randperm(len(a))
        for s in range(0, len(a), 128):
            i = perm[s : s + 128]
            loss = ((net(a[i]).squeeze(-1) - t[i]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        return net(b).squeeze(-1).numpy() * ys + ym


def main(argv=None) -> int:
    import pandas as pd

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=str(ROOT / "docs/results/gap_features.json"), help="result JSON")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    t0 = time.time()
    df = pd.read_parquet(ROOT / "assets/molecules/oracle_labels.parquet")
    df = df[df["status"] == "ok"].reset_index(drop=True)
    y = df["gap"].to_numpy(np.float64)
    fold = np.random.default_rng(0).integers(0, 5, len(y))
    res = {"command": "python benchmarks/gap_features.py", "n": len(y), "folds": 5, "rows": []}
    for name, F in features(df["smiles"]).items():
        for model, fit in [
            ("ridge λ=10", lambda a, y, b: ridge(a, y, b, 10.0)),
            ("ridge λ=1000", lambda a, y, b: ridge(a, y, b, 1000.0)),
            ("MLP 256x256", mlp),
        ]:
            pred = np.zeros(len(y))
            for k in range(5):
                tr, te = fold != k, fold == k
                pred[te] = fit(F[tr], y[tr], F[te])
            r = float(np.corrcoef(pred, y)[0, 1])
            by = {
                s: float(np.corrcoef(pred[df.source == s], y[df.source == s])[0, 1]) for s in sorted(df.source.unique())
            }
            res["rows"].append({"features": name, "model": model, "cv_r": r, "cv_r_by_source": by})
            print(f"{name:<18} {model:<13} r {r:.3f}  " + "  ".join(f"{s} {v:.3f}" for s, v in by.items()), flush=True)
    res["wall_s"] = round(time.time() - t0, 1)
    atomic_write_json(Path(a.out), res)
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
