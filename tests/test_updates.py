"""The policy-gradient update's KL terms: the exact per-token KL and the 'loss' placement of beta."""

import copy

import torch

from irs.config import RLConfig
from irs.domains.toy import tokenizer
from irs.rl.policy import build_model, exact_kl, forward_logprobs
from irs.rl.sampler import sample
from irs.rl.updates import make_rollout, update


def test_exact_kl_matches_the_definition_and_ignores_banned_tokens():
    p = torch.log_softmax(torch.tensor([[[2.0, 1.0, float("-inf"), 0.0]]]), -1)
    q = torch.log_softmax(torch.tensor([[[0.5, 1.5, float("-inf"), 0.0]]]), -1)
    want = sum(p[0, 0, i].exp() * (p[0, 0, i] - q[0, 0, i]) for i in (0, 1, 3))
    torch.testing.assert_close(exact_kl(p, q)[0, 0], want)
    assert exact_kl(p, p).abs().max() < 1e-7


def test_kl_in_the_loss_pulls_a_drifted_policy_back_to_the_reference():
    """With a reward that carries no information (all equal), the update's only force is the KL term:
    one step of 'loss' placement lowers the exact KL of a perturbed policy to its reference."""
    tok = tokenizer()
    ref, _ = build_model("tiny:gpt2", tok, seed=0)
    model = copy.deepcopy(ref)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    cfg = RLConfig(algo="rloo", kl_penalty="loss", beta=1.0, lr=1e-2, ppo_epochs=1, batch_size=16)
    s = sample(
        model, tok, 16, max_new_tokens=8, temperature=0.7, generator=torch.Generator().manual_seed(0), bf16=False
    )
    opt = torch.optim.SGD(model.parameters(), lr=cfg.lr)

    def kl():
        with torch.no_grad():
            d = forward_logprobs(model, s, bf16=False, full=True)[2]
            r = forward_logprobs(ref, s, bf16=False, full=True)[2]
            return float((exact_kl(d, r) * s.mask).sum() / s.mask.sum())

    before = kl()
    ro = make_rollout(model, ref, None, s, torch.full((16,), 0.5), cfg, bf16=False)
    assert torch.allclose(ro.advantages, torch.zeros_like(ro.advantages))  # no reward signal, no KL in it
    stats = update(model, None, opt, ro, cfg, bf16=False)
    assert stats["kl_loss"] > 0 and kl() < before


def _ppo_rollout(cfg):
    from irs.rl.updates import ValueHead

    tok = tokenizer()
    ref, _ = build_model("tiny:gpt2", tok, seed=0)
    model = copy.deepcopy(ref)
    vh = ValueHead(model.config.n_embd)
    torch.nn.init.normal_(vh.v.weight, std=0.5)  # a fitted head: the value loss has a gradient into h
    s = sample(model, tok, 8, max_new_tokens=8, temperature=0.7, generator=torch.Generator().manual_seed(0), bf16=False)
    ro = make_rollout(model, ref, vh, s, torch.linspace(0, 1, 8), cfg, bf16=False)
    opt = torch.optim.SGD([*model.parameters(), *vh.parameters()], lr=1e-2)
    return model, vh, opt, ro


def test_value_warmup_trains_only_the_value_head_and_a_detached_head_leaves_the_policy_alone():
    def changed(cfg, train_policy):
        model, vh, opt, ro = _ppo_rollout(cfg)
        before = [p.detach().clone() for p in model.parameters()]
        v0 = vh.v.weight.detach().clone()
        update(model, vh, opt, ro, cfg, bf16=False, train_policy=train_policy)
        moved = max(float((p.detach() - b).abs().max()) for p, b in zip(model.parameters(), before))
        return moved, float((vh.v.weight.detach() - v0).abs().max())

    cfg = RLConfig(algo="ppo", ppo_epochs=1, batch_size=8, vf_coef=1.0)
    policy, head = changed(cfg, train_policy=False)  # warm-up: no policy loss, but the value loss reaches h
    assert head > 0 and policy > 0
    detached = RLConfig(algo="ppo", ppo_epochs=1, batch_size=8, vf_coef=1.0, vf_detach=True)
    policy, head = changed(detached, train_policy=False)
    assert head > 0 and policy == 0.0  # detached warm-up: the policy is untouched
    policy, _ = changed(detached, train_policy=True)
    assert policy > 0  # after the warm-up the policy trains


def test_value_warmup_needs_ppo():
    import pytest

    from irs.config import RunConfig, validate

    cfg = RunConfig.from_dict({"name": "w", "domain": "toy", "rl": {"algo": "rloo", "vf_warmup": 4}})
    with pytest.raises(ValueError, match="rl.vf_warmup"):
        validate(cfg, ["frac_a"])
