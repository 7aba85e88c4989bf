"""`irs train-oracle`: train a domain's learned oracle (DNA: the cell-type activity CNN) and report its
held-out figures."""

from __future__ import annotations

import argparse
import sys

DOMAINS = ("dna",)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train-oracle",
        help="train a domain's oracle model (dna: cell-type activity CNN)",
        description="Train the oracle on the domain's training split, pick the epoch on the "
        "validation split, report test AUROC per cell type and scoring speed, and "
        "save safetensors + JSON.",
    )
    p.add_argument("--domain", required=True, choices=DOMAINS, help="domain whose oracle to train (required)")
    p.add_argument("--out", default="assets/dna/oracle", help="output directory (default: assets/dna/oracle)")
    p.add_argument(
        "--results", default="docs/results/dna_oracle.json", help="results JSON (default: docs/results/dna_oracle.json)"
    )
    p.add_argument("--epochs", type=int, default=12, help="max epochs (default: 12)")
    p.add_argument("--patience", type=int, default=3, help="early-stopping patience in epochs (default: 3)")
    p.add_argument(
        "--shuffle-ratio",
        type=float,
        default=0.5,
        help="dinucleotide-shuffled negatives per training site, per epoch (default: 0.5)",
    )
    p.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: 1)")
    p.add_argument("--limit", type=int, default=None, help="training sites to use, for smoke tests (default: all)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.domains.dna.oracle import OracleConfig, train_oracle

    if args.limit is not None and args.limit <= 0:
        raise ValueError(f"--limit must be positive, got {args.limit}")
    cfg = OracleConfig(
        epochs=args.epochs,
        patience=args.patience,
        shuffle_ratio=args.shuffle_ratio,
        seed=args.seed,
        threads=args.threads,
    )
    argv = (
        sys.argv[sys.argv.index("train-oracle") :]
        if "train-oracle" in sys.argv
        else ["train-oracle", "--domain", args.domain]
    )
    info = train_oracle(cfg, args.out, args.results, limit=args.limit, command="irs " + " ".join(argv))
    print(f"{'cell type':<10} {'AUROC':>7} {'AUROC sites only':>17}   (test = chr2)")
    for c, v in info["test"]["per_cell"].items():
        print(f"{c:<10} {v['auroc']:7.4f} {v['auroc_sites']:17.4f}")
    s = info["speed_10k"]
    print(f"scoring speed: {s['n']} sequences in {s['seconds']} s ({s['threads']} thread(s))")
    print(f"wrote {args.out}" + (f" and {args.results}" if args.results else ""))
    return 0
