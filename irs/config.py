"""Run configuration: typed dataclasses whose fields are the paper's hyperparameters, TOML round-trip,
and validation that names the bad field. Defaults follow the paper's Appendix B where it gives one.

A config file looks like:

    name = "qm9-equal"
    domain = "molecules"
    preset = "qm9"
    method = "iterative_rs"          # iterative_rs | morlhf | rewarded_soups | ric
    seed = 0
    [[objectives]]
    name = "alpha"
    weight = 1.0
    [rl]
    algo = "ppo"
    [merge]
    total_steps = 100
    merge_every = 4
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field, fields
from pathlib import Path

import tomli_w
import tomllib

METHODS = ("iterative_rs", "morlhf", "rewarded_soups", "ric")


def _f(default, help: str, **kw):
    """A dataclass field with help text (used by the CLI, the app's tooltips and the docs)."""
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata={"help": help, **kw})
    return field(default=default, metadata={"help": help, **kw})


def help_of(cls, name: str) -> str:
    return next(f.metadata.get("help", "") for f in fields(cls) if f.name == name)


@dataclass
class ObjectiveSpec:
    name: str = _f("", "objective name from the domain preset")
    weight: float = _f(1.0, "preference weight w_i > 0; weights are normalized to sum 1")


@dataclass
class RLConfig:
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
    vf_lr: float = _f(0.0, "PPO value head learning rate; 0 means rl.lr")
    samples_per_prompt: int = _f(
        0,
        "prompt domains (text): summaries sampled per prompt in a batch, as consecutive "
        "rows (batch_size / samples_per_prompt prompts per step); 0 means rloo_k for "
        "RLOO with groups, else 1",
    )


@dataclass
class MergeConfig:
    total_steps: int = _f(100, "T: total training steps")
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

    steps: int = _f(0, "SFT optimizer steps before the RL cycles; 0 = no SFT")
    lr: float = _f(1.41e-6, "SFT Adam learning rate (paper App. B.3: 1.41e-6 for Llama-3.2-3B)")
    batch_size: int = _f(8, "(prompt, reference) pairs per SFT step")


@dataclass
class RunConfig:
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
        _check_types(cfg, "")
        for part in ("rl", "merge", "ric", "lora", "sft"):
            _check_types(getattr(cfg, part), f"{part}.")
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


_TYPE_CHECKS = {  # declared field type -> (test, what the error says it must be)
    "int": (lambda x: isinstance(x, int) and not isinstance(x, bool), "an integer"),
    "float": (
        lambda x: isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x),
        "a finite number",
    ),
    "str": (lambda x: isinstance(x, str), "a string"),
    "bool": (lambda x: isinstance(x, bool), "true or false"),
    "list": (lambda x: isinstance(x, list), "a list"),
}


def _check_types(obj, prefix: str) -> None:
    """Each field of a config dataclass holds its declared type (TOML gives "8" for a quoted 8, 8.5 for a
    batch size, inf for a coefficient): ValueError naming the field, before anything runs."""
    for f in fields(obj):
        t, v = str(f.type), getattr(obj, f.name)
        if t in _TYPE_CHECKS and not _TYPE_CHECKS[t][0](v):
            raise ValueError(f"config field {prefix}{f.name} = {v!r}: must be {_TYPE_CHECKS[t][1]}")


def _no_unknown(cls, d: dict, prefix: str):
    known = {f.name for f in fields(cls)} - {"notes"}
    unknown = sorted(set(d) - known)
    if unknown:
        raise ValueError(
            f"unknown config key(s) {', '.join(prefix + k for k in unknown)}; known: {', '.join(sorted(known))}"
        )


MAX_BATCH, MAX_SAMPLES, MAX_STEPS = 65_536, 1_000_000, 10_000_000  # beyond these a run only exhausts memory


def _check(cond: bool, field_name: str, value, why: str):
    if not cond:
        raise ValueError(f"config field {field_name} = {value!r}: {why}")


def validate(cfg: RunConfig, available: list[str] | None = None) -> RunConfig:
    """Check every field; fill objectives from `available` (the preset's names) when empty; normalize
    weights to sum 1 (noting it in cfg.notes). Raises ValueError naming the bad field."""
    _check(cfg.method in METHODS, "method", cfg.method, f"must be one of {METHODS}")
    r, m = cfg.rl, cfg.merge
    if available is not None:
        if not cfg.objectives:
            cfg.objectives = [ObjectiveSpec(n, 1.0) for n in available]
        for i, o in enumerate(cfg.objectives):
            _check(o.name in available, f"objectives[{i}].name", o.name, f"unknown objective; preset has {available}")
        names = [o.name for o in cfg.objectives]
        _check(len(set(names)) == len(names), "objectives", names, "objective names repeat")
    _check(len(cfg.objectives) >= 1, "objectives", [], "need at least one objective")
    for i, o in enumerate(cfg.objectives):
        w = o.weight
        _check(
            isinstance(w, (int, float)) and not isinstance(w, bool) and math.isfinite(w),
            f"objectives[{i}].weight",
            w,
            "must be a finite number",
        )
        _check(w >= 0, f"objectives[{i}].weight", w, "must be >= 0")
    total = sum(o.weight for o in cfg.objectives)
    _check(total > 0, "objectives.weight", [o.weight for o in cfg.objectives], "weights are all zero")
    if abs(total - 1.0) > 1e-9:
        before = [o.weight for o in cfg.objectives]
        for o in cfg.objectives:
            o.weight = o.weight / total
        cfg.notes.append(
            f"weights {before} did not sum to 1; normalized to {[round(o.weight, 6) for o in cfg.objectives]}"
        )
    N = len(cfg.objectives)
    _check(m.total_steps >= 1, "merge.total_steps", m.total_steps, "must be >= 1")
    _check(m.merge_every >= 1, "merge.merge_every", m.merge_every, "must be >= 1")
    _check(0 <= m.subset_size <= N, "merge.subset_size", m.subset_size, f"must be between 1 and N={N} (0 = all)")
    _check(
        m.lambdas in ("fixed", "selective", "monte_carlo"),
        "merge.lambdas",
        m.lambdas,
        "must be 'fixed', 'selective' or 'monte_carlo'",
    )
    _check(
        m.optimizer_state in ("keep", "reset", "average"),
        "merge.optimizer_state",
        m.optimizer_state,
        "must be 'keep', 'reset' or 'average'",
    )
    for j, lam in enumerate(m.lambda_grid):
        _check(
            isinstance(lam, list)
            and all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in lam),
            f"merge.lambda_grid[{j}]",
            lam,
            "each entry must be a list of numbers",
        )
        _check(
            len(lam) == N and all(x >= 0 for x in lam) and sum(lam) > 0,
            f"merge.lambda_grid[{j}]",
            lam,
            f"each entry needs {N} non-negative numbers with a positive sum",
        )
    _check(m.n_val_samples >= 1, "merge.n_val_samples", m.n_val_samples, "must be >= 1")
    _check(m.n_candidates_mc >= 1, "merge.n_candidates_mc", m.n_candidates_mc, "must be >= 1")
    _check(r.algo in ("ppo", "rloo"), "rl.algo", r.algo, "must be 'ppo' or 'rloo'")
    _check(r.optimizer in ("adam", "sgd"), "rl.optimizer", r.optimizer, "must be 'adam' or 'sgd'")
    _check(r.lr > 0 and math.isfinite(r.lr), "rl.lr", r.lr, "must be a positive number")
    _check(r.batch_size >= 2, "rl.batch_size", r.batch_size, "must be >= 2 (RLOO needs a leave-one-out baseline)")
    _check(r.batch_size <= MAX_BATCH, "rl.batch_size", r.batch_size, f"must be <= {MAX_BATCH:,} (memory)")
    _check(
        1 <= cfg.n_final_samples <= MAX_SAMPLES,
        "n_final_samples",
        cfg.n_final_samples,
        f"must be between 1 and {MAX_SAMPLES:,}",
    )
    _check(m.total_steps <= MAX_STEPS, "merge.total_steps", m.total_steps, f"must be <= {MAX_STEPS:,}")
    _check(
        0 <= r.minibatch_size <= r.batch_size, "rl.minibatch_size", r.minibatch_size, "must be between 0 and batch_size"
    )
    _check(r.ppo_epochs >= 1, "rl.ppo_epochs", r.ppo_epochs, "must be >= 1")
    _check(r.beta >= 0, "rl.beta", r.beta, "must be >= 0")
    _check(r.kl_estimator in ("k1", "k3"), "rl.kl_estimator", r.kl_estimator, "must be 'k1' or 'k3'")
    _check(r.kl_penalty in ("reward", "loss"), "rl.kl_penalty", r.kl_penalty, "must be 'reward' or 'loss'")
    _check(
        r.kl_penalty == "reward" or (r.top_k == 0 and r.top_p == 1.0),
        "rl.kl_penalty",
        r.kl_penalty,
        "'loss' needs the full distribution: set top_k = 0 and top_p = 1 (filters give the policy and the "
        "reference different supports)",
    )
    _check(r.cliprange > 0, "rl.cliprange", r.cliprange, "must be > 0")
    _check(r.cliprange_value > 0, "rl.cliprange_value", r.cliprange_value, "must be > 0")
    _check(r.vf_coef >= 0, "rl.vf_coef", r.vf_coef, "must be >= 0")
    _check(r.max_grad_norm >= 0, "rl.max_grad_norm", r.max_grad_norm, "must be >= 0 (0 = no clipping)")
    _check(r.top_k >= 0, "rl.top_k", r.top_k, "must be >= 0 (0 = no top-k filter)")
    _check(0 <= cfg.seed < 2**32, "seed", cfg.seed, "must be between 0 and 2**32 - 1")
    _check(0 <= r.gamma <= 1 and 0 <= r.lam <= 1, "rl.gamma/rl.lam", (r.gamma, r.lam), "must be in [0, 1]")
    _check(
        r.rloo_k == 0 or (r.rloo_k >= 2 and r.batch_size % r.rloo_k == 0),
        "rl.rloo_k",
        r.rloo_k,
        "must be 0 or >= 2 and divide batch_size",
    )
    _check(r.temperature >= 0, "rl.temperature", r.temperature, "must be >= 0")
    _check(0 < r.top_p <= 1, "rl.top_p", r.top_p, "must be in (0, 1]")
    _check(r.bf16 in ("auto", "on", "off"), "rl.bf16", r.bf16, "must be 'auto', 'on' or 'off'")
    _check(r.max_new_tokens >= 0, "rl.max_new_tokens", r.max_new_tokens, "must be >= 0")
    _check(
        r.normalization in ("auto", "calibrated", "data"),
        "rl.normalization",
        r.normalization,
        "must be 'auto', 'calibrated' or 'data'",
    )
    _check(r.calibration_samples >= 16, "rl.calibration_samples", r.calibration_samples, "must be >= 16")
    _check(
        r.calibration_headroom >= 0 and math.isfinite(r.calibration_headroom),
        "rl.calibration_headroom",
        r.calibration_headroom,
        "must be a finite number >= 0",
    )
    _check(
        r.diversity_filter in ("none", "identical", "scaffold"),
        "rl.diversity_filter",
        r.diversity_filter,
        "must be 'none', 'identical' or 'scaffold'",
    )
    _check(r.diversity_bucket >= 1, "rl.diversity_bucket", r.diversity_bucket, "must be >= 1")
    _check(r.vf_lr >= 0 and math.isfinite(r.vf_lr), "rl.vf_lr", r.vf_lr, "must be >= 0 (0 = rl.lr)")
    _check(
        cfg.method == "ric" or r.temperature > 0,
        "rl.temperature",
        r.temperature,
        "must be > 0 for RL (the policy gradient needs a sampling distribution; 0 is greedy)",
    )
    _check(cfg.nproc >= 1, "nproc", cfg.nproc, "must be >= 1")
    _check(cfg.n_final_samples >= 1, "n_final_samples", cfg.n_final_samples, "must be >= 1")
    _check(
        cfg.aggregation in ("weighted_sum", "geometric"),
        "aggregation",
        cfg.aggregation,
        "must be 'weighted_sum' or 'geometric'",
    )
    c = cfg.ric
    _check(
        isinstance(c.p, (int, float)) and not math.isnan(c.p) and c.p >= 1,
        "ric.p",
        c.p,
        "must be a number >= 1 (inf allowed)",
    )
    _check(c.n_bins >= 2, "ric.n_bins", c.n_bins, "must be >= 2")
    _check(c.lr >= 0 and math.isfinite(c.lr), "ric.lr", c.lr, "must be >= 0 (0 = rl.lr)")
    _check(c.batch_size >= 0, "ric.batch_size", c.batch_size, "must be >= 0 (0 = rl.batch_size)")
    _check(c.max_examples >= 0, "ric.max_examples", c.max_examples, "must be >= 0 (0 = all)")
    _check(
        0 <= c.online_rounds < m.total_steps,
        "ric.online_rounds",
        c.online_rounds,
        f"must be between 0 and merge.total_steps - 1 = {m.total_steps - 1} (each round needs SFT steps)",
    )
    _check(c.online_samples >= 1, "ric.online_samples", c.online_samples, "must be >= 1")
    _check(0 <= c.quantile < 1, "ric.quantile", c.quantile, "must be in [0, 1)")
    _check(
        r.samples_per_prompt >= 0 and (r.samples_per_prompt == 0 or r.batch_size % r.samples_per_prompt == 0),
        "rl.samples_per_prompt",
        r.samples_per_prompt,
        "must be 0 or divide rl.batch_size",
    )
    lo = cfg.lora
    _check(
        lo.enabled is True or lo.enabled is False or lo.enabled == "auto",
        "lora.enabled",
        lo.enabled,
        "must be true, false or 'auto'",
    )
    _check(isinstance(lo.r, int) and lo.r >= 1, "lora.r", lo.r, "must be an integer >= 1")
    _check(lo.alpha > 0, "lora.alpha", lo.alpha, "must be > 0")
    _check(0 <= lo.dropout < 1, "lora.dropout", lo.dropout, "must be in [0, 1)")
    _check(
        all(isinstance(t, str) and t for t in lo.target_modules),
        "lora.target_modules",
        lo.target_modules,
        "must be a list of module names",
    )
    sf = cfg.sft
    _check(sf.steps >= 0, "sft.steps", sf.steps, "must be >= 0 (0 = no SFT)")
    _check(sf.lr > 0 and math.isfinite(sf.lr), "sft.lr", sf.lr, "must be a positive number")
    _check(sf.batch_size >= 1, "sft.batch_size", sf.batch_size, "must be >= 1")
    return cfg


def lora_enabled(cfg: RunConfig, domain=None) -> bool:
    """[lora] enabled, with 'auto' resolved by the domain (Domain.lora_default: on for text)."""
    e = cfg.lora.enabled
    if e == "auto":
        return bool(getattr(domain, "lora_default", False))
    return bool(e)


def normalization_of(cfg: RunConfig, domain=None) -> str:
    """rl.normalization with 'auto' resolved by the domain (Domain.calibrate_default)."""
    n = cfg.rl.normalization
    if n == "auto":
        return "calibrated" if getattr(domain, "calibrate_default", True) else "data"
    return n


def bf16_flag(r: RLConfig) -> bool | None:
    return {"auto": None, "on": True, "off": False}[r.bf16]
