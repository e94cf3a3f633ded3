"""The local server's ``debug_distribution`` extension, and the core's recomputation of it.

With the flag, each generated token's log-probabilities carry ``sampled_from``: the tokens
the sampler could draw at that position, with the probabilities it drew them with. The
distribution view recomputes that from the reported alternatives alone
(``playground.distribution``); here the two are compared over 50 random settings.
"""

from __future__ import annotations

import json

import httpx2
import numpy as np
import pytest

from playground import distribution as dist

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"
PROMPTS = ("Once upon a time, in a small village by the sea,",
           "The three most important things about cooking pasta are",
           "Dear diary, today I")
BIASED = (" the", " a", ",", ".", " and", " of", " to", " I")  # a few common tokens
SETTINGS = 50
ALTERNATIVES = 100
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def root(local_base_url) -> str:
    return local_base_url.removesuffix("/v1")


def post(root: str, path: str, body: dict) -> httpx2.Response:
    return httpx2.post(f"{root}/v1/{path}", json={"model": SMOL, **body}, timeout=120)


def answer(root: str, path: str, body: dict) -> dict:
    response = post(root, path, body)
    assert response.status_code == 200, response.text
    return response.json()


def answer_model(root: str, model: str = SMOL) -> dict:
    response = httpx2.get(f"{root}/v1/models/{model}", timeout=60)
    response.raise_for_status()
    return response.json()


def tokenize(root: str, text: str) -> list[int]:
    response = httpx2.post(f"{root}/tokenize", json={"model": SMOL, "text": text}, timeout=60)
    response.raise_for_status()
    return response.json()["tokens"]


def streamed(root: str, path: str, body: dict) -> list[dict]:
    with httpx2.stream("POST", f"{root}/v1/{path}", timeout=120,
                       json={"model": SMOL, **body, "stream": True}) as response:
        assert response.status_code == 200
        events = [line.removeprefix("data: ") for line in response.iter_lines()
                  if line.startswith("data: ")]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def random_request(rng: np.random.Generator, case: int, bias_ids: list[int]) -> dict:
    chosen = rng.choice(len(bias_ids), size=3, replace=False)
    return {"prompt": PROMPTS[case % len(PROMPTS)], "max_tokens": 12, "seed": case,
            "temperature": 2.0 - float(rng.uniform(0, 2)),  # (0, 2]
            "top_p": 1.0 - float(rng.uniform(0, 1)),  # (0, 1]
            "presence_penalty": float(rng.uniform(-2, 2)),
            "frequency_penalty": float(rng.uniform(-2, 2)),
            "logit_bias": {str(bias_ids[i]): float(rng.uniform(-8, 8)) for i in chosen},
            "logprobs": ALTERNATIVES, "debug_distribution": True}


def test_the_core_recomputes_the_distribution_the_server_sampled_from(root):
    """The view's recomputation of a run: the reported alternatives and the tokens generated
    before each position, the run's temperature and top_p, no penalty or bias added (the
    run's own are already in the reported log-probabilities). Wherever the core calls its
    cut exact, it equals what the server drew from within 1e-5. Exact needs the whole
    vocabulary's probability after temperature, and the alternatives leave some out: the
    core says where that cannot move its cut (``Reshaped.exact``), it never says so where
    the nucleus reaches past the alternatives, and it says so at most positions."""
    vocabulary = answer_model(root)["vocab_size"]
    bias_ids = [tokenize(root, text)[-1] for text in BIASED]
    rng = np.random.default_rng(18)
    positions, inside, compared, worst = 0, 0, 0, 0.0
    for case in range(SETTINGS):
        request = random_request(rng, case, bias_ids)
        logprobs = answer(root, "completions", request)["choices"][0]["logprobs"]
        settings = dist.Settings(temperature=request["temperature"], top_p=request["top_p"])
        tokens = logprobs["tokens"]
        for i, (token, logprob, top, drawn) in enumerate(zip(
                tokens, logprobs["token_logprobs"], logprobs["top_logprobs"],
                logprobs["sampled_from"], strict=True)):
            positions += 1
            alternatives = dist.alternatives_at(token, logprob, list(top.items()), vocabulary)
            shaped = dist.reshape(alternatives, settings, dist.counts_before(tokens, i))
            texts = [entry["token"] for entry in drawn]
            within = len(set(texts)) == len(texts) and set(texts) <= set(alternatives.texts)
            inside += within
            assert within or not shaped.exact, (case, i)
            if not shaped.exact:
                continue
            served = np.zeros(len(alternatives.texts))
            for entry in drawn:
                served[alternatives.index(entry["token"])] = entry["probability"]
            difference = float(np.abs(shaped.distribution - served).max())
            assert difference <= TOLERANCE, (case, i, request, difference)
            compared, worst = compared + 1, max(worst, difference)
    print(f"compared {compared} of {positions} positions ({inside} with the nucleus inside "
          f"the {ALTERNATIVES} alternatives); worst difference {worst:.2e}")
    assert compared > positions / 2


def test_each_generated_token_reports_a_distribution_holding_it(root):
    body = {"prompt": PROMPTS[0], "max_tokens": 8, "seed": 3, "temperature": 0.9,
            "top_p": 0.9, "logprobs": 2, "echo": True, "debug_distribution": True}
    choice = answer(root, "completions", body)["choices"][0]
    logprobs = choice["logprobs"]
    prompt_tokens = len(tokenize(root, PROMPTS[0]))
    assert logprobs["sampled_from"][:prompt_tokens] == [None] * prompt_tokens  # echoed
    for token, drawn in zip(logprobs["tokens"][prompt_tokens:],
                            logprobs["sampled_from"][prompt_tokens:], strict=True):
        assert token in [entry["token"] for entry in drawn]
        probabilities = [entry["probability"] for entry in drawn]
        assert probabilities == sorted(probabilities, reverse=True)
        assert sum(probabilities) == pytest.approx(1.0)
        assert all(isinstance(entry["id"], int) for entry in drawn)


def test_temperature_zero_reports_the_most_likely_token_as_certain(root):
    body = {"messages": [{"role": "user", "content": "Say hello."}], "max_tokens": 4,
            "temperature": 0, "logprobs": True, "top_logprobs": 1, "debug_distribution": True}
    for entry in answer(root, "chat/completions", body)["choices"][0]["logprobs"]["content"]:
        assert entry["sampled_from"] == [{"token": entry["token"],
                                          "id": entry["sampled_from"][0]["id"],
                                          "probability": 1.0}]
        assert entry["token"] == entry["top_logprobs"][0]["token"]


def test_without_the_flag_nothing_is_added(root):
    body = {"prompt": PROMPTS[1], "max_tokens": 3, "logprobs": 1}
    assert "sampled_from" not in answer(root, "completions", body)["choices"][0]["logprobs"]


def test_the_batched_and_the_one_at_a_time_paths_report_the_same(root):
    """n=1 decodes in the batch; more choices than the batch holds (Gemma's is small) run
    on the model's own context, one at a time: choice 0 of a seeded request is drawn the
    same way on both."""
    body = {"model": GEMMA, "prompt": PROMPTS[2], "max_tokens": 6, "seed": 11,
            "temperature": 1.2, "top_p": 0.8, "frequency_penalty": 0.5, "logprobs": 0,
            "debug_distribution": True}
    alone = answer(root, "completions", body)["choices"][0]
    many = answer_model(root, GEMMA)["parallel_sequences"] + 1
    first = answer(root, "completions", {**body, "n": many})["choices"][0]
    assert first["text"] == alone["text"]
    assert first["logprobs"]["sampled_from"] == alone["logprobs"]["sampled_from"]
    assert any(len(drawn) > 1 for drawn in alone["logprobs"]["sampled_from"])


@pytest.mark.parametrize("path, body", [
    ("completions", {"prompt": PROMPTS[0], "logprobs": 3}),
    ("chat/completions", {"messages": [{"role": "user", "content": "Name a fruit."}],
                          "logprobs": True, "top_logprobs": 3}),
])
def test_a_streamed_answer_reports_what_the_whole_one_does(root, path, body):
    body = {**body, "max_tokens": 6, "seed": 5, "temperature": 1.5, "top_p": 0.7,
            "debug_distribution": True}
    whole = answer(root, path, body)["choices"][0]["logprobs"]
    chunks = [chunk["choices"][0]["logprobs"] for chunk in streamed(root, path, body)
              if chunk["choices"] and chunk["choices"][0]["logprobs"]]
    if path == "completions":
        assert [d for c in chunks for d in c["sampled_from"]] == whole["sampled_from"]
    else:
        assert [e for c in chunks for e in c["content"]] == whole["content"]
        assert all(entry["sampled_from"] for entry in whole["content"])


@pytest.mark.parametrize("path, body", [
    ("completions", {"prompt": "Hi"}),
    ("chat/completions", {"messages": [{"role": "user", "content": "Hi"}]}),
    ("chat/completions", {"messages": [{"role": "user", "content": "Hi"}], "logprobs": False}),
])
def test_the_flag_needs_logprobs(root, path, body):
    response = post(root, path, {**body, "max_tokens": 2, "debug_distribution": True})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["param"] == "debug_distribution" and "logprobs" in error["message"]


def test_the_flag_is_a_boolean(root):
    response = post(root, "completions", {"prompt": "Hi", "max_tokens": 2, "logprobs": 0,
                                          "debug_distribution": "yes"})
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "debug_distribution"
