"""4-mers or single nucleotides for DNAGPT-2? Train the same small GPT-2 with each tokenizer for the same
wall-clock budget on the same corpus (train split + reverse complements), then compare held-out bits per
nucleotide on chr1, length validity of samples (exactly 200 nt, then EOS) and sampling time.

    .venv/bin/python benchmarks/dna_tokenizer_choice.py [--minutes 5] [--n-eval 1000] [--n-samples 300]
        [--out docs/results/dna_tokenizer_choice.json]

Equal wall-clock is the budget that matters on a CPU: a 4-mer row is 52 positions, a nucleotide row 202,
so in the same time the 4-mer model sees about four times as many sequences, and sampling takes 51
instead of 201 decoding steps.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.domains.dna import data  # noqa: E402
from irs.domains.dna.tokenizer import canonicalize, tokens_for  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402
from irs.pretrain import PretrainConfig, pretrain  # noqa: E402
from irs.rl.sampler import sample  # noqa: E402


@torch.inference_mode()
def bits_per_nt(model, tok, seqs, k: int) -> float:
    tot, n = 0.0, 0
    for s in range(0, len(seqs), 256):
        ids = torch.tensor([tok.encode(x, add_bos=True, add_eos=True) for x in seqs[s : s + 256]])
        logits = model(input_ids=ids).logits[:, :-2].float()  # predictions of the sequence tokens (not EOS)
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:-1].reshape(-1), reduction="sum"
        )
        tot, n = tot + float(nll), n + ids[:, 1:-1].numel() * k
    return tot / n / math.log(2)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=5.0, help="training budget per tokenizer (default: 5)")
    p.add_argument("--n-eval", type=int, default=1000, help="chr1 sequences for bits/nt (default: 1000)")
    p.add_argument("--n-samples", type=int, default=300, help="samples for length validity (default: 300)")
    p.add_argument(
        "--out",
        default=str(ROOT / "docs/results/dna_tokenizer_choice.json"),
        help="result JSON (default: docs/results/dna_tokenizer_choice.json)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    val = data.sequences("val")[: args.n_eval]
    res = {
        "command": "python benchmarks/dna_tokenizer_choice.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "setup": f"GPT-2 2 layers x 128, batch 32, lr 2e-3, {args.minutes} min each on 1 thread, bf16 autocast",
        "by_k": {},
    }
    for k in (4, 1):
        texts, tok = data.pretrain_corpus(k)
        cfg = PretrainConfig(
            n_layer=2,
            n_embd=128,
            n_head=4,
            max_len=data.SEQ_LEN // k + 2,
            batch_size=32,
            lr=2e-3,
            min_lr=2e-4,
            warmup=50,
            minutes=args.minutes,
            threads=1,
            log_every=100,
            ckpt_minutes=1e9,
        )
        with tempfile.TemporaryDirectory() as tmp:
            model = pretrain(texts, tok, cfg, Path(tmp) / "m", ckpt_dir=Path(tmp) / "ck")
            st = __import__("json").loads((Path(tmp) / "m" / "meta.json").read_text())
        model.eval()
        t0 = time.time()
        s = sample(
            model,
            tok,
            args.n_samples,
            max_new_tokens=tokens_for(k=k),
            temperature=1.0,
            generator=torch.Generator().manual_seed(0),
            batch_size=args.n_samples,
        )
        t_s = time.time() - t0
        res["by_k"][str(k)] = {
            "tokens_per_sequence": data.SEQ_LEN // k + 1,
            "steps": st["steps"],
            "sequences_seen": st["steps"] * cfg.batch_size,
            "val_bits_per_nt": bits_per_nt(model, tok, val, k),
            "length_validity": sum(canonicalize(x) is not None for x in s.texts) / len(s.texts),
            "finished_eos": float(s.finished.float().mean()),
            "sample_seconds_per_100": round(100 * t_s / args.n_samples, 2),
        }
        logging.info("k=%d: %s", k, res["by_k"][str(k)])
    atomic_write_json(args.out, res)
    print(f"{'k':>2} {'steps':>6} {'seqs seen':>10} {'val bits/nt':>12} {'validity':>9} {'s/100 samples':>14}")
    for k, v in res["by_k"].items():
        print(
            f"{k:>2} {v['steps']:6d} {v['sequences_seen']:10d} {v['val_bits_per_nt']:12.4f} {v['length_validity']:9.3f} "
            f"{v['sample_seconds_per_100']:14.2f}"
        )
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
