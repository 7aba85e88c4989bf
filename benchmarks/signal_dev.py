"""Development-seed probe behind the learning-signal defaults (docs/learning-signal.md): one in-process
IterativeRS run of examples/molecules-druglike.toml with overrides, its base model and its final model
each sampled K = 512 times (fresh samples, generator 10,000 + seed) and scored by the oracle on the run's
calibrated scale. Prints one JSON line: base and final figures, the lift of the weighted reward and its
standard error, the last steps' KL and reward.

    .venv/bin/python benchmarks/signal_dev.py '{"merge.total_steps": 24, "rl.algo": "rloo", "rl.lr": 3e-5}' 100
    .venv/bin/python benchmarks/signal_dev.py '{"rl.lr": 1e-4}' 100 examples/signal-dna.toml   # another task

Overrides are "section.field": value (or "field": value). Seeds 100+ are development seeds; the
benchmark (benchmarks/learning_signal.py) runs on seeds 0, 1, 2 with the settings chosen here.
"""

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.algorithms.trainer import Trainer  # noqa: E402
from irs.candidates import score_candidates  # noqa: E402
from irs.config import RunConfig  # noqa: E402
from irs.objectives.calibration import apply  # noqa: E402
from irs.rl.sampler import sample  # noqa: E402
from irs.runs.results import oracle_objectives  # noqa: E402


def evaluate(tr, model, K=512, seed=0):
    """Fresh samples scored on the calibrated evaluation scale, whatever the run trained with (so runs
    with rl.normalization = 'data' are measured on the same scale as calibrated ones)."""
    from irs.algorithms.trainer import run_starting_calibration

    s = sample(
        model,
        tr.tokenizer,
        K,
        max_new_tokens=tr.max_new_tokens,
        temperature=tr.cfg.rl.temperature,
        generator=torch.Generator().manual_seed(10_000 + seed),
        bf16=False,
    )
    cal = tr.calibration or run_starting_calibration(
        tr.cfg, tr.domain, tr.ref, tr.tokenizer, tr.data_objectives, tr.max_new_tokens, False
    )
    objs = apply(oracle_objectives(tr.domain, tr.cfg), cal["eval"])
    df = score_candidates(s.texts, tr.domain, objs, set_name="x")
    v = df[df.valid]
    names = [o.name for o in objs]
    wR = v[[f"reward_{n}" for n in names]].to_numpy() @ np.asarray(tr.weights)
    return {
        "valid": float(df.valid.mean()),
        "unique": float((~v.duplicate).mean()),
        "wmean": float(wR.mean()),
        "se": float(wR.std() / np.sqrt(len(wR))),
        **{n: float(v[n].mean()) for n in names},
    }


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    torch.set_num_threads(1)
    logging.basicConfig(level=logging.WARNING)
    over = json.loads(argv[0])
    seed = int(argv[1]) if len(argv) > 1 else 100
    config = argv[2] if len(argv) > 2 else None
    if config is None:  # the drug-likeness probe the defaults were chosen with
        cfg = RunConfig.load(ROOT / "examples/molecules-druglike.toml")
        cfg.seed, cfg.model, cfg.rl.max_new_tokens, cfg.rl.bf16 = seed, "assets/molecules/molgpt2", 63, "off"
    else:  # another task's benchmark config (e.g. examples/signal-dna.toml), its settings as they are
        cfg = RunConfig.load(ROOT / config if not Path(config).is_absolute() else config)
        cfg.seed = seed
    for k, v in over.items():
        sec, key = k.split(".") if "." in k else (None, k)
        setattr(getattr(cfg, sec) if sec else cfg, key, v)
    t0 = time.time()
    tr = Trainer(cfg)
    base = evaluate(tr, tr.ref, seed=seed)
    recs = []
    tr.on_record = recs.append
    tr.run()
    fin = evaluate(tr, tr.final_model(), seed=seed)
    steps = [r for r in recs if r.get("type") == "step"]
    print(
        json.dumps(
            {
                "over": over,
                **({"config": config} if config else {}),
                "seed": seed,
                "min": round((time.time() - t0) / 60, 1),
                "base": base,
                "final": fin,
                "lift": fin["wmean"] - base["wmean"],
                "lift_se": (fin["se"] ** 2 + base["se"] ** 2) ** 0.5,
                "kl_last": np.mean([r["kl"] for r in steps[-6:]]),
                "reward_first": np.mean([r["reward"] for r in steps[:6]]),
                "reward_last": np.mean([r["reward"] for r in steps[-6:]]),
            },
            default=float,
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
