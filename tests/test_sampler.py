"""The one sampler: EOS masking, determinism, agreement with model.generate and the HF forward."""

import pytest
import torch

from irs.domains.toy import tokenizer
from irs.rl.fast_gpt2 import GPT2Decoder
from irs.rl.policy import build_model, forward_logprobs
from irs.rl.sampler import filter_logits, sample


def _model(kind="gpt2", seed=0):
    tok = tokenizer()
    m, _ = build_model(f"tiny:{kind}", tok, seed=seed)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():  # sharper random weights so that greedy decoding is not all one token
        for p in m.parameters():
            if p.dim() > 1:
                p.copy_(torch.randn(p.shape, generator=g) * 0.3)
    return m.eval(), tok


@pytest.mark.parametrize("kind", ["gpt2", "llama"])
def test_greedy_matches_generate(kind):
    m, tok = _model(kind)
    s = sample(m, tok, 3, max_new_tokens=12, temperature=0, bf16=False)
    ref = m.generate(
        torch.tensor([[tok.bos_id]] * 3),
        attention_mask=torch.ones(3, 1, dtype=torch.long),
        max_new_tokens=12,
        do_sample=False,
        eos_token_id=tok.eos_id,
        pad_token_id=tok.pad_id,
        suppress_tokens=[tok.pad_id, tok.bos_id],
    )
    gen = ref[:, 1:]
    L = gen.shape[1]  # generate stops when all rows finished; ours may run a few PAD steps longer
    assert torch.equal(s.tokens[:, :L], gen) and (s.tokens[:, L:] == tok.pad_id).all()
    assert len(set(s.tokens[0].tolist())) > 1  # not a degenerate single-token sequence


def test_fast_decoder_logits_match_hf_forward():
    m, tok = _model("gpt2")
    ids = torch.randint(4, tok.vocab_size, (5, 9))
    ids[:, 0] = tok.bos_id
    ref = m(input_ids=ids).logits
    dec = GPT2Decoder(m, 5, 9)
    with torch.no_grad():
        for t in range(9):
            out = dec.step(ids[:, t], torch.full((5,), t))
            torch.testing.assert_close(out, ref[:, t], atol=1e-4, rtol=1e-4)


def test_fast_and_generic_paths_agree_with_left_padded_prompts():
    m, tok = _model("gpt2")
    prompts = ["ab", "a", "abcab", "c"]
    a = sample(m, tok, 4, max_new_tokens=10, temperature=0, prompt=prompts, fast=True, bf16=False)
    b = sample(m, tok, 4, max_new_tokens=10, temperature=0, prompt=prompts, fast=False, bf16=False)
    assert torch.equal(a.tokens, b.tokens)
    # a left-padded prompt must give the same continuation as that prompt alone
    c = sample(m, tok, 1, max_new_tokens=10, temperature=0, prompt="a", bf16=False)
    assert torch.equal(a.tokens[1, : c.tokens.shape[1]], c.tokens[0])


def test_eos_masking_and_padding():
    m, tok = _model("gpt2")
    with torch.no_grad():  # make EOS likely so that rows finish at different times
        m.lm_head.weight[tok.eos_id] += 0.15 * m.lm_head.weight.mean(0)
        m.transformer.wte.weight[tok.eos_id].mul_(1.0)
    s = sample(m, tok, 64, max_new_tokens=20, temperature=1.0, generator=torch.Generator().manual_seed(1), bf16=False)
    for row, mk, fin in zip(s.tokens, s.mask, s.finished):
        eos = (row == tok.eos_id).nonzero()
        if fin:
            e = int(eos[0])
            assert mk[: e + 1].all() and not mk[e + 1 :].any()
            assert (row[e + 1 :] == tok.pad_id).all()
        else:
            assert mk.all() and len(eos) == 0
    assert s.finished.any() and (s.lengths > 1).any()
    # texts stop before EOS
    for txt, row, mk in zip(s.texts, s.tokens, s.mask):
        assert txt == tok.decode(row[mk].tolist())


def test_determinism_under_seed():
    m, tok = _model("gpt2")
    a = sample(m, tok, 16, max_new_tokens=12, generator=torch.Generator().manual_seed(3), bf16=False)
    b = sample(m, tok, 16, max_new_tokens=12, generator=torch.Generator().manual_seed(3), bf16=False)
    c = sample(m, tok, 16, max_new_tokens=12, generator=torch.Generator().manual_seed(4), bf16=False)
    assert torch.equal(a.tokens, b.tokens) and not torch.equal(a.tokens, c.tokens)


def test_top_k_top_p_filtering():
    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    k = filter_logits(logits, top_k=2)
    assert torch.isinf(k[0, 2:]).all() and torch.isfinite(k[0, :2]).all()
    p = filter_logits(logits, top_p=0.7)  # probs ~ .64 .24 .09: keep the first two (crossing 0.7)
    assert torch.isfinite(p[0, :2]).all() and torch.isinf(p[0, 2:]).all()
    m, tok = _model("gpt2")
    s = sample(m, tok, 32, max_new_tokens=8, top_k=1, temperature=1.0, bf16=False)
    g = sample(m, tok, 32, max_new_tokens=8, temperature=0, bf16=False)
    assert torch.equal(s.tokens, g.tokens[:, : s.tokens.shape[1]])  # top-1 sampling is greedy


def test_logprobs_are_masked_and_match_sampling_distribution():
    m, tok = _model("gpt2")
    s = sample(m, tok, 8, max_new_tokens=10, temperature=1.0, generator=torch.Generator().manual_seed(0), bf16=False)
    lp, h = forward_logprobs(m, s, bf16=False, hidden=True)
    assert lp.shape == s.tokens.shape and h.shape[:2] == s.tokens.shape
    assert (lp[~s.mask] == 0).all() and (lp[s.mask] < 0).all()
    # the first token's log-prob is log softmax of the BOS logits over the tokens that can be drawn
    logits = m(input_ids=torch.tensor([[tok.bos_id]])).logits[0, -1].clone()
    logits[[tok.pad_id, tok.bos_id]] = float("-inf")
    torch.testing.assert_close(lp[:, 0], torch.log_softmax(logits, -1)[s.tokens[:, 0]], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    "temperature,top_k,top_p,prompts",
    [
        (0.7, 0, 1.0, None),
        (1.3, 0, 1.0, None),
        (0.7, 5, 1.0, None),
        (0.9, 0, 0.8, None),
        (0.7, 6, 0.9, ["ab", "a", "abcab", "c"] * 2),
    ],
)
def test_forward_logprobs_reproduce_the_samplers_own(temperature, top_k, top_p, prompts):
    """The trained policy is the sampled one: the update's log-probs of a batch equal the log-probs the
    sampler drew it with (temperature, top-k, top-p, banned tokens, left padding), and differ from the
    raw logits' log-probs whenever the temperature is not 1."""
    m, tok = _model("gpt2")
    s = sample(
        m,
        tok,
        8,
        max_new_tokens=12,
        temperature=temperature,
        top_k=top_k,
        top_p=top_p,
        prompt=prompts,
        generator=torch.Generator().manual_seed(3),
        bf16=False,
    )
    assert s.logprobs is not None and (s.logprobs[~s.mask] == 0).all()
    lp, _ = forward_logprobs(m, s, bf16=False)
    torch.testing.assert_close(lp, s.logprobs, atol=2e-5, rtol=1e-5)
    if temperature != 1.0:
        from dataclasses import replace

        raw = replace(s, sampling=replace(s.sampling, temperature=1.0, top_k=0, top_p=1.0))
        lp_raw, _ = forward_logprobs(m, raw, bf16=False)
        assert (lp_raw - lp)[s.mask].abs().max() > 1e-2


def test_filtered_token_keeps_a_finite_logprob_after_the_weights_move():
    """A token drawn under top-k that the moved policy would no longer keep still has a finite log-prob
    (PPO ratios and KL stay finite)."""
    from irs.rl.sampler import SamplingParams, sampling_logprobs

    logits = torch.tensor([[4.0, 3.0, 2.0, 1.0, 0.0]])
    lp = sampling_logprobs(logits, SamplingParams(1.0, top_k=2), tokens=torch.tensor([4]))
    assert torch.isfinite(lp[0, [0, 1, 4]]).all() and torch.isinf(lp[0, [2, 3]]).all()
    torch.testing.assert_close(lp[0, [0, 1, 4]].exp().sum(), torch.tensor(1.0))


def test_generation_stops_at_the_models_context():
    import copy

    m, tok = _model("gpt2")  # n_positions = 128
    tok = copy.copy(tok)
    tok.eos_id = 10_000  # an id the model never emits: no row finishes
    s = sample(m, tok, 2, max_new_tokens=500, temperature=1.0, bf16=False)
    assert s.tokens.shape[1] == 127 and not s.finished.any()


def test_prompt_only_tokens_are_never_sampled(tmp_path):
    """RiC's score tokens live in prompts only: the sampler bans them like PAD and BOS, even when the
    model puts almost all its mass on them; the ban survives a tokenizer save/load."""
    from irs.algorithms.ric import conditioned_tokenizer
    from irs.tokenizer import VocabTokenizer

    base = tokenizer()
    tok = conditioned_tokenizer(base, 2, 3)  # <o0> <o1> <v0> <v1> <v2>
    tok.save(tmp_path)
    tok = VocabTokenizer.load(tmp_path)
    assert [tok.vocab[i] for i in tok.prompt_only_ids] == ["<o0>", "<o1>", "<v0>", "<v1>", "<v2>"]
    m, _ = build_model("tiny:gpt2", tok, seed=0)
    with torch.no_grad():  # bias the output layer heavily towards the prompt-only tokens
        m.lm_head.weight.zero_()
        m.transformer.wte.weight[tok.prompt_only_ids] = 0.0
        m.lm_head.weight[tok.prompt_only_ids, :] = 0.0
    head = torch.nn.Linear(m.config.n_embd, tok.vocab_size, bias=True)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
        head.bias[tok.prompt_only_ids] = 20.0  # e^20 times more likely than any other token
    m.lm_head = head
    m.config.tie_word_embeddings = False
    s = sample(
        m,
        tok,
        64,
        max_new_tokens=8,
        temperature=1.0,
        prompt="<o0><v2><o1><v0>",
        fast=False,
        generator=torch.Generator().manual_seed(0),
    )
    generated = s.tokens[s.mask]
    assert generated.numel() > 0
    assert not torch.isin(generated, torch.tensor(tok.prompt_only_ids)).any()
    assert s.prompt_ids[0, 1:].tolist() == tok.encode("<o0><v2><o1><v0>", add_bos=False)  # prompts keep them
