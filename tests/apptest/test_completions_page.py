"""The Completions page: what each control sends, the response views, View code, presets.

What is sent is checked at the recording loopback server (``recorder``); what comes back is
checked against the local models, with few tokens each.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from playground import presets
from playground.ledger.schema import DB_FILENAME
from playground.ledger.writer import shared_ledger
from ui.common import params, state
from ui.common.output import empty_note
from ui.completions import keys as completions_keys

APP = Path(__file__).resolve().parents[2] / "app.py"
ENDPOINT = "completions"
GEMMA = "gemma-3-270m"


def _field(at, name: str):
    return at.get_by_key(params.widget_key(ENDPOINT, name))


def _button(at, label: str):
    return next(button for button in at.button if button.label == label)


def _run(at):
    _button(at, "Run").click().run()
    assert not at.exception, at.exception
    return at


def _prompt(at, text: str):
    at.text_area(key=completions_keys.COMPLETIONS_PROMPT).input(text)


def _plain(elements) -> list[str]:
    return [element.value.replace("\\", "") for element in elements]


def _use_recorder(app, recorder):
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
        recorder.base_url).run()
    assert app.sidebar.selectbox(key=state.MODEL).value == "recorded-model"


def _use_model(app, model: str):
    app.sidebar.selectbox(key=state.MODEL).select(model).run()


def _completion_bodies(recorder) -> list[dict]:
    return [body for path, body in recorder.posts if path == "/v1/completions"]


def _outputs(at) -> list[str]:
    """The texts shown as model output: the code blocks without a language."""
    return [code.value for code in at.code if code.language == "plaintext"]


def _snippet(at, language: str) -> str:
    return next(code.value for code in at.code if code.language == language)


# What is sent ---------------------------------------------------------------------------------

def test_untouched_controls_send_only_model_and_prompt(app, recorder):
    _use_recorder(app, recorder)
    _prompt(app, "Hello")
    _run(app)
    assert _completion_bodies(recorder) == [{"model": "recorded-model", "prompt": "Hello"}]
    assert _outputs(app) == ["recorded"]


def test_every_control_is_sent_as_set(app, recorder):
    _use_recorder(app, recorder)
    _prompt(app, "Once")
    for name, value in {"max_tokens": 7, "temperature": 0.3, "top_p": 0.9, "n": 2,
                        "presence_penalty": 0.5, "frequency_penalty": -0.5, "seed": 42,
                        "user": "student-1", "suffix": " The end.", "logprobs": 3,
                        "best_of": 3}.items():
        _field(app, name).set_value(value)
    _field(app, "stop").set_value(["\\n", "END"])
    _field(app, "echo").check()
    _field(app, "logit_bias").input("50256 -100\n15 2.5")
    _run(app)
    assert _completion_bodies(recorder) == [{
        "model": "recorded-model", "prompt": "Once", "max_tokens": 7, "temperature": 0.3,
        "top_p": 0.9, "n": 2, "presence_penalty": 0.5, "frequency_penalty": -0.5,
        "stop": ["\n", "END"], "seed": 42, "logit_bias": {"50256": -100, "15": 2.5},
        "user": "student-1", "suffix": " The end.", "echo": True, "logprobs": 3, "best_of": 3,
    }]


def test_the_stop_list_takes_at_most_four_and_offers_line_breaks(app):
    stop = _field(app, "stop")
    assert stop.max_selections == 4
    assert "\\n" in stop.options and "\\n\\n" in stop.options


@pytest.mark.parametrize("name, value, message", [
    ("logprobs", 9, "logprobs must be 0 to 5 (100 on the local server); got 9."),
    ("max_tokens", 0, "max_tokens must be 1 to 131072; got 0."),
    ("n", 9, "n must be 1 to 8; got 9."),
])
def test_an_out_of_range_value_is_marked_on_its_field_and_nothing_is_sent(
        app, recorder, name, value, message):
    _use_recorder(app, recorder)
    _prompt(app, "Hello")
    _field(app, name).set_value(value)
    _run(app)
    assert message in _plain(app.error)
    assert any("nothing was sent" in warning.value for warning in app.warning)
    assert recorder.posts == []
    prompt = app.text_area(key=completions_keys.COMPLETIONS_PROMPT)
    assert prompt.value == "Hello"  # nothing typed is lost


def test_best_of_below_n_is_refused_before_sending(app, recorder):
    _use_recorder(app, recorder)
    _prompt(app, "Hello")
    _field(app, "n").set_value(3)
    _field(app, "best_of").set_value(2)
    _run(app)
    assert "best_of must be at least n (3); got 2." in _plain(app.error)
    assert recorder.posts == []


def test_empty_prompt_is_refused_under_the_prompt(app, recorder):
    _use_recorder(app, recorder)
    _run(app)
    assert _plain(app.error) == ["prompt must not be empty."]
    assert recorder.posts == []


@pytest.mark.parametrize("text, message", [
    ("hello lots", "logit_bias: Line 1: the bias must be a number from -100 to 100; got 'lots'."),
    ("50256", "logit_bias: Line 1: write a token id or token text, then its bias"),
])
def test_a_malformed_logit_bias_line_is_marked_and_nothing_is_sent(app, recorder, text, message):
    _use_recorder(app, recorder)
    _prompt(app, "Hi")
    _field(app, "logit_bias").input(text)
    _run(app)
    assert any(error.startswith(message) for error in _plain(app.error)), _plain(app.error)
    assert recorder.posts == []
    assert _field(app, "logit_bias").value == text


def test_token_text_on_an_endpoint_without_a_tokenizer_asks_for_ids(app, recorder):
    _use_recorder(app, recorder)
    _prompt(app, "Hi")
    _field(app, "logit_bias").input("hello -100")
    _run(app)
    (error,) = _plain(app.error)
    assert "take token ids only: write the id instead" in error
    assert _completion_bodies(recorder) == []  # only the /tokenize question was asked


def test_token_text_is_converted_with_the_models_tokenizer(app):
    _prompt(app, "Hi")
    _field(app, "max_tokens").set_value(2)
    _field(app, "logit_bias").input('" hello" -100\n28120 5')
    _run(app)
    assert not app.error
    assert "Token ids: ' hello' → 33662" in _plain(app.caption)
    body = _snippet(app, "bash").split("<<'JSON'\n", 1)[1].rsplit("JSON", 1)[0]
    assert json.loads(body)["logit_bias"] == {"33662": -100, "28120": 5}


# What comes back ------------------------------------------------------------------------------

def test_one_completion_on_the_local_model_with_usage_timing_and_raw_json(app, data_dir):
    _prompt(app, "The capital of France is")
    _field(app, "max_tokens").set_value(8)
    _field(app, "temperature").set_value(0.0)
    _run(app)
    assert not app.error
    (output,) = _outputs(app)
    assert output.strip()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert 0 < int(metrics["Completion tokens"]) <= 8
    assert metrics["Latency"].endswith(" s")
    facts = next(c for c in _plain(app.caption) if c.startswith("finish_reason: "))
    assert re.fullmatch(r"finish_reason: (length|stop) · \d tokens · whole response after "
                        r"\d+\.\d\d s", facts)
    (raw,) = app.json
    assert json.loads(raw.value)["choices"][0]["text"] == output
    ledger = shared_ledger(data_dir / DB_FILENAME)
    assert ledger.flush()
    assert list(ledger.requests()["page"]) == ["Completions"]


def test_streamed_text_keeps_usage_and_times_each_choice(app):
    _prompt(app, "Once upon a time")
    _field(app, "max_tokens").set_value(6)
    _field(app, "stream").check()
    _run(app)
    assert not app.error
    metrics = {metric.label: metric.value for metric in app.metric}
    assert int(metrics["Completion tokens"]) > 0
    assert metrics["First token"].endswith(" s")
    timing = r"first token \d+\.\d\d s, last \d+\.\d\d s"
    assert any(re.search(timing, caption) for caption in _plain(app.caption))
    assert any("stream chunks" in expander.label for expander in app.expander)


def test_two_choices_with_logprobs_and_echo_and_a_view_code_snippet_that_runs(app, local_env):
    _use_model(app, GEMMA)
    _prompt(app, "Say: hello.")
    _field(app, "max_tokens").set_value(3)
    _field(app, "n").set_value(2)
    _field(app, "seed").set_value(3)
    _field(app, "logprobs").set_value(2)
    _field(app, "echo").check()
    _run(app)
    assert not app.error
    assert _plain(app.markdown[-2:]) == ["**Choice 1**", "**Choice 2**"]
    assert [m.help for m in app.markdown[-2:]] == [
        "index 0 in the response's choices (the API counts from 0)",
        "index 1 in the response's choices (the API counts from 0)"]
    views = app.get("html")
    assert len(views) == 2
    for view in views:  # the prompt's tokens echoed apart from the three generated ones
        assert view.value.count('class="token echo"') >= 4
        assert view.value.count('class="token generated"') == 3
    summaries = [c for c in app.caption if "mean log-probability" in c.value]
    assert len(summaries) == 2 and all("3 generated tokens" in c.value for c in summaries)
    assert _plain(app.caption).count("Echoed prompt") == 2

    snippet = _snippet(app, "python")
    assert "logprobs=2" in snippet and "echo=True" in snippet
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    answer = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True,
                            env=env, timeout=120)
    assert answer.returncode == 0, answer.stderr
    assert "--- choice 0 ---" in answer.stdout and "--- choice 1 ---" in answer.stdout


def test_an_empty_choice_says_why(app):
    """The tutorial's example on the base model: its first token is a line break."""
    app.selectbox(key=completions_keys.preset_field("pick", ENDPOINT)).select("Tutorial: Say hello")
    _button(app, "Load").click().run()
    _use_model(app, GEMMA)
    _run(app)
    assert _plain(app.caption).count(empty_note("stop")) == 1
    assert _outputs(app) == []


def test_model_output_is_shown_as_text_not_markdown(app, recorder):
    _use_recorder(app, recorder)
    _prompt(app, "Hi")
    _run(app)
    assert _outputs(app) == ["recorded"]
    assert not [md for md in app.markdown if "recorded" in md.value]


def test_a_value_the_server_refuses_is_shown_without_losing_anything(app):
    _prompt(app, "Hi")
    _field(app, "logit_bias").input("50256 5")  # beyond SmolLM2's vocabulary of 49152
    _run(app)
    assert any("logit_bias" in error and "50256" in error for error in _plain(app.error))
    assert _field(app, "logit_bias").value == "50256 5"


# Presets and links ----------------------------------------------------------------------------

def test_load_the_tutorial_preset(app):
    app.selectbox(key=completions_keys.preset_field("pick", ENDPOINT)).select("Tutorial: Say hello")
    _field(app, "n").set_value(3)
    _button(app, "Load").click().run()
    assert app.text_area(key=completions_keys.COMPLETIONS_PROMPT).value == "Say: hello."
    assert (_field(app, "temperature").value, _field(app, "max_tokens").value) == (0.0, 100)
    assert _field(app, "stop").value == ["\\n"]
    assert _field(app, "n").value == 1  # what the preset does not set goes back to its default
    assert "Loaded 'Tutorial: Say hello'." in _plain(app.info)


def test_save_load_and_delete_a_preset_of_my_own(app, recorder, data_dir):
    _use_recorder(app, recorder)
    _prompt(app, "My prompt")
    _field(app, "temperature").set_value(0.7)
    _field(app, "stop").set_value(["END"])
    app.text_input(key=completions_keys.preset_field("name", ENDPOINT)).input("Mine")
    _button(app, "Save preset").click().run()
    assert not app.exception
    assert "Saved the preset 'Mine'." in _plain(app.info)
    assert recorder.posts == []  # saving sends nothing
    pick = app.selectbox(key=completions_keys.preset_field("pick", ENDPOINT))
    assert pick.value == "Mine" and "Mine (yours)" in pick.options
    saved = json.loads((data_dir / "presets.json").read_text())["presets"]
    assert saved == [{"name": "Mine", "endpoint": ENDPOINT, "model": "recorded-model",
                      "prompt": "My prompt", "values": {"temperature": 0.7, "stop": ["END"]}}]

    _prompt(app, "Something else")
    _field(app, "temperature").set_value(1.5)
    _button(app, "Load").click().run()
    assert app.text_area(key=completions_keys.COMPLETIONS_PROMPT).value == "My prompt"
    assert _field(app, "temperature").value == 0.7

    _button(app, "Delete").click().run()
    assert "Deleted 'Mine'." in _plain(app.info)
    assert "Mine" not in app.selectbox(key=completions_keys.preset_field("pick", ENDPOINT)).options


def _fresh_app(query: dict) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=120)
    at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def test_a_run_puts_a_link_in_the_url_that_restores_prompt_and_settings(app, recorder):
    _use_recorder(app, recorder)
    _prompt(app, "Shared\nprompt")
    _field(app, "temperature").set_value(0.25)
    _field(app, "logprobs").set_value(2)
    _field(app, "stop").set_value(["\\n\\n"])
    _run(app)
    query = dict(app.query_params)
    assert list(query) == [presets.QUERY_KEY]
    assert any(f"(?p={query['p']})" in md.value for md in app.markdown)

    other = _fresh_app(query)
    assert other.text_area(key=completions_keys.COMPLETIONS_PROMPT).value == "Shared\nprompt"
    assert _field(other, "temperature").value == 0.25
    assert _field(other, "logprobs").value == 2
    assert _field(other, "stop").value == ["\\n\\n"]
    # applied once: a later run does not undo an edit, though the link is still in the URL
    other.session_state[params.widget_key(ENDPOINT, "temperature")] = 1.0
    other.run()
    assert _field(other, "temperature").value == 1.0


@pytest.mark.usefixtures("local_env", "data_dir", "clean_environment", "navigation_mode")
def test_a_readable_link_chooses_the_model_too():
    at = _fresh_app({"endpoint": ENDPOINT, "prompt": "Hi there", "model": GEMMA, "n": "2"})
    assert at.sidebar.selectbox(key=state.MODEL).value == GEMMA
    assert at.text_area(key=completions_keys.COMPLETIONS_PROMPT).value == "Hi there"
    assert _field(at, "n").value == 2


@pytest.mark.usefixtures("local_env", "data_dir", "clean_environment", "navigation_mode")
@pytest.mark.parametrize("query, message", [
    ({"p": "not-a-preset"}, "The link's settings were not loaded"),
    ({"endpoint": ENDPOINT, "prompt": "Hi", "temperature": "7"}, "temperature must be 0 to 2"),
    ({"endpoint": "chat", "messages": '[{"role": "user", "content": "Hi"}]'}, "chat settings"),
])
def test_a_bad_link_is_explained_and_changes_nothing(query, message):
    at = _fresh_app(query)
    assert any(message in info for info in _plain(at.info)), _plain(at.info)
    assert at.text_area(key=completions_keys.COMPLETIONS_PROMPT).value == ""
