"""Rewards-in-Context (RiC, Yang et al. 2024), the supervised baseline of the paper's Sections 2 and 5.

RiC fine-tunes the foundation model on labelled data whose every sequence is prefixed with its
objectives' scores; at sampling time the prefix carries the scores the user asks for, derived from the
preference weights. Optional online rounds generate with the model, score with the proxies, keep the
best quantile and fine-tune again. `RiCTrainer` offers the same surface as `irs.algorithms.Trainer`
(run / save / load / schedule / on_record / final_model / final_expert_states), so it runs through the
same run store, worker, evaluation and export (`method = "ric"`, see `make_trainer`).

Conditioning (the choice, and why)
----------------------------------
The shipped vocabularies (SMILES, DNA, toy) have no number tokens to spare (SMILES digits are ring
closures), so RiC's text prefix "<rm1_score> 0.3 <rm2_score> ..." is written with *new* tokens: one
marker per objective `<o0>`, `<o1>`, ... and one token per score level `<v0>` .. `<v{n_bins-1}>`
shared by all objectives. A score is the objective's reward in [0, 1] (the goal-transformed,
normalized reward every method trains on) rounded to `n_bins` levels (default 11, i.e. RiC's one
decimal). A sequence reads

    BOS <o0><v7> <o1><v3> <o2><v9>  c1ccccc1O  EOS          (no spaces; 1 + 2N prompt tokens)

The model's embedding matrix is extended by N + n_bins rows (initialized as mean + std-scaled noise of
the existing rows, seeded), and the extended tokenizer (a plain VocabTokenizer whose regex matches the
new tokens first) is saved with the model. The loss covers the sequence after the prompt (RiC trains on
completions only). A model whose context fits no labelled example after the prompt (DNAGPT-2: 52
positions for BOS + 50 four-mers + EOS, every site the same length) gets 2N more positions (any other
model keeps its shape): a GPT-2 position table becomes [row 0 (BOS), 2N new rows (the mean of the old
rows), rows 1..], so the sequence after the prompt sits at the positions it was pretrained at; other
architectures only get a larger config limit.

Prompt domains (text): the tokens are added to a copy of the chat tokenizer as Hugging Face added special
tokens, marked prompt-only (irs.chat_tokenizer); a prompt is one chat-templated user message holding the
score prefix, a newline and the document's prompt (irs.prompting.with_prefix), so prompt lengths differ
per row and the loss starts after each row's own prompt. Whole-model fine-tuning as everywhere else
([lora] and [sft] are not used). The model's config carries `ric` metadata (objectives,
levels, lo/hi, p, the prompt for the run's weights), so `ric_prompt(model, weights)` re-targets a saved
RiC model to other weights.

Preference -> desired scores (RiC's "dynamic inference-time adjustment")
-----------------------------------------------------------------------
RiC maps weights w to desired scores with `map_rewards_from_preference`; its 'l2' method is
desired_i = lo_i + w_i / ||w||_2 * (hi_i - lo_i), where lo_i / hi_i are the lowest and highest score of
objective i in the training data. The paper's App. B "p = 2" is read as this norm; `ric.p` sets it
(p = inf gives RiC's L-inf rule: the top-weight objective asks for hi, the others for
lo_i + min(N w_i, 1)(hi_i - lo_i)). With the paper's equal weights and p = 2 every objective asks for
lo + 0.577 (hi - lo); with p = inf, for hi.

Labelled data (`Domain.labelled_data`, each domain's own hook)
------------------------------------------------------------------------------
- molecules / qm9: the QM9 training split (`qm9.split()`), canonical SMILES, with the *DFT labels*
  (α, gap, U0) sent through the objectives' own normalization and goal transform: the data RiC is
  trained on in the paper ("supervised fine-tuning was performed using the QM9 dataset").
- molecules / druglike: MOSES training SMILES scored exactly with RDKit (QED, SA, logP).
- toy: random strings over {a, b, c} (random length, Dirichlet character mix), scored exactly.
- dna: real training-split DHS sites (`irs.domains.dna.proxies.labelled_data`), the activity objectives
  labelled by the oracle CNN (its probability through the goal transform), motif/GC objectives exactly.
- text: the train split's (prompt record, reference summary) pairs, each reference scored exactly with
  the context-aware objectives against its own record (quality, the similarity to the reference, is
  then always 1). The hook returns (texts, R, contexts); online rounds draw a train record per sample.
Labelling is data preparation, not a reward query: it does not touch the objectives' query counters.

Budget (what `irs bench` compares): T SFT steps of `ric.batch_size` sequences (0 = rl.batch_size; the
bench sets N x B, the rewarded samples of one IterativeRS step). Offline SFT makes no reward queries.
Each online round scores `online_samples` generations on all N objectives (N queries each), counted in
the objectives' counters and in the "online" metrics records.

Online rounds (RiC's multi-objective rejection sampling), when `ric.online_rounds = k > 0`: the T steps
are cut into k + 1 phases; at the start of phase j >= 1 the model samples `online_samples` sequences
with RiC's exploration goals (every objective at hi except a random one at a uniform level), scores
them with the proxies, keeps the valid ones whose reward reaches the `quantile` of the batch on at
least one objective, and trains from then on on the quantile-filtered labelled data plus every kept
online sample so far.
"""

from __future__ import annotations

from irs.algorithms.ric.conditioning import (  # noqa: F401
    EXPERT_NAME,
    conditioned_tokenizer,
    conditioning_tokens,
    desired_scores,
    labelled_data,
    labelled_examples,
    level_token,
    levels_of,
    objective_token,
    parse_prompt,
    prompt_for,
    prompt_text,
    ric_max_new_tokens,
    ric_prompt,
)
from irs.algorithms.ric.surgery import extend_positions  # noqa: F401
from irs.algorithms.ric.trainer import RiCTrainer, quantile_mask  # noqa: F401
