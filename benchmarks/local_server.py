"""How much the local server costs over llama.cpp itself, and how fast it answers.

``python -m benchmarks.local_server [--quick]`` measures, in one run and with one model,
prompt and set of sampling settings, interleaving the repetitions so that a change in the
machine's load hits every measure alike; at temperature 1 and top_p 0.9, so that both
samplers do their whole work (at temperature 0 the server's sampler only takes the most
likely token):

(a) tokens per second through the local server: ``python -m playground.local`` started
    on a free port, the ``openai`` SDK, a non-streamed completion, ``usage.completion_tokens``
    divided by the request's wall time;
(b) tokens per second of ``llama_cpp.Llama`` in this process, ``create_completion`` with
    OpenAI-equivalent sampling (top_k 0, min_p 0, repeat_penalty 1, same temperature and
    top_p), the KV cache reset before each call as the server does; then the ratio a/b,
    taken within each repetition (both sides measured moments apart, so a change of load
    between repetitions cancels out) and reported as the median of those ratios, next to
    the ratio of the two medians;
(c) time to first token of a streamed completion through the server (the in-process
    figure is given for comparison);
(d) the first request right after the server starts: spawn to ``/health``, then to the first
    answer (which waits for the model to load), against a warm request of the same size.

Separately, ``engine_comparison`` (the ``engine_settings`` benchmark of ``python -m
benchmarks``) runs two servers forced to the fast and to the safe engine settings and
compares their tokens per second, generating and reading a long prompt, for each model.

Goals are fixed here, before measuring: the server keeps at least 95% of llama.cpp's
throughput; the first token of a stream arrives within 1 s and a freshly started server
answers within 10 s of being spawned (the 1 s and 10 s limits of Nielsen's "Response times:
the three important limits"). Figures are medians over the repetitions. Results are
printed and written to ``benchmarks/results-local-server.json``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.common import (
    HERE,
    Figure,
    Goal,
    interleave,
    machine,
    median,
    run_alone,
    stop_process,
    table,
)

MODEL = "smollm2-135m-instruct"
PROMPT = "The history of the printing press"
MAX_TOKENS = 128
TEMPERATURE = 1.0  # the sampler's full path: at 0 it takes a shortcut (argmax)
TOP_P = 0.9
SEED = 1234
ROOT = HERE.parent
RESULTS = HERE / "results-local-server.json"

REPETITIONS, QUICK_REPETITIONS = 9, 3
COLD_STARTS, QUICK_COLD_STARTS = 3, 1

RATIO_GOAL = 0.95
TTFT_GOAL = 1.0
FIRST_ANSWER_GOAL = 10.0


# -- the server as a child process --------------------------------------------------------

class Server:
    """``python -m playground.local`` on a free loopback port; stopped by its own handle."""

    def __init__(self, threads: int | None, engine: str | None = None):
        """``engine`` "fast" or "safe" forces those engine settings; None lets it choose."""
        from playground.local.engine_settings import SAFE, VARIABLE
        from playground.local.launcher import free_port

        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        command = [sys.executable, "-m", "playground.local", "--port", str(self.port)]
        if threads is not None:
            command += ["--threads", str(threads)]
        env = dict(os.environ)
        if engine is not None:
            env[VARIABLE] = "1" if engine == SAFE else "0"
        self.spawned = time.perf_counter()
        self.process = subprocess.Popen(
            command,
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, env=env,
        )

    def wait_healthy(self) -> float:
        """Seconds from spawn until ``/health`` answered."""
        from playground.local.launcher import wait_healthy

        wait_healthy(self.base_url, timeout=120, process=self.process)
        return time.perf_counter() - self.spawned

    def client(self):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key="no-key", max_retries=0,
                             timeout=300)

    def stop(self) -> None:
        stop_process(self.process)


def server_completion(client, max_tokens: int = MAX_TOKENS) -> dict:
    started = time.perf_counter()
    response = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=max_tokens,
                                         temperature=TEMPERATURE, top_p=TOP_P, seed=SEED)
    seconds = time.perf_counter() - started
    tokens = response.usage.completion_tokens
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds,
            "text": response.choices[0].text, "finish_reason": response.choices[0].finish_reason}


def server_stream(client) -> dict:
    started = time.perf_counter()
    first = None
    tokens = 0
    stream = client.completions.create(model=MODEL, prompt=PROMPT, max_tokens=MAX_TOKENS,
                                       temperature=TEMPERATURE, top_p=TOP_P, seed=SEED,
                                       stream=True, stream_options={"include_usage": True})
    for chunk in stream:
        if first is None and chunk.choices and chunk.choices[0].text:
            first = time.perf_counter() - started
        if chunk.usage:
            tokens = chunk.usage.completion_tokens
    seconds = time.perf_counter() - started
    return {"ttft": first, "seconds": seconds, "tokens": tokens}


# -- llama.cpp in this process ------------------------------------------------------------

def load_direct(threads: int | None):
    """A ``Llama`` configured as the server's engine configures its own, engine settings
    included (threads None: one per physical core, as the server resolves them)."""
    from playground.local import engine_settings, llama_loader
    from playground.local.engine import MAX_CONTEXT, LocalModel
    from playground.local.served_models import discover

    model = LocalModel(discover()[MODEL], threads)
    n_ctx = min(MAX_CONTEXT, model.info()["context_length_trained"])
    threads = model.n_threads
    choice = engine_settings.choose(model.path(), n_threads=threads, n_ctx=n_ctx)
    return llama_loader.load(model.path(), fast=choice.fast, n_ctx=n_ctx, n_batch=512,
                             n_threads=threads, n_threads_batch=threads, logits_all=False,
                             flash_attn=True, verbose=False)


OPENAI_EQUIVALENT = dict(temperature=TEMPERATURE, top_p=TOP_P, top_k=0, min_p=0.0,
                         typical_p=1.0, repeat_penalty=1.0, frequency_penalty=0.0,
                         presence_penalty=0.0, seed=SEED)


def direct_completion(llm) -> dict:
    started = time.perf_counter()
    llm.reset()  # evaluate the prompt every time, as the server does
    response = llm.create_completion(PROMPT, max_tokens=MAX_TOKENS, **OPENAI_EQUIVALENT)
    seconds = time.perf_counter() - started
    tokens = response["usage"]["completion_tokens"]
    return {"tokens": tokens, "seconds": seconds, "tokens_per_second": tokens / seconds,
            "text": response["choices"][0]["text"],
            "finish_reason": response["choices"][0]["finish_reason"]}


def direct_stream(llm) -> dict:
    started = time.perf_counter()
    llm.reset()
    first = finish = None
    for chunk in llm.create_completion(PROMPT, max_tokens=MAX_TOKENS, stream=True,
                                       **OPENAI_EQUIVALENT):
        if first is None and chunk["choices"][0]["text"]:
            first = time.perf_counter() - started
        finish = chunk["choices"][0]["finish_reason"] or finish
    seconds = time.perf_counter() - started
    # llama_cpp's chunks carry no usage; a stream cut by max_tokens holds exactly that many
    return {"ttft": first, "seconds": seconds, "tokens": MAX_TOKENS if finish == "length" else None}


# -- a freshly started server --------------------------------------------------------------

def cold_start(threads: int | None) -> dict:
    """Spawn a server, wait for health, send a one-token request; the model loads meanwhile."""
    server = Server(threads)
    try:
        healthy = server.wait_healthy()
        answer = server_completion(server.client(), max_tokens=1)
        total = time.perf_counter() - server.spawned
    finally:
        server.stop()
    return {"spawn_to_healthy": healthy, "healthy_to_answer": answer["seconds"],
            "spawn_to_answer": total}


# -- the engine settings, safe against fast ---------------------------------------------------

ENGINE_MODELS = (MODEL, "gemma-3-270m")
ENGINE_REPETITIONS, QUICK_ENGINE_REPETITIONS = 5, 2
LONG_PROMPT = " ".join(["The history of the printing press is a history of books, letters, "
                        "trade and learning across Europe."] * 16)


def engine_completion(client, model: str, prompt: str, max_tokens: int) -> dict:
    started = time.perf_counter()
    response = client.completions.create(model=model, prompt=prompt, max_tokens=max_tokens,
                                         temperature=TEMPERATURE, top_p=TOP_P, seed=SEED)
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "prompt_tokens": response.usage.prompt_tokens,
            "completion_tokens": response.usage.completion_tokens}


def engine_comparison(reps: int, threads: int | None = None, log=print) -> dict:
    """Tokens per second of generation and of prompt evaluation, per model, through two
    servers forced to the fast and to the safe engine settings, interleaved.

    A side whose server dies (the fast settings crash some CPUs) is reported as such and
    its figures are not measured."""
    import openai

    from playground.errors import LocalServerFailed

    started_machine = machine()
    servers = {side: Server(threads, engine=side) for side in ("fast", "safe")}
    clients, failed = {}, {}
    try:
        for side, server in servers.items():
            try:
                server.wait_healthy()
                clients[side] = server.client()
                for model in ENGINE_MODELS:  # warm-up, not counted: each model loads
                    engine_completion(clients[side], model, PROMPT, 4)
            except (LocalServerFailed, openai.APIError) as exc:
                failed[side] = (f"its server exited with code {server.process.poll()}"
                                if server.process.poll() is not None else str(exc))
                clients.pop(side, None)
        runs = {
            f"{side} {model} {kind}": (lambda c=client, m=model, p=prompt, n=n:
                                       engine_completion(c, m, p, n))
            for side, client in clients.items() for model in ENGINE_MODELS
            for kind, prompt, n in (("generation", PROMPT, MAX_TOKENS),
                                    ("prompt", LONG_PROMPT, 1))
        }
        samples = interleave(runs, reps, after_each=lambda rep: log(
            f"  engine settings: repetition {rep + 1}/{reps}"))
    finally:
        for server in servers.values():
            server.stop()
    return summarise_engines(samples, failed, reps, started_machine)


def _tokens_per_second(run: dict, kind: str) -> float:
    tokens = run["completion_tokens"] if kind == "generation" else run["prompt_tokens"]
    return tokens / run["seconds"]


def summarise_engines(samples: dict, failed: dict, reps: int, started_machine: dict) -> dict:
    medians, figures = {}, []
    for model in ENGINE_MODELS:
        for kind in ("generation", "prompt"):
            runs = {side: samples.get(f"{side} {model} {kind}", []) for side in ("fast", "safe")}
            rates = {side: [_tokens_per_second(run, kind) for run in side_runs]
                     for side, side_runs in runs.items()}
            ratios = [safe / fast for safe, fast in zip(rates["safe"], rates["fast"])]
            medians[f"{model} {kind}"] = {
                "fast_tokens_per_second": median(rates["fast"]),
                "safe_tokens_per_second": median(rates["safe"]),
                "ratio_safe_over_fast": median(ratios), "ratio_per_repetition": ratios,
                "prompt_tokens": runs["safe"][0]["prompt_tokens"] if runs["safe"] else None,
            }
            if failed:
                detail = "; ".join(f"the {side} settings failed: {why}"
                                   for side, why in failed.items())
            else:
                what = (f"{MAX_TOKENS} tokens generated" if kind == "generation"
                        else f"a {medians[f'{model} {kind}']['prompt_tokens']}-token prompt read")
                detail = (f"{what}: safe {median(rates['safe']):.1f} vs fast "
                          f"{median(rates['fast']):.1f} tokens/s; median of {reps} interleaved "
                          "per-repetition ratios")
            figures.append(Figure(f"Engine settings, {model} {kind}: safe / fast tokens per second",
                                  median(ratios) if ratios else None, "x", detail=detail,
                                  benchmark="engine_settings"))
    return {
        "benchmark": "engine_settings",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": started_machine,
        "config": {"models": list(ENGINE_MODELS), "max_tokens": MAX_TOKENS,
                   "temperature": TEMPERATURE, "repetitions": reps},
        "failed": failed,
        "medians": medians,
        "figures": [figure.as_dict() for figure in figures],
    }


def engine_benchmark(quick: bool = False, log=print) -> dict:
    return engine_comparison(QUICK_ENGINE_REPETITIONS if quick else ENGINE_REPETITIONS, log=log)


# -- the run ---------------------------------------------------------------------------------

def measure(reps: int, cold_reps: int, threads: int | None, log=print) -> dict:
    started_machine = machine()
    log("Starting the server and loading the model in-process ...")
    server = Server(threads)
    try:
        server.wait_healthy()
        client = server.client()
        llm = load_direct(threads)
        # Warm-up, not counted: the server's first request waits for its model to load.
        server_completion(client, max_tokens=4)
        direct_completion(llm)
        samples: dict[str, list] = {"server": [], "direct": [], "server_stream": [],
                                    "direct_stream": [], "warm_one_token": [], "cold": [],
                                    "load_average_1m": []}
        runs = {
            "server": lambda: server_completion(client),
            "direct": lambda: direct_completion(llm),
            "server_stream": lambda: server_stream(client),
            "direct_stream": lambda: direct_stream(llm),
            "warm_one_token": lambda: server_completion(client, max_tokens=1),
        }
        order = list(runs)
        for rep in range(reps):
            # rotate the order so no measure always runs first or after the same neighbour
            for name in order[rep % len(order):] + order[:rep % len(order)]:
                samples[name].append(runs[name]())
            if rep < cold_reps:
                samples["cold"].append(cold_start(threads))
            samples["load_average_1m"].append(round(os.getloadavg()[0], 2)
                                              if hasattr(os, "getloadavg") else None)
            log(f"  repetition {rep + 1}/{reps}: "
                f"server {samples['server'][-1]['tokens_per_second']:.1f} tok/s, "
                f"direct {samples['direct'][-1]['tokens_per_second']:.1f} tok/s")
    finally:
        server.stop()
    resolved = {"requested": threads, "n_threads": llm.n_threads,
                "n_threads_batch": llm.n_threads_batch}
    return summarise(samples, reps, resolved, started_machine)


def summarise(samples: dict, reps: int, threads: dict, started_machine: dict) -> dict:
    server_tps = median([s["tokens_per_second"] for s in samples["server"]])
    direct_tps = median([s["tokens_per_second"] for s in samples["direct"]])
    ratios = [s["tokens_per_second"] / d["tokens_per_second"]
              for s, d in zip(samples["server"], samples["direct"])]
    ttft = median([s["ttft"] for s in samples["server_stream"] if s["ttft"] is not None])
    direct_ttft = median([s["ttft"] for s in samples["direct_stream"] if s["ttft"] is not None])
    cold = {key: median([c[key] for c in samples["cold"]])
            for key in ("spawn_to_healthy", "healthy_to_answer", "spawn_to_answer")}
    warm_one = median([s["seconds"] for s in samples["warm_one_token"]])
    goals = [
        Goal("server/direct tokens per second", median(ratios), RATIO_GOAL, "at_least"),
        Goal("time to first token (server stream)", ttft, TTFT_GOAL, "at_most", " s"),
        Goal("spawn to first answer (cold server)", cold["spawn_to_answer"], FIRST_ANSWER_GOAL,
             "at_most", " s"),
    ]
    ended_machine = machine()
    figures = [
        Figure("Local server / llama.cpp in-process, tokens per second",
               median(ratios), "x", RATIO_GOAL, "at_least",
               f"median of per-repetition ratios; medians {server_tps:.1f} vs "
               f"{direct_tps:.1f} tokens/s (ratio {server_tps / direct_tps:.3f}); "
               f"{reps} interleaved repetitions"),
        Figure("Local server: time to first token (stream)", ttft, "s", TTFT_GOAL, "at_most",
               f"llama.cpp in-process: {direct_ttft * 1000:.0f} ms"),
        Figure("Local server: spawn to first answer (model load)", cold["spawn_to_answer"], "s",
               FIRST_ANSWER_GOAL, "at_most",
               f"spawn to /health {cold['spawn_to_healthy']:.2f} s, "
               f"then {cold['healthy_to_answer']:.2f} s "
               f"to a one-token answer (warm: {warm_one:.2f} s)"),
    ]
    for figure in figures:
        figure.benchmark = "local_server"
    return {
        "benchmark": "local_server",
        "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {**started_machine,
                    "load_average_1m_at_end": ended_machine.get("load_average_1m")},
        "config": {"model": MODEL, "endpoint": "completions", "prompt": PROMPT,
                   "max_tokens": MAX_TOKENS, "temperature": TEMPERATURE, "top_p": TOP_P,
                   "seed": SEED, "threads": threads, "repetitions": reps,
                   "cold_starts": len(samples["cold"]),
                   "direct_sampling": {k: v for k, v in OPENAI_EQUIVALENT.items()}},
        "medians": {
            "server_tokens_per_second": server_tps,
            "direct_tokens_per_second": direct_tps,
            "ratio_server_over_direct": median(ratios),
            "ratio_of_medians": server_tps / direct_tps,
            "ratio_per_repetition": ratios,
            "server_seconds_per_request": median([s["seconds"] for s in samples["server"]]),
            "direct_seconds_per_request": median([s["seconds"] for s in samples["direct"]]),
            "server_tokens_per_second_range": _range(samples["server"], "tokens_per_second"),
            "direct_tokens_per_second_range": _range(samples["direct"], "tokens_per_second"),
            "server_completion_tokens": median([s["tokens"] for s in samples["server"]]),
            "direct_completion_tokens": median([s["tokens"] for s in samples["direct"]]),
            "server_ttft_seconds": ttft,
            "direct_ttft_seconds": direct_ttft,
            "server_stream_seconds": median([s["seconds"] for s in samples["server_stream"]]),
            "server_stream_tokens_per_second": median(
                [s["tokens"] / s["seconds"] for s in samples["server_stream"] if s["tokens"]]),
            "direct_stream_tokens_per_second": median(
                [s["tokens"] / s["seconds"] for s in samples["direct_stream"] if s["tokens"]]),
            "cold_spawn_to_healthy_seconds": cold["spawn_to_healthy"],
            "cold_healthy_to_answer_seconds": cold["healthy_to_answer"],
            "cold_spawn_to_answer_seconds": cold["spawn_to_answer"],
            "warm_one_token_request_seconds": warm_one,
        },
        "goals": [goal.as_dict() for goal in goals],
        "figures": [figure.as_dict() for figure in figures],
        "samples": {name: [{k: v for k, v in s.items() if k != "text"} if isinstance(s, dict) else s
                              for s in runs]
                    for name, runs in samples.items()},
    }


def _range(runs: list[dict], key: str) -> list[float]:
    values = [run[key] for run in runs]
    return [min(values), max(values)]


def report(result: dict) -> str:
    m, cfg, mach = result["medians"], result["config"], result["machine"]
    defaults = (" (one per physical core, as the app runs)"
                if cfg["threads"]["requested"] is None else "")
    ratios = ", ".join(f"{r:.2f}" for r in m["ratio_per_repetition"])
    goal_fields = ("name", "value", "bound", "direction", "unit")
    lines = [
        f"Local server benchmark: {cfg['model']}, /v1/completions, "
        f"temperature {cfg['temperature']:g}, "
        f"top_p {cfg['top_p']:g}, max_tokens {cfg['max_tokens']}, threads "
        f"{cfg['threads']['n_threads']} generating / {cfg['threads']['n_threads_batch']} batch"
        f"{defaults}, medians of {cfg['repetitions']} interleaved repetitions "
        f"({cfg['cold_starts']} cold starts)",
        f"Machine: {mach['cores']} cores ({mach['cpu']}), {mach['memory_gib']} GiB memory, "
        f"{mach['system']}, Python {mach['python']}, llama-cpp-python "
        f"{mach['packages']['llama_cpp_python']}; load average {mach.get('load_average_1m')} "
        f"at start, {mach.get('load_average_1m_at_end')} at end, per repetition "
        f"{result['samples']['load_average_1m']}",
        "",
        table([
            ("(a) server tokens/s", _rate(m, "server")),
            ("(b) direct llama_cpp tokens/s", _rate(m, "direct")),
            ("    ratio server/direct", f"{m['ratio_server_over_direct']:.3f}  "
                                        f"(median of per-repetition ratios "
                                        f"{ratios}; "
                                        f"ratio of the medians {m['ratio_of_medians']:.3f})"),
            ("(c) time to first token, server", f"{m['server_ttft_seconds'] * 1000:.0f} ms"),
            ("    time to first token, direct", f"{m['direct_ttft_seconds'] * 1000:.0f} ms"),
            ("    stream tokens/s, server", f"{m['server_stream_tokens_per_second']:.1f}"),
            ("    stream tokens/s, direct", f"{m['direct_stream_tokens_per_second']:.1f}"),
            ("(d) cold: spawn to /health", f"{m['cold_spawn_to_healthy_seconds']:.2f} s"),
            ("    cold: /health to first answer", f"{m['cold_healthy_to_answer_seconds']:.2f} s"),
            ("    cold: spawn to first answer", f"{m['cold_spawn_to_answer_seconds']:.2f} s"),
            ("    warm: same one-token request", f"{m['warm_one_token_request_seconds']:.3f} s"),
        ]),
        *_load_warning(result),
        "",
        "Goals:",
        *[f"  {Goal(**{k: g[k] for k in goal_fields}).describe()}" for g in result["goals"]],
    ]
    return "\n".join(lines)


def _load_warning(result: dict) -> list[str]:
    """Say so when other processes competed for the cores: the figures then measure them too."""
    cores = result["machine"]["cores"] or 1
    loads = [x for x in result["samples"]["load_average_1m"] if x is not None]
    loads.append(result["machine"].get("load_average_1m") or 0)
    if max(loads) <= cores:
        return []
    return ["", f"Warning: the 1-minute load average reached {max(loads):.1f} on {cores} cores "
                "during the run, so other processes competed for the CPU; the spread above shows "
                "how much, and the verdicts below are only as good as that allows."]


def _rate(medians: dict, side: str) -> str:
    low, high = medians[f"{side}_tokens_per_second_range"]
    return (f"{medians[f'{side}_tokens_per_second']:.1f}  (range {low:.1f}-{high:.1f}; median "
            f"{medians[f'{side}_completion_tokens']:.0f} tokens, "
            f"{medians[f'{side}_seconds_per_request']:.2f} s per request)")


def benchmark(quick: bool = False, threads: int | None = None, reps: int | None = None,
              cold: int | None = None, log=print) -> dict:
    """The whole measure; returns its results, ``figures`` included (``main`` writes them)."""
    reps = reps or (QUICK_REPETITIONS if quick else REPETITIONS)
    cold = min(reps, cold if cold is not None else (QUICK_COLD_STARTS if quick else COLD_STARTS))
    result = measure(reps, cold, threads, log=log)
    result["config"]["quick"] = quick
    return result


def _options(parser) -> None:
    parser.add_argument("--reps", type=int, default=None, help="interleaved repetitions")
    parser.add_argument("--cold", type=int, default=None, help="cold starts (at most --reps)")
    parser.add_argument("--threads", type=int, default=None,
                        help="llama.cpp threads for both sides (default: llama-cpp-python's "
                             "own defaults, which is what the app's server uses)")


def main(argv: list[str] | None = None) -> int:
    return run_alone("local_server", __doc__, RESULTS,
                     lambda args: benchmark(args.quick, args.threads, args.reps, args.cold),
                     report, argv, options=_options,
                     quick_help=f"{QUICK_REPETITIONS} repetitions and {QUICK_COLD_STARTS} cold "
                                f"start instead of {REPETITIONS} and {COLD_STARTS}")


if __name__ == "__main__":
    sys.exit(main())
