"""Compare: one prompt across a grid of settings, expanded, checked, estimated and run.

``axes`` reads the settings that vary; ``grid`` expands them into cells and checks every
cell before anything is sent; ``estimate`` bounds what a grid costs; ``scheduler`` runs the
cells on a pool of threads, each cell's requests sent by ``cell_run``; ``concurrency`` says
how many at once fill each local model's batch, and words a run's pace; ``results`` holds
what they produced and ``export`` makes tables of it; ``saved`` keeps runs in the usage
ledger's file and ``form`` gives back the page's fields for a saved grid; ``metrics``
measures the texts.
"""

from playground.compare.axes import (
    AXIS_NAMES,
    MAX_AXIS_VALUES,
    Axis,
    ModelRef,
    axis_names,
    format_value,
)
from playground.compare.cell_run import accepts_of
from playground.compare.concurrency import (
    DEFAULT_WORKERS,
    MAX_WORKERS,
    WorkersDefault,
    default_workers,
    parallel_sequences,
    progress_text,
)
from playground.compare.estimate import Estimate, estimate
from playground.compare.form import Form, form_of
from playground.compare.grid import DEFAULT_MAX_CELLS, MAX_SAMPLES, Cell, Grid
from playground.compare.results import CellResult, Difference, GridResult, Sample, SavedError
from playground.compare.saved import RunStore, SavedRun
from playground.compare.scheduler import rerun_failed, run_grid

__all__ = [
    "AXIS_NAMES", "DEFAULT_MAX_CELLS", "DEFAULT_WORKERS", "MAX_AXIS_VALUES", "MAX_SAMPLES",
    "MAX_WORKERS", "Axis", "Cell", "CellResult", "Difference", "Estimate", "Form", "Grid",
    "GridResult", "ModelRef", "RunStore", "Sample", "SavedError", "SavedRun", "WorkersDefault",
    "accepts_of", "axis_names", "default_workers", "estimate", "form_of", "format_value",
    "parallel_sequences", "progress_text", "rerun_failed", "run_grid",
]
