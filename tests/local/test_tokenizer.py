"""Token text to ids through an endpoint's POST /tokenize, as the logit_bias editor does it."""

from __future__ import annotations

import pytest

from fault_server import FaultServer
from playground import errors, tokens
from playground.connection import Connection

GEMMA = "gemma-3-270m"  # its tokenizer puts a start-of-text token before any text
SMOL = "smollm2-135m-instruct"  # its tokenizer adds nothing


@pytest.fixture(scope="module")
def local(local_base_url) -> Connection:
    return Connection("Local", base_url=local_base_url, max_retries=0, timeout=60)


@pytest.mark.parametrize("model", [GEMMA, SMOL])
def test_ids_are_those_the_model_samples_for_the_text(local, model, tokenize):
    ids = tokens.tokenizer(local, model)(" hello")
    assert len(ids) == 1
    assert ids[0] == tokenize(model, " hello")[-1]


def test_a_ban_by_text_keeps_the_word_out_of_greedy_output(local, client):
    prompt = "The opposite of goodbye is"
    parsed = tokens.parse_logit_bias('" hello" -100\n" Hello" -100')
    bias = tokens.resolve_logit_bias(parsed, tokens.tokenizer(local, GEMMA)).bias
    free = client.completions.create(model=GEMMA, prompt=prompt, max_tokens=3, temperature=0)
    banned = client.completions.create(model=GEMMA, prompt=prompt, max_tokens=3, temperature=0,
                                       logit_bias=bias)
    assert "hello" in free.choices[0].text.lower()
    assert "hello" not in banned.choices[0].text.lower()


def test_an_unknown_model_is_the_servers_message(local):
    with pytest.raises(errors.ModelNotFound, match="no-such-model"):
        tokens.tokenizer(local, "no-such-model")("hi")


def test_an_endpoint_without_tokenize_is_a_clear_problem():
    with FaultServer() as base_url:
        conn = Connection("Plain", base_url=base_url, max_retries=0, timeout=10)
        parsed = tokens.parse_logit_bias("hello -100")
        resolved = tokens.resolve_logit_bias(parsed, tokens.tokenizer(conn, "m"))
    (problem,) = resolved.problems
    assert "404" in problem and "take token ids only" in problem
