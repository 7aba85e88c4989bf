"""`irs import-model`: turn a model shipped inside a package into a plain model directory
(config.json + model.safetensors + tokenizer files + provenance.json); see irs.model_import."""

from __future__ import annotations

import argparse

from irs.model_import import IMPORTERS


def add_parser(sub) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "import-model",
        help="import a packaged model (smollm2: SmolLM2-135M-Instruct GGUF)",
        description="Dequantize a model that ships inside a package and save it as a safetensors "
        "model directory. The text domain does this itself on first use.",
    )
    p.add_argument("name", choices=sorted(IMPORTERS), help="which model to import")
    p.add_argument(
        "--out", default=None, help="output directory (default: assets/text/smollm2-135m-instruct, git-ignored)"
    )
    p.add_argument("--force", action="store_true", help="re-import over an existing directory (default: off)")
    p.set_defaults(func=run)
    return p


def run(args) -> int:
    from irs.model_import import import_smollm2

    out = import_smollm2(args.out, force=args.force)
    print(f"saved {out}")
    return 0
