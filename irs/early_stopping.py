"""Early stopping on a validation score, shared by the model trainers (proxy heads, the DNA oracle)."""

from __future__ import annotations

import torch


class EarlyStopping:
    """Keep the weights of the best epoch by a validation score (`mode` "max" or "min": which way is
    better) and say when `patience` epochs in a row brought no improvement. `restore()` loads the best."""

    def __init__(self, model: torch.nn.Module, patience: int, mode: str = "max"):
        if mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {mode!r}")
        self.model, self.patience, self.mode = model, int(patience), mode
        self.best = float("-inf") if mode == "max" else float("inf")
        self.best_epoch, self.best_state, self._since = -1, None, 0

    def step(self, value: float, epoch: int) -> bool:
        """Record epoch `epoch`'s score; True when training should stop."""
        better = value > self.best if self.mode == "max" else value < self.best
        if better:
            self.best, self.best_epoch, self._since = value, epoch, 0
            self.best_state = {k: v.clone() for k, v in self.model.state_dict().items()}
            return False
        self._since += 1
        return self._since >= self.patience

    def restore(self) -> dict:
        """Load the best epoch's weights into the model; returns that state."""
        if self.best_state is None:
            raise RuntimeError("no epoch was recorded")
        self.model.load_state_dict(self.best_state)
        return self.best_state
