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


__all__ = ["Domain", "get_domain", "domain_names"]
