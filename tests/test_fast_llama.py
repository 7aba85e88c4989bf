"""The lean Llama decoder: the same logits as the Hugging Face forward, greedy output identical to
`model.generate` (left padding, GQA, LoRA applied in the loop), sampled output equal to the generic path's
from the same generator, and a fallback for what it does not cover."""

import pytest
import torch

from irs.domains.toy import tokenizer
from irs.rl import fast_llama
from irs.rl.policy import build_model
from irs.rl.sampler import encode_prompts, sample
from irs.rl.sft import add_lora


class _Lora:
    r, alpha, dropout, target_modules = 4, 8.0, 0.0, ("q_proj", "v_proj", "down_proj")


def _model(seed=0, lora=False, **cfg):
    tok = tokenizer()
    m, _ = build_model("tiny:llama", tok, seed=seed)
    if cfg:
        from transformers import AutoModelForCausalLM

        from irs.rl.policy import tiny_config

        torch.manual_seed(seed)
        m = AutoModelForCausalLM.from_config(tiny_config("llama", tok.vocab_size, **cfg)).float()
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # sharper random weights so that greedy decoding is not all one token
        for n, p in m.named_parameters():
            if p.dim() > 1 or n.endswith(".bias"):
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    if lora:
        m = add_lora(m, _Lora, seed)
        with torch.no_grad():  # B = 0 at init would make the adapters a no-op: give them an update
            for n, p in m.named_parameters():
                if "lora_B" in n:
                    p.copy_(torch.randn(p.shape, generator=g) * 0.5)
    return m.eval(), tok


PROMPTS = ["CC", "C(=O)N", "", "c1ccccc1O"]


def _generate(m, tok, prompts, n_new):
    ids, mask = encode_prompts(tok, prompts, len(prompts))
    out = m.generate(
        ids,
        attention_mask=mask.long(),
        max_new_tokens=n_new,
        do_sample=False,
        eos_token_id=tok.eos_id,
        pad_token_id=tok.pad_id,
        suppress_tokens=[tok.pad_id, tok.bos_id],
    )
    return out[:, ids.shape[1] :]


@pytest.mark.parametrize(
    "lora,cfg",
    [(False, {}), (True, {}), (False, dict(num_attention_heads=4, num_key_value_heads=2, attention_bias=True))],
    ids=["dense", "lora", "gqa-bias"],
)
def test_greedy_matches_generate_with_left_padded_prompts(lora, cfg):
    m, tok = _model(lora=lora, **cfg)
    assert fast_llama.supports(m)
    s = sample(m, tok, len(PROMPTS), max_new_tokens=16, temperature=0, prompt=PROMPTS, bf16=False)
    gen = _generate(m, tok, PROMPTS, 16)
    L = gen.shape[1]  # generate stops when every row has finished; ours may run a few PAD steps longer
    assert torch.equal(s.tokens[:, :L], gen) and (s.tokens[:, L:] == tok.pad_id).all()
    assert len(set(s.tokens[s.mask].tolist())) > 3  # not a degenerate repetition of one token


def test_decoder_logits_match_hf_forward_at_every_step():
    m, tok = _model(lora=True, num_attention_heads=4, num_key_value_heads=2)
    ids, mask = encode_prompts(tok, PROMPTS, len(PROMPTS))
    extra = torch.randint(3, tok.vocab_size, (len(PROMPTS), 5), generator=torch.Generator().manual_seed(1))
    full = torch.cat([ids, extra], 1)
    attn = torch.cat([mask, torch.ones_like(extra, dtype=torch.bool)], 1)
    pos = (attn.long().cumsum(1) - 1).clamp(min=0)
    with torch.no_grad():
        ref = m(input_ids=full, attention_mask=attn.long(), position_ids=pos).logits
        dec = fast_llama.LlamaDecoder(m, len(PROMPTS), full.shape[1])
        P = ids.shape[1]
        got = [dec.forward(ids, pos[:, :P], attn)]
        for j in range(P, full.shape[1]):
            got.append(dec.forward(full[:, j : j + 1], pos[:, j : j + 1], attn))
    got = torch.stack(got, 1)
    torch.testing.assert_close(got, ref[:, P - 1 :], atol=2e-5, rtol=1e-5)


def test_sampled_tokens_and_logprobs_equal_the_generic_paths():
    m, tok = _model(lora=True)
    kw = dict(max_new_tokens=20, temperature=1.0, top_p=0.95, prompt=PROMPTS * 4, bf16=False)
    a = sample(m, tok, 16, generator=torch.Generator().manual_seed(7), fast=True, **kw)
    b = sample(m, tok, 16, generator=torch.Generator().manual_seed(7), fast=False, **kw)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.mask, b.mask)
    torch.testing.assert_close(a.logprobs, b.logprobs, atol=1e-5, rtol=1e-5)
    assert a.mask.sum() > 16 * 3  # real sequences were drawn, not an immediate EOS


def test_merged_or_disabled_adapters_fall_back_to_the_generic_path():
    m, tok = _model(lora=True)
    assert fast_llama.supports(m)
    with m.disable_adapter():
        assert not fast_llama.supports(m)
        s = sample(m, tok, 2, max_new_tokens=8, temperature=0, bf16=False)  # the generic path, no error
    base_greedy = s.tokens
    m.merge_adapter()
    assert not fast_llama.supports(m)
    m.unmerge_adapter()
    assert fast_llama.supports(m)
    g = _generate(m.get_base_model(), tok, ["", ""], 8)
    assert not torch.equal(base_greedy[:, : g.shape[1]], g)  # the adapters do change what is generated


def test_rows_with_the_same_prompt_share_one_prefill(monkeypatch):
    m, tok = _model(lora=True)
    calls = []
    orig = fast_llama.LlamaDecoder.prefill_shared
    monkeypatch.setattr(
        fast_llama.LlamaDecoder, "prefill_shared", lambda self, ids, *a: calls.append(len(ids)) or orig(self, ids, *a)
    )
    prompts = [PROMPTS[i % 3] for i in range(7)]  # 3 distinct prompts over 7 rows, interleaved
    s = sample(m, tok, 7, max_new_tokens=12, temperature=0, prompt=prompts, bf16=False)
    assert calls == [3]
    gen = _generate(m, tok, prompts, 12)
    assert torch.equal(s.tokens[:, : gen.shape[1]], gen)


def test_shared_prompt_training_forward_matches_one_pass_with_gradients(monkeypatch):
    from irs.rl import policy

    m, tok = _model(lora=True, num_attention_heads=4, num_key_value_heads=2)
    m.train()
    prompts = [PROMPTS[i % 3] for i in range(6)]  # 3 distinct, left-padded, each twice
    s = sample(
        m, tok, 6, max_new_tokens=10, temperature=1.0, prompt=prompts, generator=torch.Generator().manual_seed(3)
    )
    assert policy.shared_prompts(s.prompt_ids) is not None

    def run():
        m.zero_grad(set_to_none=True)
        logp, h = policy.forward_logprobs(m, s, bf16=False, hidden=True)
        (logp.sum() + h.pow(2).mean()).backward()
        grads = {n: p.grad.clone() for n, p in m.named_parameters() if p.grad is not None}
        return logp.detach(), h.detach(), grads

    calls = []
    orig = policy._shared_prompt_forward
    monkeypatch.setattr(policy, "_shared_prompt_forward", lambda *a: calls.append(1) or orig(*a))
    shared = run()
    assert calls == [1]
    monkeypatch.setattr(policy, "shared_prompts", lambda ids: None)
    full = run()
    assert calls == [1]  # the second pass went the one-pass way
    torch.testing.assert_close(shared[0], full[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shared[1], full[1], atol=1e-5, rtol=1e-5)
    assert shared[2].keys() == full[2].keys() and any("lora_A" in n for n in full[2])
    for n in full[2]:
        torch.testing.assert_close(shared[2][n], full[2][n], atol=1e-4, rtol=1e-4)


def test_few_row_matmuls_run_transposed_and_match_the_linear_layer(monkeypatch):
    g = torch.Generator().manual_seed(0)
    w, b = torch.randn(96, 64, generator=g), torch.randn(96, generator=g)
    calls = []
    real_mm = torch.mm
    monkeypatch.setattr(torch, "mm", lambda *a: calls.append(a[0].shape) or real_mm(*a))
    for rows in (1, fast_llama.SKINNY_ROWS):
        x = torch.randn(rows, 1, 64, generator=g)
        y = fast_llama._apply((w, b, []), x)
        assert y.shape == (rows, 1, 96) and torch.allclose(y, torch.nn.functional.linear(x, w, b), atol=1e-5)
    assert calls == [w.shape, w.shape]  # both took the transposed product (W x^T)^T
    x = torch.randn(fast_llama.SKINNY_ROWS + 1, 64, generator=g)
    assert torch.equal(fast_llama._apply((w, b, []), x), torch.nn.functional.linear(x, w, b)) and len(calls) == 2
