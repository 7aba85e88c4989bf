"""RiC trainer checkpoints: an exact save and restore (safetensors and JSON only, no pickle)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch

from irs.algorithms.schedule import ScheduleState
from irs.checkpoint import flatten_optimizer, load_tensors, restore_optimizer, save_tensors
from irs.io import atomic_write_json, replace_dir


def save_trainer(tr, directory: str | os.PathLike) -> Path:
    """Write the trainer's exact state (model, optimizer, RNGs, online samples, schedule) atomically."""
    d = Path(directory)
    tmp = d.with_name(f".{d.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    save_tensors(dict(tr.model.state_dict()), tmp / "model.safetensors")
    opt_t, opt_meta = flatten_optimizer(tr.optimizer)
    save_tensors(opt_t, tmp / "optim.safetensors")
    atomic_write_json(tmp / "optim.json", opt_meta)
    save_tensors(
        {
            "torch_rng": torch.get_rng_state(),
            "generator": tr.generator.get_state(),
            "online_R": torch.from_numpy(np.ascontiguousarray(tr.online_R, dtype=np.float64)),
        },
        tmp / "rng.safetensors",
    )
    if tr.final_experts is not None:
        save_tensors(tr.final_experts[0], tmp / "final_expert_0.safetensors")
    tr.tokenizer.save(tmp)
    atomic_write_json(
        tmp / "online.json",
        {
            "texts": tr.online_texts,
            "prompt_ids": None if tr.online_ctx is None else [c["id"] for c in tr.online_ctx],
        },
    )
    atomic_write_json(
        tmp / "state.json",
        {
            "method": "ric",
            "schedule": tr.schedule.to_dict(),
            "rng": tr.rng.bit_generator.state,
            "rounds_done": tr.rounds_done,
            "has_final": tr.final_experts is not None,
            "n_experts": 1,
            "vocab_size": tr.tokenizer.vocab_size,
            "metadata": tr.metadata(),
            "objective_counts": [[o.n_scored, o.n_invalid] for o in tr.objectives],
        },
    )
    replace_dir(tmp, d)
    return d


def load_trainer(tr, directory: str | os.PathLike):
    """Restore what save_trainer wrote into `tr` (same config); returns `tr`."""
    d = Path(directory)
    if not (d / "state.json").is_file():
        raise FileNotFoundError(f"{d} is not a trainer checkpoint (no state.json)")
    state = json.loads((d / "state.json").read_text())
    if state.get("method") != "ric":
        raise ValueError(f"{d} is not a RiC checkpoint (method {state.get('method')!r})")
    if state["vocab_size"] != tr.tokenizer.vocab_size:
        raise ValueError(
            f"checkpoint vocabulary has {state['vocab_size']} tokens, this config {tr.tokenizer.vocab_size}"
        )
    tr.model.load_state_dict(load_tensors(d / "model.safetensors"))
    restore_optimizer(tr.optimizer, load_tensors(d / "optim.safetensors"), json.loads((d / "optim.json").read_text()))
    rng = load_tensors(d / "rng.safetensors")
    torch.set_rng_state(rng["torch_rng"])
    tr.generator.set_state(rng["generator"])
    tr.online_R = rng["online_R"].numpy().reshape(-1, len(tr.objectives)).copy()
    online = json.loads((d / "online.json").read_text())
    tr.online_texts = list(online["texts"])
    if tr.contextual:
        by_id = {r["id"]: r for r in tr.domain.prompts("train")}
        tr.online_ctx = [by_id[i] for i in online.get("prompt_ids") or []]
    tr.schedule = ScheduleState.from_dict(state["schedule"])
    tr.rng.bit_generator.state = state["rng"]
    tr.rounds_done = state["rounds_done"]
    tr._data_phase = None
    tr.final_experts = [load_tensors(d / "final_expert_0.safetensors")] if state["has_final"] else None
    for o, (n, bad) in zip(tr.objectives, state.get("objective_counts", [])):
        o.n_scored, o.n_invalid = n, bad
    return tr
