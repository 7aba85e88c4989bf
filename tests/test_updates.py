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
