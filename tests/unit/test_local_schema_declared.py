"""The local server's request schema takes its ranges from the one parameter declaration
(as it holds on the local server, up to 100 alternatives per position):
what the playground refuses before sending, the server refuses too, and nothing more."""

from __future__ import annotations

import pydantic
import pytest

from playground.local.schema import ChatRequest, CompletionRequest
from playground.params import LOCAL_SERVER, specs_for

MESSAGES = [{"role": "user", "content": "Hi"}]
REQUESTS = {"chat": (ChatRequest, {"messages": MESSAGES}),
            "completions": (CompletionRequest, {"prompt": "Hi"})}


def _ranged(endpoint: str):
    return [(endpoint, spec) for spec in specs_for(endpoint, LOCAL_SERVER).values()
            if spec.value_type in ("int", "float") and spec.maximum is not None]


CASES = _ranged("chat") + _ranged("completions")


def _build(endpoint: str, name: str, value):
    model, body = REQUESTS[endpoint]
    extra = {"logprobs": True} if name == "top_logprobs" else {}
    return model.model_validate({"model": "m", **body, **extra, name: value})


@pytest.mark.parametrize("endpoint, spec", CASES, ids=[f"{e}-{s.name}" for e, s in CASES])
def test_the_declared_bounds_are_accepted(endpoint, spec):
    for value in (spec.minimum, spec.maximum):
        assert getattr(_build(endpoint, spec.name, value), spec.name) == value


@pytest.mark.parametrize("endpoint, spec", CASES, ids=[f"{e}-{s.name}" for e, s in CASES])
def test_a_value_past_the_declared_range_is_refused(endpoint, spec):
    step = 1 if spec.value_type == "int" else 0.5
    for value in (spec.minimum - step, spec.maximum + step):
        with pytest.raises(pydantic.ValidationError) as refused:
            _build(endpoint, spec.name, value)
        assert refused.value.errors()[0]["loc"][0] == spec.name


def test_logit_bias_values_follow_the_declaration():
    bias = specs_for("chat")["logit_bias"]
    assert _build("chat", "logit_bias", {"5": bias.maximum}).logit_bias == {"5": bias.maximum}
    with pytest.raises(pydantic.ValidationError):
        _build("chat", "logit_bias", {"5": bias.maximum + 1})
