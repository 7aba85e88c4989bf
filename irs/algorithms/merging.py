"""Merging expert parameters: ρ = Σ_{i∈S} λ_i θ_i (eq. 9), in place, for every expert.

- Parameters are taken from `model.parameters()`, which lists a tied tensor once (GPT-2's lm_head
  is wte), so tied embeddings are merged once and stay tied.
- LoRA experts (peft): the update ΔW_i = B_i A_i is what gets averaged, never A and B separately. The
  merged ΔW = Σ λ_i ΔW_i is folded into every expert's base weight and each B is zeroed, so every
  expert restarts exactly at the merged model while keeping its own adapter basis A.
- Value heads and the frozen reference model are never touched.
"""
from __future__ import annotations

from typing import Sequence

import torch


def _lora_layers(model):
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft not installed: no LoRA
        return []
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def trainable_params(model) -> list[torch.nn.Parameter]:
    """The parameters a merge averages: all unique parameters except LoRA factors (handled apart)."""
    lora_ids = set()
    for _, layer in _lora_layers(model):
        for d in (layer.lora_A, layer.lora_B):
            for mod in d.values():
                lora_ids.update(id(p) for p in mod.parameters())
    return [p for p in model.parameters() if id(p) not in lora_ids]


@torch.no_grad()
def merged_tensors(models: Sequence[torch.nn.Module], lambdas: Sequence[float]) -> list[torch.Tensor]:
    """Σ λ_i θ_i over dense parameters (LoRA deltas not included), as new tensors."""
    plist = [trainable_params(m) for m in models]
    out = [torch.zeros_like(p) for p in plist[0]]
    for lam, ps in zip(lambdas, plist):
        torch._foreach_add_(out, [p.detach() for p in ps], alpha=float(lam))
    return out


@torch.no_grad()
def merge_into(models: Sequence[torch.nn.Module], lambdas: Sequence[float],
               targets: Sequence[torch.nn.Module] | None = None) -> None:
    """Write ρ = Σ λ_i θ_i (dense parameters and LoRA updates) into every model of `targets`
    (default: `models` themselves). `lambdas` must be non-negative and sum to 1."""
    lam = [float(x) for x in lambdas]
    if len(lam) != len(models) or any(x < 0 for x in lam) or abs(sum(lam) - 1) > 1e-6:
        raise ValueError(f"merge weights must be {len(models)} non-negative numbers summing to 1, got {lam}")
    targets = list(models) if targets is None else list(targets)
    rho = merged_tensors(models, lam)
    # LoRA: average the updates B A (computed before any target is overwritten).
    deltas = []
    layer_lists = [_lora_layers(m) for m in models]
    for j, (name, layer0) in enumerate(layer_lists[0]):
        for adapter in layer0.lora_A:
            d = sum(l * ll[j][1].get_delta_weight(adapter) for l, ll in zip(lam, layer_lists))
            deltas.append((j, adapter, d))
    for tgt in targets:
        torch._foreach_copy_(trainable_params(tgt), rho)
        tl = _lora_layers(tgt)
        for j, adapter, d in deltas:
            layer = tl[j][1]
            base = layer.get_base_layer().weight
            # fold the merged update into the base weight (which already holds the merged dense part);
            # peft's get_delta_weight returns ΔW in the base weight's layout (fan_in_fan_out handled)
            base.add_(d.to(base.dtype))
            layer.lora_B[adapter].weight.zero_()


@torch.no_grad()
def merge_optimizer_states(optimizers: Sequence[torch.optim.Optimizer], lambdas: Sequence[float],
                           params: Sequence[Sequence[torch.nn.Parameter]], mode: str) -> None:
    """What happens to optimizer state at a merge: 'keep' (nothing), 'reset' (clear moments) or
    'average' (λ-weighted average of every state tensor, written back to each optimizer)."""
    if mode == "keep":
        return
    if mode == "reset":
        for opt in optimizers:
            opt.state.clear()
        return
    if mode != "average":
        raise ValueError(f"unknown optimizer_state {mode!r}")
    for j in range(len(params[0])):
        states = [opt.state.get(ps[j], {}) for opt, ps in zip(optimizers, params)]
        if not all(states):
            continue
        for key, v0 in states[0].items():
            if torch.is_tensor(v0) and v0.is_floating_point() and v0.dim() > 0:
                avg = sum(float(l) * s[key] for l, s in zip(lambdas, states))
                for s in states:
                    s[key].copy_(avg)


def merge_state_dicts(states: Sequence[dict[str, torch.Tensor]], lambdas: Sequence[float]) -> dict[str, torch.Tensor]:
    """Pure version for saved experts: Σ λ_i state_i key by key (float tensors; others from state 0).
    Used to re-make the merged model from the final experts with any λ after a run."""
    lam = [float(x) for x in lambdas]
    if len(lam) != len(states) or any(x < 0 for x in lam) or sum(lam) <= 0:
        raise ValueError(f"need {len(states)} non-negative merge weights with a positive sum, got {lam}")
    total = sum(lam)
    lam = [x / total for x in lam]
    keys = set(states[0])
    for s in states[1:]:
        if set(s) != keys:
            raise ValueError("expert states have different keys; they are not experts of one model")
    out = {}
    for k, v in states[0].items():
        if v.is_floating_point():
            out[k] = sum(l * s[k].float() for l, s in zip(lam, states)).to(v.dtype)
        else:
            out[k] = v.clone()
    return out
