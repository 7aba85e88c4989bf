"""Scale-out parity: a 3-rank gloo run on CPU merges to the same parameters as one process."""
import os
import socket

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from irs.algorithms.distributed import TorchDistComm
from irs.algorithms.merging import trainable_params
from irs.algorithms.trainer import Trainer
from irs.checkpoint import load_tensors, save_tensors
from irs.config import RunConfig


def _cfg(lambdas="fixed", opt_state="keep"):
    cfg = RunConfig.from_dict({"domain": "toy", "model": "tiny:gpt2", "method": "iterative_rs", "seed": 3,
                               "objectives": [{"name": "frac_a", "weight": 0.5}, {"name": "frac_b", "weight": 0.3},
                                              {"name": "length", "weight": 0.2}],
                               "rl": {"batch_size": 8, "lr": 1e-2, "bf16": "off", "max_new_tokens": 10},
                               "merge": {"total_steps": 4, "merge_every": 2, "lambdas": lambdas,
                                         "n_val_samples": 8, "optimizer_state": opt_state}})
    return cfg


def _rank(rank, world, port, out, lambdas, opt_state):
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        tr = Trainer(_cfg(lambdas, opt_state), comm=TorchDistComm())
        assert len(tr.experts) == 1 and tr.experts[0].k == rank  # one expert per rank
        tr.run()
        fe = tr.final_expert_states()
        if rank == 0:
            save_tensors({f"p{i}": p for i, p in enumerate(trainable_params(tr.final_model()))}, out)
            save_tensors({f"{k}.{n}": v for k, st in enumerate(fe) for n, v in st.items()}, out + ".experts.safetensors")
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
@pytest.mark.parametrize("lambdas,opt_state", [("selective", "average")])  # the widest comm path
def test_three_rank_gloo_run_matches_single_process(tmp_path, lambdas, opt_state):
    out = str(tmp_path / "merged.safetensors")
    mp.spawn(_rank, args=(3, _free_port(), out, lambdas, opt_state), nprocs=3, join=True)
    single = Trainer(_cfg(lambdas, opt_state))
    single.run()
    got = load_tensors(out)
    want = trainable_params(single.final_model())
    assert len(got) == len(want)
    for i, p in enumerate(want):
        torch.testing.assert_close(got[f"p{i}"], p.detach(), atol=1e-5, rtol=0)
    experts = load_tensors(out + ".experts.safetensors")
    for k, st in enumerate(single.final_expert_states()):
        for n, v in st.items():
            torch.testing.assert_close(experts[f"{k}.{n}"], v, atol=1e-5, rtol=0)
    assert any(not torch.equal(a, b) for a, b in zip(want, Trainer(_cfg()).experts[0].model.parameters()))
