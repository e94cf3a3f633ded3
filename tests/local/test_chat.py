"""POST /v1/chat/completions on the local server through the real SDK."""

from __future__ import annotations

import math

import httpx2

SMOL = "smollm2-135m-instruct"
GEMMA = "gemma-3-270m"

# Ordinary questions a person might try first; the default model must answer them.
EVERYDAY_PROMPTS = [
    "What is the capital of France?",
    "Give me three tips for better sleep.",
    "Write a haiku about autumn.",
    "Explain what a noun is.",
    "How do I boil an egg?",
    "What is 2 + 2?",
    "Name three colours of the rainbow.",
    "Why is the sky blue?",
    "Suggest a name for a pet cat.",
    "What does a teacher do?",
    "Tell me a short joke.",
    "How many days are in a week?",
    "What is water made of?",
    "Translate 'thank you' into Spanish.",
    "Describe a sunny day in one sentence.",
    "What is the opposite of hot?",
    "Give an example of a fruit.",
    "What is Python used for?",
    "How can I stay healthy?",
    "Write one sentence about the ocean.",
]


def chat(client, content="Name a colour.", **params):
    arguments = {"model": SMOL, "messages": [{"role": "user", "content": content}],
                 "max_tokens": 24, **params}
    return client.chat.completions.create(**arguments)


def test_default_model_answers_everyday_prompts(client):
    replies = [chat(client, prompt, max_tokens=48, seed=i).choices[0].message.content
               for i, prompt in enumerate(EVERYDAY_PROMPTS)]
    non_empty = [r for r in replies if r.strip()]
    assert len(non_empty) >= 18, replies


def test_roles_shape_the_reply(client):
    history = [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Who won the world series in 2020?"},
        {"role": "assistant", "content": "The Los Angeles Dodgers won the World Series in 2020."},
        {"role": "user", "content": "Where was it played?"},
    ]
    with_context = client.chat.completions.create(model=SMOL, messages=history, temperature=0,
                                                  max_tokens=30)
    alone = client.chat.completions.create(model=SMOL, messages=history[-1:], temperature=0,
                                           max_tokens=30)
    assert with_context.choices[0].message.role == "assistant"
    assert with_context.choices[0].message.content != alone.choices[0].message.content
    assert with_context.usage.prompt_tokens > alone.usage.prompt_tokens


def test_chat_logprobs_are_real_values(client):
    choice = chat(client, logprobs=True, top_logprobs=3, seed=4).choices[0]
    content = choice.logprobs.content
    assert content, "chat logprobs must not be empty"
    assert "".join(entry.token for entry in content) == choice.message.content
    for entry in content:
        assert entry.logprob <= 0
        assert bytes(entry.bytes).decode("utf-8", errors="replace") == entry.token
        assert len(entry.top_logprobs) == 3
        best = entry.top_logprobs[0].logprob
        assert best >= entry.logprob - 1e-6
        assert sum(math.exp(alt.logprob) for alt in entry.top_logprobs) <= 1.0001


def test_chat_logprobs_without_top_give_empty_alternatives(client):
    content = chat(client, logprobs=True, seed=4, max_tokens=5).choices[0].logprobs.content
    assert content and all(entry.top_logprobs == [] for entry in content)


def test_chat_n_and_seed(client):
    first = chat(client, n=3, seed=7, temperature=1.2)
    again = chat(client, n=3, seed=7, temperature=1.2)
    texts = [c.message.content for c in first.choices]
    assert [c.index for c in first.choices] == [0, 1, 2]
    assert texts == [c.message.content for c in again.choices]
    assert len(set(texts)) >= 2


def test_chat_stop_and_length(client):
    free = chat(client, temperature=0, max_tokens=40).choices[0].message.content
    word = free.split()[1]
    cut = chat(client, temperature=0, max_tokens=40, stop=[word]).choices[0]
    assert cut.message.content == free[:free.index(word)]
    assert cut.finish_reason == "stop"
    short = chat(client, "Write a long story about dragons.", temperature=0,
                 max_tokens=4).choices[0]
    assert short.finish_reason == "length"


def test_chat_without_max_tokens_ends_by_itself(client):
    response = client.chat.completions.create(
        model=SMOL, messages=[{"role": "user", "content": "Say hello."}], temperature=0)
    assert response.choices[0].finish_reason == "stop"
    assert response.usage.completion_tokens < 200


def test_chat_stream_with_usage_matches_the_whole_reply(client):
    stream = chat(client, stream=True, seed=12, stream_options={"include_usage": True},
                  logprobs=True)
    roles, pieces, finish, usage, logprob_tokens = [], [], None, None, []
    for chunk in stream:
        if chunk.usage:
            usage = chunk.usage
        for choice in chunk.choices:
            roles += [choice.delta.role] if choice.delta.role else []
            pieces.append(choice.delta.content or "")
            finish = choice.finish_reason or finish
            if choice.logprobs and choice.logprobs.content:
                logprob_tokens += [entry.token for entry in choice.logprobs.content]
    whole = chat(client, seed=12).choices[0]
    assert roles == ["assistant"]
    assert "".join(pieces) == whole.message.content == "".join(logprob_tokens)
    assert finish == whole.finish_reason
    assert usage.prompt_tokens > 0 and usage.completion_tokens > 0


def test_chat_stream_without_usage_option_sends_no_usage(local_base_url):
    raw = httpx2.post(f"{local_base_url}/chat/completions", json={
        "model": SMOL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3,
        "stream": True}, timeout=60).text
    events = [line for line in raw.splitlines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]"
    assert '"usage"' not in raw


def test_base_model_chats_through_the_gemma_template(client):
    reply = client.chat.completions.create(
        model=GEMMA, messages=[{"role": "user", "content": "Hello!"}], max_tokens=12, seed=1)
    assert reply.usage.prompt_tokens > 3
    assert reply.choices[0].finish_reason in {"stop", "length"}


def test_chat_accepts_text_content_parts(client):
    response = client.chat.completions.create(
        model=SMOL, max_tokens=5, temperature=0,
        messages=[{"role": "user", "content": [{"type": "text", "text": "Name a colour."}]}])
    plain = chat(client, max_tokens=5, temperature=0)
    assert response.choices[0].message.content == plain.choices[0].message.content
