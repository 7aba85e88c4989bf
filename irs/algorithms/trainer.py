"""The language-model trainer behind every method: IterativeRS, MORLHF and Rewarded Soups.

One expert per objective (each its own policy copy, optimizer and, under PPO, value head) runs
sample → score → rollout (KL to the frozen reference, advantages) → update, and every m steps the
experts are merged (eq. 9) through `run_schedule`, the same loop the Theorem 1 test runs.

Presets (Section 4.2):
- iterative_rs:   N experts, merge every m steps over M-subsets.
- rewarded_soups: the same with m = T (experts train independently, one merge at the end).
- morlhf:         one policy on the aggregated reward (weighted sum by default).

A Trainer can stop at any step boundary and be saved and restored exactly (weights, optimizer and
value-head states, schedule, RNG), which is what `irs resume` relies on.
"""
from __future__ import annotations

import copy
import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from irs.algorithms.merging import merge_into, merge_optimizer_states, trainable_params
from irs.algorithms.schedule import ScheduleState, candidate_lambdas, fixed_lambdas, run_schedule
from irs.checkpoint import load_tensors, save_tensors
from irs.config import RunConfig, bf16_flag, validate
from irs.domains import get_domain
from irs.io import atomic_write_json
from irs.objectives import Objective, aggregate
from irs.rl.policy import build_model, disable_dropout
from irs.rl.sampler import Samples, sample
from irs.rl.updates import ValueHead, make_rollout, update

log = logging.getLogger(__name__)


@dataclass
class Expert:
    index: int                      # objective index (MORLHF: -1 = aggregated reward)
    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    value_head: ValueHead | None = None


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    return torch.optim.Adam(params, lr=cfg.lr)


class Trainer:
    """Build from a validated RunConfig; `run()` trains to the end or until `should_stop()`."""

    def __init__(self, cfg: RunConfig, objectives: list[Objective] | None = None, model=None, tokenizer=None):
        self.domain = get_domain(cfg.domain)
        preset_objs = objectives if objectives is not None else self.domain.objectives(cfg.preset or None)
        self.cfg = validate(cfg, [o.name for o in preset_objs])
        by_name = {o.name: o for o in preset_objs}
        self.objectives = [by_name[n] for n in self.cfg.objective_names]
        for o in self.objectives:
            o.invalid_reward = self.cfg.rl.invalid_reward
        self.weights = np.asarray(self.cfg.weights)
        self.bf16 = bf16_flag(self.cfg.rl)
        self.max_new_tokens = self.cfg.rl.max_new_tokens or self.domain.max_new_tokens

        torch.manual_seed(self.cfg.seed)
        if model is None:
            model, tokenizer = build_model(self.cfg.model or self.domain.default_model,
                                           self.domain_tokenizer(), seed=self.cfg.seed)
        self.tokenizer = tokenizer
        self.ref = disable_dropout(copy.deepcopy(model)).eval()
        for p in self.ref.parameters():
            p.requires_grad_(False)

        N = len(self.objectives)
        if self.cfg.method == "morlhf":
            specs = [(-1, "morlhf")]
            T, m, M = self.cfg.merge.total_steps, self.cfg.merge.total_steps, 1
        else:
            specs = [(i, o.name) for i, o in enumerate(self.objectives)]
            T, m = self.cfg.merge.total_steps, self.cfg.effective_merge_every
            M = self.cfg.merge.subset_size or N
        self.experts = [self._make_expert(i, name, model) for i, name in specs]
        self.schedule = ScheduleState(T=T, m=min(m, T), N=len(self.experts), M=min(M, len(self.experts)))
        self.rng = np.random.default_rng(self.cfg.seed)
        self.generator = torch.Generator().manual_seed(self.cfg.seed)
        self.final_experts: list[dict[str, torch.Tensor]] | None = None
        self.last_lambdas: list[float] | None = None
        self.on_record: Callable[[dict], None] = lambda rec: None
        self.rollout_hook: Callable[[Expert], Samples] | None = None  # tests inject fixed samples

    def domain_tokenizer(self):
        mod = __import__(f"irs.domains.{self.domain.name}", fromlist=["tokenizer"])
        return mod.tokenizer() if hasattr(mod, "tokenizer") else None

    def _make_expert(self, index: int, name: str, model) -> Expert:
        m = disable_dropout(copy.deepcopy(model)).train()
        vh = None
        params = [p for p in m.parameters() if p.requires_grad]
        if self.cfg.rl.algo == "ppo":
            hidden = m.config.hidden_size if hasattr(m.config, "hidden_size") else m.config.n_embd
            torch.manual_seed(self.cfg.seed + 1000 + index)
            vh = ValueHead(hidden)
            params += list(vh.parameters())
        return Expert(index, name, m, make_optimizer(params, self.cfg.rl), vh)

    # ---- one expert step: sample -> score -> rollout -> update ------------------------------------
    def score(self, expert: Expert, texts: list[str]) -> tuple[torch.Tensor, np.ndarray]:
        """Reward used for the update, [B], and the per-objective reward matrix it came from."""
        canon = self.domain.canonical(texts)
        keyed = [c if c is not None else "" for c in canon]
        idx = range(len(self.objectives)) if expert.index < 0 else [expert.index]
        R = np.full((len(texts), len(self.objectives)), np.nan)
        for j in idx:
            r = self.objectives[j].reward(keyed)
            r[[c is None for c in canon]] = self.cfg.rl.invalid_reward
            R[:, j] = r
        if expert.index < 0:
            reward = aggregate(np.nan_to_num(R, nan=self.cfg.rl.invalid_reward), self.weights, self.cfg.aggregation)
        else:
            reward = R[:, expert.index]
        return torch.tensor(np.nan_to_num(reward, nan=self.cfg.rl.invalid_reward), dtype=torch.float32), R

    def rollout_samples(self, expert: Expert) -> Samples:
        if self.rollout_hook is not None:
            return self.rollout_hook(expert)
        r = self.cfg.rl
        return sample(expert.model, self.tokenizer, r.batch_size, max_new_tokens=self.max_new_tokens,
                      temperature=r.temperature, top_k=r.top_k, top_p=r.top_p, generator=self.generator,
                      bf16=self.bf16, batch_size=r.batch_size)

    def expert_step(self, i: int, t: int) -> dict:
        ex = self.experts[i]
        t0 = time.perf_counter()
        s = self.rollout_samples(ex)
        scores, _ = self.score(ex, s.texts)
        ro = make_rollout(ex.model, self.ref, ex.value_head, s, scores, self.cfg.rl, self.bf16)
        stats = update(ex.model, ex.value_head, ex.optimizer, ro, self.cfg.rl, self.bf16, self.generator)
        rec = {"type": "step", "step": t + 1, "expert": ex.name, "reward": float(scores.mean()),
               "kl": float(ro.kl.sum(1).mean()), "length": float(s.lengths.float().mean()),
               "valid": float(np.mean([c is not None for c in self.domain.canonical(s.texts)])),
               "seconds": round(time.perf_counter() - t0, 4), **{k: round(v, 6) for k, v in stats.items()}}
        self.on_record(rec)
        return rec

    # ---- merging ----------------------------------------------------------------------------------
    def merge(self, S: list[int], final: bool) -> None:
        models = [self.experts[i].model for i in S]
        if final:  # keep the final experts, so the merged model can be re-made with any λ later
            self.final_experts = [{k: v.detach().clone() for k, v in self.expert_state(e).items()}
                                  for e in self.experts]
        if len(self.experts) == 1:
            self.last_lambdas = [1.0]
            return
        lam = self.choose_lambdas(S)
        merge_into(models, lam, targets=[e.model for e in self.experts])
        opt_params = [[p for g in self.experts[i].optimizer.param_groups for p in g["params"]] for i in S]
        merge_optimizer_states([self.experts[i].optimizer for i in S], lam,
                               [ps[: len(trainable_params(self.experts[i].model))] for ps, i in zip(opt_params, S)],
                               self.cfg.merge.optimizer_state)
        self.last_lambdas = [float(x) for x in lam]
        self.on_record({"type": "merge", "step": self.schedule.t + 1, "subset": [self.experts[i].name for i in S],
                        "lambdas": self.last_lambdas, "final": final})

    def choose_lambdas(self, S: list[int]) -> np.ndarray:
        mc = self.cfg.merge
        w = self.weights
        cands = candidate_lambdas(mc.lambdas, w, S, self.rng, mc.lambda_grid or None, mc.n_candidates_mc)
        if len(cands) == 1:
            return cands[0]
        # selective / Monte Carlo: best mean validation reward (weighted over S) of each candidate merge
        scratch = self.experts[S[0]].model if False else copy.deepcopy(self.experts[S[0]].model)
        models = [self.experts[i].model for i in S]
        best, best_val = cands[0], -np.inf
        for lam in cands:
            merge_into(models, lam, targets=[scratch])
            s = sample(scratch, self.tokenizer, mc.n_val_samples, max_new_tokens=self.max_new_tokens,
                       temperature=self.cfg.rl.temperature, generator=self.generator, bf16=self.bf16)
            canon = [c or "" for c in self.domain.canonical(s.texts)]
            R = np.stack([self.objectives[i].reward(canon) for i in S], 1)
            val = float(np.nanmean(aggregate(R, fixed_lambdas(w, S))))
            if val > best_val:
                best, best_val = lam, val
        return best

    # ---- driving the schedule ---------------------------------------------------------------------
    def run(self, should_stop: Callable[[], bool] = lambda: False, after_step: Callable[[], None] = lambda: None):
        def step(i, t):
            self.expert_step(self.experts.index(self.experts[i]), t)

        def merge(S, final):
            self.merge(S, final)

        def stop():
            if self.schedule.t > 0:
                after_step()
            return should_stop()

        run_schedule(self.schedule, self.rng, step, merge, stop)
        return self

    @property
    def done(self) -> bool:
        return self.schedule.done

    def final_model(self) -> torch.nn.Module:
        """π_ρT: after the final merge every expert holds ρ_T."""
        return self.experts[0].model

    # ---- state: exact save / restore at any step boundary -----------------------------------------
    def expert_state(self, e: Expert) -> dict[str, torch.Tensor]:
        ps = trainable_params(e.model)
        names = {id(p): n for n, p in e.model.named_parameters()}
        return {names[id(p)]: p for p in ps}

    def save(self, directory: str | Path) -> Path:
        """Write the full trainer state to `directory` atomically (temp dir + rename)."""
        d = Path(directory)
        tmp = d.with_name(f".{d.name}.tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        for k, e in enumerate(self.experts):
            save_tensors(dict(e.model.state_dict()), tmp / f"expert_{k}.safetensors")
            if e.value_head is not None:
                save_tensors(e.value_head.state_dict(), tmp / f"value_{k}.safetensors")
            opt_t, opt_meta = _flatten_optimizer(e.optimizer)
            save_tensors(opt_t, tmp / f"optim_{k}.safetensors")
            (tmp / f"optim_{k}.json").write_text(json.dumps(opt_meta))
        if self.final_experts is not None:
            for k, st in enumerate(self.final_experts):
                save_tensors(st, tmp / f"final_expert_{k}.safetensors")
        save_tensors({"torch_rng": torch.get_rng_state(), "generator": self.generator.get_state()},
                     tmp / "rng.safetensors")
        state = {"schedule": self.schedule.to_dict(), "rng": self.rng.bit_generator.state,
                 "last_lambdas": self.last_lambdas, "has_final": self.final_experts is not None,
                 "objective_counts": [[o.n_scored, o.n_invalid] for o in self.objectives]}
        atomic_write_json(tmp / "state.json", state)
        old = d.with_name(f".{d.name}.old{os.getpid()}")
        if d.exists():
            os.replace(d, old)
        os.replace(tmp, d)
        shutil.rmtree(old, ignore_errors=True)
        return d

    def load(self, directory: str | Path) -> "Trainer":
        d = Path(directory)
        state = json.loads((d / "state.json").read_text())
        for k, e in enumerate(self.experts):
            e.model.load_state_dict(load_tensors(d / f"expert_{k}.safetensors"))
            if e.value_head is not None:
                e.value_head.load_state_dict(load_tensors(d / f"value_{k}.safetensors"))
            _restore_optimizer(e.optimizer, load_tensors(d / f"optim_{k}.safetensors"),
                               json.loads((d / f"optim_{k}.json").read_text()))
        if state["has_final"]:
            self.final_experts = [load_tensors(d / f"final_expert_{k}.safetensors") for k in range(len(self.experts))]
        rng = load_tensors(d / "rng.safetensors")
        torch.set_rng_state(rng["torch_rng"])
        self.generator.set_state(rng["generator"])
        self.schedule = ScheduleState.from_dict(state["schedule"])
        self.rng.bit_generator.state = state["rng"]
        self.last_lambdas = state["last_lambdas"]
        for o, (n, bad) in zip(self.objectives, state.get("objective_counts", [])):
            o.n_scored, o.n_invalid = n, bad
        return self


def _flatten_optimizer(opt: torch.optim.Optimizer):
    """Optimizer state as flat tensors + JSON (no pickle): state[j][key] for parameter index j."""
    params = [p for g in opt.param_groups for p in g["params"]]
    tensors, meta = {}, {"groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups],
                         "scalars": {}}
    for j, p in enumerate(params):
        for key, v in opt.state.get(p, {}).items():
            if torch.is_tensor(v):
                tensors[f"{j}.{key}"] = v
            else:
                meta["scalars"][f"{j}.{key}"] = v
    return tensors, meta


def _restore_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    params = [p for g in opt.param_groups for p in g["params"]]
    opt.state.clear()
    for g, saved in zip(opt.param_groups, meta["groups"]):
        g.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()})
    for key, v in list(tensors.items()) + list(meta["scalars"].items()):
        j, name = key.split(".", 1)
        opt.state.setdefault(params[int(j)], {})[name] = v.clone() if torch.is_tensor(v) else v
