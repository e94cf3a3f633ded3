"""The Compare page's fields for a saved grid, so that opening a run restores the form with
its results and "Run grid" runs the same grid again."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from playground.compare.axes import format_value
from playground.compare.grid import DEFAULT_MAX_CELLS, Grid


@dataclass(frozen=True)
class Form:
    """The Compare page's fields for one grid.

    Messages that are a system and a user message (or a user message alone) go back into
    those two fields; any other conversation into the JSON field (``messages_json``). Axes
    are as typed: a list of values, or for the model axis a list of ``model @ connection``.
    """

    endpoint: str
    prompt: str | None = None
    system: str = ""
    user: str = ""
    messages_json: str | None = None
    axes: dict[str, str | list[str]] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)
    samples_per_cell: int = 1
    sampling: str = "n"
    fixed_seed: int | None = None
    max_cells: int = DEFAULT_MAX_CELLS
    model: str = ""
    connection: str = ""


def form_of(grid: Grid) -> Form:
    """What to put back in the page's fields to run ``grid`` again."""
    system, user, conversation = "", "", None
    messages = grid.messages or []
    roles = [message.get("role") for message in messages]
    plain_texts = all(isinstance(message.get("content"), str)
                      and set(message) == {"role", "content"} for message in messages)
    if plain_texts and roles in (["user"], ["system", "user"]):
        system = messages[0]["content"] if roles[0] == "system" else ""
        user = messages[-1]["content"]
    elif messages:
        conversation = json.dumps(messages, indent=2, ensure_ascii=False)
    axes = {axis.name: [str(v) for v in axis.values] if axis.name == "model"
            else ", ".join(format_value(v) for v in axis.values) for axis in grid.axes}
    return Form(grid.endpoint, prompt=grid.prompt, system=system, user=user,
                messages_json=conversation, axes=axes, fixed=dict(grid.base_values),
                samples_per_cell=grid.samples_per_cell, sampling=grid.sampling,
                fixed_seed=grid.fixed_seed, max_cells=grid.max_cells, model=grid.model,
                connection=grid.connection)
