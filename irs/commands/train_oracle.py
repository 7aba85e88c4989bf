"""`irs train-oracle`: train a domain's learned oracle (DNA: the cell-type activity CNN) and report its
held-out figures."""

from __future__ import annotations

import argparse
import sys

DOMAINS = ("dna",)
FLAGS = ("epochs", "patience", "shuffle_ratio", "batch_size", "lr", "seed", "threads")  # OracleConfig fields


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
    from irs.config.flags import add_flags
    from irs.domains.dna.oracle import OracleConfig

    add_flags(p, OracleConfig, FLAGS)
    p.add_argument("--limit", type=int, default=None, help="training sites to use, for smoke tests (default: all)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.domains.dna.oracle import OracleConfig, train_oracle

    if args.limit is not None and args.limit <= 0:
        raise ValueError(f"--limit must be positive, got {args.limit}")
    from irs.config.flags import values

    cfg = OracleConfig(**values(args, FLAGS))
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
