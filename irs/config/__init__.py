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

from irs.config.fields import (  # noqa: F401
    METHODS,
    LoRAConfig,
    MergeConfig,
    ObjectiveSpec,
    RiCConfig,
    RLConfig,
    RunConfig,
    SFTConfig,
    help_of,
)
from irs.config.validation import MAX_BATCH, MAX_SAMPLES, MAX_STEPS, bf16_flag, lora_enabled, normalization_of, validate  # noqa: F401
