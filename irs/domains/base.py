"""The Domain protocol: what a kind of candidate (molecule, DNA, text) brings to the engine."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from irs.objectives import Objective


@dataclass(frozen=True)
class Pretraining:
    """How `irs pretrain --domain NAME` gets its data: corpus() -> (texts, tokenizer); `out`, the default
    model directory; `defaults`, PretrainConfig fields that differ from the generic ones (e.g. max_len)."""

    corpus: Callable[[], tuple]
    out: str
    defaults: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ProxyTraining:
    """`irs train-proxies --domain NAME`: `add_arguments(parser)` adds the domain's own flags (each help
    starting with the domain's name, default None); `train(args)` trains and returns an exit code, with
    the shared flags (backbone, out, results, epochs) filled from `defaults` where the user left them out."""

    train: Callable
    defaults: dict
    add_arguments: Callable | None = None


def exact_rewards(objectives: Sequence[Objective], texts: list[str], contexts: list[dict] | None = None):
    """Rewards [n, N] from the objectives' scorers without touching their query counters (labels for
    supervised data, not reward queries); context-aware objectives get each text's prompt record."""
    import numpy as np

    cols = []
    for o in objectives:
        out = o.scorer(list(texts), list(contexts)) if getattr(o, "needs_context", False) else o.scorer(list(texts))
        cols.append(o.transform(np.asarray(out, dtype=np.float64).reshape(-1)))
    return np.column_stack(cols) if cols else np.zeros((len(texts), 0))


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

    What the generic code asks of a domain, so that a new domain is its own folder plus one registry line
    (docs/architecture.md, "Adding a domain"):
    tokenizer: factory of the tokenizer that `tiny:*` models are built with; None: the model directory
        brings its own (molecules, whose shipped models hold their vocabulary).
    labelled_data: RiC's supervised data, fn(preset, objectives, n, seed) -> (texts, R) or, for prompt
        domains, (texts, R, prompt records); n = 0 means the hook's default. Labels are data, not reward
        queries (use `exact_rewards`). None: the domain has no RiC.
    pretraining: `irs pretrain`'s corpus and defaults (Pretraining); None: not pretrainable here.
    train_proxies: `irs train-proxies`' flags and trainer (ProxyTraining); None: no learned proxies.
    view: the workbench module (under ui/views/) that draws this domain's candidates; None: the generic
        view (a table, the plots, the export). The library never imports it.
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
    tokenizer: Callable[[], object] | None = None
    labelled_data: Callable | None = None
    pretraining: Pretraining | None = None
    train_proxies: ProxyTraining | None = None
    view: str | None = None

    def objectives(self, preset: str | None = None) -> list[Objective]:
        preset = preset or self.default_preset
        if preset not in self.presets:
            # a family of presets ("pmo:<task>") lists its own members, not the whole domain's
            family = preset.split(":")[0] + ":" if ":" in preset else None
            near = sorted(p for p in self.presets if family and p.startswith(family))
            raise ValueError(
                f"domain {self.name!r} has no preset {preset!r}; choose from {near or sorted(self.presets)}"
            )
        return self.presets[preset]()

    def oracle(self, preset: str | None = None) -> list[Objective]:
        preset = preset or self.default_preset
        return self.oracles[preset]() if preset in self.oracles else self.objectives(preset)

    def build_tokenizer(self):
        """The tokenizer `tiny:*` models are built with, or None (the model directory brings its own)."""
        return self.tokenizer() if self.tokenizer is not None else None

    def canonical(self, candidates: Sequence[str]) -> list[str | None]:
        return [self.canonicalize(c) for c in candidates]
