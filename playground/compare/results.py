"""What a Compare run produced: its cells' samples or errors, as dataclasses.

``GridResult.to_frame()`` has one row per cell and sample (a failed cell has one row with
its error), ``cells_frame()`` one row per cell, and ``to_records()``/``to_json()``/
``to_csv()`` serve the exports. ``GridResult.to_dict()`` and ``GridResult.from_dict()``
round-trip a run (grid, samples with their log-probabilities, errors as ``SavedError``) for
saving it. ``differences(baseline)`` says, cell by cell, which settings and texts differ
from a chosen baseline cell, and where its text first parts from the baseline's;
``same_text_groups()`` gathers the cells that gave the same text.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import pandas as pd

from playground import errors
from playground.compare import export, metrics
from playground.compare.axes import ModelRef, format_value
from playground.compare.grid import Cell, Grid

Status = Literal["pending", "ok", "failed", "cancelled"]


class SavedError(errors.PlaygroundError):
    """A cell's error read back from a saved run: the kind, message and hint it had."""

    def __init__(self, kind: str, message: str, hint: str | None = None):
        super().__init__(message, hint=hint)
        self._kind = kind

    @property
    def kind(self) -> str:
        return self._kind


@dataclass
class Sample:
    """One output of a cell."""

    index: int
    text: str
    finish_reason: str | None = None
    logprobs: list[float | None] | None = None
    tokens: int | None = None
    latency: float | None = None  # of the request that produced it
    token_texts: list[str] | None = None  # the sampled tokens, when logprobs came back

    @property
    def metrics(self) -> metrics.TextMetrics:
        return metrics.text_metrics(self.text, tokens=self.tokens, logprobs=self.logprobs)


@dataclass
class CellResult:
    """What one cell produced: its samples, or the error that stopped it."""

    cell: Cell
    status: Status = "pending"
    samples: list[Sample] = field(default_factory=list)
    error: errors.PlaygroundError | None = None
    latency: float = 0.0          # wall time of the cell's requests and retries
    queued: float = 0.0           # from the start of scheduling until its first request
    usage: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    n_ignored: bool = False       # the endpoint returned fewer choices than n asked for
    attempts: int = 0             # times the pool ran the cell (>1 after a rate-limit requeue)

    @property
    def texts(self) -> list[str]:
        return [sample.text for sample in self.samples]

    @property
    def agreement(self) -> metrics.Agreement:
        return metrics.agreement(self.texts)

    def summary_row(self, axis_names: list[str]) -> dict[str, Any]:
        """One row for the cell: its metrics averaged over the samples, and agreement."""
        return export.cell_row(self, axis_names)

    def to_record(self) -> dict[str, Any]:
        """JSON-ready: the cell, its samples with metrics, its error; see ``from_record``."""
        return {
            "cell": self.cell.id, "index": self.cell.index, "label": self.cell.label,
            "settings": {k: format_value(v) if k == "model" else v
                         for k, v in self.cell.settings.items()},
            "values": self.cell.values, "model": self.cell.model,
            "connection": self.cell.connection, "status": self.status,
            "error": None if self.error is None else {
                "kind": self.error.kind, "message": str(self.error), "hint": self.error.hint},
            "latency": self.latency, "queued": self.queued, "requests": self.requests,
            "usage": self.usage,
            "n_ignored": self.n_ignored, "attempts": self.attempts,
            "agreement": {"identical_share": self.agreement.identical_share,
                          "mean_similarity": self.agreement.mean_similarity},
            "samples": [{"index": s.index, "text": s.text, "finish_reason": s.finish_reason,
                         "latency": s.latency, **s.metrics.as_dict(), "logprobs": s.logprobs,
                         "token_texts": s.token_texts}
                        for s in self.samples],
        }

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CellResult:
        settings = {name: ModelRef.parse(value) if name == "model" else value
                    for name, value in record["settings"].items()}
        cell = Cell(record["cell"], record["index"], settings, dict(record["values"]),
                    record["model"], record["connection"])
        error = record.get("error")
        return cls(
            cell, status=record["status"],
            samples=[Sample(s["index"], s["text"], s.get("finish_reason"), s.get("logprobs"),
                            s.get("tokens"), s.get("latency"), s.get("token_texts"))
                     for s in record["samples"]],
            error=None if error is None else SavedError(error["kind"], error["message"],
                                                        error.get("hint")),
            latency=record.get("latency", 0.0), queued=record.get("queued", 0.0),
            usage=dict(record.get("usage") or {}),
            requests=record.get("requests", 0), n_ignored=record.get("n_ignored", False),
            attempts=record.get("attempts", 0))


@dataclass(frozen=True)
class Difference:
    """How one cell differs from a baseline cell.

    ``same_text`` and ``similarity`` (mean over samples paired by index) are None when
    either cell has no samples; ``divergence`` is where the first sample parts from the
    baseline's first sample (None when they are the same, or either is missing).
    """

    settings: dict[str, tuple[Any, Any]]  # axis -> (this cell's value, the baseline's)
    same_text: bool | None
    similarity: float | None
    divergence: metrics.Divergence | None = None


@dataclass
class GridResult:
    grid: Grid
    cells: list[CellResult]
    wall_time: float = 0.0
    cancelled: bool = False

    def by_status(self, status: Status) -> list[CellResult]:
        return [result for result in self.cells if result.status == status]

    @property
    def ok(self) -> list[CellResult]:
        return self.by_status("ok")

    @property
    def failed(self) -> list[CellResult]:
        return self.by_status("failed")

    @property
    def done(self) -> int:
        return sum(1 for result in self.cells if result.status in ("ok", "failed"))

    def result(self, cell_id: str) -> CellResult:
        return next(result for result in self.cells if result.cell.id == cell_id)

    def _axis_names(self) -> list[str]:
        return [axis.name for axis in self.grid.axes]

    def to_frame(self) -> pd.DataFrame:
        """One row per cell and sample, for the page's table, charts and CSV export."""
        names = self._axis_names()
        return export.frame(row for result in self.cells
                            for row in export.sample_rows(result, names))

    def cells_frame(self) -> pd.DataFrame:
        """One row per cell with its metrics averaged over its samples."""
        names = self._axis_names()
        return export.frame(export.cell_row(result, names) for result in self.cells)

    def to_csv(self) -> str:
        return self.to_frame().to_csv(index=False)

    def to_records(self) -> list[dict[str, Any]]:
        return [result.to_record() for result in self.cells]

    def to_dict(self) -> dict[str, Any]:
        """The run, grid included, as JSON-ready data; ``from_dict`` reads it back."""
        return {"endpoint": self.grid.endpoint,
                "samples_per_cell": self.grid.samples_per_cell,
                "fixed_seed": self.grid.fixed_seed,
                "wall_time": self.wall_time, "cancelled": self.cancelled,
                "grid": self.grid.to_dict(), "cells": self.to_records()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> GridResult:
        return cls(Grid.from_dict(data["grid"]),
                   [CellResult.from_record(record) for record in data["cells"]],
                   data.get("wall_time", 0.0), data.get("cancelled", False))

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    # A page keeps one GridResult while its cells run, so that a run interrupted halfway
    # still shows the cells that finished.

    @classmethod
    def starting(cls, grid: Grid, cells: Iterable[Cell]) -> GridResult:
        """Every cell pending, before a run."""
        return cls(grid, [CellResult(cell) for cell in cells])

    def update(self, result: CellResult) -> None:
        """Put a cell's new result in place of its old one."""
        for position, old in enumerate(self.cells):
            if old.cell.id == result.cell.id:
                self.cells[position] = result
                return
        raise KeyError(result.cell.id)

    def settle(self) -> bool:
        """After a run that never returned: its pending cells become cancelled.
        True when there were any."""
        pending = [position for position, r in enumerate(self.cells) if r.status == "pending"]
        for position in pending:
            self.cells[position] = CellResult(self.cells[position].cell, status="cancelled")
        if pending:
            self.cancelled = True
        return bool(pending)

    def differences(self, baseline: str) -> dict[str, Difference]:
        """Cell id -> how that cell differs from the ``baseline`` cell."""
        base = self.result(baseline)
        found = {}
        for result in self.cells:
            settings = {name: (value, base.cell.settings.get(name))
                        for name, value in result.cell.settings.items()
                        if value != base.cell.settings.get(name)}
            pairs = list(zip(result.texts, base.texts))
            similarity = (sum(metrics.similarity(a, b) for a, b in pairs) / len(pairs)
                          if pairs else None)
            same = result.texts == base.texts if pairs else None
            parted = _divergence(result.samples[0], base.samples[0]) if pairs else None
            found[result.cell.id] = Difference(settings, same, similarity, parted)
        return found

    def same_text_groups(self) -> list[list[CellResult]]:
        """Cells that gave exactly the same texts, two cells or more to a group, the
        largest group first (then in cell order)."""
        groups: dict[tuple[str, ...], list[CellResult]] = {}
        for result in self.cells:
            if result.status == "ok" and result.samples:
                groups.setdefault(tuple(result.texts), []).append(result)
        return sorted((group for group in groups.values() if len(group) > 1),
                      key=lambda group: (-len(group), group[0].cell.index))


def _divergence(this: Sample, base: Sample) -> metrics.Divergence | None:
    return metrics.divergence(this.text, base.text, this_tokens=this.token_texts,
                              base_tokens=base.token_texts, this_logprobs=this.logprobs,
                              base_logprobs=base.logprobs)
