"""Merging expert parameters: ρ = Σ_{i∈S} λ_i θ_i (eq. 9), in place, for every expert.

- Parameters are taken from `model.parameters()`, which lists a tied tensor once (GPT-2's lm_head
  is wte), so tied embeddings are merged once and stay tied.
- LoRA experts (peft): the update ΔW_i = B_i A_i is what gets averaged, never A and B separately. The
  merged ΔW = Σ λ_i ΔW_i is folded into every expert's base weight and each B is zeroed, so every
  expert restarts exactly at the merged model while keeping its own adapter basis A.
- Value heads and the frozen reference model are never touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from irs.threads import intra_op_threads


def _lora_layers(model):
    try:
        from peft.tuners.lora import LoraLayer
    except ImportError:  # peft not installed: no LoRA
        return []
    return [(n, m) for n, m in model.named_modules() if isinstance(m, LoraLayer)]


def trainable_params(model, lora_layers=None) -> list[torch.nn.Parameter]:
    """The parameters a merge averages: every unique parameter that trains, except LoRA factors
    (handled apart). Frozen parameters (a LoRA model's base) are identical across experts.
    lora_layers: the model's `_lora_layers`, when the caller has them already."""
    lora_ids = set()
    for _, layer in _lora_layers(model) if lora_layers is None else lora_layers:
        for d in (layer.lora_A, layer.lora_B):
            for mod in d.values():
                lora_ids.update(id(p) for p in mod.parameters())
    return [p for p in model.parameters() if id(p) not in lora_ids and p.requires_grad]


@torch.no_grad()
def merged_tensors(
    models: Sequence[torch.nn.Module], lambdas: Sequence[float], template: torch.nn.Module | None = None
) -> list[torch.Tensor]:
    """Σ λ_i θ_i over dense parameters (LoRA deltas not included), as new tensors. With no models
    (a rank holding none of S) the sum is zeros shaped like `template`."""
    ref = trainable_params(models[0] if models else template)
    out = [torch.zeros_like(p) for p in ref]
    if not out:  # e.g. a LoRA model whose only trainable parameters are the adapters
        return out
    for lam, m in zip(lambdas, models):
        # explicit product then sum (no fused multiply-add), in expert order: the distributed merge
        # adds the same rounded products in the same order and so gets the same bits
        torch._foreach_add_(out, torch._foreach_mul([p.detach() for p in trainable_params(m)], float(lam)))
    return out


_SMALL = 1 << 15  # parameters below this many elements are merged together with foreach ops


@torch.no_grad()
def _write_merged(models, lam: list[float], targets, lora: dict) -> None:
    """ρ = Σ λ_i θ_i written into every target with the same per-element arithmetic as `merged_tensors`
    (zero, then add each rounded product in expert order: the same bits), but faster: the merge is
    memory-bound, so each large parameter goes through two buffers of its size that stay in cache
    (no full-model temporaries), and the many small ones go together through foreach ops (few calls).
    Parameter j of every source is read before parameter j of any target is written, so targets may
    be the sources themselves."""
    params = {id(m): trainable_params(m, lora[id(m)]) for m in [*models, *targets]}
    srcs, dsts = [params[id(m)] for m in models], [params[id(t)] for t in targets]
    small = [j for j, p in enumerate(srcs[0]) if p.numel() < _SMALL]
    if small:
        rho = [torch.zeros_like(srcs[0][j]) for j in small]
        for l, ps in zip(lam, srcs):
            torch._foreach_add_(rho, torch._foreach_mul([ps[j].detach() for j in small], l))
        for ds in dsts:
            torch._foreach_copy_([ds[j] for j in small], rho)
    bufs = {}
    for j, p0 in enumerate(srcs[0]):
        if p0.numel() < _SMALL:
            continue
        key = (p0.dtype, p0.device)
        if key not in bufs:
            n = max(p.numel() for p in srcs[0] if (p.dtype, p.device) == key)
            # λ as 0-dim tensors (no scalar conversion per op) in the dtype a Python float is computed
            # in: float32 for float32/bf16/fp16 parameters, float64 for float64
            sd = torch.float64 if p0.dtype == torch.float64 else torch.float32
            bufs[key] = (
                torch.empty(n, dtype=p0.dtype, device=p0.device),
                torch.empty(n, dtype=p0.dtype, device=p0.device),
                [torch.tensor(x, dtype=sd, device=p0.device) for x in [0.0, *lam]],
            )
        acc, tmp = (b[: p0.numel()].view_as(p0) for b in bufs[key][:2])
        zero, *lt = bufs[key][2]
        # the last sum goes straight into the first target (every source's j is read by then)
        first = dsts[0][j]
        last = first if (first.dtype, first.device) == key and len(srcs) > 1 else acc
        # acc = 0 + λ_0 θ_0, written as λ_0 θ_0 + 0 (IEEE addition commutes: same bits, -0 included)
        torch.mul(srcs[0][j].detach(), lt[0], out=acc)
        acc.add_(zero)
        for i in range(1, len(srcs)):
            torch.mul(srcs[i][j].detach(), lt[i], out=tmp)
            torch.add(acc, tmp, out=last if i == len(srcs) - 1 else acc)
        if last is acc:
            first.copy_(acc)
        for ds in dsts[1:]:
            ds[j].copy_(last)


@torch.no_grad()
def merge_into(
    models: Sequence[torch.nn.Module],
    lambdas: Sequence[float],
    targets: Sequence[torch.nn.Module] | None = None,
    comm=None,
) -> None:
    """Write ρ = Σ λ_i θ_i (dense parameters and LoRA updates) into every model of `targets`
    (default: `models` themselves).

    In a distributed run each rank passes only its own experts of S with their λ, and `comm`
    (irs.algorithms.distributed) sums the partial merges over ranks: a weighted all-reduce. Without
    `comm`, `lambdas` must be non-negative and sum to 1."""
    lam = [float(x) for x in lambdas]
    if len(lam) != len(models) or any(x < 0 for x in lam) or (comm is None and abs(sum(lam) - 1) > 1e-6):
        raise ValueError(f"merge weights must be {len(models)} non-negative numbers summing to 1, got {lam}")
    targets = list(models) if targets is None else list(targets)
    template = models[0] if models else targets[0]
    lora = {id(m): _lora_layers(m) for m in [*models, *targets, template]}  # one module walk per model
    # Distributed: the partial sum must exist whole for the all-reduce. On a GPU allocation is cheap and
    # few large kernels beat many small ones. Local on CPU: no full-size temporaries (_write_merged).
    cpu = all(p.device.type == "cpu" for p in trainable_params(template, lora[id(template)]))
    rho = merged_tensors(models, lam, template) if comm is not None or not cpu else None
    # LoRA: average the updates B A (computed before any target is overwritten).
    layer_lists = [lora[id(m)] for m in models]
    deltas = []
    for j, (_, layer0) in enumerate(lora[id(template)]):
        for adapter in layer0.lora_A:
            d = torch.zeros_like(layer0.get_base_layer().weight)
            for l, ll in zip(lam, layer_lists):
                d += l * ll[j][1].get_delta_weight(adapter)
            deltas.append((j, adapter, d))
    if comm is not None:
        comm.allreduce_(rho + [d for _, _, d in deltas])
    elif rho is None:
        # one thread: ~8 ops per parameter of <= a few MB each, where fork-join costs more than it
        # saves (3 x 4.9M params, 2 cores: 14-17 ms on one thread, 16-31 ms on two unless OpenMP spins)
        with intra_op_threads(1):
            _write_merged(models, lam, targets, lora)
    for tgt in targets:
        if rho:
            torch._foreach_copy_(trainable_params(tgt, lora[id(tgt)]), rho)
        tl = lora[id(tgt)]
        for j, adapter, d in deltas:
            layer = tl[j][1]
            base = layer.get_base_layer().weight
            # fold the merged update into the base weight (which already holds the merged dense part);
            # peft's get_delta_weight returns ΔW in the base weight's layout (fan_in_fan_out handled)
            base.add_(d.to(base.dtype))
            layer.lora_B[adapter].weight.zero_()


@torch.no_grad()
def merge_optimizer_states(
    optimizers: Sequence[torch.optim.Optimizer],
    lambdas: Sequence[float],
    params: Sequence[Sequence[torch.nn.Parameter]],
    mode: str,
    comm=None,
    targets: Sequence[tuple[torch.optim.Optimizer, Sequence]] | None = None,
) -> None:
    """What happens to optimizer state at a merge: 'keep' (nothing), 'reset' (clear moments) or
    'average' (λ-weighted average of every state tensor, written back to every optimizer in
    `targets`, default the merged ones). `comm` sums partial averages over ranks."""
    if mode == "keep":
        return
    targets = list(zip(optimizers, params)) if targets is None else list(targets)
    if mode == "reset":
        for opt, _ in targets:
            opt.state.clear()
        return
    if mode != "average":
        raise ValueError(f"unknown optimizer_state {mode!r}")
    if not targets:
        return
    topt, tparams = targets[0]
    for j in range(len(tparams)):
        keys = [
            k
            for k, v in topt.state.get(tparams[j], {}).items()
            if torch.is_tensor(v) and v.is_floating_point() and v.dim() > 0
        ]
        for key in keys:
            avg = torch.zeros_like(topt.state[tparams[j]][key])
            for l, opt, ps in zip(lambdas, optimizers, params):
                avg += float(l) * opt.state[ps[j]][key]
            if comm is not None:
                comm.allreduce_([avg])
            for opt, ps in targets:
                opt.state[ps[j]][key].copy_(avg)


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
