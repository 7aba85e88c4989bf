"""MolGPT-2 quality on MOSES metrics: sample N SMILES with the shared sampler, score, write JSON.

    .venv/bin/python benchmarks/molgpt2_quality.py [--model assets/molecules/molgpt2] [--n 10000]
        [--temperature 1.0] [--out docs/results/molgpt2.json]

Metrics (irs.domains.molecules.metrics): validity, uniqueness@10k, novelty vs MOSES train, FCD vs the
MOSES test set (MOSES's precomputed full-test statistics). Temperature 1.0 is the MOSES convention
(sampling from the model's distribution); the RL default of 0.7 can be added with --temperature.
"""
from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.checkpoint import load_model_dir  # noqa: E402
from irs.domains.molecules.metrics import moses_metrics  # noqa: E402
from irs.domains.molecules.moses import moses_train  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402
from irs.rl.sampler import sample  # noqa: E402


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=str(ROOT / "assets/molecules/molgpt2"), help="model dir (default: shipped MolGPT-2)")
    p.add_argument("--n", type=int, default=10_000, help="samples (default: 10000)")
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0], help="sampling temperature(s) (default: 1.0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--no-fcd", action="store_true", help="skip FCD (default: computed)")
    p.add_argument("--out", default=str(ROOT / "docs/results/molgpt2.json"), help="result JSON (default: docs/results/molgpt2.json)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(2)

    model, tok = load_model_dir(args.model)
    meta_path = Path(args.model) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    max_new = model.config.n_positions - 1
    train = set(moses_train())
    results = {"model": str(Path(args.model).resolve().relative_to(ROOT)) if Path(args.model).resolve().is_relative_to(ROOT) else args.model,
               "command": "python benchmarks/molgpt2_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
               "n_params": sum(p.numel() for p in model.parameters()),
               "pretraining": {k: meta.get(k) for k in ("command", "steps", "tokens", "wall_time_s", "epochs", "final_loss_ema")},
               "by_temperature": {}}
    for T in args.temperature:
        g = torch.Generator().manual_seed(args.seed)
        t0 = time.time()
        s = sample(model, tok, args.n, max_new_tokens=max_new, temperature=T, generator=g, batch_size=500)
        t_sample = time.time() - t0
        m = moses_metrics(s.texts, train, k=10_000, with_fcd=not args.no_fcd)
        m.update({"temperature": T, "finished_eos": float(s.finished.float().mean()), "sample_seconds": round(t_sample, 1),
                  "examples": [t for t in s.texts[:8]]})
        results["by_temperature"][str(T)] = m
        logging.info("T=%s: %s", T, {k: v for k, v in m.items() if k != "examples"})
    atomic_write_json(args.out, results)

    print(f"MolGPT-2 ({results['n_params'] / 1e6:.2f}M params), {args.n} samples, MOSES metrics")
    print(f"{'T':>5} {'validity':>9} {'unique@10k':>11} {'novelty':>8} {'FCD/Test':>9} {'EOS':>6}")
    for T, m in results["by_temperature"].items():
        print(f"{T:>5} {m['validity']:9.4f} {m['uniqueness@10000']:11.4f} {m['novelty']:8.4f} "
              f"{m.get('fcd_test', float('nan')):9.3f} {m['finished_eos']:6.3f}")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
