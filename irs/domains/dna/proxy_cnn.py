"""A CNN proxy of the DNA activity oracle: a second, smaller convolutional network that learns the oracle's
logits from the same labelled subset as the DNAGPT-2 heads (proxies.py), used by the preset "3cell-cnn".

Why: the heads read frozen DNAGPT-2 features (the paper's design, Appendix B.2), and on this 0.4M-parameter
backbone those agree with the oracle at Pearson r 0.48-0.57 on fresh samples of a fine-tuned policy. A
network trained end to end on one-hot sequences sees motifs and their positions as the oracle does: r
0.76-0.82 there. Measured in the learning-signal benchmark it did not lift the oracle more than the heads
(docs/learning-signal.md, "DNA"), so it is an option, not the default.

Independent of the oracle in everything but the labels: other widths and kernels (64-64-64, kernels 9-7-5
against the oracle's 64-96-96 and 11-7-5), another seed, and trained on oracle logits of 16,000 real
training-split sites and 16,000 DNAGPT-2 samples (proxies.labelled_subset: half at T = 1.0, half at 0.7),
never on DHS labels. Split 80/10/10 (seed 0); val picks the epoch by mean Pearson r of the probabilities;
figures on the test part and on fresh samples of the starting model. Saved as `proxy.safetensors` (fp16) +
`proxy.json` in assets/dna/proxy_cnn, the label standardization folded into the last layer.

    python -m irs.domains.dna.proxy_cnn [--n-real 16000] [--n-generated 16000] [--epochs 16]
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import torch

from irs.domains.dna.motifs import encode
from irs.domains.dna.oracle import (
    ActivityCNN,
    Oracle,
    OracleConfig,
    activity_objective,
    forget,
    load_oracle,
    one_hot,
    rc_onehot,
)
from irs.early_stopping import EarlyStopping
from irs.io import atomic_write_json
from irs.paths import ROOT

log = logging.getLogger(__name__)
MODULE = "irs.domains.dna.proxy_cnn"  # __name__ is "__main__" under python -m

PROXY_CNN_DIR = "assets/dna/proxy_cnn"
RESULTS_PATH = "docs/results/dna_proxy_cnn.json"
SPLIT_SEED = 0
FRESH_SEED = 777  # fresh samples of the starting model for the agreement figure
CONFIG = OracleConfig(
    channels=(64, 64, 64),
    kernels=(9, 7, 5),
    hidden=128,
    dropout=0.1,
    epochs=16,
    patience=3,
    batch_size=128,
    lr=2e-3,
    weight_decay=1e-4,
    seed=1,
)


def _abs(p: str | Path) -> Path:
    return Path(p) if Path(p).is_absolute() else ROOT / p


STEM = "proxy"


def load_proxy(directory: str | Path = PROXY_CNN_DIR) -> Oracle:
    """The CNN proxy in `directory` (proxy.json + proxy.safetensors), loaded once per process."""
    return load_oracle(_abs(directory), STEM, how=f"train one with `python -m {MODULE}`")


def proxy_objective(cell: str, goal: str = "max", directory: str = PROXY_CNN_DIR):
    """Proxy-scored Objective: the CNN proxy's activity probability in `cell` (the oracle's units)."""
    return activity_objective(cell, goal, oracle=load_proxy(directory), what="CNN proxy of the oracle")


def _r(p: np.ndarray, q: np.ndarray) -> float:
    ok = np.isfinite(p) & np.isfinite(q)
    return float(np.corrcoef(p[ok], q[ok])[0, 1]) if ok.sum() > 2 else float("nan")


def _sig(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def fresh_samples(model, tokenizer, n: int, seed: int = FRESH_SEED, temperature: float = 0.7) -> list[str]:
    """Distinct valid 200-nt samples of `model` (the agreement figure's test set)."""
    from irs.domains.dna.tokenizer import canonicalize, tokens_for
    from irs.rl.sampler import sample

    s = sample(
        model.eval(),
        tokenizer,
        n,
        max_new_tokens=tokens_for(),
        temperature=temperature,
        generator=torch.Generator().manual_seed(seed),
        batch_size=500,
    )
    return list(dict.fromkeys(c for c in map(canonicalize, s.texts) if c is not None))


def train_cnn_proxy(
    oracle_dir: str | None = None,
    backbone_dir: str = "assets/dna/dnagpt2",
    out_dir: str = PROXY_CNN_DIR,
    results_path: str | None = RESULTS_PATH,
    n_real: int = 16000,
    n_generated: int = 16000,
    cfg: OracleConfig = CONFIG,
    n_fresh: int = 512,
    command: str = f"python -m {MODULE}",
) -> dict:
    """Label the subset with the oracle, train the CNN on its logits, keep the best val epoch, save."""
    from irs.domains.dna.oracle import ORACLE_DIR
    from irs.domains.dna.proxies import DNABackbone, labelled_subset

    t0 = time.time()
    torch.manual_seed(cfg.seed)
    oracle = load_oracle(oracle_dir or ORACLE_DIR)
    backbone = DNABackbone.load(_abs(backbone_dir))
    seqs, source = labelled_subset(backbone, n_real, n_generated)
    source = np.asarray(source)
    z = oracle.logits(seqs)
    codes, ok = encode(seqs)
    if not ok.all():
        raise RuntimeError(f"{int((~ok).sum())} subset sequences did not encode")
    x, y = one_hot(codes), torch.from_numpy(z).float()
    perm = np.random.default_rng(SPLIT_SEED).permutation(len(seqs))
    n_tr, n_va = int(0.8 * len(seqs)), int(0.1 * len(seqs))
    tr, va, te = perm[:n_tr], perm[n_tr : n_tr + n_va], perm[n_tr + n_va :]
    mu, sd = y[tr].mean(0), y[tr].std(0)
    yn = (y - mu) / sd
    cells = oracle.cell_types
    model = ActivityCNN(cfg, len(cells))
    proxy = Oracle(model, cfg, cells)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    per_epoch = len(tr) // cfg.batch_size
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, cfg.lr, total_steps=cfg.epochs * per_epoch)
    stop = EarlyStopping(model, cfg.patience, mode="max")
    rng = np.random.default_rng(cfg.seed)
    history = []

    def predict(rows) -> np.ndarray:  # probabilities, both strands, standardization undone
        model.eval()
        with torch.inference_mode():
            xb = x[rows]
            zn = 0.5 * (model(xb) + model(rc_onehot(xb)))
        return _sig((zn * sd + mu).numpy())

    P = _sig(z)
    for epoch in range(cfg.epochs):
        model.train()
        order = rng.permutation(tr)
        for b in range(per_epoch):
            i = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            xb = x[i] if rng.random() < 0.5 else rc_onehot(x[i])  # the oracle is strand-symmetric
            loss = torch.nn.functional.mse_loss(model(xb), yn[i])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        pv = predict(va)
        r_val = float(np.mean([_r(pv[:, j], P[va, j]) for j in range(len(cells))]))
        history.append({"epoch": epoch + 1, "val_mean_r": r_val, "seconds": round(time.time() - t0, 1)})
        log.info("CNN proxy epoch %d: val mean r %.4f (%.0f s)", epoch + 1, r_val, time.time() - t0)
        if stop.step(r_val, epoch + 1):
            break
    stop.restore()
    with torch.no_grad():  # fold the label standardization into the last layer: the model outputs logits
        last = model.head[-1]
        last.weight.mul_(sd[:, None])
        last.bias.mul_(sd).add_(mu)
        for t in model.state_dict().values():  # test the weights as shipped (fp16)
            if t.is_floating_point():
                t.copy_(t.half().float())
    model.eval()
    pt = proxy.predict([seqs[i] for i in te])
    fresh = fresh_samples(backbone.model, backbone.tokenizer, n_fresh)
    pf, of = proxy.predict(fresh), oracle.predict(fresh)
    src_te = source[te]
    results = {
        "command": command,
        "oracle": str(oracle_dir or ORACLE_DIR),
        "architecture": asdict(cfg),
        "subset": {
            "n": len(seqs),
            "real_train_sites": int((source == "real").sum()),
            "dnagpt2_samples": int((source == "generated").sum()),
            "split": f"random 80/10/10, seed {SPLIT_SEED}",
        },
        "label": "oracle logit (both strands); the proxy outputs logits, objectives use sigmoid",
        "best_epoch": stop.best_epoch,
        "history": history,
        "cells": {
            c.lower(): {
                "test_r_probability": _r(pt[:, j], P[te, j]),
                "test_r_by_source": {s: _r(pt[src_te == s, j], P[te[src_te == s], j]) for s in ("real", "generated")},
                "fresh_r_probability": _r(pf[:, j], of[:, j]),
            }
            for j, c in enumerate(cells)
        },
        "fresh_samples": {"n_distinct_valid": len(fresh), "seed": FRESH_SEED, "temperature": 0.7},
        "wall_time_s": round(time.time() - t0, 1),
    }
    proxy.info = {k: results[k] for k in ("command", "oracle", "subset", "label", "best_epoch", "cells")}
    proxy.save(_abs(out_dir), stem=STEM)
    forget(_abs(out_dir), STEM)
    if results_path:
        atomic_write_json(_abs(results_path), results)
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description=__doc__.splitlines()[0])
    p.add_argument("--oracle", default=None, help="oracle dir (default: assets/dna/oracle)")
    p.add_argument(
        "--backbone",
        default="assets/dna/dnagpt2",
        help="model sampled for the generated part (default: assets/dna/dnagpt2)",
    )
    p.add_argument("--out", default=PROXY_CNN_DIR, help=f"proxy dir (default: {PROXY_CNN_DIR})")
    p.add_argument("--results", default=RESULTS_PATH, help=f"results JSON, '' for none (default: {RESULTS_PATH})")
    p.add_argument("--n-real", type=int, default=16000, help="real training sites to label (default: 16000)")
    p.add_argument("--n-generated", type=int, default=16000, help="DNAGPT-2 samples to label (default: 16000)")
    p.add_argument("--epochs", type=int, default=CONFIG.epochs, help=f"max epochs (default: {CONFIG.epochs})")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    a = p.parse_args(argv)
    if a.n_real < 10 or a.n_generated < 0 or a.epochs < 1:
        p.error(f"need --n-real >= 10, --n-generated >= 0, --epochs >= 1; got {a.n_real}, {a.n_generated}, {a.epochs}")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(a.threads)
    import sys

    res = train_cnn_proxy(
        a.oracle,
        a.backbone,
        a.out,
        a.results or None,
        a.n_real,
        a.n_generated,
        replace(CONFIG, epochs=a.epochs),
        command=" ".join(["python -m", MODULE, *sys.argv[1:]]),
    )
    print(f"{'cell':<9} {'test r':>7} {'fresh r':>8}")
    for c, v in res["cells"].items():
        print(f"{c:<9} {v['test_r_probability']:7.4f} {v['fresh_r_probability']:8.4f}")
    print(f"wrote {a.out}" + (f" and {a.results}" if a.results else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
