"""`irs train-proxies`: train a domain's proxy reward heads on a frozen pretrained backbone.

molecules: QM9 α, gap, U0 heads on MolGPT-2 (irs.domains.molecules.proxies.train_qm9_proxies).
dna: K562, HepG2, GM12878, hESC activity heads on DNAGPT-2, trained on oracle labels; dispatched to the
DNA trainer's own entry point (`python -m irs.domains.dna.proxies`, irs.domains.dna.proxies.main).
"""

from __future__ import annotations

import argparse
import sys

DOMAINS = ("molecules", "dna")
# per-domain defaults of the shared options (None in the parser, filled in by run())
DEFAULTS = {
    "molecules": {
        "backbone": "assets/molecules/molgpt2",
        "out": "assets/molecules/proxies",
        "results": "docs/results/proxies.json",
        "epochs": 30,
    },
    "dna": {
        "backbone": "assets/dna/dnagpt2",
        "out": "assets/dna/proxies",
        "results": "docs/results/dna_proxies.json",
        "epochs": 60,
    },
}
MOLECULES_ONLY = ("pooling", "limit", "labels", "qm9_train")
DNA_ONLY = ("oracle", "n_real", "n_generated")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "train-proxies",
        help="train proxy reward heads (molecules: QM9 α, gap, U0; dna: activity per cell type)",
        description="Train one MLP head per objective on frozen backbone features; writes heads "
        "+ stats and a results JSON with test Pearson r and MAE. molecules: QM9 "
        "labels on MolGPT-2; dna: oracle-labelled DHS sites and DNAGPT-2 samples on "
        "DNAGPT-2 (the same as `python -m irs.domains.dna.proxies`).",
    )
    p.add_argument(
        "--domain", required=True, choices=DOMAINS, help="domain whose proxies to train: molecules or dna (required)"
    )
    p.add_argument(
        "--backbone", default=None, help="backbone model dir (default: assets/molecules/molgpt2 | assets/dna/dnagpt2)"
    )
    p.add_argument(
        "--out", default=None, help="head directory (default: assets/molecules/proxies | assets/dna/proxies)"
    )
    p.add_argument(
        "--results",
        default=None,
        help="results JSON (default: docs/results/proxies.json | docs/results/dna_proxies.json)",
    )
    p.add_argument("--epochs", type=int, default=None, help="max epochs per head (default: 30 molecules, 60 dna)")
    p.add_argument(
        "--pooling",
        nargs="+",
        default=None,
        help="molecules only: pooling variants to compare on val (default: last mean mean_last "
        "sum_last; dna compares all of them)",
    )
    p.add_argument(
        "--limit", type=int, default=None, help="molecules only: rows per split, for smoke tests (default: all)"
    )
    p.add_argument(
        "--labels",
        default=None,
        help="molecules only: oracle labels of non-QM9 molecules added to every split (default: "
        "assets/molecules/oracle_labels.parquet when it exists; '' for QM9 alone)",
    )
    p.add_argument(
        "--qm9-train",
        type=int,
        default=None,
        help="molecules only: QM9 training molecules to use (default: all 104,459)",
    )
    p.add_argument("--oracle", default=None, help="dna only: oracle dir (default: assets/dna/oracle)")
    p.add_argument("--n-real", type=int, default=None, help="dna only: real training sites to label (default: 16000)")
    p.add_argument("--n-generated", type=int, default=None, help="dna only: DNAGPT-2 samples to label (default: 4000)")
    p.set_defaults(func=run)
    return p


def _given(args, names) -> list[str]:
    return ["--" + n.replace("_", "-") for n in names if getattr(args, n, None) is not None]


def dna_argv(args) -> list[str]:
    """The argument list for irs.domains.dna.proxies.main equivalent to these `irs train-proxies` args."""
    wrong = _given(args, MOLECULES_ONLY)
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: molecules-only option(s); not used with --domain dna")
    d = DEFAULTS["dna"]
    argv = [
        "--backbone",
        args.backbone or d["backbone"],
        "--out",
        args.out or d["out"],
        "--results",
        d["results"] if args.results is None else args.results,
        "--epochs",
        str(args.epochs or d["epochs"]),
    ]
    if args.oracle is not None:
        argv += ["--oracle", args.oracle]
    if args.n_real is not None:
        argv += ["--n-real", str(args.n_real)]
    if args.n_generated is not None:
        argv += ["--n-generated", str(args.n_generated)]
    return argv


def run(args) -> int:
    if args.epochs is not None and args.epochs <= 0:
        raise ValueError(f"--epochs must be positive, got {args.epochs}")
    if args.domain == "dna":
        from irs.domains.dna import proxies as dna_proxies

        return int(dna_proxies.main(dna_argv(args)) or 0)
    wrong = _given(args, DNA_ONLY)
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: dna-only option(s); not used with --domain {args.domain}")
    from irs.domains.molecules.proxies import train_qm9_proxies
    from irs.objectives.proxy import POOLINGS, HeadConfig

    d = DEFAULTS["molecules"]
    poolings = tuple(args.pooling or POOLINGS)
    for p in poolings:
        if p not in POOLINGS:
            raise ValueError(f"--pooling must be among {POOLINGS}, got {p!r}")
    argv = (
        sys.argv[sys.argv.index("train-proxies") :]
        if "train-proxies" in sys.argv
        else ["train-proxies", "--domain", args.domain]
    )
    results = d["results"] if args.results is None else args.results
    out = args.out or d["out"]
    res = train_qm9_proxies(
        args.backbone or d["backbone"],
        out,
        results,
        poolings=poolings,
        limit=args.limit,
        cfg=HeadConfig(epochs=args.epochs or d["epochs"]),
        command="irs " + " ".join(argv),
        labels_path=args.labels,
        qm9_train=args.qm9_train,
    )
    print(f"{'objective':<10} {'pooling':<10} {'test r':>7} {'test MAE':>10}  unit  (test r by source)")
    for name, h in res["heads"].items():
        by = ", ".join(f"{s} {m['pearson_r']:.3f}" for s, m in h.get("test_by_source", {}).items())
        print(f"{name:<10} {h['pooling']:<10} {h['test_pearson_r']:7.4f} {h['test_mae']:10.5f}  {h['unit']}  ({by})")
    print(f"wrote {out} and {results}" if results else f"wrote {out}")
    return 0
