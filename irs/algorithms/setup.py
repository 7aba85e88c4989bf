"""What every trainer shares before it trains: an expert's parts, the optimizer, the run's objectives
(validated against the preset), the calibrated reward scale and the device."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from irs.config import RunConfig, bf16_flag, validate
from irs.domains import get_domain
from irs.objectives import Objective
from irs.rl.updates import ValueHead

log = logging.getLogger(__name__)


@dataclass
class Expert:
    k: int  # position in the schedule (0..n_experts-1)
    index: int  # objective index (MORLHF: -1 = aggregated reward)
    name: str
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    generator: torch.Generator  # the expert's own sampling RNG: results do not depend on which
    value_head: ValueHead | None = None  # rank or in which order experts run

    def opt_params(self) -> list[torch.nn.Parameter]:
        return [p for g in self.optimizer.param_groups for p in g["params"]]


def make_optimizer(params, cfg) -> torch.optim.Optimizer:
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=cfg.lr)
    return torch.optim.Adam(params, lr=cfg.lr)


def setup_objectives(trainer, cfg: RunConfig, objectives: list[Objective] | None = None) -> None:
    """The objective setup every trainer shares: sets trainer.domain, trainer.cfg (validated against the
    preset's objective names), trainer.objectives (the run's, in config order, with the run's invalid
    reward), trainer.weights and trainer.bf16. `objectives` replaces the domain preset's (tests)."""
    trainer.domain = get_domain(cfg.domain)
    preset_objs = objectives if objectives is not None else trainer.domain.objectives(cfg.preset or None)
    trainer.cfg = validate(cfg, [o.name for o in preset_objs])
    by_name = {o.name: o for o in preset_objs}
    trainer.objectives = [by_name[n] for n in trainer.cfg.objective_names]
    for o in trainer.objectives:
        o.invalid_reward = trainer.cfg.rl.invalid_reward
    trainer.weights = np.asarray(trainer.cfg.weights)
    trainer.bf16 = bf16_flag(trainer.cfg.rl)


def run_starting_calibration(
    cfg: RunConfig, domain, model, tokenizer, objectives: list[Objective], max_new_tokens: int, bf16
) -> dict:
    """The calibrated normalization of a run (irs.objectives.calibration) for its training `objectives`
    and its oracle, from samples of the starting `model`; cached by the model's weights under
    $IRS_CACHE_DIR (default runs/.cache) when the model is a shipped directory."""
    from irs.objectives.calibration import starting_calibration
    from irs.paths import ROOT, resolve
    from irs.runs.results import oracle_objectives

    spec = cfg.model or domain.default_model
    model_dir = None if (cfg.sft.steps or spec.startswith("tiny:")) else resolve(spec)
    cache = os.environ.get("IRS_CACHE_DIR") or ROOT / "runs" / ".cache"
    t0 = time.perf_counter()
    cal = starting_calibration(
        cfg,
        domain,
        model,
        tokenizer,
        objectives,
        oracle_objectives(domain, cfg),
        max_new_tokens,
        bf16,
        model_dir=model_dir,
        cache_dir=Path(cache) / "calibration",
    )
    log.info(
        "calibrated normalization on %d samples (%d valid) in %.1f s: %s",
        cal["samples"],
        cal["valid"],
        time.perf_counter() - t0,
        {k: (round(v["lo"], 4), round(v["hi"], 4)) for k, v in cal["train"].items()},
    )
    return cal


def run_device(comm) -> torch.device:
    """Where a trainer computes: this rank's GPU when CUDA is available, else the CPU. One process may
    override it with IRS_DEVICE=cpu or cuda; torch.distributed ranks follow their backend (NCCL: GPU)."""
    from irs import env

    want = env.device()
    if comm.world > 1 or want == "auto":
        want = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device("cuda", torch.cuda.current_device()) if want == "cuda" else torch.device("cpu")
