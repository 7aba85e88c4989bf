"""`irs pretrain`: pretrain a domain's small GPT-2 on its corpus and write a model directory."""

from __future__ import annotations

import argparse
import sys

GENERIC = {"max_len": 64, "n_embd": 256}  # a domain's Pretraining.defaults override these
# PretrainConfig fields offered as flags (defaults and help come from the dataclass)
MODEL_FLAGS = ("n_layer", "n_embd", "n_head", "max_len", "batch_size", "lr", "warmup", "steps", "minutes")
RUN_FLAGS = ("seed", "bf16", "threads")


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "pretrain",
        help="pretrain a domain's small GPT-2 (e.g. MolGPT-2 on MOSES)",
        description="Pretrain a causal GPT-2 on a domain corpus; resumable; saves fp16 safetensors.",
    )
    from irs.domains import domains_with

    doms = domains_with("pretraining")
    per = lambda key: "; ".join(  # noqa: E731
        [f"{GENERIC[key]}"]
        + [f"{d.name}: {d.pretraining.defaults[key]}" for d in doms if key in d.pretraining.defaults]
    )
    p.add_argument(
        "--domain", required=True, choices=[d.name for d in doms], help="domain whose corpus to use (required)"
    )
    p.add_argument(
        "--out",
        default=None,
        help="output model directory (default: " + ", ".join(f"{d.name}: {d.pretraining.out}" for d in doms) + ")",
    )
    p.add_argument("--ckpt-dir", default=None, help="resumable checkpoint directory (default: runs/pretrain/<domain>)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint directory (default: off)")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL_DIR",
        help="continue pretraining a model directory: its weights, a fresh optimizer and schedule, the data "
        "order after its steps; its meta.json's commands carry over (default: none)",
    )
    from irs.config.flags import add_flags
    from irs.pretrain import PretrainConfig

    add_flags(p, PretrainConfig, MODEL_FLAGS, shown={k: per(k) for k in GENERIC})
    p.add_argument("--limit", type=int, default=None, help="use only the first N corpus texts (default: all)")
    add_flags(p, PretrainConfig, RUN_FLAGS)
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.domains import get_domain
    from irs.pretrain import PretrainConfig, pretrain

    spec = get_domain(args.domain).pretraining
    texts, tokenizer = spec.corpus()
    if args.limit is not None:
        if args.limit <= 0:
            raise ValueError(f"--limit must be positive, got {args.limit}")
        texts = texts[: args.limit]
    from irs.config.flags import values

    given = values(args, MODEL_FLAGS + RUN_FLAGS)
    cfg = PretrainConfig(**{**GENERIC, **spec.defaults, **given, "min_lr": given.get("lr", PretrainConfig.lr) / 10})
    out = args.out or spec.out
    ckpt = args.ckpt_dir or f"runs/pretrain/{args.domain}"
    argv = sys.argv[sys.argv.index("pretrain") :] if "pretrain" in sys.argv else ["pretrain", "--domain", args.domain]
    meta = {
        "command": "irs " + " ".join(argv),
        "data": f"{args.domain} corpus ({spec.corpus.__module__}), {len(texts)} texts",
    }
    pretrain(texts, tokenizer, cfg, out, ckpt_dir=ckpt, resume=args.resume, meta=meta, init_from=args.init_from)
    print(f"saved {out}")
    return 0
