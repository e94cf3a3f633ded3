"""Check this model against the emulator of today's OpenAI API: one one-token request per
doubtful parameter, the findings remembered and applied from then on."""

from __future__ import annotations

import pytest

from openai_emulator import MODELS, EmulatedModel, OpenAIEmulator
from playground import capabilities, model_check
from playground.catalog import Price
from playground.connection import Connection
from playground.refusals import COMPLETIONS_ENDPOINT, RefusalStore

HOUSE_CHAT = EmulatedModel("house-chat")  # no built-in profile
# A gateway serving a model under an o-series name that takes every classic parameter.
LENIENT_O4 = EmulatedModel("o4-mini")


@pytest.fixture
def emulator():
    server = OpenAIEmulator(models=(*MODELS, HOUSE_CHAT))
    with server:
        yield server


@pytest.fixture
def store(tmp_path) -> RefusalStore:
    return RefusalStore(tmp_path / "h.sqlite3")


def connection(base_url: str) -> Connection:
    return Connection("Emulator", base_url=base_url, api_key="sk-test", max_retries=0)


def verdicts(findings) -> dict[str, str]:
    return {finding.param: finding.verdict for finding in findings}


def test_the_estimate_comes_from_the_price_table():
    priced = model_check.estimate("gpt-4.1", {"gpt-4.1": Price(2.0, 8.0)})
    assert priced.requests == len(model_check.PROBES)
    per_request = priced.tokens // priced.requests
    assert priced.cost == pytest.approx(
        priced.requests * ((per_request - 1) * 2.0 + 8.0) / 1e6)
    assert "11 requests of one token each" in priced.summary("gpt-4.1")
    assert model_check.estimate("house-chat", {}).cost is None
    assert "cost unknown" in model_check.estimate("house-chat", {}).summary("house-chat")


def test_every_request_asks_for_one_token(emulator, store):
    list(model_check.check(connection(emulator.base_url), "gpt-5", store))
    sent = emulator.requests
    assert len([r for r in sent if r.method == "POST"]) == len(model_check.PROBES)
    for received in sent:
        if received.method == "POST":
            limits = [received.body.get(name) for name in ("max_tokens", "max_completion_tokens")]
            assert [limit for limit in limits if limit is not None] == [1]


def test_a_model_that_does_not_reason(emulator, store):
    conn = connection(emulator.base_url)
    found = verdicts(model_check.check(conn, "gpt-4.1", store))
    assert found["reasoning_effort"] == found["verbosity"] == "refused"
    assert found[COMPLETIONS_ENDPOINT] == "refused"
    assert all(found[name] == "accepted" for name in (
        "max_tokens", "max_completion_tokens", "temperature", "top_p", "logprobs",
        "presence_penalty", "frequency_penalty", "response_format"))


def test_a_reasoning_model_gets_max_completion_tokens_and_refuses_sampling(emulator, store):
    conn = connection(emulator.base_url)
    found = verdicts(model_check.check(conn, "o4-mini", store))
    assert found["max_tokens"] == found["temperature"] == found["logprobs"] == "refused"
    assert found["max_completion_tokens"] == found["reasoning_effort"] == "accepted"
    bodies = emulator.posts()
    assert all("max_completion_tokens" in body for body in bodies if "temperature" in body)


def test_what_is_found_on_an_unknown_model_applies_from_then_on(emulator, store):
    conn = connection(emulator.base_url)
    before = capabilities.for_model(conn, "house-chat", store)
    assert before.refusal("reasoning_effort", {}) is None
    list(model_check.check(conn, "house-chat", store))
    after = capabilities.for_model(conn, "house-chat", store)
    refused = after.refusal("reasoning_effort", {"reasoning_effort": "high"})
    assert refused is not None and refused.learned
    assert after.refusal("temperature", {}) is None
    assert not after.legacy_completions


def test_an_acceptance_overrides_the_built_in_profile(store):
    with OpenAIEmulator(models=(LENIENT_O4,)) as base_url:
        conn = connection(base_url)
        assert capabilities.for_model(conn, "o4-mini", store).refusal("temperature", {})
        found = verdicts(model_check.check(conn, "o4-mini", store))
    assert found["temperature"] == "accepted" and found["reasoning_effort"] == "refused"
    assert capabilities.for_model(conn, "o4-mini", store).refusal("temperature", {}) is None


def test_a_newer_finding_replaces_the_older(emulator, store):
    conn = connection(emulator.base_url)
    list(model_check.check(conn, "gpt-4.1", store))
    store.accept(conn, "gpt-4.1", "reasoning_effort")
    assert "reasoning_effort" not in {item.param for item in store.for_model(conn, "gpt-4.1")}
    assert "reasoning_effort" in {item.param for item in store.accepted(conn, "gpt-4.1")}


def test_a_failure_that_is_no_refusal_stops_the_check(emulator, store):
    conn = connection(emulator.base_url)
    with pytest.raises(model_check.CheckFailed) as caught:
        list(model_check.check(conn, "no-such-model", store))
    assert caught.value.findings == [] and caught.value.error.kind == "ModelNotFound"
    assert "stopped after 0 of 11 requests" in caught.value.message
    assert store.for_model(conn, "no-such-model") == []
