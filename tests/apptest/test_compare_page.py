"""The Compare page: a grid run against a server, shown side by side, charted, kept.

Most tests point the page at the fault server (instant, and its answers are chosen here);
one runs the local models for real.
"""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest

from fault_server import FaultServer
from playground.compare import Axis, Grid, GridResult
from playground.ledger.schema import DB_FILENAME
from playground.ledger.writer import shared_ledger
from ui.common import pages, state
from ui.compare import keys as compare_keys


def greedy_or_hot(body: dict, index: int) -> str:
    """The same words at temperature 0, words naming the seed otherwise."""
    if body.get("temperature") == 0:
        return "the sea is calm"
    return f"waves under seed {body.get('seed')}"


@pytest.fixture
def server():
    server = FaultServer(reply=greedy_or_hot)
    with server:
        yield server


@pytest.fixture
def page(app, server):
    """The Compare page on the fault server (as a vLLM connection), a user message typed."""
    app.switch_page(pages.COMPARE).run()
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
        server.base_url).run()
    assert app.sidebar.selectbox(key=state.MODEL).value == "fault-model"
    app.text_area(key="compare.user").input("Describe the sea.").run()
    assert not app.exception, app.exception
    return app


def button(at, label: str):
    return next(b for b in at.button if b.label == label)


def radio(at, label: str):
    return next(r for r in at.radio if r.label == label)


def baseline_picker(at):
    (picker,) = [box for box in at.selectbox if box.label == "Baseline cell"]
    return picker


def run_grid(at):
    button(at, "Run grid").click().run()
    assert not at.exception, at.exception


def plain_text(elements) -> list[str]:
    return [element.value.replace("\\", "") for element in elements]


def posts(server) -> list[dict]:
    return [r.body for r in server.requests if r.method == "POST"]


def test_a_two_by_two_grid_side_by_side_with_baseline_charts_and_ledger(page, server, data_dir):
    assert page.multiselect(key="compare.vary").value == ["temperature", "seed"]
    page.text_input(key="compare.axis.temperature").input("0, 1.2").run()
    page.text_input(key="compare.axis.seed").input("1, 2").run()
    assert any(c.startswith("4 cells, 4 requests") for c in plain_text(page.caption))
    run_grid(page)

    assert sorted((b.get("temperature"), b["seed"]) for b in posts(server)) == [
        (0, 1), (0, 2), (1.2, 1), (1.2, 2)]
    assert all(b["max_tokens"] == 64 and "n" not in b for b in posts(server))
    # Columns are temperatures, rows seeds: c1 (0, 1), c3 (1.2, 1), then c2, c4.
    assert [code.value for code in page.code] == [
        "the sea is calm", "waves under seed 1", "the sea is calm", "waves under seed 2"]
    badges = [md.value for md in page.markdown if "badge[" in md.value]
    assert "Baseline" in badges[0]
    assert "Text differs" in badges[1] and "Same text as baseline" in badges[2]
    assert "4 cells: 4 ok, 0 failed, 0 not run" in " ".join(plain_text(page.caption))
    assert any("finish_reason: stop · 4 tokens" in c for c in plain_text(page.caption))
    charts = page.get("plotly_chart")
    assert len(charts) == 4, "metric lines, heatmap, latency, tokens"
    heatmap = json.loads(charts[1].proto.spec)["data"][0]
    assert heatmap["type"] == "heatmap"

    ledger = shared_ledger(data_dir / DB_FILENAME)
    assert ledger.flush()
    assert list(ledger.requests()["page"]) == ["Compare"] * 4

    # The table view highlights what differs from the baseline, chosen anew.
    baseline_picker(page).select("c3").run()
    radio(page, "View").set_value("Table").run()
    table = page.dataframe[0].value
    assert list(table["cell"]) == ["c1", "c2", "c3", "c4"]
    assert list(table["text"]) == ["the sea is calm", "the sea is calm", "waves under seed 1",
                                   "waves under seed 2"]
    similar = list(table["similar_to_baseline"])
    assert similar[2] == 1.0 and similar[0] == similar[1] < similar[3] < 1.0


def test_estimate_refusal_over_the_limit_and_nothing_sent(page, server):
    page.text_input(key="compare.axis.temperature").input("0:2:0.1").run()
    page.text_input(key="compare.axis.seed").input("1, 2, 3").run()
    (refusal,) = plain_text(page.error)
    assert "63 cells (21 temperature × 3 seed), over the limit of 48" in refusal
    assert button(page, "Run grid").disabled

    page.number_input(key="compare.max_cells").set_value(100).run()
    assert not page.error and not button(page, "Run grid").disabled
    metrics = {metric.label: metric.value for metric in page.metric}
    assert (metrics["Cells"], metrics["Requests"]) == ("63", "63")
    assert metrics["Tokens, at most"] == f"{63 * (5 + 64):,}"
    assert posts(server) == []


def test_bad_input_is_named_kept_and_sends_nothing(page, server):
    page.text_input(key="compare.axis.temperature").input("0, warm").run()
    assert "temperature: 'warm' is not a number." in plain_text(page.error)
    assert page.text_input(key="compare.axis.temperature").value == "0, warm"
    assert button(page, "Run grid").disabled

    page.text_input(key="compare.axis.temperature").input("0, 3").run()
    page.text_area(key="compare.user").input("").run()
    run_grid(page)
    errors = plain_text(page.error)
    assert "temperature axis value 3: temperature must be 0 to 2; got 3." in errors
    assert "messages must hold at least one message." in errors
    assert any("nothing was sent" in w for w in plain_text(page.warning))
    assert posts(server) == [] and not page.code
    assert page.text_input(key="compare.axis.temperature").value == "0, 3"


def test_a_failed_cell_shows_its_error_in_place_and_only_it_runs_again(page, server):
    server.faults_by_model["fault-model-b"] = "404"
    page.multiselect(key="compare.vary").set_value(["model"]).run()
    page.multiselect(key="compare.axis.model").set_value(
        ["fault-model", "fault-model-b", "fault-model @ Nowhere"]).run()
    run_grid(page)
    assert [code.value for code in page.code] == ["waves under seed None"]
    errors = plain_text(page.error)
    assert any("Not found (404)" in error for error in errors)
    assert "There is no connection named 'Nowhere'." in errors
    assert "3 cells: 1 ok, 2 failed" in " ".join(plain_text(page.caption))

    server.faults_by_model.clear()
    button(page, "Re-run the 2 failed cells").click().run()
    assert not page.exception
    # Cells run concurrently, so the server sees the first run's two requests in any order.
    models = [b["model"] for b in posts(server)]
    assert sorted(models[:2]) == ["fault-model", "fault-model-b"]
    assert models[2:] == ["fault-model-b"]  # the re-run sends only the failed cell
    assert len(page.code) == 2 and len(page.error) == 1


def test_an_interrupted_run_keeps_its_cells_and_runs_the_rest(page, server):
    """A click during a run stops the script (see ui/compare/run.py): what it leaves behind
    is a result whose unfinished cells are pending."""
    grid = Grid("chat", {"max_tokens": 3}, [Axis.parse("seed", "1, 2, 3")], model="fault-model",
                connection="vLLM", messages=[{"role": "user", "content": "Hi"}])
    interrupted = GridResult.starting(grid, grid.cells())
    page.session_state[compare_keys.COMPARE_RESULT] = interrupted
    page.run()
    assert any("Interrupted" in w and "3 cells did not run" in w for w in plain_text(page.warning))
    assert [r.status for r in interrupted.cells] == ["cancelled"] * 3

    page.session_state[compare_keys.COMPARE_CANCEL] = True
    page.run()
    assert any(w.startswith("Cancelled: 3 cells") for w in plain_text(page.warning))
    button(page, "Run the 3 cells not run").click().run()
    assert not page.warning and len(page.code) == 3
    assert sorted(b["seed"] for b in posts(server)) == [1, 2, 3]


def test_save_reopen_and_export(page, server, data_dir):
    page.multiselect(key="compare.vary").set_value(["temperature"]).run()
    page.checkbox(key="compare.fixed.chat.logprobs").check().run()
    run_grid(page)
    perplexities = [c for c in plain_text(page.caption) if "mean logprob" in c]
    assert len(perplexities) == 2 and "mean logprob -0.25, perplexity 1.28" in perplexities[0]
    page.text_input(key="compare.save_name").input("calm or not").run()
    button(page, "Save run").click().run()
    assert any("Saved as run #1" in s for s in plain_text(page.success))
    downloads = {d.proto.label: d for d in page.get("download_button")}
    assert set(downloads) == {"Export CSV", "Export JSON"}

    del page.session_state[compare_keys.COMPARE_RESULT]
    page.run()
    assert not page.code
    saved = page.selectbox(key="compare.saved")
    assert saved.options[0].startswith("#1 calm or not · ")
    button(page, "Open").click().run()
    assert [code.value for code in page.code] == ["the sea is calm", "waves under seed None"]
    assert [c for c in plain_text(page.caption) if "mean logprob" in c] == perplexities
    assert len(posts(server)) == 2, "reopening sends nothing"

    button(page, "Delete").click().run()
    assert any("No saved runs yet" in c for c in plain_text(page.caption))


def test_completion_mode_on_the_local_model(app):
    app.switch_page(pages.COMPARE).run()
    radio(app, "Mode").set_value("Completion").run()
    app.text_area(key="compare.prompt").input("The capital of France is").run()
    app.text_input(key="compare.axis.temperature").input("0").run()
    app.number_input(key="compare.fixed.completions.max_tokens").set_value(4).run()
    bias = app.text_area(key="compare.fixed.completions.logit_bias")
    assert "50256" not in bias.placeholder, "an id the local models (49,152 tokens) lack"
    bias.input('" Paris" -100').run()
    assert any(c.startswith("Token ids for ") for c in plain_text(app.caption))
    run_grid(app)
    texts = [code.value for code in app.code]
    assert len(texts) == 2 and texts[0] == texts[1] and texts[0].strip(), \
        "greedy text is the same whatever the seed"
    assert "Paris" not in texts[0], "token text biases the local model as on Completions"
    assert "2 cells: 2 ok" in " ".join(plain_text(app.caption))


FEW_SHOT = [{"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": "Colour of grass?"},
            {"role": "assistant", "content": "Green."},
            {"role": "user", "content": "Colour of the sea?"}]


def test_a_whole_conversation_as_json_goes_to_every_cell(page, server):
    radio(page, "Messages").set_value("A conversation (JSON)").run()
    page.text_area(key="compare.messages_json").input(json.dumps(FEW_SHOT)).run()
    run_grid(page)
    sent = posts(server)
    assert len(sent) == 4 and all(body["messages"] == FEW_SHOT for body in sent)
    assert "4 cells: 4 ok, 0 failed" in " ".join(plain_text(page.caption))


@pytest.mark.parametrize("text, words", [
    ('[{"role": "user", "content": "Hi"', "Messages (JSON) is not valid JSON (line 1"),
    ('[{"role": "robot", "content": "Hi"}]', "Messages (JSON): Message 1's role must be"),
])
def test_a_conversation_that_cannot_be_read_is_named_kept_and_sends_nothing(page, server,
                                                                           text, words):
    radio(page, "Messages").set_value("A conversation (JSON)").run()
    page.text_area(key="compare.messages_json").input(text).run()
    assert any(words in error for error in plain_text(page.error)), plain_text(page.error)
    assert button(page, "Run grid").disabled
    assert page.text_area(key="compare.messages_json").value == text
    radio(page, "Messages").set_value("System and user message").run()
    assert page.text_area(key="compare.user").value == "Describe the sea."  # still there
    assert not button(page, "Run grid").disabled and posts(server) == []


def test_three_settings_give_a_heatmap_of_two_averaged_over_the_third(page, server):
    page.multiselect(key="compare.vary").set_value(["temperature", "seed", "top_p"]).run()
    page.text_input(key="compare.axis.temperature").input("0, 1.2").run()
    page.text_input(key="compare.axis.seed").input("1, 2").run()
    page.text_input(key="compare.axis.top_p").input("0.5, 1").run()
    run_grid(page)
    page.selectbox(key="compare.chart_metric").select("chars").run()
    page.selectbox(key="compare.heatmap_rows").select("top_p").run()
    assert not page.exception, page.exception
    figure = json.loads(page.get("plotly_chart")[1].proto.spec)
    (heatmap,) = figure["data"]
    assert heatmap["type"] == "heatmap"
    assert (heatmap["x"], heatmap["y"]) == (["0", "1.2"], ["0.5", "1"])
    # Temperature 0 says "the sea is calm" (15 characters) whatever the seed; 1.2 names its
    # seed in "waves under seed N" (18): the mean over seeds of each pair of cells.
    assert decoded(heatmap["z"]) == [[15.0, 18.0], [15.0, 18.0]]
    assert "mean over seed" in figure["layout"]["title"]["text"]


def decoded(array: dict) -> list:
    """A plotly figure's typed array (base64 bytes, dtype, shape) as nested lists."""
    shape = [int(size) for size in array["shape"].split(",")]
    return np.frombuffer(base64.b64decode(array["bdata"]), array["dtype"]).reshape(shape).tolist()


def test_a_model_of_another_connection_uses_what_was_typed_for_it(page, server):
    """Key, base URL, organization and retries typed for Ollama while it was the sidebar's
    connection go with its cells after switching back."""
    other = FaultServer(echo_key=True, fail_first=1, fail_with="503")
    with other:
        page.sidebar.selectbox(key=state.CONNECTION_NAME).select("Ollama").run()
        for field, value in (("base_url", other.base_url), ("api_key", "sk-typed-for-ollama"),
                             ("organization", "org-typed")):
            page.sidebar.text_input(key=state.connection_field(field, "Ollama")).input(value).run()
        retries = state.connection_field("max_retries", "Ollama")
        page.sidebar.number_input(key=retries).set_value(0).run()
        page.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
        page.multiselect(key="compare.vary").set_value(["model"]).run()
        page.multiselect(key="compare.axis.model").set_value(
            ["fault-model", "fault-model @ Ollama"]).run()
        run_grid(page)
        assert "2 cells: 1 ok, 1 failed" in " ".join(plain_text(page.caption))  # no retry
        (received,) = [r for r in other.requests if r.method == "POST"]
        assert received.authorization == "Bearer sk-typed-for-ollama"
        assert received.headers.get("openai-organization") == "org-typed"
        assert all(r.authorization != "Bearer sk-typed-for-ollama" for r in server.requests)


def test_open_restores_the_form_with_the_results(page, server, data_dir):
    page.multiselect(key="compare.vary").set_value(["temperature"]).run()
    page.text_input(key="compare.axis.temperature").input("0, 0.7").run()
    page.number_input(key="compare.fixed.chat.max_tokens").set_value(9).run()
    page.checkbox(key="compare.fixed.chat.logprobs").check().run()
    page.number_input(key="compare.samples").set_value(2).run()
    run_grid(page)
    button(page, "Save run").click().run()
    first_run = posts(server)

    page.text_area(key="compare.user").input("Something else.").run()
    page.multiselect(key="compare.vary").set_value(["temperature", "seed"]).run()
    page.text_input(key="compare.axis.temperature").input("1.5").run()
    page.number_input(key="compare.fixed.chat.max_tokens").set_value(30).run()
    page.checkbox(key="compare.fixed.chat.logprobs").uncheck().run()
    page.number_input(key="compare.samples").set_value(1).run()

    button(page, "Open").click().run()
    assert not page.exception, page.exception
    assert page.text_area(key="compare.user").value == "Describe the sea."
    assert page.multiselect(key="compare.vary").value == ["temperature"]
    assert page.text_input(key="compare.axis.temperature").value == "0, 0.7"
    assert page.number_input(key="compare.fixed.chat.max_tokens").value == 9
    assert page.checkbox(key="compare.fixed.chat.logprobs").value
    assert page.number_input(key="compare.samples").value == 2
    assert len(page.code) == 4, "the saved results, two samples in each of two cells"

    run_grid(page)
    again = posts(server)[len(first_run):]
    strip = lambda bodies: sorted(json.dumps(body, sort_keys=True) for body in bodies)  # noqa: E731
    assert strip(again) == strip(first_run), "Run grid runs the grid that was opened"


def test_the_view_follows_the_cell_count_until_the_user_chooses(page, server):
    page.multiselect(key="compare.vary").set_value(["seed"]).run()
    page.text_input(key="compare.axis.seed").input("1:30:1").run()
    run_grid(page)
    assert radio(page, "View").value == "Table" and page.dataframe
    page.text_input(key="compare.axis.seed").input("1:8:1").run()
    run_grid(page)
    assert radio(page, "View").value == "Side by side" and len(page.code) == 8

    radio(page, "View").set_value("Table").run()
    page.text_input(key="compare.axis.seed").input("1, 2").run()
    run_grid(page)
    assert radio(page, "View").value == "Table", "the user's choice holds"


def test_the_baseline_selector_always_names_cells_of_this_grid(page, server):
    page.text_input(key="compare.axis.temperature").input("0, 1.2").run()
    run_grid(page)
    baseline_picker(page).select("c4").run()
    page.multiselect(key="compare.vary").set_value(["seed"]).run()
    page.text_input(key="compare.axis.seed").input("5, 6").run()
    run_grid(page)
    baseline = baseline_picker(page)
    assert baseline.options == ["c1: seed=5", "c2: seed=6"]
    assert baseline.value == "c1"


def test_same_texts_are_counted_and_the_first_difference_is_marked(page, server):
    page.text_input(key="compare.axis.temperature").input("0, 1.2").run()
    page.text_input(key="compare.axis.seed").input("1, 2, 3").run()
    page.checkbox(key="compare.fixed.chat.logprobs").check().run()
    run_grid(page)
    captions = plain_text(page.caption)
    assert any(c.startswith("3 cells gave the same text: c1 (temperature=0, seed=1)")
               for c in captions), captions
    marks = [md.value for md in page.markdown if "First differs at" in md.value]
    assert len(marks) == 3, "the three cells at temperature 1.2"
    assert "token 1, from the start" in marks[0].replace("\\", "")
    assert ":orange-background[" in marks[0] and "p=" in marks[0]
    assert any("'the'" in mark.replace("\\", "") for mark in marks)


def test_every_sample_of_one_request_shows_its_tokens(page, server):
    page.multiselect(key="compare.vary").set_value(["temperature"]).run()
    page.text_input(key="compare.axis.temperature").input("1.2").run()
    page.number_input(key="compare.samples").set_value(3).run()
    run_grid(page)
    facts = [c for c in plain_text(page.caption) if c.startswith("finish_reason")]
    assert len(facts) == 3 and not any("?" in fact for fact in facts)
    assert all("12 tokens in all 3 samples" in fact for fact in facts), facts


def test_markdown_is_rendered_only_when_asked_and_never_as_html(app, server):
    server.reply = lambda body, index: "# Title <b>bold</b>"
    app.switch_page(pages.COMPARE).run()
    app.sidebar.selectbox(key=state.CONNECTION_NAME).select("vLLM").run()
    app.sidebar.text_input(key=state.connection_field("base_url", "vLLM")).input(
        server.base_url).run()
    app.text_area(key="compare.user").input("Hi").run()
    app.multiselect(key="compare.vary").set_value(["temperature"]).run()
    app.text_input(key="compare.axis.temperature").input("1").run()
    run_grid(app)
    assert [code.value for code in app.code] == ["# Title <b>bold</b>"]
    app.toggle(key="compare.markdown").set_value(True).run()
    assert not app.code
    (rendered,) = [md for md in app.markdown if "Title" in md.value]
    assert rendered.value == "# Title <b>bold</b>" and not rendered.proto.allow_html
