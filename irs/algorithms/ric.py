"""Rewards-in-Context (RiC, Yang et al. 2024), the supervised baseline of the paper's Sections 2 and 5.

RiC fine-tunes the foundation model on labelled data whose every sequence is prefixed with its
objectives' scores; at sampling time the prefix carries the scores the user asks for, derived from the
preference weights. Optional online rounds generate with the model, score with the proxies, keep the
best quantile and fine-tune again. `RiCTrainer` offers the same surface as `irs.algorithms.Trainer`
(run / save / load / schedule / on_record / final_model / final_expert_states), so it runs through the
same run store, worker, evaluation and export (`method = "ric"`, see `make_trainer`).

Conditioning (the choice, and why)
----------------------------------
The shipped vocabularies (SMILES, DNA, toy) have no number tokens to spare (SMILES digits are ring
closures), so RiC's text prefix "<rm1_score> 0.3 <rm2_score> ..." is written with *new* tokens: one
marker per objective `<o0>`, `<o1>`, ... and one token per score level `<v0>` .. `<v{n_bins-1}>`
shared by all objectives. A score is the objective's reward in [0, 1] (the goal-transformed,
normalized reward every method trains on) rounded to `n_bins` levels (default 11, i.e. RiC's one
decimal). A sequence reads

    BOS <o0><v7> <o1><v3> <o2><v9>  c1ccccc1O  EOS          (no spaces; 1 + 2N prompt tokens)

The model's embedding matrix is extended by N + n_bins rows (initialized as mean + std-scaled noise of
the existing rows, seeded), and the extended tokenizer (a plain VocabTokenizer whose regex matches the
new tokens first) is saved with the model. The loss covers the sequence after the prompt (RiC trains on
completions only). A model whose context fits no labelled example after the prompt (DNAGPT-2: 52
positions for BOS + 50 four-mers + EOS, every site the same length) gets 2N more positions (any other
model keeps its shape): a GPT-2 position table becomes [row 0 (BOS), 2N new rows (the mean of the old
rows), rows 1..], so the sequence after the prompt sits at the positions it was pretrained at; other
architectures only get a larger config limit.

Prompt domains (text): the tokens are added to a copy of the chat tokenizer as Hugging Face added special
tokens, marked prompt-only (irs.chat_tokenizer); a prompt is one chat-templated user message holding the
score prefix, a newline and the document's prompt (irs.prompting.with_prefix), so prompt lengths differ
per row and the loss starts after each row's own prompt. Whole-model fine-tuning as everywhere else
([lora] and [sft] are not used). The model's config carries `ric` metadata (objectives,
levels, lo/hi, p, the prompt for the run's weights), so `ric_prompt(model, weights)` re-targets a saved
RiC model to other weights.

Preference -> desired scores (RiC's "dynamic inference-time adjustment")
-----------------------------------------------------------------------
RiC maps weights w to desired scores with `map_rewards_from_preference`; its 'l2' method is
desired_i = lo_i + w_i / ||w||_2 * (hi_i - lo_i), where lo_i / hi_i are the lowest and highest score of
objective i in the training data. The paper's App. B "p = 2" is read as this norm; `ric.p` sets it
(p = inf gives RiC's L-inf rule: the top-weight objective asks for hi, the others for
lo_i + min(N w_i, 1)(hi_i - lo_i)). With the paper's equal weights and p = 2 every objective asks for
lo + 0.577 (hi - lo); with p = inf, for hi.

Labelled data (`Domain.labelled_data`, each domain's own hook)
------------------------------------------------------------------------------
- molecules / qm9: the QM9 training split (`qm9.split()`), canonical SMILES, with the *DFT labels*
  (α, gap, U0) sent through the objectives' own normalization and goal transform: the data RiC is
  trained on in the paper ("supervised fine-tuning was performed using the QM9 dataset").
- molecules / druglike: MOSES training SMILES scored exactly with RDKit (QED, SA, logP).
- toy: random strings over {a, b, c} (random length, Dirichlet character mix), scored exactly.
- dna: real training-split DHS sites (`irs.domains.dna.proxies.labelled_data`), the activity objectives
  labelled by the oracle CNN (its probability through the goal transform), motif/GC objectives exactly.
- text: the train split's (prompt record, reference summary) pairs, each reference scored exactly with
  the context-aware objectives against its own record (quality, the similarity to the reference, is
  then always 1). The hook returns (texts, R, contexts); online rounds draw a train record per sample.
Labelling is data preparation, not a reward query: it does not touch the objectives' query counters.

Budget (what `irs bench` compares): T SFT steps of `ric.batch_size` sequences (0 = rl.batch_size; the
bench sets N x B, the rewarded samples of one IterativeRS step). Offline SFT makes no reward queries.
Each online round scores `online_samples` generations on all N objectives (N queries each), counted in
the objectives' counters and in the "online" metrics records.

Online rounds (RiC's multi-objective rejection sampling), when `ric.online_rounds = k > 0`: the T steps
are cut into k + 1 phases; at the start of phase j >= 1 the model samples `online_samples` sequences
with RiC's exploration goals (every objective at hi except a random one at a uniform level), scores
them with the proxies, keeps the valid ones whose reward reaches the `quantile` of the batch on at
least one objective, and trains from then on on the quantile-filtered labelled data plus every kept
online sample so far.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import shutil
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from irs.algorithms.distributed import LocalComm
from irs.algorithms.merging import trainable_params
from irs.algorithms.schedule import ScheduleState
from irs.algorithms.trainer import make_optimizer, setup_objectives
from irs.checkpoint import flatten_optimizer, load_tensors, restore_optimizer, save_tensors
from irs.config import RunConfig, lora_enabled
from irs.io import atomic_write_json, replace_dir
from irs.objectives import Objective
from irs.prompting import eval_contexts, prompt_texts, with_prefix
from irs.rl.policy import disable_dropout, starting_model
from irs.rl.sampler import autocast, sample
from irs.tokenizer import VocabTokenizer

log = logging.getLogger(__name__)

EXPERT_NAME = "ric"
_TOKEN_RE = r"<o\d+>|<v\d+>"


# ---- conditioning: tokens, levels, prompts ---------------------------------------------------------
def objective_token(i: int) -> str:
    return f"<o{i}>"


def level_token(b: int) -> str:
    return f"<v{b}>"


def conditioning_tokens(n_objectives: int, n_bins: int) -> list[str]:
    return [objective_token(i) for i in range(n_objectives)] + [level_token(b) for b in range(n_bins)]


def conditioned_tokenizer(base: VocabTokenizer, n_objectives: int, n_bins: int) -> VocabTokenizer:
    """`base` with the conditioning tokens appended (ids after the base vocabulary) and a regex that
    matches them before anything else. Idempotent: a tokenizer that already has them is rebuilt as is.
    A chat tokenizer (irs.chat_tokenizer) gets them as added special tokens of its Hugging Face
    tokenizer (a copy), marked prompt-only."""
    extra = conditioning_tokens(n_objectives, n_bins)
    if getattr(base, "is_chat", False):
        return base.with_prompt_only(extra)
    vocab = list(base.vocab) + [t for t in extra if t not in base.token_to_id]
    inner = base.pattern or r"(?s:.)"
    pattern = inner if inner.startswith(_TOKEN_RE + "|") else f"{_TOKEN_RE}|{inner}"
    prompt_only = list(base.prompt_only) + [t for t in extra if t not in base.prompt_only]
    return VocabTokenizer(vocab, pattern, base.joiner, name=base.name, prompt_only=prompt_only)


def levels_of(rewards: np.ndarray, n_bins: int) -> np.ndarray:
    """Rewards in [0, 1] -> integer levels 0..n_bins-1 (rounded; NaN -> 0)."""
    r = np.nan_to_num(np.asarray(rewards, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(r * (n_bins - 1)), 0, n_bins - 1).astype(np.int64)


def prompt_text(levels: Sequence[int]) -> str:
    """The conditioning prefix for one sequence: <o0><v..><o1><v..>..."""
    return "".join(objective_token(i) + level_token(int(b)) for i, b in enumerate(levels))


def parse_prompt(text: str) -> list[int]:
    """Inverse of prompt_text: the levels written in a prefix (ValueError if it is not one)."""
    pairs = re.findall(r"<o(\d+)><v(\d+)>", text)
    if (
        not pairs
        or prompt_text([int(v) for _, v in pairs]) != text
        or [int(o) for o, _ in pairs] != list(range(len(pairs)))
    ):
        raise ValueError(f"not a RiC prompt: {text!r}")
    return [int(v) for _, v in pairs]


def desired_scores(weights: Sequence[float], lo: Sequence[float], hi: Sequence[float], p: float = 2.0) -> np.ndarray:
    """RiC's preference-to-reward mapping (see the module docstring): scores in [lo_i, hi_i]."""
    w = np.asarray(weights, dtype=np.float64)
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if w.ndim != 1 or w.shape != lo.shape or lo.shape != hi.shape:
        raise ValueError(f"weights {w.shape}, lo {lo.shape} and hi {hi.shape} must be vectors of one length")
    if not (np.isfinite(w).all() and (w >= 0).all() and w.sum() > 0):
        raise ValueError(f"weights {w.tolist()}: need finite numbers >= 0 with a positive sum")
    if not p >= 1:
        raise ValueError(f"p must be >= 1 (inf allowed), got {p}")
    w = w / w.sum()
    if math.isinf(p):
        frac = np.minimum(len(w) * w, 1.0)
        frac[int(np.argmax(w))] = 1.0
    else:
        frac = w / np.linalg.norm(w, ord=p)
    return lo + frac * (hi - lo)


def prompt_for(weights, lo, hi, p: float, n_bins: int) -> str:
    return prompt_text(levels_of(desired_scores(weights, lo, hi, p), n_bins))


def ric_max_new_tokens(model, cfg: RunConfig, domain) -> int:
    """The generation length a RiC model gets: the run's, capped so that prompt + generation fit the
    model's positions (the prompt takes 1 + 2N of them)."""
    meta = getattr(model.config, "ric", None) or {}
    prompt_len = 1 + 2 * len(meta.get("objectives", cfg.objective_names))
    return min(cfg.rl.max_new_tokens or domain.max_new_tokens, _n_positions(model) - prompt_len)


def ric_prompt(model, weights: Sequence[float] | None = None) -> str | None:
    """The RiC prompt of a saved RiC model for `weights` (default: the run's own), or None when the
    model is not a RiC model. Use it as `sample(..., prompt=ric_prompt(model, w))`."""
    meta = getattr(getattr(model, "config", None), "ric", None)
    if not meta:
        return None
    if weights is None:
        return meta["prompt"]
    if len(weights) != len(meta["objectives"]):
        raise ValueError(
            f"weights {list(weights)}: this RiC model conditions on {len(meta['objectives'])} "
            f"objectives {meta['objectives']}"
        )
    return prompt_for(weights, meta["lo"], meta["hi"], float(meta["p"]), int(meta["n_bins"]))


# ---- labelled data: each domain's hook (Domain.labelled_data) ----------------------------------------
def labelled_examples(domain_name: str, preset: str | None, objectives: Sequence[Objective], n: int, seed: int):
    """(texts, R, contexts or None): the domain's labelled data (Domain.labelled_data), rows with a
    non-finite score dropped."""
    from irs.domains import get_domain

    hook = get_domain(domain_name).labelled_data
    if hook is None:
        raise ValueError(f"RiC needs labelled data, and domain {domain_name!r} has none (Domain.labelled_data)")
    out = hook(preset, objectives, n, seed)
    texts, R = out[0], out[1]
    ctx = out[2] if len(out) > 2 else None
    R = np.asarray(R, dtype=np.float64).reshape(len(texts), len(objectives))
    keep = np.isfinite(R).all(1)
    return (
        [t for t, k in zip(texts, keep) if k],
        R[keep],
        None if ctx is None else [c for c, k in zip(ctx, keep) if k],
    )


def labelled_data(domain_name: str, preset: str | None, objectives: Sequence[Objective], n: int, seed: int):
    """(texts, R) of labelled_examples (without the prompt records of a prompt domain)."""
    texts, R, _ = labelled_examples(domain_name, preset, objectives, n, seed)
    return texts, R


def _n_positions(model) -> int:
    c = model.config
    return int(getattr(c, "n_positions", None) or getattr(c, "max_position_embeddings", None) or 1024)


def extend_positions(model, need: int, n_prompt: int):
    """Give `model` at least `need` positions when it has fewer (see the module docstring). A GPT-2
    position table grows by max(n_prompt, shortfall) rows inserted after row 0 (the mean of the old rows),
    so tokens after an n_prompt-token prompt keep their pretrained positions. Deterministic (no RNG), so a
    resumed trainer rebuilds the same shapes before loading its checkpoint. Returns the model."""
    have = _n_positions(model)
    if need <= have:
        return model
    add = max(n_prompt, need - have)
    c = model.config
    wpe = getattr(getattr(model, "transformer", None), "wpe", None)
    if wpe is not None:
        with torch.no_grad():
            W = wpe.weight.detach()
            fill = W.mean(0, keepdim=True).expand(add, -1)
            new_w = torch.cat([W[:1], fill, W[1:]], 0).clone()
        emb = torch.nn.Embedding(new_w.shape[0], new_w.shape[1], dtype=W.dtype, device=W.device)
        emb.weight = torch.nn.Parameter(new_w, requires_grad=wpe.weight.requires_grad)
        model.transformer.wpe = emb
        c.n_positions = new_w.shape[0]
    elif hasattr(c, "max_position_embeddings"):
        c.max_position_embeddings = have + add
    else:
        raise ValueError(f"the model has {have} positions, RiC needs {need}, and its position table is unknown")
    log.info(
        "RiC: model positions %d -> %d (prompt of %d tokens + generation)", have, _n_positions(model), n_prompt + 1
    )
    return model


# ---- the trainer -----------------------------------------------------------------------------------
class RiCTrainer:
    """Build from a RunConfig with method "ric"; `run()` fine-tunes to T steps or until `should_stop()`."""

    lora = False  # RiC fine-tunes every weight (irs.algorithms.RunTrainer)

    def __init__(
        self,
        cfg: RunConfig,
        objectives: list[Objective] | None = None,
        model=None,
        tokenizer=None,
        comm=None,
        labelled: tuple[list[str], np.ndarray] | None = None,
    ):
        if comm is not None and getattr(comm, "world", 1) > 1:
            raise ValueError(f"config field nproc = {cfg.nproc}: RiC trains one model in one process; set nproc = 1")
        setup_objectives(self, cfg, objectives)  # domain, cfg (validated), objectives, weights, bf16
        if self.cfg.method != "ric":
            raise ValueError(f"config field method = {self.cfg.method!r}: RiCTrainer runs method 'ric'")
        self.comm = comm or LocalComm()  # the worker reads tr.comm (rank, agree)
        rc = self.cfg.ric
        N = len(self.objectives)
        self.n_bins = rc.n_bins
        if self.domain.prompts is not None and (self.cfg.sft.steps or lora_enabled(self.cfg, self.domain)):
            log.info("RiC fine-tunes the whole model on its labelled data; [lora] and [sft] are not used")
        self.batch_size = rc.batch_size or self.cfg.rl.batch_size
        self.lr = rc.lr or self.cfg.rl.lr

        torch.manual_seed(self.cfg.seed)
        if model is None:
            model, tokenizer = starting_model(self.cfg, self.domain)
        # the same calibrated scale as the RL methods (one starting model, one scale), before RiC's
        # score tokens change the model: its labelled data and its evaluation use it
        self.calibration = None
        from irs.config import normalization_of

        if normalization_of(self.cfg, self.domain) == "calibrated":
            from irs.algorithms.trainer import run_starting_calibration
            from irs.objectives.calibration import apply

            self.calibration = run_starting_calibration(
                self.cfg,
                self.domain,
                model,
                tokenizer,
                self.objectives,
                self.cfg.rl.max_new_tokens or self.domain.max_new_tokens,
                self.bf16,
            )
            self.objectives = apply(self.objectives, self.calibration["train"])
        self.base_vocab_size = tokenizer.vocab_size
        self.tokenizer = conditioned_tokenizer(tokenizer, N, self.n_bins)
        # prompt domains (text): the prompt is the score prefix plus the example's document, one user message
        self.contextual = self.domain.prompts is not None
        self.prompt_len = 1 + 2 * N  # the score prefix alone (BOS + 2N); a document prompt adds its own tokens
        t0 = time.perf_counter()
        if labelled is not None:
            texts, R, ctx = (*labelled, None)[:3]
        else:
            texts, R, ctx = labelled_examples(
                self.domain.name, self.cfg.preset or None, self.objectives, rc.max_examples, self.cfg.seed
            )
        texts = list(texts)
        if self.contextual and (ctx is None or len(ctx) != len(texts)):
            raise ValueError(
                f"RiC on domain {self.domain.name!r} (prompts) needs the prompt record of every "
                f"labelled example (Domain.labelled_data must return (texts, R, contexts))"
            )
        if not self.contextual:
            ctx = None
        # positions are added only where no labelled example fits with the prompt (DNAGPT-2: 52 positions,
        # every site 50 four-mers + EOS); a model where any fits keeps its shape (and its behaviour) exactly
        want_new = self.cfg.rl.max_new_tokens or self.domain.max_new_tokens
        lengths = [len(self.tokenizer.encode(t, add_bos=False)) + 1 for t in texts]  # + EOS
        if lengths and self.prompt_len + min(lengths) > _n_positions(model):
            model = extend_positions(model, self.prompt_len + min(max(lengths), want_new), 2 * N)
        self.model = disable_dropout(self._extend_embeddings(model)).train()
        n_pos = _n_positions(self.model)
        self.max_len = n_pos
        self.max_new_tokens = min(want_new, n_pos - self.prompt_len)
        if self.max_new_tokens < 1:
            raise ValueError(f"the model has {n_pos} positions; RiC's prompt needs {self.prompt_len}")
        self.labelled_texts, self.labelled_R, self.labelled_ctx = self._encodable(
            texts, np.asarray(R, dtype=np.float64), ctx
        )
        if len(self.labelled_texts) == 0:
            raise ValueError("RiC: no labelled example fits the model (all too long or with unknown tokens)")
        self.lo = self.labelled_R.min(0)
        self.hi = self.labelled_R.max(0)
        log.info(
            "RiC: %d labelled examples in %.1fs; score range lo %s hi %s",
            len(self.labelled_texts),
            time.perf_counter() - t0,
            np.round(self.lo, 3).tolist(),
            np.round(self.hi, 3).tolist(),
        )
        self.desired = desired_scores(self.weights, self.lo, self.hi, rc.p)
        self.sampling_prompt = prompt_text(levels_of(self.desired, self.n_bins))
        self.model.config.ric = self.metadata()

        self.optimizer = make_optimizer(
            [p for p in self.model.parameters() if p.requires_grad], _OptCfg(self.cfg.rl.optimizer, self.lr)
        )
        T = self.cfg.merge.total_steps
        self.boundaries = [round(j * T / (rc.online_rounds + 1)) for j in range(rc.online_rounds + 1)]
        phase_len = max(1, -(-T // (rc.online_rounds + 1)))
        self.schedule = ScheduleState(T=T, m=min(phase_len, T), N=1, M=1)
        self.rounds_done = 0
        self.online_texts: list[str] = []
        self.online_R = np.zeros((0, N))
        self.online_ctx: list[dict] | None = [] if self.contextual else None
        self.generator = torch.Generator().manual_seed(self.cfg.seed * 1000 + 1)
        self.rng = np.random.default_rng([self.cfg.seed, 77])
        self.n_experts, self.expert_names, self.last_lambdas = 1, [EXPERT_NAME], [1.0]
        self.final_experts: list[dict[str, torch.Tensor]] | None = None
        self.on_record: Callable[[dict], None] = lambda rec: None
        self._data_phase = None
        self._data = None

    # ---- setup helpers ------------------------------------------------------------------------------
    def _extend_embeddings(self, model):
        """Resize the (tied) embeddings to the conditioned vocabulary; the conditioning tokens' rows (ids
        base_vocab_size..) = mean + std * noise of the base rows. A model whose table already has spare
        rows (a padded vocabulary) keeps its size and only those rows are set."""
        old = model.get_input_embeddings().weight.shape[0]
        new, base_n = self.tokenizer.vocab_size, self.base_vocab_size
        if new == base_n:
            return model
        if base_n > old:
            raise ValueError(f"the model has {old} token embeddings, the tokenizer {base_n} before conditioning")
        if new > old:
            model.resize_token_embeddings(new, mean_resizing=False)
        with torch.no_grad():
            W = model.get_input_embeddings().weight
            base = W[:base_n]
            g = torch.Generator().manual_seed(self.cfg.seed + 99)
            W[base_n:new] = base.mean(0) + base.std(0) * torch.randn(new - base_n, W.shape[1], generator=g)
            out = model.get_output_embeddings()
            if out is not None and out.weight.data_ptr() != W.data_ptr() and out.weight.shape[0] >= new:
                ob = out.weight[:base_n]  # untied head: its new rows get the same rule
                out.weight[base_n:new] = ob.mean(0) + ob.std(0) * torch.randn(new - base_n, ob.shape[1], generator=g)
        return model

    def metadata(self) -> dict:
        return {
            "objectives": self.cfg.objective_names,
            "n_bins": self.n_bins,
            "p": float(self.cfg.ric.p),
            "lo": [float(x) for x in self.lo],
            "hi": [float(x) for x in self.hi],
            "weights": [float(x) for x in self.weights],
            "desired": [float(x) for x in self.desired],
            "prompt": self.sampling_prompt,
            "base_vocab_size": self.base_vocab_size,
        }

    def _encodable(self, texts: list[str], R: np.ndarray, ctx: list[dict] | None = None):
        """Keep examples that encode without UNK and fit the model's positions with the prompt and EOS.
        Returns (texts, R, contexts or None)."""
        keep = []
        zeros = [0] * len(self.objectives)
        for i, t in enumerate(texts):
            ids = self.tokenizer.encode(t, add_bos=False)
            plen = self.prompt_len if ctx is None else len(self._prompt_ids(zeros, ctx[i]))
            keep.append(bool(ids) and self.tokenizer.unk_id not in ids and plen + len(ids) + 1 <= self.max_len)
        keep = np.asarray(keep, dtype=bool)
        if (~keep).any():
            log.info(
                "RiC: dropped %d of %d examples (empty, unknown tokens or too long)", int((~keep).sum()), len(texts)
            )
        return (
            [t for t, k in zip(texts, keep) if k],
            R[keep] if len(R) else R,
            None if ctx is None else [c for c, k in zip(ctx, keep) if k],
        )

    def _prompt_ids(self, levels: Sequence[int], context: dict | None) -> list[int]:
        """The prompt of one example: BOS + score prefix, or for a prompt domain the chat-templated user
        message score prefix + the document's prompt (irs.prompting.with_prefix)."""
        pre = prompt_text(levels)
        if context is None:
            return self.tokenizer.encode(pre, add_bos=True)
        return self.tokenizer.encode(with_prefix(pre, context["prompt"]), add_bos=True)

    def encode_rows(self, texts: Sequence[str], R: np.ndarray, ctx: Sequence[dict] | None = None):
        """(ids int64 [n, L], prompt lengths int64 [n]): rows prompt + tokens + EOS, PAD-filled to the
        longest row; the loss covers what follows each row's prompt."""
        levels = levels_of(R, self.n_bins)
        rows, plens = [], []
        for i, (t, lv) in enumerate(zip(texts, levels)):
            if ctx is None:
                rows.append(self.tokenizer.encode(prompt_text(lv) + t, add_bos=True, add_eos=True))
                plens.append(self.prompt_len)
            else:
                p = self._prompt_ids(lv, ctx[i])
                rows.append(p + self.tokenizer.encode(t, add_bos=False, add_eos=True))
                plens.append(len(p))
        L = max(map(len, rows))
        out = np.full((len(rows), L), self.tokenizer.pad_id, dtype=np.int64)
        for i, r in enumerate(rows):
            out[i, : len(r)] = r
        return out, np.asarray(plens, dtype=np.int64)

    def encode(self, texts: Sequence[str], R: np.ndarray, ctx: Sequence[dict] | None = None) -> np.ndarray:
        """Rows BOS + prompt(levels of R) + tokens + EOS, PAD-filled to the longest row: int64 [n, L]."""
        return self.encode_rows(texts, R, ctx)[0]

    # ---- data of each phase -------------------------------------------------------------------------
    def phase_of(self, t: int) -> int:
        return max(j for j, s in enumerate(self.boundaries) if s <= t)

    def phase_data(self, j: int) -> np.ndarray:
        if self._data_phase != j:
            ctx = self.labelled_ctx
            if j == 0:
                texts, R = self.labelled_texts, self.labelled_R
            else:
                keep = quantile_mask(self.labelled_R, self.cfg.ric.quantile)
                texts = [t for t, k in zip(self.labelled_texts, keep) if k] + self.online_texts
                R = np.concatenate([self.labelled_R[keep], self.online_R])
                if ctx is not None:
                    ctx = [c for c, k in zip(ctx, keep) if k] + self.online_ctx
            self._data, self._data_phase = self.encode_rows(texts, R, ctx), j
        return self._data

    def batch(self, t: int) -> tuple[torch.Tensor, torch.Tensor]:
        """The batch of step t (0-based): a fresh permutation per epoch of the phase's data, so a resumed
        run sees exactly the batches it would have seen. Labels are -100 on BOS, the prompt and PAD."""
        j = self.phase_of(t)
        data, plen = self.phase_data(j)
        n, bs, k = len(data), self.batch_size, t - self.boundaries[j]
        if n >= bs:
            epoch, r = divmod(k, n // bs)
            idx = np.random.default_rng([self.cfg.seed, j, epoch]).permutation(n)[r * bs : (r + 1) * bs]
        else:
            idx = np.random.default_rng([self.cfg.seed, j, k]).choice(n, size=bs, replace=True)
        x = torch.from_numpy(data[idx])
        keep = x != self.tokenizer.pad_id
        L = int(keep.sum(1).max())
        x, keep = x[:, :L], keep[:, :L]
        y = x.masked_fill(~keep, -100)
        y[torch.arange(L)[None, :] < torch.from_numpy(plen[idx])[:, None]] = -100
        return x, y

    # ---- one step -----------------------------------------------------------------------------------
    def sft_step(self, t: int) -> dict:
        t0 = time.perf_counter()
        x, y = self.batch(t)
        self.model.train()
        with autocast(self.bf16):
            loss = self.model(input_ids=x, attention_mask=(x != self.tokenizer.pad_id).long(), labels=y).loss
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.cfg.rl.max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.rl.max_grad_norm)
        self.optimizer.step()
        rec = {
            "type": "step",
            "step": t + 1,
            "expert": EXPERT_NAME,
            "loss": round(float(loss.detach()), 6),
            "tokens": int((y != -100).sum()),
            "batch": int(x.shape[0]),
            "phase": self.phase_of(t),
            "seconds": round(time.perf_counter() - t0, 4),
        }
        self.on_record(rec)
        return rec

    def online_round(self, j: int) -> dict:
        """RiC's multi-objective rejection sampling: explore with goals at the front's edges, score with
        the proxies (N queries per sample), keep the best quantile."""
        t0 = time.perf_counter()
        rc, N = self.cfg.ric, len(self.objectives)
        n = rc.online_samples
        goals = self.rng.uniform(self.lo, self.hi, size=(n, N))
        low = self.rng.integers(0, N, size=n)
        for i in range(N):
            goals[low != i, i] = self.hi[i]
        prompts = [prompt_text(lv) for lv in levels_of(goals, self.n_bins)]
        ctx = None
        if self.contextual:  # one train document per generation, drawn like the goals
            recs = self.domain.prompts("train")
            ctx = [recs[int(i)] for i in self.rng.integers(0, len(recs), size=n)]
            prompts = [with_prefix(p, c["prompt"]) for p, c in zip(prompts, ctx)]
        r = self.cfg.rl
        s = sample(
            self.model,
            self.tokenizer,
            n,
            max_new_tokens=self.max_new_tokens,
            temperature=r.temperature,
            top_k=r.top_k,
            top_p=r.top_p,
            prompt=prompts,
            generator=self.generator,
            bf16=self.bf16,
            batch_size=max(n, 1),
        )
        canon = self.domain.canonical(s.texts)
        keyed = [c if c is not None else "" for c in canon]
        R = np.column_stack([o.transform(o.raw(keyed, ctx)) for o in self.objectives])
        ok = np.array([c is not None for c in canon]) & np.isfinite(R).all(1)
        keep = np.zeros(n, dtype=bool)
        if ok.any():
            keep[ok] = quantile_mask(R[ok], rc.quantile)
        texts = [t for t, k in zip(s.texts, keep) if k]
        texts, Rk, ck = self._encodable(texts, R[keep], None if ctx is None else [c for c, k in zip(ctx, keep) if k])
        self.online_texts += texts
        if ck is not None:
            self.online_ctx += ck
        self.online_R = np.concatenate([self.online_R, Rk])
        self.rounds_done = j
        self._data_phase = None
        rec = {
            "type": "online",
            "step": self.schedule.t,
            "round": j,
            "n_generated": n,
            "n_valid": int(ok.sum()),
            "n_kept": len(texts),
            "n_online_total": len(self.online_texts),
            "reward_queries": n * N,
            "reward": float(np.nanmean(R[ok] @ self.weights)) if ok.any() else None,
            "seconds": round(time.perf_counter() - t0, 4),
        }
        self.on_record(rec)
        log.info("RiC online round %d: %d generated, %d valid, %d kept", j, n, int(ok.sum()), len(texts))
        return rec

    # ---- driving ------------------------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] = lambda: False, after_step: Callable[[], None] = lambda: None):
        s = self.schedule
        while not s.done:
            if s.t > 0:
                after_step()
            if should_stop():
                break
            j = self.phase_of(s.t)
            if j > self.rounds_done:
                self.online_round(j)
            self.sft_step(s.t)
            s.t += 1
            if s.done:
                self.final_experts = [self._state()]
        return self

    @property
    def done(self) -> bool:
        return self.schedule.done

    def final_model(self) -> torch.nn.Module:
        return self.model

    def _state(self) -> dict[str, torch.Tensor]:
        names = {id(p): n for n, p in self.model.named_parameters()}
        return {names[id(p)]: p.detach().clone() for p in trainable_params(self.model)}

    def final_expert_states(self) -> list[dict[str, torch.Tensor]]:
        """One "expert": the fine-tuned model (RiC trains a single policy; re-merging is the identity)."""
        if self.final_experts is None:
            raise RuntimeError("the run has not finished: no final model yet")
        return self.final_experts

    def sample(self, n: int, weights: Sequence[float] | None = None, generator: torch.Generator | None = None):
        """n samples conditioned on `weights` (default: the run's), with the run's sampling settings."""
        r = self.cfg.rl
        prompt = (
            self.sampling_prompt
            if weights is None
            else prompt_for(weights, self.lo, self.hi, self.cfg.ric.p, self.n_bins)
        )
        if self.contextual:  # the test split's documents in order, as the final candidates (irs.prompting)
            prompt = prompt_texts(eval_contexts(self.domain, n), prompt)
        return sample(
            self.model,
            self.tokenizer,
            n,
            max_new_tokens=self.max_new_tokens,
            temperature=r.temperature,
            top_k=r.top_k,
            top_p=r.top_p,
            prompt=prompt,
            generator=generator,
            bf16=self.bf16,
        )

    # ---- exact save / restore -----------------------------------------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        d = Path(directory)
        tmp = d.with_name(f".{d.name}.tmp")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_tensors(dict(self.model.state_dict()), tmp / "model.safetensors")
        opt_t, opt_meta = flatten_optimizer(self.optimizer)
        save_tensors(opt_t, tmp / "optim.safetensors")
        atomic_write_json(tmp / "optim.json", opt_meta)
        save_tensors(
            {
                "torch_rng": torch.get_rng_state(),
                "generator": self.generator.get_state(),
                "online_R": torch.from_numpy(np.ascontiguousarray(self.online_R, dtype=np.float64)),
            },
            tmp / "rng.safetensors",
        )
        if self.final_experts is not None:
            save_tensors(self.final_experts[0], tmp / "final_expert_0.safetensors")
        self.tokenizer.save(tmp)
        atomic_write_json(
            tmp / "online.json",
            {
                "texts": self.online_texts,
                "prompt_ids": None if self.online_ctx is None else [c["id"] for c in self.online_ctx],
            },
        )
        atomic_write_json(
            tmp / "state.json",
            {
                "method": "ric",
                "schedule": self.schedule.to_dict(),
                "rng": self.rng.bit_generator.state,
                "rounds_done": self.rounds_done,
                "has_final": self.final_experts is not None,
                "n_experts": 1,
                "vocab_size": self.tokenizer.vocab_size,
                "metadata": self.metadata(),
                "objective_counts": [[o.n_scored, o.n_invalid] for o in self.objectives],
            },
        )
        replace_dir(tmp, d)
        return d

    def load(self, directory: str | os.PathLike) -> RiCTrainer:
        d = Path(directory)
        if not (d / "state.json").is_file():
            raise FileNotFoundError(f"{d} is not a trainer checkpoint (no state.json)")
        state = json.loads((d / "state.json").read_text())
        if state.get("method") != "ric":
            raise ValueError(f"{d} is not a RiC checkpoint (method {state.get('method')!r})")
        if state["vocab_size"] != self.tokenizer.vocab_size:
            raise ValueError(
                f"checkpoint vocabulary has {state['vocab_size']} tokens, this config {self.tokenizer.vocab_size}"
            )
        self.model.load_state_dict(load_tensors(d / "model.safetensors"))
        restore_optimizer(
            self.optimizer, load_tensors(d / "optim.safetensors"), json.loads((d / "optim.json").read_text())
        )
        rng = load_tensors(d / "rng.safetensors")
        torch.set_rng_state(rng["torch_rng"])
        self.generator.set_state(rng["generator"])
        self.online_R = rng["online_R"].numpy().reshape(-1, len(self.objectives)).copy()
        online = json.loads((d / "online.json").read_text())
        self.online_texts = list(online["texts"])
        if self.contextual:
            by_id = {r["id"]: r for r in self.domain.prompts("train")}
            self.online_ctx = [by_id[i] for i in online.get("prompt_ids") or []]
        self.schedule = ScheduleState.from_dict(state["schedule"])
        self.rng.bit_generator.state = state["rng"]
        self.rounds_done = state["rounds_done"]
        self._data_phase = None
        self.final_experts = [load_tensors(d / "final_expert_0.safetensors")] if state["has_final"] else None
        for o, (n, bad) in zip(self.objectives, state.get("objective_counts", [])):
            o.n_scored, o.n_invalid = n, bad
        return self


class _OptCfg:
    """The two fields make_optimizer reads (optimizer kind and learning rate)."""

    def __init__(self, optimizer: str, lr: float):
        self.optimizer, self.lr = optimizer, lr


def quantile_mask(R: np.ndarray, q: float) -> np.ndarray:
    """RiC's filter: rows whose reward reaches the q-quantile of its column on at least one objective."""
    R = np.asarray(R, dtype=np.float64)
    if len(R) == 0:
        return np.zeros(0, dtype=bool)
    thr = np.nanquantile(R, q, axis=0)
    return (R >= thr[None, :]).any(1)
