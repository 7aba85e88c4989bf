"""Where shipped things live. Relative asset paths (a domain's default model, say) are resolved against
the repository root, so runs do not depend on the directory they were started from."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"


def resolve(spec: str) -> str:
    """An absolute path for a model directory spec; `tiny:*` specs pass through unchanged."""
    if spec.startswith("tiny:"):
        return spec
    p = Path(spec).expanduser()
    if p.is_absolute() or p.exists():
        return str(p.resolve())
    return str((ROOT / p).resolve())


def portable(spec: str) -> str:
    """`spec` relative to the repository root when it lies inside it (so that a record of it, such as a
    bench's fingerprint, does not change when the checkout moves); otherwise unchanged."""
    p = Path(spec)
    if not p.is_absolute():
        return spec
    try:
        return str(p.resolve().relative_to(ROOT))
    except ValueError:
        return spec
