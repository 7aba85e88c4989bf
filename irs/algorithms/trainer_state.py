"""The trainer's outputs and its exact state: the final model π_ρT and experts, and save / restore at any
step boundary (weights, optimizer and value-head states, schedule, RNG), which `irs resume` relies on.
A mixin of Trainer (irs.algorithms.trainer), which holds the experts this works on."""

from __future__ import annotations

import copy
import json
import logging
import shutil
from pathlib import Path

import torch

from irs.algorithms.merging import trainable_params
from irs.algorithms.schedule import ScheduleState
from irs.algorithms.setup import Expert
from irs.checkpoint import flatten_optimizer, load_tensors, restore_optimizer, save_tensors
from irs.io import atomic_write_json, replace_dir

log = logging.getLogger(__name__)


class TrainerState:
    """Final outputs and checkpoints of a Trainer (its experts, ref, schedule, RNGs, calibration)."""

    def final_model(self) -> torch.nn.Module:
        """π_ρT: after the final merge every expert holds ρ_T. With LoRA a plain (dense) copy: the final
        merge has folded the merged update into the base weights and zeroed every B."""
        if not self.lora:
            return self.experts[0].model
        key = self.schedule.t
        if getattr(self, "_dense_final", (None, None))[0] != key:
            from irs.rl.sft import dense

            self._dense_final = (key, dense(copy.deepcopy(self.experts[0].model)))
        return self._dense_final[1]

    def final_expert_states(self) -> list[dict[str, torch.Tensor]]:
        """The experts before the final merge, in objective order, gathered from every rank."""
        if self.final_experts is None:
            raise RuntimeError("the run has not finished: no final experts yet")
        return [self._gather(self.final_experts.get(k), k) for k in range(self.n_experts)]

    def _gather(self, state: dict | None, k: int) -> dict[str, torch.Tensor]:
        """A state of expert k, sent from its owner to every rank (identity in one process)."""
        if self.comm.world == 1:
            return state
        # one order on every rank: the model's. A state loaded from a checkpoint comes in the file's
        # (sorted) order, and a flat broadcast in two orders would pair each tensor with another's name.
        ref = self.final_state(self.experts[0])
        keys = list(ref)
        src = state if state is not None else ref
        tensors = [src[n].detach().clone() for n in keys]
        self.comm.broadcast_(tensors, src=self.comm.owner(k))
        return dict(zip(keys, tensors))

    # ---- state: exact save / restore at any step boundary -----------------------------------------
    def expert_state(self, e: Expert) -> dict[str, torch.Tensor]:
        ps = trainable_params(e.model)
        names = {id(p): n for n, p in e.model.named_parameters()}
        return {names[id(p)]: p for p in ps}

    def final_state(self, e: Expert) -> dict[str, torch.Tensor]:
        """What an expert contributes to a merge, under the dense model's parameter names: its trainable
        parameters, and with LoRA each adapted layer's effective weight W + B·A (every other weight is
        the shared base). `merge_state_dicts` of these is the merged model's weights (experts/)."""
        if not self.lora:
            return self.expert_state(e)
        from irs.algorithms.merging import _lora_layers

        out = {}
        for name, layer in _lora_layers(e.model):
            base = layer.get_base_layer().weight
            w = base.detach().clone()
            for adapter in layer.lora_A:
                w += layer.get_delta_weight(adapter).to(w.dtype)
            out[_dense_name(name) + ".weight"] = w
        names = {id(p): n for n, p in e.model.named_parameters()}
        for p in trainable_params(e.model):
            out[_dense_name(names[id(p)])] = p
        return out

    def _split_lora_state(self, e: Expert) -> tuple[dict, dict]:
        """(adapter tensors, base weights of the adapted layers) of a LoRA expert. Nothing else can differ
        from the freshly built model: the base is frozen, and merges (and a LoRA SFT) fold their updates
        into the adapted layers only, identically in every expert."""
        from irs.algorithms.merging import _lora_layers

        own = {n: p for n, p in e.model.named_parameters() if p.requires_grad}
        base = {f"{n}.base_layer.weight": layer.get_base_layer().weight for n, layer in _lora_layers(e.model)}
        return own, base

    def _ref_state(self) -> dict[str, torch.Tensor]:
        """The SFT reference as checkpointed: with a LoRA SFT only the adapted layers changed."""
        sd = self.ref.state_dict()
        if not self.lora:
            return dict(sd)
        from irs.algorithms.merging import _lora_layers

        names = [_dense_name(n) + ".weight" for n, _ in _lora_layers(self.experts[0].model)]
        return {n: sd[n] for n in names}

    def save(self, directory: str | Path) -> Path:
        """Write the full trainer state to `directory` atomically (temp dir + rename). In a distributed
        run every rank writes its own experts into the same folder (a shared filesystem across nodes)
        and rank 0 commits it, so a checkpoint resumes with any number of ranks, one included."""
        d = Path(directory)
        tmp = d.with_name(f".{d.name}.tmp")
        if self.comm.rank == 0:
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir(parents=True)
        self.comm.barrier()
        for e in self.experts:
            k = e.k
            if self.lora:  # adapters per expert; the frozen base is the same in every expert: saved once
                own, base = self._split_lora_state(e)
                save_tensors(own, tmp / f"expert_{k}.safetensors")
                if k == 0:
                    save_tensors(base, tmp / "base.safetensors")
            else:
                save_tensors(dict(e.model.state_dict()), tmp / f"expert_{k}.safetensors")
            if e.value_head is not None:
                save_tensors(e.value_head.state_dict(), tmp / f"value_{k}.safetensors")
            opt_t, opt_meta = flatten_optimizer(e.optimizer)
            save_tensors(opt_t, tmp / f"optim_{k}.safetensors")
            atomic_write_json(tmp / f"optim_{k}.json", opt_meta)
            save_tensors({"generator": e.generator.get_state()}, tmp / f"rng_{k}.safetensors")
            if self.final_experts is not None:
                save_tensors(self.final_experts[k], tmp / f"final_expert_{k}.safetensors")
            if k in self.memory:
                atomic_write_json(tmp / f"memory_{k}.json", self.memory[k])
        self.comm.barrier()
        if self.comm.rank == 0:
            save_tensors(
                {"torch_rng": torch.get_rng_state(), "generator": self.generator.get_state()}, tmp / "rng.safetensors"
            )
            if self.sft_stats is not None:  # the KL reference is the SFT model, not the model spec
                save_tensors(self._ref_state(), tmp / "ref.safetensors")
            state = {
                "schedule": self.schedule.to_dict(),
                "rng": self.rng.bit_generator.state,
                "last_lambdas": self.last_lambdas,
                "has_final": self.final_experts is not None,
                "n_experts": self.n_experts,
                "calibration": self.calibration,
                "objective_counts": [[o.n_scored, o.n_invalid] for o in self.objectives],
            }
            atomic_write_json(tmp / "state.json", state)
            replace_dir(tmp, d)
        self.comm.barrier()
        return d

    def load(self, directory: str | Path) -> TrainerState:
        d = Path(directory)
        if not (d / "state.json").is_file():
            raise FileNotFoundError(f"{d} is not a trainer checkpoint (no state.json)")
        state = json.loads((d / "state.json").read_text())
        if state.get("n_experts", self.n_experts) != self.n_experts:
            raise ValueError(f"checkpoint has {state['n_experts']} experts, the config {self.n_experts}")
        base = load_tensors(d / "base.safetensors") if self.lora else None
        if (d / "ref.safetensors").is_file():
            _load_partial(self.ref, load_tensors(d / "ref.safetensors"), strict=not self.lora)
        for e in self.experts:
            k = e.k
            if self.lora:
                _load_partial(e.model, {**base, **load_tensors(d / f"expert_{k}.safetensors")}, strict=False)
            else:
                e.model.load_state_dict(load_tensors(d / f"expert_{k}.safetensors"))
            if e.value_head is not None:
                e.value_head.load_state_dict(load_tensors(d / f"value_{k}.safetensors"))
            restore_optimizer(
                e.optimizer, load_tensors(d / f"optim_{k}.safetensors"), json.loads((d / f"optim_{k}.json").read_text())
            )
            e.generator.set_state(load_tensors(d / f"rng_{k}.safetensors")["generator"])
            if (d / f"memory_{k}.json").is_file():
                self.memory[k] = json.loads((d / f"memory_{k}.json").read_text())
        if state["has_final"]:
            self.final_experts = {e.k: load_tensors(d / f"final_expert_{e.k}.safetensors") for e in self.experts}
        if "calibration" not in state and self.calibration is not None:
            log.info("checkpoint from before calibrated normalization: resuming with the data statistics")
        self._apply_calibration(state.get("calibration"))
        rng = load_tensors(d / "rng.safetensors")
        torch.set_rng_state(rng["torch_rng"])
        self.generator.set_state(rng["generator"])
        self.schedule = ScheduleState.from_dict(state["schedule"])
        self.rng.bit_generator.state = state["rng"]
        self.last_lambdas = state["last_lambdas"]
        for o, (n, bad) in zip(self.objectives, state.get("objective_counts", [])):
            o.n_scored, o.n_invalid = n, bad
        return self


def _load_partial(model: torch.nn.Module, state: dict, strict: bool) -> None:
    """load_state_dict; with strict=False every given key must still exist in the model."""
    _, unexpected = model.load_state_dict(state, strict=strict)
    if unexpected:
        raise ValueError(f"checkpoint tensors do not match the model: {unexpected[:5]}")


def _dense_name(peft_name: str) -> str:
    """A peft parameter/module name as the plain model names it
    ("base_model.model.model.layers.0.self_attn.q_proj" -> "model.layers.0.self_attn.q_proj")."""
    n = peft_name.removeprefix("base_model.model.")
    return n.replace(".base_layer.", ".")
