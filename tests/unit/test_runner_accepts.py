"""``build_request`` given what the model accepts: max_tokens goes where the model wants it."""

from __future__ import annotations

from playground import capabilities
from playground.capabilities import Capabilities
from playground.runner import build_request

MESSAGES = [{"role": "user", "content": "Hi"}]
O4_MINI = Capabilities("o4-mini", capabilities.O_SERIES)
GPT_41 = Capabilities("gpt-4.1", capabilities.GPT_4)


def chat(values: dict, accepts=None) -> dict:
    return build_request("chat", "o4-mini", values, messages=MESSAGES, accepts=accepts)


def test_a_reasoning_model_gets_max_completion_tokens_instead_of_max_tokens():
    request = chat({"max_tokens": 300, "reasoning_effort": "low"}, O4_MINI)
    assert request["max_completion_tokens"] == 300 and "max_tokens" not in request
    assert request["reasoning_effort"] == "low"


def test_max_completion_tokens_set_too_wins_and_max_tokens_is_sent_as_it_is():
    request = chat({"max_tokens": 300, "max_completion_tokens": 800}, O4_MINI)
    assert (request["max_tokens"], request["max_completion_tokens"]) == (300, 800)


def test_models_that_take_max_tokens_and_unknown_ones_keep_it():
    assert chat({"max_tokens": 300}, GPT_41)["max_tokens"] == 300
    assert chat({"max_tokens": 300}, Capabilities("llama3.2"))["max_tokens"] == 300
    assert chat({"max_tokens": 300})["max_tokens"] == 300


def test_new_parameters_are_sent_only_when_set():
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    request = chat({"verbosity": "low", "response_format": schema, "reasoning_effort": None})
    assert request["verbosity"] == "low" and request["response_format"] == schema
    assert "reasoning_effort" not in request
