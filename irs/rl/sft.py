"""Supervised fine-tuning before RL (paper App. B.3: "initializing PPO with an SFT model leads to improved
ROUGE scores"), and the LoRA wrapping the trainer shares with it.

`sft(model, tokenizer, records, cfg)` trains the shared initial model on (prompt, reference) pairs: the
chat-templated prompt is context, the loss covers the reference and the end-of-turn token. Batches are
drawn from `records` with a generator seeded from the run seed, so the result is deterministic (a
resumed run rebuilds the same model; the trainer also checkpoints it as the KL reference). With LoRA
the update is trained as an adapter and folded into the weights afterwards, so the returned model is
always a plain dense model.
"""

from __future__ import annotations

import logging
import time

import torch

from irs.rl.sampler import autocast

log = logging.getLogger(__name__)


def add_lora(model, lcfg, seed: int):
    """`model` wrapped with fresh LoRA adapters (peft; B = 0, so the wrapped model computes the same
    function). The adapters' A is initialised from `seed`."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    conf = LoraConfig(
        r=int(lcfg.r),
        lora_alpha=float(lcfg.alpha),
        lora_dropout=float(lcfg.dropout),
        target_modules=list(lcfg.target_modules) or None,
        bias="none",
        task_type="CAUSAL_LM",
    )
    return get_peft_model(model, conf)


def dense(model):
    """A plain model from a (possibly) LoRA-wrapped one, with its adapters' updates folded in."""
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload()
    return model


def sft_batch(tokenizer, records: list[dict]):
    """Right-padded input ids, attention mask and labels (-100 on the prompt and padding)."""
    seqs, labels = [], []
    for r in records:
        p = tokenizer.encode(r["prompt"], add_bos=True)
        t = tokenizer.encode(r["reference"], add_bos=False, add_eos=True)
        seqs.append(p + t)
        labels.append([-100] * len(p) + t)
    L = max(map(len, seqs))
    ids = torch.full((len(seqs), L), tokenizer.pad_id, dtype=torch.long)
    lab = torch.full((len(seqs), L), -100, dtype=torch.long)
    att = torch.zeros((len(seqs), L), dtype=torch.long)
    for i, (s, l) in enumerate(zip(seqs, labels)):
        ids[i, : len(s)], lab[i, : len(l)], att[i, : len(s)] = torch.tensor(s), torch.tensor(l), 1
    return ids, att, lab


def sft(
    model,
    tokenizer,
    records: list[dict],
    cfg,
    *,
    lora=None,
    seed: int = 0,
    bf16: bool | None = None,
    max_grad_norm: float = 1.0,
):
    """Fine-tune `model` on (prompt, reference) pairs for cfg.steps Adam steps of cfg.batch_size pairs.
    lora: a LoRAConfig to train an adapter (then folded in), or None for full fine-tuning.
    Returns (dense model, {"loss_first", "loss_last", "seconds"})."""
    if not records:
        raise ValueError("sft: no (prompt, reference) records")
    t0 = time.perf_counter()
    dev = next(model.parameters()).device
    m = add_lora(model, lora, seed + 4242) if lora is not None else model
    m.train()
    params = [p for p in m.parameters() if p.requires_grad]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    gen = torch.Generator().manual_seed(seed * 1000 + 31)
    losses = []
    for step in range(cfg.steps):
        idx = torch.randint(len(records), (cfg.batch_size,), generator=gen).tolist()
        ids, att, lab = (x.to(dev) for x in sft_batch(tokenizer, [records[i] for i in idx]))
        with autocast(bf16, dev):
            logits = m(input_ids=ids, attention_mask=att).logits[:, :-1]
        loss = torch.nn.functional.cross_entropy(
            logits.float().reshape(-1, logits.shape[-1]), lab[:, 1:].reshape(-1), ignore_index=-100
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if max_grad_norm:
            torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
        opt.step()
        losses.append(loss.item())
        log.info("sft step %d/%d: loss %.4f", step + 1, cfg.steps, losses[-1])
    out = dense(m) if lora is not None else m
    for p in out.parameters():
        p.requires_grad_(True)
    out.eval()
    stats = {
        "loss_first": losses[0] if losses else float("nan"),
        "loss_last": losses[-1] if losses else float("nan"),
        "seconds": round(time.perf_counter() - t0, 3),
    }
    return out, stats
