"""A Compare run as tables, for the page's table and charts and the CSV export.

``sample_rows`` gives one row per sample (a cell without samples gets one row with its
status and error), ``cell_row`` one row per cell with its metrics averaged over its samples;
``frame`` makes a ``DataFrame`` of rows with every metric column as numbers, unknown values
as NaN, so that charts can plot them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import pandas as pd

from playground.compare.metrics import TextMetrics

if TYPE_CHECKING:
    from playground.compare.results import CellResult

METRIC_NAMES = tuple(TextMetrics.__dataclass_fields__)
_NUMERIC_COLUMNS = (*METRIC_NAMES, "identical_share", "mean_similarity", "prompt_tokens",
                    "completion_tokens", "sample", "cell_latency", "cell_queued")


def frame(rows: Iterable[dict[str, Any]]) -> pd.DataFrame:
    table = pd.DataFrame(list(rows))
    for name in _NUMERIC_COLUMNS:
        if name in table:
            table[name] = pd.to_numeric(table[name])
    return table


def sample_rows(result: CellResult, axis_names: list[str]) -> list[dict[str, Any]]:
    """One row per sample; a cell without samples gets one row with its status."""
    base = _cell_columns(result, axis_names)
    agree = result.agreement
    base.update({"identical_share": agree.identical_share,
                 "mean_similarity": agree.mean_similarity})
    if not result.samples:
        return [{**base, "sample": None, "text": None, "finish_reason": None,
                 **{name: None for name in METRIC_NAMES}}]
    return [{**base, "sample": s.index, "text": s.text, "finish_reason": s.finish_reason,
             **s.metrics.as_dict()} for s in result.samples]


def cell_row(result: CellResult, axis_names: list[str]) -> dict[str, Any]:
    """One row for the cell: its metrics averaged over the samples, and agreement."""
    row = _cell_columns(result, axis_names)
    records = [s.metrics.as_dict() for s in result.samples]
    for name in METRIC_NAMES:
        known = [r[name] for r in records if r[name] is not None]
        row[name] = sum(known) / len(known) if known else None
    agree = result.agreement
    row.update({"samples": len(result.samples), "identical_share": agree.identical_share,
                "mean_similarity": agree.mean_similarity})
    return row


def _cell_columns(result: CellResult, axis_names: list[str]) -> dict[str, Any]:
    cell = result.cell
    row: dict[str, Any] = {"cell": cell.id, "cell_index": cell.index, "label": cell.label,
                           "connection": cell.connection, "model": cell.model}
    for name in axis_names:
        if name != "model":
            row[name] = cell.settings.get(name)
    row.update({"status": result.status,
                "error": str(result.error) if result.error else None,
                "error_kind": result.error.kind if result.error else None,
                "cell_latency": result.latency, "cell_queued": result.queued,
                "requests": result.requests,
                "prompt_tokens": result.usage.get("prompt_tokens"),
                "completion_tokens": result.usage.get("completion_tokens"),
                "n_ignored": result.n_ignored})
    return row
