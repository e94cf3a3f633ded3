"""What the app knows about models beyond what an endpoint reports: context, endpoints, prices.

An OpenAI-style ``GET /v1/models`` says little more than a model's id; the local server adds
``context_length``, ``endpoints`` and GGUF metadata. For a few well-known hosted models the
facts are kept here, and prices per million tokens live in an editable CSV file
(``prices.csv`` in the data folder), seeded with public list prices. Those prices are
estimates: providers change them, so the user can correct them on the Models page.
"""

from __future__ import annotations

import csv
import math
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from playground.errors import PlaygroundError
from playground.settings import DATA_DIR_VARIABLE, data_dir, private_opener

PRICE_COLUMNS = ("model", "input_per_million", "output_per_million")
MODEL_COLUMNS = ("id", "owned_by", "created", "context_length", "endpoints",
                 "input_per_million", "output_per_million", "description")


@dataclass(frozen=True)
class ModelFacts:
    context_length: int | None = None
    endpoints: tuple[str, ...] = ()

    def supports(self, endpoint: str) -> bool:
        """False only when the endpoints are known and this one is not among them."""
        return not self.endpoints or endpoint in self.endpoints


CHAT_ONLY = ("chat",)
COMPLETIONS_ONLY = ("completions",)

# Facts from the providers' model pages, for models whose listing carries no such fields.
KNOWN_MODELS: dict[str, ModelFacts] = {
    "gpt-4.1": ModelFacts(1_047_576, CHAT_ONLY),
    "gpt-4.1-mini": ModelFacts(1_047_576, CHAT_ONLY),
    "gpt-4.1-nano": ModelFacts(1_047_576, CHAT_ONLY),
    "gpt-4o": ModelFacts(128_000, CHAT_ONLY),
    "gpt-4o-mini": ModelFacts(128_000, CHAT_ONLY),
    "gpt-3.5-turbo": ModelFacts(16_385, CHAT_ONLY),
    "gpt-3.5-turbo-instruct": ModelFacts(4_096, COMPLETIONS_ONLY),
    "davinci-002": ModelFacts(16_384, COMPLETIONS_ONLY),
    "babbage-002": ModelFacts(16_384, COMPLETIONS_ONLY),
}


@dataclass(frozen=True)
class Price:
    """US dollars per million tokens."""

    input_per_million: float
    output_per_million: float


# Public list prices (USD per million tokens) at the time of writing: estimates to edit.
SEED_PRICES: dict[str, Price] = {
    "gpt-4.1": Price(2.00, 8.00),
    "gpt-4.1-mini": Price(0.40, 1.60),
    "gpt-4.1-nano": Price(0.10, 0.40),
    "gpt-4o": Price(2.50, 10.00),
    "gpt-4o-mini": Price(0.15, 0.60),
    "gpt-3.5-turbo": Price(0.50, 1.50),
    "gpt-3.5-turbo-instruct": Price(1.50, 2.00),
    "davinci-002": Price(2.00, 2.00),
    "babbage-002": Price(0.40, 0.40),
    "smollm2-135m-instruct": Price(0.0, 0.0),
    "gemma-3-270m": Price(0.0, 0.0),
}


def lookup(table: dict[str, Any], name: str) -> Any:
    """The entry for a model id, or for its family when the id is a dated snapshot.

    ``gpt-4o-mini-2024-07-18`` finds ``gpt-4o-mini`` (the longest name it extends with a
    dash), not ``gpt-4o``.
    """
    if name in table:
        return table[name]
    families = [family for family in table if name.startswith(family + "-")]
    return table[max(families, key=len)] if families else None


def model_id(model: dict[str, Any]) -> str:
    """A listed model's id as text ("" when a server left it out)."""
    return str(model.get("id") or "")


def combined(listed: dict[str, Any], retrieved: dict[str, Any]) -> dict[str, Any]:
    """A model's listing entry completed by what ``retrieve`` returned (empty values ignored)."""
    return {**listed, **{name: value for name, value in retrieved.items() if value is not None}}


def facts(model: dict[str, Any]) -> ModelFacts:
    """Context length and endpoints: the endpoint's own fields first, then the known table."""
    known = lookup(KNOWN_MODELS, model_id(model)) or ModelFacts()
    context = model.get("context_length")
    endpoints = model.get("endpoints")
    return ModelFacts(
        context_length=int(context) if isinstance(context, (int, float)) else known.context_length,
        endpoints=tuple(endpoints) if isinstance(endpoints, (list, tuple)) else known.endpoints,
    )


class PriceTable:
    """The user's price list, one CSV row per model:
    ``model,input_per_million,output_per_million``."""

    def __init__(self, path: Path | None = None):
        self.path = path or data_dir() / "prices.csv"

    def load(self) -> dict[str, Price]:
        """The saved prices, or the seed prices when nothing was saved yet."""
        if not self.path.exists():
            return dict(SEED_PRICES)
        try:
            with self.path.open(newline="", encoding="utf-8") as file:
                return parse_prices(list(csv.DictReader(file)))
        except (OSError, UnicodeDecodeError, csv.Error) as exc:
            raise _unreadable(self.path, str(exc)) from exc
        except PlaygroundError as exc:
            raise _unreadable(self.path, exc.message) from exc

    def save(self, rows: list[dict[str, Any]]) -> dict[str, Price]:
        """Validate edited rows and write them; the file is untouched if a row is wrong."""
        prices = parse_prices(rows)
        tmp = self.path.with_suffix(".tmp")
        try:
            with open(tmp, "w", newline="", encoding="utf-8", opener=private_opener) as file:
                writer = csv.writer(file)
                writer.writerow(PRICE_COLUMNS)
                for model, price in prices.items():
                    writer.writerow([model, price.input_per_million, price.output_per_million])
            tmp.replace(self.path)
        except OSError as exc:
            raise PlaygroundError(f"Could not write {self.path}: {exc}",
                                  hint="Check that the data folder is writable.") from exc
        return prices


def _unreadable(path: Path, reason: str) -> PlaygroundError:
    return PlaygroundError(
        f"The price list {path.name} could not be read: {reason}",
        hint=f"Fix or delete {path}; until then the built-in estimates are shown.",
    )


_price_cache: dict[str, Any] = {}
_price_lock = threading.Lock()


def current_prices() -> Mapping[str, Price]:
    """The user's price table, re-read only when its file changes (a stat per call)."""
    folder = os.environ.get(DATA_DIR_VARIABLE)
    with _price_lock:
        if _price_cache.get("folder", object()) != folder:  # data_dir() makes the folder: once
            _price_cache.update(folder=folder, table=PriceTable())
        table = _price_cache["table"]
    try:
        stamp = table.path.stat().st_mtime_ns
    except OSError:
        stamp = None
    with _price_lock:
        if _price_cache.get("key") != (table.path, stamp):
            try:
                prices = table.load()
            except PlaygroundError:
                prices = dict(SEED_PRICES)
            _price_cache.update(key=(table.path, stamp), prices=prices)
        return _price_cache["prices"]


def estimate_cost(model: str, prompt_tokens: int, completion_tokens: int,
                  prices: Mapping[str, Price] | None = None) -> float | None:
    """US dollars at the table's per-million prices; None when the model has no price.

    Reasoning tokens are billed as output and are already inside ``completion_tokens``:
    they are not passed, so they cannot be counted twice.
    """
    price = lookup(dict(prices if prices is not None else current_prices()), model)
    if price is None:
        return None
    return (prompt_tokens * price.input_per_million
            + completion_tokens * price.output_per_million) / 1_000_000


def parse_prices(rows: list[dict[str, Any]]) -> dict[str, Price]:
    """Rows as edited in a table to prices; rows with no model name at all are skipped."""
    prices: dict[str, Price] = {}
    for number, row in enumerate(rows, start=1):
        model = str(row.get("model") or "").strip()
        if not model or model == "nan":
            continue
        if model in prices:
            raise _bad_row(number, f"{model!r} appears twice.")
        values = []
        for column in PRICE_COLUMNS[1:]:
            value = _number(row.get(column))
            if value is None or value < 0:
                raise _bad_row(number, f"{column} for {model!r} must be a number >= 0; "
                                       f"got {row.get(column)!r}.")
            values.append(value)
        prices[model] = Price(*values)
    return prices


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _bad_row(number: int, message: str) -> PlaygroundError:
    return PlaygroundError(
        f"Price row {number}: {message}",
        hint="Correct the row and save again; the saved prices were not changed.")


def price_rows(prices: dict[str, Price]) -> list[dict[str, Any]]:
    """Prices as rows for an editable table."""
    return [{"model": model, "input_per_million": price.input_per_million,
             "output_per_million": price.output_per_million}
            for model, price in sorted(prices.items())]


def model_rows(models: list[dict[str, Any]], prices: dict[str, Price]) -> list[dict[str, Any]]:
    """One flat row per model for the explorer's table, sorted by id."""
    rows = []
    for model in sorted(models, key=model_id):
        model_facts = facts(model)
        price = lookup(prices, model_id(model))
        rows.append({
            "id": model_id(model),
            "owned_by": model.get("owned_by"),
            "created": _created(model.get("created")),
            "context_length": model_facts.context_length,
            "endpoints": ", ".join(model_facts.endpoints) or None,
            "input_per_million": price.input_per_million if price else None,
            "output_per_million": price.output_per_million if price else None,
            "description": model.get("description"),
        })
    return rows


def _created(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value, tz=UTC)
    return None


def search(rows: list[dict[str, Any]], query: str) -> list[dict[str, Any]]:
    """Rows where every word of the query appears in some text field (case-insensitive)."""
    words = query.lower().split()
    if not words:
        return rows

    def haystack(row: dict[str, Any]) -> str:
        return " ".join(str(value) for value in row.values() if isinstance(value, str)).lower()

    return [row for row in rows if all(word in haystack(row) for word in words)]


def details(model: dict[str, Any], prices: dict[str, Price]) -> dict[str, Any]:
    """What the app knows about one model, for the explorer's detail view."""
    model_facts = facts(model)
    price = lookup(prices, model_id(model))
    return {
        "context_length": model_facts.context_length,
        "endpoints": list(model_facts.endpoints),
        "input_per_million": price.input_per_million if price else None,
        "output_per_million": price.output_per_million if price else None,
        "gguf": model.get("gguf") if isinstance(model.get("gguf"), dict) else None,
    }
