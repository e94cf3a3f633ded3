"""The axes of a Compare grid: which settings may vary, and their values read from text.

An ``Axis`` is one setting (temperature, top_p, frequency_penalty, presence_penalty,
max_tokens, model, seed, and for chat max_completion_tokens, reasoning_effort and verbosity)
with its values, repeated values dropped. ``Axis.parse`` reads what a person types: a list,
a range ``start:stop:step``, a list of ``model @ connection``, or a list of words. Every
refusal is an ``InvalidParameters`` naming the axis.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from playground import errors
from playground.params import SPECS, FieldError, spec

AXIS_NAMES: tuple[str, ...] = ("temperature", "top_p", "frequency_penalty",
                               "presence_penalty", "max_tokens", "max_completion_tokens",
                               "reasoning_effort", "verbosity", "model", "seed")
INT_AXES = frozenset({"max_tokens", "max_completion_tokens", "seed"})
CHOICE_AXES = frozenset({"reasoning_effort", "verbosity"})  # words from the spec's choices
MAX_AXIS_VALUES = 1000


def axis_names(endpoint: str) -> tuple[str, ...]:
    """The axes an endpoint takes: the model, and the parameters it accepts."""
    return tuple(name for name in AXIS_NAMES
                 if name == "model" or endpoint in _endpoints_taking(name))


def _endpoints_taking(name: str) -> frozenset[str]:
    return next(s.endpoints for s in SPECS if s.name == name)


def refuse(name: str, message: str) -> errors.InvalidParameters:
    """The error for one field of a grid, ready to raise."""
    return errors.InvalidParameters([FieldError(name, message)])


def format_value(value: Any) -> str:
    """A value as a person writes it: 0.5, 1, 1e-05, a model name."""
    if isinstance(value, float):
        return f"{value:g}" if abs(value) < 1e16 else repr(value)
    return str(value)


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
            raise refuse(self.name, f"{self.name!r} cannot be an axis; choose from "
                                    f"{', '.join(AXIS_NAMES)}.")
        values = [ModelRef.parse(v) if self.name == "model" and isinstance(v, str) else v
                  for v in self.values]
        unique: list[Any] = []
        for value in values:
            if value not in unique:
                unique.append(value)
        if not unique:
            raise refuse(self.name, f"The {self.name} axis needs at least one value.")
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
            raise refuse(name, f"The {name} axis takes a list, not a range.")
        for value in (start, stop, step):
            if isinstance(value, bool) or not isinstance(value, (int, float)) \
                    or (isinstance(value, float) and not math.isfinite(value)):
                raise refuse(name, f"The {name} range needs numbers; got {value!r}.")
        if step == 0:
            raise refuse(name, f"The {name} range step must not be 0.")
        if (stop > start and step < 0) or (stop < start and step > 0):
            raise refuse(name, f"The {name} range step {format_value(step)} goes away from "
                               f"{format_value(stop)}; use a step of the other sign.")
        try:  # a span of 1e308 in steps of 1e-308, or whole numbers past a float's range
            steps = (stop - start) / step
        except OverflowError:
            steps = math.inf
        if not steps + 1 <= MAX_AXIS_VALUES:
            many = f"{math.floor(steps + 1e-9) + 1}" if math.isfinite(steps) else "too many"
            raise refuse(name, f"The {name} range gives {many} values; at most "
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
        raise refuse(name, f"{name}: {text!r} is not one of "
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
        raise refuse(name, f"{name}: {text!r} is not a number.") from None
    if not math.isfinite(value):
        raise refuse(name, f"{name}: {text!r} is not a finite number.")
    return _as_number(name, value)
