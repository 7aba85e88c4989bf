"""A run's final outputs: final/ (π_ρT) and experts/, then K candidates sampled from π_ρT in chunks and
scored by the oracle in pieces, with progress, a prompt cancel and a resume that continues where it stopped."""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from irs.io import atomic_write_bytes, atomic_write_json, replace_dir
from irs.runs.store import Run

log = logging.getLogger(__name__)


def save_final(run: Run, tr) -> None:
    """final/ (the merged model π_ρT) and experts/ (the final experts and their names and weights)."""
    from irs.checkpoint import save_model_dir, save_tensors

    cfg = tr.cfg
    tmp = run.path / ".final.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_model_dir(
        tr.final_model(),
        tr.tokenizer,
        tmp,
        meta={
            "run_id": run.id,
            "method": cfg.method,
            "step": tr.schedule.t,
            "lambdas": tr.last_lambdas,
            "objectives": cfg.objective_names,
            "weights": cfg.weights,
        },
    )
    replace_dir(tmp, run.final_dir)

    states = tr.final_expert_states()  # the experts before the final merge, in objective order
    tmp = run.path / ".experts.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    for i, st in enumerate(states):
        save_tensors(st, tmp / f"expert_{i}.safetensors")
    atomic_write_json(
        tmp / "experts.json",
        {
            "names": list(tr.expert_names),
            "files": [f"expert_{i}.safetensors" for i in range(len(states))],
            "objectives": cfg.objective_names,
            "weights": cfg.weights,
            "lambdas": tr.last_lambdas,
            # LoRA experts: only the adapted layers' weights W + B·A; the rest is final/'s shared base
            "partial": bool(tr.lora),
        },
    )
    replace_dir(tmp, run.experts_dir)


FINAL_CHUNK = 256  # the sampler's own batch: chunked calls draw what one call draws (prompt-free domains)
SCORE_CHUNK = 64  # oracle calls per progress report, cancel check and saved piece
PARTIAL_DIR = "final_sampling.partial"  # sampled texts and scored pieces so far; resume continues from them


class _NoStatus:
    def set(self, **fields) -> None:
        pass


class FinalSamplingCancelled(Exception):
    """A cancel arrived during the final sampling or scoring; what was done so far is saved."""


def _npy_bytes(a) -> bytes:
    import io

    import numpy as np

    buf = io.BytesIO()
    np.save(buf, np.asarray(a, dtype=np.float64), allow_pickle=False)
    return buf.getvalue()


def _final_texts(run: Run, tr, prompts, status, should_stop) -> list[str]:
    """Sample K texts from π_ρT in chunks of FINAL_CHUNK, saving the texts and the generator after each, so
    that a cancel or a kill loses at most one chunk and a resumed run draws exactly the same K."""
    import torch

    from irs.rl.sampler import sample

    cfg, r = tr.cfg, tr.cfg.rl
    K, part = cfg.n_final_samples, run.path / PARTIAL_DIR
    f = part / "samples.json"
    g, texts = torch.Generator().manual_seed(cfg.seed), []
    if f.is_file():
        try:
            saved = json.loads(f.read_text())
            if saved.get("n") == K and saved.get("seed") == cfg.seed:
                texts = list(saved["texts"])
                g.set_state(torch.tensor(saved["generator"], dtype=torch.uint8))
                log.info("final sampling: continuing after %d of %d saved samples", len(texts), K)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as e:
            log.warning("final sampling: ignoring a damaged %s (%s)", f, e)
            g, texts = torch.Generator().manual_seed(cfg.seed), []
    model = tr.final_model() if len(texts) < K else None
    status.set(phase="sampling", sampled=len(texts), n_final=K)
    while len(texts) < K:
        i = len(texts)
        m = min(FINAL_CHUNK, K - i)
        s = sample(
            model,
            tr.tokenizer,
            m,
            max_new_tokens=tr.max_new_tokens,
            temperature=r.temperature,
            top_k=r.top_k,
            top_p=r.top_p,
            bf16=tr.bf16,
            generator=g,
            batch_size=FINAL_CHUNK,
            prompt=prompts[i : i + m] if isinstance(prompts, list) else prompts,
        )
        texts += s.texts
        part.mkdir(exist_ok=True)
        atomic_write_json(f, {"n": K, "seed": cfg.seed, "texts": texts, "generator": g.get_state().tolist()})
        status.set(sampled=len(texts))
        if len(texts) < K and should_stop():
            raise FinalSamplingCancelled(f"cancelled after {len(texts)} of {K} final samples")
    return texts


def _resumable_scoring(objectives, part: Path, key: str, status, should_stop) -> list:
    """The objectives, each scoring in chunks of SCORE_CHUNK whose results are saved under `part`
    (named by `key`, a digest of the texts), with progress in the status and a cancel check per chunk."""
    import copy

    import numpy as np

    out, n_obj = [], len(objectives)

    def wrap(k, o):
        raw = o.raw

        def scorer(cands, ctxs=None):
            pieces = []
            for j in range(0, len(cands), SCORE_CHUNK):
                f = part / f"score-{key}-{k}-{j // SCORE_CHUNK}.npy"
                a = np.load(f, allow_pickle=False) if f.is_file() else None
                if a is None or a.shape != (len(cands[j : j + SCORE_CHUNK]),):
                    a = raw(cands[j : j + SCORE_CHUNK], None if ctxs is None else ctxs[j : j + SCORE_CHUNK])
                    part.mkdir(exist_ok=True)
                    atomic_write_bytes(f, _npy_bytes(a))
                pieces.append(a)
                done = j + len(a)
                status.set(
                    phase="scoring",
                    scoring=f"{o.name} {done}/{len(cands)}",
                    scored_fraction=round((k + done / max(1, len(cands))) / n_obj, 4),
                )
                if should_stop() and (done < len(cands) or k < n_obj - 1):
                    raise FinalSamplingCancelled(f"cancelled while scoring {o.name} ({done}/{len(cands)})")
            return np.concatenate(pieces) if pieces else np.zeros(0)

        w = copy.copy(o)
        w.scorer = scorer
        return w

    for k, o in enumerate(objectives):
        out.append(wrap(k, o))
    return out


def write_candidates(run: Run, tr, status=None, should_stop=lambda: False) -> int:
    """Sample K candidates from π_ρT, score them with the oracle, write candidates.parquet. Progress goes
    to the status (sampled / n_final, then scoring); a cancel is honoured between chunks and the work done
    so far is kept in PARTIAL_DIR for the resumed worker (FinalSamplingCancelled)."""
    import hashlib

    from irs.candidates import score_candidates
    from irs.prompting import eval_contexts, prompt_texts
    from irs.runs.results import oracle_objectives

    status = status or _NoStatus()
    cfg = tr.cfg
    ctx = eval_contexts(tr.domain, cfg.n_final_samples)  # prompt domains: the test split's documents
    ric = tr.sampling_prompt  # RiC: the desired scores as the prompt (before each document)
    prompts = prompt_texts(ctx, ric) if ctx is not None else ric
    texts = _final_texts(run, tr, prompts, status, should_stop)
    part = run.path / PARTIAL_DIR
    key = hashlib.sha256(json.dumps(texts).encode()).hexdigest()[:16]
    oracle = oracle_objectives(tr.domain, cfg, tr.calibration)
    budget = getattr(tr, "budget", None)
    if budget is not None:  # the final candidates may use the rest of the budget, kept for them
        budget.set_limit(budget.budget)
        oracle = budget.wrap(oracle)
    objectives = _resumable_scoring(oracle, part, key, status, should_stop)
    df = score_candidates(texts, tr.domain, objectives, set_name="final", contexts=ctx)
    atomic_write_bytes(run.candidates_path, df.to_parquet(index=False))
    shutil.rmtree(part, ignore_errors=True)
    if budget is not None:
        _add_best_calls(run, tr, budget, oracle)
    return len(df)


BEST_CALLS_SET = "best oracle calls"


def _add_best_calls(run: Run, tr, budget, oracle) -> None:
    """A budgeted run's best K molecules of its call log (what PMO's top-k is taken from) as a candidate
    set beside the final samples; `oracle` goes through the budget, whose cache holds every logged
    molecule, so no call is spent. Once per run."""
    from irs.candidates import score_candidates
    from irs.runs.sets import add_candidate_set, load_table

    if BEST_CALLS_SET in set(load_table(run.path)["set"]):
        return
    rows = sorted(budget.log_rows, key=lambda r: (-r[2], r[0]))[: tr.cfg.n_final_samples]
    if not rows:
        return
    best = score_candidates([r[1] for r in rows], tr.domain, oracle, set_name=BEST_CALLS_SET)  # all cached
    add_candidate_set(run.path, best)
