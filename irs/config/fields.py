"""The run configuration's dataclasses: one field per hyperparameter with its help text (written once, read by
the CLI and the workbench's tooltips), TOML round-trip and type checks at load (irs.config)."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w
import tomllib

METHODS = ("iterative_rs", "morlhf", "rewarded_soups", "ric")
# pydantic's config for the dataclasses below (a plain dict: pydantic is imported only when a config is checked)
STRICT = {"strict": True, "allow_inf_nan": False, "revalidate_instances": "always"}


def _f(default, help: str, **kw):
    """A dataclass field with help text (used by the CLI, the app's tooltips and the docs)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


def help_of(cls, name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(cls) if f.name == name)


@dataclass
class ObjectiveSpec:
    __pydantic_config__ = STRICT
    name: str = _f("", "objective name from the domain preset")
    weight: float = _f(1.0, "preference weight w_i > 0; weights are normalized to sum 1")


@dataclass
class RLConfig:
    __pydantic_config__ = STRICT
    algo: str = _f(
        "rloo",
        "update rule: 'rloo' (leave-one-out baseline, paper Table 5; the default: it lifted the oracle "
        "most and its null control stayed flat, docs/learning-signal.md) or 'ppo' (PPO-clip with a "
        "trained value head, the paper's main setting)",
    )
    lr: float = _f(
        3e-5, "Adam learning rate (measured default with B = 64, docs/learning-signal.md; paper App. B: 1.41e-5)"
    )
    optimizer: str = _f("adam", "'adam' or 'sgd' (plain SGD, used by the m=1 == MORLHF equivalence test)")
    batch_size: int = _f(64, "samples per expert step (paper: 128)")
    minibatch_size: int = _f(0, "PPO minibatch size; 0 means the whole batch")
    ppo_epochs: int = _f(4, "optimization epochs over each batch (paper App. B: 4)")
    beta: float = _f(0.05, "KL coefficient beta of eq. 2 (paper App. B: 0.05)")
    kl_estimator: str = _f("k1", "per-token KL estimator: 'k1' (log-ratio) or 'k3' (unbiased, non-negative)")
    kl_penalty: str = _f(
        "reward",
        "where beta's KL to the reference acts: 'reward' (eq. 2: beta times the sampled "
        "estimator subtracted from the reward) or 'loss' (beta times the exact per-token "
        "KL over the vocabulary added to the loss; needs top_k = 0 and top_p = 1)",
    )
    cliprange: float = _f(0.2, "PPO ratio clip epsilon (0.2)")
    cliprange_value: float = _f(0.2, "PPO value clip (0.2)")
    vf_coef: float = _f(0.1, "value loss coefficient (0.1)")
    gamma: float = _f(1.0, "GAE discount gamma (1.0)")
    lam: float = _f(0.95, "GAE lambda (0.95)")
    rloo_k: int = _f(0, "RLOO group size for the leave-one-out baseline; 0 means the whole batch (one shared prompt)")
    whiten_advantages: bool = _f(True, "normalize advantages to zero mean, unit std per batch")
    max_grad_norm: float = _f(1.0, "gradient clipping norm; 0 disables")
    max_new_tokens: int = _f(0, "longest generation; 0 means the domain's default")
    temperature: float = _f(0.7, "sampling temperature (0.7)")
    top_k: int = _f(0, "top-k filtering; 0 disables")
    top_p: float = _f(1.0, "nucleus filtering; 1.0 disables")
    bf16: str = _f(
        "auto",
        "bf16 autocast: 'auto' (on where bf16 is fast: a bf16 GPU, or a CPU with AMX), 'on' or 'off'; weights stay fp32",
    )
    invalid_reward: float = _f(
        0.0,
        "reward for invalid candidates during training (normalized units; with the "
        "calibrated normalization 0 is the level of the starting model's worst 5 % of valid "
        "samples, so invalid samples cannot swamp the objective)",
    )
    normalization: str = _f(
        "auto",
        "reward normalization: 'calibrated' (quantiles 5-95 % of the starting model's "
        "samples plus headroom, stored with the run in calibration.json and reused in "
        "evaluation), 'data' (the objective's training-data statistics, as the paper) or "
        "'auto' (the domain's choice: calibrated for molecules and DNA; data for text, whose "
        "rewards are exact scores in [0, 1] and whose 512 calibration samples of a 135M model "
        "would cost minutes)",
    )
    calibration_samples: int = _f(512, "samples of the starting model the calibrated normalization is computed on")
    calibration_headroom: float = _f(
        0.5,
        "room above the starting model's 95 % quantile (below its 5 % for a min goal), as a share of the 5-95 % spread",
    )
    null_control: bool = _f(
        False,
        "information-free control: each batch's rewards are shuffled across its samples "
        "before the update (same reward distribution, no link to what was generated)",
    )
    diversity_filter: str = _f(
        "none",
        "diversity guard (REINVENT-style memory): 'none', 'identical' (a canonical form "
        "generated more than diversity_bucket times scores invalid_reward) or 'scaffold' "
        "(the same per Bemis-Murcko scaffold; molecules)",
    )
    diversity_bucket: int = _f(25, "how often one canonical form (or scaffold) may be rewarded per expert")
    vf_lr: float = _f(
        1e-3,
        "PPO value head learning rate, its own optimizer group (0 means rl.lr; 1e-3 removed PPO's drift "
        "under the null control, docs/learning-signal.md)",
    )
    vf_detach: bool = _f(
        False, "PPO: the value head reads the policy's hidden states detached (the value loss does not move the policy)"
    )
    vf_warmup: int = _f(0, "PPO: each expert's first vf_warmup steps train only the value head, not the policy")
    samples_per_prompt: int = _f(
        0,
        "prompt domains (text): summaries sampled per prompt in a batch, as consecutive "
        "rows (batch_size / samples_per_prompt prompts per step); 0 means rloo_k for "
        "RLOO with groups, else 1",
    )


@dataclass
class MergeConfig:
    __pydantic_config__ = STRICT
    total_steps: int = _f(24, "T: total training steps (measured default, docs/learning-signal.md; paper: 100)")
    merge_every: int = _f(4, "m: merge every m steps (1 = MORLHF-like, T = Rewarded Soups)")
    subset_size: int = _f(0, "M: objectives drawn per round, uniformly without replacement; 0 means all N")
    lambdas: str = _f(
        "fixed",
        "merge weights: 'fixed' (eq. 10), 'selective' (best of a grid), 'monte_carlo' (best random simplex points)",
    )
    lambda_grid: list = _f(
        [],
        "candidate lambda vectors for 'selective'; empty means the paper's 7-point grid (N=3) or equal weights plus one-hot-leaning points",
    )
    n_val_samples: int = _f(64, "samples used to score each candidate merge under 'selective'/'monte_carlo'")
    n_candidates_mc: int = _f(8, "random lambda vectors tried by 'monte_carlo'")
    optimizer_state: str = _f("keep", "optimizer state at a merge: 'keep', 'reset' or 'average'")


@dataclass
class RiCConfig:
    """Rewards-in-Context (method = "ric"), irs/algorithms/ric.py. Used only by that method."""

    __pydantic_config__ = STRICT

    p: float = _f(
        2.0,
        "norm of RiC's preference-to-score mapping: desired_i = lo_i + w_i / ||w||_p * (hi_i - lo_i); "
        "inf gives RiC's L-inf rule (the top-weight objective at hi). Paper App. B: p = 2",
    )
    n_bins: int = _f(
        11,
        "score levels per objective in the prompt: rewards in [0, 1] rounded to n_bins levels "
        "(11 = steps of 0.1, RiC's one decimal)",
    )
    lr: float = _f(0.0, "SFT learning rate; 0 means rl.lr (paper: RiC uses the RL methods' hyperparameters)")
    batch_size: int = _f(0, "labelled sequences per SFT step; 0 means rl.batch_size")
    max_examples: int = _f(20000, "labelled examples drawn (seeded) from the domain's labelled data; 0 = all")
    online_rounds: int = _f(
        0,
        "RiC online rounds inside the T steps: generate, score with the proxies, keep the "
        "best quantile, fine-tune on it plus the filtered labelled data (0 = offline only)",
    )
    online_samples: int = _f(256, "samples generated per online round; each is scored on all N objectives")
    quantile: float = _f(
        0.7,
        "online filter: keep a sample if any objective's reward is >= that objective's "
        "quantile over the batch (RiC: 0.7); the labelled data is filtered the same way",
    )


@dataclass
class LoRAConfig:
    """LoRA adapters on every expert (peft). The merge averages each expert's update B·A and folds it into
    the base weights (irs/algorithms/merging.py); the KL reference stays the frozen base model."""

    __pydantic_config__ = STRICT

    enabled: object = _f(
        "auto", "true, false or 'auto' (on for domains that default to it: text; off for molecules, DNA)"
    )
    r: int = _f(16, "LoRA rank r")
    alpha: float = _f(32.0, "LoRA scaling alpha (the update is scaled by alpha / r)")
    dropout: float = _f(0.0, "LoRA dropout (0: RL needs identical old/new log-probs)")
    target_modules: list = _f(
        [],
        "module names to adapt, e.g. ['q_proj', 'v_proj']; empty means peft's default for "
        "the architecture (Llama: q_proj, v_proj; GPT-2: c_attn)",
    )


@dataclass
class SFTConfig:
    """Supervised fine-tuning before RL (paper App. B.3): run once on (prompt, reference) pairs of the
    domain's train split, on the shared initial model; the result is every expert's start and the KL
    reference. Prompt domains only (text)."""

    __pydantic_config__ = STRICT

    steps: int = _f(0, "SFT optimizer steps before the RL cycles; 0 = no SFT")
    lr: float = _f(1.41e-6, "SFT Adam learning rate (paper App. B.3: 1.41e-6 for Llama-3.2-3B)")
    batch_size: int = _f(8, "(prompt, reference) pairs per SFT step")


@dataclass
class RunConfig:
    __pydantic_config__ = STRICT
    name: str = _f("run", "human-readable run name (the run id adds a timestamp)")
    domain: str = _f("toy", "domain: a name in the irs.domains registry (toy | molecules | dna | text)")
    preset: str = _f("", "objective preset of the domain; empty means the domain default")
    model: str = _f("", "model directory or 'tiny:gpt2' / 'tiny:llama'; empty means the domain default")
    method: str = _f("iterative_rs", f"one of {METHODS}")
    seed: int = _f(0, "random seed for sampling, subsets and initialization")
    objectives: list = _f(
        [], "objective tables (name, weight); empty means every objective of the preset, equal weights"
    )
    aggregation: str = _f("weighted_sum", "MORLHF reward aggregation: 'weighted_sum' or 'geometric'")
    n_final_samples: int = _f(256, "K: candidates sampled from the final policy at the end of the run")
    nproc: int = _f(
        1, "torch.distributed ranks (torchrun, one expert per rank; gloo on CPU, NCCL on GPU); 1 = one process"
    )
    oracle_budget: int = _f(
        0,
        "PMO-style budget of oracle calls (a new valid molecule scored is one call; repeats come from a "
        "cache): training stops when what is left is what the final sampling needs; 0 = no budget",
    )
    rl: RLConfig = field(default_factory=RLConfig)
    merge: MergeConfig = field(default_factory=MergeConfig)
    ric: RiCConfig = field(default_factory=RiCConfig)
    lora: LoRAConfig = field(default_factory=LoRAConfig)
    sft: SFTConfig = field(default_factory=SFTConfig)
    notes: list = field(default_factory=list, metadata={"help": "messages from validation (e.g. weights normalized)"})

    # ---- derived -----------------------------------------------------------------------------------
    @property
    def weights(self) -> list[float]:
        return [o.weight for o in self.objectives]

    @property
    def objective_names(self) -> list[str]:
        return [o.name for o in self.objectives]

    @property
    def effective_merge_every(self) -> int:
        if self.method == "rewarded_soups":
            return self.merge.total_steps
        return self.merge.merge_every

    # ---- I/O ---------------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d.pop("notes")
        if not d["oracle_budget"]:  # 0 is "no budget"; written out it would read as a bad budget
            d.pop("oracle_budget")
        return d

    def to_toml(self) -> str:
        return tomli_w.dumps(self.to_dict())

    def save(self, path: str | Path) -> None:
        from irs.io import atomic_write_text

        atomic_write_text(path, self.to_toml())

    @classmethod
    def from_dict(cls, d: dict) -> RunConfig:
        d = dict(d)
        _no_unknown(cls, d, "")
        rl = d.pop("rl", {}) or {}
        mg = d.pop("merge", {}) or {}
        rc = d.pop("ric", {}) or {}
        lo = d.pop("lora", {}) or {}
        sf = d.pop("sft", {}) or {}
        _no_unknown(LoRAConfig, lo, "lora.")
        _no_unknown(SFTConfig, sf, "sft.")
        _no_unknown(RLConfig, rl, "rl.")
        _no_unknown(MergeConfig, mg, "merge.")
        _no_unknown(RiCConfig, rc, "ric.")
        if "oracle_budget" in d:
            b = d["oracle_budget"]
            if not (isinstance(b, int) and not isinstance(b, bool)) or b < 1:
                raise ValueError(f"config field oracle_budget = {b!r}: must be an integer >= 1 (leave it out for none)")
        objs = []
        for i, o in enumerate(d.pop("objectives", []) or []):
            if not isinstance(o, dict):
                raise ValueError(f"objectives[{i}] must be a table with 'name' and 'weight', got {o!r}")
            _no_unknown(ObjectiveSpec, o, f"objectives[{i}].")
            objs.append(ObjectiveSpec(**o))
        try:
            cfg = cls(
                **d,
                objectives=objs,
                rl=RLConfig(**rl),
                merge=MergeConfig(**mg),
                ric=RiCConfig(**rc),
                lora=LoRAConfig(**lo),
                sft=SFTConfig(**sf),
            )
        except TypeError as e:
            raise ValueError(f"bad config: {e}") from None
        _check_types(cfg, "")  # with the nested sections (rl, merge, ...)
        for i, o in enumerate(cfg.objectives):
            _check_types(o, f"objectives[{i}].")
        return cfg

    @classmethod
    def load(cls, path: str | Path) -> RunConfig:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"config file {p} not found")
        try:
            d = tomllib.loads(p.read_text())
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"config {p} is not valid TOML: {e}") from None
        if not d:
            raise ValueError(f"config {p} is empty: give at least a domain (see examples/)")
        return cls.from_dict(d)


# pydantic checks every field against its declared type, strictly: no "8" for an integer, no 8.5 or true
# for a count, no inf or NaN for a number (each dataclass below carries this config)
_WHAT = {  # pydantic error type -> what the message says the field must be
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a finite number",
    "float_parsing": "a finite number",
    "finite_number": "a finite number",
    "string_type": "a string",
    "bool_type": "true or false",
    "list_type": "a list",
}


@functools.cache
def _adapter(cls):
    from pydantic import TypeAdapter

    return TypeAdapter(cls)


def _check_types(obj, prefix: str) -> None:
    """Each field of a config dataclass (nested ones included) holds its declared type, checked by pydantic
    in strict mode: ValueError naming the field, before anything runs."""
    from pydantic import ValidationError

    try:
        _adapter(type(obj)).validate_python(obj)
    except ValidationError as e:
        err = e.errors()[0]
        where = prefix + ".".join(str(x) for x in err["loc"])
        what = _WHAT.get(err["type"], err["msg"].lower())
        raise ValueError(f"config field {where} = {err.get('input')!r}: must be {what}") from None


def _no_unknown(cls, d: dict, prefix: str):
    known = {f.name for f in fields(cls)} - {"notes"}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; known: {', '.join(sorted(known))}"
        )
