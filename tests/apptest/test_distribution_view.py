"""The distribution view on Completions and Chat, over real log-probabilities from the local
models: it opens at a token, reshapes when a slider moves, and never sends a request."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from playground.ledger.schema import DB_FILENAME
from playground.ledger.writer import shared_ledger
from ui.chat import keys as chat_keys
from ui.common import params, state
from ui.common.distribution_view import key
from ui.completions import keys as completions_keys

SMOLLM = "smollm2-135m-instruct"


def _ledger_rows(data_dir) -> int:
    ledger = shared_ledger(data_dir / DB_FILENAME)
    assert ledger.flush()
    return len(ledger.requests())


def _chart(at, scope: str) -> dict:
    (chart,) = [c for c in at.get("plotly_chart") if c.proto.id.endswith(key(scope, "chart"))
                or key(scope, "chart") in c.proto.id]
    return json.loads(chart.proto.spec)


def _values(data) -> list:
    """A plotly array as a list: plotly sends numeric arrays as base64 typed arrays."""
    if isinstance(data, dict) and "bdata" in data:
        return np.frombuffer(base64.b64decode(data["bdata"]), dtype=data["dtype"]).tolist()
    return list(data)


def _bars(spec: dict) -> tuple[list, list]:
    """Every bar's label and height, in the order drawn (most likely first)."""
    heights = {}
    for trace in spec["data"]:
        if trace["type"] == "bar":
            heights.update(zip(_values(trace["x"]), _values(trace["y"])))
    labels = _values(spec["layout"]["xaxis"]["categoryarray"])
    return labels, [heights[text] for text in labels]


def _trace_names(spec: dict) -> list[str]:
    return [trace["name"] for trace in spec["data"]]


def _captions(at) -> list[str]:
    return [caption.value.replace("\\", "") for caption in at.caption]


def _ok(at):
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    return at


@pytest.fixture
def completed(app, data_dir):
    """A Completions run on the local model with five alternatives per token."""
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("The capital of France is")
    app.get_by_key(params.widget_key("completions", "max_tokens")).set_value(8)
    app.get_by_key(params.widget_key("completions", "logprobs")).set_value(5)
    app.get_by_key(params.widget_key("completions", "seed")).set_value(7)
    next(b for b in app.button if b.label == "Run").click().run()
    return _ok(app)


def test_completions_the_view_opens_and_a_slider_reshapes_it_without_a_request(completed,
                                                                                data_dir):
    app = completed
    sent = _ledger_rows(data_dir)
    assert sent == 1
    assert not app.get("plotly_chart")  # closed until asked for
    app.toggle(key=key("completions", "open")).set_value(True).run()
    _ok(app)
    labels, before = _bars(_chart(app, "completions"))
    assert 2 <= len(labels) <= 6 and sum(before) == pytest.approx(1.0)
    assert any("next token after the prompt" in c for c in _captions(app))
    assert any(c.startswith("Approximate: the server sent") for c in _captions(app))

    app.slider(key=key("completions", "temperature")).set_value(0.3).run()
    _ok(app)
    sharp_labels, sharp = _bars(_chart(app, "completions"))
    assert sharp_labels[0] == labels[0] and sharp[0] > before[0]
    app.slider(key=key("completions", "top_p")).set_value(0.5).run()
    spec = _ok(app) and _chart(app, "completions")
    assert any(shape.get("line", {}).get("dash") == "dash" for shape in spec["layout"]["shapes"])
    assert "outside top_p: never drawn" in _trace_names(spec)
    assert _ledger_rows(data_dir) == sent


def _accuracy(at) -> str:
    (caption,) = [c for c in _captions(at) if c.startswith(("Exact:", "Approximate:"))]
    return caption


def test_completions_the_caption_says_exact_only_where_the_nucleus_lies_inside_the_tokens_sent(
        completed):
    app = completed
    app.toggle(key=key("completions", "open")).set_value(True).run()
    reaching = _accuracy(_ok(app))  # top_p 1: the sampler may draw any token, sent or not
    assert reaching.startswith("Approximate: the server sent")
    assert "the top_p nucleus reaches past them" in reaching and "make it closer" in reaching
    app.slider(key=key("completions", "top_p")).set_value(0.05).run()
    assert _accuracy(_ok(app)).startswith("Exact: the sampler draws only among the")
    # Above temperature 1 the cut is certain only with the vocabulary size, which the local
    # server lists with its models.
    app.slider(key=key("completions", "temperature")).set_value(1.5).run()
    assert _accuracy(_ok(app)).startswith("Exact: the sampler draws only among the")
    app.toggle(key=key("completions", "draw")).set_value(True).run()
    spec = _chart(_ok(app), "completions")
    kept = {x for trace in spec["data"] if trace["name"].startswith("inside top_p")
            for x in _values(trace["x"])}
    (samples,) = [c for c in app.get("plotly_chart")
                  if key("completions", "samples") in c.proto.id]
    assert set(_values(json.loads(samples.proto.spec)["data"][0]["x"])) <= kept


def test_an_approximate_caption_says_why():
    from playground import distribution as dist
    from ui.common.distribution_view import _uncertainty

    alternatives = dist.alternatives_at(" a", np.log(0.4), [
        (" a", np.log(0.4)), (" b", np.log(0.3)), (" c", np.log(0.1))])  # 20% not sent

    def why(settings, counts=None):
        shaped = dist.reshape(alternatives, settings, counts)
        assert not shaped.exact
        return _uncertainty(shaped, "20%")

    assert why(dist.Settings()).startswith("the top_p nucleus reaches past them")
    assert why(dist.Settings(temperature=0.5, top_p=0.6)).startswith(
        "where top_p cuts depends on how the other 20% is spread")
    assert why(dist.Settings(temperature=0, bias={" a": -100, " b": -100})).startswith(
        "a token it did not send may be as likely")
    assert why(dist.Settings(top_p=0.5, presence_penalty=1), {" zebra": 1}).startswith(
        "a bias or penalty here also moves tokens it did not send")


def test_completions_step_through_and_bias_a_token(completed, data_dir):
    app = completed
    app.toggle(key=key("completions", "open")).set_value(True).run()
    picker = app.select_slider(key=key("completions", "position"))
    first = picker.value
    app.button(key=key("completions", "next")).click().run()
    assert _ok(app).select_slider(key=key("completions", "position")).value == first + 1
    labels, probabilities = _bars(_chart(app, "completions"))
    runner_up = labels[1].strip("'")
    app.text_input(key=key("completions", "bias_text")).input(runner_up).run()
    app.slider(key=key("completions", "bias")).set_value(20).run()
    biased = _bars(_chart(_ok(app), "completions"))
    assert biased[0][0] == labels[1] and biased[1][0] > 0.99
    names = _trace_names(_chart(app, "completions"))
    assert "moved by penalty or bias" in names and "before penalty and bias" in names
    app.text_input(key=key("completions", "bias_text")).input("no such token at all").run()
    assert any("is not among the" in w.value.replace("\\", "") for w in app.warning)
    app.button(key=key("completions", "after_prompt")).click().run()
    assert app.select_slider(key=key("completions", "position")).value == first
    app.toggle(key=key("completions", "draw")).set_value(True).run()
    _ok(app)
    assert any("100 draws with numpy.random.default_rng(0)" in c for c in _captions(app))
    assert _ledger_rows(data_dir) == 1


def test_chat_the_view_opens_on_a_reply_and_a_slider_reshapes_it_without_a_request(app,
                                                                                   data_dir):
    app.switch_page("pages/chat.py").run()
    assert app.sidebar.selectbox(key=state.MODEL).value == SMOLLM
    app.get_by_key(params.widget_key("chat", "logprobs")).check().run()
    app.get_by_key(params.widget_key("chat", "top_logprobs")).set_value(20).run()
    app.get_by_key(params.widget_key("chat", "max_tokens")).set_value(6).run()
    app.chat_input(key=chat_keys.CHAT_INPUT).set_value("Name a colour.").run()
    _ok(app)
    sent = _ledger_rows(data_dir)
    app.toggle(key=key("chat", "open")).set_value(True).run()
    labels, before = _bars(_chart(_ok(app), "chat"))
    assert len(labels) >= 20
    app.slider(key=key("chat", "temperature")).set_value(1.8).run()
    flat = _bars(_chart(_ok(app), "chat"))[1]
    assert max(flat) < max(before)
    assert _ledger_rows(data_dir) == sent


def test_completions_with_echo_and_two_choices_starts_after_the_prompt(app, data_dir):
    app.sidebar.selectbox(key=state.MODEL).select("gemma-3-270m").run()
    app.text_area(key=completions_keys.COMPLETIONS_PROMPT).input("Say: hello.")
    for name, value in (("max_tokens", 3), ("n", 2), ("seed", 3), ("logprobs", 2)):
        app.get_by_key(params.widget_key("completions", name)).set_value(value)
    app.get_by_key(params.widget_key("completions", "echo")).check()
    next(b for b in app.button if b.label == "Run").click().run()
    app.toggle(key=key("completions", "open")).set_value(True).run()
    _ok(app)
    assert app.selectbox(key=key("completions", "source")).options == ["Choice 1", "Choice 2"]
    picker = app.select_slider(key=key("completions", "position"))
    assert picker.value >= 3  # the echoed prompt's tokens come first
    assert any("next token after the prompt" in c for c in _captions(app))
    app.button(key=key("completions", "previous")).click().run()
    assert any("a token of the echoed prompt" in c for c in _captions(_ok(app)))
    app.selectbox(key=key("completions", "source")).select("Choice 2").run()
    _bars(_chart(_ok(app), "completions"))
    assert _ledger_rows(data_dir) == 1


def test_tokens_split_inside_a_character_are_named_by_the_whole_character():
    from playground.logprobs import tokens_of
    from ui.common.distribution_view import Source

    chat = tokens_of({"content": [
        {"token": raw.decode("utf-8", errors="replace"), "logprob": -0.1, "bytes": list(raw)}
        for raw in (b" \xd7", b"\xa9", "לום".encode())]})
    assert Source(tuple(chat)).labels() == ["' ש' (token 1 of 2)", "' ש' (token 2 of 2)",
                                            "'לום'"]
    completions = tokens_of({"tokens": [" \ufffd", "\ufffd", "ל"], "text_offset": [0, 1, 2],
                             "token_logprobs": [-0.1, -0.2, -0.3]})
    assert Source(tuple(completions), text=" של").labels() == [
        "' ש' (token 1 of 2)", "' ש' (token 2 of 2)", "'ל'"]


def test_chat_positions_show_hebrew_letters_the_model_splits_whole(app):
    app.switch_page("pages/chat.py").run()
    for name, value in (("temperature", 0.0), ("max_tokens", 12), ("logprobs", True),
                        ("top_logprobs", 5)):
        app.get_by_key(params.widget_key("chat", name)).set_value(value).run()
    app.chat_input(key=chat_keys.CHAT_INPUT).set_value(
        "Translate 'peace' to Hebrew: שלום. Write שלום again:").run()
    app.toggle(key=key("chat", "open")).set_value(True).run()
    picker = _ok(app).select_slider(key=key("chat", "position"))
    shown = " ".join(picker.options)
    assert "'ש' (token 1 of 2)" in shown and "\ufffd" not in shown
    picker.set_value(picker.options.index(next(o for o in picker.options
                                                if "(token 1 of 2)" in o))).run()
    assert any("part of a character split over tokens" in c for c in _captions(_ok(app)))


def test_chat_sliders_start_from_the_replys_own_settings(app):
    app.switch_page("pages/chat.py").run()
    for name, value in (("temperature", 0.4), ("top_p", 0.9), ("max_tokens", 4),
                        ("logprobs", True), ("top_logprobs", 5)):
        app.get_by_key(params.widget_key("chat", name)).set_value(value).run()
    app.chat_input(key=chat_keys.CHAT_INPUT).set_value("Name a colour.").run()
    reply = _ok(app).session_state[chat_keys.CHAT_CONVERSATION].messages[-1]
    assert (reply.temperature, reply.top_p) == (0.4, 0.9)
    app.get_by_key(params.widget_key("chat", "temperature")).set_value(1.5).run()
    app.toggle(key=key("chat", "open")).set_value(True).run()
    assert _ok(app).slider(key=key("chat", "temperature")).value == 0.4
    assert app.slider(key=key("chat", "top_p")).value == 0.9
    assert any("start from the reply's own (0.4 and 0.9)" in c for c in _captions(app))
