"""Parameter specs and ``validate``: every message names the field and what is allowed."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground import params
from playground.params import MAX_LOGIT_BIAS_ENTRIES, MAX_STOP_SEQUENCES, FieldError, validate


def fields(errors: list[FieldError]) -> list[str]:
    return [error.field for error in errors]


def only_error(endpoint: str, values: dict) -> FieldError:
    errors = validate(endpoint, values)
    assert len(errors) == 1, errors
    return errors[0]


class TestSpecs:
    def test_each_endpoint_has_its_own_parameters(self):
        completions, chat = params.specs_for("completions"), params.specs_for("chat")
        assert {"suffix", "echo", "best_of"} <= set(completions)
        assert not {"suffix", "echo", "best_of"} & set(chat)
        assert "top_logprobs" in chat and "top_logprobs" not in completions
        # logprobs means a count on completions and a switch on chat
        assert completions["logprobs"].value_type == "int" and chat["logprobs"].value_type == "bool"

    def test_defaults_are_the_apis_own(self):
        spec = params.specs_for("completions")
        assert spec["temperature"].default == 1.0
        assert spec["top_p"].default == 1.0
        assert spec["n"].default == 1
        assert spec["presence_penalty"].default == 0.0
        assert spec["frequency_penalty"].default == 0.0
        assert spec["stream"].default is False

    def test_each_caller_gets_its_own_copy_of_the_table(self):
        mine = params.specs_for("chat")
        del mine["temperature"]
        assert "temperature" in params.specs_for("chat")
        assert params.specs_for("chat") == params.specs_for("chat")

    @pytest.mark.parametrize("endpoint", ["completions", "chat"])
    def test_every_default_passes_validation(self, endpoint):
        defaults = {name: s.default for name, s in params.specs_for(endpoint).items()}
        assert validate(endpoint, defaults) == []

    def test_range_text(self):
        assert params.spec("chat", "temperature").range_text() == "0 to 2"
        assert params.spec("chat", "top_p").range_text() == "0 to 1"
        assert params.spec("completions", "logprobs").range_text() == (
            "0 to 5 (100 on the local server)")


class TestRanges:
    @pytest.mark.parametrize("name, value, allowed", [
        ("temperature", 2.5, "0 to 2"),
        ("temperature", -0.1, "0 to 2"),
        ("top_p", 1.5, "0 to 1"),
        ("top_p", -1, "0 to 1"),
        ("presence_penalty", 2.1, "-2 to 2"),
        ("frequency_penalty", -3, "-2 to 2"),
        ("n", 0, "1 to 8"),
        ("n", 9, "1 to 8"),
        ("max_tokens", 0, "1 to 131072"),
        ("logprobs", 6, "0 to 5"),
        ("best_of", 21, "1 to 20"),
    ])
    def test_out_of_range_names_field_range_and_value(self, name, value, allowed):
        error = only_error("completions", {name: value})
        assert error.field == name
        assert error.message.startswith(name)
        assert allowed in error.message
        assert f"got {value}" in error.message

    @pytest.mark.parametrize("name, value", [
        ("temperature", 0), ("temperature", 2), ("top_p", 0), ("top_p", 1),
        ("presence_penalty", -2), ("frequency_penalty", 2), ("n", 8), ("max_tokens", 1),
        ("logprobs", 0), ("seed", 0),
    ])
    def test_bounds_are_inclusive(self, name, value):
        assert validate("completions", {name: value}) == []

    @pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "0.7", True, [1]])
    def test_a_float_must_be_a_finite_number(self, value):
        error = only_error("chat", {"temperature": value})
        assert error.field == "temperature"
        assert "must be a number, 0 to 2" in error.message

    @pytest.mark.parametrize("value", [1.5, "3", True, math.nan])
    def test_an_int_must_be_whole(self, value):
        error = only_error("chat", {"n": value})
        assert error.field == "n"
        assert "n must be a whole number, 1 to 8" in error.message

    def test_a_whole_float_counts_as_an_int(self):
        assert validate("chat", {"n": 2.0, "max_tokens": 64.0}) == []

    def test_bool_and_text_kinds(self):
        errors = validate("completions", {"stream": "yes", "echo": 1, "user": 42, "suffix": ["x"]})
        assert sorted(fields(errors)) == ["echo", "stream", "suffix", "user"]
        messages = {e.field: e.message for e in errors}
        assert messages["stream"] == "stream must be true or false."
        assert messages["user"] == "user must be text."


class TestStop:
    def test_a_single_string_or_a_list_is_fine(self):
        assert validate("chat", {"stop": "\n"}) == []
        assert validate("chat", {"stop": ["a"] * MAX_STOP_SEQUENCES}) == []

    def test_at_most_four_sequences(self):
        error = only_error("chat", {"stop": ["a", "b", "c", "d", "e"]})
        assert error.field == "stop"
        assert f"at most {MAX_STOP_SEQUENCES}" in error.message and "got 5" in error.message

    @pytest.mark.parametrize("value", [["a", 1], 3, {"a": 1}, [None]])
    def test_only_strings(self, value):
        error = only_error("chat", {"stop": value})
        assert error.message == "stop must be a string or a list of strings."

    @pytest.mark.parametrize("value", ["", ["x", ""]])
    def test_no_empty_sequences(self, value):
        assert "must not be empty" in only_error("chat", {"stop": value}).message


class TestLogitBias:
    def test_token_ids_to_numbers_in_range(self):
        assert validate("chat", {"logit_bias": {"50256": -100, 13: 100, "7": 0.5}}) == []

    @pytest.mark.parametrize("key", ["-1", "abc", "1.5", "", " 3"])
    def test_keys_must_be_token_ids(self, key):
        error = only_error("chat", {"logit_bias": {key: 1}})
        assert error.field == "logit_bias"
        assert "keys must be token ids" in error.message and repr(key) in error.message

    @pytest.mark.parametrize("key", ["²", "٣", "①"])
    def test_non_ascii_digits_are_not_token_ids(self, key):
        assert fields(validate("chat", {"logit_bias": {key: 1}})) == ["logit_bias"]

    @pytest.mark.parametrize("bias", [100.5, -101, math.nan, "5", None, True])
    def test_values_must_be_numbers_from_minus_100_to_100(self, bias):
        error = only_error("chat", {"logit_bias": {"42": bias}})
        assert error.field == "logit_bias"
        assert "token 42 must be -100 to 100" in error.message

    def test_must_be_a_mapping(self):
        error = only_error("chat", {"logit_bias": [(1, 2)]})
        assert "must map token ids to numbers from -100 to 100" in error.message

    def test_entry_limit(self):
        at_limit = {str(i): 1 for i in range(MAX_LOGIT_BIAS_ENTRIES)}
        assert validate("chat", {"logit_bias": at_limit}) == []
        error = only_error("chat", {"logit_bias": {**at_limit, "99999": 1}})
        assert f"at most {MAX_LOGIT_BIAS_ENTRIES}" in error.message


class TestCombinations:
    def test_best_of_must_be_at_least_n(self):
        error = only_error("completions", {"n": 3, "best_of": 2})
        assert error.field == "best_of"
        assert error.message == "best_of must be at least n (3); got 2."
        assert validate("completions", {"n": 3, "best_of": 3}) == []
        assert validate("completions", {"n": 2, "best_of": 5}) == []

    def test_best_of_without_n_compares_with_one(self):
        assert validate("completions", {"best_of": 1}) == []

    def test_best_of_above_one_cannot_stream(self):
        error = only_error("completions", {"best_of": 2, "stream": True})
        assert error.field == "best_of" and "stream" in error.message
        assert validate("completions", {"best_of": 1, "stream": True}) == []

    def test_an_invalid_n_is_reported_once_not_compared(self):
        assert fields(validate("completions", {"n": "two", "best_of": 1})) == ["n"]

    def test_top_logprobs_needs_logprobs(self):
        error = only_error("chat", {"top_logprobs": 3})
        assert error.field == "top_logprobs" and "logprobs" in error.message
        assert fields(validate("chat", {"top_logprobs": 3, "logprobs": False})) == ["top_logprobs"]
        assert validate("chat", {"top_logprobs": 3, "logprobs": True}) == []

    def test_top_logprobs_range(self):
        error = only_error("chat", {"top_logprobs": 21, "logprobs": True})
        assert "0 to 20" in error.message


class TestIgnored:
    def test_none_means_not_set(self):
        none = {name: None for name in params.specs_for("completions")}
        assert validate("completions", none) == []

    def test_unknown_names_and_other_endpoints_parameters_are_ignored(self):
        assert validate("chat", {"suffix": 5, "echo": "x", "whatever": object()}) == []

    def test_several_errors_are_all_reported_in_order(self):
        errors = validate("chat", {"temperature": 3, "top_p": 2, "n": 0})
        assert fields(errors) == ["temperature", "top_p", "n"]


# -- property: validate never raises, whatever it is given -------------------------------

# Out-of-range numbers of every size, including integers too large for a float.
_numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-2**1100, max_value=2**1100),
    st.sampled_from([10**400, -10**400, 2**63, 2**64]),
    st.floats(allow_nan=True, allow_infinity=True),
)
_anything = st.one_of(
    st.none(), st.booleans(), _numbers, st.text(max_size=8), st.binary(max_size=4),
    st.lists(st.one_of(st.text(max_size=4), st.integers(), st.none()), max_size=6),
    st.dictionaries(st.one_of(st.text(max_size=4), st.integers(-5, 10**6)),
                    st.one_of(_numbers, st.text(max_size=3), st.none(), st.booleans()),
                    max_size=5),
)
_by_value_type = {
    "float": st.one_of(_numbers, _anything),
    "int": st.one_of(_numbers, _anything),
    "bool": st.one_of(st.booleans(), _anything),
    "text": st.one_of(st.text(), _anything),
    "choice": st.one_of(st.sampled_from(params.REASONING_EFFORTS), _anything),
    "response_format": st.one_of(
        st.fixed_dictionaries({"type": st.sampled_from(params.RESPONSE_FORMATS)}),
        st.fixed_dictionaries({"type": st.just("json_schema"), "json_schema": st.dictionaries(
            st.sampled_from(["name", "schema", "strict"]), _anything)}),
        _anything),
    "stop": st.one_of(st.text(), st.lists(st.text(max_size=5), max_size=7), _anything),
    "logit_bias": st.one_of(
        st.dictionaries(st.integers(-10, 10**6).map(str), _numbers, max_size=8), _anything),
}


@st.composite
def request_values(draw, endpoint: str) -> dict:
    specs = params.specs_for(endpoint)
    names = draw(st.lists(st.sampled_from(sorted(specs)), unique=True))
    return {name: draw(_by_value_type[specs[name].value_type]) for name in names}


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_validate_never_raises_and_returns_field_errors(endpoint, data):
    values = data.draw(request_values(endpoint))
    errors = validate(endpoint, values)
    assert isinstance(errors, list)
    known = set(params.specs_for(endpoint))
    for error in errors:
        assert isinstance(error, FieldError)
        assert error.field in known
        assert isinstance(error.message, str) and error.field in error.message


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_valid_numbers_in_range_pass(endpoint, data):
    specs = params.specs_for(endpoint)
    values = {}
    for name, spec in specs.items():
        if spec.value_type == "float":
            values[name] = data.draw(st.floats(spec.minimum, spec.maximum))
        elif spec.value_type == "int" and name not in ("best_of", "top_logprobs"):
            values[name] = data.draw(st.integers(int(spec.minimum), int(spec.maximum)))
    assert validate(endpoint, values) == []


@pytest.mark.parametrize("name", ["seed", "temperature", "max_tokens"])
def test_huge_integers_are_reported_not_raised(name):
    errors = validate("completions", {name: 10**400})
    assert fields(errors) == [name]


# -- today's chat parameters and the model families -----------------------------------------

SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}},
          "required": ["city"], "additionalProperties": False}


def json_schema(schema=SCHEMA, **declared) -> dict:
    return {"type": "json_schema", "json_schema": {"name": "city", "schema": schema, **declared}}


class TestTodaysChatParameters:
    def test_chat_takes_max_completion_tokens_effort_verbosity_and_response_format(self):
        chat, completions = params.specs_for("chat"), params.specs_for("completions")
        new = {"max_completion_tokens", "reasoning_effort", "verbosity", "response_format"}
        assert new <= set(chat) and not new & set(completions)

    def test_every_parameter_names_the_families_that_take_it(self):
        for spec in params.SPECS:
            assert spec.families and spec.families <= set(params.FAMILIES), spec.name
        chat = params.specs_for("chat")
        assert chat["max_tokens"].families == {"classic"}
        assert chat["max_tokens"].replaced_by == "max_completion_tokens"
        assert chat["temperature"].families == params.NOT_REASONING
        assert chat["reasoning_effort"].families == params.REASONING_MODELS

    def test_choices_are_checked(self):
        assert validate("chat", {"reasoning_effort": "minimal", "verbosity": "high"}) == []
        error = only_error("chat", {"reasoning_effort": "extreme"})
        assert error.message == ('reasoning_effort must be one of "none", "minimal", "low", '
                                 '"medium", "high"; got \'extreme\'.')

    @pytest.mark.parametrize("value", [{"type": "text"}, {"type": "json_object"},
                                       json_schema(strict=True), json_schema()])
    def test_response_formats_that_can_be_sent(self, value):
        assert validate("chat", {"response_format": value}) == []

    @pytest.mark.parametrize("value, words", [
        ({"type": "xml"}, "response_format must be"),
        ("json", "response_format must be"),
        ({"type": "json_schema"}, "needs json_schema"),
        (json_schema(name="has space"), "1 to 64 letters"),
        (json_schema(schema=[1]), "must be a JSON object"),
        (json_schema(schema={"type": "nonsense"}), "not valid JSON Schema"),
        (json_schema(schema={"type": "object", "properties": {"a": {"type": "string"}}},
                     strict=True), "every property must be required"),
        (json_schema(strict="yes"), "strict must be true or false"),
    ])
    def test_response_formats_refused_say_why(self, value, words):
        errors = validate("chat", {"response_format": value})
        assert errors and all(e.field == "response_format" for e in errors)
        assert any(words in e.message for e in errors), errors


def test_the_output_limits_take_the_models_range_where_it_is_known():
    from playground.params import ModelLimits, specs_for, validate

    model = ModelLimits(8192)
    assert validate("completions", {"max_tokens": 10000}) == []
    assert [e.message for e in validate("completions", {"max_tokens": 10000}, model)] == [
        "max_tokens must be 1 to 8192 for this model; got 10000."]
    assert validate("completions", {"max_tokens": 8192}, model) == []
    chat = specs_for("chat", model)
    assert chat["max_completion_tokens"].range_text() == "1 to 8192 for this model"
    assert chat["max_tokens"].maximum == 8192
    assert chat["n"] == specs_for("chat")["n"]  # only the output limits depend on the model
    assert chat["top_logprobs"] == specs_for("chat")["top_logprobs"]
    # a limit above the API's own ceiling does not widen it
    assert specs_for("chat", ModelLimits(10**6))["max_tokens"].maximum == 131072


@pytest.mark.parametrize("endpoint, name, openai", [
    ("completions", "logprobs", 5), ("chat", "top_logprobs", 20)])
def test_the_local_server_returns_up_to_100_alternatives(endpoint, name, openai):
    from playground.params import LOCAL_SERVER, ModelLimits, spec, validate

    values = {name: 100, "logprobs": True} if endpoint == "chat" else {name: 100}
    assert spec(endpoint, name).maximum == openai
    assert spec(endpoint, name).range_text() == f"0 to {openai} (100 on the local server)"
    assert [e.message for e in validate(endpoint, values)] == [
        f"{name} must be 0 to {openai} (100 on the local server); got 100."]
    local = ModelLimits(8192, local_server=True)
    assert validate(endpoint, values, local) == []
    assert validate(endpoint, values, LOCAL_SERVER) == []
    assert spec(endpoint, name, local).range_text() == "0 to 100 on the local server"
    assert [e.message for e in validate(endpoint, {**values, name: 101}, local)] == [
        f"{name} must be 0 to 100 on the local server; got 101."]
    assert spec(endpoint, "max_tokens", local).maximum == 8192


def test_seed_says_its_range_in_words():
    from playground.params import spec, validate

    assert spec("chat", "seed").range_text() == "0 or more"
    assert [e.message for e in validate("chat", {"seed": -1})] == [
        "seed must be 0 or more; got -1."]
    assert [e.message for e in validate("chat", {"seed": 2**63})] == [
        "seed must be 0 or more, at most 9223372036854775807; got 9223372036854775808."]
