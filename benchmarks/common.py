"""Helpers shared by the benchmarks: the machine's description, medians, goals, tables."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import sys
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    """Cores, memory, CPU model and load: what a figure needs next to it to mean anything."""
    info = {
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "cpu": _cpu_model(),
        "system": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": platform.python_version(),
        "packages": {name: _version(name) for name in ("llama_cpp_python", "openai", "numpy")},
    }
    if hasattr(os, "getloadavg"):
        info["load_average_1m"] = round(os.getloadavg()[0], 2)
    return info


def _memory_gib() -> float | None:
    try:
        return round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        return None


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass(frozen=True)
class Goal:
    """A target fixed before measuring: ``value`` must be ``at_least`` or ``at_most`` the bound."""

    name: str
    value: float
    bound: float
    direction: str  # "at_least" or "at_most"
    unit: str = ""

    @property
    def met(self) -> bool:
        return self.value >= self.bound if self.direction == "at_least" else self.value <= self.bound

    @property
    def margin(self) -> float:
        """Relative distance from the bound, positive when the goal is met."""
        if self.direction == "at_least":
            return (self.value - self.bound) / self.bound
        return (self.bound - self.value) / self.bound

    def describe(self) -> str:
        sign = ">=" if self.direction == "at_least" else "<="
        if math.isnan(self.value):
            return f"{self.name}: not measured (goal {sign} {self.bound:g}{self.unit})"
        verdict = "met" if self.met else "NOT met"
        return (f"{self.name}: {self.value:.3f}{self.unit} (goal {sign} {self.bound:g}{self.unit}) "
                f"{verdict}, margin {self.margin:+.1%}")

    def as_dict(self) -> dict:
        measured = not math.isnan(self.value)
        return {**asdict(self), "met": self.met if measured else None,
                "margin": round(self.margin, 4) if measured else None}


def table(rows: list[tuple[str, str]]) -> str:
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"  {label.ljust(width)}  {value}" for label, value in rows)


def write_json(path: Path, data: dict) -> None:
    """Strict JSON: figures that could not be measured (NaN) are written as null."""
    path.write_text(json.dumps(_finite(data), indent=2, allow_nan=False) + "\n")


def _finite(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def python() -> str:
    return sys.executable
