"""Compare: one prompt across a grid of settings, expanded, checked, estimated and run.

``Grid`` holds the prompt, the values held fixed and the ``Axis`` objects varied;
``estimate`` bounds what it costs before it runs; ``run_grid`` runs its cells on a pool of
threads and gives a ``GridResult``; ``RunStore`` keeps runs in the usage ledger's file, and
``form_of`` gives back the page's fields for a saved grid. ``metrics`` measures the texts.
"""

from playground.compare.grid import (
    AXIS_NAMES,
    DEFAULT_MAX_CELLS,
    MAX_AXIS_VALUES,
    MAX_SAMPLES,
    Axis,
    Cell,
    CellResult,
    Difference,
    Estimate,
    Grid,
    GridResult,
    ModelRef,
    Sample,
    SavedError,
    accepts_of,
    axis_names,
    estimate,
    format_value,
    rerun_failed,
    run_grid,
)
from playground.compare.saved import Form, RunStore, SavedRun, form_of

__all__ = [
    "AXIS_NAMES", "DEFAULT_MAX_CELLS", "MAX_AXIS_VALUES", "MAX_SAMPLES", "Axis", "Cell",
    "CellResult", "Difference", "Estimate", "Form", "Grid", "GridResult", "ModelRef",
    "RunStore", "Sample", "SavedError", "SavedRun", "accepts_of", "axis_names", "estimate",
    "form_of", "format_value", "rerun_failed", "run_grid",
]
