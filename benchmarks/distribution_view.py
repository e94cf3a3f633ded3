"""How long the distribution view takes to redraw when a slider moves, for 100 alternatives.

``python -m benchmarks.distribution_view [--quick]`` times what a slider move costs the
server side of the view (``ui.common.distribution_view``), on 100 alternatives with random
log-probabilities and a new random setting of temperature, top_p, both penalties and a
logit bias at every repetition:

- recompute: ``distribution.reshape`` (every step of the sampler's formulas);
- redraw: recompute, build the bar chart (``distribution_figures.distribution_figure``) and
  serialise it as ``st.plotly_chart`` does (``figure.to_dict()``, then
  ``plotly.io.to_json(..., validate=False)``);
- redraw with samples: the same plus 100 seeded draws and their histogram, the most the
  view does on one slider move.

The goal, fixed beforehand, is a redraw with samples in at most 100 ms (median). The
browser's own drawing comes on top and is not measured here. Results are printed and written
to ``benchmarks/results-distribution.json``.
"""

from __future__ import annotations

import sys
import time

import numpy as np
import plotly.io

from benchmarks.common import (
    HERE,
    Figure,
    Goal,
    interleave,
    machine,
    median,
    quartiles,
    run_alone,
    table,
)
from playground import distribution as dist
from ui.common import distribution_figures as figures

RESULTS = HERE / "results-distribution.json"
ALTERNATIVES = 100
SAMPLES = 100
GOAL_SECONDS = 0.1


def alternatives(rng: np.random.Generator) -> dist.Alternatives:
    """100 tokens holding 99% of the probability, the chosen one somewhere among them."""
    logits = rng.normal(0, 2.5, ALTERNATIVES)
    logprobs = np.sort(logits - np.log(np.exp(logits).sum()) + np.log(0.99))[::-1]
    texts = [f" token{i}" for i in range(ALTERNATIVES)]
    chosen = int(rng.integers(ALTERNATIVES))
    return dist.alternatives_at(texts[chosen], float(logprobs[chosen]),
                                list(zip(texts, logprobs.tolist())))


def settings(rng: np.random.Generator, known: dist.Alternatives) -> dist.Settings:
    return dist.Settings(temperature=float(rng.uniform(0.1, 2.0)),
                         top_p=float(rng.uniform(0.3, 1.0)),
                         presence_penalty=float(rng.uniform(-2, 2)),
                         frequency_penalty=float(rng.uniform(-2, 2)),
                         bias={known.texts[int(rng.integers(ALTERNATIVES))]:
                               float(rng.uniform(-10, 10))})


def as_sent(figure) -> str:
    """The figure as ``st.plotly_chart`` sends it to the browser."""
    return plotly.io.to_json(figure.to_dict(), validate=False)


def benchmark(quick: bool = False, log=print) -> dict:
    repetitions = 30 if quick else 200
    rng = np.random.default_rng(0)
    known = alternatives(rng)
    counts = {text: int(rng.integers(0, 4)) for text in known.texts[::7]}

    def timed(with_chart: bool, with_samples: bool):
        def run() -> float:
            chosen_settings = settings(rng, known)
            started = time.perf_counter()
            shaped = dist.reshape(known, chosen_settings, counts)
            if with_chart:
                as_sent(figures.distribution_figure(shaped))
            if with_samples:
                drawn = dist.sample(shaped.after, chosen_settings.top_p, SAMPLES,
                                    np.random.default_rng(0))
                as_sent(figures.samples_figure(shaped, drawn))
            return time.perf_counter() - started
        return run

    samples = interleave({"recompute": timed(False, False), "redraw": timed(True, False),
                          "redraw_with_samples": timed(True, True)}, repetitions, warmup=3)
    medians = {name: median(values) for name, values in samples.items()}
    spread = {name: quartiles(values) for name, values in samples.items()}
    log("  medians: " + ", ".join(f"{name} {value * 1000:.2f} ms"
                                   for name, value in medians.items()))
    goal = Goal("Distribution view: redraw with samples, 100 alternatives",
                medians["redraw_with_samples"], GOAL_SECONDS, "at_most", "s")
    detail = f"{repetitions} repetitions, quartiles " + ", ".join(
        f"{name} {low * 1000:.1f}-{high * 1000:.1f} ms" for name, (low, high) in spread.items())
    result_figures = [
        Figure(f"Distribution view: slider move, {ALTERNATIVES} alternatives, with samples",
               medians["redraw_with_samples"], "s", GOAL_SECONDS, "at_most", detail,
               "distribution_view"),
        Figure("Distribution view: slider move, chart only", medians["redraw"], "s",
               benchmark="distribution_view"),
        Figure("Distribution view: recompute only", medians["recompute"], "s",
               benchmark="distribution_view"),
    ]
    return {
        "benchmark": "distribution_view",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": machine(),
        "config": {"alternatives": ALTERNATIVES, "samples": SAMPLES,
                   "repetitions": repetitions, "quick": quick},
        "medians": medians,
        "quartiles": spread,
        "goals": [goal.as_dict()],
        "figures": [figure.as_dict() for figure in result_figures],
    }


def report(results: dict) -> str:
    medians = results["medians"]
    goal = Goal(**{k: results["goals"][0][k] for k in ("name", "value", "bound", "direction",
                                                         "unit")})
    return "\n".join([
        f"Distribution view: {ALTERNATIVES} alternatives, "
        f"{results['config']['repetitions']} repetitions (medians)",
        table([(name.replace("_", " "), f"{value * 1000:.2f} ms")
               for name, value in medians.items()]),
        goal.describe(),
    ])


def main(argv: list[str] | None = None) -> int:
    return run_alone("distribution_view", __doc__, RESULTS,
                     lambda args: benchmark(args.quick, log=lambda line: print(line, flush=True)),
                     report, argv, quick_help="30 repetitions instead of 200")


if __name__ == "__main__":
    sys.exit(main())
