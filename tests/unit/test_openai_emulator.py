"""The OpenAI emulator, through the real ``openai`` SDK: what today's API accepts and refuses."""

from __future__ import annotations

import json

import openai
import pytest

from openai_emulator import CHAT_MODEL_ON_COMPLETIONS, REASONING_TOKENS, OpenAIEmulator

MESSAGES = [{"role": "user", "content": "What is the capital of France?"}]
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"},
                                           "population": {"type": "integer"}},
          "required": ["city", "population"], "additionalProperties": False}


@pytest.fixture(scope="module")
def emulator():
    server = OpenAIEmulator()
    with server:
        yield server


@pytest.fixture
def client(emulator) -> openai.OpenAI:
    emulator.reset()
    return openai.OpenAI(base_url=emulator.base_url, api_key="sk-test", max_retries=0, timeout=5)


def chat(client, model: str, **kwargs):
    return client.chat.completions.create(model=model, messages=kwargs.pop("messages", MESSAGES),
                                          **kwargs)


def refusal(client, model: str, **kwargs) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        chat(client, model, **kwargs)
    assert caught.value.status_code == 400
    error = caught.value.body
    assert error["type"] == "invalid_request_error"
    return error


def test_models_are_listed_and_retrieved(client):
    assert [m.id for m in client.models.list()] == ["o4-mini", "gpt-5", "gpt-5.1", "gpt-4.1"]
    assert client.models.retrieve("gpt-5").id == "gpt-5"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-3.5-turbo-instruct")


def test_a_reasoning_model_refuses_max_tokens_and_names_the_replacement(client):
    error = refusal(client, "o4-mini", max_tokens=50)
    assert error == {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
                   "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}


@pytest.mark.parametrize("name, value", [("temperature", 0.2), ("top_p", 0.5)])
def test_a_reasoning_model_takes_only_the_default_sampling_value(client, name, value):
    error = refusal(client, "gpt-5", **{name: value})
    assert (error["param"], error["code"]) == (name, "unsupported_value")
    assert "Only the default (1) value is supported." in error["message"]
    assert chat(client, "gpt-5", **{name: 1}).choices[0].message.content


@pytest.mark.parametrize("kwargs", [{"presence_penalty": 0.5}, {"frequency_penalty": 1},
                                    {"logprobs": True}])
def test_a_reasoning_model_refuses_penalties_and_logprobs(client, kwargs):
    error = refusal(client, "o4-mini", **kwargs)
    assert (error["param"], error["code"]) == (*kwargs, "unsupported_parameter")


def test_reasoning_effort_outside_a_models_values_is_an_unsupported_value(client):
    error = refusal(client, "o4-mini", reasoning_effort="minimal")
    assert (error["param"], error["code"]) == ("reasoning_effort", "unsupported_value")
    assert "Supported values are: 'low', 'medium', and 'high'." in error["message"]


def test_gpt_5_1_samples_while_its_effort_is_none_by_default(client):
    reply = chat(client, "gpt-5.1", temperature=0.3, top_p=0.9, presence_penalty=0.5,
                 max_completion_tokens=20)
    assert reply.usage.completion_tokens_details.reasoning_tokens == 0
    error = refusal(client, "gpt-5.1", temperature=0.3, reasoning_effort="low")
    assert error["param"] == "temperature"


def test_a_non_reasoning_model_refuses_reasoning_effort_and_verbosity(client):
    for name, value in (("reasoning_effort", "low"), ("verbosity", "low")):
        error = refusal(client, "gpt-4.1", **{name: value})
        assert (error["param"], error["code"]) == (name, "unsupported_parameter")
    reply = chat(client, "gpt-4.1", max_tokens=3, temperature=0.5, logprobs=True)
    assert reply.choices[0].message.content == "Paris is the"
    assert reply.choices[0].finish_reason == "length"


def test_reasoning_tokens_are_counted_in_completion_tokens_and_within_the_limit(client):
    reply = chat(client, "o4-mini", reasoning_effort="low", max_completion_tokens=100)
    usage = reply.usage
    words = len(reply.choices[0].message.content.split())
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS["low"]
    assert usage.completion_tokens == REASONING_TOKENS["low"] + words
    starved = chat(client, "o4-mini", max_completion_tokens=10)  # medium effort: 64
    assert starved.choices[0].message.content == ""
    assert starved.choices[0].finish_reason == "length"
    assert starved.usage.completion_tokens_details.reasoning_tokens == 10


def test_streaming_ends_with_the_usage_chunk_when_asked(client):
    chunks = list(chat(client, "gpt-5", stream=True, stream_options={"include_usage": True}))
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "Paris is the capital of France"
    assert [c.usage is None for c in chunks].count(False) == 1
    assert chunks[-1].choices == []
    assert chunks[-1].usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS["medium"]


def test_json_schema_answers_an_instance_of_the_schema(client):
    reply = chat(client, "gpt-4.1", response_format={
        "type": "json_schema",
        "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}})
    value = json.loads(reply.choices[0].message.content)
    assert set(value) == {"city", "population"} and isinstance(value["population"], int)


def test_json_mode_needs_the_word_json_in_the_messages(client):
    error = refusal(client, "gpt-4.1", response_format={"type": "json_object"})
    assert error["param"] == "messages"
    reply = chat(client, "gpt-4.1", response_format={"type": "json_object"},
                 messages=[{"role": "user", "content": "Answer in JSON."}])
    assert isinstance(json.loads(reply.choices[0].message.content), dict)


def test_completions_is_gone_for_every_model(client):
    with pytest.raises(openai.NotFoundError) as caught:
        client.completions.create(model="gpt-4.1", prompt="Once upon a time")
    assert caught.value.body["message"] == CHAT_MODEL_ON_COMPLETIONS


def test_every_request_is_recorded_with_its_body(client, emulator):
    refusal(client, "o4-mini", max_tokens=5)
    chat(client, "o4-mini", max_completion_tokens=500)
    posts = emulator.posts()
    assert [("max_tokens" in p, p.get("max_completion_tokens")) for p in posts] == [
        (True, None), (False, 500)]
    assert [r.behaviour for r in emulator.requests] == ["400", "200"]
