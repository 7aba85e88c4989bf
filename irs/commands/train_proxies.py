"""`irs train-proxies`: train a domain's proxy reward heads on a frozen pretrained backbone."""
from __future__ import annotations

import argparse
import sys

DOMAINS = ("molecules",)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser("train-proxies", help="train proxy reward heads (molecules: QM9 α, gap, U0)",
                       description="Train one MLP head per objective on frozen backbone features; writes heads "
                                   "+ stats and a results JSON with test Pearson r and MAE.")
    p.add_argument("--domain", required=True, choices=DOMAINS, help="domain whose proxies to train")
    p.add_argument("--backbone", default="assets/molecules/molgpt2",
                   help="backbone model dir (default: assets/molecules/molgpt2)")
    p.add_argument("--out", default="assets/molecules/proxies", help="head directory (default: assets/molecules/proxies)")
    p.add_argument("--results", default="docs/results/proxies.json",
                   help="results JSON (default: docs/results/proxies.json)")
    p.add_argument("--pooling", nargs="+", default=None,
                   help="pooling variants to compare on val (default: last mean mean_last sum_last)")
    p.add_argument("--epochs", type=int, default=30, help="max epochs per head (default: 30)")
    p.add_argument("--limit", type=int, default=None, help="rows per split, for smoke tests (default: all)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.domains.molecules.proxies import train_qm9_proxies
    from irs.objectives.proxy import POOLINGS, HeadConfig

    poolings = tuple(args.pooling or POOLINGS)
    for p in poolings:
        if p not in POOLINGS:
            raise ValueError(f"--pooling must be among {POOLINGS}, got {p!r}")
    if args.epochs <= 0:
        raise ValueError(f"--epochs must be positive, got {args.epochs}")
    argv = sys.argv[sys.argv.index("train-proxies"):] if "train-proxies" in sys.argv else ["train-proxies", "--domain", args.domain]
    res = train_qm9_proxies(args.backbone, args.out, args.results, poolings=poolings, limit=args.limit,
                            cfg=HeadConfig(epochs=args.epochs), command="irs " + " ".join(argv))
    print(f"{'objective':<10} {'pooling':<10} {'test r':>7} {'test MAE':>10}  unit")
    for name, h in res["heads"].items():
        print(f"{name:<10} {h['pooling']:<10} {h['test_pearson_r']:7.4f} {h['test_mae']:10.5f}  {h['unit']}")
    print(f"wrote {args.out} and {args.results}" if args.results else f"wrote {args.out}")
    return 0
