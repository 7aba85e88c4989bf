"""IterativeRS (Algorithm 1) and its presets MORLHF and Rewarded Soups; merging and λ strategies; RiC.

`make_trainer(cfg, comm=None)` is the one entry point the worker, the CLI and the benchmarks use.
Every trainer offers the same surface: run(should_stop, after_step), save(dir), load(dir), done,
schedule (t, T, m), on_record, final_model(), final_expert_states(), tokenizer, domain, objectives.
"""


def make_trainer(cfg, comm=None):
    if cfg.method == "ric":
        from irs.algorithms.ric import RiCTrainer

        return RiCTrainer(cfg, comm=comm)
    from irs.algorithms.trainer import Trainer

    return Trainer(cfg, comm=comm)
