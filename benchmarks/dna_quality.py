"""DNA domain quality: DNAGPT-2, the activity oracle and the proxy heads, in one JSON.

    .venv/bin/python benchmarks/dna_quality.py [--n 10000] [--temperature 1.0 0.7] [--threads 2]
        [--out docs/results/dna_model.json]

- DNAGPT-2: held-out perplexity on chr1 (val) and chr2 (test), per 4-mer token (EOS included) and in bits
  per nucleotide, next to a 4-mer unigram baseline fitted on train; samples from the shared sampler:
  length validity (exactly 200 nt of ACGT, with EOS right after), EOS rate, uniqueness, exact copies of
  training sites; 1-6-mer frequency agreement with the test split (Pearson r, Jensen-Shannon divergence)
  next to the same figures for train vs test (the natural scale); GC content and CpG observed/expected.
- Oracle: test (chr2) AUROC per cell type, both definitions (oracle.evaluate), scoring time for 10,000
  sequences at --threads and at 1 thread; mean activity of generated vs test sequences.
- Proxies: test r from their training (docs/results/dna_proxies.json) and r against the oracle on fresh
  DNAGPT-2 samples (not seen in training).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.checkpoint import load_model_dir  # noqa: E402
from irs.domains.dna import data  # noqa: E402
from irs.domains.dna.tokenizer import canonicalize, tokens_for  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402
from irs.rl.sampler import sample  # noqa: E402

log = logging.getLogger("dna_quality")


@torch.inference_mode()
def heldout_nll(model, tok, seqs, batch_size: int = 512) -> dict:
    """Mean NLL per predicted token (k-mers + EOS) and bits per nucleotide (k-mers only)."""
    k = len(tok.vocab[4])
    tot_tok, n_tok, tot_kmer, n_kmer = 0.0, 0, 0.0, 0
    for s in range(0, len(seqs), batch_size):
        ids = torch.tensor([tok.encode(x, add_bos=True, add_eos=True) for x in seqs[s : s + batch_size]])
        logits = model(input_ids=ids).logits[:, :-1].float()
        nll = torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1), reduction="none"
        ).view(ids.shape[0], -1)
        tot_tok += float(nll.sum())
        n_tok += nll.numel()
        tot_kmer += float(nll[:, :-1].sum())
        n_kmer += nll[:, :-1].numel()
    return {
        "n_sequences": len(seqs),
        "nll_per_token": tot_tok / n_tok,
        "perplexity_per_token": math.exp(tot_tok / n_tok),
        "bits_per_nt": tot_kmer / n_kmer / math.log(2) / k,
    }


def unigram_bits_per_nt(train, test, k: int = 4) -> float:
    """A 4-mer unigram model (non-overlapping, add-one) fitted on train+RC: bits per nt on test."""
    c = Counter(s[i : i + k] for seq in train for s in (seq, data.reverse_complement(seq)) for i in range(0, len(s), k))
    total = sum(c.values()) + 4**k
    lp = {km: math.log2((c.get(km, 0) + 1) / total) for km in c}
    floor = math.log2(1 / total)
    bits = [-lp.get(s[i : i + k], floor) for s in test for i in range(0, len(s), k)]
    return float(np.mean(bits)) / k


def kmer_freqs(seqs, k: int) -> np.ndarray:
    """Overlapping k-mer frequencies (both strands pooled), as a vector over all 4^k k-mers."""
    idx = {"A": 0, "C": 1, "G": 2, "T": 3}
    counts = np.zeros(4**k)
    for seq in seqs:
        for s in (seq, data.reverse_complement(seq)):
            codes = np.array([idx[ch] for ch in s])
            w = np.lib.stride_tricks.sliding_window_view(codes, k)
            np.add.at(counts, (w * (4 ** np.arange(k - 1, -1, -1))).sum(1), 1)
    return counts / counts.sum()


def js_divergence(p, q) -> float:
    m = 0.5 * (p + q)
    kl = lambda a, b: float(np.sum(np.where(a > 0, a * np.log2(np.where(a > 0, a, 1) / np.where(b > 0, b, 1)), 0)))
    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


def composition(seqs) -> dict:
    gc = np.array([data.gc_content(s) for s in seqs])
    cg = []
    for s in seqs:
        c, g = s.count("C"), s.count("G")
        cg.append(s.count("CG") * len(s) / (c * g) if c and g else np.nan)
    return {
        "gc_mean": float(gc.mean()),
        "gc_std": float(gc.std()),
        "gc_quantiles": [float(q) for q in np.quantile(gc, [0.05, 0.5, 0.95])],
        "cpg_obs_exp_mean": float(np.nanmean(cg)),
    }


def kmer_agreement(a, b, ks=(1, 2, 3, 4, 5, 6)) -> dict:
    out = {}
    for k in ks:
        p, q = kmer_freqs(a, k), kmer_freqs(b, k)
        out[str(k)] = {"pearson_r": float(np.corrcoef(p, q)[0, 1]), "js_bits": js_divergence(p, q)}
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "assets/dna/dnagpt2"), help="DNAGPT-2 dir (default: shipped)")
    p.add_argument("--oracle", default="assets/dna/oracle", help="oracle dir (default: assets/dna/oracle)")
    p.add_argument("--proxies", default="assets/dna/proxies", help="proxy dir (default: assets/dna/proxies)")
    p.add_argument("--n", type=int, default=10_000, help="samples per temperature (default: 10000)")
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0, 0.7], help="temperatures (default: 1.0 0.7)")
    p.add_argument("--threads", type=int, default=2, help="torch threads for the timed oracle run (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument(
        "--out",
        default=str(ROOT / "docs/results/dna_model.json"),
        help="result JSON (default: docs/results/dna_model.json)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    t_all = time.time()
    model, tok = load_model_dir(args.model)
    model.eval()
    meta_p = Path(args.model) / "meta.json"
    meta = json.loads(meta_p.read_text()) if meta_p.is_file() else {}
    train, val, test = data.sequences("train"), data.sequences("val"), data.sequences("test")
    res: dict = {
        "command": "python benchmarks/dna_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "model": {
            "path": "assets/dna/dnagpt2",
            "tokenizer": tok.name,
            "vocab_size": tok.vocab_size,
            "n_params": sum(q.numel() for q in model.parameters()),
            "pretraining": {
                k: meta.get(k)
                for k in ("command", "steps", "tokens", "wall_time_s", "epochs", "final_loss_ema", "n_sequences")
            },
        },
    }
    # ---- perplexity ------------------------------------------------------------------------------
    res["heldout"] = {
        "val_chr1": heldout_nll(model, tok, val),
        "test_chr2": heldout_nll(model, tok, test),
        "unigram_4mer_bits_per_nt_test": unigram_bits_per_nt(train, test),
        "uniform_bits_per_nt": 2.0,
    }
    log.info("held-out: %s", res["heldout"])
    # ---- generation ------------------------------------------------------------------------------
    train_set = set(train)
    res["reference"] = {
        "test_composition": composition(test),
        "train_vs_test_kmers": kmer_agreement(train[:10_000], test),
    }
    res["generation"] = {}
    gen_valid: dict[str, list[str]] = {}
    for T in args.temperature:
        g = torch.Generator().manual_seed(args.seed)
        t0 = time.time()
        s = sample(model, tok, args.n, max_new_tokens=tokens_for(), temperature=T, generator=g, batch_size=500)
        dt = time.time() - t0
        canon = [canonicalize(x) for x in s.texts]
        valid = [c for c in canon if c is not None]
        lens = np.array([len(x) for x in s.texts])
        gen_valid[str(T)] = valid
        m = {
            "temperature": T,
            "n": args.n,
            "length_validity": len(valid) / args.n,
            "finished_eos": float(s.finished.float().mean()),
            "length_nt_counts": {str(k): int(v) for k, v in Counter(lens).most_common(5)},
            "unique_fraction_of_valid": len(set(valid)) / max(1, len(valid)),
            "copies_of_training_sites": int(sum(v in train_set for v in valid)),
            "sample_seconds": round(dt, 1),
            "composition": composition(valid),
            "kmers_vs_test": kmer_agreement(valid, test),
            "examples": valid[:3],
        }
        res["generation"][str(T)] = m
        log.info(
            "T=%s: validity %.4f, EOS %.4f, GC %.3f, %.1fs",
            T,
            m["length_validity"],
            m["finished_eos"],
            m["composition"]["gc_mean"],
            dt,
        )
    # ---- oracle ----------------------------------------------------------------------------------
    from irs.domains.dna.oracle import evaluate, load_oracle, time_scoring

    try:
        oracle = load_oracle(args.oracle)
    except FileNotFoundError as e:
        log.warning("%s; skipping the oracle section", e)
        oracle = None
    if oracle is not None:
        res["oracle"] = {"test": evaluate(oracle, "test")}
        torch.set_num_threads(1)
        time_scoring(oracle, 500)  # warm-up
        res["oracle"]["speed_10k_1_thread"] = time_scoring(oracle, 10_000)
        torch.set_num_threads(args.threads)
        res["oracle"]["speed_10k"] = time_scoring(oracle, 10_000)
        torch.set_num_threads(1)
        act = {"test_sites": oracle.predict(test).mean(0)}
        for T, v in gen_valid.items():
            act[f"generated_T{T}"] = oracle.predict(v[:5000]).mean(0)
        res["oracle"]["mean_activity"] = {k: dict(zip(oracle.cell_types, map(float, v))) for k, v in act.items()}
        log.info("oracle: %s", {c: round(v["auroc"], 4) for c, v in res["oracle"]["test"]["per_cell"].items()})
    # ---- proxies ---------------------------------------------------------------------------------
    pr = ROOT / "docs/results/dna_proxies.json"
    if pr.is_file() and oracle is not None:
        from irs.domains.dna.proxies import load_proxies

        trained = json.loads(pr.read_text())
        fresh = gen_valid[str(args.temperature[-1])][-2000:]  # other seed than the proxies' subset
        z = oracle.predict(fresh)
        heads = load_proxies(args.proxies)
        res["proxies"] = {"subset": trained.get("subset"), "heads": {}}
        for j, c in enumerate(oracle.cell_types):
            if c not in heads:
                continue
            pred = 1 / (1 + np.exp(-heads[c].predict(fresh)))
            h = trained["heads"].get(c.lower(), {})
            res["proxies"]["heads"][c.lower()] = {
                "test_r_probability": h.get("test_r_probability"),
                "test_r_logit": h.get("test_r_logit"),
                "pooling": h.get("pooling"),
                f"r_vs_oracle_fresh_samples_T{args.temperature[-1]}": float(np.corrcoef(pred, z[:, j])[0, 1]),
                "n_fresh": len(fresh),
            }
    res["wall_time_s"] = round(time.time() - t_all, 1)
    atomic_write_json(args.out, res)

    h = res["heldout"]
    print(f"DNAGPT-2 ({res['model']['n_params'] / 1e6:.2f}M params, {tok.name})")
    print(
        f"  held-out perplexity per token: chr1 {h['val_chr1']['perplexity_per_token']:.2f}, chr2 "
        f"{h['test_chr2']['perplexity_per_token']:.2f}; bits/nt chr2 {h['test_chr2']['bits_per_nt']:.4f} "
        f"(4-mer unigram {h['unigram_4mer_bits_per_nt_test']:.4f}, uniform 2)"
    )
    for T, m in res["generation"].items():
        print(
            f"  T={T}: length validity {m['length_validity']:.4f}, EOS {m['finished_eos']:.4f}, GC "
            f"{m['composition']['gc_mean']:.3f} (test {res['reference']['test_composition']['gc_mean']:.3f}), "
            f"6-mer r {m['kmers_vs_test']['6']['pearson_r']:.3f} (train-vs-test "
            f"{res['reference']['train_vs_test_kmers']['6']['pearson_r']:.3f})"
        )
    if "oracle" in res:
        for c, v in res["oracle"]["test"]["per_cell"].items():
            print(f"  oracle {c:<8} AUROC {v['auroc']:.4f} (sites only {v['auroc_sites']:.4f})")
        sp = res["oracle"]["speed_10k"]
        print(f"  oracle: 10,000 sequences in {sp['seconds']} s ({sp['threads']} threads)")
    for n, v in res.get("proxies", {}).get("heads", {}).items():
        print(f"  proxy {n:<8} test r {v['test_r_probability']:.4f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
