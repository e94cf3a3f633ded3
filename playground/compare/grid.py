"""A Compare grid: one prompt, the values held fixed and the axes varied, expanded into cells.

``Grid.cells()`` is the cartesian product of the axes in axis order, the last axis changing
fastest; every ``Cell`` carries its settings, the request values it sends, its model and the
name of its connection. ``Grid.check()`` validates every cell through ``params.validate``
before anything is sent (each message names the axis and the value that fails) and refuses a
grid of more than ``max_cells`` cells. ``to_dict`` and ``from_dict`` round-trip a grid.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from playground import errors
from playground.compare.axes import Axis, axis_names, format_value, refuse
from playground.params import FieldError, ModelLimits, spec, validate

DEFAULT_MAX_CELLS = 48
MAX_SAMPLES = 20
N_PER_REQUEST = int(spec("chat", "n").maximum or 8)

Sampling = Literal["n", "repeat"]


@dataclass(frozen=True, eq=False)
class Cell:
    """One point of the grid."""

    id: str
    index: int
    settings: dict[str, Any]   # axis name -> value (the model axis as a ModelRef)
    values: dict[str, Any]     # the request values: fixed values, axes and seed, without n
    model: str
    connection: str

    @property
    def label(self) -> str:
        return ", ".join(f"{name}={format_value(value)}" for name, value in self.settings.items()) \
            or "fixed settings"


LimitsOf = Callable[[Cell], ModelLimits | None]  # a cell's model's ranges (None: unknown)


@dataclass
class Grid:
    """One prompt and the settings to compare it over.

    ``model`` and ``connection`` are used by every cell unless a model axis names others.
    ``fixed_seed`` seeds every cell (unless a seed axis does) for a reproducible run.
    """

    endpoint: str
    base_values: dict[str, Any] = field(default_factory=dict)
    axes: list[Axis] = field(default_factory=list)
    samples_per_cell: int = 1
    fixed_seed: int | None = None
    model: str = ""
    connection: str = ""
    prompt: str | None = None
    messages: list[dict] | None = None
    sampling: Sampling = "n"
    max_cells: int = DEFAULT_MAX_CELLS

    def size(self) -> int:
        return math.prod(len(axis) for axis in self.axes)

    def axis(self, name: str) -> Axis | None:
        return next((axis for axis in self.axes if axis.name == name), None)

    def limit_message(self) -> str | None:
        size = self.size()
        if size <= self.max_cells:
            return None
        shape = " × ".join(f"{len(axis)} {axis.name}" for axis in self.axes)
        return (f"The grid has {size:,} cells ({shape}), over the limit of {self.max_cells}. "
                f"Remove some values or raise the cell limit.")

    def cells(self) -> list[Cell]:
        """The cartesian product of the axes, last axis fastest; refuses an oversized grid."""
        if (message := self.limit_message()) is not None:
            raise refuse("grid", message)
        names = [axis.name for axis in self.axes]
        width = len(str(self.size()))
        fixed = {k: v for k, v in self.base_values.items() if k not in ("n", "model")}
        if self.fixed_seed is not None and "seed" not in names:
            fixed["seed"] = self.fixed_seed
        cells = []
        for index, combo in enumerate(itertools.product(*(axis.values for axis in self.axes))):
            settings = dict(zip(names, combo))
            values = dict(fixed)
            model, connection = self.model, self.connection
            for name, value in settings.items():
                if name == "model":
                    model = value.model
                    connection = value.connection or self.connection
                else:
                    values[name] = value
            cells.append(Cell(f"c{index + 1:0{width}d}", index, settings, values, model,
                              connection))
        return cells

    def requests_per_cell(self) -> int:
        if self.sampling == "repeat":
            return self.samples_per_cell
        return math.ceil(self.samples_per_cell / N_PER_REQUEST)

    def first_request_values(self, cell: Cell) -> dict[str, Any]:
        return request_values(self, cell, 0)

    def problems(self, limits_of: LimitsOf | None = None) -> list[FieldError]:
        """Everything that stops the grid from running, each message naming what to change.

        ``limits_of(cell)`` gives the ranges of the cell's model (None: as declared), so
        that a value its model cannot take is named before anything is sent.
        """
        found: list[FieldError] = []

        def add(name: str, message: str) -> None:
            if all(e.message != message for e in found):
                found.append(FieldError(name, message))

        if self.endpoint not in ("completions", "chat"):
            add("endpoint", f"Unknown endpoint {self.endpoint!r}; choose completions or chat.")
            return found
        if self.endpoint == "completions" and not self.prompt:
            add("prompt", "prompt must not be empty.")
        if self.endpoint == "chat" and not self.messages:
            add("messages", "messages must hold at least one message.")
        if isinstance(self.samples_per_cell, bool) or not isinstance(self.samples_per_cell, int) \
                or not 1 <= self.samples_per_cell <= MAX_SAMPLES:
            add("samples_per_cell", f"Samples per cell must be a whole number from 1 to "
                                    f"{MAX_SAMPLES}; got {self.samples_per_cell!r}.")
            return found
        if self.sampling not in ("n", "repeat"):
            add("sampling", f"sampling must be 'n' or 'repeat'; got {self.sampling!r}.")
        names = [axis.name for axis in self.axes]
        for name in sorted({n for n in names if names.count(n) > 1}):
            add(name, f"The {name} axis is given twice; merge its values into one axis.")
        for name in names:
            if name not in axis_names(self.endpoint):
                add(name, f"/v1/{self.endpoint} does not take {name} (a chat parameter): "
                          "remove that axis, or compare in Chat mode.")
        if (message := self.limit_message()) is not None:
            add("grid", message)
            return found
        for cell in self.cells():
            limits = limits_of(cell) if limits_of is not None and cell.model else None
            for name, message in self._cell_problems(cell, set(names), limits):
                add(name, message)
        return found

    def _cell_problems(self, cell: Cell, varied: set[str],
                       limits: ModelLimits | None) -> list[tuple[str, str]]:
        """What stops one cell, each problem of a varied setting naming its value."""
        found = []
        if not cell.model:
            found.append(("model", "Choose a model, or add a model axis."))
        elif not cell.connection:
            found.append(("connection", f"Choose a connection for the model {cell.model!r}."))
        for problem in validate(self.endpoint, self.first_request_values(cell), limits):
            if problem.field in varied:
                value = format_value(cell.settings[problem.field])
                found.append((problem.field,
                              f"{problem.field} axis value {value}: {problem.message}"))
            elif problem.field == "seed" and self.fixed_seed is not None:
                found.append(("fixed_seed", f"fixed seed: {problem.message}"))
            else:
                found.append((problem.field, problem.message))
        return found

    def check(self, limits_of: LimitsOf | None = None) -> None:
        """Raise ``InvalidParameters`` listing every problem; nothing is sent before this."""
        if found := self.problems(limits_of):
            raise errors.InvalidParameters(found)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, model axis values as ``"model @ connection"``; see ``from_dict``."""
        return {"endpoint": self.endpoint, "model": self.model, "connection": self.connection,
                "prompt": self.prompt, "messages": self.messages,
                "base_values": self.base_values,
                "axes": [{"name": axis.name, "values": [str(v) if axis.name == "model" else v
                                                        for v in axis.values]}
                         for axis in self.axes],
                "samples_per_cell": self.samples_per_cell, "fixed_seed": self.fixed_seed,
                "sampling": self.sampling, "max_cells": self.max_cells}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Grid:
        return cls(endpoint=data["endpoint"], base_values=dict(data.get("base_values") or {}),
                   axes=[Axis(axis["name"], tuple(axis["values"])) for axis in data["axes"]],
                   samples_per_cell=data.get("samples_per_cell", 1),
                   fixed_seed=data.get("fixed_seed"), model=data.get("model") or "",
                   connection=data.get("connection") or "", prompt=data.get("prompt"),
                   messages=data.get("messages"), sampling=data.get("sampling", "n"),
                   max_cells=data.get("max_cells", DEFAULT_MAX_CELLS))


def request_values(grid: Grid, cell: Cell, first_sample: int) -> dict[str, Any]:
    """The values of the request that produces samples from ``first_sample`` on: ``n`` as
    many as one request may ask for, and a seed moved on by ``first_sample`` so that every
    sample differs and a rerun reproduces them."""
    values = dict(cell.values)
    remaining = grid.samples_per_cell - first_sample
    values["n"] = 1 if grid.sampling == "repeat" else min(remaining, N_PER_REQUEST)
    seed = values.get("seed")
    if first_sample and isinstance(seed, int) and not isinstance(seed, bool):
        values["seed"] = seed + first_sample
    return values
