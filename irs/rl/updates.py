"""Policy-gradient updates for one expert: PPO-clip with a trained value head, and RLOO.

Both optimize eq. 2: the objective's reward minus β times the KL to the frozen reference policy.
The stages read top to bottom: kl → token rewards → advantages → clipped loss over epochs → step.
Shapes: B samples, L generated tokens, H hidden size; `mask` [B, L] marks real tokens (incl. EOS).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from irs.config import RLConfig
from irs.rl.policy import exact_kl, forward_logprobs
from irs.rl.sampler import Samples


class ValueHead(torch.nn.Module):
    """V(s_t) from the policy's last hidden state. One per expert; never merged."""

    def __init__(self, hidden: int):
        super().__init__()
        self.v = torch.nn.Linear(hidden, 1)
        torch.nn.init.zeros_(self.v.weight)
        torch.nn.init.zeros_(self.v.bias)

    def forward(self, h: torch.Tensor) -> torch.Tensor:  # [B, L, H] -> [B, L]
        return self.v(h).squeeze(-1)


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1)


def whiten(x: torch.Tensor, mask: torch.Tensor, shift_mean: bool = True) -> torch.Tensor:
    mean = masked_mean(x, mask)
    var = masked_mean((x - mean) ** 2, mask)
    out = (x - mean) * torch.rsqrt(var + 1e-8)
    return (out if shift_mean else out + mean) * mask


def kl_per_token(logp: torch.Tensor, ref_logp: torch.Tensor, estimator: str) -> torch.Tensor:
    """k1 = log π/π_ref; k3 = (r - 1) - log r with r = π_ref/π (Schulman's unbiased, ≥ 0)."""
    log_ratio = logp - ref_logp
    if estimator == "k1":
        return log_ratio
    if estimator == "k3":
        return torch.expm1(-log_ratio) + log_ratio
    raise ValueError(f"unknown KL estimator {estimator!r}")


def gae(token_rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float):
    """Generalized advantage estimation over the masked tokens; V beyond the last token is 0."""
    B, L = token_rewards.shape
    adv = torch.zeros_like(token_rewards)
    last = torch.zeros(B, device=token_rewards.device)
    values = values * mask
    for t in reversed(range(L)):
        next_v = values[:, t + 1] if t + 1 < L else torch.zeros_like(last)
        delta = token_rewards[:, t] + gamma * next_v - values[:, t]
        last = delta + gamma * lam * last
        last = last * mask[:, t]
        adv[:, t] = last
    return adv, adv + values


def rloo_advantages(seq_rewards: torch.Tensor, k: int) -> torch.Tensor:
    """Leave-one-out baseline within groups of k consecutive samples (k = B: the whole batch)."""
    B = seq_rewards.shape[0]
    k = k or B
    g = seq_rewards.view(B // k, k)
    baseline = (g.sum(1, keepdim=True) - g) / (k - 1)
    return (g - baseline).view(B)


@dataclass
class Rollout:
    """Everything an update needs, computed once with no grad (first_pass aside: see make_rollout)."""

    samples: Samples
    scores: torch.Tensor  # [B] objective reward in [0, 1]
    old_logp: torch.Tensor  # [B, L]
    ref_logp: torch.Tensor  # [B, L]
    old_values: torch.Tensor | None
    advantages: torch.Tensor  # [B, L]
    returns: torch.Tensor | None
    kl: torch.Tensor  # [B, L]
    first_pass: tuple | None = None  # (logp, hidden[, dist]) of the policy forward, with its autograd graph
    ref_dist: torch.Tensor | None = None  # [B, L, V] reference log-distributions (kl_penalty = "loss")


def _whole_batch(cfg: RLConfig, B: int) -> bool:
    """True when the update's first minibatch is the whole batch in its original order."""
    return cfg.ppo_epochs >= 1 and (cfg.minibatch_size or B) >= B


@torch.no_grad()
def make_rollout(
    model, ref_model, value_head, samples: Samples, scores: torch.Tensor, cfg: RLConfig, bf16: bool | None
) -> Rollout:
    mask = samples.mask.float().to(scores.device)
    in_loss = cfg.kl_penalty == "loss"
    ref_logp, _, *ref_dist = forward_logprobs(ref_model, samples, bf16, full=in_loss)
    ref_dist = ref_dist[0] if in_loss else None
    # When the update's first minibatch is this whole batch, its forward pass (same weights, same
    # inputs) is this one: keep the graph so that `update` does not run it again. Same numbers.
    reuse = _whole_batch(cfg, len(samples))
    with torch.set_grad_enabled(reuse):
        out = forward_logprobs(model, samples, bf16, hidden=value_head is not None, full=in_loss)
    logp_g, h_g = out[0], out[1]
    old_logp, h = logp_g.detach(), (h_g.detach() if h_g is not None else None)
    first = out if reuse else None
    if in_loss:  # the exact per-token KL: monitored here, penalized in the loss (not in the reward)
        kl = exact_kl(out[2].detach(), ref_dist) * mask
        beta = 0.0
    else:
        kl = kl_per_token(old_logp, ref_logp, cfg.kl_estimator) * mask
        beta = cfg.beta
    if cfg.algo == "ppo":
        values = value_head(h) * mask
        token_rewards = -beta * kl
        last = (mask.sum(1) - 1).clamp(min=0).long()
        token_rewards[torch.arange(len(last), device=last.device), last] += scores
        adv, ret = gae(token_rewards, values, mask, cfg.gamma, cfg.lam)
        if cfg.whiten_advantages:
            adv = whiten(adv, mask)
        return Rollout(samples, scores, old_logp, ref_logp, values, adv, ret, kl, first, ref_dist)
    seq = scores - beta * kl.sum(1)  # eq. 2 at sequence level
    a = rloo_advantages(seq, cfg.rloo_k)
    if cfg.whiten_advantages:
        a = (a - a.mean()) / (a.std() + 1e-8)
    return Rollout(samples, scores, old_logp, ref_logp, None, a[:, None] * mask, None, kl, first, ref_dist)


def _subset(s: Samples, idx: torch.Tensor) -> Samples:
    return Samples(
        s.prompt_ids[idx],
        s.prompt_mask[idx],
        s.tokens[idx],
        s.mask[idx],
        s.finished[idx],
        [s.texts[i] for i in idx.tolist()],
        None if s.logprobs is None else s.logprobs[idx],
        s.sampling,
    )


def update(
    model,
    value_head,
    optimizer,
    ro: Rollout,
    cfg: RLConfig,
    bf16: bool | None,
    generator: torch.Generator | None = None,
    train_policy: bool = True,
) -> dict:
    """ppo_epochs passes of the clipped surrogate (+ clipped value loss under PPO) over minibatches.
    train_policy=False (PPO's value warm-up, rl.vf_warmup): only the value loss is optimized."""
    B = ro.scores.shape[0]
    mb = cfg.minibatch_size or B
    params = [p for g in optimizer.param_groups for p in g["params"]]
    stats = {"pg_loss": 0.0, "vf_loss": 0.0, "clipfrac": 0.0}
    n = 0
    for _ in range(cfg.ppo_epochs):
        order = torch.randperm(B, generator=generator) if mb < B else torch.arange(B)
        for s in range(0, B, mb):
            idx = order[s : s + mb]
            sub = _subset(ro.samples, idx)
            mask = sub.mask.float().to(ro.old_logp.device)
            in_loss = ro.ref_dist is not None
            if ro.first_pass is not None and n == 0 and _whole_batch(cfg, B):
                out, ro.first_pass = ro.first_pass, None  # the rollout's forward, graph kept
            else:
                out = forward_logprobs(model, sub, bf16, hidden=value_head is not None, full=in_loss)
            logp, h = out[0], out[1]
            ratio = torch.exp(logp - ro.old_logp[idx])
            adv = ro.advantages[idx]
            pg = torch.max(-adv * ratio, -adv * ratio.clamp(1 - cfg.cliprange, 1 + cfg.cliprange))
            pg_loss = masked_mean(pg, mask)
            loss = pg_loss if train_policy else 0.0
            if (
                in_loss and train_policy
            ):  # β · mean per-token exact KL(π || π_ref): a low-variance pull towards the reference
                kl_loss = masked_mean(exact_kl(out[2], ro.ref_dist[idx]), mask)
                loss = loss + cfg.beta * kl_loss
                stats["kl_loss"] = stats.get("kl_loss", 0.0) + float(kl_loss.detach())
            if value_head is not None:
                v = value_head(h.detach() if cfg.vf_detach else h)
                old_v, ret = ro.old_values[idx], ro.returns[idx]
                v_clip = old_v + (v - old_v).clamp(-cfg.cliprange_value, cfg.cliprange_value)
                vf_loss = 0.5 * masked_mean(torch.max((v - ret) ** 2, (v_clip - ret) ** 2), mask)
                loss = loss + cfg.vf_coef * vf_loss
                stats["vf_loss"] += float(vf_loss.detach())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            optimizer.step()
            stats["pg_loss"] += float(pg_loss.detach())
            stats["clipfrac"] += float(masked_mean(((ratio - 1).abs() > cfg.cliprange).float(), mask))
            n += 1
    return {k: v / n for k, v in stats.items()}
