"""RiCTrainer: supervised fine-tuning on (score prefix + candidate) rows, optional online rounds, exact save/restore."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from irs.algorithms.distributed import LocalComm
from irs.algorithms.merging import trainable_params
from irs.algorithms.ric.conditioning import (
    EXPERT_NAME,
    conditioned_tokenizer,
    desired_scores,
    labelled_examples,
    levels_of,
    prompt_for,
    prompt_text,
)
from irs.algorithms.ric.surgery import _n_positions, extend_positions
from irs.algorithms.schedule import ScheduleState
from irs.algorithms.setup import make_optimizer, setup_objectives
from irs.config import RunConfig, lora_enabled
from irs.objectives import Objective
from irs.prompting import eval_contexts, prompt_texts, with_prefix
from irs.rl.policy import disable_dropout, starting_model
from irs.rl.sampler import autocast, sample

log = logging.getLogger(__name__)


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
            from irs.algorithms.setup import run_starting_calibration
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

    # ---- exact save / restore (irs.algorithms.ric.checkpoint) ----------------------------------------
    def save(self, directory: str | os.PathLike) -> Path:
        from irs.algorithms.ric.checkpoint import save_trainer

        return save_trainer(self, directory)

    def load(self, directory: str | os.PathLike) -> RiCTrainer:
        from irs.algorithms.ric.checkpoint import load_trainer

        return load_trainer(self, directory)


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
