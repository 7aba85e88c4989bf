"""Text-domain speed: the lean Llama decoder (irs.rl.fast_llama) against the generic Hugging Face path and
`model.generate`, and one text expert step, on SmolLM2-135M-Instruct with the run's LoRA adapters.

    .venv/bin/python benchmarks/text_speed.py [--config examples/text-aclsum.toml] [--repeats 3] [--threads 2] [--bf16 on]

Setup: the Trainer of the config (ACLSum train prompts, chat template, LoRA r = 8 on SmolLM2's default
target modules, batch = prompts x samples per prompt, 32 new tokens). The adapters' B is set to small
random values first, so that the LoRA path does real work (a fresh adapter has B = 0).

- Greedy: ours (lean decoder) against `model.generate(do_sample=False)` on the same left-padded prompts.
  The outputs must be identical (checked and recorded), so both did the same work.
- Sampled: ours with the lean decoder against ours through the generic path (`fast_llama.supports`
  switched off), from the same generator: the same tokens (checked and recorded), so again the same work.
- Expert step: `Trainer.expert_step` (sample, reward, reference and policy log-probs, one update),
  with the lean paths (the decoder; each distinct prompt run once in the log-prob passes) and with the
  generic ones, and where a lean step's time goes.
Runs alternate and medians are reported; the machine may be shared, so the same-run ratios are what count.
Writes docs/results/text_speed.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.io import atomic_write_json  # noqa: E402
from irs.rl import fast_llama  # noqa: E402
from irs.rl.sampler import encode_prompts, sample  # noqa: E402

log = logging.getLogger("text_speed")


def timed(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--config", default=str(ROOT / "examples/text-aclsum.toml"))
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bf16", choices=["off", "on"], default="off", help="bf16 autocast everywhere (default fp32)")
    ap.add_argument("--out", default=str(ROOT / "docs/results/text_speed.json"))
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("transformers", "peft", "irs"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    torch.set_num_threads(args.threads)

    from irs.algorithms.trainer import Trainer
    from irs.config import RunConfig

    cfg = RunConfig.load(args.config)
    cfg.rl.bf16 = args.bf16
    bf16 = args.bf16 == "on"
    tr = Trainer(cfg)
    ex = tr.experts[0]
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for n, p in ex.model.named_parameters():
            if "lora_B" in n:
                p.copy_(torch.randn(p.shape, generator=g) * 1e-3)
    assert fast_llama.supports(ex.model), "the text policy should be covered by the lean decoder"
    tok, L = tr.tokenizer, tr.max_new_tokens
    ctx = tr.draw_contexts(cfg.rl.batch_size, torch.Generator().manual_seed(1), "train", tr.samples_per_prompt)
    prompts = [c["prompt"] for c in ctx]
    ids, mask = encode_prompts(tok, prompts, len(prompts))
    log.info(
        "%d rows, prompt %d tokens (padded), %d new tokens, %d threads", len(prompts), ids.shape[1], L, args.threads
    )

    from irs.rl import policy

    supports, shared = fast_llama.supports, policy.shared_prompts

    def generic(on: bool):
        """on: the lean paths (decoder, shared prompts in the update's passes); off: the generic ones"""
        fast_llama.supports = supports if on else (lambda m: False)
        policy.shared_prompts = shared if on else (lambda ids: None)

    def ours_greedy():
        return sample(ex.model, tok, len(prompts), max_new_tokens=L, temperature=0, prompt=prompts, bf16=bf16)

    def hf_greedy():
        with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            return ex.model.generate(
                input_ids=ids,
                attention_mask=mask.long(),
                max_new_tokens=L,
                do_sample=False,
                eos_token_id=tok.eos_id,
                pad_token_id=tok.pad_id,
                suppress_tokens=[tok.pad_id, tok.bos_id, *getattr(tok, "prompt_only_ids", ())],
            )[:, ids.shape[1] :]

    def ours_sampled(on: bool):
        generic(on)
        try:
            return sample(
                ex.model,
                tok,
                len(prompts),
                max_new_tokens=L,
                temperature=cfg.rl.temperature,
                prompt=prompts,
                generator=torch.Generator().manual_seed(2),
                bf16=bf16,
            )
        finally:
            generic(True)

    a, b = ours_greedy(), hf_greedy()
    greedy_identical = bool(torch.equal(a.tokens[:, : b.shape[1]], b))
    s1, s2 = ours_sampled(True), ours_sampled(False)
    sampled_identical = bool(torch.equal(s1.tokens, s2.tokens))
    log.info(
        "greedy identical to generate: %s; sampled identical to the generic path: %s",
        greedy_identical,
        sampled_identical,
    )
    t = {
        k: []
        for k in ("greedy_ours", "greedy_generate", "sampled_lean", "sampled_generic", "step_lean", "step_generic")
    }
    for rep in range(args.repeats):
        t["greedy_ours"].append(timed(ours_greedy)[0])
        t["greedy_generate"].append(timed(hf_greedy)[0])
        t["sampled_lean"].append(timed(lambda: ours_sampled(True))[0])
        t["sampled_generic"].append(timed(lambda: ours_sampled(False))[0])
        for on in (True, False):
            generic(on)
            try:
                t["step_lean" if on else "step_generic"].append(timed(lambda r=rep: tr.expert_step(0, r))[0])
            finally:
                generic(True)
        log.info("repeat %d: %s", rep, {k: round(v[-1], 2) for k, v in t.items()})
    # where a lean step's time goes: one more step with its phases timed
    import irs.algorithms.trainer as trainer_mod

    phases = {}

    def clock(name, f):
        def g(*a, **k):
            t0 = time.perf_counter()
            try:
                return f(*a, **k)
            finally:
                phases[name] = phases.get(name, 0.0) + time.perf_counter() - t0

        return g

    saved = {n: getattr(trainer_mod, n) for n in ("make_rollout", "update")}
    for n, f in saved.items():
        setattr(trainer_mod, n, clock(n, f))
    tr.rollout_samples = clock("sample", tr.rollout_samples)
    tr._step_reward = clock("reward", tr._step_reward)
    total = timed(lambda: tr.expert_step(0, args.repeats))[0]
    for n, f in saved.items():
        setattr(trainer_mod, n, f)
    phases = {"total": total, **phases}
    log.info("phases of one lean step: %s", {k: round(v, 2) for k, v in phases.items()})
    med = {k: statistics.median(v) for k, v in t.items()}
    res = {
        "setup": {
            "config": os.path.relpath(args.config, ROOT),
            "model": cfg.model or tr.domain.default_model,
            "rows": len(prompts),
            "prompt_tokens_padded": int(ids.shape[1]),
            "new_tokens": L,
            "threads": args.threads,
            "bf16": bf16,
            "repeats": args.repeats,
            "torch": torch.__version__,
        },
        "greedy_identical_to_generate": greedy_identical,
        "sampled_identical_to_generic_path": sampled_identical,
        "median_s": {k: round(v, 4) for k, v in med.items()},
        "all_s": {k: [round(x, 4) for x in v] for k, v in t.items()},
        "greedy_speedup_over_generate": round(med["greedy_generate"] / med["greedy_ours"], 3),
        "sampled_speedup_over_generic": round(med["sampled_generic"] / med["sampled_lean"], 3),
        "step_speedup": round(med["step_generic"] / med["step_lean"], 3),
        "lean_step_phases_s": {k: round(v, 3) for k, v in phases.items()},
    }
    res["setup"]["load_avg_at_end"] = round(os.getloadavg()[0], 2)
    atomic_write_json(args.out, res)
    print(
        f"greedy: ours {med['greedy_ours']:.2f} s, generate {med['greedy_generate']:.2f} s "
        f"({res['greedy_speedup_over_generate']}x; identical: {greedy_identical})\n"
        f"sampled: lean {med['sampled_lean']:.2f} s, generic {med['sampled_generic']:.2f} s "
        f"({res['sampled_speedup_over_generic']}x; identical: {sampled_identical})\n"
        f"expert step: lean {med['step_lean']:.2f} s, generic {med['step_generic']:.2f} s ({res['step_speedup']}x)"
    )
    return 0 if greedy_identical and sampled_identical else 1


if __name__ == "__main__":
    raise SystemExit(main())
