"""Proxy rewards for the DNA domain (paper Appendix B.2): the activity oracle labels a subset of sequences,
and one MLP head per cell type on the frozen DNAGPT-2 backbone learns those labels (irs.objectives.proxy).

Labelled subset (`train_dna_proxies`, command `irs train-proxies --domain dna`):
- 16,000 real training-split sites (4,000 per cell type) and 4,000 DNAGPT-2 samples (half at temperature
  1.0, half at 0.7, the RL default; only valid 200-nt ones), so that the heads see the policy's own
  distribution as well as real DHS;
- labels: the oracle's logit per cell type (unbounded and closer to Gaussian than the probability);
- a random 70/10/20 train/val/test split (seed 0); features and labels are standardized with statistics
  of the 70% part only; pooling is chosen on val; figures are on the 20% test part.
Outputs: `assets/dna/proxies/{k562,hepg2,gm12878,hesc}.{safetensors,json}` and docs/results/dna_proxies.json.

Features (`DNABackbone`, the frozen DNAGPT-2): the generic final-layer poolings of irs.objectives.proxy, with
"mean" extended by the backbone's own token embedding averaged over every overlapping 4-mer of both
strands (all four reading frames of the 4-mer tokenizer, and the reverse complement). Measured on 5,000
oracle-labelled training sites with ridge regression (test r, K562/HepG2/GM12878/hESC): final-layer mean
0.42/0.27/0.21/0.34; all layers, one view 0.52/0.36/0.37/0.44; embedding over 8 views (4 frames x 2
strands) 0.75/0.64/0.70/0.63, the same as all layers over 8 views (0.75/0.64/0.69/0.64). A 200-nt site is
read in one frame by the tokenizer, so a motif looks different at each offset; averaging the frames and
strands makes the features invariant to both, as the oracle is. It costs no extra forward pass.

Objectives (`proxy_objectives`) return sigmoid(predicted logit), the oracle's probability scale, so a
proxy reward and the oracle's evaluation of the same objective share units (0..1).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np

from irs.checkpoint import save_tensors
from irs.domains.dna import data
from irs.domains.dna.tokenizer import canonicalize, tokens_for
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

BACKBONE_DIR = "assets/dna/dnagpt2"
PROXY_DIR = "assets/dna/proxies"
RESULTS_PATH = "docs/results/dna_proxies.json"
SPLIT_SEED = 0


class DNABackbone(Backbone):
    """Frozen DNAGPT-2 features: the generic ones, with "mean" = [final-layer mean | mean token embedding of
    all overlapping 4-mers of both strands]. See the module docstring for the measurement."""

    FEATURES = "final-layer poolings; mean = [final-layer mean, 4-mer embedding mean over 4 frames x 2 strands]"

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        tok = self.tokenizer
        import itertools

        kmers = ["".join(p) for p in itertools.product("ACGT", repeat=4)]
        ids = [tok.token_to_id.get(k) for k in kmers]
        if any(i is None for i in ids):
            raise ValueError(f"DNABackbone needs a 4-mer tokenizer, got {tok.name!r}")
        wte = self.model.get_input_embeddings().weight.detach().float().numpy()
        self._kmer_emb = wte[np.asarray(ids)]  # [256, d], row = base-4 index of the 4-mer
        self._dna_cache: tuple[tuple[str, ...], dict[str, np.ndarray]] | None = None

    def kmer_embedding(self, texts) -> np.ndarray:
        """[n, d]: mean embedding of every overlapping 4-mer on both strands (0 for non-ACGT text)."""
        from irs.domains.dna.motifs import encode

        d = self._kmer_emb.shape[1]
        out = np.zeros((len(texts), d), np.float32)
        by_len: dict[int, list[int]] = {}
        for i, t in enumerate(texts):
            if isinstance(t, str) and len(t) >= 4:
                by_len.setdefault(len(t), []).append(i)
        for idx in by_len.values():
            codes, ok = encode([texts[i] for i in idx])
            codes = codes.astype(np.int64)
            rc = 3 - codes[:, ::-1]
            counts = np.zeros((len(idx), 256))
            for c in (codes, rc):
                w = c[:, :-3] * 64 + c[:, 1:-2] * 16 + c[:, 2:-1] * 4 + c[:, 3:]
                np.add.at(counts, (np.repeat(np.arange(len(idx)), w.shape[1]), w.reshape(-1)), 1)
            emb = (counts / counts.sum(1, keepdims=True)) @ self._kmer_emb
            rows = np.asarray(idx)[ok]
            out[rows] = emb[ok]
        return out

    def features(self, texts):
        key = tuple(texts)
        if self._dna_cache is not None and self._dna_cache[0] == key:
            return self._dna_cache[1]
        base = dict(super().features(texts))
        emb = self.kmer_embedding(list(texts))
        emb[~base["ok"]] = 0.0
        base["mean"] = np.concatenate([base["mean"], emb], axis=1)
        self._dna_cache = (key, base)
        return base


def head_name(cell: str) -> str:
    return cell.lower()


def _rel(p: Path) -> str:
    p = Path(p).resolve()
    return str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p)


def _abs(p: str | Path) -> Path:
    return Path(p) if Path(p).is_absolute() else ROOT / p


def labelled_subset(backbone: Backbone, n_real: int = 16000, n_generated: int = 4000, seed: int = SPLIT_SEED):
    """(sequences, source) for the proxy subset: real training sites, balanced over cell types, plus valid
    DNAGPT-2 samples (half at T=1.0, half at T=0.7)."""
    import torch

    from irs.rl.sampler import sample

    train = data.split("train")
    per = n_real // len(data.CELL_TYPES)
    real = (
        train.groupby("cell", group_keys=False)
        .apply(lambda d: d.sample(n=min(per, len(d)), random_state=seed))["sequence"]
        .tolist()
    )
    gen: list[str] = []
    g = torch.Generator().manual_seed(seed)
    for T in (1.0, 0.7):
        want = n_generated // 2
        got: list[str] = []
        while len(got) < want:
            s = sample(
                backbone.model,
                backbone.tokenizer,
                max(256, int((want - len(got)) * 1.05)),
                max_new_tokens=tokens_for(),
                temperature=T,
                generator=g,
                batch_size=500,
            )
            got += [c for c in map(canonicalize, s.texts) if c is not None]
        gen += got[:want]
    return real + gen, ["real"] * len(real) + ["generated"] * len(gen)


def train_dna_proxies(
    backbone_dir: str = BACKBONE_DIR,
    oracle_dir: str | None = None,
    out_dir: str = PROXY_DIR,
    results_path: str | None = RESULTS_PATH,
    n_real: int = 16000,
    n_generated: int = 4000,
    poolings=POOLINGS,
    cfg: HeadConfig | None = None,
    command: str = "irs train-proxies --domain dna",
) -> dict:
    """Label a subset with the oracle, train one head per cell type, save heads and results."""
    import torch

    from irs.domains.dna.oracle import ORACLE_DIR, load_oracle

    t0 = time.time()
    bdir = _abs(backbone_dir)
    backbone = DNABackbone.load(bdir)
    oracle = load_oracle(oracle_dir or ORACLE_DIR)
    seqs, source = labelled_subset(backbone, n_real, n_generated)
    source = np.asarray(source)
    z = oracle.logits(seqs)
    feats_all = backbone.features(seqs)
    backbone._cache = backbone._dna_cache = None
    if not feats_all["ok"].all():
        raise RuntimeError(f"{int((~feats_all['ok']).sum())} subset sequences did not encode")
    rng = np.random.default_rng(SPLIT_SEED)
    perm = rng.permutation(len(seqs))
    n_tr, n_va = int(0.7 * len(seqs)), int(0.1 * len(seqs))
    parts = {"train": perm[:n_tr], "val": perm[n_tr : n_tr + n_va], "test": perm[n_tr + n_va :]}
    feats = {p: {k: v[i] for k, v in feats_all.items() if k != "ok"} for p, i in parts.items()}
    sha = file_sha256(bdir / "model.safetensors")
    base = cfg or HeadConfig()
    results = {
        "command": command,
        "backbone": _rel(bdir),
        "oracle": str(oracle_dir or ORACLE_DIR),
        "subset": {
            "n": len(seqs),
            "real_train_sites": int((source == "real").sum()),
            "dnagpt2_samples": int((source == "generated").sum()),
            "split": f"random 70/10/20, seed {SPLIT_SEED}",
            "n_train": n_tr,
            "n_val": n_va,
            "n_test": len(parts["test"]),
        },
        "label": "oracle logit; objectives use sigmoid(prediction)",
        "features": DNABackbone.FEATURES,
        "heads": {},
    }
    out = _abs(out_dir)
    for j, cell in enumerate(oracle.cell_types):
        name = head_name(cell)
        y = {p: z[i, j] for p, i in parts.items()}
        trials = {}
        for pooling in poolings:
            c = HeadConfig(**{**base.__dict__, "pooling": pooling})
            head, info = train_head(
                pooled(feats["train"], pooling), y["train"], pooled(feats["val"], pooling), y["val"], c
            )
            trials[pooling] = (head, info, c)
            log.info(
                "%s / %s pooling: val MAE %.4f (best epoch %d)", name, pooling, info["val_mae"], info["best_epoch"]
            )
        best = min(trials, key=lambda p: trials[p][1]["val_mae"])
        head, info, c = trials[best]
        # shipped weights are fp16 (the standardization buffers stay fp32); test the head as shipped
        with torch.no_grad():
            for mod in head.net:
                if isinstance(mod, torch.nn.Linear):
                    mod.weight.copy_(mod.weight.half().float())
                    mod.bias.copy_(mod.bias.half().float())
        with torch.inference_mode():
            pred = head(torch.from_numpy(pooled(feats["test"], best))).numpy() * info["y_std"] + info["y_mean"]
        test_logit = regression_metrics(pred, y["test"])
        sig = lambda v: 1 / (1 + np.exp(-np.asarray(v, np.float64)))
        test_prob = regression_metrics(sig(pred), sig(y["test"]))
        src_test = source[parts["test"]]
        by_source = {
            s: regression_metrics(sig(pred[src_test == s]), sig(y["test"][src_test == s]))["pearson_r"]
            for s in ("real", "generated")
        }
        spec = ProxySpec(
            name=name,
            pooling=best,
            hidden=c.hidden,
            d_in=int(head.x_mean.shape[0]),
            y_mean=info["y_mean"],
            y_std=info["y_std"],
            backbone=_rel(bdir),
            backbone_sha256=sha,
            extra={
                "cell_type": cell,
                "label": "oracle logit",
                "features": DNABackbone.FEATURES,
                "test_logit": test_logit,
                "test_probability": test_prob,
                "test_r_by_source": by_source,
                "val_mae_by_pooling": {p: t[1]["val_mae"] for p, t in trials.items()},
                "head_config": {**c.__dict__, "hidden": list(c.hidden)},
                "epochs_run": info["epochs_run"],
                "command": command,
                "split": results["subset"]["split"],
            },
        )
        ProxyModel(backbone, head, spec).save(out)
        state = {k: (v.half() if k.startswith("net.") else v) for k, v in head.state_dict().items()}
        save_tensors(state, out / f"{name}.safetensors")  # overwrite with fp16 weights (half the size)
        results["heads"][name] = {
            "cell_type": cell,
            "pooling": best,
            "test_r_logit": test_logit["pearson_r"],
            "test_r_probability": test_prob["pearson_r"],
            "test_mae_probability": test_prob["mae"],
            "test_r_probability_by_source": by_source,
            "n_test": test_logit["n"],
        }
        log.info(
            "%s: pooling %s, test r %.4f (logit), %.4f (probability)",
            name,
            best,
            test_logit["pearson_r"],
            test_prob["pearson_r"],
        )
    results["wall_time_s"] = round(time.time() - t0, 1)
    if results_path:
        atomic_write_json(_abs(results_path), results)
    _PROXIES.clear()
    return results


_PROXIES: dict[str, ProxyModel] = {}


def load_proxies(proxy_dir: str = PROXY_DIR, cells=data.CELL_TYPES) -> dict[str, ProxyModel]:
    """Shipped heads by cell type, sharing one backbone (loaded once per process)."""
    import json

    d = _abs(proxy_dir)
    backbone = next((p.backbone for k, p in _PROXIES.items() if k.startswith(f"{d}:")), None)
    for cell in cells:
        key = f"{d}:{head_name(cell)}"
        if key not in _PROXIES:
            if backbone is None:
                spec_path = d / f"{head_name(cell)}.json"
                if not spec_path.is_file():
                    raise FileNotFoundError(
                        f"no DNA proxy head {head_name(cell)!r} in {d}; train them with "
                        f"`irs train-proxies --domain dna`"
                    )
                backbone = DNABackbone.load(_abs(json.loads(spec_path.read_text())["backbone"]))
            p = ProxyModel.load(d, head_name(cell), backbone=backbone, root=ROOT, preprocess=canonicalize)
            backbone = p.backbone
            _PROXIES[key] = p
    return {c: _PROXIES[f"{d}:{head_name(c)}"] for c in cells}


def proxy_objective(cell: str, goal: str = "max", proxy_dir: str = PROXY_DIR) -> Objective:
    """Proxy-scored Objective: sigmoid of the head's predicted oracle logit for `cell`."""
    if cell not in data.CELL_TYPES:
        raise ValueError(f"unknown cell type {cell!r}; choose from {data.CELL_TYPES}")
    proxy = load_proxies(proxy_dir, (cell,))[cell]

    def score(cands):
        z = proxy.predict(cands)
        with np.errstate(over="ignore", invalid="ignore"):
            return 1.0 / (1.0 + np.exp(-z))

    verb = "high" if goal == "max" else "low"
    return Objective(
        head_name(cell),
        score,
        lo=0.0,
        hi=1.0,
        goal=goal,
        unit="probability",
        description=f"DNAGPT-2 proxy of the oracle's activity probability in {cell} "
        f"({proxy.spec.pooling} pooling; {verb} is better)",
    )


def labelled_data(preset: str | None, objectives, n: int = 0, seed: int = 0):
    """(texts, R) for RiC (the domain's RiC hook, Domain.labelled_data): real training-split sites with rewards.

    Activity objectives (k562, hepg2, gm12878, hesc) are labelled by the oracle (its probability through
    the objective's goal transform, as the paper labels its subset with Malinois); any other objective
    (motif hits, GC) is exact and scored directly. n: sites drawn (seeded; 0 = 20,000)."""
    train = data.sequences("train")
    rng = np.random.default_rng([seed, 4242])
    n = min(n or 20_000, len(train))
    texts = [train[i] for i in np.sort(rng.choice(len(train), size=n, replace=False))]
    names = {head_name(c): j for j, c in enumerate(data.CELL_TYPES)}
    P = None
    cols = []
    for o in objectives:
        if o.name in names:
            if P is None:
                from irs.domains.dna.oracle import load_oracle

                oracle = load_oracle()
                P = oracle.predict(texts)
                names = {head_name(c): j for j, c in enumerate(oracle.cell_types)}
            cols.append(o.transform(P[:, names[o.name]]))
        else:
            cols.append(o.transform(np.asarray(o.scorer(texts), dtype=np.float64)))
    return texts, (np.column_stack(cols) if cols else np.zeros((len(texts), 0)))


def train_from_cli(args) -> int:
    """`irs train-proxies --domain dna`: the shared flags are filled in by the command."""
    n_real = 16000 if args.n_real is None else args.n_real
    n_generated = 4000 if args.n_generated is None else args.n_generated
    if n_real < 10 or n_generated < 0:
        raise ValueError(f"need --n-real >= 10 and --n-generated >= 0, got {n_real}, {n_generated}")
    res = train_dna_proxies(
        args.backbone,
        args.oracle,
        args.out,
        args.results,
        n_real,
        n_generated,
        cfg=HeadConfig(epochs=args.epochs),
        command=getattr(args, "command_line", "irs train-proxies --domain dna"),
    )
    print(f"{'head':<9} {'pooling':<10} {'test r (logit)':>15} {'test r (prob)':>14}")
    for name, h in res["heads"].items():
        print(f"{name:<9} {h['pooling']:<10} {h['test_r_logit']:15.4f} {h['test_r_probability']:14.4f}")
    print(f"wrote {args.out}" + (f" and {args.results}" if args.results else ""))
    return 0
