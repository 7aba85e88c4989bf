"""GPU check, for the days a GPU is lent (the project never needs one). Runs in a few minutes on one GPU:

    bash benchmarks/gpu_check.sh            # = .venv/bin/python benchmarks/gpu_check.py --out docs/results/gpu_check.json

1. Parity: the same expert step (toy domain, tiny GPT-2, one seed, the same rollout) on the CPU and on the
   GPU; the per-token log-probs of the rollout agree within bf16 tolerance, and so do the updated weights.
2. Timings on the GPU: one expert RL step of the 3.2M-parameter GPT-2 of benchmarks/engine_speed.py
   (batch 64, 64 new tokens) in fp32 and bf16, and the sampler's tokens/s against `model.generate`.
3. A text expert step on the GPU (tiny Llama with the SmolLM2 chat tokenizer and LoRA, 2 prompts × 2
   summaries), timed.
Without CUDA it says so and exits 0 (nothing to check). Prints the figures and writes the JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEV = "cuda"  # --device cpu rehearses the script on a machine without a GPU


def sync() -> None:
    import torch

    if DEV == "cuda":
        torch.cuda.synchronize()


sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def _cfg(**rl):
    from irs.config import RunConfig

    return RunConfig.from_dict(
        {
            "name": "gpu",
            "domain": "toy",
            "model": "tiny:gpt2",
            "seed": 0,
            "rl": {"algo": "rloo", "batch_size": 16, "lr": 1e-3, "bf16": "off", **rl},
            "merge": {"total_steps": 1, "merge_every": 1},
        }
    )


def parity() -> dict:
    """One expert step on each device from the same weights and the same rollout."""
    import torch

    from irs.algorithms.merging import trainable_params
    from irs.algorithms.trainer import Trainer
    from irs.rl.policy import forward_logprobs
    from irs.rl.sampler import sample

    out = {}
    trainers = {}
    for dev in ("cpu", DEV):
        os.environ["IRS_DEVICE"] = dev
        trainers[dev] = Trainer(_cfg())
    os.environ.pop("IRS_DEVICE", None)
    cpu, gpu = trainers["cpu"], trainers[DEV]
    gpu.experts[0].model.load_state_dict(cpu.experts[0].model.state_dict())
    s = sample(
        cpu.experts[0].model,
        cpu.tokenizer,
        16,
        max_new_tokens=12,
        temperature=1.0,
        generator=torch.Generator().manual_seed(0),
        bf16=False,
    )
    for tr in (cpu, gpu):
        tr.rollout_hook = lambda expert, s=s: s
    lp = {  # the CPU in fp32, the GPU in bf16: agreement within bf16 tolerance is the check
        "cpu": forward_logprobs(cpu.experts[0].model, s, bf16=False)[0].float().cpu(),
        "gpu": forward_logprobs(gpu.experts[0].model, s, bf16=True)[0].float().cpu(),
    }
    out["logprob_max_abs_diff_bf16"] = float((lp["cpu"] - lp["gpu"]).abs()[s.mask].max())
    for tr in (cpu, gpu):
        tr.expert_step(0, 0)
    a = [p.detach().cpu() for p in trainable_params(cpu.experts[0].model)]
    b = [p.detach().cpu() for p in trainable_params(gpu.experts[0].model)]
    out["weights_max_abs_diff_after_step"] = max(float((x - y).abs().max()) for x, y in zip(a, b))
    out["parity_ok"] = out["logprob_max_abs_diff_bf16"] < 0.1 and out["weights_max_abs_diff_after_step"] < 1e-3
    return out


def timings() -> dict:
    """The engine_speed model on the GPU: an expert step (fp32, bf16) and the sampler against generate."""
    import torch
    from engine_speed import make_model, make_tokenizer

    from irs.rl.sampler import sample

    tok = make_tokenizer()
    model = make_model().to(DEV).eval()
    out = {}
    for bf16 in (False, True):
        t = []
        for _ in range(4):
            sync()
            t0 = time.perf_counter()
            sample(
                model,
                tok,
                64,
                max_new_tokens=64,
                temperature=1.0,
                bf16=bf16,
                generator=torch.Generator(device=DEV).manual_seed(0),
            )
            sync()
            t.append(time.perf_counter() - t0)
        out[f"sampler_s_{'bf16' if bf16 else 'fp32'}"] = round(min(t[1:]), 4)
    ids = torch.full((64, 1), tok.bos_id, device=DEV)
    t = []
    for _ in range(4):
        sync()
        t0 = time.perf_counter()
        model.generate(ids, do_sample=True, max_new_tokens=64, min_new_tokens=64, pad_token_id=tok.pad_id)
        sync()
        t.append(time.perf_counter() - t0)
    out["generate_s_fp32"] = round(min(t[1:]), 4)
    out["sampler_over_generate_fp32"] = round(out["generate_s_fp32"] / out["sampler_s_fp32"], 2)
    for bf16 in ("off", "on"):
        from irs.algorithms.trainer import Trainer

        os.environ["IRS_DEVICE"] = DEV
        tr = Trainer(_cfg(bf16=bf16, batch_size=64, max_new_tokens=64))
        tr.expert_step(0, 0)  # warm-up
        sync()
        t0 = time.perf_counter()
        for k in range(3):
            tr.expert_step(0, k + 1)
        sync()
        out[f"expert_step_s_{'bf16' if bf16 == 'on' else 'fp32'}"] = round((time.perf_counter() - t0) / 3, 4)
    os.environ.pop("IRS_DEVICE", None)
    return out


def text_step() -> dict:
    """One text expert step (tiny Llama, the SmolLM2 chat tokenizer, LoRA) on the GPU."""

    from irs.algorithms.trainer import Trainer
    from irs.config import RunConfig

    os.environ["IRS_DEVICE"] = DEV
    cfg = RunConfig.from_dict(
        {
            "name": "gpu-text",
            "domain": "text",
            "model": "tiny:llama",
            "seed": 0,
            "rl": {"algo": "rloo", "batch_size": 4, "samples_per_prompt": 2, "max_new_tokens": 32, "bf16": "on"},
            "merge": {"total_steps": 1, "merge_every": 1},
        }
    )
    tr = Trainer(cfg)
    tr.expert_step(0, 0)
    sync()
    t0 = time.perf_counter()
    rec = tr.expert_step(0, 1)
    sync()
    os.environ.pop("IRS_DEVICE", None)
    return {"text_expert_step_s": round(time.perf_counter() - t0, 3), "reward": rec["reward"]}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--out",
        default=str(ROOT / "docs/results/gpu_check.json"),
        help="JSON results (default: docs/results/gpu_check.json)",
    )
    ap.add_argument(
        "--device",
        default="cuda",
        choices=["cuda", "cpu"],
        help="cpu rehearses every step without a GPU (default: cuda)",
    )
    args = ap.parse_args()
    import torch

    global DEV
    DEV = args.device
    if DEV == "cuda" and not torch.cuda.is_available():
        print("no CUDA device here: nothing to check (the project never needs a GPU)")
        return 0
    res = {"device": torch.cuda.get_device_name(0) if DEV == "cuda" else "cpu (rehearsal)", "torch": torch.__version__}
    t0 = time.time()
    for name, fn in (("parity", parity), ("timings", timings), ("text", text_step)):
        try:
            res[name] = fn()
        except Exception as e:  # report every part that ran
            res[name] = {"error": f"{type(e).__name__}: {e}"}
        print(name, json.dumps(res[name]), flush=True)
    res["wall_s"] = round(time.time() - t0, 1)
    Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
