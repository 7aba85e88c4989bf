"""Explicit registry of domains. Modules load lazily so that `import irs` stays light.

A domain outside this package (a plugin, or the test domain in tests/) is registered by the environment:
IRS_DOMAINS="name=module[,name=module...]", each module exposing `DOMAIN`; workers inherit it.
"""

from __future__ import annotations

import importlib
import os

from irs.domains.base import Domain, Pretraining, ProxyTraining, exact_rewards

# name -> module exposing a module-level `DOMAIN: Domain`. One line per domain.
_REGISTRY = {
    "toy": "irs.domains.toy",
    "molecules": "irs.domains.molecules",
    "dna": "irs.domains.dna",
    "text": "irs.domains.text",
}


def _registry() -> dict[str, str]:
    extra = {}
    for item in filter(None, (x.strip() for x in os.environ.get("IRS_DOMAINS", "").split(","))):
        name, sep, module = item.partition("=")
        if not sep or not name.strip() or not module.strip():
            raise ValueError(f"IRS_DOMAINS entry {item!r}: expected name=module")
        extra[name.strip()] = module.strip()
    return {**_REGISTRY, **extra}


def domain_names() -> list[str]:
    return list(_registry())


def get_domain(name: str) -> Domain:
    reg = _registry()
    if name not in reg:
        raise ValueError(f"unknown domain {name!r}; choose from {list(reg)}")
    dom = importlib.import_module(reg[name]).DOMAIN
    if dom.name != name:
        raise ValueError(f"module {reg[name]} holds domain {dom.name!r}, registered as {name!r}")
    return dom


def domains_with(member: str) -> list[Domain]:
    """The registered domains whose `member` (e.g. "pretraining", "train_proxies") is set."""
    return [d for d in map(get_domain, domain_names()) if getattr(d, member) is not None]


__all__ = ["Domain", "Pretraining", "ProxyTraining", "exact_rewards", "get_domain", "domain_names", "domains_with"]
