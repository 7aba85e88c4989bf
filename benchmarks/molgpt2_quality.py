"""MolGPT-2 quality measured with MOSES's own metric code: sample N SMILES with the shared sampler, run
molsets' `get_all_metrics` against its test set, write JSON next to the published MOSES baselines.

    .venv/bin/python benchmarks/molgpt2_quality.py [--model assets/molecules/molgpt2] [--n 30000]
        [--temperature 1.0] [--out docs/results/molgpt2.json]

MOSES's protocol: 30,000 samples at temperature 1.0 (the model's own distribution); the RL sampler's
0.7 can be added with --temperature. `benchmarks/moses_compat.py` restores the two APIs molsets 0.3.1
needs (rdkit.six, DataFrame.append) for this benchmark only.
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

sys.path.insert(0, str(ROOT / "benchmarks"))
from moses_compat import fraction_valid, get_all_metrics  # noqa: E402

from irs.io import atomic_write_json  # noqa: E402
from irs.rl.sampler import sample  # noqa: E402

# Published MOSES baselines on the test set (Polykovskiy et al. 2020; the MOSES README's table), for the README.
MOSES_BASELINES = {
    "CharRNN": {
        "valid": 0.975,
        "unique@10000": 0.999,
        "FCD/Test": 0.073,
        "SNN/Test": 0.601,
        "Frag/Test": 1.000,
        "Scaf/Test": 0.924,
        "IntDiv": 0.856,
        "Filters": 0.994,
        "Novelty": 0.842,
    },
    "VAE": {
        "valid": 0.977,
        "unique@10000": 0.998,
        "FCD/Test": 0.099,
        "SNN/Test": 0.626,
        "Frag/Test": 0.999,
        "Scaf/Test": 0.939,
        "IntDiv": 0.856,
        "Filters": 0.997,
        "Novelty": 0.695,
    },
    "AAE": {
        "valid": 0.937,
        "unique@10000": 0.997,
        "FCD/Test": 0.556,
        "SNN/Test": 0.608,
        "Frag/Test": 0.991,
        "Scaf/Test": 0.902,
        "IntDiv": 0.856,
        "Filters": 0.996,
        "Novelty": 0.793,
    },
    "JTN-VAE": {
        "valid": 1.000,
        "unique@10000": 0.999,
        "FCD/Test": 0.422,
        "SNN/Test": 0.556,
        "Frag/Test": 0.996,
        "Scaf/Test": 0.892,
        "IntDiv": 0.855,
        "Filters": 0.978,
        "Novelty": 0.915,
    },
}


def invalid_kinds(smiles: list[str]) -> dict[str, float]:
    """Share of all samples that RDKit rejects, by why: `branch` (unbalanced parentheses), `syntax` (other
    parse failures, mostly a ring bond opened and never closed), `kekulize` (an aromatic system with no
    valid Kekulé form), `valence` (an atom over its valence), `other`."""
    from rdkit import Chem, RDLogger

    RDLogger.DisableLog("rdApp.*")
    kinds = dict.fromkeys(("branch", "syntax", "kekulize", "valence", "other"), 0)
    for t in smiles:
        mol = Chem.MolFromSmiles(t, sanitize=False)
        if mol is None:
            kinds["branch" if t.count("(") != t.count(")") else "syntax"] += 1
            continue
        try:
            Chem.SanitizeMol(mol)
        except (Chem.rdchem.KekulizeException, Chem.rdchem.AtomKekulizeException):
            kinds["kekulize"] += 1
        except Chem.rdchem.AtomValenceException:
            kinds["valence"] += 1
        except Exception:  # noqa: BLE001 - any other sanitization failure
            kinds["other"] += 1
    return {k: v / max(len(smiles), 1) for k, v in kinds.items()}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument(
        "--model", default=str(ROOT / "assets/molecules/molgpt2"), help="model dir (default: shipped MolGPT-2)"
    )
    p.add_argument("--n", type=int, default=30_000, help="samples (default: 30000, MOSES's protocol)")
    p.add_argument("--temperature", type=float, nargs="+", default=[1.0], help="sampling temperature(s) (default: 1.0)")
    p.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default: 2)")
    p.add_argument(
        "--validity-only",
        action="store_true",
        help="skip MOSES's metrics: validity and why samples are invalid only, in seconds (default: off)",
    )
    p.add_argument(
        "--out",
        default=str(ROOT / "docs/results/molgpt2.json"),
        help="result JSON (default: docs/results/molgpt2.json)",
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    torch.set_num_threads(args.threads)

    model, tok = load_model_dir(args.model)
    meta_path = Path(args.model) / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    max_new = model.config.n_positions - 1
    results = {
        "model": str(Path(args.model).resolve().relative_to(ROOT))
        if Path(args.model).resolve().is_relative_to(ROOT)
        else args.model,
        "command": "python benchmarks/molgpt2_quality.py " + " ".join(argv if argv is not None else sys.argv[1:]),
        "n_params": sum(p.numel() for p in model.parameters()),
        "pretraining": {
            k: meta.get(k) for k in ("command", "steps", "tokens", "wall_time_s", "epochs", "final_loss_ema")
        },
        "moses_baselines": MOSES_BASELINES,
        "by_temperature": {},
    }
    for T in args.temperature:
        g = torch.Generator().manual_seed(args.seed)
        t0 = time.time()
        s = sample(model, tok, args.n, max_new_tokens=max_new, temperature=T, generator=g, batch_size=500)
        t_sample = time.time() - t0
        t0 = time.time()
        if args.validity_only:
            m = {"valid": float(fraction_valid(s.texts))}
        else:
            m = {k: float(v) for k, v in get_all_metrics(s.texts, k=[1000, 10_000], n_jobs=1, device="cpu").items()}
        m.update({"metrics_seconds": round(time.time() - t0, 1)})
        m.update(
            {
                "temperature": T,
                "finished_eos": float(s.finished.float().mean()),
                "invalid_kinds": invalid_kinds(s.texts),
                "sample_seconds": round(t_sample, 1),
                "examples": [t for t in s.texts[:8]],
            }
        )
        results["by_temperature"][str(T)] = m
        logging.info("T=%s: %s", T, {k: v for k, v in m.items() if k != "examples"})
    atomic_write_json(args.out, results)

    print(f"MolGPT-2 ({results['n_params'] / 1e6:.2f}M params), {args.n} samples, MOSES get_all_metrics")
    cols = ("valid", "unique@10000", "FCD/Test", "SNN/Test", "Frag/Test", "Scaf/Test", "IntDiv", "Filters", "Novelty")
    cols = cols[:1] if args.validity_only else cols
    print("| model | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for T, m in results["by_temperature"].items():
        print(f"| MolGPT-2, T = {T} | " + " | ".join(f"{m[c]:.3f}" for c in cols) + " |")
    for name, b in MOSES_BASELINES.items():
        print(f"| {name} (MOSES paper) | " + " | ".join(f"{b[c]:.3f}" if c in b else "" for c in cols) + " |")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
