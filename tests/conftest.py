"""Shared test settings: one torch thread (tiny models run fastest that way and stay deterministic),
no network, and quiet third-party logs."""

import os

os.environ.setdefault("IRS_THREADS", "1")
# the run queue: runs of a test start at once (tests of the queue set their own limit)
os.environ.setdefault("IRS_MAX_RUNS", "8")
# precision is pinned: "auto" means fp32 here on every CPU; the bf16 path has its own tests (test_bf16.py)
os.environ["IRS_BF16"] = "off"
# calibrations of starting models are cached by their weights: keep the tests' cache out of the checkout
import tempfile  # noqa: E402

os.environ.setdefault("IRS_CACHE_DIR", tempfile.mkdtemp(prefix="irs-test-cache-"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch  # noqa: E402

torch.set_num_threads(1)
