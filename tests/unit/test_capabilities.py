"""What a model accepts before sending: OpenAI's families, the local models, learned refusals."""

from __future__ import annotations

import openai
import pytest

from openai_emulator import OpenAIEmulator
from playground import capabilities, errors, refusals
from playground.capabilities import Capabilities, for_model, profile_for
from playground.connection import LOCAL_NAME, Connection, preset
from playground.refusals import Learned, RefusalStore

OPENAI = preset("OpenAI")
LOCAL = preset(LOCAL_NAME)
GATEWAY = Connection("Gateway", base_url="http://127.0.0.1:9/v1")


@pytest.fixture
def store(tmp_path) -> RefusalStore:
    return RefusalStore(tmp_path / "history.sqlite3")


@pytest.mark.parametrize("model, family", [
    ("o4-mini", "o-series"), ("o3", "o-series"), ("gpt-5", "gpt-5"), ("gpt-5-mini", "gpt-5"),
    ("gpt-5.1", "gpt-5.1 and later"), ("gpt-5.2-pro", "gpt-5.1 and later"),
    ("gpt-4.1", "gpt-4.1 and gpt-4o"), ("gpt-4o-mini", "gpt-4.1 and gpt-4o"),
    ("openai/gpt-5", "gpt-5"), ("gpt-5-chat-latest", "gpt-5 chat (does not reason)"),
])
def test_a_models_id_names_its_family_on_any_connection(model, family):
    assert profile_for(OPENAI, model).family == family
    assert profile_for(GATEWAY, model).family == family


def test_unknown_models_have_no_profile_and_local_ones_the_local_profile():
    assert profile_for(GATEWAY, "llama3.2") is None
    assert profile_for(LOCAL, "smollm2") is capabilities.LOCAL


def test_a_reasoning_model_refuses_max_tokens_and_names_max_completion_tokens():
    refused = Capabilities("o4-mini", capabilities.O_SERIES).refusal("max_tokens", {})
    assert "max_completion_tokens" in refused.reason
    assert refused.way_forward.startswith("Set Max completion tokens instead")


def test_o_series_sampling_has_no_way_through_effort_none_but_gpt_5_1_has():
    o4 = Capabilities("o4-mini", capabilities.O_SERIES).refusal("temperature", {})
    assert 'reasoning effort "medium"' in o4.reason
    assert "does not reason (gpt-4.1)" in o4.way_forward
    gpt51 = Capabilities("gpt-5.1", capabilities.GPT_5_1)
    assert gpt51.refusal("temperature", {}) is None  # its default effort is "none"
    refused = gpt51.refusal("temperature", {"reasoning_effort": "low"})
    assert refused.way_forward == 'Set reasoning effort to "none" to use it.'


@pytest.mark.parametrize("name", ["top_p", "presence_penalty", "frequency_penalty", "logprobs",
                                  "top_logprobs", "logit_bias"])
def test_reasoning_refuses_every_sampling_parameter(name):
    assert Capabilities("gpt-5", capabilities.GPT_5).refusal(name, {}) is not None


def test_models_that_do_not_reason_refuse_effort_and_verbosity():
    for conn, model in ((OPENAI, "gpt-4.1"), (LOCAL, "smollm2")):
        accepts = Capabilities(model, profile_for(conn, model))
        assert set(accepts.refusals(["reasoning_effort", "verbosity", "max_tokens",
                                     "temperature"], {})) == {"reasoning_effort", "verbosity"}


def test_verbosity_is_for_the_gpt_5_family_only():
    assert Capabilities("o3", capabilities.O_SERIES).refusal("verbosity", {}) is not None
    assert Capabilities("gpt-5", capabilities.GPT_5).refusal("verbosity", {}) is None


def test_reasoning_effort_offers_the_models_own_efforts():
    assert Capabilities("o3", capabilities.O_SERIES).choices("reasoning_effort") == (
        "low", "medium", "high")
    assert Capabilities("x", None).choices("reasoning_effort") == (
        "none", "minimal", "low", "medium", "high")


def test_legacy_completions_only_where_known_to_be_served():
    assert not Capabilities("gpt-4.1", capabilities.GPT_4).legacy_completions
    assert "2026-09-28" in Capabilities("gpt-4.1", capabilities.GPT_4).completions_reason()
    assert Capabilities("smollm2", capabilities.LOCAL).legacy_completions
    assert Capabilities("llama3.2", None).legacy_completions


def test_a_refusal_the_server_answered_is_remembered_per_connection_and_model(store):
    error = _refusal_from_emulator(temperature=0.5)
    assert (error.param, error.code) == ("temperature", "unsupported_value")
    learned = refusals.learn(GATEWAY, "llama3.2", "chat", {"temperature": 0.5}, error, store)
    assert learned.value == 0.5 and learned.code == "unsupported_value"
    accepts = for_model(GATEWAY, "llama3.2", store)
    refused = accepts.refusal("temperature", {})
    assert refused.learned and "Unsupported value" in refused.reason
    assert for_model(GATEWAY, "other-model", store).refusal("temperature", {}) is None
    assert for_model(OPENAI, "llama3.2", store).refusal("temperature", {}) is None
    store.forget(GATEWAY, "llama3.2")
    assert for_model(GATEWAY, "llama3.2", store).learned == []


def test_a_refusal_holds_at_the_reasoning_effort_it_was_met(store):
    store.record(GATEWAY, "r1", Learned("temperature", "unsupported_value", "no", effort="high"))
    accepts = for_model(GATEWAY, "r1", store)
    assert accepts.refusal("temperature", {"reasoning_effort": "high"}) is not None
    assert accepts.refusal("temperature", {"reasoning_effort": "none"}) is None


def test_a_refused_choice_only_drops_that_value(store):
    store.record(GATEWAY, "r1", Learned("reasoning_effort", "unsupported_value", "no",
                                        value="minimal"))
    accepts = for_model(GATEWAY, "r1", store)
    assert "minimal" not in accepts.choices("reasoning_effort")
    assert accepts.refusal("reasoning_effort", {}) is None


def test_a_chat_model_refused_on_completions_is_remembered(store):
    error = errors.ModelNotFound("Not found (404): This is a chat model and not supported in "
                                 "the v1/completions endpoint. Did you mean to use "
                                 "v1/chat/completions?", status=404)
    refusals.learn(GATEWAY, "chatty", "completions", {"prompt": "x"}, error, store)
    accepts = for_model(GATEWAY, "chatty", store)
    assert not accepts.legacy_completions
    assert "v1/chat/completions" in accepts.completions_reason()


def test_errors_that_name_no_refusal_teach_nothing(store):
    for error in (errors.BadRequest("x", param="temperature", code="invalid_value"),
                  errors.BadRequest("x", code="unsupported_parameter"),
                  errors.RateLimited("slow down")):
        assert refusals.learn(GATEWAY, "m", "chat", {}, error, store) is None
    assert for_model(GATEWAY, "m", store).learned == []


def _refusal_from_emulator(**kwargs) -> errors.PlaygroundError:
    """The error a real refusal becomes: o4-mini on the emulator, through the SDK."""
    with OpenAIEmulator() as base_url:
        client = openai.OpenAI(base_url=base_url, api_key="sk-test", max_retries=0)
        try:
            client.chat.completions.create(model="o4-mini", messages=[
                {"role": "user", "content": "Hi"}], **kwargs)
        except openai.APIError as exc:
            return errors.from_openai(exc)
    raise AssertionError("the emulator accepted the request")


def test_the_token_limit_comes_from_the_listed_context_length_or_the_profile():
    local = Capabilities("smollm2-135m-instruct", profile_for(LOCAL, "smollm2-135m-instruct"))
    assert local.limits(8192).tokens == 8192 and local.limits().tokens is None

    def tokens(model, profile):
        return Capabilities(model, profile).limits().tokens

    assert tokens("gpt-4.1-mini", profile_for(OPENAI, "gpt-4.1-mini")) == 32_768
    assert tokens("gpt-4o", profile_for(OPENAI, "openai/gpt-4o")) == 16_384
    assert tokens("o4-mini", capabilities.O_SERIES) == 100_000
    assert tokens("my-model", None) is None
    assert Capabilities("my-model", None).limits(4096).tokens == 4096
    assert tokens("gpt-4", capabilities.GPT_4) is None


def test_only_the_local_server_takes_the_larger_ranges():
    local = Capabilities("smollm2-135m-instruct", profile_for(LOCAL, "smollm2-135m-instruct"))
    assert local.limits(8192).local_server
    assert not Capabilities("gpt-4.1", profile_for(OPENAI, "gpt-4.1")).limits().local_server
    assert not Capabilities("llama3.2", profile_for(GATEWAY, "llama3.2")).limits(8192).local_server
