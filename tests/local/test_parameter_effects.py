"""Each sampling parameter does on the local models what it does at OpenAI.

Fixed prompt, fixed seeds: every test compares two settings side by side.
"""

from __future__ import annotations

import concurrent.futures

GEMMA = "gemma-3-270m"
SMOL = "smollm2-135m-instruct"
PROMPT = "My favourite things are"
LOOPING = "one two one two one two one two one two"


def texts(client, n=4, **params):
    arguments = {"model": GEMMA, "prompt": PROMPT, "max_tokens": 20, "n": n, "seed": 42, **params}
    return [c.text for c in client.completions.create(**arguments).choices]


def mean_logprob(client, **params):
    arguments = {"model": GEMMA, "prompt": PROMPT, "max_tokens": 20, "n": 4, "seed": 42,
                 "logprobs": 0, **params}
    values = [lp for c in client.completions.create(**arguments).choices
              for lp in c.logprobs.token_logprobs]
    return sum(values) / len(values)


def distinct_ratio(text: str) -> float:
    words = text.split()
    return len(set(words)) / max(len(words), 1)


def test_temperature_zero_is_greedy_whatever_the_seed(client):
    greedy = texts(client, temperature=0, n=2)
    assert greedy[0] == greedy[1]
    assert texts(client, temperature=0, seed=1, n=1) == greedy[:1]


def test_higher_temperature_picks_less_likely_tokens(client):
    assert mean_logprob(client, temperature=0.3) > mean_logprob(client, temperature=1.8) + 0.5
    assert len(set(texts(client, temperature=1.8))) == 4


def test_tiny_top_p_is_greedy_and_full_top_p_samples(client):
    greedy = texts(client, temperature=0, n=1)[0]
    assert texts(client, top_p=0.001, n=3) == [greedy] * 3
    assert len(set(texts(client, top_p=1.0))) > 1


def test_lower_top_p_keeps_likelier_tokens(client):
    assert mean_logprob(client, top_p=0.3) > mean_logprob(client, top_p=1.0)


def test_frequency_penalty_curbs_repetition_and_negative_encourages_it(client):
    def looping(penalty):
        return texts(client, prompt=LOOPING, temperature=0, n=1, max_tokens=40,
                     frequency_penalty=penalty)[0]

    assert distinct_ratio(looping(2.0)) > distinct_ratio(looping(0.0))
    assert distinct_ratio(looping(-2.0)) <= distinct_ratio(looping(0.0))


def test_presence_penalty_brings_new_tokens(client):
    def looping(penalty):
        return texts(client, prompt=LOOPING, temperature=0, n=1, max_tokens=40,
                     presence_penalty=penalty)[0]

    assert distinct_ratio(looping(2.0)) > distinct_ratio(looping(0.0))


def test_zero_penalties_change_nothing(client):
    assert texts(client, presence_penalty=0, frequency_penalty=0) == texts(client)


def test_concurrent_requests_queue_per_model_and_stay_reproducible(client):
    sequential = [texts(client, seed=s, n=1, max_tokens=12)[0] for s in range(4)]
    with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
        parallel = list(pool.map(lambda s: texts(client, seed=s, n=1, max_tokens=12)[0], range(4)))
        chat = pool.submit(client.chat.completions.create, model=SMOL, max_tokens=8, seed=3,
                           messages=[{"role": "user", "content": "Hi"}])
        chat_again = pool.submit(client.chat.completions.create, model=SMOL, max_tokens=8, seed=3,
                                 messages=[{"role": "user", "content": "Hi"}])
    assert parallel == sequential
    assert (chat.result().choices[0].message.content
            == chat_again.result().choices[0].message.content)
