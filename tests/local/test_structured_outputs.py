"""Today's chat dialect on the local server, through the real SDK: structured outputs held to
their schema by grammar-constrained decoding, JSON mode, max_completion_tokens, and the 400s
OpenAI gives a model that does not reason."""

from __future__ import annotations

import json
import math

import jsonschema
import openai
import pytest

from playground.local.served_models import DEFAULT_MODEL

SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "maxLength": 16},
        "population": {"type": "integer"},
        "size": {"type": "string", "enum": ["village", "town", "city"]},
    },
    "required": ["city", "population", "size"],
    "additionalProperties": False,
}
ASK = [{"role": "user", "content": "Describe a town you like."}]
# Enough for the longest reply the schema allows, so every reply ends by itself.
ENOUGH = 80


def _schema_format(schema=SCHEMA, *, strict=True) -> dict:
    return {"type": "json_schema",
            "json_schema": {"name": "town", "schema": schema, "strict": strict}}


def _refusal(call) -> dict:
    with pytest.raises(openai.BadRequestError) as caught:
        call()
    return caught.value.body


def test_json_schema_replies_conform_for_twenty_seeds_out_of_twenty(client):
    replies = []
    for seed in range(20):
        answer = client.chat.completions.create(
            model=DEFAULT_MODEL, messages=ASK, response_format=_schema_format(),
            temperature=1, seed=seed, max_completion_tokens=ENOUGH)
        choice = answer.choices[0]
        assert choice.finish_reason == "stop", choice.message.content
        value = json.loads(choice.message.content)
        jsonschema.validate(value, SCHEMA)
        replies.append(choice.message.content)
    assert len(set(replies)) >= 10  # the seeds sampled, not one forced reply


def test_json_schema_holds_when_streamed_and_for_every_choice(client):
    stream = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format=_schema_format(), n=2, seed=7,
        max_completion_tokens=ENOUGH, stream=True)
    texts = ["", ""]
    for chunk in stream:
        for choice in chunk.choices:
            texts[choice.index] += choice.delta.content or ""
    for text in texts:
        jsonschema.validate(json.loads(text), SCHEMA)


def test_logprobs_under_a_schema_describe_the_constrained_distribution(client):
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format=_schema_format(), seed=2,
        logprobs=True, top_logprobs=5, max_completion_tokens=6)
    steps = answer.choices[0].logprobs.content
    first = steps[0]
    assert first.token.startswith("{")
    assert first.top_logprobs and all(alt.token.startswith("{") for alt in first.top_logprobs)
    for step in steps:
        values = [step.logprob] + [alt.logprob for alt in step.top_logprobs]
        assert all(math.isfinite(value) and value <= 0 for value in values)
        assert sum(math.exp(alt.logprob) for alt in step.top_logprobs) <= 1 + 1e-6


def test_json_mode_gives_a_json_object(client):
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, response_format={"type": "json_object"}, seed=3, temperature=0,
        messages=[{"role": "user", "content": "Reply in JSON: the name and age of a cat."}],
        max_completion_tokens=200)
    assert answer.choices[0].finish_reason == "stop"
    assert isinstance(json.loads(answer.choices[0].message.content), dict)


def test_json_mode_needs_the_messages_to_mention_json(client):
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format={"type": "json_object"}))
    assert body["param"] == "messages"
    assert "must contain the word 'json'" in body["message"]


def test_a_strict_schema_must_close_its_objects(client):
    loose = {**SCHEMA, "additionalProperties": True}
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format=_schema_format(loose)))
    assert body["param"] == "response_format"
    assert body["message"] == ("Invalid schema for response_format 'town': In context=(), "
                               "'additionalProperties' is required to be supplied and to be false.")


def test_a_strict_schema_must_require_every_property_at_every_depth(client):
    nested = {**SCHEMA, "properties": {**SCHEMA["properties"], "mayor": {
        "type": "object", "properties": {"name": {"type": "string"}},
        "additionalProperties": False}}, "required": [*SCHEMA["required"], "mayor"]}
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format=_schema_format(nested)))
    assert body["message"].endswith(
        "In context=('properties', 'mayor'), 'required' is required to be supplied and to be "
        "an array including every key in properties. Missing 'name'.")


def test_a_schema_the_grammar_cannot_enforce_is_refused_with_the_way_out(client):
    bounded = {**SCHEMA, "properties": {**SCHEMA["properties"],
                                        "population": {"type": "integer", "minimum": 0}}}
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format=_schema_format(bounded)))
    assert body["param"] == "response_format"
    assert "'minimum'" in body["message"] and "remove it" in body["message"]


def test_an_unknown_response_format_type_is_refused(client):
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, response_format={"type": "xml"}))
    assert body["param"] == "response_format"
    assert "xml" in body["message"]


@pytest.mark.parametrize("name, value", [("reasoning_effort", "low"), ("verbosity", "high")])
def test_reasoning_parameters_get_openais_answer_for_a_model_that_does_not_reason(
        client, name, value):
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, **{name: value}))
    assert body == {"message": f"Unsupported parameter: '{name}' is not supported with this "
                               "model.", "type": "invalid_request_error", "param": name,
                    "code": "unsupported_parameter"}


def test_max_completion_tokens_bounds_the_reply(client):
    answer = client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, seed=1, max_completion_tokens=5)
    assert answer.usage.completion_tokens == 5
    assert answer.choices[0].finish_reason == "length"


def test_max_tokens_and_max_completion_tokens_together_are_refused(client):
    body = _refusal(lambda: client.chat.completions.create(
        model=DEFAULT_MODEL, messages=ASK, max_tokens=5, max_completion_tokens=5))
    assert body["param"] == "max_tokens"
    assert body["code"] == "invalid_parameter_combination"
