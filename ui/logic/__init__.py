"""The workbench's logic without Streamlit: run folders, the demo run, building and checking a run config
from the design form, weighted scores and top k, extra candidate sets, export bytes, and the comparison
table (paper Table 1). Pages call these; tests and benchmarks call them directly.

Everything that trains, samples, scores or exports goes through the library (irs.runs, irs.candidates,
irs.export, irs.evaluation); this module only arranges inputs and outputs for the pages.
"""

from __future__ import annotations

from irs.runs.sets import add_candidate_set, load_table, table_stamp  # noqa: F401, E402 (the pages reach them here)
from ui.logic.compare import comparable_default, compare_table, group_runs, weights_text  # noqa: F401
from ui.logic.design import (  # noqa: F401
    ObjectiveInfo,
    available_methods,
    build_config,
    check_config,
    design_notes,
    normalize_weights,
    objective_infos,
)
from ui.logic.dna import HIT_COLORS, SEQ_LINE, hits_for_row, motif_colors, sequence_html  # noqa: F401
from ui.logic.folders import (  # noqa: F401
    DEMO_DIR,
    DEMO_DOMAIN_ORDER,
    REPO,
    default_run_id,
    demo_runs,
    import_roots,
    install_demo_runs,
    open_run_folder,
    resolve_run_folder,
    runs_root,
)
from ui.logic.runs_page import (  # noqa: F401
    ONLINE_EXPERT,
    CurveSpec,
    best_per_step,
    budget_text,
    calibration_rows,
    run_progress,
    training_curves,
)
from ui.logic.selection import ids_from_plot_event, merge_table_selection, table_selection_rows  # noqa: F401
from ui.logic.tables import EXPORT_MIME, export_bytes, top_k_ids, weighted_score  # noqa: F401
from ui.logic.text import GOAL_SYMBOL, GOAL_WORD, METHOD_HELP, METHOD_LABELS, md_text  # noqa: F401
