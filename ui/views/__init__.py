"""Each domain's part of the Explore page (the page itself, views/explore.py, is domain-agnostic).

A domain names its module in `Domain.view` (e.g. "ui.views.molecules"); the module exposes `VIEW`, a
DomainView. A domain without one gets the generic DomainView: the candidate as text in the table and
the selection, no extra columns, filters or panels.
"""

from __future__ import annotations

import importlib

from ui.views.base import DomainView


def view_for(domain_name: str, columns=()) -> DomainView:
    """The domain's view; for a domain without one, the text view when the table answers prompts (it has
    the `source` column every prompt domain's table has), else the generic view."""
    from irs.domains import get_domain

    try:
        module = get_domain(domain_name).view
    except ValueError:  # a run of a domain this checkout does not know
        module = None
    if module is None and "source" in columns:
        module = "ui.views.text"
    return importlib.import_module(module).VIEW if module else DomainView()


__all__ = ["DomainView", "view_for"]
