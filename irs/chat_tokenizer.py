"""A thin adapter that gives a Hugging Face chat tokenizer the VocabTokenizer interface (irs.tokenizer),
so that the one sampler, the rollouts and the checkpoints work unchanged with instruct models.

    encode(text, add_bos=True)   the chat template applied to one user turn, ending with the assistant
                                 header (`apply_chat_template(..., add_generation_prompt=True)`): a prompt
    encode(text, add_bos=False)  plain tokens of `text` (an SFT target, say); add_eos appends EOS
    decode(ids)                  text up to the first EOS, special tokens skipped
    pad_id / bos_id / eos_id     EOS is the chat's end-of-turn token (<|im_end|> for SmolLM2, <|eot_id|>
                                 for Llama 3); PAD is a special token distinct from both, which the sampler
                                 never generates (it bans PAD and BOS); BOS is the tokenizer's BOS (for
                                 SmolLM2 <|im_start|>, so a reply never opens a new turn)
    prompt_only / prompt_only_ids added special tokens that may appear in prompts but are never generated
                                 (RiC's score tokens, irs.algorithms.ric; the sampler bans them like PAD);
                                 `with_prompt_only(tokens)` gives a copy with them added

A model directory written with `save` holds the Hugging Face tokenizer files (tokenizer.json,
tokenizer_config.json, chat template) plus `irs_tokenizer.json`, the marker `irs.tokenizer.load_tokenizer`
uses to tell it from a VocabTokenizer directory, and the prompt-only tokens (their ids are in the saved
Hugging Face files as added special tokens).
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

from irs.io import atomic_write_json
from irs.tokenizer import ids_before_eos

MARKER = "irs_tokenizer.json"
END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<|end|>", "<end_of_turn>")


def _pick_pad(tok, bos_id: int | None, eos_id: int) -> int:
    """A special token that is neither BOS nor EOS: the tokenizer's PAD, else UNK, else a special token
    with 'pad' or 'endoftext' in its name."""
    taken = {bos_id, eos_id}
    for t in (tok.pad_token, tok.unk_token):
        if t is not None and tok.convert_tokens_to_ids(t) not in taken:
            return tok.convert_tokens_to_ids(t)
    specials = list(tok.all_special_tokens) + [t for t in tok.get_added_vocab()]
    for key in ("pad", "endoftext"):
        for t in specials:
            if key in t.lower() and tok.convert_tokens_to_ids(t) not in taken:
                return tok.convert_tokens_to_ids(t)
    raise ValueError(f"tokenizer {tok.name_or_path!r}: no special token to use as PAD (besides BOS/EOS)")


class ChatTokenizer:
    """VocabTokenizer-compatible wrapper of a Hugging Face tokenizer with a chat template."""

    is_chat = True

    def __init__(self, hf_tokenizer, system: str | None = None, name: str = "chat", prompt_only=()):
        tok = hf_tokenizer
        if not getattr(tok, "chat_template", None):
            raise ValueError(f"tokenizer {tok.name_or_path!r} has no chat template")
        self.hf = tok
        self.system = system
        self.name = name
        vocab = tok.get_vocab()
        eot = next((t for t in END_OF_TURN if t in vocab), None)
        self.eos_id = vocab[eot] if eot is not None else tok.eos_token_id
        if self.eos_id is None:
            raise ValueError(f"tokenizer {tok.name_or_path!r}: no end-of-turn or EOS token")
        self.bos_id = tok.bos_token_id if tok.bos_token_id is not None else self.eos_id
        self.pad_id = _pick_pad(tok, self.bos_id, self.eos_id)
        self.unk_id = tok.unk_token_id if tok.unk_token_id is not None else self.pad_id
        self._skip = {self.pad_id, self.bos_id}
        missing = [t for t in prompt_only if t not in vocab]
        if missing:
            raise ValueError(f"prompt_only tokens not in the vocab: {missing[:5]}")
        self.prompt_only = list(prompt_only)
        self.prompt_only_ids = [vocab[t] for t in self.prompt_only]

    def with_prompt_only(self, tokens) -> ChatTokenizer:
        """A copy (the Hugging Face tokenizer is deep-copied; `self` is unchanged) with `tokens` added as
        special tokens (those it lacks, with the next free ids) and marked prompt-only. Idempotent."""
        hf = copy.deepcopy(self.hf)
        vocab = hf.get_vocab()
        new = [t for t in tokens if t not in vocab]
        if new:
            hf.add_tokens(new, special_tokens=True)
        out = ChatTokenizer(
            hf, self.system, self.name, list(self.prompt_only) + [t for t in tokens if t not in self.prompt_only]
        )
        out.pad_id, out.bos_id, out.eos_id, out.unk_id = self.pad_id, self.bos_id, self.eos_id, self.unk_id
        out._skip = {out.pad_id, out.bos_id}
        return out

    @property
    def vocab_size(self) -> int:
        return len(self.hf)

    def messages(self, text: str) -> list[dict]:
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return msgs + [{"role": "user", "content": text}]

    def chat_prompt(self, text: str) -> str:
        """The templated prompt as a string (what `encode(text, add_bos=True)` tokenizes)."""
        return self.hf.apply_chat_template(self.messages(text), add_generation_prompt=True, tokenize=False)

    def encode(self, text: str, add_bos: bool = True, add_eos: bool = False) -> list[int]:
        if add_bos:
            ids = list(self.hf(self.chat_prompt(text), add_special_tokens=False)["input_ids"])
        else:
            ids = list(self.hf(text, add_special_tokens=False)["input_ids"])
        return ids + ([self.eos_id] if add_eos else [])

    def decode(self, ids) -> str:
        """Decode up to the first EOS, skipping PAD, BOS and other special tokens."""
        return self.hf.decode(ids_before_eos(ids, self.eos_id, self._skip), skip_special_tokens=True)

    def save(self, directory: str | os.PathLike) -> None:
        d = Path(directory)
        d.mkdir(parents=True, exist_ok=True)
        self.hf.save_pretrained(str(d))
        atomic_write_json(
            d / MARKER,
            {
                "kind": "chat",
                "name": self.name,
                "system": self.system,
                "pad_id": self.pad_id,
                "bos_id": self.bos_id,
                "eos_id": self.eos_id,
                "prompt_only": self.prompt_only,
            },
        )

    @classmethod
    def load(cls, directory: str | os.PathLike) -> ChatTokenizer:
        from transformers import AutoTokenizer

        d = Path(directory)
        meta = json.loads((d / MARKER).read_text()) if (d / MARKER).is_file() else {}
        tok = cls(
            AutoTokenizer.from_pretrained(str(d), local_files_only=True),
            meta.get("system"),
            meta.get("name", d.name),
            meta.get("prompt_only", ()),
        )
        for k in ("pad_id", "bos_id", "eos_id"):  # the ids the model was trained/saved with
            if k in meta:
                setattr(tok, k, int(meta[k]))
        tok._skip = {tok.pad_id, tok.bos_id}
        return tok


def is_chat_dir(directory: str | os.PathLike) -> bool:
    """True for a model directory with a Hugging Face tokenizer (ours, or one from the Hub)."""
    d = Path(directory)
    return (d / MARKER).is_file() or (d / "tokenizer_config.json").is_file()
