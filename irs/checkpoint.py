"""One save/load helper for model directories and tensor checkpoints (safetensors only).

A model directory holds:
  config.json        the Hugging Face model config (so the model is rebuilt exactly)
  model.safetensors  the weights (shipped assets may be fp16/bf16; they load back as fp32)
  tokenizer.json     the VocabTokenizer, or the Hugging Face tokenizer files of a chat model (then with
                     irs_tokenizer.json; see irs.chat_tokenizer)
  meta.json          optional provenance: the command and data that produced it

Nothing here unpickles: weights come from safetensors, everything else is JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch
from safetensors.torch import load_file, save

from irs.io import atomic_write_bytes, atomic_write_json
from irs.tokenizer import VocabTokenizer

CHECKSUM_KEY = "irs_sha256"  # safetensors metadata: sha256 of the file's tensor data


class WeightsError(ValueError):
    """A weights file that is truncated, garbled or fails its checksum."""


def _data_section(blob: bytes) -> tuple[dict, bytes]:
    """(header, tensor bytes) of a serialized safetensors file."""
    import struct

    if len(blob) < 8:
        raise WeightsError("shorter than a safetensors header")
    (n,) = struct.unpack("<Q", blob[:8])
    if 8 + n > len(blob):
        raise WeightsError("truncated header")
    try:
        header = json.loads(blob[8 : 8 + n])
    except ValueError as e:
        raise WeightsError(f"unreadable header ({e})") from None
    return header, blob[8 + n :]


def save_tensors(tensors: dict[str, torch.Tensor], path: str | os.PathLike, metadata: dict | None = None) -> None:
    """Atomically write a flat dict of tensors, with the sha256 of its tensor data in the file's own
    metadata (CHECKSUM_KEY), so that load_tensors detects damage. Shared storage (tied weights) is cloned
    apart."""
    import hashlib

    seen, flat = set(), {}
    for k, v in tensors.items():
        v = v.detach().cpu()
        ptr = (v.untyped_storage().data_ptr(), v.storage_offset(), tuple(v.shape))
        flat[k] = v.clone().contiguous() if ptr in seen or not v.is_contiguous() else v
        seen.add(ptr)
    meta = {k: str(v) for k, v in (metadata or {}).items()}
    _, data = _data_section(save(flat, metadata=meta or None))  # the tensor bytes do not depend on metadata
    meta[CHECKSUM_KEY] = hashlib.sha256(data).hexdigest()
    atomic_write_bytes(path, save(flat, metadata=meta))


def verify_tensors(path: str | os.PathLike) -> None:
    """WeightsError naming `path` when it is truncated, garbled or fails its recorded checksum (files
    written before checksums were recorded are checked for structure only)."""
    import hashlib

    p = Path(path)
    try:
        header, data = _data_section(p.read_bytes())
    except WeightsError as e:
        raise WeightsError(f"weights file {p} is damaged: {e}") from None
    want = (header.get("__metadata__") or {}).get(CHECKSUM_KEY)
    ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__" and isinstance(v, dict)]
    if max(ends, default=0) > len(data):
        raise WeightsError(f"weights file {p} is truncated ({len(data)} of {max(ends)} data bytes)")
    if want is not None and hashlib.sha256(data).hexdigest() != want:
        raise WeightsError(
            f"weights file {p} is damaged: its data does not match the checksum recorded when it was written"
        )


def load_tensors(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """The tensors of a .safetensors file, verified first (verify_tensors); WeightsError if damaged."""
    p = Path(path)
    if p.suffix != ".safetensors":
        raise ValueError(f"refusing to load weights from {p.name}: only .safetensors files are accepted")
    if not p.is_file():
        raise FileNotFoundError(f"missing weights file {p}")
    try:
        verify_tensors(p)
        return load_file(str(p))
    except WeightsError:
        raise
    except Exception as e:  # safetensors' own errors for a file that passes the checks above
        raise WeightsError(f"weights file {p} is unreadable ({type(e).__name__}: {e})") from None


def model_state(model: torch.nn.Module, dtype: torch.dtype | None = None) -> dict[str, torch.Tensor]:
    """State dict without duplicated tied tensors (e.g. GPT-2's lm_head.weight is wte.weight)."""
    state, seen = {}, set()
    for name, t in model.state_dict().items():
        key = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape))
        if key in seen:
            continue
        seen.add(key)
        state[name] = t.to(dtype) if dtype is not None and t.is_floating_point() else t
    return state


def save_model_dir(
    model,
    tokenizer: VocabTokenizer,
    directory: str | os.PathLike,
    dtype: torch.dtype | None = None,
    meta: dict | None = None,
) -> Path:
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    atomic_write_json(d / "config.json", model.config.to_dict())
    save_tensors(model_state(model, dtype), d / "model.safetensors")
    tokenizer.save(d)
    if meta is not None:
        atomic_write_json(d / "meta.json", meta)
    return d


def load_state_into(model: torch.nn.Module, state: dict[str, torch.Tensor], strict: bool = True) -> None:
    """Load a (possibly tie-deduplicated, possibly half-precision) state into `model` as fp32."""
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    missing, unexpected = model.load_state_dict(state, strict=False)
    tied = set(getattr(model, "_tied_weights_keys", None) or [])
    if isinstance(getattr(model, "_tied_weights_keys", None), dict):
        tied = set(model._tied_weights_keys)
    missing = [k for k in missing if k not in tied and not k.endswith("lm_head.weight")]
    if strict and (missing or unexpected):
        raise ValueError(f"checkpoint does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    if hasattr(model, "tie_weights"):
        model.tie_weights()


def load_tokenizer(directory: str | os.PathLike):
    """The tokenizer of a model directory: a ChatTokenizer where it holds Hugging Face tokenizer files,
    else the VocabTokenizer."""
    from irs.chat_tokenizer import ChatTokenizer, is_chat_dir

    return ChatTokenizer.load(directory) if is_chat_dir(directory) else VocabTokenizer.load(directory)


def load_weights(directory: str | os.PathLike) -> dict[str, torch.Tensor]:
    """model.safetensors, or the shards listed in model.safetensors.index.json (a Hugging Face download)."""
    d = Path(directory)
    index = d / "model.safetensors.index.json"
    if not (d / "model.safetensors").is_file() and index.is_file():
        from irs.io import safe_join

        files = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state = {}
        for f in files:
            state.update(load_tensors(safe_join(d, f)))
        return state
    return load_tensors(d / "model.safetensors")


def load_model_dir(directory: str | os.PathLike):
    """Rebuild (model, tokenizer) from a model directory, weights in fp32."""
    from transformers import AutoConfig, AutoModelForCausalLM

    d = Path(directory)
    if not (d / "config.json").is_file():
        raise FileNotFoundError(f"{d} is not a model directory (no config.json)")
    cfg_dict = json.loads((d / "config.json").read_text())
    config = AutoConfig.for_model(**cfg_dict)
    model = AutoModelForCausalLM.from_config(config)
    load_state_into(model, load_weights(d))
    return model, load_tokenizer(d)


# ---- optimizer state (no pickle) ------------------------------------------------------------------
def flatten_optimizer(opt: torch.optim.Optimizer):
    """Optimizer state as flat tensors + JSON (no pickle): state[j][key] for parameter index j."""
    params = [p for g in opt.param_groups for p in g["params"]]
    tensors, meta = (
        {},
        {"groups": [{k: v for k, v in g.items() if k != "params"} for g in opt.param_groups], "scalars": {}},
    )
    for j, p in enumerate(params):
        for key, v in opt.state.get(p, {}).items():
            if torch.is_tensor(v):
                tensors[f"{j}.{key}"] = v
            else:
                meta["scalars"][f"{j}.{key}"] = v
    return tensors, meta


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict, meta: dict) -> None:
    """Inverse of flatten_optimizer, into an optimizer over the same parameters in the same order."""
    params = [p for g in opt.param_groups for p in g["params"]]
    opt.state.clear()
    for g, saved in zip(opt.param_groups, meta["groups"]):
        g.update({k: (tuple(v) if isinstance(v, list) else v) for k, v in saved.items()})
    for key, v in list(tensors.items()) + list(meta["scalars"].items()):
        j, name = key.split(".", 1)
        opt.state.setdefault(params[int(j)], {})[name] = v.clone() if torch.is_tensor(v) else v
