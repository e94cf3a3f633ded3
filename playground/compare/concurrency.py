"""How many cells a grid sends at once, and how fast a run is going.

The local server decodes several requests of one model together in one batch (its
``GET /v1/models/{id}`` says how many, as ``parallel_sequences``), so its grids are sent to
fill that batch: ``default_workers`` adds up what each local model of the grid decodes
together, and gives ``DEFAULT_WORKERS`` to an endpoint that says nothing of the kind.
``progress_text`` gives a running grid's progress line with its pace in tokens per second,
counted from the cells that have finished only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from playground.compare.results import CellResult

DEFAULT_WORKERS = 4  # for an endpoint that does not say how many requests it runs together
MAX_WORKERS = 32


def parallel_sequences(details: Any) -> int | None:
    """How many sequences a model decodes together, from what ``GET /models/{id}`` returned;
    None when it says nothing usable (a hosted model says nothing of the kind)."""
    value = details.get("parallel_sequences") if isinstance(details, Mapping) else None
    return value if type(value) is int and value >= 1 else None


@dataclass(frozen=True)
class WorkersDefault:
    workers: int
    reason: str  # one sentence saying why, for the input's help


def default_workers(local: Mapping[str, int | None], others: bool) -> WorkersDefault:
    """The concurrency that fills every local model's batch.

    ``local``: each model of the grid on the local server, by the name to show, mapped to
    what it decodes together (None when that could not be learnt). ``others``: the grid
    also sends to endpoints that are not the local server; they get ``DEFAULT_WORKERS``.
    Anything unknown gives ``DEFAULT_WORKERS``; the sum is capped at ``MAX_WORKERS``.
    """
    if not local:
        return WorkersDefault(DEFAULT_WORKERS, (
            f"{DEFAULT_WORKERS}, for an endpoint that does not say how many requests it "
            f"decodes together (the local server does)." if others else
            f"{DEFAULT_WORKERS} until the grid has a model."))
    unknown = [name for name, count in local.items() if count is None]
    if unknown:
        return WorkersDefault(DEFAULT_WORKERS, (
            f"{DEFAULT_WORKERS}: the local server did not say how many requests "
            f"{_names(unknown)} decode{'s' if len(unknown) == 1 else ''} together."))
    counts = {name: count for name, count in local.items() if count is not None}
    parts = [f"{name} {count}" for name, count in counts.items()]
    if others:
        parts.append(f"other endpoints {DEFAULT_WORKERS}")
    total = sum(counts.values()) + (DEFAULT_WORKERS if others else 0)
    workers = min(total, MAX_WORKERS)
    capped = f", capped at {MAX_WORKERS}" if total > MAX_WORKERS else ""
    if len(parts) == 1:
        (name, count), = counts.items()
        reason = (f"{name} decodes one request at a time on the local server, so more "
                  f"would only wait there." if count == 1 else
                  f"{name} decodes {count} requests together on the local server: {count} "
                  f"at a time fill its batch{capped}.")
    else:
        reason = (f"Enough to fill each model's batch on the local server: "
                  f"{' + '.join(parts)} = {total}{capped}.")
    return WorkersDefault(workers, reason)


def _names(names: list[str]) -> str:
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def completion_tokens(finished: Iterable[CellResult]) -> int | None:
    """The completion tokens the finished cells report; None when none of them reports any
    (no cell finished yet, or the server sent no usage)."""
    counts = [result.usage["completion_tokens"] for result in finished
              if type(result.usage.get("completion_tokens")) is int]
    return sum(counts) if counts else None


def tokens_per_second(tokens: int | None, seconds: float) -> str:
    """``"312 tokens/s"``; a bare ``"tokens/s"`` (no guess) when nothing can be counted."""
    if tokens is None or seconds <= 0:
        return "– tokens/s"
    rate = tokens / seconds
    return f"{rate:.1f} tokens/s" if 0 < rate < 10 else f"{rate:,.0f} tokens/s"


def progress_text(done: int, total: int, tokens: int | None, seconds: float) -> str:
    """``"5 of 12 cells done · 312 tokens/s · 5 s"``: the completion tokens of the cells done
    over the wall time so far (``seconds``), and that time. Batched cells tend to end
    together, so for a while the time is the one figure that moves."""
    return (f"{done} of {total} cells done · {tokens_per_second(tokens, seconds)}"
            f" · {seconds:.0f} s")
