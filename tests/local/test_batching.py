"""Requests decoded together behave as they do alone.

The server decodes every request in flight for a model in one batch per step. A seeded
request must still give the same text as when it runs alone, a request arriving while
another generates runs beside it, one sequence going away must not stop the others, and a
crowd of mixed requests must all finish.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import openai
import pytest

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"
SEEDS = range(20)
NO_END = {"0": -100, "2": -100, "4": -100}  # SmolLM2's end-of-generation tokens
CROWD = 50
CROWD_SECONDS = 600  # generous: two shared cores, some of it spent loading Gemma


def seeded_chat(client: openai.OpenAI, model: str, seed: int) -> str:
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": "Name a colour and a fruit."}],
        temperature=1, top_p=0.95, max_tokens=12, seed=seed)
    return reply.choices[0].message.content


@pytest.mark.parametrize("model", [SMOL, GEMMA])
def test_a_seeded_request_gives_the_same_text_alone_and_batched(client, model):
    alone = [seeded_chat(client, model, seed) for seed in SEEDS]
    with ThreadPoolExecutor(len(SEEDS)) as pool:
        together = list(pool.map(lambda seed: seeded_chat(client, model, seed), SEEDS))
    assert together == alone
    assert len(set(alone)) > 1  # the seeds do make the texts differ


@pytest.mark.parametrize(("model", "too_many"), [(GEMMA, {"n": 8}), (SMOL, {"best_of": 20})])
def test_a_request_too_big_for_the_batch_decodes_as_it_would_in_it(client, model, too_many):
    """More choices than the batch holds run on the model's own context, one at a time:
    it computes as the batch does, so the greedy text does not depend on where it ran."""
    def greedy(**extra) -> list[str]:
        reply = client.completions.create(model=model, prompt="My favourite things are",
                                          max_tokens=24, temperature=0, seed=3, **extra)
        return [choice.text for choice in reply.choices]

    in_batch = greedy()[0]
    assert set(greedy(**too_many)) == {in_batch}


def test_n_choices_match_the_same_seed_asked_one_choice_at_a_time(client):
    messages = [{"role": "user", "content": "Say something about the sea."}]
    several = client.chat.completions.create(model=SMOL, messages=messages, n=4, seed=7,
                                             max_tokens=10, temperature=1)
    single = client.chat.completions.create(model=SMOL, messages=messages, n=1, seed=7,
                                            max_tokens=10, temperature=1)
    assert [c.index for c in several.choices] == [0, 1, 2, 3]
    assert several.choices[0].message.content == single.choices[0].message.content
    assert len({c.message.content for c in several.choices}) > 1


def long_stream(client: openai.OpenAI, seed: int):
    return client.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": "Tell a long story."}],
        max_tokens=60, logit_bias=NO_END, seed=seed, stream=True,
        stream_options={"include_usage": True})


def test_closing_one_stream_leaves_the_others_running(client):
    streams = [long_stream(client, seed) for seed in range(3)]
    for stream in streams:
        next(iter(stream))
    streams[0].close()
    for stream in streams[1:]:
        chunks = list(stream)
        assert chunks[-1].usage.completion_tokens == 60
        finishes = [c.choices[0].finish_reason for c in chunks if c.choices]
        assert finishes[-1] == "length"


def finish_order(client: openai.OpenAI, lengths: dict[str, int]) -> list[str]:
    """Start one stream per name, all at once, each generating its number of tokens; the
    names in the order their streams ended."""
    ended: list[str] = []

    def run(name: str) -> None:
        stream = client.chat.completions.create(
            model=SMOL, messages=[{"role": "user", "content": "Tell a long story."}],
            max_tokens=lengths[name], logit_bias=NO_END, seed=1, stream=True)
        for _ in stream:
            pass
        ended.append(name)

    with ThreadPoolExecutor(len(lengths)) as pool:
        long_one = pool.submit(run, "long")
        time.sleep(0.5)  # the long stream is generating when the short one arrives
        pool.submit(run, "short").result()
        long_one.result()
    return ended


def test_a_short_request_overtakes_a_long_one_already_generating(client):
    """One request at a time would finish the 400-token stream first."""
    assert finish_order(client, {"long": 400, "short": 5}) == ["short", "long"]


def mixed_request(client: openai.OpenAI, i: int) -> str:
    """One of several kinds of request, chosen by ``i``; returns what it generated."""
    model = GEMMA if i % 5 == 0 else SMOL
    kind = i % 4
    if kind == 0:
        reply = client.completions.create(model=model, prompt=f"Item {i}:", max_tokens=8,
                                          n=2, seed=i, logprobs=2)
        return "".join(c.text for c in reply.choices)
    if kind == 1:
        stream = client.completions.create(model=model, prompt=f"Count to {i}:", max_tokens=8,
                                           stream=True, temperature=0.7)
        return "".join(c.choices[0].text for c in stream if c.choices)
    if kind == 2:
        reply = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": f"Give {i} as JSON."}],
            response_format={"type": "json_object"}, max_tokens=12, temperature=0)
        return reply.choices[0].message.content
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"Hello number {i}"}],
        max_tokens=10, stream=True, frequency_penalty=0.5, top_p=0.5)
    return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_fifty_mixed_concurrent_requests_all_finish(client):
    started = time.monotonic()
    with ThreadPoolExecutor(CROWD) as pool:
        futures = [pool.submit(mixed_request, client, i) for i in range(CROWD)]
        texts = [future.result(timeout=CROWD_SECONDS) for future in futures]
    assert time.monotonic() - started < CROWD_SECONDS
    assert sum(1 for text in texts if text) >= CROWD - 5  # a reply may end at once


def test_a_request_that_does_not_stream_is_handed_its_outputs_only():
    """Its reader is not woken for every token (each wake-up takes a core from a decode),
    and the outputs hold the same text as the streamed deltas."""
    from playground.local.choice_run import ChoiceOutput, Delta, Generation
    from playground.local.engine import LocalModel
    from playground.local.sampling import SamplingSettings
    from playground.local.served_models import discover

    model = LocalModel(discover()[SMOL])
    prompt = model.chat_tokens([{"role": "user", "content": "Name a colour."}])

    def events(stream: bool) -> list:
        job = Generation(SamplingSettings(temperature=1.0), 12, seed=5, n=2, stream=stream)
        return list(model.batcher().generate(prompt, job))

    streamed, whole = events(True), events(False)
    assert any(isinstance(event, Delta) for event in streamed)
    assert all(isinstance(event, ChoiceOutput) for event in whole) and len(whole) == 2
    for output in whole:
        deltas = [e.text for e in streamed if isinstance(e, Delta) and e.index == output.index]
        assert "".join(deltas) == output.text
