"""Presets: built-ins, sharing as link parameters, and the user's presets on disk."""

from __future__ import annotations

import base64
import json
import string
import zlib

import openai
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from playground import params
from playground.presets import (
    MAX_QUERY_CHARS,
    Preset,
    PresetError,
    PresetStore,
    all_presets,
    builtin_presets,
    from_query_params,
    to_query_params,
)
from playground.runner import build_request

KEY = "sk-proj-PRESETKEY-0123456789abcdef"


# Built-in presets -----------------------------------------------------------------------------

@pytest.mark.parametrize("preset", builtin_presets(), ids=lambda p: p.name)
def test_builtins_pass_the_checks_and_build_requests(preset):
    assert preset.problems() == []
    assert params.validate(preset.endpoint, preset.values) == []
    assert preset.description
    build_request(preset.endpoint, "any-model", preset.values, prompt=preset.prompt,
                  messages=preset.messages)


def test_builtin_names_are_unique_per_endpoint():
    for endpoint in ("completions", "chat"):
        names = [p.name for p in builtin_presets(endpoint)]
        assert names and len(names) == len(set(names))


def test_builtins_are_fresh_copies():
    first = builtin_presets("chat")[0]
    first.messages.append({"role": "user", "content": "changed"})
    first.values["temperature"] = 2
    again = builtin_presets("chat")[0]
    assert again.messages[-1]["content"] == "Where was it played?"
    assert "temperature" not in again.values


def _named(fragment: str, endpoint: str = "completions") -> Preset:
    return next(p for p in builtin_presets(endpoint) if fragment in p.name)


def test_the_tutorials_completions_example():
    preset = _named("Say hello")
    assert build_request("completions", "m", preset.values, prompt=preset.prompt) == {
        "model": "m", "prompt": "Say: hello.", "temperature": 0, "max_tokens": 100,
        "stop": ["\n"]}


def test_the_tutorials_chat_example():
    preset = _named("World Series", "chat")
    assert preset.messages == [
        {"role": "system", "content": "You are a helpful assistant."},
        {"role": "user", "content": "Who won the world series in 2020?"},
        {"role": "assistant", "content": "The Los Angeles Dodgers won the World Series in 2020."},
        {"role": "user", "content": "Where was it played?"},
    ]


def test_the_classic_effects_are_there():
    assert _named("Greedy").values["temperature"] == 0
    assert _named("Creative").values["temperature"] == 1.2
    assert _named("Repetition curbed").values["frequency_penalty"] == 1.5
    assert _named("Repetition curbed").prompt == _named("Looping").prompt
    assert _named("Stop sequences").values["stop"]
    assert _named("Nucleus").values["top_p"] == 0.1
    choices = _named("Three choices").values
    assert choices["n"] == 3 and choices["seed"] is not None


def test_descriptions_get_top_p_and_n_right():
    """Unlike the tutorial's comments: top_p is nucleus sampling over 0-1, n counts choices."""
    texts = [p.description for p in builtin_presets()]
    for text in texts:
        if "top_p" in text:
            assert "nucleus" in text and "0 to 1" in text and "0 to 2" not in text
        if "n=" in text or " n is" in text:
            assert "choices" in text or "replies" in text
    assert "number of choices" in _named("Three choices").description
    assert "nucleus sampling, from 0 to 1" in _named("Nucleus").description


def test_the_penalty_preset_breaks_the_loop(local_base_url):
    client = openai.OpenAI(base_url=local_base_url, api_key="unused", max_retries=0, timeout=120)
    counts = {}
    for name in ("Looping", "Repetition curbed"):
        preset = _named(name)
        values = {**preset.values, "max_tokens": 30}  # enough to see it, quick to run
        request = build_request("completions", "gemma-3-270m", values, prompt=preset.prompt)
        counts[name] = client.completions.create(**request).choices[0].text.count("apples")
    assert counts["Repetition curbed"] < counts["Looping"] / 2


# Checks ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("preset, fragment", [
    (Preset("", "completions", prompt="Hi"), "Give the preset a name"),
    (Preset("x", "images", prompt="Hi"), "endpoint must be 'completions' or 'chat'"),
    (Preset("x", "completions"), "needs a prompt"),
    (Preset("x", "completions", prompt="Hi", messages=[]), "not messages"),
    (Preset("x", "chat", messages=[]), "needs messages"),
    (Preset("x", "chat", messages=[{"role": "robot", "content": "Hi"}]), "role must be system"),
    (Preset("x", "chat", messages=[{"role": "user", "content": 3}]), "content must be text"),
    (Preset("x", "chat", messages=[{"role": "user"}]), "exactly a role and a content"),
    (Preset("x", "completions", prompt="Hi", values={"temperature": 5}),
     "temperature must be 0 to 2; got 5"),
    (Preset("x", "completions", prompt="Hi", values={"top_p": 1.5}), "top_p must be 0 to 1"),
    (Preset("x", "chat", messages=[{"role": "user", "content": "Hi"}], values={"echo": True}),
     "Unknown chat parameter(s): echo"),
    (Preset("x", "completions", prompt="Hi", values={"api_key": KEY}),
     "Unknown completions parameter(s): api_key"),
])
def test_problems_are_named(preset, fragment):
    assert any(fragment in problem for problem in preset.problems()), preset.problems()
    with pytest.raises(PresetError, match="cannot be used" if preset.name else "^Give the"):
        preset.checked()


def test_a_preset_without_a_name_is_told_to_get_one_without_quoting_the_empty_name():
    with pytest.raises(PresetError) as caught:
        Preset("  ", "completions", prompt="Hi").checked()
    assert str(caught.value) == "Give the preset a name."


def test_json_numbers_are_normalised():
    preset = Preset.from_dict({"name": "x", "endpoint": "completions", "prompt": "Hi",
                               "values": {"n": 2.0, "logit_bias": {"50256": -100}}})
    assert preset.values == {"n": 2, "logit_bias": {"50256": -100}}
    assert isinstance(preset.values["n"], int)


# Sharing as link parameters --------------------------------------------------------------------

texts = st.text(max_size=60)
names = st.text(min_size=1, max_size=30).filter(str.strip)
stops = st.lists(st.text(min_size=1, max_size=6), min_size=1, max_size=4)

common_values = st.fixed_dictionaries({}, optional={
    "temperature": st.floats(0, 2),
    "top_p": st.floats(0, 1),
    "n": st.integers(1, 8),
    "max_tokens": st.integers(1, 4096),
    "presence_penalty": st.floats(-2, 2),
    "frequency_penalty": st.floats(-2, 2),
    "seed": st.integers(0, 2**63 - 1),
    "stop": stops | st.text(min_size=1, max_size=6),
    "logit_bias": st.dictionaries(st.integers(0, 200_000).map(str), st.integers(-100, 100),
                                  max_size=3),
    "user": texts,
    "stream": st.booleans(),
})


@st.composite
def presets(draw) -> Preset:
    endpoint = draw(st.sampled_from(["completions", "chat"]))
    values = draw(common_values)
    if endpoint == "completions":
        values.update(draw(st.fixed_dictionaries({}, optional={
            "echo": st.booleans(), "logprobs": st.integers(0, 5), "suffix": texts})))
        if not values.get("stream") and draw(st.booleans()):
            values["best_of"] = values.get("n", 1) + draw(st.integers(0, 3))
        content = {"prompt": draw(st.text(min_size=1, max_size=200))}
    else:
        if draw(st.booleans()):
            values["logprobs"] = True
            values["top_logprobs"] = draw(st.integers(0, 20))
        content = {"messages": draw(st.lists(st.fixed_dictionaries({
            "role": st.sampled_from(["system", "user", "assistant"]), "content": texts}),
            min_size=1, max_size=4))}
    model = draw(st.none() | st.text(min_size=1, max_size=20).filter(str.strip))
    return Preset(draw(names), endpoint, model=model, values=values,
                  description=draw(texts), **content)


@settings(max_examples=150, deadline=None)
@given(preset=presets(), readable=st.booleans())
def test_presets_round_trip_through_link_parameters(preset, readable):
    assert preset.problems() == []
    query = to_query_params(preset, readable=readable)
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in query.items())
    assert from_query_params(query) == preset


def test_the_compact_form_is_one_short_url_safe_parameter():
    query = to_query_params(_named("Say hello"))
    assert list(query) == ["p"]
    assert set(query["p"]) <= set(string.ascii_letters + string.digits + "-_")
    assert len(query["p"]) < 600


def test_the_readable_form_can_be_typed_by_hand():
    preset = from_query_params({"endpoint": "completions", "prompt": "Once upon a time",
                                "temperature": "0.7", "stop": "END", "user": "42",
                                "utm_source": "elsewhere"})
    assert preset == Preset("Shared preset", "completions", prompt="Once upon a time",
                            values={"temperature": 0.7, "stop": "END", "user": "42"})


def test_a_parameter_given_twice_keeps_the_last():
    token = to_query_params(_named("Greedy"))["p"]
    assert from_query_params({"p": ["garbage", token]}) == _named("Greedy")


def _token(payload: bytes, compress: bool = True) -> str:
    data = zlib.compress(payload) if compress else payload
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


GOOD = to_query_params(_named("Greedy"))["p"]


@pytest.mark.parametrize("query, fragment", [
    ({}, "holds no preset"),
    ({"utm_source": "x"}, "holds no preset"),
    ({"p": ""}, "not base64url"),
    ({"p": "not base64!"}, "not base64url"),
    ({"p": "abcde"}, "not valid base64url"),
    ({"p": GOOD[:-12]}, "cut short"),
    ({"p": GOOD[:5] + "A" + GOOD[6:]}, "damaged"),
    ({"p": "A" * (MAX_QUERY_CHARS + 1)}, "too long"),
    ({"p": _token(b" " * 2_000_000)}, "unpacks to more than"),
    ({"p": _token(b"[" * 50_000)}, "does not hold a preset"),
    ({"p": _token(b"\xff\xfe")}, "does not hold a preset"),
    ({"p": _token(b"[1, 2]")}, "does not hold a preset object"),
    ({"p": _token(b'{"v": 9, "name": "x"}')}, "another version"),
    ({"p": _token(b'{"name": "x", "endpoint": "completions", "prompt": "Hi", '
                  b'"values": {"temperature": 9}}')}, "temperature must be 0 to 2; got 9"),
    ({"p": _token(b'{"name": "x", "endpoint": "chat", "messages": [{"role": "user", '
                  b'"content": "Hi"}]}', compress=False)}, None),
    ({"p": 5}, "must be text"),
    ({"endpoint": "completions", "prompt": "Hi", "temperature": "warm"},
     "temperature must be written as JSON"),
    ({"endpoint": "completions", "prompt": "Hi", "temperature": "3"},
     "temperature must be 0 to 2; got 3"),
    ({"endpoint": "chat", "messages": "[{"}, "'messages' must be JSON"),
    ({"endpoint": "completions"}, "needs a prompt"),
    ({"endpoint": "completions", "prompt": "x" * MAX_QUERY_CHARS}, "too long"),
])
def test_malformed_links_give_clear_errors(query, fragment):
    if fragment is None:  # plain base64url JSON, not deflated, is read too
        assert from_query_params(query).endpoint == "chat"
        return
    with pytest.raises(PresetError) as raised:
        from_query_params(query)
    assert fragment in str(raised.value)


@settings(max_examples=200, deadline=None)
@given(query=st.dictionaries(st.sampled_from(["p", "endpoint", "prompt", "messages", "name",
                                              "temperature", "stop", "n", "logit_bias", "x"]),
                             st.text(max_size=40)))
def test_any_query_gives_a_preset_or_a_preset_error(query):
    try:
        assert isinstance(from_query_params(query), Preset)
    except PresetError as exc:
        assert str(exc)


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=200), compress=st.booleans())
def test_any_bytes_in_p_give_a_preset_or_a_preset_error(payload, compress):
    try:
        from_query_params({"p": _token(payload, compress)})
    except PresetError as exc:
        assert str(exc)


def test_a_preset_too_long_for_a_link_is_refused():
    big = Preset("big", "completions", prompt="".join(chr(0x4E00 + i % 5000) for i in range(8000)))
    with pytest.raises(PresetError, match="too long to share as a link"):
        to_query_params(big)


def test_an_invalid_preset_is_not_shared():
    with pytest.raises(PresetError, match="temperature"):
        to_query_params(Preset("x", "completions", prompt="Hi", values={"temperature": -1}))


# The user's presets on disk --------------------------------------------------------------------

def _mine(name="Mine", endpoint="completions", **values) -> Preset:
    if endpoint == "chat":
        return Preset(name, "chat", messages=[{"role": "user", "content": "Hi"}], values=values)
    return Preset(name, "completions", prompt="Once", values=values)


def test_save_load_delete(data_dir):
    store = PresetStore()
    assert store.path == data_dir / "presets.json"
    assert store.load() == []
    store.save(_mine(temperature=0.5))
    store.save(_mine("Other", "chat"))
    store.save(_mine(temperature=0.7))  # same name and endpoint: replaced
    store.save(_mine("Mine", "chat"))  # same name, other endpoint: kept apart
    assert [(p.endpoint, p.name) for p in PresetStore().load()] == [
        ("chat", "Other"), ("completions", "Mine"), ("chat", "Mine")]
    assert store.get("completions", "Mine").values == {"temperature": 0.7}
    assert [p.name for p in store.load("chat")] == ["Other", "Mine"]
    assert store.delete("completions", "Mine") is True
    assert store.delete("completions", "Mine") is False
    assert store.get("completions", "Mine") is None
    assert [p.name for p in store.load()] == ["Other", "Mine"]


def test_an_invalid_preset_is_not_saved(data_dir):
    store = PresetStore()
    with pytest.raises(PresetError, match="api_key"):
        store.save(Preset("x", "completions", prompt="Hi", values={"api_key": KEY}))
    assert not store.path.exists()


def test_no_key_is_ever_written(data_dir):
    path = data_dir / "presets.json"
    path.write_text(json.dumps({"version": 1, "presets": [
        {"name": "Old", "endpoint": "completions", "prompt": "Hi", "values": {},
         "api_key": KEY}]}))
    store = PresetStore()
    assert [p.name for p in store.load()] == ["Old"]  # the unknown field is dropped
    store.save(_mine(user="alice"))
    text = path.read_text()
    assert KEY not in text and "api_key" not in text
    assert "Old" in text and "alice" in text


def test_broken_entries_are_skipped_and_named(data_dir):
    path = data_dir / "presets.json"
    path.write_text(json.dumps({"version": 1, "presets": [
        {"name": "Hot", "endpoint": "completions", "prompt": "Hi", "values": {"temperature": 7},
         "api_key": KEY},
        {"name": "Fine", "endpoint": "completions", "prompt": "Hi"}]}))
    store = PresetStore()
    assert [p.name for p in store.load()] == ["Fine"]
    assert len(store.skipped) == 1 and "temperature must be 0 to 2" in store.skipped[0]
    store.save(_mine())  # the broken one stays for the user to fix, without the stray key
    rows = json.loads(path.read_text())["presets"]
    assert [row["name"] for row in rows] == ["Hot", "Fine", "Mine"]
    assert KEY not in path.read_text()


def test_a_corrupt_file_is_kept_aside_not_lost(data_dir):
    path = data_dir / "presets.json"
    path.write_text("{ not json")
    store = PresetStore()
    assert store.load() == []
    store.save(_mine())
    assert (data_dir / "presets.json.bad").read_text() == "{ not json"
    assert [p.name for p in store.load()] == ["Mine"]


def test_unicode_is_kept_readable_on_disk(data_dir):
    store = PresetStore()
    store.save(Preset("Café ☕", "completions", prompt="日本語 😀\n\"quoted\" \\ $HOME"))
    assert "Café ☕" in store.path.read_text(encoding="utf-8")
    assert store.load()[0].prompt == "日本語 😀\n\"quoted\" \\ $HOME"


def test_all_presets_puts_builtins_first_and_lets_mine_replace_one(data_dir):
    store = PresetStore()
    store.save(Preset("Greedy: temperature 0", "completions", prompt="Mine",
                      values={"temperature": 0}))
    store.save(_mine("Extra"))
    listed = all_presets("completions", store)
    assert [p.name for p in listed][-2:] == ["Greedy: temperature 0", "Extra"]
    assert listed[-2].prompt == "Mine"
    assert len(listed) == len(builtin_presets("completions")) + 1
