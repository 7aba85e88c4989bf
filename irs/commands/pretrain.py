"""`irs pretrain`: pretrain a domain's small GPT-2 on its corpus and write a model directory."""

from __future__ import annotations

import argparse
import sys

GENERIC = {"max_len": 64, "n_embd": 256}  # a domain's Pretraining.defaults override these


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
    p.add_argument("--minutes", type=float, default=None, help="wall-clock budget in minutes (default: none)")
    p.add_argument("--steps", type=int, default=100_000, help="step budget (default: 100000)")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint directory (default: off)")
    p.add_argument(
        "--init-from",
        default=None,
        metavar="MODEL_DIR",
        help="continue pretraining a model directory: its weights, a fresh optimizer and schedule, the data "
        "order after its steps; its meta.json's commands carry over (default: none)",
    )
    p.add_argument("--n-layer", type=int, default=4, help="transformer blocks (default: 4)")
    p.add_argument("--n-embd", type=int, default=None, help=f"hidden width (default: {per('n_embd')})")
    p.add_argument("--n-head", type=int, default=4, help="attention heads (default: 4)")
    p.add_argument("--max-len", type=int, default=None, help=f"positions incl. BOS/EOS (default: {per('max_len')})")
    p.add_argument("--batch-size", type=int, default=128, help="sequences per step (default: 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate (default: 1e-3)")
    p.add_argument("--warmup", type=int, default=200, help="warmup steps (default: 200)")
    p.add_argument("--seed", type=int, default=0, help="seed for init and data order (default: 0)")
    p.add_argument("--limit", type=int, default=None, help="use only the first N corpus texts (default: all)")
    p.add_argument("--no-bf16", action="store_true", help="disable bf16 autocast (default: bf16 on)")
    p.add_argument("--threads", type=int, default=2, help="torch CPU threads (default: 2)")
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
    dd = {**GENERIC, **spec.defaults}
    n_embd = args.n_embd if args.n_embd is not None else dd["n_embd"]
    max_len = args.max_len if args.max_len is not None else dd["max_len"]
    cfg = PretrainConfig(
        n_layer=args.n_layer,
        n_embd=n_embd,
        n_head=args.n_head,
        max_len=max_len,
        batch_size=args.batch_size,
        lr=args.lr,
        min_lr=args.lr / 10,
        warmup=args.warmup,
        steps=args.steps,
        minutes=args.minutes,
        seed=args.seed,
        bf16=not args.no_bf16,
        threads=args.threads,
    )
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
