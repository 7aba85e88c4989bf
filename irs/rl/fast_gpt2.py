"""A lean incremental decoder for GPT-2 weights: the sampler's fast path.

`transformers`' generic forward spends most of a decode step in Python (cache objects, mask builders,
module hooks). For small models that overhead dominates: the arithmetic of a 3M-parameter GPT-2 step
takes well under a millisecond. This module runs the same math straight on the model's own parameter
tensors (no copies, so it always sees the current weights; under bf16 autocast the matmul weights
are cast once per batch) with a preallocated KV cache. Its logits
are tested against the Hugging Face forward.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def supports(model) -> bool:
    cfg = getattr(model, "config", None)
    return (getattr(cfg, "model_type", None) == "gpt2"
            and cfg.activation_function in ("gelu_new", "gelu_pytorch_tanh", "gelu")
            and not getattr(cfg, "scale_attn_by_inverse_layer_idx", False)
            and not getattr(cfg, "reorder_and_upcast_attn", False)
            and getattr(cfg, "scale_attn_weights", True))


class GPT2Decoder:
    """Holds views of the weights and a static KV cache for one batch."""

    def __init__(self, model, batch: int, max_len: int):
        cfg = model.config
        tr = model.transformer
        self.E, self.H = cfg.n_embd, cfg.n_head
        self.D = self.E // self.H
        self.eps = cfg.layer_norm_epsilon
        self.approx = "none" if cfg.activation_function == "gelu" else "tanh"
        self.wte, self.wpe = tr.wte.weight, tr.wpe.weight
        dev = self.wte.device
        dtype = torch.bfloat16 if torch.is_autocast_enabled(dev.type) else self.wte.dtype
        # Under bf16 autocast every matmul casts its fp32 weight and bias to bf16 on every call (the
        # autocast weight cache is off in inference mode). Cast them once per batch instead: autocast
        # passes bf16 inputs through unchanged, so the arithmetic is the same, bit for bit.
        mm = (lambda w: w.detach().to(dtype)) if dtype != self.wte.dtype else (lambda w: w)
        self.lm_head = mm(model.lm_head.weight)
        self.ln_f = (tr.ln_f.weight, tr.ln_f.bias)
        self.layers = [(b.ln_1.weight, b.ln_1.bias, mm(b.attn.c_attn.weight), mm(b.attn.c_attn.bias),
                        mm(b.attn.c_proj.weight), mm(b.attn.c_proj.bias), b.ln_2.weight, b.ln_2.bias,
                        mm(b.mlp.c_fc.weight), mm(b.mlp.c_fc.bias), mm(b.mlp.c_proj.weight), mm(b.mlp.c_proj.bias))
                       for b in tr.h]
        shape = (len(self.layers), batch, self.H, max_len, self.D)
        self.k = torch.empty(shape, dtype=dtype, device=dev)
        self.v = torch.empty(shape, dtype=dtype, device=dev)
        self.t = 0  # number of cached positions

    def step(self, tok: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tok, pos: [B]; key_mask: [B, t+1] bool of attendable cache slots (None = all). -> logits [B, V]."""
        B, E, H, D, t = tok.shape[0], self.E, self.H, self.D, self.t
        x = self.wte[tok] + self.wpe[pos]                                   # [B, E]
        am = None if key_mask is None else key_mask[:, None, None, : t + 1]  # [B, 1, 1, t+1]
        for i, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb) in enumerate(self.layers):
            h = F.layer_norm(x, (E,), l1w, l1b, self.eps)
            qkv = torch.addmm(ab, h, aw).view(B, 3, H, D)                     # [B, 3, H, D]
            self.k[i, :, :, t] = qkv[:, 1]
            self.v[i, :, :, t] = qkv[:, 2]
            q = qkv[:, 0, :, None, :]                                         # [B, H, 1, D]
            a = F.scaled_dot_product_attention(q, self.k[i, :, :, : t + 1], self.v[i, :, :, : t + 1],
                                               attn_mask=am)                  # [B, H, 1, D]
            x = x + torch.addmm(pb, a.reshape(B, E), pw)
            h = F.layer_norm(x, (E,), l2w, l2b, self.eps)
            x = x + torch.addmm(mb, F.gelu(torch.addmm(fb, h, fw), approximate=self.approx), mw)
        self.t += 1
        x = F.layer_norm(x, (E,), *self.ln_f, self.eps)
        return x @ self.lm_head.t()                                           # [B, V]
