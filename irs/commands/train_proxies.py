"""`irs train-proxies`: train a domain's proxy reward heads on a frozen pretrained backbone.

Each domain with learned proxies brings its trainer, its defaults and its own flags (Domain.train_proxies,
irs.domains.base.ProxyTraining): molecules trains QM9 α, gap, U0 heads on MolGPT-2; dna the K562, HepG2,
GM12878, hESC activity heads on DNAGPT-2 from oracle labels. A flag of another domain is refused.
"""

from __future__ import annotations

import argparse
import sys

SHARED = ("backbone", "out", "results", "epochs")


def add_parser(sub) -> argparse.ArgumentParser:
    from irs.domains import domains_with

    doms = domains_with("train_proxies")
    per = lambda key: ", ".join(f"{d.name}: {d.train_proxies.defaults[key]}" for d in doms)  # noqa: E731
    p = sub.add_parser(
        "train-proxies",
        help="train proxy reward heads (molecules: QM9 α, gap, U0; dna: activity per cell type)",
        description="Train one MLP head per objective on frozen backbone features; writes heads + stats and a "
        "results JSON with test Pearson r and MAE.",
    )
    p.add_argument(
        "--domain",
        required=True,
        choices=[d.name for d in doms],
        help=f"domain whose proxies to train: {' or '.join(d.name for d in doms)} (required)",
    )
    p.add_argument("--backbone", default=None, help=f"backbone model dir (default: {per('backbone')})")
    p.add_argument("--out", default=None, help=f"head directory (default: {per('out')})")
    p.add_argument("--results", default=None, help=f"results JSON, '' for none (default: {per('results')})")
    p.add_argument("--epochs", type=int, default=None, help=f"max epochs per head (default: {per('epochs')})")
    own = {}
    for d in doms:
        before = {a.dest for a in p._actions}
        if d.train_proxies.add_arguments is not None:
            d.train_proxies.add_arguments(p)
        own[d.name] = [a for a in p._actions if a.dest not in before]
    p.set_defaults(func=run, _own_flags=own)
    return p


def run(args) -> int:
    from irs.domains import get_domain

    if args.epochs is not None and args.epochs <= 0:
        raise ValueError(f"--epochs must be positive, got {args.epochs}")
    others = [a for name, acts in args._own_flags.items() if name != args.domain for a in acts]
    wrong = [a.option_strings[0] for a in others if getattr(args, a.dest, None) is not None]
    if wrong:
        raise ValueError(f"{', '.join(wrong)}: not an option of --domain {args.domain}; nothing was trained")
    pt = get_domain(args.domain).train_proxies
    for k in SHARED:
        if getattr(args, k) is None:
            setattr(args, k, pt.defaults[k])
    argv = sys.argv[sys.argv.index("train-proxies") :] if "train-proxies" in sys.argv else ["train-proxies"]
    args.command_line = "irs " + " ".join(argv)
    return int(pt.train(args) or 0)
