"""The engine's speed paths compute what the plain paths compute: the lean GPT-2 forward against the
Hugging Face forward, the reused rollout pass against a fresh one, the cache-sized merge against
`merged_tensors` (bit for bit)."""

import copy
from unittest import mock

import pytest
import torch

from irs.algorithms.merging import merge_into, merged_tensors, trainable_params
from irs.domains.toy import tokenizer
from irs.rl import fast_gpt2, updates
from irs.rl.policy import build_model, forward_logprobs
from irs.rl.sampler import sample


def _model(seed=0):
    tok = tokenizer()
    m, _ = build_model("tiny:gpt2", tok, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # sharper weights than the default init, so that differences would show
        for p in m.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m.train(), tok


@pytest.mark.parametrize("prompt", [None, ["ab", "a", "abcab", "c"]])
def test_lean_forward_matches_hf_forward(prompt):
    m, tok = _model()
    assert fast_gpt2.supports_forward(m)
    s = sample(
        m,
        tok,
        4,
        max_new_tokens=12,
        temperature=1.0,
        prompt=prompt,
        generator=torch.Generator().manual_seed(2),
        bf16=False,
    )
    out = []
    for fast in (True, False):
        with mock.patch.object(fast_gpt2, "supports_forward", lambda model, fast=fast: fast):
            m.zero_grad()
            lp, h = forward_logprobs(m, s, bf16=False, hidden=True)
            (lp.sum() + h.square().mean()).backward()
            out.append((lp.detach(), h.detach(), torch.cat([p.grad.flatten() for p in m.parameters()])))
    (a, ha, ga), (b, hb, gb) = out
    torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ha, hb, atol=1e-5, rtol=1e-5)
    assert float((ga - gb).norm() / gb.norm()) < 1e-5
    assert (a[~s.mask] == 0).all() and (a[s.mask] < 0).all()


def test_lean_forward_declines_models_it_does_not_cover():
    m, _ = _model()
    m.config.resid_pdrop = 0.1  # active dropout in training mode: the HF forward must run it
    assert not fast_gpt2.supports_forward(m) and fast_gpt2.supports_forward(m.eval())


@pytest.mark.parametrize("algo,minibatch", [("rloo", 0), ("ppo", 0), ("ppo", 4)])
def test_reused_rollout_pass_gives_the_same_update(algo, minibatch):
    from irs.algorithms.trainer import Trainer
    from irs.config import RunConfig

    def run(reuse):
        cfg = RunConfig(domain="toy", model="tiny:gpt2", seed=0)
        cfg.rl.algo, cfg.rl.batch_size, cfg.rl.lr, cfg.rl.bf16, cfg.rl.ppo_epochs = algo, 8, 1e-2, "off", 2
        cfg.rl.minibatch_size = minibatch
        tr = Trainer(cfg)
        with mock.patch.object(updates, "_whole_batch", updates._whole_batch if reuse else lambda c, B: False):
            recs = [tr.expert_step(0, t) for t in range(2)]
        return [p.detach().clone() for p in tr.experts[0].model.parameters()], recs

    (pa, ra), (pb, rb) = run(True), run(False)
    assert all(torch.equal(x, y) for x, y in zip(pa, pb))
    assert [{k: v for k, v in r.items() if k != "seconds"} for r in ra] == [
        {k: v for k, v in r.items() if k != "seconds"} for r in rb
    ]


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_merge_into_is_bit_identical_to_merged_tensors(dtype):
    models = [_model(seed)[0].to(dtype) for seed in range(3)]
    with torch.no_grad():  # signed zeros must come out as the reference sum makes them (0 + -0 = +0)
        for m in models:
            m.transformer.h[0].ln_1.bias.fill_(-0.0)
    for lam in ([0.5, 0.3, 0.2], [0.0, 0.0, 1.0], [1 / 3, 1 / 3, 1 / 3]):
        ref = merged_tensors(models, lam)
        scratch = copy.deepcopy(models[2])
        merge_into(models, lam, targets=[scratch])
        merge_into(models, lam)
        for m in (scratch, *models):
            for p, r in zip(trainable_params(m), ref):
                assert torch.equal(p, r) and torch.equal(torch.signbit(p), torch.signbit(r))
        assert models[0].lm_head.weight.data_ptr() == models[0].transformer.wte.weight.data_ptr()  # still tied


def test_decode_threads_keep_the_tokens_and_restore_the_setting():
    from irs.rl import sampler

    m, tok = _model()
    n = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        seen = []
        real_step = fast_gpt2.GPT2Decoder.step

        def step(self, *a, **kw):
            seen.append(torch.get_num_threads())
            return real_step(self, *a, **kw)

        runs = {}
        with mock.patch.object(fast_gpt2.GPT2Decoder, "step", step):
            for threads in (1, 2):
                runs[threads] = sample(
                    m,
                    tok,
                    8,
                    max_new_tokens=10,
                    temperature=1.0,
                    threads=threads,
                    generator=torch.Generator().manual_seed(4),
                    bf16=False,
                ).tokens
            seen.clear()
            with mock.patch.object(sampler, "_busy_cpu", lambda: True):  # auto: one thread on a busy CPU
                sample(m, tok, 4, max_new_tokens=4, bf16=False)
        assert torch.equal(runs[1], runs[2])
        assert seen and set(seen) == {1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize("bf16", [False, True])
@pytest.mark.parametrize("prompts", [None, "padded"])
def test_row_split_decode_gives_the_one_batch_tokens_and_logprobs(bf16, prompts):
    from irs.rl import sampler

    m, tok = _model()
    n = 2 * sampler.MIN_GROUP_ROWS + 3  # two uneven groups
    prompt = None if prompts is None else [["ab", "a", "abcab", "c"][i % 4] for i in range(n)]
    split_groups, seen = [], []
    real_groups, real_step = sampler.row_groups, fast_gpt2.GPT2Decoder.step

    def step(self, tok_, *a, **kw):
        seen.append((tok_.shape[0], torch.get_num_threads(), torch.is_inference_mode_enabled()))
        return real_step(self, tok_, *a, **kw)

    def run(groups):
        def fake(B, device, threads=None):
            split_groups.append(groups(B))
            return groups(B)

        with mock.patch.object(sampler, "row_groups", fake), mock.patch.object(fast_gpt2.GPT2Decoder, "step", step):
            return sample(
                m,
                tok,
                n,
                max_new_tokens=12,
                temperature=1.0,
                prompt=prompt,
                generator=torch.Generator().manual_seed(3),
                bf16=bf16,
            )

    one = run(lambda B: [slice(0, B)])
    seen.clear()
    two = run(lambda B: real_groups(B, "cpu", threads=2))
    assert [g.stop - g.start for g in split_groups[-1]] == [17, 18]
    assert torch.equal(one.tokens, two.tokens) and torch.equal(one.logprobs, two.logprobs)
    assert {s[0] for s in seen} == {17, 18} and all(t == 1 and inf for _, t, inf in seen)


def test_row_groups_split_only_cpu_batches_with_enough_rows_per_thread():
    from irs.rl.sampler import MIN_GROUP_ROWS, row_groups

    assert row_groups(64, "cpu", threads=2) == [slice(0, 32), slice(32, 64)]
    assert row_groups(2 * MIN_GROUP_ROWS - 1, "cpu", threads=2) == [slice(0, 2 * MIN_GROUP_ROWS - 1)]
    assert row_groups(64, "cpu", threads=1) == [slice(0, 64)]
    assert row_groups(64, "meta", threads=8) == [slice(0, 64)]  # not a CPU: one batch
    assert len(row_groups(256, "cpu", threads=4)) == 4
