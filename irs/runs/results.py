"""What a finished run gives back: its candidate table, its evaluation, and new samples from its final
policy, either π_ρT as saved or re-made from the final experts with other merge weights λ (eq. 9).

Heavy imports (torch, pandas, transformers) happen inside the functions, so `import irs.runs` stays light.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Sequence

from irs.runs.control import as_run
from irs.runs.store import Run, RunError

log = logging.getLogger(__name__)


def oracle_objectives(domain, cfg, calibration: dict | None = None) -> list:
    """The objectives candidates are scored with: the preset's oracle, restricted to the run's objectives
    when the oracle has them all (an oracle with other names is used whole), plus the domain's
    evaluation-only metrics (Domain.eval_only, e.g. the text domain's ROUGE-L). With a run's
    `calibration` (calibration.json), normalized on its "eval" scale, as the run's own candidates are."""
    from irs.objectives.calibration import apply

    oracle = domain.oracle(cfg.preset or None)
    by_name = {o.name: o for o in oracle}
    cal = (calibration or {}).get("eval")
    if all(n in by_name for n in cfg.objective_names):
        extra = [n for n in getattr(domain, "eval_only", ()) if n in by_name and n not in cfg.objective_names]
        return apply([by_name[n] for n in list(cfg.objective_names) + extra], cal)
    log.info(
        "oracle objectives %s differ from the run's %s; scoring with all oracle objectives",
        list(by_name),
        cfg.objective_names,
    )
    return apply(oracle, cal)


CALIBRATION_FILE = "calibration.json"


def run_calibration(run: Run | str, runs_dir: str | os.PathLike | None = None) -> dict | None:
    """The run's calibrated normalization (calibration.json), or None: a run with rl.normalization = 'data',
    or one from before calibration existed (both use the objectives' data statistics)."""
    import json

    run = as_run(run, runs_dir)
    p = run.path / CALIBRATION_FILE
    if not p.is_file():
        return None
    try:
        cal = json.loads(p.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise RunError(f"run {run.id}: {CALIBRATION_FILE} is unreadable ({e})") from None
    if not isinstance(cal, dict) or not isinstance(cal.get("eval"), dict):
        raise RunError(f"run {run.id}: {CALIBRATION_FILE} has no 'eval' scale")
    return cal


def load_candidates(run: Run | str, runs_dir: str | os.PathLike | None = None):
    """The run's candidates.parquet as a DataFrame (schema: irs.candidates, checked: RunError names a
    missing column or a column of the wrong type)."""
    import pandas as pd

    run = as_run(run, runs_dir)
    if not run.candidates_path.is_file():
        raise RunError(
            f"run {run.id} has no candidates yet (state {run.status()['state']}); "
            f"they are written at the end of the run"
        )
    from irs.candidates import check_table

    try:
        df = pd.read_parquet(run.candidates_path)
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise RunError(f"run {run.id}: candidates.parquet is unreadable ({e})") from None
    try:
        return check_table(df, f"run {run.id}: candidates.parquet")
    except ValueError as e:
        raise RunError(str(e)) from None


def evaluate_run(run: Run | str, runs_dir: str | os.PathLike | None = None) -> dict:
    """Section 5 evaluation of the run's candidates (irs.candidates.evaluate_table) plus run_id."""
    from irs.candidates import evaluate_table

    run = as_run(run, runs_dir)
    return {"run_id": run.id, **evaluate_table(load_candidates(run))}


def final_experts(run: Run | str, runs_dir: str | os.PathLike | None = None) -> tuple[list[dict], dict]:
    """(state dicts of the final experts, experts.json) of a finished run."""
    import json

    from irs.checkpoint import load_tensors
    from irs.io import check_name

    run = as_run(run, runs_dir)
    info_path = run.experts_dir / "experts.json"
    if not info_path.is_file():
        raise RunError(f"run {run.id} has no final experts yet (state {run.status()['state']})")
    try:
        info = json.loads(info_path.read_text())
        files = info["files"]
        if not isinstance(files, list) or not files:
            raise TypeError("'files' is not a list of expert files")
    except (ValueError, KeyError, TypeError) as e:
        raise RunError(f"run {run.id}: experts/experts.json is unreadable ({type(e).__name__}: {e})") from None
    states = [load_tensors(run.experts_dir / check_name(f, "expert file")) for f in files]
    return states, info


def _parse_simplex(values: Sequence[float] | str, what: str, n: int, of: str, unit: str) -> list[float]:
    """n finite numbers >= 0 with a positive sum, normalized to sum 1; a string is comma-separated."""
    if isinstance(values, str):
        try:
            values = [float(x) for x in values.split(",")]
        except ValueError:
            raise ValueError(f"{what} {values!r}: give comma-separated numbers, e.g. 0.5,0.3,0.2") from None
    v = [float(x) for x in values]
    if len(v) != n:
        raise ValueError(f"{what} {v}: this run has {of}, so give {n} {unit}")
    if not all(math.isfinite(x) and x >= 0 for x in v) or sum(v) <= 0:
        raise ValueError(f"{what} {v}: need finite numbers >= 0 with a positive sum")
    return [x / sum(v) for x in v]


def parse_lambdas(lambdas: Sequence[float] | str, n_experts: int) -> list[float]:
    """Merge weights: n_experts finite numbers >= 0 with a positive sum (normalized to sum 1).
    A string is comma-separated ("0.5,0.25,0.25")."""
    return _parse_simplex(lambdas, "lambdas", n_experts, f"{n_experts} final expert(s)", "weight(s)")


def remerge(run: Run | str, lambdas: Sequence[float] | str | None = None, runs_dir: str | os.PathLike | None = None):
    """(model, tokenizer, lambdas): the final merged model, or with `lambdas` the final experts
    re-merged as Σ λ_i θ_i into a model built from final/."""
    from irs.algorithms.merging import merge_state_dicts
    from irs.checkpoint import load_model_dir, load_state_into

    run = as_run(run, runs_dir)
    if not (run.final_dir / "config.json").is_file():
        raise RunError(f"run {run.id} has no final model yet (state {run.status()['state']})")
    states, lam, info = None, None, {}
    if lambdas is not None:  # check the weights before building the model
        states, info = final_experts(run)
        lam = parse_lambdas(lambdas, len(states))
    model, tok = load_model_dir(run.final_dir)
    if lam is not None:  # LoRA runs' experts hold only the adapted weights (experts.json "partial")
        load_state_into(model, merge_state_dicts(states, lam), strict=not info.get("partial", False))
    return model.eval(), tok, lam


def set_name_for(lambdas: Sequence[float] | None, weights: Sequence[float] | None = None) -> str:
    """ "sample", "remerge a/b/c" (re-merged with λ) or "ric a/b/c" (a RiC run prompted with weights w)."""
    if weights is not None:
        return "ric " + "/".join(f"{x:.2f}" for x in weights)
    return "sample" if lambdas is None else "remerge " + "/".join(f"{x:.2f}" for x in lambdas)


def parse_weights(weights: Sequence[float] | str, names: Sequence[str]) -> list[float]:
    """Preference weights, one per objective of `names`: finite, >= 0, positive sum (normalized to sum 1).
    A string is comma-separated ("0.5,0.25,0.25")."""
    return _parse_simplex(weights, "weights", len(names), f"{len(names)} objective(s) {list(names)}", "weight(s)")


def sampling_prompt(
    run: Run | str, model, weights: Sequence[float] | str | None = None, runs_dir: str | os.PathLike | None = None
) -> tuple[str | None, int, list[float] | None]:
    """(prompt, max_new_tokens, weights used) for sampling `model` of `run`. A RiC run's model conditions
    on desired scores derived from preference weights (irs.algorithms.ric.ric_prompt): `weights` (default:
    the run's own) give the prompt, and the generation fits the model's positions after it. Other runs
    sample from BOS; `weights` is an error there (re-merge them with lambdas instead)."""
    from irs.domains import get_domain

    run = as_run(run, runs_dir)
    cfg = run.config()
    domain = get_domain(cfg.domain)
    is_ric = cfg.method == "ric" or bool(getattr(getattr(model, "config", None), "ric", None))
    if not is_ric:
        if weights is not None:
            raise ValueError(
                f"weights apply to RiC runs (their prompt carries the desired scores); run {run.id} "
                f"has method {cfg.method!r}: re-merge it with lambdas instead"
            )
        return None, cfg.rl.max_new_tokens or domain.max_new_tokens, None
    from irs.algorithms.ric import ric_max_new_tokens, ric_prompt

    w = None if weights is None else parse_weights(weights, cfg.objective_names)
    prompt = ric_prompt(model, w)
    if prompt is None:
        raise RunError(
            f"run {run.id} has method 'ric' but its final model carries no RiC metadata "
            f"(config.json has no 'ric' entry), so it cannot be prompted"
        )
    return prompt, ric_max_new_tokens(model, cfg, domain), w


STARTING_SET = "starting model"  # the candidate set of samples of the model before fine-tuning


def starting_model(run: Run | str, runs_dir: str | os.PathLike | None = None):
    """(model, tokenizer): the pretrained model the run started from, before any fine-tuning (a RiC
    run's supervised stage included), built as the trainer builds it."""
    from irs.domains import get_domain
    from irs.rl.policy import starting_model

    cfg = as_run(run, runs_dir).config()
    domain = get_domain(cfg.domain)
    model, tok = starting_model(cfg, domain)
    return model.eval(), tok


def starting_candidates(cfg, seed: int, calibration: dict | None = None, set_name: str = STARTING_SET):
    """K = cfg.n_final_samples samples of the model a config starts from (a tiny model initialized with
    `seed`), with its sampling settings and the sampling seed `seed`, scored by the oracle (on
    `calibration`'s scale when given): the base-model baseline of the benchmarks, before any run exists."""
    import torch

    from irs.candidates import score_candidates
    from irs.config import bf16_flag
    from irs.domains import get_domain
    from irs.prompting import eval_contexts, prompt_texts
    from irs.rl.policy import starting_model as build_starting
    from irs.rl.sampler import sample

    domain = get_domain(cfg.domain)
    model, tok = build_starting(cfg, domain, seed)
    r = cfg.rl
    ctx = eval_contexts(domain, cfg.n_final_samples)  # prompt domains: the test documents, as the worker
    s = sample(
        model.eval(),
        tok,
        cfg.n_final_samples,
        max_new_tokens=r.max_new_tokens or domain.max_new_tokens,
        temperature=r.temperature,
        top_k=r.top_k,
        top_p=r.top_p,
        bf16=bf16_flag(r),
        generator=torch.Generator().manual_seed(seed),
        prompt=prompt_texts(ctx),
    )
    objectives = oracle_objectives(domain, cfg, calibration)
    return score_candidates(s.texts, domain, objectives, set_name=set_name, contexts=ctx)


def sample_run(
    run: Run | str,
    n: int,
    lambdas: Sequence[float] | str | None = None,
    seed: int = 0,
    runs_dir: str | os.PathLike | None = None,
    weights: Sequence[float] | str | None = None,
    starting: bool = False,
):
    """(texts, model, lambdas): n samples from the run's final policy (re-merged with `lambdas` if given),
    with the run's sampling settings (temperature, top-k/p, max_new_tokens). A RiC run is sampled with its
    desired-score prompt for `weights` (default: the run's preference weights); see sampling_prompt.
    starting: sample the model the run started from instead (starting_model), as a baseline."""
    import torch

    from irs.config import MAX_SAMPLES, bf16_flag
    from irs.rl.sampler import sample

    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_SAMPLES:
        raise ValueError(f"n must be an integer between 1 and {MAX_SAMPLES:,}, got {n!r}")
    from irs.domains import get_domain
    from irs.prompting import eval_contexts, prompt_texts

    run = as_run(run, runs_dir)
    cfg = run.config()
    domain = get_domain(cfg.domain)
    if starting:
        if lambdas is not None or weights is not None:
            raise ValueError("the starting model is sampled as it is: no lambdas or weights")
        model, tok = starting_model(run)
        lam, prompt, max_new = None, None, cfg.rl.max_new_tokens or domain.max_new_tokens
    else:
        model, tok, lam = remerge(run, lambdas)
        prompt, max_new, _ = sampling_prompt(run, model, weights)
    ctx = eval_contexts(domain, n)
    if ctx is not None:  # prompt domains (text): the test split's documents, in order (irs.prompting),
        prompt = prompt_texts(ctx, prompt)  # after a RiC run's desired-score prefix
    r = cfg.rl
    s = sample(
        model,
        tok,
        n,
        max_new_tokens=max_new,
        temperature=r.temperature,
        top_k=r.top_k,
        top_p=r.top_p,
        bf16=bf16_flag(r),
        generator=torch.Generator().manual_seed(seed),
        prompt=prompt,
    )
    return s.texts, model, lam


def remerge_and_sample(
    run: Run | str, lambdas: Sequence[float] | str, n: int, seed: int = 0, runs_dir: str | os.PathLike | None = None
):
    """(texts, model): re-merge the final experts with `lambdas`, then sample n candidates."""
    texts, model, _ = sample_run(run, n, lambdas, seed, runs_dir)
    return texts, model


def oracle_rescore(
    run: Run | str,
    candidates: Sequence[str],
    prompt_ids: Sequence[str] | None = None,
    runs_dir: str | os.PathLike | None = None,
):
    """A candidate table (set "oracle") of `candidates` scored with the run's oracle on the run's own
    evaluation scale. Prompt domains (text) need the `prompt_ids` the candidates answer (the table's
    `prompt_id` column): each summary is judged against its own document."""
    from irs.candidates import score_candidates
    from irs.domains import get_domain
    from irs.prompting import contexts_by_id

    run = as_run(run, runs_dir)
    cfg = run.config()
    domain = get_domain(cfg.domain)
    ctx = None
    if domain.prompts is not None:
        if prompt_ids is None or len(prompt_ids) != len(candidates):
            raise ValueError(f"{cfg.domain} candidates answer documents: give one prompt id per candidate")
        ctx = contexts_by_id(domain, prompt_ids)
    return score_candidates(
        list(candidates), domain, oracle_objectives(domain, cfg, run_calibration(run)), set_name="oracle", contexts=ctx
    )


def sample_candidates(
    run: Run | str,
    n: int,
    lambdas: Sequence[float] | str | None = None,
    seed: int = 0,
    runs_dir: str | os.PathLike | None = None,
    weights: Sequence[float] | str | None = None,
    starting: bool = False,
):
    """A scored candidate table (irs.candidates) of n new samples; set "sample", "remerge a/b/c", for a
    RiC run prompted with other weights "ric a/b/c", or with `starting` STARTING_SET (the model before
    fine-tuning, scored on the run's own scale: what the fine-tuning changed)."""
    from irs.candidates import score_candidates
    from irs.domains import get_domain

    run = as_run(run, runs_dir)
    cfg = run.config()
    texts, _, lam = sample_run(run, n, lambdas, seed, weights=weights, starting=starting)
    w = None if weights is None else parse_weights(weights, cfg.objective_names)
    domain = get_domain(cfg.domain)
    from irs.prompting import eval_contexts

    return score_candidates(
        texts,
        domain,
        oracle_objectives(domain, cfg, run_calibration(run)),
        set_name=STARTING_SET if starting else set_name_for(lam, w),
        contexts=eval_contexts(domain, n),
    )
