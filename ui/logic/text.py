"""Labels of methods and goals, and md_text: untrusted strings shown as literal text in Streamlit Markdown."""

from __future__ import annotations

import logging
import re

log = logging.getLogger(__name__)


METHOD_LABELS = {"iterative_rs": "IterativeRS", "morlhf": "MORLHF", "rewarded_soups": "Rewarded Soups", "ric": "RiC"}
METHOD_HELP = {
    "iterative_rs": "One expert per objective trains m steps, then the experts are merged (weighted "
    "parameter average) and restart from the merge, until T steps are done",
    "morlhf": "One policy trained on the weighted sum of the rewards (m and M do not apply)",
    "rewarded_soups": "Experts train independently for all T steps and are merged once at the end (m = T)",
    "ric": "Rewards-in-context: supervised fine-tuning with the scores written into the prompt",
}
GOAL_SYMBOL = {"max": "↑", "min": "↓", "target": "◎"}
GOAL_WORD = {"max": "maximize", "min": "minimize", "target": "keep in a window"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~:$<>&=])")


def md_text(s) -> str:
    """`s` as literal text inside Streamlit Markdown: every Markdown, emoji/icon (`:x:`), colour
    (`:red[...]`) and LaTeX (`$`) character backslash-escaped, so a URL value, a run name, an error message
    or a SMILES such as `**O=[N+]([O-])c1ccccc1**` is shown as written, never interpreted; bare URLs are
    not turned into links."""
    out = _MD_SPECIAL.sub(r"\\\1", str(s)).replace("\n", " ")
    # GFM turns bare URLs into links after unescaping: a zero-width space breaks "://" and "www."
    return re.sub(
        r"(?i)(\\:)(//)|\b(www)(\\\.)",
        lambda m: (m.group(1) or m.group(3)) + "\u200b" + (m.group(2) or m.group(4)),
        out,
    )
