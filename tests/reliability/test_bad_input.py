"""Bad input is refused before sending, and nothing the widgets can produce crashes.

The examples name each kind of bad input: an empty prompt, values out of range,
too many stop sequences, logit_bias keys and values, malformed JSON, n × best_of, a grid too
large, and huge prompts. The properties generate, per parameter value type, what the widgets
of ``ui/common/params.py`` and ``ui/compare/fixed_settings.py`` can hand over (edge cases
included), put it through the same conversions the pages use, and require that validation,
the request builder, View code and the grid's checks either accept it or refuse it with
``InvalidParameters`` naming a field: never any other exception.
"""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from playground import codegen, params, runner, tokens
from playground.compare import AXIS_NAMES, MAX_AXIS_VALUES, Axis, Grid
from playground.connection import Connection
from playground.errors import InvalidParameters
from playground.params import FieldError, ParamSpec, specs_for, validate
from ui.common import params as widgets
from ui.compare import fixed_settings

CONN = Connection("Somewhere", base_url="http://127.0.0.1:9/v1")
MESSAGES = [{"role": "user", "content": "Hi"}]
PROPERTY = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def refused(endpoint: str, values: dict, **content) -> list[FieldError]:
    content = content or ({"prompt": "Hi"} if endpoint == "completions" else {"messages": MESSAGES})
    with pytest.raises(InvalidParameters) as raised:
        runner.build_request(endpoint, "m", values, **content)
    assert raised.value.hint == "Correct the marked fields; nothing was sent."
    return raised.value.errors


# -- examples: every kind of bad input is refused, naming its field --------------------------

@pytest.mark.parametrize("endpoint, values, field, words", [
    ("completions", {"temperature": 2.01}, "temperature", "0 to 2; got 2.01"),
    ("completions", {"temperature": -0.0001}, "temperature", "0 to 2"),
    ("chat", {"top_p": 1.5}, "top_p", "0 to 1; got 1.5"),
    ("chat", {"presence_penalty": -2.5}, "presence_penalty", "-2 to 2"),
    ("chat", {"frequency_penalty": 2.1}, "frequency_penalty", "-2 to 2"),
    ("completions", {"max_tokens": 0}, "max_tokens", "1 to 131072; got 0"),
    ("completions", {"max_tokens": 2.5}, "max_tokens", "whole number"),
    ("chat", {"n": 9}, "n", "1 to 8; got 9"),
    ("completions", {"logprobs": 6}, "logprobs", "0 to 5"),
    ("chat", {"top_logprobs": 21, "logprobs": True}, "top_logprobs", "0 to 20"),
    ("chat", {"seed": -1}, "seed", "0 or more"),
    ("chat", {"seed": 2**64}, "seed", "0 or more"),
    ("chat", {"temperature": math.nan}, "temperature", "must be a number"),
    ("chat", {"temperature": math.inf}, "temperature", "must be a number"),
    ("chat", {"stop": ["a", "b", "c", "d", "e"]}, "stop", "at most 4 sequences; got 5"),
    ("chat", {"stop": ["a", ""]}, "stop", "must not be empty"),
    ("chat", {"stop": [1, 2]}, "stop", "list of strings"),
    ("chat", {"logit_bias": {"hello": 5}}, "logit_bias", "must be token ids"),
    ("chat", {"logit_bias": {"-3": 5}}, "logit_bias", "must be token ids"),
    ("chat", {"logit_bias": {"50256": 101}}, "logit_bias", "-100 to 100; got 101"),
    ("chat", {"logit_bias": {"50256": "x"}}, "logit_bias", "-100 to 100"),
    ("chat", {"logit_bias": {str(i): 1 for i in range(301)}}, "logit_bias", "at most 300"),
    ("chat", {"logit_bias": "{not json"}, "logit_bias", "must map token ids"),
    ("completions", {"n": 3, "best_of": 2}, "best_of", "at least n (3); got 2"),
    ("completions", {"best_of": 21}, "best_of", "1 to 20"),
    ("completions", {"best_of": 3, "stream": True}, "best_of", "cannot be combined with stream"),
    ("chat", {"top_logprobs": 3}, "top_logprobs", "needs logprobs"),
])
def test_a_bad_value_is_refused_naming_its_field(endpoint, values, field, words):
    problems = refused(endpoint, values)
    assert field in [problem.field for problem in problems]
    assert any(words in problem.message for problem in problems), problems


@pytest.mark.parametrize("endpoint, content, field", [
    ("completions", {"prompt": ""}, "prompt"),
    ("completions", {"prompt": None}, "prompt"),
    ("completions", {"prompt": []}, "prompt"),
    ("chat", {"messages": []}, "messages"),
    ("chat", {"messages": None}, "messages"),
])
def test_an_empty_prompt_or_conversation_is_refused(endpoint, content, field):
    assert [problem.field for problem in refused(endpoint, {}, **content)] == [field]


def test_no_model_is_refused():
    with pytest.raises(InvalidParameters) as raised:
        runner.build_request("chat", "", {}, messages=MESSAGES)
    assert [problem.field for problem in raised.value.errors] == ["model"]


def test_every_problem_is_named_at_once():
    problems = refused("completions", {"temperature": 3, "n": 0, "stop": ["1"] * 5,
                                       "logit_bias": {"x": 1000}}, prompt="")
    assert {p.field for p in problems} == {"temperature", "n", "stop", "logit_bias", "prompt"}


@pytest.mark.parametrize("text, words", [
    ("{not json", "not a JSON object"),
    ('{"50256": -100', "not a JSON object"),
    ('{"a": {"b": 1}}', "the bias must be a number"),
    ("[1, 2]", "the bias must be a number"),
    ('{"50256": "lots"}', "the bias must be a number"),
    ("50256", "write a token id or token text, then its bias"),
    ("50256 1000", "-100 to 100"),
    ('"unclosed -5', "JSON string"),
    pytest.param("[" * 50_000, "write a token id or token text", id="deep-brackets"),
    pytest.param("{" + '"a": {' * 50_000, "not a JSON object", id="deep-json"),
])
def test_malformed_logit_bias_text_is_a_problem_not_a_crash(text, words):
    parsed = tokens.parse_logit_bias(text)
    assert parsed.problems and any(words in problem for problem in parsed.problems)
    assert not parsed.entries


@pytest.mark.parametrize("text", ["{not json", pytest.param("[" * 50_000, id="deep-json"),
                                  '"a string"', "[1, 2]", "nan"])
def test_compares_fixed_logit_bias_reads_malformed_text_as_completions_does(text):
    """Compare reads logit_bias with the same parser as Completions: a malformed text is a
    problem said under the field, and nothing is handed to the grid."""
    parsed = tokens.parse_logit_bias(text)
    assert parsed.problems and not parsed.entries
    assert fixed_settings.handed_over_bias(parsed) is None


@pytest.mark.parametrize("size", [1_000_000, 8_000_000])
def test_a_huge_prompt_is_built_and_encoded_without_trouble(size):
    """No length limit of our own: the server says whether it fits (see the 413 and
    context faults) and the page keeps the prompt; here it must not break the builder."""
    prompt = "word " * (size // 5)
    request = runner.build_request("completions", "m", {"max_tokens": 5}, prompt=prompt)
    assert request["prompt"] is prompt
    assert len(json.dumps(request)) > size
    chat = runner.build_request("chat", "m", {}, messages=[{"role": "user", "content": prompt}])
    assert chat["messages"][0]["content"] is prompt


def test_a_grid_over_its_cell_limit_is_refused_before_anything_runs():
    grid = Grid("chat", axes=[Axis.parse("temperature", "0:2:0.1"), Axis.parse("seed", "1:10:1")],
                model="m", connection="c", messages=MESSAGES, max_cells=48)
    with pytest.raises(InvalidParameters) as raised:
        grid.check()
    (problem,) = raised.value.errors
    assert problem.field == "grid"
    assert "210 cells (21 temperature × 10 seed), over the limit of 48" in problem.message
    with pytest.raises(InvalidParameters):
        grid.cells()


@pytest.mark.parametrize("text", [
    "0:1e308:1e-308", "0:1:1e-300", "-1e308:1e308:1e-5", "1e308:-1e308:-1",
    pytest.param("0:" + "9" * 400 + ":1", id="0:9…9:1"),
])
def test_an_axis_range_with_too_many_values_is_refused(text):
    for name in ("temperature", "seed"):
        with pytest.raises(InvalidParameters) as raised:
            Axis.parse(name, text)
        assert "at most 1000" in raised.value.message or "number" in raised.value.message


def test_a_seed_range_of_huge_whole_numbers_is_read_then_refused_by_its_spec():
    axis = Axis.parse("seed", f"0:{10 ** 400}:{10 ** 399}")
    assert len(axis) == 11 and axis.values[-1] == 10 ** 400
    grid = Grid("chat", axes=[axis], model="m", connection="c", messages=MESSAGES)
    with pytest.raises(InvalidParameters) as raised:
        grid.check()
    assert all(problem.field == "seed" for problem in raised.value.errors)


# -- properties: what the widgets can produce ----------------------------------------------

_edge_floats = st.sampled_from([0.0, -0.0, 1e-300, 5e-324, 1e308, -1e308])
_edge_ints = st.sampled_from([0, 1, -1, 2**31, 2**53 - 1, 2**53 + 1, 2**63 - 1, 2**63, -(2**63)])
_texts = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["", " ", "\n", "\\n", "\\t", "\x00", "<script>alert(1)</script>",
                     "{{}}", "${HOME}", "sk-" + "a" * 40, "é" * 5, "\U0001F600", "'\"`"]),
)


def _number_widget(spec: ParamSpec):
    """What ``st.number_input(value=None, step=1)`` hands over: nothing, or any int the
    browser can send; plus the values next to the spec's bounds."""
    near = [int(bound) + delta for bound in (spec.minimum, spec.maximum) if bound is not None
            for delta in (-1, 0, 1)]
    return st.one_of(st.none(), st.integers(-(2**63), 2**63), _edge_ints, st.sampled_from(near))


def widget_strategy(spec: ParamSpec):
    """Per value type, what the widget of ``ui/common/params.py`` returns after its own reading."""
    if spec.value_type == "float":  # a slider: any value of its range, bounds included
        return st.one_of(st.floats(spec.minimum, spec.maximum),
                         st.sampled_from([spec.minimum, spec.maximum, spec.default]))
    if spec.value_type == "int":
        return _number_widget(spec)
    if spec.value_type == "bool":
        return st.booleans()
    if spec.value_type == "stop":  # a multiselect taking new options, at most four, then parsed
        return st.lists(_texts, max_size=params.MAX_STOP_SEQUENCES).map(widgets.parse_stop)
    if spec.value_type == "logit_bias":  # a text area, parsed as the page parses it
        lines = st.lists(st.tuples(st.one_of(st.integers(-5, 300_000).map(str), _texts),
                                   st.one_of(st.integers(-200, 200).map(str),
                                             st.floats().map(repr), _texts)),
                         max_size=6).map(lambda rows: "\n".join(f"{a} {b}" for a, b in rows))
        text = st.one_of(lines, _texts, st.dictionaries(
            st.one_of(st.integers(-5, 300_000).map(str), _texts),
            st.one_of(st.integers(-200, 200), st.floats(), st.none()), max_size=4).map(json.dumps))
        return text.map(lambda t: widgets.logit_bias_value(tokens.parse_logit_bias(t), t))
    return st.one_of(st.none(), _texts)  # a text input: "" reads as None


@st.composite
def widget_values(draw, endpoint: str) -> dict:
    """Every widget of the endpoint, as ``ui.common.params._grid`` turns them into values."""
    values = {}
    for name, spec in specs_for(endpoint).items():
        value = draw(widget_strategy(spec))
        values[name] = None if value == spec.default else value
    return values


_prompts = st.one_of(_texts, st.integers(0, 3).map(lambda k: "x" * (10 ** (k + 3))))


def _check_request(endpoint: str, model: str, values: dict, **content) -> None:
    try:
        request = runner.build_request(endpoint, model, values, **content)
    except InvalidParameters as exc:
        known = {*specs_for(endpoint), "prompt", "messages", "model"}
        assert exc.errors and all(problem.field in known for problem in exc.errors)
        assert all(problem.message for problem in exc.errors)
        return
    json.dumps(request, allow_nan=False)  # the wire format: no NaN or infinity slips through
    sent = {k: v for k, v in request.items() if k not in ("model", "prompt", "messages",
                                                          "stream_options")}
    assert validate(endpoint, sent) == []
    for name, value in sent.items():
        assert value != specs_for(endpoint)[name].default, f"{name} sent at its default"
    snippets = codegen.snippets_for(CONN, endpoint, request)  # View code
    assert snippets.python and snippets.curl


@pytest.mark.parametrize("endpoint", ["completions", "chat"])
@PROPERTY
@given(data=st.data())
def test_nothing_the_widgets_produce_crashes_validation_or_the_builder(endpoint, data):
    values = data.draw(widget_values(endpoint))
    assert isinstance(validate(endpoint, values), list)
    model = data.draw(st.one_of(st.just("m"), _texts))
    text = data.draw(_prompts)
    if endpoint == "completions":
        _check_request(endpoint, model, values, prompt=text)
    else:
        system = data.draw(_texts)
        messages = [{"role": role, "content": content}
                    for role, content in (("system", system), ("user", text)) if content.strip()]
        _check_request(endpoint, model, values, messages=messages)


_axis_text = st.one_of(
    _texts,
    st.lists(st.one_of(st.floats().map(repr), st.integers().map(str), _texts),
             max_size=6).map(", ".join),
    st.tuples(*[st.one_of(st.floats(allow_nan=True).map(repr),
                          st.integers(-(10**400), 10**400).map(str), _texts)] * 3)
    .map(":".join),
)


@PROPERTY
@given(name=st.sampled_from(AXIS_NAMES), text=_axis_text)
@example(name="temperature", text="0:1e308:1e-308")
@example(name="seed", text="0:" + "9" * 400 + ":1")
@example(name="seed", text="0:" + "1" + "0" * 400 + ":" + "1" + "0" * 399)
def test_any_axis_text_is_read_or_refused_never_a_crash(name, text):
    try:
        axis = Axis.parse(name, text)
    except InvalidParameters as exc:
        assert exc.errors[0].message
        return
    assert 1 <= len(axis) <= MAX_AXIS_VALUES or name == "model"


@st.composite
def fixed_values(draw, endpoint: str) -> dict:
    """What ``ui/compare/fixed_settings.py`` hands over: widgets of every kind but n and seed."""
    values = {}
    for name, spec in specs_for(endpoint).items():
        if name in fixed_settings.NOT_FIXED or not draw(st.booleans()):
            continue
        if spec.value_type == "stop":
            value = fixed_settings.parse_stop(draw(_texts))
        elif spec.value_type == "logit_bias":
            value = fixed_settings.handed_over_bias(tokens.parse_logit_bias(draw(st.one_of(
                _texts, st.dictionaries(st.one_of(st.integers(-5, 10**6).map(str), _texts),
                                        st.one_of(st.integers(-200, 200), st.floats()),
                                        max_size=3).map(json.dumps)))))
        else:
            value = draw(widget_strategy(spec))
        if value is not None and value != spec.default:
            values[name] = value
    return values


@PROPERTY
@given(data=st.data())
def test_no_grid_the_compare_page_can_build_crashes_its_checks(data):
    endpoint = data.draw(st.sampled_from(["chat", "completions"]))
    names = data.draw(st.lists(st.sampled_from(AXIS_NAMES), max_size=3, unique=True))
    axes = []
    for name in names:
        try:
            axes.append(Axis.parse(name, data.draw(_axis_text)))
        except InvalidParameters:
            return
    text = data.draw(_texts)
    grid = Grid(endpoint, data.draw(fixed_values(endpoint)), axes,
                samples_per_cell=data.draw(st.integers(1, 20)),
                fixed_seed=data.draw(st.one_of(st.none(), st.integers(0, 2**63))),
                model=data.draw(_texts), connection="c",
                prompt=text if endpoint == "completions" else None,
                messages=[{"role": "user", "content": text}] if text.strip() else [],
                sampling=data.draw(st.sampled_from(["n", "repeat"])),
                max_cells=data.draw(st.integers(1, 60)))
    try:
        grid.check()
    except InvalidParameters as exc:
        assert all(problem.message for problem in exc.errors)
        return
    for cell in grid.cells():
        request = runner.build_request(endpoint, cell.model, grid.first_request_values(cell),
                                       prompt=grid.prompt, messages=grid.messages)
        json.dumps(request, allow_nan=False)
