"""Model surgery for RiC: more positions for the score prefix (new embeddings are in RiCTrainer)."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


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
