"""Causal-LM pretraining of a small GPT-2 on a domain corpus (nanoGPT-style, CPU-friendly).

Read top to bottom:
  1. PretrainConfig   every knob, with its default and meaning
  2. encode_corpus    texts -> one int16 matrix [N, max_len] of BOS + tokens + EOS, PAD-filled
  3. lr_at            warmup -> cosine decay -> floor, as named phases
  4. checkpointing    atomic safetensors (model + AdamW state) + JSON, so a killed run resumes
  5. pretrain         the loop: shuffled batches, bf16 autocast (fp32 weights), AdamW, clipping,
                      a step or wall-clock budget, and a final fp16 model directory
PAD never enters the loss (labels -100). The model therefore learns to emit EOS after each text.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import torch

from irs.checkpoint import load_state_into, load_tensors, model_state, save_model_dir, save_tensors
from irs.config.fields import _f
from irs.io import atomic_write_json
from irs.tokenizer import VocabTokenizer

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# 1. Configuration
# ----------------------------------------------------------------------------------------------
@dataclass
class PretrainConfig:
    n_layer: int = _f(4, "transformer blocks")
    n_embd: int = _f(256, "hidden width")
    n_head: int = _f(4, "attention heads (n_embd must divide by it)")
    max_len: int = _f(64, "positions, incl. BOS and EOS; longer texts are dropped from the corpus")
    batch_size: int = _f(128, "sequences per optimizer step")
    lr: float = _f(1e-3, "peak learning rate (after warmup)")
    min_lr: float = _f(1e-4, "floor of the cosine decay")
    warmup: int = _f(200, "linear warmup steps")
    steps: int = _f(100_000, "step budget (the run stops at whichever budget ends first)")
    minutes: float | None = _f(None, "wall-clock budget; when set, the cosine follows elapsed time")
    weight_decay: float = _f(0.1, "AdamW decoupled weight decay (matrices only, not biases/norms)")
    grad_clip: float = _f(1.0, "max gradient L2 norm")
    dropout: float = _f(0.0, "GPT-2 dropout (attention, residual, embedding)")
    seed: int = _f(0, "weight init and data order")
    bf16: bool = _f(True, "bf16 autocast on CPU (weights stay fp32)")
    threads: int = _f(2, "torch intra-op threads (the project machines have 2 cores)")
    log_every: int = _f(50, "steps between log lines")
    ckpt_minutes: float = _f(5.0, "wall-clock minutes between resumable checkpoints")

    def __post_init__(self):
        for f in ("n_layer", "n_embd", "n_head", "max_len", "batch_size", "steps", "threads", "log_every"):
            if int(getattr(self, f)) <= 0:
                raise ValueError(f"PretrainConfig.{f} must be positive, got {getattr(self, f)}")
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if not (0 < self.min_lr <= self.lr):
            raise ValueError(f"need 0 < min_lr <= lr, got min_lr={self.min_lr}, lr={self.lr}")
        if self.minutes is not None and self.minutes <= 0:
            raise ValueError(f"minutes must be positive, got {self.minutes}")

    @classmethod
    def from_dict(cls, d: dict) -> PretrainConfig:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


def build_model(cfg: PretrainConfig, vocab_size: int, tokenizer: VocabTokenizer):
    from transformers import GPT2Config, GPT2LMHeadModel

    config = GPT2Config(
        vocab_size=vocab_size,
        n_positions=cfg.max_len,
        n_embd=cfg.n_embd,
        n_layer=cfg.n_layer,
        n_head=cfg.n_head,
        resid_pdrop=cfg.dropout,
        embd_pdrop=cfg.dropout,
        attn_pdrop=cfg.dropout,
        bos_token_id=tokenizer.bos_id,
        eos_token_id=tokenizer.eos_id,
        pad_token_id=tokenizer.pad_id,
        tie_word_embeddings=True,
    )
    torch.manual_seed(cfg.seed)
    return GPT2LMHeadModel(config)


# ----------------------------------------------------------------------------------------------
# 2. Data
# ----------------------------------------------------------------------------------------------
def encode_corpus(texts, tokenizer: VocabTokenizer, max_len: int) -> np.ndarray:
    """Encode texts as rows of BOS + tokens + EOS, PAD-filled to `max_len`; drop longer or UNK rows."""
    rows, dropped = [], 0
    for t in texts:
        ids = tokenizer.encode(t, add_bos=True, add_eos=True)
        if len(ids) > max_len or tokenizer.unk_id in ids or len(ids) <= 2:
            dropped += 1
            continue
        rows.append(ids + [tokenizer.pad_id] * (max_len - len(ids)))
    if not rows:
        raise ValueError("corpus is empty after encoding (all texts too long, empty or containing UNK)")
    if dropped:
        log.info(
            "encode_corpus: dropped %d of %d texts (too long for max_len=%d, empty, or UNK)",
            dropped,
            dropped + len(rows),
            max_len,
        )
    return np.asarray(rows, dtype=np.int16 if tokenizer.vocab_size < 32768 else np.int32)


class Batches:
    """Batch for optimizer step `step` (0-based), reproducible from (seed, step), so resume is exact.

    Each epoch is a fresh seeded permutation. To waste little compute on PAD, the permutation is cut into
    windows of `bucket` batches; inside a window rows are sorted by length, cut into batches, and the
    batches are shuffled. Batches are trimmed to their longest row; labels are -100 at PAD.
    """

    def __init__(self, data: np.ndarray, batch_size: int, seed: int, pad_id: int, bucket: int = 64):
        self.data, self.batch_size, self.seed, self.pad_id, self.bucket = data, batch_size, seed, pad_id, bucket
        self.lengths = (data != pad_id).sum(1)
        self.per_epoch = max(1, len(data) // batch_size)
        self._epoch, self._order = None, None

    def _epoch_order(self, epoch: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, epoch])
        perm = rng.permutation(len(self.data))[: self.per_epoch * self.batch_size]
        w = self.bucket * self.batch_size
        batches = []
        for s in range(0, len(perm), w):
            win = perm[s : s + w]
            win = win[np.argsort(self.lengths[win], kind="stable")]
            batches += [win[i : i + self.batch_size] for i in range(0, len(win), self.batch_size)]
        return np.stack([batches[i] for i in rng.permutation(len(batches))])

    def __call__(self, step: int):
        epoch, k = divmod(step, self.per_epoch)
        if epoch != self._epoch:
            self._epoch, self._order = epoch, self._epoch_order(epoch)
        x = torch.from_numpy(self.data[self._order[k]].astype(np.int64))
        L = int(self.lengths[self._order[k]].max())
        x = x[:, :L]
        return x, x.masked_fill(x == self.pad_id, -100)


# ----------------------------------------------------------------------------------------------
# 3. Learning-rate schedule
# ----------------------------------------------------------------------------------------------
def lr_at(cfg: PretrainConfig, step: int, progress: float) -> tuple[float, str]:
    """(learning rate, phase name). `progress` in [0, 1] is the share of the budget already used."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup, "warmup"
    if progress >= 1.0:
        return cfg.min_lr, "floor"
    cos = 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    return cfg.min_lr + (cfg.lr - cfg.min_lr) * cos, "cosine"


def init_weights(model, src: str | os.PathLike, cfg: PretrainConfig, tokenizer: VocabTokenizer) -> dict:
    """Copy the weights of model directory `src` into `model` (same vocabulary and width, else a
    ValueError naming the difference); returns the source's meta.json (or {}).

    A deeper `cfg.n_layer` grows the source function-preservingly: its blocks keep their order, spread
    evenly over the new depth (old block i goes to floor(i * n_new / n_old)), and every new block starts
    as the identity (its attention and MLP output projections zero, so it adds nothing to the residual
    stream until training moves them)."""
    import json

    from irs.checkpoint import load_model_dir

    src = Path(src)
    m, tok = load_model_dir(src)
    if list(getattr(tok, "vocab", [])) != list(getattr(tokenizer, "vocab", [None])):
        raise ValueError(
            f"--init-from {src}: another vocabulary ({tok.vocab_size} tokens, here {tokenizer.vocab_size})"
        )
    want = {"n_layer": cfg.n_layer, "n_embd": cfg.n_embd, "n_head": cfg.n_head, "n_positions": cfg.max_len}
    got = {k: getattr(m.config, k, None) for k in want}
    same_width = all(got[k] == want[k] for k in want if k != "n_layer")
    if not same_width or got["n_layer"] > want["n_layer"]:
        raise ValueError(
            f"--init-from {src}: the model has {got}, this pretraining {want} (only a deeper n_layer can grow it)"
        )
    n_old, n_new = got["n_layer"], want["n_layer"]
    where = {i: i * n_new // n_old for i in range(n_old)}  # old block -> new block
    state = model.state_dict()
    for k, v in m.state_dict().items():
        if k.startswith("transformer.h."):
            i, rest = k[len("transformer.h.") :].split(".", 1)
            k = f"transformer.h.{where[int(i)]}.{rest}"
        state[k] = v.float()
    added = sorted(set(range(n_new)) - set(where.values()))
    for j in added:
        for proj in ("attn.c_proj", "mlp.c_proj"):
            for part in ("weight", "bias"):
                state[f"transformer.h.{j}.{proj}.{part}"].zero_()
    model.load_state_dict(state)
    if added:
        log.info("grew %s from %d to %d layers (new blocks %s start as the identity)", src, n_old, n_new, added)
    f = src / "meta.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def make_optimizer(model: torch.nn.Module, cfg: PretrainConfig) -> torch.optim.AdamW:
    decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.requires_grad and p.dim() < 2]
    return torch.optim.AdamW(
        [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=cfg.lr,
        betas=(0.9, 0.95),
    )


# ----------------------------------------------------------------------------------------------
# 4. Resumable checkpoints: <ckpt>/model.safetensors, optim.safetensors, state.json
# ----------------------------------------------------------------------------------------------
def save_checkpoint(ckpt: Path, model, opt: torch.optim.AdamW, tokenizer: VocabTokenizer, state: dict) -> None:
    ckpt.mkdir(parents=True, exist_ok=True)
    save_tensors(model_state(model), ckpt / "model.safetensors")
    flat = {}
    for i, s in opt.state_dict()["state"].items():
        for k, v in s.items():
            flat[f"{i}.{k}"] = v if torch.is_tensor(v) else torch.tensor(v)
    save_tensors(flat, ckpt / "optim.safetensors")
    atomic_write_json(ckpt / "config.json", model.config.to_dict())
    tokenizer.save(ckpt)
    atomic_write_json(ckpt / "state.json", state)  # written last: marks the checkpoint complete


def check_resumable(ckpt: Path, cfg: PretrainConfig, tokenizer: VocabTokenizer, model) -> None:
    """Raise ValueError naming the mismatch when `ckpt` cannot continue this pretraining (another
    domain's vocabulary, another model size, another schedule); the folder is left untouched."""
    st = json.loads((ckpt / "state.json").read_text())
    saved_tok = VocabTokenizer.load(ckpt)
    if saved_tok.vocab != tokenizer.vocab:
        raise ValueError(
            f"--resume: {ckpt} was trained with another vocabulary ({saved_tok.vocab_size} tokens, "
            f"{list(saved_tok.vocab)[4:10]}...) than this corpus' ({tokenizer.vocab_size} tokens, "
            f"{list(tokenizer.vocab)[4:10]}...): another domain or tokenizer"
        )
    old = PretrainConfig.from_dict(st["config"])
    diff = {
        f.name: (getattr(old, f.name), getattr(cfg, f.name))
        for f in fields(PretrainConfig)
        if f.name not in RESUME_FREE and getattr(old, f.name) != getattr(cfg, f.name)
    }
    if diff:
        raise ValueError(f"--resume: {ckpt} has another configuration; differing fields (checkpoint, now): {diff}")
    n_saved = json.loads((ckpt / "config.json").read_text()).get("vocab_size")
    if n_saved != model.config.vocab_size:
        raise ValueError(f"--resume: {ckpt} has vocab_size {n_saved}, the model {model.config.vocab_size}")


# Fields that may change between pieces of one pretraining: the machine's settings, and the budget (a
# longer budget extends the cosine from where it stands; the model and the data order stay the same).
RESUME_FREE = {"threads", "log_every", "ckpt_minutes", "steps", "minutes"}


def lm_loss(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy; the lean GPT-2 forward (same math as Hugging Face's, ~13% faster on
    CPU) where the model supports it. Trailing PAD needs no attention mask under the causal mask."""
    from irs.rl import fast_gpt2

    if not fast_gpt2.supports_forward(model):
        return model(input_ids=x, labels=y).loss
    pos = torch.arange(x.shape[1] - 1)[None].expand(x.shape[0], -1)
    logits = model.lm_head(fast_gpt2.forward(model, x[:, :-1], pos))
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1).float(), y[:, 1:].flatten(), ignore_index=-100)


def load_checkpoint(ckpt: Path, model, opt: torch.optim.AdamW) -> dict:
    state = json.loads((ckpt / "state.json").read_text())
    load_state_into(model, load_tensors(ckpt / "model.safetensors"))
    flat = load_tensors(ckpt / "optim.safetensors")
    sd = opt.state_dict()
    sd["state"] = {}
    for key, v in flat.items():
        i, k = key.split(".", 1)
        sd["state"].setdefault(int(i), {})[k] = v
    opt.load_state_dict(sd)
    return state


# ----------------------------------------------------------------------------------------------
# 5. The loop
# ----------------------------------------------------------------------------------------------
def pretrain(
    texts,
    tokenizer: VocabTokenizer,
    cfg: PretrainConfig,
    out_dir: str | os.PathLike,
    ckpt_dir: str | os.PathLike | None = None,
    resume: bool = False,
    meta: dict | None = None,
    save_dtype: torch.dtype = torch.float16,
    init_from: str | os.PathLike | None = None,
):
    """Pretrain a GPT-2 on `texts`; write the final model directory to `out_dir`. Returns the model.

    ckpt_dir: where resumable checkpoints go (default: <out_dir>/../.<name>-ckpt; keep it out of git).
    resume: continue from ckpt_dir if it holds a complete checkpoint (same config required).
    init_from: a model directory this pretraining continues (weights only: a fresh optimizer, warmup and
        cosine over this budget). The data order continues after the source's steps, and its meta.json's
        commands, steps and tokens carry over, so the new meta.json still lists every piece.
    """
    torch.set_num_threads(cfg.threads)
    out_dir = Path(out_dir)
    ckpt = Path(ckpt_dir) if ckpt_dir else out_dir.parent / f".{out_dir.name}-ckpt"
    t_enc = time.time()
    data = encode_corpus(texts, tokenizer, cfg.max_len)
    log.info("corpus: %d sequences encoded in %.1fs; vocab %d", len(data), time.time() - t_enc, tokenizer.vocab_size)

    model = build_model(cfg, tokenizer.vocab_size, tokenizer)
    opt = make_optimizer(model, cfg)
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "model: GPT-2 %d layers x %d wide, %d heads, %.2fM parameters",
        cfg.n_layer,
        cfg.n_embd,
        cfg.n_head,
        n_params / 1e6,
    )

    step, tokens, elapsed_before = 0, 0, 0.0
    history: list = []
    offset, tokens_before, wall_before = 0, 0, 0.0  # what an init_from source had already trained
    if resume and (ckpt / "state.json").is_file():
        check_resumable(ckpt, cfg, tokenizer, model)  # before anything is loaded or written
        st = load_checkpoint(ckpt, model, opt)
        step, tokens, elapsed_before = st["step"], st["tokens"], st["elapsed_s"]
        history = st.get("commands", [])
        offset, tokens_before, wall_before = (
            st.get("data_offset", 0),
            st.get("tokens_before", 0),
            st.get("wall_before", 0.0),
        )
        log.info("resumed from %s at step %d (%.1f min already trained)", ckpt, step, elapsed_before / 60)
    elif init_from is not None:
        src = init_weights(model, init_from, cfg, tokenizer)
        offset, tokens_before = int(src.get("steps", 0)), int(src.get("tokens", 0))
        wall_before = float(src.get("wall_time_s", 0.0))
        history = list(src.get("commands", [])) + [{"init_from": str(init_from), "source_steps": offset}]
        log.info(
            "initialized from %s (%d steps, %.1fM tokens); data continues at step %d",
            init_from,
            offset,
            tokens_before / 1e6,
            offset,
        )
    elif resume:
        log.info("no checkpoint in %s; starting fresh", ckpt)

    batches = Batches(data, cfg.batch_size, cfg.seed, tokenizer.pad_id)
    budget_s = cfg.minutes * 60 if cfg.minutes else None
    t0 = time.time()
    last_ckpt = t0
    model.train()
    loss_ema = None

    def elapsed() -> float:
        return elapsed_before + time.time() - t0

    def progress() -> float:
        p = step / cfg.steps
        return max(p, elapsed() / budget_s) if budget_s else p

    def state() -> dict:
        return {
            "step": step,
            "tokens": tokens,
            "elapsed_s": elapsed(),
            "config": asdict(cfg),
            "loss_ema": loss_ema,
            "n_sequences": len(data),
            "commands": commands,
            "data_offset": offset,
            "tokens_before": tokens_before,
            "wall_before": wall_before,
        }

    # every piece of this pretraining, in order: the exact commands that rebuild the model
    commands = history + [{"command": (meta or {}).get("command"), "from_step": step}]

    while step < cfg.steps and progress() < 1.0:
        lr, phase = lr_at(cfg, step, progress())
        for g in opt.param_groups:
            g["lr"] = lr
        x, y = batches(offset + step)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=cfg.bf16):
            loss = lm_loss(model, x, y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        tokens += int((y != -100).sum())
        loss_val = loss.item()
        loss_ema = loss_val if loss_ema is None else 0.98 * loss_ema + 0.02 * loss_val
        if step % cfg.log_every == 0 or step == 1:
            e = elapsed()
            log.info(
                "step %d [%s] loss %.4f (ema %.4f) lr %.2e | %.1fM tokens, %.0f tok/s, %.1f min",
                step,
                phase,
                loss_val,
                loss_ema,
                lr,
                tokens / 1e6,
                tokens / max(e, 1e-9),
                e / 60,
            )
        if time.time() - last_ckpt > cfg.ckpt_minutes * 60:
            save_checkpoint(ckpt, model, opt, tokenizer, state())
            last_ckpt = time.time()
            log.info("checkpoint saved to %s (step %d)", ckpt, step)

    save_checkpoint(ckpt, model, opt, tokenizer, state())
    wall = elapsed()
    m = dict(meta or {})
    m.update(
        {
            "commands": commands,
            "steps": offset + step,
            "tokens": tokens_before + tokens,
            "wall_time_s": round(wall_before + wall, 1),
            "final_loss_ema": loss_ema,
            "n_params": n_params,
            "n_sequences": len(data),
            "epochs": (offset + step) * cfg.batch_size / len(data),
            "pretrain_config": asdict(cfg),
        }
    )
    model.eval()
    save_model_dir(model, tokenizer, out_dir, dtype=save_dtype, meta=m)
    log.info(
        "saved %s: %d steps, %.1fM tokens, %.1f min, loss ema %.4f",
        out_dir,
        step,
        tokens / 1e6,
        wall / 60,
        loss_ema if loss_ema is not None else float("nan"),
    )
    return model
