"""The design form: methods, objective infos for the sliders, building and checking a run config, notes on the design."""

from __future__ import annotations

import importlib.util
import logging
import math
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ui.logic.text import GOAL_SYMBOL, GOAL_WORD

log = logging.getLogger(__name__)


# ---- methods, objectives and the design form ------------------------------------------------------
def available_methods() -> list[str]:
    """Methods the engine can run now: RiC appears once irs.algorithms.ric exists."""
    from irs.config import METHODS

    out = []
    for m in METHODS:
        if m == "ric" and importlib.util.find_spec("irs.algorithms.ric") is None:
            continue
        out.append(m)
    return out


@dataclass(frozen=True)
class ObjectiveInfo:
    name: str
    goal: str
    description: str
    unit: str = ""
    target: tuple | None = None  # a window objective's window, normalized units
    lo: float | None = None  # the raw scores that map to 0 and 1 (the data statistics)
    hi: float | None = None

    @property
    def label(self) -> str:
        unit = f" ({self.unit})" if self.unit else ""
        return f"{self.name}{unit} {GOAL_SYMBOL.get(self.goal, '')}".strip()

    @property
    def goal_text(self) -> str:
        """'maximize', 'minimize', or for a window objective its window in raw units: 'keep in 1–3',
        'keep near 0.247 Ha'."""
        if self.goal == "target" and self.target is not None and self.lo is not None and self.hi is not None:
            a, b = (self.lo + t * (self.hi - self.lo) for t in self.target)
            window = f"near {a:.3g}" if a == b else f"in {a:.3g}–{b:.3g}"
            return f"keep {window}" + (f" {self.unit}" if self.unit else "")
        return GOAL_WORD.get(self.goal, self.goal)


def objective_infos(domain: str, preset: str | None) -> list[ObjectiveInfo]:
    """Name, goal, description and unit of each objective of a domain preset (ValueError if the preset
    cannot be built, e.g. a missing asset)."""
    from irs.domains import get_domain

    try:
        objs = get_domain(domain).objectives(preset or None)
    except ValueError:
        raise
    except Exception as e:  # a preset whose assets are missing raises FileNotFoundError, ImportError...
        raise ValueError(
            f"preset {preset or '(default)'} of domain {domain} is not available here: {type(e).__name__}: {e}"
        ) from None
    return [
        ObjectiveInfo(
            o.name,
            o.goal,
            o.description,
            getattr(o, "unit", ""),
            getattr(o, "target", None),
            getattr(o, "lo", None),
            getattr(o, "hi", None),
        )
        for o in objs
    ]


def normalize_weights(weights: Sequence[float]) -> list[float] | None:
    """Weights divided by their sum; None when they are not finite, negative, or all zero."""
    w = [float(x) for x in weights]
    if not w or any(not math.isfinite(x) or x < 0 for x in w) or sum(w) <= 0:
        return None
    s = sum(w)
    return [x / s for x in w]


def build_config(form: Mapping) -> object:
    """A RunConfig from the design form's values (see views/design.py). ValueError names bad fields."""
    from irs.config import RunConfig

    objectives = [{"name": n, "weight": float(w)} for n, w in zip(form["objectives"], form["weights"])]
    d = {
        "name": form.get("name") or "run",
        "domain": form["domain"],
        "preset": form.get("preset") or "",
        "model": form.get("model") or "",
        "method": form["method"],
        "seed": int(form["seed"]),
        "objectives": objectives,
        "n_final_samples": int(form.get("n_final_samples", 256)),
        **({"oracle_budget": int(form["oracle_budget"])} if form.get("oracle_budget") else {}),
        "rl": {
            k: form[k]
            for k in (
                "algo",
                "lr",
                "beta",
                "batch_size",
                "kl_estimator",
                "temperature",
                "max_new_tokens",
                "ppo_epochs",
                "rloo_k",
                "normalization",
                "diversity_filter",
                "null_control",
            )
            if k in form
        },
        "merge": {
            "total_steps": int(form["total_steps"]),
            "merge_every": int(form["merge_every"]),
            "subset_size": int(form.get("subset_size", 0)),
            **{k: form[k] for k in ("lambdas", "optimizer_state") if k in form},
        },
    }
    return RunConfig.from_dict(d)


def check_config(cfg) -> object:
    """Validate exactly as `irs run` does (irs.runs.load_config on the config's TOML): objective names,
    weights, every field, and the model directory. Returns the validated config (weights normalized,
    notes filled). Raises ValueError / FileNotFoundError naming the problem; writes nothing that stays."""
    from irs.runs import load_config

    with tempfile.TemporaryDirectory(prefix="irs-design-") as d:
        p = Path(d) / "config.toml"
        p.write_text(cfg.to_toml())
        return load_config(p)


def design_notes(cfg) -> list[str]:
    """Valid but noteworthy settings, explained for the design page."""
    m, T = cfg.merge.merge_every, cfg.merge.total_steps
    notes = []
    if cfg.method == "iterative_rs":
        if m >= T:
            notes.append(f"m = {m} ≥ T = {T}: the experts merge only once, at the end; this is Rewarded Soups.")
        elif m == 1:
            notes.append("m = 1 merges after every step; this behaves like MORLHF (paper Section 4.2).")
        if T % m:
            notes.append(f"T = {T} is not a multiple of m = {m}: the last round is {T % m} step(s) long.")
    elif cfg.method == "rewarded_soups":
        notes.append(f"Rewarded Soups merges once, at step T = {T}; m is ignored.")
    elif cfg.method == "morlhf":
        notes.append("MORLHF trains one policy on the weighted reward; m and M are ignored.")
    return notes
