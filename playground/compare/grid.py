"""Compare: one prompt across a grid of settings, expanded, checked, estimated and run.

A ``Grid`` is an endpoint, the prompt (or messages), the values held fixed, and ``Axis``
objects (temperature, top_p, frequency_penalty, presence_penalty, max_tokens, model, seed,
and for chat max_completion_tokens, reasoning_effort and verbosity), each a list of values.
``Grid.cells()`` is their cartesian product in axis order, the last axis changing fastest;
every ``Cell`` carries its settings, the request values it sends, its model and the name of its
connection.

``Grid.check()`` validates every cell through ``params.validate`` before anything is sent
(each message names the axis and the value that fails) and refuses a grid of more than
``max_cells`` cells. ``estimate`` gives requests, tokens and an upper bound on the cost.

``run_grid`` runs the cells on a bounded ``ThreadPoolExecutor``:

- **Samples per cell** come from ``n`` (one request; at most 8 choices per request) when
  ``sampling="n"``. An endpoint that ignores ``n`` answers with fewer choices: the cell
  then tops up with further requests and records ``n_ignored``. ``sampling="repeat"``
  always sends one request per sample. With a seed (an axis or ``fixed_seed``), the
  request that starts at sample k is sent with ``seed + k``, so the samples differ and a
  rerun reproduces them.
- **Failures stay in their cell**: a cell that fails keeps its ``PlaygroundError`` and the
  others go on; ``rerun_failed`` sends only the failed cells again.
- **Cancel** (``should_cancel``, polled in the calling thread) stops scheduling: cells not
  started end as ``cancelled``, streaming cells stop at their next chunk, and a request
  already in flight without streaming is allowed to finish (the SDK cannot abort it).
- **Rate limits**: each request is retried by the SDK itself (``Connection.max_retries``),
  which waits for the server's ``Retry-After`` (or backs off exponentially without one).
  The pool does not amplify a limit: at most ``max_workers`` requests are ever in flight,
  a cell is never retried by the pool while the SDK retries it, and when a cell still ends
  ``RateLimited`` the pool pauses new requests to that connection for ``retry_after``
  (or ``RATE_LIMIT_PAUSE`` seconds) and puts the cell back in the queue, at most
  ``rate_limit_requeues`` times, before it counts as failed.
- **Per-model queues**: the embedded local server runs one request per model at a time,
  so cells of a local connection are sent one per model (``per_model_limit``); queued
  cells then wait on this side, where cancel can still drop them, instead of on the server
  with their timeout running. Remote cells all go at once, so twelve cells take about as
  long as the slowest one.

**Timing**: each cell records ``queued``, the seconds from the start of scheduling until
its first request was sent (waiting on this side for a free worker, a per-model queue or a
rate-limit pause), apart from ``latency``, the seconds its requests took. A server that
answers one request at a time queues the rest on its side, inside ``latency``: a chart
should show requests in flight together, not latency alone.

**Tokens per sample**: usage gives one total per request. A sample's own count comes from
usage when the request had one choice, else from its log-probabilities, else (local
server) from ``POST /tokenize`` of its text; otherwise it is unknown (None).

``on_cell_done`` is called in the calling thread (never a worker), as each cell ends: a
page can update its widgets from it. If it (or ``should_cancel``) raises, as Streamlit does
to interrupt a script whose user clicked a button, the run stops as on cancel but returns at
once: requests in flight finish in the background and their results are dropped. With a
``recorder`` every request goes through ``Recorder.run`` and lands in the usage ledger.

Results are dataclasses; ``GridResult.to_frame()`` has one row per cell and sample (a failed
cell has one row with its error), ``cells_frame()`` one row per cell, and
``to_records()``/``to_json()``/``to_csv()`` serve the exports. ``GridResult.to_dict()`` and
``GridResult.from_dict()`` round-trip a run (grid, samples with their log-probabilities,
errors as ``SavedError``) for saving it. ``differences(baseline)`` says, cell by cell, which
settings and texts differ from a chosen baseline cell, and where its text first parts
from the baseline's; ``same_text_groups()`` gathers the cells that gave the same text.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any, Literal

import pandas as pd

from playground import errors, runner, tokens
from playground.capabilities import Capabilities, for_model, profile_for
from playground.catalog import lookup
from playground.compare import metrics
from playground.connection import Connection, client_for
from playground.params import SPECS, FieldError, spec, validate
from playground.recording import Recorder
from playground.refusals import RefusalStore, learn

log = logging.getLogger(__name__)

AXIS_NAMES: tuple[str, ...] = ("temperature", "top_p", "frequency_penalty",
                               "presence_penalty", "max_tokens", "max_completion_tokens",
                               "reasoning_effort", "verbosity", "model", "seed")
INT_AXES = frozenset({"max_tokens", "max_completion_tokens", "seed"})
CHOICE_AXES = frozenset({"reasoning_effort", "verbosity"})  # words from the spec's choices
NUMERIC_AXES = tuple(name for name in AXIS_NAMES if name != "model" and name not in CHOICE_AXES)


def axis_names(endpoint: str) -> tuple[str, ...]:
    """The axes an endpoint takes: the model, and the parameters it accepts."""
    return tuple(name for name in AXIS_NAMES if name == "model" or endpoint in spec_endpoints(name))


def spec_endpoints(name: str) -> frozenset[str]:
    return next(s.endpoints for s in SPECS if s.name == name)

DEFAULT_MAX_CELLS = 48
MAX_SAMPLES = 20
MAX_AXIS_VALUES = 1000
N_PER_REQUEST = int(spec("chat", "n").maximum or 8)
COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # the API's default for /v1/completions
RATE_LIMIT_PAUSE = 1.0

Sampling = Literal["n", "repeat"]
Status = Literal["pending", "ok", "failed", "cancelled"]


def _refuse(name: str, message: str) -> errors.InvalidParameters:
    return errors.InvalidParameters([FieldError(name, message)])


def format_value(value: Any) -> str:
    """A value as a person writes it: 0.5, 1, 1e-05, a model name."""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e16 else repr(value)
    return str(value)


# -- axes ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelRef:
    """A model served by a named connection; ``connection`` None means the grid's own."""

    model: str
    connection: str | None = None

    @classmethod
    def parse(cls, text: str) -> ModelRef:
        """``"gpt-4o-mini @ OpenAI"`` or just ``"gpt-4o-mini"``."""
        model, _, conn = text.rpartition("@") if "@" in text else (text, "", "")
        return cls(model.strip(), conn.strip() or None)

    def __str__(self) -> str:
        return f"{self.model} @ {self.connection}" if self.connection else self.model


@dataclass(frozen=True)
class Axis:
    """One setting varied across the grid; repeated values are dropped, order is kept."""

    name: str
    values: tuple[Any, ...]

    def __post_init__(self) -> None:
        if self.name not in AXIS_NAMES:
            raise _refuse(self.name, f"{self.name!r} cannot be an axis; choose from "
                                     f"{', '.join(AXIS_NAMES)}.")
        values = [ModelRef.parse(v) if self.name == "model" and isinstance(v, str) else v
                  for v in self.values]
        unique: list[Any] = []
        for value in values:
            if value not in unique:
                unique.append(value)
        if not unique:
            raise _refuse(self.name, f"The {self.name} axis needs at least one value.")
        object.__setattr__(self, "values", tuple(unique))

    def __len__(self) -> int:
        return len(self.values)

    @classmethod
    def parse(cls, name: str, text: str) -> Axis:
        """Values from text: ``"0, 0.5, 1"``, a range ``"0:1:0.25"`` (start:stop:step,
        stop included), for ``model`` a comma-separated list of ``model @ connection``, and
        for reasoning_effort and verbosity a list of their words (``"low, high"``)."""
        text = text.strip()
        if name == "model":
            return cls(name, tuple(ModelRef.parse(item) for item in text.split(",")
                                   if item.strip()))
        if name in CHOICE_AXES:
            return cls(name, tuple(_choice(name, item)
                                   for item in re.split(r"[,;\s]+", text) if item))
        if text.count(":") == 2 and "," not in text:
            start, stop, step = (_number(name, part) for part in text.split(":"))
            return cls.from_range(name, start, stop, step)
        items = [item for item in re.split(r"[,;\s]+", text) if item]
        return cls(name, tuple(_number(name, item) for item in items))

    @classmethod
    def from_range(cls, name: str, start: float, stop: float, step: float) -> Axis:
        """``start, start + step, ...`` up to and including ``stop`` (within 1e-9 of a step),
        rounded to the decimals the three numbers were written with (0.1 * 3 is 0.3)."""
        if name == "model" or name in CHOICE_AXES:
            raise _refuse(name, f"The {name} axis takes a list, not a range.")
        for value in (start, stop, step):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or (isinstance(value, float) and not math.isfinite(value)):
                raise _refuse(name, f"The {name} range needs numbers; got {value!r}.")
        if step == 0:
            raise _refuse(name, f"The {name} range step must not be 0.")
        if (stop > start and step < 0) or (stop < start and step > 0):
            raise _refuse(name, f"The {name} range step {format_value(step)} goes away from "
                                f"{format_value(stop)}; use a step of the other sign.")
        try:  # a span of 1e308 in steps of 1e-308, or whole numbers past a float's range
            steps = (stop - start) / step
        except OverflowError:
            steps = math.inf
        if not steps + 1 <= MAX_AXIS_VALUES:
            many = f"{math.floor(steps + 1e-9) + 1}" if math.isfinite(steps) else "too many"
            raise _refuse(name, f"The {name} range gives {many} values; at most "
                                f"{MAX_AXIS_VALUES} are allowed.")
        count = math.floor(steps + 1e-9) + 1
        places = max(_decimals(start), _decimals(stop), _decimals(step))
        values = [round(start + i * step, places) for i in range(count)]
        return cls(name, tuple(_as_number(name, v) for v in values))

    def labels(self) -> list[str]:
        return [format_value(v) for v in self.values]


def _decimals(number: float) -> int:
    if isinstance(number, int):
        return 0  # a whole number may be too large for float()
    exponent = Decimal(repr(float(number))).normalize().as_tuple().exponent
    return min(max(0, -int(exponent)), 12)


def _as_number(name: str, value: float) -> int | float:
    if name in INT_AXES and isinstance(value, int):
        return value  # float() of a whole number past 1e308 would overflow
    if name in INT_AXES and float(value).is_integer():
        return int(value)
    return float(value)


def _choice(name: str, text: str) -> str:
    choices = spec("chat", name).choices
    word = text.strip().strip("\"'").lower()
    if word not in choices:
        raise _refuse(name, f"{name}: {text!r} is not one of "
                            f"{', '.join(choices)}.")
    return word


def _number(name: str, text: str) -> int | float:
    text = text.strip()
    if name in INT_AXES:
        try:
            return int(text)
        except ValueError:
            pass
    try:
        value = float(text)
    except ValueError:
        raise _refuse(name, f"{name}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise _refuse(name, f"{name}: {text!r} is not a finite number.")
    return _as_number(name, value)


# -- the grid -----------------------------------------------------------------------------

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
            raise _refuse("grid", message)
        names = [axis.name for axis in self.axes]
        size = self.size()
        width = len(str(size))
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
        return _request_values(self, cell, 0)

    def problems(self) -> list[FieldError]:
        """Everything that stops the grid from running, each message naming what to change."""
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
        varied = set(names)
        for cell in self.cells():
            if not cell.model:
                add("model", "Choose a model, or add a model axis.")
            elif not cell.connection:
                add("connection", f"Choose a connection for the model {cell.model!r}.")
            for problem in validate(self.endpoint, self.first_request_values(cell)):
                if problem.field in varied:
                    value = format_value(cell.settings[problem.field])
                    add(problem.field, f"{problem.field} axis value {value}: {problem.message}")
                elif problem.field == "seed" and self.fixed_seed is not None:
                    add("fixed_seed", f"fixed seed: {problem.message}")
                else:
                    add(problem.field, problem.message)
        return found

    def check(self) -> None:
        """Raise ``InvalidParameters`` listing every problem; nothing is sent before this."""
        if found := self.problems():
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


def _request_values(grid: Grid, cell: Cell, first_sample: int) -> dict[str, Any]:
    """The values of the request that produces samples from ``first_sample`` on."""
    values = dict(cell.values)
    remaining = grid.samples_per_cell - first_sample
    values["n"] = 1 if grid.sampling == "repeat" else min(remaining, N_PER_REQUEST)
    seed = values.get("seed")
    if first_sample and isinstance(seed, int) and not isinstance(seed, bool):
        values["seed"] = seed + first_sample
    return values


# -- estimate -----------------------------------------------------------------------------

PriceTable = Mapping[str, Any]  # model -> (input, output) USD per million, or a catalog.Price


@dataclass(frozen=True)
class Estimate:
    """What a grid costs at most, before it runs."""

    cells: int
    requests: int
    samples: int
    prompt_tokens: int                  # sent in total (each request sends the prompt)
    max_completion_tokens: int | None   # upper bound; None when a chat cell sets no max_tokens
    cost: float | None                  # upper bound in USD of the priced cells
    unpriced_models: tuple[str, ...] = ()
    unbounded_cells: int = 0
    over_limit: str | None = None       # the refusal message when the grid is too large

    @property
    def max_total_tokens(self) -> int | None:
        if self.max_completion_tokens is None:
            return None
        return self.prompt_tokens + self.max_completion_tokens

    def summary(self) -> str:
        parts = [f"{self.cells} cells", f"{self.requests} requests", f"{self.samples} samples"]
        if self.max_completion_tokens is None:
            parts.append(f"{self.prompt_tokens:,} prompt tokens, completion unbounded in "
                         f"{self.unbounded_cells} cells (set max_tokens)")
        else:
            parts.append(f"up to {self.max_total_tokens:,} tokens ({self.prompt_tokens:,} "
                         f"prompt + {self.max_completion_tokens:,} completion)")
        if self.cost is not None:
            parts.append(f"at most ${self.cost:,.4f}")
        if self.unpriced_models:
            parts.append(f"no price for {', '.join(self.unpriced_models)}")
        return ", ".join(parts)


def _price(prices: PriceTable | None, model: str) -> tuple[float, float] | None:
    if not prices:
        return None
    entry = lookup(dict(prices), model)
    if entry is None:
        return None
    if hasattr(entry, "input_per_million"):
        return float(entry.input_per_million), float(entry.output_per_million)
    input_price, output_price = entry
    return float(input_price), float(output_price)


def estimate(grid: Grid, prompt_tokens: int, prices: PriceTable | None = None) -> Estimate:
    """Requests, tokens and cost upper bound of a grid, without expanding it cell by cell.

    Each cell may generate ``max_completion_tokens`` (else ``max_tokens``) for each sample
    (or each ``best_of`` candidate on completions), reasoning tokens included; completions
    default to 16 tokens, chat without a limit is unbounded.
    Cost is prompt tokens at the input price plus the completion bound at the output price.
    """
    cells = grid.size()
    per_cell_requests = grid.requests_per_cell()
    samples = grid.samples_per_cell
    # Only the model and token limit axes change tokens or prices: expand just those.
    varying = [axis for axis in grid.axes
               if axis.name in ("model", "max_tokens", "max_completion_tokens")]
    others = cells // max(1, math.prod(len(axis) for axis in varying))
    best_of = grid.base_values.get("best_of") if grid.endpoint == "completions" else None
    per_request_n = [min(samples - k, N_PER_REQUEST) if grid.sampling == "n" else 1
                     for k in range(0, samples, N_PER_REQUEST if grid.sampling == "n" else 1)]
    candidates = sum(max(n, best_of or 1) for n in per_request_n)
    completion_total: int | None = 0
    cost = 0.0
    priced_cells = 0
    priced_unbounded = False
    unpriced: list[str] = []
    unbounded = 0
    prompt_per_cell = per_cell_requests * prompt_tokens
    for combo in itertools.product(*(axis.values for axis in varying)):
        chosen = {axis.name: value for axis, value in zip(varying, combo)}
        model = chosen["model"].model if "model" in chosen else grid.model
        max_tokens = chosen.get("max_completion_tokens",
                                grid.base_values.get("max_completion_tokens"))
        if max_tokens is None:  # the limit a reasoning model is sent as max_completion_tokens
            max_tokens = chosen.get("max_tokens", grid.base_values.get("max_tokens"))
        if max_tokens is None and grid.endpoint == "completions":
            max_tokens = COMPLETIONS_DEFAULT_MAX_TOKENS
        completion = None if max_tokens is None else int(max_tokens) * candidates
        if completion is None:
            unbounded += others
            completion_total = None
        elif completion_total is not None:
            completion_total += completion * others
        price = _price(prices, model)
        if price is None:
            if model not in unpriced:
                unpriced.append(model)
        elif completion is None:
            priced_unbounded = True
        else:
            priced_cells += others
            cost += others * (prompt_per_cell * price[0] + completion * price[1]) / 1e6
    return Estimate(
        cells=cells, requests=cells * per_cell_requests, samples=cells * samples,
        prompt_tokens=cells * prompt_per_cell, max_completion_tokens=completion_total,
        cost=cost if priced_cells and not priced_unbounded else None,
        unpriced_models=tuple(unpriced),
        unbounded_cells=unbounded, over_limit=grid.limit_message(),
    )


# -- results ------------------------------------------------------------------------------

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

    def _base_row(self, axis_names: list[str]) -> dict[str, Any]:
        row: dict[str, Any] = {"cell": self.cell.id, "cell_index": self.cell.index,
                               "label": self.cell.label, "connection": self.cell.connection,
                               "model": self.cell.model}
        for name in axis_names:
            if name != "model":
                row[name] = self.cell.settings.get(name)
        row.update({"status": self.status,
                    "error": str(self.error) if self.error else None,
                    "error_kind": self.error.kind if self.error else None,
                    "cell_latency": self.latency, "cell_queued": self.queued,
                    "requests": self.requests,
                    "prompt_tokens": self.usage.get("prompt_tokens"),
                    "completion_tokens": self.usage.get("completion_tokens"),
                    "n_ignored": self.n_ignored})
        return row

    def rows(self, axis_names: list[str]) -> list[dict[str, Any]]:
        """One row per sample; a cell without samples gets one row with its status."""
        base = self._base_row(axis_names)
        agree = self.agreement
        base.update({"identical_share": agree.identical_share,
                     "mean_similarity": agree.mean_similarity})
        if not self.samples:
            return [{**base, "sample": None, "text": None, "finish_reason": None,
                     **{name: None for name in _METRIC_NAMES}}]
        return [{**base, "sample": s.index, "text": s.text, "finish_reason": s.finish_reason,
                 **s.metrics.as_dict()} for s in self.samples]

    def summary_row(self, axis_names: list[str]) -> dict[str, Any]:
        """One row for the cell: its metrics averaged over the samples, and agreement."""
        row = self._base_row(axis_names)
        records = [s.metrics.as_dict() for s in self.samples]
        for name in _METRIC_NAMES:
            known = [r[name] for r in records if r[name] is not None]
            row[name] = sum(known) / len(known) if known else None
        agree = self.agreement
        row.update({"samples": len(self.samples), "identical_share": agree.identical_share,
                    "mean_similarity": agree.mean_similarity})
        return row

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


_METRIC_NAMES = tuple(metrics.TextMetrics.__dataclass_fields__)
_NUMERIC_COLUMNS = (*_METRIC_NAMES, "identical_share", "mean_similarity", "prompt_tokens",
                    "completion_tokens", "sample", "cell_latency", "cell_queued")


def _numeric(frame: pd.DataFrame) -> pd.DataFrame:
    """Metric columns as numbers, unknown values as NaN, so charts can plot them."""
    for name in _NUMERIC_COLUMNS:
        if name in frame:
            frame[name] = pd.to_numeric(frame[name])
    return frame


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
        return _numeric(pd.DataFrame([row for result in self.cells for row in result.rows(names)]))

    def cells_frame(self) -> pd.DataFrame:
        """One row per cell with its metrics averaged over its samples."""
        names = self._axis_names()
        return _numeric(pd.DataFrame([result.summary_row(names) for result in self.cells]))

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

    def to_csv(self) -> str:
        return self.to_frame().to_csv(index=False)


def _divergence(this: Sample, base: Sample) -> metrics.Divergence | None:
    return metrics.divergence(this.text, base.text, this_tokens=this.token_texts,
                              base_tokens=base.token_texts, this_logprobs=this.logprobs,
                              base_logprobs=base.logprobs)


# -- running ------------------------------------------------------------------------------

ResolveConnection = Callable[[str], Connection]


def accepts_of(conn: Connection, model: str, store: RefusalStore | None) -> Capabilities:
    """What the model takes: its family's profile, and the refusals ``store`` remembers
    (none when it is None or cannot be read: the profile still applies)."""
    if store is not None:
        try:
            return for_model(conn, model, store)
        except errors.PlaygroundError as exc:
            log.warning("Remembered refusals not applied to %s: %s", model, exc)
    return Capabilities(model, profile_for(conn, model))


def _learn(store: RefusalStore | None, conn: Connection, cell: Cell, endpoint: str,
           request: dict[str, Any] | None, error: Exception) -> None:
    if store is None or request is None:
        return
    try:
        learn(conn, cell.model, endpoint, request, error, store)
    except errors.PlaygroundError as exc:  # the cell keeps its own error
        log.warning("A refusal of %s was not remembered: %s", cell.model, exc)


def _run_cell(grid: Grid, cell: Cell, conn: Connection, stop: threading.Event,
              attempts: int, recorder: Recorder | None, run_started: float,
              store: RefusalStore | None = None) -> CellResult:
    """Every request of one cell, in a worker thread. Never raises. A limit the model
    wants under another name (max_tokens on a reasoning model) is sent under it, and a
    refusal the server answers is remembered in ``store``."""
    send = recorder.run if recorder is not None else runner.run
    started = time.perf_counter()
    result = CellResult(cell, status="failed", attempts=attempts,
                        queued=started - run_started)
    count_tokens = _token_counter(conn, cell.model)
    want = grid.samples_per_cell
    accepts = accepts_of(conn, cell.model, store)
    request: dict[str, Any] | None = None
    try:
        while len(result.samples) < want:
            if stop.is_set():
                result.status = "cancelled"
                break
            first = len(result.samples)
            values = _request_values(grid, cell, first)
            request = runner.build_request(grid.endpoint, cell.model, values,
                                           prompt=grid.prompt, messages=grid.messages,
                                           accepts=accepts)
            result.requests += 1
            outcome = send(conn, grid.endpoint, request, should_stop=stop.is_set)
            for key, count in (outcome.usage or {}).items():
                if isinstance(count, int):
                    result.usage[key] = result.usage.get(key, 0) + count
            single = len(outcome.choices) == 1
            completion_tokens = (outcome.usage or {}).get("completion_tokens")
            for offset, choice in enumerate(outcome.choices[: want - first]):
                logprobs = metrics.token_logprobs(choice.logprobs)
                counted = completion_tokens if single and completion_tokens is not None else (
                    len(logprobs) if logprobs is not None else count_tokens(choice.text))
                result.samples.append(Sample(first + offset, choice.text, choice.finish_reason,
                                             logprobs, counted, outcome.latency,
                                             metrics.token_texts(choice.logprobs)))
            if outcome.error is not None:
                raise outcome.error
            if outcome.incomplete:
                result.status = "cancelled"
                break
            if not outcome.choices:
                raise errors.ServerFailed("The server answered without any choice.")
            if len(outcome.choices) < values["n"]:
                result.n_ignored = True
        else:
            result.status = "ok"
    except errors.PlaygroundError as exc:
        result.error = exc
    except Exception as exc:  # noqa: BLE001 - a cell's failure stays in its cell
        result.error = errors.from_openai(exc)
    if result.error is not None:
        _learn(store, conn, cell, grid.endpoint, request, result.error)
    result.latency = time.perf_counter() - started
    return result


def _token_counter(conn: Connection, model: str) -> Callable[[str], int | None]:
    """Text -> its token count through the local server's tokenizer; None elsewhere, or
    when the tokenizer fails (a count is not worth failing a cell over)."""
    tokenize = tokens.tokenizer(conn, model) if conn.kind == "local" else None

    def count(text: str) -> int | None:
        if tokenize is None:
            return None
        try:
            return len(tokenize(text))
        except errors.PlaygroundError:
            return None
    return count


def run_grid(grid: Grid, resolve_connection: ResolveConnection, *, max_workers: int = 4,
             on_cell_done: Callable[[CellResult], None] | None = None,
             should_cancel: Callable[[], bool] | None = None,
             cells: Iterable[Cell] | None = None,
             per_model_limit: int | None = None,
             rate_limit_requeues: int = 1,
             poll_interval: float = 0.05,
             recorder: Recorder | None = None,
             refusals: RefusalStore | None = None) -> GridResult:
    """Run the grid's cells (or just ``cells``) on a pool of ``max_workers`` threads.

    Raises ``InvalidParameters`` before sending anything when the grid does not check.
    ``resolve_connection(name)`` gives the connection, key resolved, for a cell's
    connection name. ``per_model_limit`` caps the cells in flight per (connection, model);
    by default 1 for the embedded local server and unlimited otherwise. ``recorder``
    records every request in the usage ledger. Every cell is sent as its model takes it
    (``accepts_of``: max_tokens becomes max_completion_tokens for a reasoning model); with
    ``refusals``, what a server refused before applies too, and a cell's refusal is
    remembered there, as on the Chat page.
    """
    if max_workers < 1:
        raise _refuse("max_workers", "The pool needs at least one worker.")
    grid.check()
    started = time.perf_counter()
    todo = list(cells) if cells is not None else grid.cells()
    results: dict[str, CellResult] = {cell.id: CellResult(cell) for cell in todo}
    conns: dict[str, Connection | errors.PlaygroundError] = {}
    for name in dict.fromkeys(cell.connection for cell in todo):
        try:
            conns[name] = resolve_connection(name)
            # The client is cached per connection, but twelve workers asking for it at once
            # would each build one (the cache does not lock): build it once, here.
            client_for(conns[name])
        except Exception as exc:  # noqa: BLE001
            conns[name] = errors.from_openai(exc)

    def finish(result: CellResult) -> None:
        results[result.cell.id] = result
        if on_cell_done is not None:
            on_cell_done(result)

    pending: deque[tuple[Cell, int]] = deque()
    for cell in todo:
        conn = conns[cell.connection]
        if isinstance(conn, errors.PlaygroundError):
            finish(CellResult(cell, status="failed", error=conn))
        else:
            pending.append((cell, 1))

    def limit_of(cell: Cell) -> int | None:
        if per_model_limit is not None:
            return per_model_limit
        conn = conns[cell.connection]
        return 1 if isinstance(conn, Connection) and conn.kind == "local" else None

    stop = threading.Event()
    paused_until: dict[str, float] = {}
    in_flight: dict[tuple[str, str], int] = {}
    running: dict[Future, tuple[Cell, int]] = {}

    def next_eligible() -> tuple[Cell, int] | None:
        now = time.monotonic()
        for item in pending:
            cell = item[0]
            limit = limit_of(cell)
            if paused_until.get(cell.connection, 0.0) > now:
                continue
            if limit is not None and in_flight.get((cell.connection, cell.model), 0) >= limit:
                continue
            pending.remove(item)
            return item
        return None

    pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="compare")
    interrupted = False
    scheduling = time.perf_counter()  # cells wait from here; setting up is no queue
    try:
        while pending or running:
            if not stop.is_set() and should_cancel is not None and should_cancel():
                stop.set()
            while not stop.is_set() and len(running) < max_workers \
                    and (item := next_eligible()) is not None:
                cell, attempt = item
                key = (cell.connection, cell.model)
                in_flight[key] = in_flight.get(key, 0) + 1
                future = pool.submit(_run_cell, grid, cell, conns[cell.connection], stop,
                                     attempt, recorder, scheduling, refusals)
                running[future] = item
            if not running:
                if stop.is_set() or not pending:
                    break
                time.sleep(poll_interval)  # everything waits for a rate-limit pause to end
                continue
            done, _ = wait(running, timeout=poll_interval, return_when=FIRST_COMPLETED)
            for future in done:
                cell, attempt = running.pop(future)
                key = (cell.connection, cell.model)
                in_flight[key] -= 1
                result = future.result()
                if isinstance(result.error, errors.RateLimited):
                    pause = result.error.retry_after or RATE_LIMIT_PAUSE
                    paused_until[cell.connection] = max(paused_until.get(cell.connection, 0.0),
                                                        time.monotonic() + pause)
                    if attempt <= rate_limit_requeues and not stop.is_set():
                        pending.append((cell, attempt + 1))
                        continue
                finish(result)
    except BaseException:
        # A callback raised: typically Streamlit interrupting its script for a rerun.
        # Streaming cells stop at their next chunk; nobody waits for the rest.
        interrupted = True
        stop.set()
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
    for cell, attempt in pending:
        results[cell.id] = CellResult(cell, status="cancelled", attempts=attempt - 1)
    ordered = [results[cell.id] for cell in todo]
    return GridResult(grid, ordered, time.perf_counter() - started, cancelled=stop.is_set())


def rerun_failed(grid: Grid, previous: GridResult, resolve_connection: ResolveConnection, *,
                 include_cancelled: bool = False, **options: Any) -> GridResult:
    """Run again only the cells that failed (and, if asked, those cancelled); the other
    cells keep their earlier results. ``options`` are those of ``run_grid``."""
    wanted = {"failed", "cancelled"} if include_cancelled else {"failed"}
    again = [result.cell for result in previous.cells if result.status in wanted]
    if not again:
        return replace(previous, wall_time=0.0, cancelled=False)
    fresh = run_grid(grid, resolve_connection, cells=again, **options)
    merged = {result.cell.id: result for result in previous.cells}
    merged.update({result.cell.id: result for result in fresh.cells})
    return GridResult(grid, [merged[result.cell.id] for result in previous.cells],
                      fresh.wall_time, fresh.cancelled)
