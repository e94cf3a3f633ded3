"""Helpers shared by the benchmarks: the machine's description, medians, goals, figures,
interleaved repetitions, what one run of several benchmarks shares (a data folder, one
local model server), and the command line of a benchmark run on its own."""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


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


def stop_process(process: subprocess.Popen) -> None:
    """Terminate a child process, killing it if it does not exit within 20 s."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


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
        if self.direction == "at_least":
            return self.value >= self.bound
        return self.value <= self.bound

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


# -- load and time ----------------------------------------------------------------------

def load_average() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the system has none."""
    if not hasattr(os, "getloadavg"):
        return None
    return [round(x, 2) for x in os.getloadavg()]


def timestamp() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


# -- interleaved repetitions --------------------------------------------------------------

def interleave(runs: dict[str, Callable[[], Any]], reps: int, *, warmup: int = 0,
               after_each: Callable[[int], None] | None = None) -> dict[str, list]:
    """Call every run once per repetition, in an order shuffled every repetition (the same
    orders every time: the shuffle is seeded), so that none always goes first or after the
    same neighbour (a rotation keeps the neighbours); a change in the machine's load then
    hits every side alike. ``warmup`` rounds run first and are not kept."""
    names = list(runs)
    for _ in range(warmup):
        for name in names:
            runs[name]()
    samples: dict[str, list] = {name: [] for name in names}
    shuffled = random.Random(0)
    for rep in range(reps):
        for name in shuffled.sample(names, len(names)):
            samples[name].append(runs[name]())
        if after_each is not None:
            after_each(rep)
    return samples


def quartiles(values: list[float]) -> list[float]:
    """First and third quartile (the values themselves when there are fewer than two)."""
    if len(values) < 2:
        return [values[0], values[0]] if values else [float("nan")] * 2
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


# -- figures --------------------------------------------------------------------------------

@dataclass
class Figure:
    """One line of the report: a measured value and, when one was fixed beforehand, its goal.

    ``unit`` is ``"x"`` for a ratio, ``"s"`` for seconds (shown as ms below one second),
    ``"us"`` for microseconds, ``"%"`` for a fraction shown as a percentage, or any other
    label shown as is. ``direction`` is
    ``"at_most"`` or ``"at_least"``; ``bound`` None means the figure is reported, not judged.
    """

    name: str
    value: float | None
    unit: str = "x"
    bound: float | None = None
    direction: str = "at_most"
    detail: str = ""
    benchmark: str = ""

    @property
    def measured(self) -> bool:
        return self.value is not None and math.isfinite(self.value)

    @property
    def met(self) -> bool | None:
        if self.bound is None or not self.measured:
            return None
        return self.value <= self.bound if self.direction == "at_most" else self.value >= self.bound

    @property
    def goal_text(self) -> str:
        if self.bound is None:
            return "-"
        sign = "<=" if self.direction == "at_most" else ">="
        return f"{sign} {format_value(self.bound, self.unit)}"

    @property
    def verdict(self) -> str:
        """``met``, ``missed by <amount> (<percent>)``, ``not measured`` or ``-`` (no goal)."""
        if not self.measured:
            return "not measured"
        if self.bound is None:
            return "-"
        if self.met:
            return "met"
        gap = abs(self.value - self.bound)
        return f"missed by {format_value(gap, self.unit)} ({gap / abs(self.bound):.1%})"

    def as_dict(self) -> dict:
        data = asdict(self)
        data.update(goal=self.goal_text, met=self.met, verdict=self.verdict,
                    shown=format_value(self.value, self.unit))
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Figure:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})


def format_value(value: float | None, unit: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    if unit == "x":
        return f"{value:.3f}"
    if unit == "s":
        return f"{value * 1000:.1f} ms" if abs(value) < 1 else f"{value:.2f} s"
    if unit == "us":
        return f"{value:.0f} µs"
    if unit == "%":  # a fraction, shown as a percentage
        return f"{value:.3%}"
    return f"{value:.3g} {unit}".rstrip()


def figure_rows(figures: list[Figure]) -> list[tuple[str, str, str, str]]:
    return [(f.name, format_value(f.value, f.unit), f.goal_text, f.verdict) for f in figures]


def text_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A plain-text table with aligned columns, for the terminal."""
    everything = [header, *rows]
    widths = [max(len(row[i]) for row in everything) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()

    return "\n".join([line(header), line(tuple("-" * w for w in widths)), *map(line, rows)])


def figures_report(result: dict) -> str:
    """A result's figures (``Figure.as_dict`` rows) as a terminal table."""
    rows = [(f["name"], f["shown"], f["goal"], f["verdict"]) for f in result["figures"]]
    return text_table(rows, ("figure", "value", "goal", "verdict"))


def markdown_table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return "\n".join(lines)


# -- what one run shares ------------------------------------------------------------------

@dataclass
class Shared:
    """A private data folder (ledger, prices, logs stay out of the user's) and one local
    model server, started on first use, for the benchmarks of one run.

    Use as a context manager; it sets ``PLAYGROUND_DATA_DIR`` for its duration."""

    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="playground-bench-")))
    _server: Any = None
    _previous: str | None = None

    def __enter__(self) -> Shared:
        self._previous = os.environ.get("PLAYGROUND_DATA_DIR")
        os.environ["PLAYGROUND_DATA_DIR"] = str(self.folder)
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def local_url(self) -> str:
        """Base URL (``.../v1``) of a ``python -m playground.local`` started for this run,
        with its chat model loaded (the first request waits for the load)."""
        if self._server is None:
            from benchmarks.local_server import MODEL, Server

            server = Server(threads=None)
            try:
                server.wait_healthy()
                server.client().chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=1)
            except BaseException:
                server.stop()
                raise
            self._server = server
        return self._server.base_url

    def close(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._previous is None:
            os.environ.pop("PLAYGROUND_DATA_DIR", None)
        else:
            os.environ["PLAYGROUND_DATA_DIR"] = self._previous
        shutil.rmtree(self.folder, ignore_errors=True)


@contextmanager
def shared_or_own(shared: Shared | None) -> Iterator[Shared]:
    """The run's ``Shared`` or, for a benchmark run on its own, one closed at the end."""
    if shared is not None:
        yield shared
        return
    with Shared() as own:
        yield own


# -- one benchmark on its own ---------------------------------------------------------------

def run_alone(name: str, doc: str, results: Path, run: Callable[[argparse.Namespace], dict],
              report: Callable[[dict], str], argv: list[str] | None = None, *,
              quick_help: str = "fewer repetitions",
              options: Callable[[argparse.ArgumentParser], None] | None = None) -> int:
    """``python -m benchmarks.NAME [--quick] [--output FILE]``: run, print, write the JSON.

    ``run`` gets the parsed arguments (``options`` may add its own), ``report`` turns the
    result into the text printed."""
    parser = argparse.ArgumentParser(prog=f"python -m benchmarks.{name}",
                                     description=doc.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--output", type=Path, default=results)
    if options is not None:
        options(parser)
    args = parser.parse_args(argv)
    result = run(args)
    print()
    print(report(result))
    write_json(args.output, result)
    written = args.output.resolve()
    print(f"\nWritten to {written.relative_to(ROOT) if written.is_relative_to(ROOT) else written}")
    return 0
