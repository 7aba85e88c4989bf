"""The Domain protocol: what a kind of candidate (molecule, DNA, text) brings to the engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from irs.objectives import Objective


@dataclass
class Domain:
    """A domain bundles a tokenizer/model location, objective presets and candidate handling.

    presets: preset name -> factory of the training objectives (proxy rewards).
    oracles: preset name -> factory of the evaluation objectives (independent oracles). A preset
        without an oracle is evaluated with its training objectives, and the report says so.
    canonicalize: candidate -> canonical form, or None when the candidate is invalid.
    export_formats: formats `irs export` accepts for this domain besides csv.
    prompts: split ("train" | "val" | "test") -> prompt records, for domains whose candidates answer a
        prompt (text). Each record is a dict with at least "id", "prompt" (the user message; a chat
        tokenizer applies the template), "source" and "reference". Training draws prompts from "train",
        merge selection from "train" (during training) and "val" (the final merge), the final candidates
        from "test". Objectives with `needs_context` are scored against these records. None: candidates
        are generated from the bare BOS prompt (molecules, DNA).
    eval_only: oracle objective names always scored in evaluation besides the run's objectives (metrics
        no preset trains on, e.g. the text domain's ROUGE-L).
    lora_default: runs use LoRA adapters unless their config says `[lora] enabled = false`.
    """

    name: str
    description: str
    default_model: str
    presets: dict[str, Callable[[], list[Objective]]]
    default_preset: str
    canonicalize: Callable[[str], str | None] = lambda s: s if s else None
    oracles: dict[str, Callable[[], list[Objective]]] = field(default_factory=dict)
    export_formats: tuple[str, ...] = ()
    max_new_tokens: int = 64
    prompts: Callable[[str], list[dict]] | None = None
    eval_only: tuple[str, ...] = ()
    lora_default: bool = False
    calibrate_default: bool = True  # rl.normalization = "auto" calibrates on the starting model
    size: Callable[[str], float] = len  # a size measure of a valid candidate, logged per step
    size_name: str = "length"
    scaffold: Callable[[str], str] | None = None  # the diversity filter's 'scaffold' key (molecules: Bemis-Murcko)
    oracle_notes: dict[str, str] = field(default_factory=dict)  # preset -> what its oracle is, for the UI
    proxy_presets: tuple[str, ...] = ()  # presets whose training rewards are learned proxies of the oracle

    def objectives(self, preset: str | None = None) -> list[Objective]:
        preset = preset or self.default_preset
        if preset not in self.presets:
            raise ValueError(f"domain {self.name!r} has no preset {preset!r}; choose from {sorted(self.presets)}")
        return self.presets[preset]()

    def oracle(self, preset: str | None = None) -> list[Objective]:
        preset = preset or self.default_preset
        return self.oracles[preset]() if preset in self.oracles else self.objectives(preset)

    def canonical(self, candidates: Sequence[str]) -> list[str | None]:
        return [self.canonicalize(c) for c in candidates]
