"""The Domain protocol: what a kind of candidate (molecule, DNA, text) brings to the engine."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

from irs.objectives import Objective


@dataclass
class Domain:
    """A domain bundles a tokenizer/model location, objective presets and candidate handling.

    presets: preset name -> factory of the training objectives (proxy rewards).
    oracles: preset name -> factory of the evaluation objectives (independent oracles). A preset
        without an oracle is evaluated with its training objectives, and the report says so.
    canonicalize: candidate -> canonical form, or None when the candidate is invalid.
    export_formats: formats `irs export` accepts for this domain besides csv.
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
