"""A lean GPT-2 forward on the model's own weights: the sampler's incremental decoder and the full-sequence
forward behind the log-probs of every RL update.

`transformers`' generic forward spends a lot of a step outside the arithmetic: Python (cache objects,
mask builders, module hooks) and, for `gelu_new` models, a GELU written as seven separate tensor ops
whose backward is as many again (a quarter of an RL update's time at 3M parameters). This module runs
the same math straight on the model's parameter tensors (no copies, so it always sees the current
weights and gradients flow to them), with the fused tanh GELU (`transformers`' own `gelu_pytorch_tanh`,
the same function as `gelu_new` up to float rounding) and, for decoding, a preallocated KV cache.
Under bf16 autocast the decoder casts its matmul weights once per batch. Logits and log-probs are
tested against the Hugging Face forward.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def supports(model) -> bool:
    """A plain GPT-2 LM head model with dense Conv1D layers (not wrapped by adapters) and the standard
    attention scaling: what this module computes exactly."""
    cfg = getattr(model, "config", None)
    if not (
        getattr(cfg, "model_type", None) == "gpt2"
        and type(model).__name__ == "GPT2LMHeadModel"
        and cfg.activation_function in ("gelu_new", "gelu_pytorch_tanh", "gelu")
        and not getattr(cfg, "scale_attn_by_inverse_layer_idx", False)
        and not getattr(cfg, "reorder_and_upcast_attn", False)
        and not getattr(cfg, "add_cross_attention", False)
        and getattr(cfg, "scale_attn_weights", True)
    ):
        return False
    from transformers.pytorch_utils import Conv1D

    return all(
        type(m) is Conv1D for b in model.transformer.h for m in (b.attn.c_attn, b.attn.c_proj, b.mlp.c_fc, b.mlp.c_proj)
    )


def supports_forward(model) -> bool:
    """`forward` also skips dropout: it needs a model without active dropout (eval mode or p = 0)."""
    if not supports(model):
        return False
    cfg = model.config
    return not model.training or all(getattr(cfg, k, 0.0) == 0.0 for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop"))


def forward(model, ids: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Final hidden states (after ln_f) of a full causal pass, [B, T, E]; differentiable.

    ids, pos: [B, T]; key_mask: [B, T] bool of real (non-padding) tokens, None when there is no padding.
    As in `transformers`, padding keys are masked; a leading padding position, which has no real key to
    attend to, attends to itself (its output is never used), so that no softmax row is empty."""
    cfg, tr = model.config, model.transformer
    B, T = ids.shape
    E, H = cfg.n_embd, cfg.n_head
    D = E // H
    approx = "none" if cfg.activation_function == "gelu" else "tanh"
    eps = cfg.layer_norm_epsilon
    # Under CPU bf16 autocast, attention runs in fp32: the CPU's bf16 attention kernels are 2-3x slower
    # than its fp32 ones (forward and backward), and fp32 is the more accurate of the two.
    attn_fp32 = ids.device.type == "cpu" and torch.is_autocast_enabled("cpu")
    x = tr.wte.weight[ids] + tr.wpe.weight[pos]  # [B, T, E]
    am = None
    if key_mask is not None:
        am = torch.ones(T, T, dtype=torch.bool, device=ids.device).tril() & key_mask[:, None, :]  # [B, T, T]
        am = (am | (torch.eye(T, dtype=torch.bool, device=ids.device) & ~am.any(-1, keepdim=True)))[:, None]
    for b in tr.h:
        h = F.layer_norm(x, (E,), b.ln_1.weight, b.ln_1.bias, eps).view(B * T, E)
        qkv = torch.addmm(b.attn.c_attn.bias, h, b.attn.c_attn.weight).view(B, T, 3, H, D)
        q, k, v = (qkv[:, :, j].transpose(1, 2) for j in range(3))  # [B, H, T, D]
        if attn_fp32:
            with torch.autocast("cpu", enabled=False):
                a = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=am, is_causal=am is None)
        else:
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=am, is_causal=am is None)
        x = x + torch.addmm(b.attn.c_proj.bias, a.transpose(1, 2).reshape(B * T, E), b.attn.c_proj.weight).view(B, T, E)
        h = F.layer_norm(x, (E,), b.ln_2.weight, b.ln_2.bias, eps).view(B * T, E)
        f = F.gelu(torch.addmm(b.mlp.c_fc.bias, h, b.mlp.c_fc.weight), approximate=approx)
        x = x + torch.addmm(b.mlp.c_proj.bias, f, b.mlp.c_proj.weight).view(B, T, E)
    return F.layer_norm(x, (E,), tr.ln_f.weight, tr.ln_f.bias, eps)


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
        self.layers = [
            (
                b.ln_1.weight,
                b.ln_1.bias,
                mm(b.attn.c_attn.weight),
                mm(b.attn.c_attn.bias),
                mm(b.attn.c_proj.weight),
                mm(b.attn.c_proj.bias),
                b.ln_2.weight,
                b.ln_2.bias,
                mm(b.mlp.c_fc.weight),
                mm(b.mlp.c_fc.bias),
                mm(b.mlp.c_proj.weight),
                mm(b.mlp.c_proj.bias),
            )
            for b in tr.h
        ]
        shape = (len(self.layers), batch, self.H, max_len, self.D)
        self.k = torch.empty(shape, dtype=dtype, device=dev)
        self.v = torch.empty(shape, dtype=dtype, device=dev)
        self.t = 0  # number of cached positions

    def step(self, tok: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """tok, pos: [B]; key_mask: [B, t+1] bool of attendable cache slots (None = all). -> logits [B, V]."""
        B, E, H, D, t = tok.shape[0], self.E, self.H, self.D, self.t
        x = self.wte[tok] + self.wpe[pos]  # [B, E]
        # One query per row: plain batched matmuls instead of SDPA's flash kernel, which is built for
        # long queries (faster per call in an ad hoc timing at B = 64, H = 4, 64 cached positions).
        drop = (
            None
            if key_mask is None
            else ~key_mask[:, None, None, : t + 1].expand(B, H, 1, t + 1).reshape(B * H, 1, t + 1)
        )
        scale = D**-0.5
        for i, (l1w, l1b, aw, ab, pw, pb, l2w, l2b, fw, fb, mw, mb) in enumerate(self.layers):
            h = F.layer_norm(x, (E,), l1w, l1b, self.eps)
            qkv = torch.addmm(ab, h, aw).view(B, 3, H, D)  # [B, 3, H, D]
            self.k[i, :, :, t] = qkv[:, 1]
            self.v[i, :, :, t] = qkv[:, 2]
            q = qkv[:, 0].reshape(B * H, 1, D)
            k = self.k[i, :, :, : t + 1].reshape(B * H, t + 1, D)  # views: B and H merge without a copy
            v = self.v[i, :, :, : t + 1].reshape(B * H, t + 1, D)
            s = torch.bmm(q, k.transpose(1, 2)).mul_(scale)  # [B*H, 1, t+1]
            if drop is not None:
                s.masked_fill_(drop, float("-inf"))
            p = torch.softmax(s.float(), dim=-1)  # fp32 under bf16 autocast too, as SDPA accumulates
            if drop is not None:  # a left-pad position sees no key: zero output, as SDPA gives
                p = p.nan_to_num_(0.0)
            a = torch.bmm(p.to(v.dtype), v)  # [B*H, 1, D]
            x = x + torch.addmm(pb, a.view(B, E), pw)
            h = F.layer_norm(x, (E,), l2w, l2b, self.eps)
            x = x + torch.addmm(mb, F.gelu(torch.addmm(fb, h, fw), approximate=self.approx), mw)
        self.t += 1
        x = F.layer_norm(x, (E,), *self.ln_f, self.eps)
        return x @ self.lm_head.t()  # [B, V]
