"""Explicit registry of domains. Modules load lazily so that `import irs` stays light."""

from __future__ import annotations

import importlib

from irs.domains.base import Domain

# name -> module exposing a module-level `DOMAIN: Domain`
_REGISTRY = {
    "toy": "irs.domains.toy",
    "molecules": "irs.domains.molecules",
    "dna": "irs.domains.dna",
    "text": "irs.domains.text",
}


def domain_names() -> list[str]:
    return list(_REGISTRY)


def get_domain(name: str) -> Domain:
    if name not in _REGISTRY:
        raise ValueError(f"unknown domain {name!r}; choose from {domain_names()}")
    return importlib.import_module(_REGISTRY[name]).DOMAIN


def domain_tokenizer(domain: Domain | str):
    """The domain module's `tokenizer()` factory called, or None (the model directory brings its own).
    getattr, not `from ... import tokenizer`: that would import a *submodule* named tokenizer."""
    name = domain if isinstance(domain, str) else domain.name
    fn = getattr(importlib.import_module(_REGISTRY[name]), "tokenizer", None)
    return fn() if callable(fn) else None


__all__ = ["Domain", "get_domain", "domain_names", "domain_tokenizer"]
