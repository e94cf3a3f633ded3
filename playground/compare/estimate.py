"""What a Compare grid costs at most, before it runs: requests, tokens and dollars."""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from playground.catalog import lookup
from playground.compare.grid import N_PER_REQUEST, Grid

COMPLETIONS_DEFAULT_MAX_TOKENS = 16  # the API's default for /v1/completions

Prices = Mapping[str, Any]  # model -> (input, output) USD per million, or a catalog.Price


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


def estimate(grid: Grid, prompt_tokens: int, prices: Prices | None = None) -> Estimate:
    """Requests, tokens and cost upper bound of a grid, without expanding it cell by cell.

    Each cell may generate ``max_completion_tokens`` (else ``max_tokens``) for each sample
    (or each ``best_of`` candidate on completions), reasoning tokens included; completions
    default to 16 tokens, chat without a limit is unbounded.
    Cost is prompt tokens at the input price plus the completion bound at the output price.
    """
    cells = grid.size()
    per_cell_requests = grid.requests_per_cell()
    # Only the model and token limit axes change tokens or prices: expand just those.
    varying = [axis for axis in grid.axes
               if axis.name in ("model", "max_tokens", "max_completion_tokens")]
    others = cells // max(1, math.prod(len(axis) for axis in varying))
    candidates = _candidates_per_cell(grid)
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
        max_tokens = _completion_limit(grid, chosen)
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
        cells=cells, requests=cells * per_cell_requests, samples=cells * grid.samples_per_cell,
        prompt_tokens=cells * prompt_per_cell, max_completion_tokens=completion_total,
        cost=cost if priced_cells and not priced_unbounded else None,
        unpriced_models=tuple(unpriced),
        unbounded_cells=unbounded, over_limit=grid.limit_message(),
    )


def _candidates_per_cell(grid: Grid) -> int:
    """Completions one cell may generate: its samples, or ``best_of`` per request when more."""
    samples = grid.samples_per_cell
    best_of = grid.base_values.get("best_of") if grid.endpoint == "completions" else None
    per_request_n = [min(samples - k, N_PER_REQUEST) if grid.sampling == "n" else 1
                     for k in range(0, samples, N_PER_REQUEST if grid.sampling == "n" else 1)]
    return sum(max(n, best_of or 1) for n in per_request_n)


def _completion_limit(grid: Grid, chosen: Mapping[str, Any]) -> int | None:
    """The token limit of a cell with the ``chosen`` axis values; None when it has none."""
    max_tokens = chosen.get("max_completion_tokens",
                            grid.base_values.get("max_completion_tokens"))
    if max_tokens is None:  # the limit a reasoning model is sent as max_completion_tokens
        max_tokens = chosen.get("max_tokens", grid.base_values.get("max_tokens"))
    if max_tokens is None and grid.endpoint == "completions":
        max_tokens = COMPLETIONS_DEFAULT_MAX_TOKENS
    return max_tokens


def _price(prices: Prices | None, model: str) -> tuple[float, float] | None:
    if not prices:
        return None
    entry = lookup(dict(prices), model)
    if entry is None:
        return None
    if hasattr(entry, "input_per_million"):
        return float(entry.input_per_million), float(entry.output_per_million)
    input_price, output_price = entry
    return float(input_price), float(output_price)
