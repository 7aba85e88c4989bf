"""Engine speed benchmark: one expert RL step against TRL's GRPOTrainer, the sampler against
`model.generate`, and the merge of 3 experts. Writes docs/results/engine_speed.json and prints a table.

    .venv/bin/python benchmarks/engine_speed.py [--repeats 15] [--parts sampler,rl,merge] [--threads 2]

Setup (the same model and batch everywhere): a GPT-2 of 3.2M parameters (4 layers, 256 wide, 4 heads)
over a 40-token SMILES-like vocabulary, batch 64, 64 new tokens, temperature 0.7, no top-k/top-p.

Fairness notes
- Full length everywhere: the end-of-sequence id is set to 40, an id outside the model's 40 logits, in
  our tokenizer, in TRL's tokenizer and in `generate`, so no row can stop early; every batch is 64 x 64.
- RL step ("the same work"): sample 64 x 64 from one BOS prompt, score with the same cheap reward,
  reference log-probs (beta = 0.05, so the frozen reference is used), and one policy update over the
  whole batch. Ours: `Trainer.expert_step` with ppo_epochs = 1 (RLOO with the whole batch as the group;
  PPO adds its value head and GAE); TRL: `GRPOTrainer` with num_generations = 64, batch 64,
  num_iterations = 1, one step per generation. TRL's step is timed from on_step_begin to on_step_end
  (data loading and logging outside it are not counted: that favours TRL).
  Both sides set 1 update pass per batch (our ppo_epochs, TRL's num_iterations); our default of 4
  epochs would add 3 forward/backward passes to our side only.
- bf16 means bf16 autocast with fp32 weights, in both (TRL: `bf16=True`, accelerate's CPU autocast,
  which covers its generation, reference and training passes).
- Sampler: our `sample` (which also bans PAD/BOS and decodes the texts) against `model.generate` with
  the same temperature, top_k=0, top_p=1, in the same autocast context. Our sampler runs its token loop
  on one thread when the CPU is busy (`irs.rl.sampler.decode_threads`); `generate` and everything else
  use the 2 threads. setup.sampler_one_thread_fraction says how often that happened in the run.
- Arithmetic limit of the sampler: the work's FLOPs (`sampler_flops`: block matmuls, attention over the
  cache, LM head) at the dense 1024^3 GEMM rate measured in the same run (`gemm_gflops`); the issue asks
  for the sampler within 2x of it.
- Sampler row split: ours also runs with `row_groups` forced to one batch in the same alternation, so
  `row_split_speedup` is the split decode's effect measured in one run.
- Merge: `merge_into` of 3 experts (6 layers, 256 wide: 4.9M parameters each) into themselves.
- Runs alternate (TRL step, our steps, TRL step, ...) in one process and medians are reported, because
  the machine is shared with other jobs: absolute times move with the load, the ratios from one run
  are what count. Each figure is also given in process CPU time (all threads), which does not count
  waiting for a core and so is the steadier of the two under load. torch uses 2 threads with
  OMP_WAIT_POLICY=PASSIVE (see below).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import os
import statistics
import sys
import time
import warnings
from pathlib import Path
from unittest import mock

# Shared, busy cores: OpenMP threads that spin while waiting for a descheduled sibling make 2-thread
# kernels up to 25x slower (measured on this machine at load 9); passive waiting avoids that. It must be
# set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import numpy as np  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from irs.algorithms.merging import merge_into  # noqa: E402
from irs.algorithms.trainer import Trainer  # noqa: E402
from irs.config import RunConfig  # noqa: E402
from irs.io import atomic_write_json  # noqa: E402
from irs.objectives import Objective  # noqa: E402
from irs.rl import sampler as irs_sampler  # noqa: E402
from irs.rl.policy import disable_dropout, tiny_config  # noqa: E402
from irs.rl.sampler import sample  # noqa: E402
from irs.tokenizer import SPECIALS, VocabTokenizer  # noqa: E402

log = logging.getLogger("engine_speed")

THREADS = 2
BATCH, NEW_TOKENS = 64, 64
TEMPERATURE = 0.7
# 36 SMILES tokens + 4 specials = 40, the size of a small SMILES vocabulary
SMILES = [
    "C",
    "c",
    "N",
    "n",
    "O",
    "o",
    "S",
    "s",
    "F",
    "Cl",
    "Br",
    "I",
    "P",
    "(",
    ")",
    "[",
    "]",
    "=",
    "#",
    "@",
    "@@",
    "+",
    "-",
    "H",
    "1",
    "2",
    "3",
    "4",
    "5",
    "6",
    "/",
    "\\",
    ".",
    "[nH]",
    "[C@@H]",
    "[C@H]",
]
VOCAB = list(SPECIALS) + SMILES
NO_EOS = len(VOCAB)  # an id the model cannot emit: every row runs the full 64 tokens
MODEL = dict(n_layer=4, n_embd=256, n_head=4, n_positions=128)
MERGE_MODEL = dict(n_layer=6, n_embd=256, n_head=4, n_positions=512)


def median(xs):
    return float(statistics.median(xs))


BUSY = []  # per call of our sampler: whether it ran its token loop on one thread (a busy CPU)


def note_busy():
    BUSY.append(bool(irs_sampler._busy_cpu()) and torch.get_num_threads() > 1)


class Clock:
    """Wall time and this process's CPU time (all threads) of a block. On a shared machine the CPU time
    is the steadier of the two: waiting for a core is not counted."""

    def __enter__(self):
        self.w, self.c = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        self.wall, self.cpu = time.perf_counter() - self.w, time.process_time() - self.c


def summary(wall: list[float], cpu: list[float]) -> dict:
    return {
        "wall_s": median(wall),
        "cpu_s": median(cpu),
        "wall_all_s": [round(x, 4) for x in wall],
        "cpu_all_s": [round(x, 4) for x in cpu],
    }


def make_tokenizer() -> VocabTokenizer:
    tok = VocabTokenizer(VOCAB, None, "", name="bench-smiles")
    tok.eos_id = NO_EOS
    return tok


def make_model(seed=0, **cfg):
    torch.manual_seed(seed)
    from transformers import AutoModelForCausalLM

    config = tiny_config("gpt2", len(VOCAB), **cfg)
    config.eos_token_id = None  # see NO_EOS
    model = AutoModelForCausalLM.from_config(config).float()
    model.generation_config.eos_token_id = None
    return disable_dropout(model)


def n_params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def carbon_fraction(texts):
    return np.array([t.count("C") / len(t) if t else 0.0 for t in texts], dtype=float)


def objective() -> Objective:
    return Objective("carbon", carbon_fraction, 0.0, 1.0, "max", description="fraction of C characters")


# ---- sampler vs generate -----------------------------------------------------------------------------
def sampler_flops(model, batch: int = BATCH, new_tokens: int = NEW_TOKENS) -> float:
    """Multiply-add FLOPs of sampling `batch` x `new_tokens` from one BOS token with a KV cache: per position,
    the blocks' matmuls (12 E^2 per layer), attention over the cached positions (4 E per position per layer)
    and the LM head (E V); 2 FLOPs per multiply-add."""
    c = model.config
    E, L, V = c.n_embd, c.n_layer, c.vocab_size
    per_row = sum(2 * (12 * E * E * L + 4 * E * (t + 1) * L + E * V) for t in range(new_tokens))
    return float(batch * per_row)


def gemm_gflops(bf16: bool, n: int = 1024, repeats: int = 10) -> float:
    """Dense n x n x n matmul rate (GFLOP/s, median of `repeats`) on torch's current threads."""
    dtype = torch.bfloat16 if bf16 else torch.float32
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        a @ b
        times.append(time.perf_counter() - t0)
    return 2 * n**3 / median(times) / 1e9


def bench_sampler(model, tok, bf16: bool, repeats: int) -> dict:
    model.eval()
    bos = torch.full((BATCH, 1), tok.bos_id, dtype=torch.long)

    def ours():
        note_busy()
        s = sample(model, tok, BATCH, max_new_tokens=NEW_TOKENS, temperature=TEMPERATURE, batch_size=BATCH, bf16=bf16)
        assert s.tokens.shape == (BATCH, NEW_TOKENS) and bool(s.mask.all())

    def hf():
        ctx = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else torch.autocast("cpu", enabled=False)
        with torch.inference_mode(), ctx:
            out = model.generate(
                input_ids=bos,
                attention_mask=torch.ones_like(bos),
                do_sample=True,
                temperature=TEMPERATURE,
                top_k=0,
                top_p=1.0,
                max_new_tokens=NEW_TOKENS,
                eos_token_id=None,
                pad_token_id=tok.pad_id,
            )
        assert out.shape == (BATCH, 1 + NEW_TOKENS)

    def ours_one_batch():  # the same sampler without its row split (irs.rl.sampler.row_groups): one batch
        with mock.patch.object(irs_sampler, "row_groups", lambda B, device, threads=None: [slice(0, B)]):
            ours()

    fns = (("ours", ours), ("ours_one_batch", ours_one_batch), ("generate", hf))
    for _, f in fns:
        f()
    t = {name: ([], []) for name, _ in fns}
    for _ in range(repeats):
        for name, f in fns:
            with Clock() as c:
                f()
            t[name][0].append(c.wall)
            t[name][1].append(c.cpu)
    n_tok = BATCH * NEW_TOKENS
    out = {k: summary(*v) for k, v in t.items()}
    for k in t:
        out[k]["tokens_per_s"] = n_tok / out[k]["wall_s"]
    out["speedup"] = out["generate"]["wall_s"] / out["ours"]["wall_s"]
    out["row_split_speedup"] = out["ours_one_batch"]["wall_s"] / out["ours"]["wall_s"]
    out["speedup_cpu"] = out["generate"]["cpu_s"] / out["ours"]["cpu_s"]
    # The arithmetic limit: this work's FLOPs at the machine's dense GEMM rate (the issue: within 2x).
    out["flops"] = sampler_flops(model)
    out["gemm_gflops"] = gemm_gflops(bf16)
    out["arithmetic_limit_s"] = out["flops"] / (out["gemm_gflops"] * 1e9)
    out["ours_over_limit"] = out["ours"]["wall_s"] / out["arithmetic_limit_s"]
    return out


# ---- RL step: ours vs TRL GRPOTrainer ----------------------------------------------------------------
def our_trainer(model, tok, algo: str, bf16: bool) -> Trainer:
    cfg = RunConfig(domain="toy", model="", method="iterative_rs", seed=0)
    cfg.objectives = [{"name": "carbon", "weight": 1.0}]
    cfg = RunConfig.from_dict(cfg.to_dict())
    r = cfg.rl
    r.algo, r.batch_size, r.max_new_tokens, r.ppo_epochs, r.beta = algo, BATCH, NEW_TOKENS, 1, 0.05
    r.temperature, r.bf16 = TEMPERATURE, "on" if bf16 else "off"
    r.normalization = "data"  # a stand-in reward on a random model: nothing to calibrate on
    cfg.merge.total_steps = 10_000
    tr = Trainer(cfg, objectives=[objective()], model=copy.deepcopy(model), tokenizer=tok)
    # every non-empty string is a valid candidate (the toy domain accepts only 'abc' strings)
    tr.domain = dataclasses.replace(tr.domain, canonicalize=lambda s: s or None)
    return tr


def hf_tokenizer():
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Split
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    vocab = {t: i for i, t in enumerate(VOCAB + ["<end>"])}  # <end> = NO_EOS, never generated
    tk = Tokenizer(WordLevel(vocab, unk_token="<unk>"))
    tk.pre_tokenizer = Split("", "isolated")  # one token per character (prompts are empty anyway)
    tk.post_processor = TemplateProcessing(single="<bos> $A", special_tokens=[("<bos>", 1)])
    return PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", bos_token="<bos>", eos_token="<end>", unk_token="<unk>"
    )


def trl_trainer(model, bf16: bool, steps: int, callback, out_dir: str):
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    obj = objective()

    def reward(completions, **kw):
        return obj.reward(completions).tolist()

    args = GRPOConfig(
        output_dir=out_dir,
        use_cpu=True,
        bf16=bf16,
        fp16=False,
        report_to="none",
        logging_strategy="no",
        save_strategy="no",
        disable_tqdm=True,
        seed=0,
        data_seed=0,
        max_steps=steps,
        per_device_train_batch_size=BATCH,
        num_generations=BATCH,
        generation_batch_size=BATCH,
        gradient_accumulation_steps=1,
        num_iterations=1,
        beta=0.05,
        max_completion_length=NEW_TOKENS,
        temperature=TEMPERATURE,
        top_k=0,
        top_p=1.0,
        learning_rate=1.41e-5,
        dataloader_num_workers=0,
        log_completions=False,
        lr_scheduler_type="constant",
    )
    ds = Dataset.from_dict({"prompt": [""] * (BATCH * (steps + 2))})
    # TRL builds its reference model from the policy's path: save the same weights locally first
    model.save_pretrained(Path(out_dir) / "model")
    policy = copy.deepcopy(model)
    policy.config._name_or_path = str(Path(out_dir) / "model")
    return GRPOTrainer(
        model=policy,
        reward_funcs=reward,
        args=args,
        train_dataset=ds,
        processing_class=hf_tokenizer(),
        callbacks=[callback],
    )


def bench_rl(model, tok, bf16: bool, repeats: int, warmup: int, out_dir: str) -> dict:
    from transformers import TrainerCallback

    ours = {algo: our_trainer(model, tok, algo, bf16) for algo in ("rloo", "ppo")}
    t = {"trl": ([], []), "rloo": ([], []), "ppo": ([], [])}
    step = {"n": 0}

    def run_ours(record: bool):
        for algo, tr in ours.items():
            with Clock() as c:
                note_busy()
                rec = tr.expert_step(0, step["n"])
            assert rec["length"] == NEW_TOKENS, rec
            if record:
                t[algo][0].append(c.wall)
                t[algo][1].append(c.cpu)

    class Timer(TrainerCallback):
        def on_step_begin(self, args, state, control, **kw):
            self.clock = Clock().__enter__()

        def on_step_end(self, args, state, control, **kw):
            self.clock.__exit__()
            record = state.global_step > warmup
            if record:
                t["trl"][0].append(self.clock.wall)
                t["trl"][1].append(self.clock.cpu)
            run_ours(record)  # alternate: one TRL step, then one step of each of ours
            step["n"] += 1

    tr = trl_trainer(model, bf16, warmup + repeats, Timer(), out_dir)
    tr.train()
    out = {k: summary(*v) for k, v in t.items()}
    for algo in ("rloo", "ppo"):
        out[f"{algo}_over_trl"] = out[algo]["wall_s"] / out["trl"]["wall_s"]
        out[f"{algo}_over_trl_cpu"] = out[algo]["cpu_s"] / out["trl"]["cpu_s"]
    return out


# ---- merge -------------------------------------------------------------------------------------------
def bench_merge(repeats: int) -> dict:
    experts = [make_model(seed=i, **MERGE_MODEL) for i in range(3)]
    lam = [0.5, 0.3, 0.2]
    merge_into(experts, lam)
    wall, cpu = [], []
    for _ in range(repeats):
        with Clock() as c:
            merge_into(experts, lam)
        wall.append(c.wall)
        cpu.append(c.cpu)
    return {
        "params_per_expert": n_params(experts[0]),
        "ms": 1e3 * median(wall),
        "cpu_ms": 1e3 * median(cpu),
        "all_ms": [round(1e3 * x, 3) for x in wall],
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=15, help="timed repeats per measurement (default 15)")
    ap.add_argument("--warmup", type=int, default=2, help="untimed RL steps first (default 2)")
    ap.add_argument("--parts", default="sampler,rl,merge", help="comma list of sampler, rl, merge (default all)")
    ap.add_argument("--threads", type=int, default=THREADS, help=f"torch threads (default {THREADS})")
    ap.add_argument("--out", default=str(ROOT / "docs/results/engine_speed.json"), help="JSON result path")
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("transformers", "trl", "accelerate", "datasets"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    torch.set_num_threads(args.threads)
    parts = set(args.parts.split(","))

    tok = make_tokenizer()
    model = make_model(0, **MODEL)
    res = {
        "setup": {
            "params": n_params(model),
            "vocab": len(VOCAB),
            "batch": BATCH,
            "new_tokens": NEW_TOKENS,
            "torch_threads": args.threads,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"),
            "torch": torch.__version__,
            "repeats": args.repeats,
            "cpu_load_avg_at_start": os.getloadavg()[0],
            "cpus": os.cpu_count(),
            "note": "shared machine: absolute times move with other jobs; same-run ratios count",
        }
    }
    import transformers
    import trl

    res["setup"].update(transformers=transformers.__version__, trl=trl.__version__)
    log.info(
        "model: %.2fM params, vocab %d, batch %d x %d new tokens, %d threads, load %.1f",
        n_params(model) / 1e6,
        len(VOCAB),
        BATCH,
        NEW_TOKENS,
        args.threads,
        os.getloadavg()[0],
    )
    import tempfile

    for prec, bf16 in (("fp32", False), ("bf16", True)):
        if "sampler" in parts:
            r = res.setdefault("sampler", {})[prec] = bench_sampler(model, tok, bf16, args.repeats)
            log.info(
                "sampler %s: ours %.3fs, generate %.3fs: x%.2f (cpu x%.2f); %.1f GFLOP at %.0f GFLOP/s dense "
                "GEMM: arithmetic limit %.3fs, ours %.1fx it; row split %.2fx faster than one batch (%.3fs)",
                prec,
                r["ours"]["wall_s"],
                r["generate"]["wall_s"],
                r["speedup"],
                r["speedup_cpu"],
                r["flops"] / 1e9,
                r["gemm_gflops"],
                r["arithmetic_limit_s"],
                r["ours_over_limit"],
                r["row_split_speedup"],
                r["ours_one_batch"]["wall_s"],
            )
        if "rl" in parts:
            with tempfile.TemporaryDirectory() as d:
                r = res.setdefault("rl_step", {})[prec] = bench_rl(model, tok, bf16, args.repeats, args.warmup, d)
            log.info(
                "rl step %s: TRL %.3fs, rloo %.3fs (%.2fx, cpu %.2fx), ppo %.3fs (%.2fx, cpu %.2fx)",
                prec,
                r["trl"]["wall_s"],
                r["rloo"]["wall_s"],
                r["rloo_over_trl"],
                r["rloo_over_trl_cpu"],
                r["ppo"]["wall_s"],
                r["ppo_over_trl"],
                r["ppo_over_trl_cpu"],
            )
    if "merge" in parts:
        r = res["merge"] = bench_merge(max(args.repeats, 21))
        log.info("merge 3 x %.2fM: %.2f ms", r["params_per_expert"] / 1e6, r["ms"])
    res["setup"]["cpu_load_avg_at_end"] = os.getloadavg()[0]
    res["setup"]["sampler_one_thread_fraction"] = round(sum(BUSY) / max(len(BUSY), 1), 3)
    atomic_write_json(args.out, res)
    print(table(res))
    return 0


def table(res) -> str:
    rows = [
        "| measurement | precision | ours (wall) | reference (wall) | ratio (wall) | ratio (CPU time) | target "
        "| met (wall) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for prec in ("fp32", "bf16"):
        r = res.get("rl_step", {}).get(prec)
        if r:
            for algo in ("rloo", "ppo"):
                x, xc = r[f"{algo}_over_trl"], r[f"{algo}_over_trl_cpu"]
                rows.append(
                    f"| RL step, ours {algo.upper()} / TRL GRPOTrainer | {prec} | "
                    f"{r[algo]['wall_s'] * 1e3:.0f} ms | {r['trl']['wall_s'] * 1e3:.0f} ms | {x:.3f}x | "
                    f"{xc:.3f}x | <= 0.4x | {'yes' if x <= 0.4 else 'no'} |"
                )
    for prec in ("fp32", "bf16"):
        r = res.get("sampler", {}).get(prec)
        if r:
            rows.append(
                f"| sampler / model.generate (tokens/s) | {prec} | {r['ours']['tokens_per_s']:.0f} | "
                f"{r['generate']['tokens_per_s']:.0f} | {r['speedup']:.3f}x faster | "
                f"{r['speedup_cpu']:.3f}x faster | >= 3x | {'yes' if r['speedup'] >= 3 else 'no'} |"
            )
            if "arithmetic_limit_s" in r:
                x = r["ours_over_limit"]
                rows.append(
                    f"| sampler / arithmetic limit ({r['flops'] / 1e9:.1f} GFLOP at {r['gemm_gflops']:.0f} GFLOP/s) "
                    f"| {prec} | {r['ours']['wall_s'] * 1e3:.0f} ms | {r['arithmetic_limit_s'] * 1e3:.0f} ms | "
                    f"{x:.2f}x | | <= 2x | {'yes' if x <= 2 else 'no'} |"
                )
            if "row_split_speedup" in r:
                rows.append(
                    f"| sampler, row split / one batch | {prec} | {r['ours']['wall_s'] * 1e3:.0f} ms | "
                    f"{r['ours_one_batch']['wall_s'] * 1e3:.0f} ms | {r['row_split_speedup']:.3f}x faster | | | |"
                )
    r = res.get("merge")
    if r:
        rows.append(
            f"| merge 3 experts of {r['params_per_expert'] / 1e6:.1f}M | fp32 | {r['ms']:.1f} ms | | | "
            f"{r['cpu_ms']:.1f} ms | <= 10 ms | {'yes' if r['ms'] <= 10 else 'no'} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
