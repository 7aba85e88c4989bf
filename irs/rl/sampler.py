"""The one batched sampler with a KV cache, used by training, evaluation, the CLI and the app.

Prompts are left-padded so that every row's next token sits in the last column. Per token step we run
one cached forward pass and a few fused tensor ops (temperature, top-k, top-p, multinomial); rows that
emitted EOS keep producing PAD, which is masked. The loop stops as soon as every row has finished.
"""

from __future__ import annotations

import contextlib
import functools
import os
from dataclasses import dataclass

import torch

from irs.threads import busy_cpu as _busy_cpu
from irs.threads import intra_op_threads
from irs.tokenizer import VocabTokenizer


def bf16_supported() -> bool:
    """True where bf16 matmuls are fast: CUDA with bf16, or a CPU with AMX. avx512_bf16 alone is not
    enough: on such a CPU (this project's 2-core machines) a bf16-autocast RL step took 1.4-1.5x the
    fp32 time, in TRL as in this engine (benchmarks/engine_speed.py, docs/results/engine_speed.json).

    IRS_BF16=on|off overrides the detection (the test suite pins it off, so that results do not depend
    on whether the CPU has AMX)."""
    env = os.environ.get("IRS_BF16", "").strip().lower()
    if env in ("on", "1", "true"):
        return True
    if env in ("off", "0", "false"):
        return False
    if env not in ("", "auto"):
        raise ValueError(f"IRS_BF16 must be on, off or auto, not {env!r}")
    return _hardware_bf16()


@functools.cache
def _hardware_bf16() -> bool:
    if torch.cuda.is_available():
        return torch.cuda.is_bf16_supported()
    try:
        flags = open("/proc/cpuinfo").read()
    except OSError:
        return False
    return "amx_bf16" in flags


def measure_bf16(model, device: torch.device | str = "cpu", batch: int = 16, length: int = 48, reps: int = 5) -> dict:
    """Time one training forward + backward of `model` in fp32 and under bf16 autocast on random tokens,
    alternating the two `reps` times after a warm-up and keeping each one's fastest pass (other load on the
    machine slows both alike and only ever adds time): {"fp32_ms", "bf16_ms", "bf16"}, bf16 chosen only when
    at least 10 % faster. What `rl.bf16 = "auto"` decides by (irs.runs.worker), instead of a CPU flag."""
    import copy
    import time

    m = copy.deepcopy(model).to(device).train()
    vocab = int(getattr(m.config, "vocab_size", 64))
    n_pos = getattr(m.config, "n_positions", None) or getattr(m.config, "max_position_embeddings", None)
    length = min(length, int(n_pos)) if n_pos else length
    ids = torch.randint(0, vocab, (batch, length), generator=torch.Generator().manual_seed(0)).to(device)

    def once(on: bool) -> float:
        t0 = time.perf_counter()
        with torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16, enabled=on):
            out = m(input_ids=ids).logits.float().mean()
        out.backward()
        m.zero_grad(set_to_none=True)
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize()
        return (time.perf_counter() - t0) * 1000

    once(False), once(True)  # warm-up
    times = {False: [], True: []}
    for _ in range(reps):
        for on in (False, True):
            times[on].append(once(on))
    res = {"fp32_ms": round(min(times[False]), 2), "bf16_ms": round(min(times[True]), 2), "length": length}
    res["bf16"] = bool(res["bf16_ms"] < 0.9 * res["fp32_ms"])
    return res


def autocast(bf16: bool | None, device: torch.device | str = "cpu"):
    """bf16 autocast context (weights stay fp32). None means: on where the hardware supports it."""
    on = bf16_supported() if bf16 is None else bf16
    if not on:
        return contextlib.nullcontext()
    return torch.autocast(device_type=torch.device(device).type, dtype=torch.bfloat16)


@contextlib.contextmanager
def decode_threads(device, threads: int | None):
    """torch's intra-op threads for the token loop, restored afterwards (the setting is process-wide).

    A decode step is a few dozen tiny ops (a 64 x 256 row block per matmul for a small model), each a
    fork-join across threads. On a CPU with no idle core the joins wait for descheduled threads: on 2
    shared cores at load 2-8 the loop ran 1.6-2x faster on one thread than on two, with the same
    tokens. None: one thread on a busy CPU (load average above the cores), else torch's setting."""
    n = torch.get_num_threads()
    if threads is None:
        threads = 1 if torch.device(device).type == "cpu" and n > 1 and _busy_cpu() else n
    with intra_op_threads(threads):
        yield


@dataclass(frozen=True)
class SamplingParams:
    """The transform from a model's logits to the distribution tokens are drawn from. The sampler draws
    from it and `sampling_logprobs` (hence every log-prob, PPO ratio, entropy and KL of an update) uses
    the same one, so the policy that is trained is the policy that was sampled."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    banned: tuple[int, ...] = ()  # never generated: PAD, BOS, prompt-only tokens


@dataclass
class Samples:
    """A batch of sampled sequences.

    prompt_ids:  [n, P] left-padded prompt (BOS first); prompt_mask marks real prompt tokens.
    tokens:      [n, L] generated ids, PAD after EOS; mask [n, L] is True up to and including EOS.
    finished:    [n] whether the row emitted EOS within max_new_tokens.
    texts:       decoded generations (without prompt).
    logprobs:    [n, L] log-prob of each drawn token under the distribution it was drawn from (0 where
                 masked); None for greedy decoding.
    sampling:    that distribution's SamplingParams.
    """

    prompt_ids: torch.Tensor
    prompt_mask: torch.Tensor
    tokens: torch.Tensor
    mask: torch.Tensor
    finished: torch.Tensor
    texts: list[str]
    logprobs: torch.Tensor | None = None
    sampling: SamplingParams = SamplingParams()

    @property
    def lengths(self) -> torch.Tensor:
        return self.mask.sum(1)

    def __len__(self) -> int:
        return self.tokens.shape[0]


def encode_prompts(tokenizer: VocabTokenizer, prompt: str | list[str] | None, n: int):
    """Left-padded prompt ids and mask, [n, P]. None means the bare BOS prompt."""
    if prompt is None or isinstance(prompt, str):
        ids = tokenizer.encode(prompt or "", add_bos=True)
        t = torch.tensor(ids, dtype=torch.long).expand(n, -1).contiguous()
        return t, torch.ones_like(t, dtype=torch.bool)
    if len(prompt) != n:
        raise ValueError(f"got {len(prompt)} prompts for n={n} samples")
    seqs = [tokenizer.encode(p, add_bos=True) for p in prompt]
    P = max(map(len, seqs))
    ids = torch.full((n, P), tokenizer.pad_id, dtype=torch.long)
    mask = torch.zeros((n, P), dtype=torch.bool)
    for i, s in enumerate(seqs):
        ids[i, P - len(s) :] = torch.tensor(s)
        mask[i, P - len(s) :] = True
    return ids, mask


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 1.0) -> torch.Tensor:
    """Top-k then nucleus filtering on [B, V] logits (in place where possible)."""
    if top_k and top_k < logits.shape[-1]:
        kth = torch.topk(logits, top_k, dim=-1).values[:, -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits, idx = torch.sort(logits, dim=-1, descending=True)
        cum = sorted_logits.softmax(-1).cumsum(-1)
        drop = cum - sorted_logits.softmax(-1) > top_p  # keep the token that crosses top_p
        sorted_logits = sorted_logits.masked_fill(drop, float("-inf"))
        logits = torch.full_like(logits, float("-inf")).scatter(-1, idx, sorted_logits)
    return logits


def sampling_logprobs(logits: torch.Tensor, sp: SamplingParams, tokens: torch.Tensor | None = None) -> torch.Tensor:
    """Log-probs [..., V] of the distribution `sp` makes of `logits` [..., V]: banned tokens removed,
    divided by the temperature, then top-k / top-p. With `tokens` [...] (the drawn ones), a token that
    the filter would drop under these logits is kept in the support, so its log-prob stays finite when
    the weights have moved since it was drawn (it is exact whenever the weights are those that drew it)."""
    x = logits.float()
    if sp.banned:
        x = x.index_fill(-1, torch.tensor(sp.banned, device=x.device), float("-inf"))
    if sp.temperature > 0:
        x = x / sp.temperature
    if sp.top_k or sp.top_p < 1.0:
        shape = x.shape
        with torch.no_grad():
            keep = torch.isfinite(filter_logits(x.detach().reshape(-1, shape[-1]), sp.top_k, sp.top_p)).view(shape)
            if tokens is not None:
                keep = keep.scatter(-1, tokens[..., None], True)
        x = x.masked_fill(~keep, float("-inf"))
    return torch.log_softmax(x, -1)


def _next_token(logits, sp: SamplingParams, generator):
    """(drawn token [B], its log-prob [B]); greedy (temperature 0) returns log-prob 0."""
    if sp.temperature <= 0:
        logits[:, list(sp.banned)] = float("-inf")
        tok = logits.argmax(-1)
        return tok, torch.zeros(tok.shape, device=tok.device)
    logp = sampling_logprobs(logits, sp)
    probs = logp.exp()
    if generator is not None and generator.device != probs.device:  # e.g. a CPU generator, a GPU model
        tok = torch.multinomial(probs.to(generator.device), 1, generator=generator).squeeze(1).to(probs.device)
    else:
        tok = torch.multinomial(probs, 1, generator=generator).squeeze(1)
    return tok, logp.gather(1, tok[:, None]).squeeze(1)


def _positions_and_key_mask(pmask, max_new_tokens):
    """Positions of the left-padded prompt (counting real tokens only) and the cache's key mask over
    prompt + generation (None when no row is padded)."""
    pos = (pmask.long().cumsum(1) - 1).clamp(min=0)
    if bool(pmask.all()):
        return pos, None
    return pos, torch.cat([pmask, pmask.new_ones(pmask.shape[0], max_new_tokens)], 1)


def _decode_llama(model, ids, pmask, max_new_tokens, step_fn):
    """Prefill the whole prompt in one pass through the lean Llama decoder, then decode. Rows with the
    same prompt (RLOO's samples per prompt) share one prefill: its cache and logits are copied to them."""
    from irs.rl.fast_llama import LlamaDecoder
    from irs.rl.policy import shared_prompts

    B, P = ids.shape
    dec = LlamaDecoder(model, B, P + max_new_tokens)
    pos, key_mask = _positions_and_key_mask(pmask, max_new_tokens)
    shared = shared_prompts(ids)  # ids fix the padding, hence the mask and positions
    if shared is not None:
        first, rows = shared
        logits = dec.prefill_shared(ids[first], pos[first], None if key_mask is None else key_mask[first], rows)
    else:
        logits = dec.forward(ids, pos, key_mask)
    next_pos = pos[:, -1:] + 1
    return step_fn(logits, lambda tok, t: dec.forward(tok[:, None], next_pos + t, key_mask))


MIN_GROUP_ROWS = 16  # rows per thread below which a split decode is not worth its per-token join


def row_groups(B: int, device, threads: int | None = None) -> list[slice]:
    """How `_decode_fast` splits B rows over the CPU's intra-op threads: one group per thread, each of
    at least MIN_GROUP_ROWS rows; a single group on a GPU or on one thread. Each row's arithmetic does not
    depend on the other rows of its batch, so the split leaves tokens and log-probs unchanged to the bit
    (tests/test_engine_speed.py checks it, fp32 and bf16)."""
    n = torch.get_num_threads() if threads is None else threads
    if torch.device(device).type != "cpu":
        return [slice(0, B)]
    n = max(1, min(n, B // MIN_GROUP_ROWS))
    cuts = [B * i // n for i in range(n + 1)]
    return [slice(a, b) for a, b in zip(cuts, cuts[1:])]


class _RowThreads:
    """Runs fn(i) for every row group i at once: group 0 on the calling thread, the others on a pool
    (the caller sets torch to one thread). A decode step's ops are too small to split well across threads
    (fork-join per op, and the batch's matmuls run at a fraction of the dense rate), so whole row groups
    go to whole threads instead: 1.9x faster than one batch for 64 x 64 tokens of the 3.2M GPT-2 on 2
    idle cores (benchmarks/engine_speed.py, row_split_speedup). torch releases the GIL inside ops.
    Inference mode and autocast are per thread, so the caller's are re-entered in each."""

    def __init__(self, n: int, device):
        import concurrent.futures

        self.n = n
        self.pool = concurrent.futures.ThreadPoolExecutor(n - 1) if n > 1 else None
        dt = torch.device(device).type
        on = torch.is_autocast_enabled(dt)
        self.ctx = lambda: _thread_context(on, dt)

    def _run(self, fn, i):
        with self.ctx():
            return fn(i)

    def map(self, fn) -> list:
        if self.pool is None:
            return [fn(0)]
        futures = [self.pool.submit(self._run, fn, i) for i in range(1, self.n)]
        first = fn(0)
        return [first, *(f.result() for f in futures)]

    def close(self):
        if self.pool is not None:
            self.pool.shutdown()


@contextlib.contextmanager
def _thread_context(autocast_on: bool, device_type: str):
    # torch's thread count is process-wide: the caller has set it to 1 for the whole decode
    with torch.inference_mode():
        if autocast_on:
            with torch.autocast(device_type=device_type, dtype=torch.bfloat16):
                yield
        else:
            yield


def _decode_fast(model, ids, pmask, max_new_tokens, step_fn):
    """Prefill the prompt token by token through the lean GPT-2 decoder, then decode; the rows split
    into `row_groups`, one decoder and one thread each (same tokens and log-probs as one batch)."""
    from irs.rl.fast_gpt2 import GPT2Decoder

    B, P = ids.shape
    pos, key_mask = _positions_and_key_mask(pmask, max_new_tokens)
    groups = row_groups(B, ids.device)
    decs = [GPT2Decoder(model, g.stop - g.start, P + max_new_tokens) for g in groups]
    km = [None if key_mask is None else key_mask[g] for g in groups]
    next_pos = pos[:, -1] + 1
    pool = _RowThreads(len(groups), ids.device)

    def prefill(i):
        g = groups[i]
        for j in range(P):
            logits = decs[i].step(ids[g, j], pos[g, j], km[i])
        return logits

    def forward(tok, t):
        parts = pool.map(lambda i: decs[i].step(tok[groups[i]], next_pos[groups[i]] + t, km[i]))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    try:
        with intra_op_threads(1) if len(groups) > 1 else contextlib.nullcontext():
            logits = pool.map(prefill)
            return step_fn(logits[0] if len(logits) == 1 else torch.cat(logits), forward)
    finally:
        pool.close()


def _decode_hf(model, ids, pmask, max_new_tokens, step_fn):
    """Generic path for any Hugging Face causal LM, with its DynamicCache."""
    from transformers import DynamicCache

    B, _ = ids.shape
    padded = not bool(pmask.all())
    pos = (pmask.long().cumsum(1) - 1).clamp(min=0)  # positions count real tokens only
    state = {"attn": pmask.long() if padded else None}
    cache = DynamicCache()
    logits = model(input_ids=ids, attention_mask=state["attn"], position_ids=pos, cache=cache, use_cache=True).logits[
        :, -1
    ]
    next_pos = pos[:, -1:] + 1

    def forward(tok, t):
        if padded:
            state["attn"] = torch.cat([state["attn"], state["attn"].new_ones(B, 1)], 1)
        return model(
            input_ids=tok[:, None], attention_mask=state["attn"], position_ids=next_pos + t, cache=cache, use_cache=True
        ).logits[:, -1]

    return step_fn(logits, forward)


@torch.inference_mode()
def _sample_batch(
    model,
    prompt_ids,
    prompt_mask,
    max_new_tokens,
    sp: SamplingParams,
    eos_id,
    pad_id,
    generator,
    bf16,
    fast=True,
    threads=None,
):
    from irs.rl import fast_gpt2, fast_llama

    device = next(model.parameters()).device
    ids, pmask = prompt_ids.to(device), prompt_mask.to(device)
    B = ids.shape[0]
    out = torch.full((B, max_new_tokens), pad_id, dtype=torch.long, device=device)
    out_logp = torch.zeros((B, max_new_tokens), dtype=torch.float32, device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)

    def loop(logits, forward):
        for t in range(max_new_tokens):
            tok, lp = _next_token(logits, sp, generator)
            tok = torch.where(finished, pad_id, tok)
            out[:, t] = tok
            out_logp[:, t] = lp.masked_fill(finished, 0.0)
            finished.logical_or_(tok == eos_id)
            # checking "all finished" syncs; every 8 steps is enough to stop early
            if t == max_new_tokens - 1 or (t % 8 == 7 and bool(finished.all())):
                return t + 1
            logits = forward(tok, t)
        return max_new_tokens

    with autocast(bf16, device), decode_threads(device, threads):
        if fast and fast_gpt2.supports(model):
            decode = _decode_fast
        elif fast and fast_llama.supports(model):
            decode = _decode_llama
        else:
            decode = _decode_hf
        L = decode(model, ids, pmask, max_new_tokens, loop)
    out = out[:, :L]
    is_eos = out == eos_id
    after = (is_eos.long().cumsum(1) - is_eos.long()) > 0  # strictly after the first EOS
    mask = ~after  # PAD is never sampled, so it only ever follows EOS
    return out.cpu(), mask.cpu(), finished.cpu(), out_logp[:, :L].cpu()


def sample(
    model,
    tokenizer: VocabTokenizer,
    n: int,
    *,
    max_new_tokens: int,
    temperature: float = 0.7,
    top_k: int = 0,
    top_p: float = 1.0,
    prompt: str | list[str] | None = None,
    batch_size: int = 256,
    generator: torch.Generator | None = None,
    bf16: bool | None = None,
    fast: bool = True,
    threads: int | None = None,
) -> Samples:
    """Sample `n` sequences (in chunks of `batch_size`). temperature 0 means greedy decoding.

    fast: use the lean GPT-2 or Llama decoder where the model supports it (same math; see fast_gpt2,
    fast_llama).
    threads: torch threads for the token loop; None = one on a busy CPU, else torch's setting
    (see decode_threads)."""
    if n < 1 or max_new_tokens < 1:
        raise ValueError(f"need n >= 1 and max_new_tokens >= 1, got n={n}, max_new_tokens={max_new_tokens}")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p must be in (0, 1], got {top_p}")
    was_training = model.training
    model.eval()
    try:
        pids, pmask = encode_prompts(tokenizer, prompt, n)
        cfg = getattr(model, "config", None)
        n_pos = getattr(cfg, "n_positions", None) or getattr(cfg, "max_position_embeddings", None)
        if n_pos is not None and pids.shape[1] + max_new_tokens > n_pos:
            # the model has no position beyond its context: generate only what fits
            max_new_tokens = n_pos - pids.shape[1]
            if max_new_tokens < 1:
                raise ValueError(f"prompt of {pids.shape[1]} tokens fills the model's context of {n_pos}")
        banned = (tokenizer.pad_id, tokenizer.bos_id, *getattr(tokenizer, "prompt_only_ids", ()))
        sp = SamplingParams(float(temperature), int(top_k), float(top_p), tuple(int(b) for b in banned))
        chunks = []
        for s in range(0, n, batch_size):
            chunks.append(
                _sample_batch(
                    model,
                    pids[s : s + batch_size],
                    pmask[s : s + batch_size],
                    max_new_tokens,
                    sp,
                    tokenizer.eos_id,
                    tokenizer.pad_id,
                    generator,
                    bf16,
                    fast,
                    threads,
                )
            )
    finally:
        model.train(was_training)
    L = max(c[0].shape[1] for c in chunks)
    pad = lambda x, v: torch.nn.functional.pad(x, (0, L - x.shape[1]), value=v)
    tokens = torch.cat([pad(c[0], tokenizer.pad_id) for c in chunks])
    mask = torch.cat([pad(c[1], False) for c in chunks])
    finished = torch.cat([c[2] for c in chunks])
    logprobs = None if temperature <= 0 else torch.cat([pad(c[3], 0.0) for c in chunks])
    texts = [tokenizer.decode(row[m].tolist()) for row, m in zip(tokens, mask)]
    return Samples(pids, pmask, tokens, mask, finished, texts, logprobs, sp)
