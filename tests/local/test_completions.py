"""POST /v1/completions on the local server, every parameter, through the real SDK."""

from __future__ import annotations

import math

import httpx2
import openai
import pytest

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"
STORY = "Once upon a time, in a small village by the sea,"


def complete(client, **params):
    arguments = {"model": GEMMA, "prompt": STORY, "max_tokens": 24, **params}
    return client.completions.create(**arguments)


def test_default_max_tokens_is_16_like_the_api(client):
    response = client.completions.create(model=GEMMA, prompt=STORY, seed=3,
                                         logit_bias={"1": -100, "106": -100})
    assert response.usage.completion_tokens == 16
    assert response.choices[0].finish_reason == "length"


def test_finish_reason_is_truthful(client):
    long = complete(client, max_tokens=3, temperature=0)
    assert long.choices[0].finish_reason == "length"
    assert long.usage.completion_tokens == 3
    stopped = complete(client, max_tokens=60, temperature=0, stop=[" "])
    assert stopped.choices[0].finish_reason == "stop"
    assert " " not in stopped.choices[0].text


def test_stop_sequence_is_cut_and_not_returned(client):
    free = complete(client, temperature=0, max_tokens=30).choices[0].text
    word = free.split()[2]
    cut = complete(client, temperature=0, max_tokens=30, stop=[word, "zzzz"]).choices[0]
    assert cut.text == free[:free.index(word)]
    assert cut.finish_reason == "stop"


def test_prompt_list_gives_one_choice_set_per_prompt(client):
    response = complete(client, prompt=["The sky is", "Water is"], n=2, max_tokens=4, seed=1)
    assert [c.index for c in response.choices] == [0, 1, 2, 3]
    alone = complete(client, prompt="Water is", n=2, max_tokens=4, seed=1)
    assert [c.text for c in response.choices[2:]] == [c.text for c in alone.choices]


def test_n_gives_separate_samples(client):
    response = complete(client, n=4, seed=11, temperature=1.0)
    texts = [c.text for c in response.choices]
    assert len(texts) == 4
    assert len(set(texts)) >= 3, texts
    assert 4 <= response.usage.completion_tokens <= 4 * 24


def test_same_seed_same_text_and_other_seed_differs(client):
    first = complete(client, seed=1234, n=2).choices
    complete(client, seed=99, temperature=1.5)  # something else runs in between
    client.chat.completions.create(model=SMOL, messages=[{"role": "user", "content": "Hi"}],
                                   max_tokens=5)
    again = complete(client, seed=1234, n=2).choices
    assert [c.text for c in first] == [c.text for c in again]
    other = complete(client, seed=4321, n=2).choices
    assert [c.text for c in other] != [c.text for c in first]


def test_logprobs_report_tokens_and_alternatives(client):
    choice = complete(client, logprobs=3, max_tokens=8, seed=5).choices[0]
    logprobs = choice.logprobs
    assert "".join(logprobs.tokens) == choice.text
    assert len(logprobs.token_logprobs) == len(logprobs.tokens)
    assert all(lp <= 0 for lp in logprobs.token_logprobs)
    for alternatives in logprobs.top_logprobs:
        assert len(alternatives) == 3
        assert abs(sum(math.exp(v) for v in alternatives.values())) <= 1.0001
    assert logprobs.text_offset == sorted(logprobs.text_offset)


def test_logprobs_zero_gives_chosen_token_only(client):
    logprobs = complete(client, logprobs=0, max_tokens=4, seed=5).choices[0].logprobs
    assert all(alternatives == {} for alternatives in logprobs.top_logprobs)
    assert all(lp < 0 or lp == 0 for lp in logprobs.token_logprobs)


def test_greedy_logprob_is_the_top_alternative(client):
    logprobs = complete(client, logprobs=1, max_tokens=6, temperature=0).choices[0].logprobs
    for chosen, alternatives in zip(logprobs.token_logprobs, logprobs.top_logprobs):
        assert chosen == pytest.approx(max(alternatives.values()), abs=1e-5)


def test_echo_returns_prompt_with_its_logprobs(client):
    choice = complete(client, echo=True, logprobs=1, max_tokens=4, seed=2).choices[0]
    assert choice.text.startswith(STORY)
    logprobs = choice.logprobs
    prompt_tokens = [t for t, o in zip(logprobs.tokens, logprobs.text_offset) if o < len(STORY)]
    assert "".join(prompt_tokens) == STORY
    assert logprobs.token_logprobs[0] is None  # nothing predicts the first token
    assert all(lp is not None for lp in logprobs.token_logprobs[2:])
    assert logprobs.text_offset[-1] >= len(STORY)


def test_best_of_returns_the_highest_mean_logprob_candidates(client):
    best = complete(client, best_of=4, n=1, seed=8, logprobs=0, max_tokens=10).choices
    candidates = complete(client, n=4, seed=8, logprobs=0, max_tokens=10).choices
    assert len(best) == 1

    def mean(choice):
        values = choice.logprobs.token_logprobs
        return sum(values) / len(values)

    assert best[0].text == max(candidates, key=mean).text


def test_logit_bias_bans_and_forces_tokens(client, tokenize):
    greedy = complete(client, temperature=0, max_tokens=1, logprobs=0).choices[0]
    banned_id = tokenize(GEMMA, greedy.text)[-1]
    banned = complete(client, temperature=0, max_tokens=1,
                      logit_bias={str(banned_id): -100}).choices[0]
    assert banned.text != greedy.text
    forced = complete(client, temperature=1.0, max_tokens=3, seed=4,
                      logit_bias={str(banned_id): 100}).choices[0]
    assert forced.text == greedy.text * 3


def test_user_is_accepted_and_does_not_change_output(client):
    plain = complete(client, temperature=0, max_tokens=6).choices[0].text
    tagged = complete(client, temperature=0, max_tokens=6, user="alice").choices[0].text
    assert plain == tagged


def test_stream_yields_text_pieces_ending_with_usage_and_done(client, local_base_url):
    stream = complete(client, stream=True, seed=21, stream_options={"include_usage": True})
    pieces, finish, usage = [], None, None
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            pieces.append(choice.text)
            finish = choice.finish_reason or finish
    whole = complete(client, seed=21).choices[0]
    assert "".join(pieces) == whole.text
    assert finish == whole.finish_reason
    assert usage.completion_tokens == 24 or finish == "stop"
    raw = httpx2.post(f"{local_base_url}/completions", json={
        "model": GEMMA, "prompt": "Hi", "max_tokens": 2, "stream": True}).text
    assert raw.rstrip().endswith("data: [DONE]")


def test_an_abandoned_stream_frees_the_model(local_base_url):
    impatient = openai.OpenAI(base_url=local_base_url, api_key="x", max_retries=0, timeout=30)
    endless = {"1": -100, "106": -100}  # Gemma's end tokens banned: would run ~2 minutes
    stream = impatient.completions.create(model=GEMMA, prompt=STORY, max_tokens=3000,
                                          stream=True, logit_bias=endless)
    for index, _chunk in enumerate(stream):
        if index == 2:
            break
    stream.close()
    # Times out (30 s) if the abandoned generation still held the model's lock.
    reply = impatient.completions.create(model=GEMMA, prompt="Hi", max_tokens=2)
    assert reply.usage.completion_tokens >= 1
