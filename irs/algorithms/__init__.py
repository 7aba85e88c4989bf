"""IterativeRS (Algorithm 1) and its presets MORLHF and Rewarded Soups; merging and λ strategies; RiC.

`make_trainer(cfg, comm=None)` is the one entry point the worker, the CLI and the benchmarks use; every
trainer it returns offers the RunTrainer surface below.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class RunTrainer(Protocol):
    """What the worker (irs.runs.worker) and the benchmarks use of a trainer: Trainer (IterativeRS, MORLHF,
    Rewarded Soups) and RiCTrainer both implement it."""

    cfg: Any  # the validated RunConfig
    domain: Any  # irs.domains.Domain
    tokenizer: Any
    comm: Any  # irs.algorithms.distributed: LocalComm or TorchDistComm
    schedule: Any  # ScheduleState: t, T, m, done
    bf16: bool | None
    max_new_tokens: int
    calibration: dict | None  # the reward scale calibrated on the starting model, or None
    lora: bool  # final experts hold only the adapted layers (W + B·A) over final/'s base
    sampling_prompt: str | None  # RiC: the desired-score prompt the final model is sampled with
    expert_names: list[str]
    last_lambdas: list[float] | None
    on_record: Callable[[dict], None]

    @property
    def done(self) -> bool: ...

    def run(self, should_stop: Callable[[], bool] = ..., after_step: Callable[[], None] = ...) -> Any: ...

    def save(self, path: Path) -> None: ...

    def load(self, path: Path) -> None: ...

    def final_model(self) -> Any: ...

    def final_expert_states(self) -> list[dict]: ...


def make_trainer(cfg, comm=None, oracle_log=None) -> RunTrainer:
    """oracle_log: where a run with an oracle budget keeps its call log (irs.objectives.budget)."""
    if cfg.method == "ric":
        from irs.algorithms.ric import RiCTrainer

        return RiCTrainer(cfg, comm=comm)
    from irs.algorithms.trainer import Trainer

    return Trainer(cfg, comm=comm, oracle_log=oracle_log)
