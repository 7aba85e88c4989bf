"""The language-model trainer behind every method: IterativeRS, MORLHF and Rewarded Soups.

One expert per objective (each its own policy copy, optimizer and, under PPO, value head) runs
sample → score → rollout (KL to the frozen reference, advantages) → update, and every m steps the
experts are merged (eq. 9) through `run_schedule`, the same loop the Theorem 1 test runs.

Presets (Section 4.2):
- iterative_rs:   N experts, merge every m steps over M-subsets.
- rewarded_soups: the same with m = T (experts train independently, one merge at the end).
- morlhf:         one policy on the aggregated reward (weighted sum by default).

A Trainer can stop at any step boundary and be saved and restored exactly (trainer_state.py: weights, optimizer and
value-head states, schedule, RNG), which is what `irs resume` relies on.

Prompt domains (Domain.prompts, the text domain): every expert step draws batch_size / samples_per_prompt
prompt records from the train split with the expert's own generator (so runs stay deterministic and
resumable), samples each prompt samples_per_prompt times, and scores context-aware objectives against
the records. Optional stages: SFT on (prompt, reference) pairs before the first step (irs.rl.sft), and
LoRA adapters on every expert ([lora]; merged by averaging B·A, irs.algorithms.merging).
"""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable

import numpy as np
import torch

from irs.algorithms.distributed import LocalComm
from irs.algorithms.merging import merge_into, merge_optimizer_states, trainable_params
from irs.algorithms.schedule import ScheduleState, candidate_lambdas, fixed_lambdas, run_schedule
from irs.algorithms.setup import (  # noqa: F401  (re-exported: the trainers' shared setup)
    Expert,
    make_optimizer,
    run_device,
    run_starting_calibration,
    setup_objectives,
)
from irs.algorithms.trainer_state import TrainerState
from irs.config import RunConfig, lora_enabled, normalization_of
from irs.objectives import Objective, aggregate
from irs.rl.policy import disable_dropout, starting_model
from irs.rl.sampler import Samples, sample
from irs.rl.updates import ValueHead, make_rollout, update

log = logging.getLogger(__name__)


BEST_CHARS = 300  # a step record's best candidate is cut to this many characters (text summaries)


class Trainer(TrainerState):
    """Build from a validated RunConfig; `run()` trains to the end or until `should_stop()`."""

    sampling_prompt: str | None = None  # the final model is sampled from BOS (RiC sets a prompt)

    def __init__(
        self,
        cfg: RunConfig,
        objectives: list[Objective] | None = None,
        model=None,
        tokenizer=None,
        comm=None,
        calibration: dict | None = None,
        oracle_log: str | os.PathLike | None = None,
    ):
        setup_objectives(self, cfg, objectives)
        self.budget = None  # cfg.oracle_budget: every score goes through one counter, cache and call log
        if self.cfg.oracle_budget:
            from irs.objectives.budget import budget_for
            from irs.runs.results import oracle_objectives

            self.budget = budget_for(
                self.cfg, self.domain, self.objectives, oracle_objectives(self.domain, self.cfg), oracle_log
            )
            self.objectives = self.budget.wrap(self.objectives)
        self.max_new_tokens = self.cfg.rl.max_new_tokens or self.domain.max_new_tokens

        self.comm = comm or LocalComm()
        self.device = run_device(self.comm)
        torch.manual_seed(self.cfg.seed)
        if model is None:
            model, tokenizer = starting_model(self.cfg, self.domain)
        self.tokenizer = tokenizer
        self.lora = lora_enabled(self.cfg, self.domain)
        self._prompt_cache: dict[str, list[dict]] = {}
        if self.domain.prompts is None and self.cfg.sft.steps:
            raise ValueError(
                f"config field sft.steps = {self.cfg.sft.steps}: domain {self.domain.name!r} has no "
                f"(prompt, reference) data for SFT"
            )
        self.sft_stats = None
        if self.cfg.sft.steps:  # once, on the shared initial model (deterministic: a resume redoes it exactly)
            from irs.rl.sft import sft

            model, self.sft_stats = sft(
                disable_dropout(model).to(self.device),
                tokenizer,
                self.prompt_records("train"),
                self.cfg.sft,
                lora=self.cfg.lora if self.lora else None,
                seed=self.cfg.seed,
                bf16=self.bf16,
                max_grad_norm=self.cfg.rl.max_grad_norm,
            )
            log.info(
                "SFT: %d steps, loss %.4f -> %.4f in %.1f s",
                self.cfg.sft.steps,
                self.sft_stats["loss_first"],
                self.sft_stats["loss_last"],
                self.sft_stats["seconds"],
            )
        self.ref = disable_dropout(copy.deepcopy(model)).eval()
        for p in self.ref.parameters():
            p.requires_grad_(False)
        # reward normalization: the objectives' data statistics, or calibrated on the starting model's samples
        self.data_objectives = list(self.objectives)
        self.calibration = calibration
        if self.calibration is None and normalization_of(self.cfg, self.domain) == "calibrated":
            self.calibration = self.compute_calibration(model)
        self._apply_calibration(self.calibration)
        self.memory: dict[int, dict[str, int]] = {}  # diversity filter: per expert, key -> times rewarded

        N = len(self.objectives)
        if self.cfg.method == "morlhf":
            specs = [(-1, "morlhf")]
            T, m, M = self.cfg.merge.total_steps, self.cfg.merge.total_steps, 1
        else:
            specs = [(i, o.name) for i, o in enumerate(self.objectives)]
            T, m = self.cfg.merge.total_steps, self.cfg.effective_merge_every
            M = self.cfg.merge.subset_size or N
        self.ref.to(self.device)
        self.n_experts = len(specs)
        self.expert_names = [name for _, name in specs]
        # this process's experts: all of them, or those of this rank
        self.experts = [
            self._make_expert(k, i, name, model)
            for k, (i, name) in enumerate(specs)
            if self.comm.owner(k) == self.comm.rank
        ]
        self.by_k = {e.k: e for e in self.experts}
        self.schedule = ScheduleState(T=T, m=min(m, T), N=self.n_experts, M=min(M, self.n_experts))
        self.rng = np.random.default_rng(self.cfg.seed)  # subset draws, λ candidates
        self.generator = torch.Generator().manual_seed(self.cfg.seed + 7)  # validation samples of merges
        self.final_experts: list[dict[str, torch.Tensor]] | None = None
        self.last_lambdas: list[float] | None = None
        self.on_record: Callable[[dict], None] = lambda rec: None
        self.rollout_hook: Callable[[Expert], Samples] | None = None  # tests inject fixed samples

    def compute_calibration(self, model) -> dict:
        return run_starting_calibration(
            self.cfg,
            self.domain,
            model.to(self.device),
            self.tokenizer,
            self.data_objectives,
            self.max_new_tokens,
            self.bf16,
        )

    def _apply_calibration(self, calibration: dict | None) -> None:
        from irs.objectives.calibration import apply

        self.calibration = calibration
        self.objectives = apply(self.data_objectives, calibration["train"] if calibration else None)

    def _make_expert(self, k: int, index: int, name: str, model) -> Expert:
        m = disable_dropout(copy.deepcopy(model)).to(self.device).train()
        if self.lora:
            from irs.rl.sft import add_lora

            m = add_lora(m, self.cfg.lora, self.cfg.seed + 2000 + k).train()
        vh = None
        params = [p for p in m.parameters() if p.requires_grad]
        groups = [{"params": params}]
        if self.cfg.rl.algo == "ppo":
            hidden = m.config.hidden_size if hasattr(m.config, "hidden_size") else m.config.n_embd
            torch.manual_seed(self.cfg.seed + 1000 + index)
            vh = ValueHead(hidden).to(self.device)
            groups.append({"params": list(vh.parameters()), "lr": self.cfg.rl.vf_lr or self.cfg.rl.lr})
        gen = torch.Generator(self.device).manual_seed(self.cfg.seed * 1000 + 17 * k + 1)
        return Expert(k, index, name, m, make_optimizer(groups, self.cfg.rl), gen, vh)

    # ---- prompts (prompt domains only) --------------------------------------------------------------
    def prompt_records(self, split: str) -> list[dict]:
        if split not in self._prompt_cache:
            recs = self.domain.prompts(split)
            if not recs:
                raise ValueError(f"domain {self.domain.name!r} has no prompts in split {split!r}")
            self._prompt_cache[split] = recs
        return self._prompt_cache[split]

    @property
    def samples_per_prompt(self) -> int:
        r = self.cfg.rl
        if r.samples_per_prompt:
            return r.samples_per_prompt
        return r.rloo_k if r.algo == "rloo" and r.rloo_k else 1

    def draw_contexts(
        self, n: int, generator: torch.Generator, split: str = "train", per_prompt: int = 1
    ) -> list[dict] | None:
        """n prompt records (n / per_prompt distinct draws, each repeated per_prompt times in a row), drawn
        with `generator`; None for domains without prompts (no RNG is used then)."""
        if self.domain.prompts is None:
            return None
        recs = self.prompt_records(split)
        idx = torch.randint(len(recs), (n // per_prompt,), generator=generator, device=generator.device).tolist()
        return [recs[i] for i in idx for _ in range(per_prompt)]

    # ---- one expert step: sample -> score -> rollout -> update ------------------------------------
    def score(
        self, expert: Expert, texts: list[str], contexts: list[dict] | None = None, t: int | None = None
    ) -> tuple[torch.Tensor, np.ndarray]:
        """Reward used for the update, [B], and the per-objective reward matrix it came from.
        contexts: the prompt record of each text (prompt domains). t: the step (the null control's
        permutation is drawn from (seed, expert, t), so it needs no saved RNG state)."""
        reward, R, _ = self._step_reward(expert, texts, contexts, t)
        return torch.tensor(reward, dtype=torch.float32), R

    def _step_reward(self, expert: Expert, texts: list[str], contexts: list[dict] | None, t: int | None):
        """(update reward [B] as numpy, per-objective reward matrix, canonical forms): `score`'s work, with
        the canonical forms kept so that the step's monitors need not recompute them."""
        reward, R, canon = self._score(expert, texts, contexts)
        r = self.cfg.rl
        if r.diversity_filter != "none":
            reward = self._diversity_filter(expert.k, reward, canon)
        if r.null_control:  # same rewards, shuffled across the batch: no information about the samples
            reward = reward[np.random.default_rng([self.cfg.seed, expert.k, t or 0]).permutation(len(reward))]
        return reward, R, canon

    def _diversity_filter(self, k: int, reward: np.ndarray, canon: list[str | None]) -> np.ndarray:
        """REINVENT-style memory: a canonical form (or its scaffold) rewarded diversity_bucket times already
        gets invalid_reward from then on, so repeating one good candidate stops paying."""
        r = self.cfg.rl
        mem = self.memory.setdefault(k, {})
        keyf = self.domain.scaffold if r.diversity_filter == "scaffold" and self.domain.scaffold else (lambda c: c)
        out = reward.copy()
        for i, c in enumerate(canon):
            if c is None:
                continue
            key = keyf(c)
            n = mem.get(key, 0)
            if n >= r.diversity_bucket:
                out[i] = r.invalid_reward
            mem[key] = n + 1
        return out

    def _score(self, expert: Expert, texts: list[str], contexts: list[dict] | None = None):
        canon = self.domain.canonical(texts)
        keyed = [c if c is not None else "" for c in canon]
        idx = range(len(self.objectives)) if expert.index < 0 else [expert.index]
        R = np.full((len(texts), len(self.objectives)), np.nan)
        for j in idx:
            r = self.objectives[j].reward(keyed, contexts)
            r[[c is None for c in canon]] = self.cfg.rl.invalid_reward
            R[:, j] = r
        if expert.index < 0:
            reward = aggregate(np.nan_to_num(R, nan=self.cfg.rl.invalid_reward), self.weights, self.cfg.aggregation)
        else:
            reward = R[:, expert.index]
        return np.nan_to_num(reward, nan=self.cfg.rl.invalid_reward), R, canon

    def rollout_samples(self, expert: Expert, contexts: list[dict] | None = None) -> Samples:
        if self.rollout_hook is not None:
            return self.rollout_hook(expert)
        r = self.cfg.rl
        return sample(
            expert.model,
            self.tokenizer,
            r.batch_size,
            max_new_tokens=self.max_new_tokens,
            temperature=r.temperature,
            top_k=r.top_k,
            top_p=r.top_p,
            generator=expert.generator,
            bf16=self.bf16,
            batch_size=r.batch_size,
            prompt=None if contexts is None else [c["prompt"] for c in contexts],
        )

    def expert_step(self, k: int, t: int) -> dict:
        ex = self.by_k[k]
        t0 = time.perf_counter()
        ctx = self.draw_contexts(self.cfg.rl.batch_size, ex.generator, "train", self.samples_per_prompt)
        s = self.rollout_samples(ex, ctx)
        reward, R, canon = self._step_reward(ex, s.texts, ctx, t)
        scores = torch.tensor(reward, dtype=torch.float32, device=self.device)
        ro = make_rollout(ex.model, self.ref, ex.value_head, s, scores, self.cfg.rl, self.bf16)
        r = self.cfg.rl
        stats = update(ex.model, ex.value_head, ex.optimizer, ro, r, self.bf16, ex.generator, t >= r.vf_warmup)
        valid = [c for c in canon if c is not None]
        rec = {
            "type": "step",
            "step": t + 1,
            "expert": ex.name,
            "reward": float(scores.mean()),
            "kl": float(ro.kl.sum(1).mean()),
            "length": float(s.lengths.float().mean()),
            "valid": len(valid) / max(1, len(canon)),
            "unique": len(set(valid)) / len(valid) if valid else float("nan"),
            "size": float(np.mean([self.domain.size(c) for c in valid])) if valid else float("nan"),
            # the objectives' own rewards over valid samples (not the shuffled null-control reward)
            **{
                f"r_{o.name}": float(np.nanmean(np.where([c is not None for c in canon], R[:, j], np.nan)))
                for j, o in enumerate(self.objectives)
                if valid and not np.isnan(R[:, j]).all()
            },
            "seconds": round(time.perf_counter() - t0, 4),
            **{k: round(v, 6) for k, v in stats.items()},
        }
        ok = [i for i, c in enumerate(canon) if c is not None and np.isfinite(reward[i])]
        if ok:  # the step's best valid sample by the expert's reward (REINVENT's per-step view of training)
            b = max(ok, key=lambda i: reward[i])
            rec["best"], rec["best_reward"] = str(canon[b])[:BEST_CHARS], float(reward[b])
        self.on_record(rec)
        return rec

    # ---- merging ----------------------------------------------------------------------------------
    def merge(self, S: list[int], final: bool) -> None:
        """ρ = Σ_{k∈S} λ_k θ_k into every expert (eq. 9); across ranks a weighted all-reduce."""
        if final:  # keep the final experts, so the merged model can be re-made with any λ later
            self.final_experts = {
                e.k: {n: v.detach().clone() for n, v in self.final_state(e).items()} for e in self.experts
            }
        if self.n_experts == 1:
            self.last_lambdas = [1.0]
            return
        lam = self.choose_lambdas(S, final)
        mine = [(l, self.by_k[k]) for l, k in zip(lam, S) if k in self.by_k]
        comm = self.comm if self.comm.world > 1 else None
        merge_into([e.model for _, e in mine], [l for l, _ in mine], targets=[e.model for e in self.experts], comm=comm)
        n_dense = len(trainable_params(self.experts[0].model))
        merge_optimizer_states(
            [e.optimizer for _, e in mine],
            [l for l, _ in mine],
            [e.opt_params()[:n_dense] for _, e in mine],
            self.cfg.merge.optimizer_state,
            comm=comm,
            targets=[(e.optimizer, e.opt_params()[:n_dense]) for e in self.experts],
        )
        self.last_lambdas = [float(x) for x in lam]
        self.on_record(
            {
                "type": "merge",
                "step": self.schedule.t + 1,
                "subset": [self.expert_names[k] for k in S],
                "lambdas": self.last_lambdas,
                "final": final,
            }
        )

    def choose_lambdas(self, S: list[int], final: bool = False) -> np.ndarray:
        """eq. 10, or the candidate with the best mean validation reward (weighted over S).
        Every rank evaluates every candidate identically (same merged weights, same RNG).
        Prompt domains score every candidate on the same prompts: from train during training, from val
        for the final merge (paper App. B.3)."""
        mc = self.cfg.merge
        w = self.weights
        cands = candidate_lambdas(mc.lambdas, w, S, self.rng, mc.lambda_grid or None, mc.n_candidates_mc)
        if len(cands) == 1:
            return cands[0]
        ctx = self.draw_contexts(mc.n_val_samples, self.generator, "val" if final else "train")
        scratch = copy.deepcopy(self.experts[0].model)
        comm = self.comm if self.comm.world > 1 else None
        best, best_val = cands[0], -np.inf
        for lam in cands:
            mine = [(l, self.by_k[k]) for l, k in zip(lam, S) if k in self.by_k]
            merge_into([e.model for _, e in mine], [l for l, _ in mine], targets=[scratch], comm=comm)
            s = sample(
                scratch,
                self.tokenizer,
                mc.n_val_samples,
                max_new_tokens=self.max_new_tokens,
                temperature=self.cfg.rl.temperature,
                generator=self.generator,
                bf16=self.bf16,
                prompt=None if ctx is None else [c["prompt"] for c in ctx],
            )
            canon = [c or "" for c in self.domain.canonical(s.texts)]
            R = np.stack([self.objectives[self.expert_index(k)].reward(canon, ctx) for k in S], 1)
            val = float(np.nanmean(aggregate(R, fixed_lambdas(w, S))))
            if val > best_val:
                best, best_val = lam, val
        return best

    def expert_index(self, k: int) -> int:
        return k  # experts are in objective order (MORLHF has a single expert and never merges)

    # ---- driving the schedule ---------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] = lambda: False, after_step: Callable[[], None] = lambda: None):
        """Train until done or should_stop(). after_step() then should_stop() run at every step
        boundary before the next step (not after the last one: the caller finishes up itself)."""

        def step(k, t):
            if k in self.by_k:
                self.expert_step(k, t)

        def merge(S, final):
            self.merge(S, final)

        def stop():
            if self.schedule.t > 0:
                after_step()
            return should_stop()

        def budget_spent():
            if self.budget is None or not self.budget.spent:
                return False
            self.on_record({"type": "budget", "step": self.schedule.t + 1, **self.budget.state()})
            log.info("oracle budget: %d calls used, training ends at step %d", self.budget.calls, self.schedule.t + 1)
            return True

        run_schedule(self.schedule, self.rng, step, merge, stop, budget_spent)
        return self

    @property
    def done(self) -> bool:
        return self.schedule.done
