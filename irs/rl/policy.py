"""Policies: build or load a Hugging Face causal LM, and compute masked log-probs and values.

`build_model("tiny:gpt2" | "tiny:llama" | model_dir, vocab_size)` gives the model for a run. Dropout is
switched off (RL with dropout makes old/new log-probs disagree). The value head used by PPO lives in
`irs.rl.ppo`; it reads the hidden states returned here.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from irs.rl import fast_gpt2, fast_llama
from irs.rl.sampler import Samples, autocast, sampling_logprobs
from irs.tokenizer import VocabTokenizer

log = logging.getLogger(__name__)

# Tiny random configs for tests and the smoke run (explained: 2 layers, 64 wide: instant on CPU).
TINY = {
    "gpt2": dict(n_layer=2, n_head=2, n_embd=64, n_positions=128),
    "llama": dict(
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        hidden_size=64,
        intermediate_size=128,
        max_position_embeddings=1024,
        tie_word_embeddings=True,
    ),
}


def tiny_config(kind: str, vocab_size: int, **overrides):
    from transformers import GPT2Config, LlamaConfig

    if kind == "gpt2":
        return GPT2Config(
            vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=0, **{**TINY["gpt2"], **overrides}
        )
    if kind == "llama":
        # RoPE has no position parameters: 1024 positions cost nothing and fit the text domain's prompts
        return LlamaConfig(
            vocab_size=vocab_size, bos_token_id=1, eos_token_id=2, pad_token_id=0, **{**TINY["llama"], **overrides}
        )
    raise ValueError(f"unknown tiny model kind {kind!r}; use 'gpt2' or 'llama'")


def disable_dropout(model: torch.nn.Module) -> torch.nn.Module:
    for m in model.modules():
        if isinstance(m, torch.nn.Dropout):
            m.p = 0.0
    cfg = getattr(model, "config", None)
    for k in ("resid_pdrop", "embd_pdrop", "attn_pdrop", "attention_dropout", "hidden_dropout"):
        if cfg is not None and hasattr(cfg, k):
            setattr(cfg, k, 0.0)
    return model


def build_model(spec: str, tokenizer: VocabTokenizer | None = None, seed: int = 0):
    """(model, tokenizer) from a spec: "tiny:gpt2", "tiny:llama" (needs tokenizer) or a model directory."""
    from transformers import AutoModelForCausalLM

    from irs.checkpoint import load_model_dir

    if spec.startswith("tiny:"):
        if tokenizer is None:
            raise ValueError(f"model {spec!r} needs the domain's tokenizer")
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(tiny_config(spec[5:], tokenizer.vocab_size))
    else:
        from irs.model_import import ensure_imported
        from irs.paths import resolve

        path = resolve(spec)
        ensure_imported(path)  # a packaged default model (the text domain's SmolLM2) on first use
        if not Path(path).is_dir():
            raise FileNotFoundError(f"model directory {spec!r} not found")
        model, tokenizer = load_model_dir(path)
    model.float()
    return disable_dropout(model), tokenizer


def starting_model(cfg, domain, seed: int | None = None):
    """(model, tokenizer) a run starts from: cfg.model, else the domain's default; `tiny:*` models are
    built with the domain's tokenizer. seed: of a tiny model's init (default cfg.seed)."""
    return build_model(
        cfg.model or domain.default_model, domain.build_tokenizer(), seed=cfg.seed if seed is None else seed
    )


def rollout_inputs(s: Samples):
    """Concatenate prompt and generation: ids [B, P+L], attention mask, position ids, and P."""
    ids = torch.cat([s.prompt_ids, s.tokens], 1)
    attn = torch.cat([s.prompt_mask, s.mask], 1)
    pos = (attn.long().cumsum(1) - 1).clamp(min=0)
    return ids, attn, pos, s.prompt_ids.shape[1]


def shared_prompts(prompt_ids: torch.Tensor):
    """(first, rows) when some rows share a prompt (RLOO's samples per prompt): `first` [U] indexes one
    row of each distinct prompt, `rows` [B] gives each row's prompt among them. None when all differ or
    the prompt is a single token (nothing worth sharing)."""
    if prompt_ids.shape[1] < 2:
        return None
    uniq, rows = torch.unique(prompt_ids, dim=0, return_inverse=True)
    B = prompt_ids.shape[0]
    if len(uniq) == B:
        return None
    first = torch.full((len(uniq),), B, dtype=torch.long, device=prompt_ids.device)
    first = first.scatter_reduce(0, rows, torch.arange(B, device=prompt_ids.device), "amin")
    return first, rows


def _shared_prompt_forward(model, ids, attn, pos, P, padded, hidden, shared):
    """The logits (and last hidden states) that predict the generated tokens, [B, L, ...], with each
    distinct prompt run once: its KV cache is copied to the rows that share it and the generations
    attend to it (gradients flow back through the copies). Same math as one pass over the whole batch;
    the prompt's own logits, never used, are not computed (logits_to_keep=1)."""
    first, rows = (x.to(ids.device) for x in shared)
    pm = attn[first, :P]
    out_p = model(
        input_ids=ids[first, :P],
        attention_mask=pm.long() if padded else None,
        position_ids=pos[first, :P],
        use_cache=True,
        logits_to_keep=1,
        output_hidden_states=hidden,
    )
    cache = out_p.past_key_values
    cache.batch_select_indices(rows)
    out_c = model(
        input_ids=ids[:, P:-1],
        attention_mask=attn[:, :-1].long() if padded else None,
        position_ids=pos[:, P:-1],
        cache=cache,
        use_cache=True,
        output_hidden_states=hidden,
    )
    logits = torch.cat([out_p.logits[:, -1:][rows], out_c.logits], 1)
    hs = None
    if hidden:
        hs = torch.cat([out_p.hidden_states[-1][:, -1:][rows], out_c.hidden_states[-1]], 1)
    return logits, hs


def forward_logprobs(model, s: Samples, bf16: bool | None = None, hidden: bool = False, full: bool = False):
    """Per-token log-probs of the generated tokens, [B, L] (0 where masked), under the distribution the
    sampler drew them from (`s.sampling`: temperature, top-k/top-p, banned tokens), and optionally the
    last hidden states at the positions that predict them, [B, L, H]. With `full`, a third value: the
    whole log-distribution at every position, [B, L, V] (-inf at tokens that cannot be drawn)."""
    dev = next(model.parameters()).device
    ids, attn, pos, P = (x.to(dev) if torch.is_tensor(x) else x for x in rollout_inputs(s))
    # Without left padding the causal mask already hides the trailing PADs from earlier tokens.
    padded = not bool(s.prompt_mask.all())
    with autocast(bf16, ids.device):
        if fast_gpt2.supports_forward(model):
            # lean GPT-2 pass (fused GELU, no HF overhead); the last token predicts nothing we need
            T = ids.shape[1] - 1
            hs = fast_gpt2.forward(model, ids[:, :T], pos[:, :T], attn[:, :T] if padded else None)[:, P - 1 :]
            logits = model.lm_head(hs)
        elif ids.shape[1] > P + 1 and fast_llama.supports(model) and (shared := shared_prompts(s.prompt_ids)):
            # the Llama family (what this path is tested on): each distinct prompt once
            logits, hs = _shared_prompt_forward(model, ids, attn, pos, P, padded, hidden, shared)
        else:
            out = model(
                input_ids=ids,
                attention_mask=attn.long() if padded else None,
                position_ids=pos,
                output_hidden_states=hidden,
            )
            logits = out.logits[:, P - 1 : -1]
            hs = out.hidden_states[-1][:, P - 1 : -1] if hidden else None
    tokens, mask = s.tokens.to(dev), s.mask.to(dev)
    dist = sampling_logprobs(logits, s.sampling, tokens)  # [B, L, V]
    logp = dist.gather(-1, tokens[..., None]).squeeze(-1)  # [B, L]
    logp = torch.where(mask, logp, torch.zeros((), device=logp.device))  # PAD after EOS: banned, -inf
    h = hs.float() if hidden else None
    return (logp, h, dist) if full else (logp, h)


def exact_kl(dist: torch.Tensor, ref_dist: torch.Tensor) -> torch.Tensor:
    """KL(π || π_ref) at every position, summed over the vocabulary: [B, L, V] log-distributions -> [B, L].
    Tokens neither can draw (banned, -inf in both) contribute 0."""
    p = dist.exp()
    term = p * (dist - ref_dist)
    return torch.where(p > 0, term, torch.zeros((), device=term.device)).sum(-1)
