"""The Runs page: a run's progress line (queue, steps, final sampling, scoring) and its training curves."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

from irs.objectives.budget import budget_text

log = logging.getLogger(__name__)


# ---- run progress (Runs page) ---------------------------------------------------------------------
def run_progress(s: Mapping) -> tuple[float, str]:
    """(fraction in [0, 1], what is happening) of a run's status: its place in the run queue, the training
    steps, then the final sampling and the oracle scoring, which take minutes for large K."""
    total, step = s.get("total_steps") or 0, s.get("step") or 0
    frac = min(1.0, step / total) if total else 0.0
    phase, state = s.get("phase"), s.get("state")
    if state == "queued" and s.get("queue_position"):
        at_once = s.get("max_runs")
        return 0.0, (
            f"waiting for a free run slot: #{s['queue_position']} in line"
            + (f" (at most {at_once} at once; `irs queue`)" if at_once else "")
        )
    if phase == "sampling" and s.get("n_final"):
        n, k = int(s.get("sampled") or 0), int(s["n_final"])
        return min(1.0, n / k), f"final sampling: {n} of {k} candidates"
    if phase == "scoring":
        return float(s.get("scored_fraction") or 0.0), f"oracle scoring: {s.get('scoring', '')}"
    spent = budget_text(s)
    if spent:  # a budgeted run ends when its calls run out; T only caps it
        frac = max(frac, min(1.0, float(s.get("oracle_calls") or 0) / float(s["oracle_budget"])))
        return frac, f"step {step} of at most {total or '?'} · {spent}"
    return frac, f"step {step} of {total or '?'}"


# ---- training curves (Runs page) ------------------------------------------------------------------
@dataclass(frozen=True)
class CurveSpec:
    """What the Runs page plots from metrics.jsonl: records for irs.plots.expert_curves, its panels
    (metrics) with their titles, and a caption saying what the curves are."""

    records: list
    metrics: tuple
    titles: dict
    caption: str = ""


ONLINE_EXPERT = "online rounds"


def best_per_step(records: Sequence[Mapping]) -> pd.DataFrame:
    """The best valid sample of every expert step (step records' `best`, `best_reward`), newest first:
    what the policy produced at its best as training went on. Empty for runs from before it was logged."""
    rows = [
        {"step": r["step"], "expert": r.get("expert"), "best": r["best"], "reward": r.get("best_reward")}
        for r in records
        if r.get("type") == "step" and r.get("best")
    ]
    return pd.DataFrame(rows[::-1], columns=["step", "expert", "best", "reward"])


def training_curves(records: Sequence[Mapping], proxy: bool | None = None) -> CurveSpec:
    """RL methods record per-expert reward and KL; RiC (supervised fine-tuning) records the SFT loss per
    step and, for its online rounds, the mean weighted proxy reward of the round's generations. Plot what
    the run has, labelled as what it is; `proxy` says whether the rewards are learned proxies (True) or
    the exact objectives (False)."""
    steps = [r for r in records if r.get("type") == "step"]
    online = [r for r in records if r.get("type") == "online"]
    has_rl = any("reward" in r or "kl" in r for r in steps)
    if has_rl or not (any("loss" in r for r in steps) or online):
        kind = {True: " (proxy)", False: " (exact)"}.get(proxy, "")
        metrics, titles = ["reward", "kl"], {"reward": f"Reward{kind}", "kl": "KL"}
        # monitors (runs since calibrated normalization): a reward can rise by validity or by repeats alone
        for k, t in (("valid", "Valid share"), ("unique", "Unique share"), ("size", "Size")):
            if any(k in r for r in steps):
                metrics.append(k)
                titles[k] = t
        caption = None
        if len(metrics) > 2:
            caption = (
                "Reward is the expert's normalized reward (the null control's is shuffled). Valid share: of the "
                "batch; unique share: distinct among valid samples; size: heavy atoms (molecules) or length, "
                "over valid samples. They show whether a reward rose by better candidates or by validity, "
                "repeats or size alone."
            )
        return CurveSpec(list(records), tuple(metrics), titles, caption)
    out = [r for r in records if r.get("type") != "online"]
    metrics, titles = ["loss"], {"loss": "SFT loss (cross-entropy per token)"}
    caption = (
        "RiC fine-tunes on sequences prefixed with their scores (supervised): the left panel is the "
        "training loss per step, not a reward."
    )
    if online:
        out += [
            {
                "type": "step",
                "step": r.get("step"),
                "expert": ONLINE_EXPERT,
                "online_reward": r.get("reward"),
                "kept": r.get("n_kept"),
            }
            for r in online
        ]
        metrics.append("online_reward")
        titles["online_reward"] = "Online rounds: mean weighted proxy reward"
        kept = ", ".join(f"round {r.get('round')}: {r.get('n_kept')} of {r.get('n_generated')} kept" for r in online)
        caption += (
            " Each online round samples with exploration prompts and scores the samples with the proxies; "
            f"the right panel is their mean weighted reward ({kept})."
        )
    return CurveSpec(out, tuple(metrics), titles, caption)


def calibration_rows(calibration: Mapping | None) -> list[dict]:
    """Rows of the reward-scale table (Design and Runs pages): per objective, the training (proxy) and
    evaluation (oracle) raw values that map to reward 0 and 1, and the starting model's quantiles."""
    if not calibration:
        return []
    rows = []
    for scale, label in (("train", "training"), ("eval", "evaluation")):
        for name, c in (calibration.get(scale) or {}).items():
            rows.append(
                {
                    "objective": name,
                    "scale": label,
                    "raw at 0": c.get("lo"),
                    "raw at 1": c.get("hi"),
                    "sample 5 %": c.get("q_lo"),
                    "sample 95 %": c.get("q_hi"),
                    "valid samples": f"{c.get('n_valid')} / {c.get('n')}",
                    "data range": f"{c.get('data_lo'):.4g} .. {c.get('data_hi'):.4g}"
                    if c.get("data_lo") is not None
                    else "",
                }
            )
    return rows
