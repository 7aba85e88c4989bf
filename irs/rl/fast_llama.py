"""A lean Llama decoder (SmolLM2, Llama 3) for the sampler: the model's own weights, a preallocated KV
cache, the whole prompt prefilled in one pass, and LoRA adapters applied in the loop exactly as peft
applies them (base output + B(A x) * scaling), so a LoRA expert samples without being merged or copied.

Why: `transformers`' generic decode step rebuilds masks, cache objects and position embeddings through
several layers of Python per token; at 135M parameters and a few rows that overhead is most of a step.
The math here is the Hugging Face Llama forward's, op for op (RMSNorm in fp32, RoPE from the model's
own rotary module, single-query GQA as `pack_gqa` does it), so greedy output matches `model.generate`
and sampled tokens match the generic path's from the same generator (tests/test_fast_llama.py).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _unwrap(model):
    """The LlamaForCausalLM inside a peft wrapper (its LoRA layers injected), or the model itself."""
    get = getattr(model, "get_base_model", None)
    return get() if callable(get) else model


def _linear(m):
    """(weight, bias, [(A, B, scaling), ...]) of a dense or peft-LoRA linear layer; None when this module
    cannot reproduce it (merged or disabled adapters, DoRA, another layer type)."""
    if type(m) is torch.nn.Linear:
        return m.weight, m.bias, []
    base = getattr(m, "base_layer", None)
    if type(base) is not torch.nn.Linear or not hasattr(m, "lora_A"):
        return None
    if getattr(m, "merged", False) or getattr(m, "disable_adapters", False) or getattr(m, "fan_in_fan_out", False):
        return None
    loras = []
    for a in m.active_adapters:
        if a not in m.lora_A:
            continue
        if m.use_dora.get(a, False) or type(m.lora_A[a]) is not torch.nn.Linear:
            return None
        loras.append((m.lora_A[a].weight, m.lora_B[a].weight, m.scaling[a]))
    return base.weight, base.bias, loras


SKINNY_ROWS = 8  # at most this many rows: the matmul is computed transposed (see _apply)


def _apply(lin, x):
    w, b, loras = lin
    if x.numel() <= SKINNY_ROWS * x.shape[-1] and x.device.type == "cpu":
        # A decode step has a few rows: x W^T as (W x^T)^T, which the CPU's BLAS runs as a weight-streaming
        # kernel (about 16 against 6 GB/s of weights for 4 rows of SmolLM2's MLP on 2 cores; the decode is
        # bound by reading the weights). Same product, another summation order (within float rounding).
        y = torch.mm(w, x.reshape(-1, x.shape[-1]).t()).t().reshape(*x.shape[:-1], w.shape[0])
        if b is not None:
            y = y + b
    else:
        y = F.linear(x, w, b)
    for a, bw, s in loras:  # peft's order: result + lora_B(lora_A(x)) * scaling
        y = y + F.linear(F.linear(x, a), bw) * s
    return y


def _layer_linears(layer):
    at, mlp = layer.self_attn, layer.mlp
    return [_linear(m) for m in (at.q_proj, at.k_proj, at.v_proj, at.o_proj, mlp.gate_proj, mlp.up_proj, mlp.down_proj)]


def supports(model) -> bool:
    """A Llama causal LM (optionally peft-LoRA-wrapped, adapters unmerged) with SiLU MLP, default RoPE
    application and one tensor-parallel slice: what this module computes exactly."""
    base = _unwrap(model)
    cfg = getattr(base, "config", None)
    if not (
        getattr(cfg, "model_type", None) == "llama"
        and type(base).__name__ == "LlamaForCausalLM"
        and getattr(cfg, "hidden_act", None) == "silu"
        and getattr(cfg, "pretraining_tp", 1) == 1
    ):
        return False
    lins = [x for layer in base.model.layers for x in _layer_linears(layer)] + [_linear(base.lm_head)]
    return all(x is not None for x in lins)


def _rms(x, w, eps):
    dt = x.dtype
    x = x.to(torch.float32)
    return w * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps)).to(dt)


def _rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat((-x[..., h:], x[..., :h]), dim=-1)


class LlamaDecoder:
    """Views of the weights and a static KV cache [layers, B, kv heads, max_len, head dim] for one batch."""

    def __init__(self, model, batch: int, max_len: int):
        base = _unwrap(model)
        cfg = base.config
        self.H, self.Hkv = cfg.num_attention_heads, cfg.num_key_value_heads
        self.D = getattr(cfg, "head_dim", None) or cfg.hidden_size // self.H
        self.eps = cfg.rms_norm_eps
        self.embed = base.model.embed_tokens.weight
        self.rotary = base.model.rotary_emb
        self.norm = base.model.norm.weight
        self.lm_head = _linear(base.lm_head)
        self.layers = [
            (layer.input_layernorm.weight, layer.post_attention_layernorm.weight, *_layer_linears(layer))
            for layer in base.model.layers
        ]
        dev = self.embed.device
        dtype = torch.bfloat16 if torch.is_autocast_enabled(dev.type) else self.embed.dtype
        shape = (len(self.layers), batch, self.Hkv, max_len, self.D)
        self.k = torch.empty(shape, dtype=dtype, device=dev)
        self.v = torch.empty(shape, dtype=dtype, device=dev)
        self.t = 0  # number of cached positions

    def prefill_shared(self, ids, pos, key_mask, rows: torch.Tensor) -> torch.Tensor:
        """Prefill U distinct prompts [U, T] once, then give batch row b the cache and logits of prompt
        rows[b] -> logits [B, V]. Same arithmetic per prompt as `forward` on the full batch."""
        U, T = ids.shape
        t0, k, v = self.t, self.k, self.v
        self.k, self.v = k[:, :U], v[:, :U]  # views: the U prompts' cache is written in place
        try:
            logits = self.forward(ids, pos, key_mask)
        finally:
            self.k, self.v = k, v
        cached = slice(t0, t0 + T)
        k[:, :, :, cached] = k[:, :U, :, cached][:, rows]  # the index copies before the write
        v[:, :, :, cached] = v[:, :U, :, cached][:, rows]
        return logits[rows]

    def forward(self, ids: torch.Tensor, pos: torch.Tensor, key_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Append ids [B, T] at positions pos [B, T] to the cache -> logits of the last one, [B, V].

        key_mask: [B, t+T] bool of attendable cache slots (left padding), None when all are. A prefill
        (T > 1) is causal; a padding query with no real key before it attends to itself (its output is
        never used), so that no softmax row is empty."""
        B, T = ids.shape
        H, Hkv, D, t, eps = self.H, self.Hkv, self.D, self.t, self.eps
        x = self.embed[ids]  # [B, T, E]
        cos, sin = self.rotary(x, pos)
        cos, sin = cos[:, None], sin[:, None]  # [B, 1, T, D]
        am = None
        if key_mask is not None:
            am = key_mask[:, None, None, : t + T]  # [B, 1, 1, t+T]
            if T > 1:
                causal = torch.ones(T, t + T, dtype=torch.bool, device=ids.device).tril(t)
                am = am & causal
                own = torch.arange(t + T, device=ids.device)[None, :] == t + torch.arange(T, device=ids.device)[:, None]
                am = am | (own & ~am.any(-1, keepdim=True))
        causal_only = am is None and T > 1 and t == 0
        for i, (ln1, ln2, q_, k_, v_, o_, gate, up, down) in enumerate(self.layers):
            h = _rms(x, ln1, eps)
            q = _apply(q_, h).view(B, T, H, D).transpose(1, 2)
            k = _apply(k_, h).view(B, T, Hkv, D).transpose(1, 2)
            v = _apply(v_, h).view(B, T, Hkv, D).transpose(1, 2)
            q = q * cos + _rotate_half(q) * sin
            k = k * cos + _rotate_half(k) * sin
            self.k[i, :, :, t : t + T] = k
            self.v[i, :, :, t : t + T] = v
            K, V = self.k[i, :, :, : t + T], self.v[i, :, :, : t + T]
            if T == 1 and H != Hkv:
                # one query: its H heads as H/Hkv queries of each kv head (transformers' pack_gqa)
                a = F.scaled_dot_product_attention(q.reshape(B, Hkv, H // Hkv, D), K, V, attn_mask=am, scale=D**-0.5)
                a = a.reshape(B, H, 1, D)
            else:
                a = F.scaled_dot_product_attention(
                    q, K, V, attn_mask=am, is_causal=causal_only, scale=D**-0.5, enable_gqa=H != Hkv
                )
            x = x + _apply(o_, a.transpose(1, 2).reshape(B, T, H * D))
            h = _rms(x, ln2, eps)
            x = x + _apply(down, F.silu(_apply(gate, h)) * _apply(up, h))
        self.t += T
        return _apply(self.lm_head, _rms(x[:, -1], self.norm, eps))  # [B, V]
