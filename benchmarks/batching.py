"""What batched decoding gives on the real local server, against the same work one by one.

``python -m benchmarks.batching [--quick]`` starts ``python -m playground.local`` and loads
the same model in this process, then interleaves, in each repetition:

(a) a Compare grid as the page runs it on the local models: 12 chat cells (a temperature
    axis, a fixed seed, 128 tokens, the end-of-text tokens banned so every cell generates
    all 128) through ``compare.run_grid`` with the page's default concurrency for the local
    connection (what the model says it decodes together), against the same 12 cells one by
    one (a pool of one). With a seed, a cell generates the same text batched or alone, so
    both sides do the same work;
(b) one chat request with ``n=4`` against four requests of one choice, one after another;
(c) one stream at temperature 1, top_p 0.9, 128 tokens, through the server and the SDK,
    against a bare loop over llama.cpp in this process: the same prompt evaluated, then 128
    ``llama_decode`` calls of one token each, no sampling, with the engine settings the
    server uses, at one thread, half the physical cores and all of them, the fastest
    counting (the engine's limit on this machine, whatever the server chose).

Beside them, what llama.cpp alone saves by batching: one decode of 12 rows against 12
decodes of one row, and of 4 rows against 4, the same tokens. They bound (a) and (b) from
below on this machine.

Goals, fixed before measuring: (a) the grid takes at most 0.35 of the one-by-one time, and
at most 1.3 times its own slowest cell; (b) at most 0.5; (c) at least 0.8 of the bare loop's
tokens per second. Each is the median of the per-repetition ratios.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.common import HERE, Figure, figures_report, machine, median, run_alone
from benchmarks.local_server import MODEL, Server
from playground.compare import Axis, Grid, GridResult, run_grid
from playground.compare.concurrency import default_workers
from playground.connection import Connection

RESULTS = HERE / "results-batching.json"
CELLS = 12
CHOICES = 4  # n of the one request against as many requests
MAX_TOKENS = 128
SEED = 7
NO_END = {"0": -100, "2": -100, "4": -100}  # SmolLM2's end-of-generation tokens
MESSAGES = [{"role": "user", "content": "Tell me a long story about the sea."}]
GRID_GOAL, SLOWEST_GOAL, CHOICES_GOAL, STREAM_GOAL = 0.35, 1.3, 0.5, 0.8


def make_grid(connection: str) -> Grid:
    temperatures = Axis.from_range("temperature", 0.0, 1.1, 0.1)
    assert len(temperatures) == CELLS
    return Grid("chat", {"max_tokens": MAX_TOKENS, "seed": SEED, "logit_bias": NO_END},
                [temperatures], model=MODEL, connection=connection, messages=MESSAGES,
                max_cells=CELLS)


def run_cells(grid: Grid, conn: Connection, workers: int, batch: int) -> GridResult:
    result = run_grid(grid, lambda name: conn, max_workers=workers,
                      batch_sizes={(conn.name, MODEL): batch})
    failed = [f"{r.cell.id}: {r.error}" for r in result.cells if r.status != "ok"]
    if failed:
        raise SystemExit(f"cells failed, the measure would be meaningless: {failed}")
    return result


def grid_pair(grid: Grid, conn: Connection, workers: int, batch: int) -> dict:
    together = run_cells(grid, conn, workers, batch)
    alone = run_cells(grid, conn, 1, 1)
    tokens = sum(r.usage.get("completion_tokens", 0) for r in together.cells)
    return {"together_seconds": together.wall_time, "alone_seconds": alone.wall_time,
            "slowest_cell_seconds": max(r.latency for r in together.cells),
            "tokens": tokens, "same_texts": [r.texts for r in together.cells]
            == [r.texts for r in alone.cells]}


def choices_pair(client) -> dict:
    ask = dict(model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=1,
               seed=SEED, logit_bias=NO_END)
    started = time.perf_counter()
    client.chat.completions.create(n=CHOICES, **ask)
    together = time.perf_counter() - started
    started = time.perf_counter()
    for _ in range(CHOICES):
        client.chat.completions.create(n=1, **ask)
    return {"together_seconds": together, "alone_seconds": time.perf_counter() - started}


def stream_rate(client) -> float:
    started = time.perf_counter()
    stream = client.chat.completions.create(
        model=MODEL, messages=MESSAGES, max_tokens=MAX_TOKENS, temperature=1, top_p=0.9,
        seed=SEED, logit_bias=NO_END, stream=True, stream_options={"include_usage": True})
    tokens = next(chunk.usage.completion_tokens for chunk in stream if chunk.usage)
    return tokens / (time.perf_counter() - started)


class BareLoop:
    """llama.cpp alone: a prompt, then one ``llama_decode`` per token, no sampling, on a
    context made as the server's batcher makes its own, over the model loaded as the server
    loads it (engine settings included), with ``threads`` threads."""

    def __init__(self, llm, prompt: list[int], threads: int, sequences: int):
        import llama_cpp
        from llama_cpp._internals import LlamaContext

        from playground.local.batcher import context_params

        self._llm = llm  # kept: the context uses its weights
        params = context_params(sequences, threads, threads)
        self._context = LlamaContext(model=llm._model, params=params, verbose=False)
        self._memory = llama_cpp.llama_get_memory(self._context.ctx)
        self._batch = llama_cpp.llama_batch_init(max(len(prompt), sequences), 0, 1)
        self._n_vocab = llm.n_vocab()
        self._prompt = prompt
        self._llama_cpp = llama_cpp
        self.threads = threads

    def _decode(self, rows: list[tuple[int, int, int]], every_row: bool = True) -> int:
        """Evaluate (token, position, sequence) rows, every row's logits asked for as the
        batcher asks for a step's (``every_row``), else the last row's only, as for a
        prompt; the most likely next token after the last row."""
        llama_cpp, batch = self._llama_cpp, self._batch
        batch.n_tokens = len(rows)
        for i, (token, position, seq_id) in enumerate(rows):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = seq_id, every_row or i == len(rows) - 1
        assert llama_cpp.llama_decode(self._context.ctx, batch) == 0
        row = llama_cpp.llama_get_logits_ith(self._context.ctx, len(rows) - 1)
        return int(np.ctypeslib.as_array(row, shape=(self._n_vocab,)).argmax())

    def _start(self) -> int:
        self._llama_cpp.llama_memory_clear(self._memory, True)
        return self._decode([(t, i, 0) for i, t in enumerate(self._prompt)], every_row=False)

    def rate(self) -> float:
        """Tokens per second generating ``MAX_TOKENS`` after the prompt."""
        started = time.perf_counter()
        token = self._start()
        for position in range(len(self._prompt), len(self._prompt) + MAX_TOKENS):
            token = self._decode([(token, position, 0)])
        return MAX_TOKENS / (time.perf_counter() - started)

    def rows_together(self, rows: int, steps: int = 16) -> float:
        """The time of one decode of ``rows`` sequences over that of ``rows`` decodes of one
        sequence each, the same tokens: what batching can save at best on this machine."""
        token, start = self._start(), len(self._prompt)
        for seq_id in range(1, rows):
            self._llama_cpp.llama_memory_seq_cp(self._memory, 0, seq_id, -1, -1)
        together = alone = 0.0
        for step in range(steps):
            position = start + step
            started = time.perf_counter()
            self._decode([(token, position, s) for s in range(rows)])
            together += time.perf_counter() - started
            started = time.perf_counter()
            for seq_id in range(rows):
                self._llama_cpp.llama_memory_seq_rm(self._memory, seq_id, position, -1)
                self._decode([(token, position, seq_id)])
            alone += time.perf_counter() - started
        return together / alone


def bare_loops(prompt: list[int], sequences: int) -> list[BareLoop]:
    """Bare loops at one thread, half the physical cores and all of them: llama.cpp's best
    on this machine is the fastest of them, whatever thread count the server chose."""
    from playground.local.cpu_threads import physical_cores
    from playground.local.engine import LocalModel
    from playground.local.served_models import discover

    llm = LocalModel(discover()[MODEL]).load()
    cores = physical_cores()
    return [BareLoop(llm, prompt, threads, sequences)
            for threads in sorted({1, max(1, cores // 2), cores})]


def benchmark(quick: bool = False, log=print) -> dict:
    repetitions = 2 if quick else 4
    info = machine()
    server = Server(threads=None)
    try:
        server.wait_healthy()
        client = server.client()
        details = client.models.retrieve(MODEL).model_dump()
        batch = details["parallel_sequences"]
        workers = default_workers({MODEL: batch}, others=False).workers
        conn = Connection("Local models", kind="local", base_url=server.base_url,
                          max_retries=0, timeout=600)
        grid = make_grid(conn.name)
        prompt = client.post("/tokenize", cast_to=dict, body={"model": MODEL,
                                                               "messages": MESSAGES})["tokens"]
        loops = bare_loops(prompt, CELLS)
        stream_rate(client)  # warm-up, not counted
        runs = []
        for index in range(repetitions):
            run = {"grid": grid_pair(grid, conn, workers, batch), "choices": choices_pair(client)}
            run["stream_rate"] = stream_rate(client)
            run["bare_rates"] = {loop.threads: loop.rate() for loop in loops}
            run["bare_rate"] = max(run["bare_rates"].values())
            fastest = next(loop for loop in loops if loop.threads == max(
                run["bare_rates"], key=run["bare_rates"].get))
            run["rows_together"] = {rows: fastest.rows_together(rows) for rows in (CELLS, CHOICES)}
            runs.append(run)
            log(f"  repetition {index + 1}/{repetitions}: grid "
                f"{run['grid']['together_seconds']:.1f} s vs {run['grid']['alone_seconds']:.1f}"
                f" s, stream {run['stream_rate']:.1f} vs bare {run['bare_rate']:.1f} tokens/s")
    finally:
        server.stop()
    return summarise(runs, info, workers, batch, quick)


def summarise(runs: list[dict], info: dict, workers: int, batch: int, quick: bool) -> dict:
    def ratios(key: str, top: str, bottom: str) -> list[float]:
        return [run[key][top] / run[key][bottom] for run in runs]

    grid = median(ratios("grid", "together_seconds", "alone_seconds"))
    slowest = median(ratios("grid", "together_seconds", "slowest_cell_seconds"))
    choices = median(ratios("choices", "together_seconds", "alone_seconds"))
    stream = median([run["stream_rate"] / run["bare_rate"] for run in runs])
    floor = {rows: median([run["rows_together"][rows] for run in runs])
             for rows in (CELLS, CHOICES)}
    per_threads = {threads: median([run["bare_rates"][threads] for run in runs])
                   for threads in runs[0]["bare_rates"]}
    together = median([run["grid"]["together_seconds"] for run in runs])
    alone = median([run["grid"]["alone_seconds"] for run in runs])
    tokens = median([run["grid"]["tokens"] for run in runs])
    same = all(run["grid"]["same_texts"] for run in runs)
    figures = [
        Figure(f"Local grid, {CELLS} chat cells x {MAX_TOKENS} tokens: batched / one by one",
               grid, "x", GRID_GOAL, "at_most",
               f"{together:.1f} s vs {alone:.1f} s ({tokens / together:.0f} vs "
               f"{tokens / alone:.0f} tokens/s in all); {workers} cells in flight, the model "
               f"decodes {batch} together; same texts both ways: {same}"),
        Figure("Local grid: wall / slowest cell of the grid", slowest, "x", SLOWEST_GOAL,
               "at_most"),
        Figure(f"llama.cpp alone: one decode of {CELLS} rows / {CELLS} one-row decodes",
               floor[CELLS], "x", detail="the same tokens, at the bare loop's fastest thread "
               "count: the least a batched grid can take of the one-by-one time on this "
               "machine, before prompts and sampling"),
        Figure(f"n={CHOICES} in one request / four requests one after another", choices, "x",
               CHOICES_GOAL, "at_most", f"{MAX_TOKENS} tokens per choice"),
        Figure(f"llama.cpp alone: one decode of {CHOICES} rows / {CHOICES} one-row decodes",
               floor[CHOICES], "x", detail="as above: the least n=4 in one request can take "
               "of four requests on this machine"),
        Figure("One stream (temperature 1, top_p 0.9) / bare llama_decode loop, tokens per "
               "second", stream, "x", STREAM_GOAL, "at_least",
               f"{median([r['stream_rate'] for r in runs]):.1f} vs "
               f"{median([r['bare_rate'] for r in runs]):.1f} tokens/s; through HTTP, the SDK "
               "and the sampler against one token per llama_decode, the bare loop at its "
               "fastest thread count ("
               + ", ".join(f"{t} thread{'s' if int(t) > 1 else ''} {rate:.1f}"
                           for t, rate in per_threads.items())
               + " tokens/s)"),
    ]
    for figure in figures:
        figure.benchmark = "batching"
    return {
        "benchmark": "batching",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": info,
        "config": {"model": MODEL, "cells": CELLS, "max_tokens": MAX_TOKENS, "seed": SEED,
                   "workers": workers, "parallel_sequences": batch,
                   "repetitions": len(runs), "quick": quick},
        "runs": runs,
        "figures": [figure.as_dict() for figure in figures],
    }


def main() -> int:
    return run_alone("batching", __doc__, RESULTS, lambda args: benchmark(args.quick),
                     figures_report)


if __name__ == "__main__":
    raise SystemExit(main())
