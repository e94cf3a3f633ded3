"""The Completions page: a real request to the local models, and validation before sending."""

from __future__ import annotations

from ui import params, state

ENDPOINT = "completions"


def _field(at, name: str):
    return at.get_by_key(params.widget_key(ENDPOINT, name))


def _run_button(at):
    return next(button for button in at.button if button.label == "Run")


def test_runs_one_completion_on_the_local_model(app):
    app.text_area(key="completions.prompt").input("The capital of France is")
    _field(app, "max_tokens").set_value(8)
    _field(app, "temperature").set_value(0.0)
    _run_button(app).click().run()
    assert not app.exception, app.exception
    assert not app.error
    (output,) = app.code
    assert output.value.strip()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert 0 < int(metrics["Completion tokens"]) <= 8
    assert metrics["Latency"].endswith(" s")
    assert any("finish_reason: " in caption.value.replace("\\", "") for caption in app.caption)


def test_several_choices_are_shown_one_by_one(app):
    app.text_area(key="completions.prompt").input("A colour:")
    _field(app, "max_tokens").set_value(4)
    _field(app, "n").set_value(2)
    _field(app, "seed").set_value(7)
    _run_button(app).click().run()
    assert not app.exception and not app.error
    assert len(app.code) == 2
    assert [md.value for md in app.markdown if md.value.startswith("**Choice")] == [
        "**Choice 0**", "**Choice 1**"]


def test_streams_and_keeps_usage(app):
    app.text_area(key="completions.prompt").input("Once upon a time")
    _field(app, "max_tokens").set_value(6)
    _field(app, "stream").check()
    _run_button(app).click().run()
    assert not app.exception and not app.error
    assert app.code[0].value.strip()
    metrics = {metric.label: metric.value for metric in app.metric}
    assert int(metrics["Completion tokens"]) > 0
    assert metrics["First token"].endswith(" s")


def _use_recorder(app, recorder):
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
        recorder.base_url).run()
    assert app.sidebar.selectbox(key=state.MODEL).value == "recorded-model"


def test_out_of_range_value_is_shown_on_its_field_and_nothing_is_sent(app, recorder):
    _use_recorder(app, recorder)
    app.text_area(key="completions.prompt").input("Hello")
    _field(app, "logprobs").set_value(9)
    _run_button(app).click().run()
    assert not app.exception
    errors = [error.value.replace("\\", "") for error in app.error]
    assert "logprobs must be 0 to 5; got 9." in errors
    assert any("nothing was sent" in warning.value for warning in app.warning)
    assert not app.code
    assert recorder.posts == []

    # The same page sends once the value is corrected: the recorder does record requests.
    _field(app, "logprobs").set_value(2)
    _run_button(app).click().run()
    assert [(path, body["logprobs"]) for path, body in recorder.posts] == [("/v1/completions", 2)]
    assert app.code[0].value == "recorded"


def test_empty_prompt_is_refused_under_the_prompt(app, recorder):
    _use_recorder(app, recorder)
    _run_button(app).click().run()
    errors = [error.value.replace("\\", "") for error in app.error]
    assert errors == ["prompt must not be empty."]
    assert recorder.posts == []


def test_model_output_is_shown_as_text_not_markdown(app, recorder):
    _use_recorder(app, recorder)
    app.text_area(key="completions.prompt").input("Hi")
    _run_button(app).click().run()
    assert [code.value for code in app.code] == ["recorded"]
    assert not [md for md in app.markdown if "recorded" in md.value]
