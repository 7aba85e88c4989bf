"""`irs reward-stats`: compute a domain's reward normalization statistics (lo/hi per objective) from its
training split and write them as a small JSON asset (text: assets/text/reward_stats.json)."""

from __future__ import annotations

import argparse

DOMAINS = ("text",)


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "reward-stats",
        help="compute reward normalization statistics (text: from ACLSum train)",
        description="Compute the lo/hi statistics that map each raw reward to [0, 1], from the "
        "domain's training split, and save them as JSON.",
    )
    p.add_argument("--domain", required=True, choices=DOMAINS, help="domain whose rewards to calibrate (required)")
    p.add_argument("--out", default=None, help="output JSON (default: assets/text/reward_stats.json)")
    p.add_argument("--seed", type=int, default=0, help="seed for the mismatched pairs (default: 0)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.domains.text.rewards import STATS_PATH, compute_stats
    from irs.io import atomic_write_json

    stats = compute_stats("train", seed=args.seed)
    out = args.out or STATS_PATH
    atomic_write_json(out, stats)
    for k in ("faithfulness", "quality", "conciseness", "rouge_l"):
        print(f"{k:<13} lo={stats[k]['lo']:<10} hi={stats[k]['hi']:<10} {stats[k].get('target', '')}")
    print(f"wrote {out}")
    return 0
